package models_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/biopipe/biopipe/dataset"
	"github.com/biopipe/biopipe/models"
	"github.com/biopipe/biopipe/models/internal/synth"
)

// TestOptimizersAndSchedulesTrain: every optimizer, schedule, initializer and penalty
// trains an MLP on separable blobs (the loss falls and the val accuracy is high), and the
// card records the non-default choices.
func TestOptimizersAndSchedulesTrain(t *testing.T) {
	ctx := context.Background()
	train, val := synth.Blobs(96, 4, 4, 1), synth.Blobs(48, 4, 4, 2)
	cases := []struct {
		name  string
		opt   models.OptimizerConfig
		sched models.Schedule
		reg   models.Regularization
		init  string
	}{
		{"sgd momentum", models.OptimizerConfig{Name: "sgd", LearningRate: 0.05, Momentum: 0.9}, models.Schedule{}, models.Regularization{}, ""},
		{"sgd nesterov clip norm", models.OptimizerConfig{Name: "sgd", LearningRate: 0.05, Momentum: 0.9, Nesterov: true, ClipNorm: 1}, models.Schedule{}, models.Regularization{}, ""},
		{"rmsprop step", models.OptimizerConfig{Name: "rmsprop", LearningRate: 0.01}, models.Schedule{Name: "step", StepEpochs: 4}, models.Regularization{}, ""},
		{"adagrad exponential", models.OptimizerConfig{Name: "adagrad", LearningRate: 0.1}, models.Schedule{Name: "exponential", Gamma: 0.9}, models.Regularization{L2: 1e-3}, "glorot_uniform"},
		{"adam cosine warmup clip value", models.OptimizerConfig{Name: "adam", LearningRate: 0.01, ClipValue: 0.5}, models.Schedule{Name: "cosine", WarmupEpochs: 2, PeriodEpochs: 3, PeriodMult: 2}, models.Regularization{L1: 1e-4}, "he_uniform"},
		{"adamw plateau", models.OptimizerConfig{Name: "adamw", LearningRate: 0.01, WeightDecay: 0.01}, models.Schedule{Name: "plateau", Patience: 1, Gamma: 0.5}, models.Regularization{}, "glorot_normal"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			res, err := models.Train(ctx, models.TrainOptions{
				Family: "mlp", Params: map[string]any{"hidden": []any{16}},
				Train: train, Val: val, Task: models.Classification, Classes: []string{"a", "b", "c", "d"},
				Epochs: 10, BatchSize: 16, Seed: 3, Optimizer: c.opt, Schedule: c.sched,
				Regularization: c.reg, Initializer: c.init,
			})
			require.NoError(t, err)
			h := res.History.Epochs
			assert.Less(t, h[len(h)-1].TrainLoss, h[0].TrainLoss)
			assert.GreaterOrEqual(t, *res.Card.Final.ValAccuracy, 0.9)
			if c.sched.Active() {
				require.NotNil(t, res.Card.Schedule)
				require.NotNil(t, h[0].LearningRate)
				if c.sched.WarmupEpochs > 0 {
					assert.InDelta(t, c.opt.LearningRate, *h[c.sched.WarmupEpochs-1].LearningRate, 1e-9)
				}
				if c.sched.Name != "plateau" { // plateau lowers it only when val_loss stalls (TestPlateauSchedule)
					assert.Less(t, *h[len(h)-1].LearningRate, c.opt.LearningRate, "the schedule lowered the rate")
				}
			} else {
				assert.Nil(t, res.Card.Schedule)
				assert.Nil(t, h[0].LearningRate)
			}
			assert.Equal(t, c.init, res.Card.Initializer)
		})
	}
}

// TestInitializersDiffer: each initializer gives other initial weights, and the same seed
// the same ones.
func TestInitializersDiffer(t *testing.T) {
	ctx := context.Background()
	train := synth.Blobs(32, 4, 4, 1)
	first := map[string]float64{}
	for _, init := range append(models.InitializerNames, "he_normal") {
		res, err := models.Train(ctx, models.TrainOptions{
			Family: "mlp", Params: map[string]any{"hidden": []any{8}}, Train: train, Task: models.Classification,
			Classes: []string{"a", "b", "c", "d"}, Epochs: 1, BatchSize: 32, Seed: 5, Initializer: init,
			Optimizer: models.OptimizerConfig{Name: "sgd", LearningRate: 1e-9},
		})
		require.NoError(t, err)
		loss := res.History.Epochs[0].TrainLoss
		if prev, ok := first[init]; ok {
			assert.Equal(t, prev, loss, "same seed, same initial weights")
			continue
		}
		for other, l := range first {
			assert.NotEqual(t, l, loss, "%s and %s", init, other)
		}
		first[init] = loss
	}
	_, err := models.Train(ctx, models.TrainOptions{Family: "mlp", Train: train, Task: models.Classification,
		Classes: []string{"a", "b", "c", "d"}, Epochs: 1, BatchSize: 8, Initializer: "xavier"})
	assert.ErrorContains(t, err, "unknown initializer")
}

// TestClassWeightsShiftPredictions: on overlapping, 9:1 imbalanced classes, balanced class
// weights (and focal loss with them) raise the minority class's predicted probability
// against plain cross-entropy, and the card records the weights trained with.
func TestClassWeightsShiftPredictions(t *testing.T) {
	ctx := context.Background()
	d := synth.Blobs(400, 2, 1, 7)
	var keep []int
	for i, c := range d.Classes {
		if c == 0 || i%9 == 1 {
			keep = append(keep, i)
		}
	}
	imb := &models.Data{X: &dataset.Matrix{N: len(keep), Shape: []int{2}}}
	for _, i := range keep {
		imb.X.X = append(imb.X.X, d.X.X[2*i:2*i+2]...)
		imb.Classes = append(imb.Classes, d.Classes[i])
	}
	minority := func(loss models.ClassLoss) (float64, *models.Result) {
		res, err := models.Train(ctx, models.TrainOptions{Family: "mlp", Params: map[string]any{"hidden": []any{}},
			Train: imb, Task: models.Classification, Classes: []string{"common", "rare"}, Epochs: 30, BatchSize: 32, Seed: 1,
			Optimizer: models.OptimizerConfig{Name: "adam", LearningRate: 0.05}, Loss: loss})
		require.NoError(t, err)
		p, err := res.Trained.Predict(ctx, imb.X)
		require.NoError(t, err)
		var sum float64
		for _, row := range p {
			sum += float64(row[1])
		}
		return sum / float64(len(p)), res
	}
	plain, res := minority(models.ClassLoss{})
	assert.Nil(t, res.Card.Loss)
	balanced, res := minority(models.ClassLoss{ClassWeight: models.ClassWeightBalanced})
	require.NotNil(t, res.Card.Loss)
	n, rare := float64(imb.X.N), 0.0
	for _, c := range imb.Classes {
		rare += float64(c)
	}
	assert.InDeltaSlice(t, []float64{n / (2 * (n - rare)), n / (2 * rare)}, res.Card.Loss.Resolved, 1e-12)
	focal, _ := minority(models.ClassLoss{Name: models.LossFocal, FocalGamma: 2, ClassWeight: models.ClassWeightBalanced})
	assert.Greater(t, balanced, plain+0.1, "balanced weights raise the rare class's probability")
	assert.Greater(t, focal, plain+0.1)
}
