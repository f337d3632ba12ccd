package cnn1d_test

import (
	"context"
	"runtime"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/biopipe/biopipe/dataset"
	"github.com/biopipe/biopipe/models"
	"github.com/biopipe/biopipe/models/cnn1d"
	"github.com/biopipe/biopipe/models/internal/synth"
	_ "github.com/biopipe/biopipe/models/mlp"
)

// A cnn1d trains on bucketed sequences (batches cut to their bucket's length), and its
// predictions come back in row order: for the rows of the longest bucket, whose input is
// the same whether cut or not, they equal the predictions of the same weights on the
// unbucketed (padded to the longest) data; for shorter rows they differ, because average
// pooling then no longer runs over the padding.
func TestBucketedTrainsAndPredictsPerBucket(t *testing.T) {
	buckets := []int{16, 32, 64}
	res := train(t, map[string]any{"channels": []any{8, 16}}, synth.SkewedSines(256, buckets, 2, 0.3, 1), nil, 8)
	assert.Equal(t, buckets, res.Card.LengthBuckets)

	test := synth.SkewedSines(200, buckets, 2, 0.3, 2)
	acc := synth.Accuracy(t, res, test)
	t.Logf("test accuracy %.3f", acc)
	assert.GreaterOrEqual(t, acc, 0.9)

	bucketed, err := res.Trained.Predict(context.Background(), test.X)
	require.NoError(t, err)
	// The buckets' chunks run side by side; one at a time (GOMAXPROCS=1) gives the same values.
	prev := runtime.GOMAXPROCS(1)
	one, err := res.Trained.Predict(context.Background(), test.X)
	runtime.GOMAXPROCS(prev)
	require.NoError(t, err)
	assert.Equal(t, one, bucketed)
	padded := *test.X
	padded.Lengths = nil
	whole, err := res.Trained.Predict(context.Background(), &padded)
	require.NoError(t, err)
	require.Len(t, bucketed, test.Len())
	perBucket := map[int]int{}
	shortDiffer := 0
	for r, l := range test.X.Lengths {
		perBucket[l]++
		if l == buckets[len(buckets)-1] {
			assert.InDeltaSlice(t, whole[r], bucketed[r], 1e-5, "row %d (bucket %d)", r, l)
		} else if abs(whole[r][0]-bucketed[r][0]) > 1e-4 {
			shortDiffer++
		}
	}
	require.Len(t, perBucket, 3, "every bucket occurs")
	assert.Greater(t, shortDiffer, (test.Len()-perBucket[64])/2, "rows of the shorter buckets were predicted on their cut inputs")
}

func abs(v float32) float32 {
	if v < 0 {
		return -v
	}
	return v
}

// Families and params that need one length refuse bucketed data, naming what to change.
func TestBucketedRefused(t *testing.T) {
	d := synth.SkewedSines(16, []int{8, 16}, 2, 0.3, 1)
	for _, c := range []struct {
		family string
		params map[string]any
		want   string
	}{
		{cnn1d.Family, map[string]any{"channels": []any{4}, "global_pool": "flatten"}, "global_pool: flatten needs one sequence length"},
		{"mlp", map[string]any{}, dataset.RoleLengthBucket},
	} {
		_, err := models.Train(context.Background(), models.TrainOptions{
			Family: c.family, Params: c.params, Train: d, Task: models.Classification,
			Classes: []string{"slow", "fast"}, Epochs: 1, BatchSize: 8, Seed: 1,
		})
		require.Error(t, err, c.family)
		assert.Contains(t, err.Error(), c.want)
	}
}
