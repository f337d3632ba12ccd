package models_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/biopipe/biopipe/models"
)

// TestOwnOptimizersResume: the state of biopipe's own optimizers (sgd's momentum buffers,
// adagrad's accumulators, under /optimizers/) is saved with a resume checkpoint, so an
// interrupted run continues to the same weights as an uninterrupted one.
func TestOwnOptimizersResume(t *testing.T) {
	ctx := context.Background()
	for _, opt := range []models.OptimizerConfig{
		{Name: models.OptSGD, LearningRate: 0.05, Momentum: 0.9, Nesterov: true, ClipNorm: 1},
		{Name: models.OptAdagrad, LearningRate: 0.1},
	} {
		t.Run(opt.Name, func(t *testing.T) {
			opts := func(out, state string) models.TrainOptions {
				o := resumeOpts(out, state)
				o.Optimizer, o.Schedule = opt, models.Schedule{Name: models.SchedCosine, WarmupEpochs: 1}
				return o
			}
			refDir := t.TempDir()
			_, err := models.Train(ctx, opts(refDir, filepath.Join(t.TempDir(), "state")))
			require.NoError(t, err)
			state := filepath.Join(t.TempDir(), "state")
			sc := &stopAfter{Context: ctx}
			sc.n.Store(8) // mid-epoch 2, between periodic checkpoints
			_, err = models.Train(sc, opts(t.TempDir(), state))
			require.ErrorIs(t, err, context.Canceled)
			out := t.TempDir()
			_, err = models.Train(ctx, opts(out, state))
			require.NoError(t, err)
			assert.Equal(t, readTree(t, filepath.Join(refDir, models.CheckpointDir)), readTree(t, filepath.Join(out, models.CheckpointDir)))
		})
	}
}
