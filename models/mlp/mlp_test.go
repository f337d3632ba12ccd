package mlp_test

import (
	"context"
	"fmt"
	"os"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/biopipe/biopipe/contract"
	"github.com/biopipe/biopipe/models"
	"github.com/biopipe/biopipe/models/internal/synth"
	_ "github.com/biopipe/biopipe/models/mlp" // registers the family under test
)

func TestBuildVariants(t *testing.T) {
	ctx := context.Background()
	for _, act := range models.ActivationsWithMaxout {
		for _, norm := range models.Normalizations {
			t.Run(act+"/"+norm, func(t *testing.T) {
				res, err := models.Train(ctx, models.TrainOptions{
					Family: "mlp", Params: map[string]any{"hidden": []any{8, 4}, "activation": act, "normalization": norm, "dropout": 0.1},
					Train: synth.Blobs(64, 3, 3, 1), Val: synth.Blobs(32, 3, 3, 2), Task: models.Classification,
					Classes: []string{"a", "b", "c"}, Epochs: 2, BatchSize: 16, Seed: 1,
				})
				require.NoError(t, err)
				p, err := res.Trained.Predict(ctx, synth.Blobs(5, 3, 3, 3).X)
				require.NoError(t, err)
				assert.Len(t, p[0], 3)
			})
		}
	}
}

func TestParamsDeclared(t *testing.T) {
	f, err := models.Get("mlp")
	require.NoError(t, err)
	cfg, err := f.ResolveParams(map[string]any{"hidden": []any{3}})
	require.NoError(t, err)
	assert.Equal(t, contract.Config{"hidden": []int{3}, "activation": "relu", "leaky_slope": 0.01, "maxout_pieces": 2, "dropout": 0.0, "normalization": "none"}, cfg)
	_, err = f.ResolveParams(map[string]any{"hidden": []any{0}})
	assert.ErrorContains(t, err, "below the minimum")
}

// BenchmarkEpoch measures one training epoch of the breast-cancer-sized MLP (455 rows of 30
// features, hidden [64, 32], adam, batch 64) on the go backend; graph compilation is
// amortised over b.N epochs. Run: GOEXPERIMENT=simd go test ./models/mlp -bench Epoch -run ^$
func BenchmarkEpoch(b *testing.B) {
	backend := os.Getenv("BIOPIPE_BENCH_BACKEND") // e.g. "go:ops_sequential"
	for _, hidden := range [][]any{{64, 32}, {256, 128}} {
		b.Run(fmt.Sprint(hidden), func(b *testing.B) {
			train := synth.Blobs(455, 30, 1, 1)
			opts := models.TrainOptions{
				Family: "mlp", Params: map[string]any{"hidden": hidden},
				Train: train, Task: models.Classification, Classes: []string{"malignant", "benign"},
				Epochs: b.N, BatchSize: 64, Seed: 1, Backend: backend,
			}
			b.ResetTimer()
			if _, err := models.Train(context.Background(), opts); err != nil {
				b.Fatal(err)
			}
			b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N)/float64(train.Len())*1e3, "ns/example")
		})
	}
}
