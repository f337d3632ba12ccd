package models_test

import (
	"context"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/ml/layers"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/biopipe/biopipe/contract"
	"github.com/biopipe/biopipe/dataset"
	"github.com/biopipe/biopipe/models"
	"github.com/biopipe/biopipe/models/internal/synth"
)

// buildProbe counts the test_build_probe family's graph builds and the most that ran at once.
var buildProbe struct {
	inFlight, maxInFlight, builds atomic.Int32
}

// The "test_build_probe" family: mean over time, then a dense layer; each graph build
// lingers 30 ms so builds that overlap show in buildProbe.
func init() {
	models.Register(&models.Family{
		Name:           "test_build_probe",
		Doc:            "test: counts concurrent graph builds",
		VariableLength: true,
		Build: func(spec models.Spec, _ contract.Config) (*models.Network, error) {
			return &models.Network{
				Forward: func(scope *model.Scope, x *graph.Node) []*graph.Node {
					n := buildProbe.inFlight.Add(1)
					defer buildProbe.inFlight.Add(-1)
					for m := buildProbe.maxInFlight.Load(); n > m && !buildProbe.maxInFlight.CompareAndSwap(m, n); m = buildProbe.maxInFlight.Load() {
					}
					buildProbe.builds.Add(1)
					time.Sleep(30 * time.Millisecond)
					return []*graph.Node{layers.DenseWithBias(scope.In("dense"), graph.ReduceMean(x, 1), spec.OutputDim())}
				},
			}, nil
		},
	})
}

// Predicting bucketed sequences runs chunks of different lengths side by side, each needing
// its own graph: the graphs are built one at a time (building writes the model's variable
// store; go test -race reported the concurrent builds as a data race), and the predictions
// are still right.
func TestPredictBuildsGraphsOneAtATime(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(4)) // several predict workers even on a small machine
	buckets := []int{8, 16, 32, 64}
	res, err := models.Train(context.Background(), models.TrainOptions{
		Family: "test_build_probe", Train: synth.SkewedSines(64, buckets, 2, 0.1, 1), Task: models.Classification,
		Classes: []string{"slow", "fast"}, Epochs: 1, BatchSize: 32, Seed: 1,
		Optimizer: models.OptimizerConfig{Name: models.OptAdam, LearningRate: 0.01},
	})
	require.NoError(t, err)
	buildProbe.maxInFlight.Store(0)
	buildProbe.builds.Store(0)
	test := synth.SkewedSines(600, buckets, 2, 0.1, 2)
	p, err := res.Trained.Predict(context.Background(), test.X)
	require.NoError(t, err)
	require.GreaterOrEqual(t, buildProbe.builds.Load(), int32(2), "prediction built a graph per length")
	assert.Equal(t, int32(1), buildProbe.maxInFlight.Load(), "graph builds at once")
	require.Len(t, p, test.X.N)
	// Each row's probabilities are those of the row predicted alone (its length's graph).
	x := test.X
	size := len(x.X) / x.N
	for _, row := range []int{0, 299, 599} {
		alone := &dataset.Matrix{N: 1, Shape: x.Shape, X: x.X[row*size : (row+1)*size], Lengths: x.Lengths[row : row+1]}
		one, err := res.Trained.Predict(context.Background(), alone)
		require.NoError(t, err)
		assert.InDeltaSlice(t, one[0], p[row], 1e-5, "row %d", row)
	}
}
