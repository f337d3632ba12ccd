package models_test

import (
	"context"
	"encoding/csv"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/ml/layers"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/biopipe/biopipe/contract"
	"github.com/biopipe/biopipe/dataset"
	"github.com/biopipe/biopipe/models"
	"github.com/biopipe/biopipe/models/internal/synth"
	"github.com/biopipe/biopipe/models/tensorboard"
)

func cbOpts(epochs int) models.TrainOptions {
	return models.TrainOptions{
		Family: "mlp", Params: map[string]any{"hidden": []any{8}},
		Train: synth.Blobs(64, 3, 2, 1), Val: synth.Blobs(32, 3, 2, 2), Task: models.Classification,
		Classes: []string{"a", "b"}, Epochs: epochs, BatchSize: 16, Seed: 4,
		Optimizer: models.OptimizerConfig{Name: "adam", LearningRate: 0.01},
	}
}

// TestCSVLogAndTensorBoard: history.csv has a row per epoch matching the history; the
// event file has per-epoch scalars, the learning rate and a histogram of every weight.
func TestCSVLogAndTensorBoard(t *testing.T) {
	o := cbOpts(4)
	o.OutDir = t.TempDir()
	tb := filepath.Join(t.TempDir(), "tb")
	o.Callbacks = models.Callbacks{CSVLog: true, TensorBoard: tb}
	o.Schedule = models.Schedule{Name: "exponential", Gamma: 0.5}
	res, err := models.Train(context.Background(), o)
	require.NoError(t, err)

	f, err := os.Open(filepath.Join(o.OutDir, models.HistoryCSVFile))
	require.NoError(t, err)
	defer f.Close()
	rows, err := csv.NewReader(f).ReadAll()
	require.NoError(t, err)
	assert.Equal(t, []string{"epoch", "train_loss", "val_loss", "train_accuracy", "val_accuracy", "learning_rate"}, rows[0])
	require.Len(t, rows, 5)
	for i, r := range res.History.Epochs {
		got, err := strconv.ParseFloat(rows[i+1][2], 64)
		require.NoError(t, err)
		assert.Equal(t, *r.ValLoss, got)
	}

	files, err := filepath.Glob(filepath.Join(tb, tensorboard.FilePrefix+"*"))
	require.NoError(t, err)
	require.Len(t, files, 1)
	evs, err := tensorboard.ReadFile(files[0])
	require.NoError(t, err)
	scalars := map[string][]float64{}
	histos := map[string]int{}
	for _, ev := range evs {
		for _, v := range ev.Values {
			switch {
			case v.Simple != nil:
				scalars[v.Tag] = append(scalars[v.Tag], float64(*v.Simple))
			case v.Histo != nil:
				histos[v.Tag]++
				assert.Positive(t, v.Histo.Num)
			}
		}
	}
	require.Len(t, scalars["loss/train"], 4)
	assert.InDelta(t, res.History.Epochs[3].TrainLoss, scalars["loss/train"][3], 1e-6)
	assert.Len(t, scalars["accuracy/val"], 4)
	assert.InDelta(t, *res.History.Epochs[3].LearningRate, scalars["learning_rate"][3], 1e-9)
	assert.Equal(t, map[string]int{"weights/hidden_0/dense/weights": 4, "weights/hidden_0/dense/biases": 4,
		"weights/output/dense/weights": 4, "weights/output/dense/biases": 4}, histos)
}

// TestImageGridInTensorBoard: image inputs get a grid of training examples at step 0.
func TestImageGridInTensorBoard(t *testing.T) {
	d := &models.Data{X: &dataset.Matrix{N: 8, Shape: []int{4, 4, 1}, X: make([]float32, 8*16)}}
	for i := range d.X.X {
		d.X.X[i] = float32(i % 7)
	}
	for i := range 8 {
		d.Classes = append(d.Classes, i%2)
	}
	tb := t.TempDir()
	_, err := models.Train(context.Background(), models.TrainOptions{Family: "mlp", Params: map[string]any{"hidden": []any{4}},
		Train: d, Task: models.Classification, Classes: []string{"a", "b"}, Epochs: 1, BatchSize: 4,
		Callbacks: models.Callbacks{TensorBoard: tb}})
	require.NoError(t, err)
	files, _ := filepath.Glob(filepath.Join(tb, tensorboard.FilePrefix+"*"))
	require.Len(t, files, 1)
	evs, err := tensorboard.ReadFile(files[0])
	require.NoError(t, err)
	var img *tensorboard.Image
	for _, ev := range evs {
		for _, v := range ev.Values {
			if v.Tag == "inputs/train_examples" {
				img = v.Image
			}
		}
	}
	require.NotNil(t, img)
	assert.Equal(t, 4*3+2*2, img.Width) // 3 columns of 4 pixels with 2-pixel gaps
}

// TestCheckpointChoice: "best" keeps the best val-loss epoch without early stopping;
// "last" keeps the final epoch even with early stopping.
func TestCheckpointChoice(t *testing.T) {
	ctx := context.Background()
	o := cbOpts(12)
	o.Optimizer.LearningRate = 0.3 // noisy, so the best epoch is rarely the last
	o.Callbacks.Checkpoint = models.CheckpointBest
	res, err := models.Train(ctx, o)
	require.NoError(t, err)
	best := 0
	for i, r := range res.History.Epochs {
		if *r.ValLoss < *res.History.Epochs[best].ValLoss {
			best = i
		}
	}
	assert.Equal(t, best+1, res.Card.BestEpoch)
	assert.Equal(t, 12, res.Card.EpochsRun)

	o.Callbacks.Checkpoint = models.CheckpointLast
	o.EarlyStopping = models.EarlyStopping{Patience: 2}
	res, err = models.Train(ctx, o)
	require.NoError(t, err)
	assert.Equal(t, res.Card.EpochsRun, res.Card.BestEpoch)
	assert.False(t, res.History.RestoredBest)

	o.Val = nil
	o.Callbacks.Checkpoint = models.CheckpointBest
	_, err = models.Train(ctx, o)
	assert.ErrorContains(t, err, "needs val rows")
}

// The "test_grow" family minimises −Σw²: gradient descent multiplies w by 1+2·lr every step,
// so its loss overflows to −Inf after a few epochs while every weight is still finite.
func init() {
	models.Register(&models.Family{
		Name: "test_grow",
		Doc:  "test: a loss that diverges deterministically",
		Build: func(spec models.Spec, p contract.Config) (*models.Network, error) {
			return &models.Network{
				Forward: func(scope *model.Scope, x *graph.Node) []*graph.Node {
					return []*graph.Node{layers.DenseWithBias(scope.In("dense"), x, spec.OutputDim())}
				},
				Loss: func(scope *model.Scope, x, y *graph.Node, outs []*graph.Node) *graph.Node {
					w := scope.Store().GetVariable("/model/dense/dense/weights").NodeValue(x.Graph())
					return graph.Neg(graph.ReduceAllSum(graph.Square(w)))
				},
			}, nil
		},
	})
}

// TestNaN: an update that makes a weight infinite fails naming the step and the variable; a
// loss that overflows later fails naming the step, or with on_nan "stop" keeps the last
// finite epoch's weights and records where it stopped.
func TestNaN(t *testing.T) {
	ctx := context.Background()
	o := cbOpts(30)
	o.Train = synth.Blobs(64, 3, 2, 1)
	for i := range o.Train.X.X {
		o.Train.X.X[i] *= 1e30 // huge activations: the first step's loss is finite, its update is not
	}
	o.Optimizer = models.OptimizerConfig{Name: "sgd", LearningRate: 1e10}
	_, err := models.Train(ctx, o)
	require.Error(t, err)
	assert.Regexp(t, `epoch 1, step 1: the "loss" update made variable /model/\S+ non-finite`, err.Error())

	o = cbOpts(40)
	o.Family, o.Params = "test_grow", nil
	o.Optimizer = models.OptimizerConfig{Name: "sgd", LearningRate: 1}
	_, err = models.Train(ctx, o)
	require.Error(t, err)
	assert.Regexp(t, `epoch \d+, step \d+: training loss "loss" is -Inf while every weight is finite`, err.Error())

	o.Callbacks.OnNaN = models.OnNaNStop
	res, err := models.Train(ctx, o)
	require.NoError(t, err)
	ev := res.History.NaN
	require.NotNil(t, ev)
	assert.Greater(t, ev.Epoch, 1)
	assert.Equal(t, ev.Epoch-1, res.Card.EpochsRun, "the epochs before the overflow are kept")
	assert.Equal(t, (ev.Epoch-1)*4+1, ev.Step-(ev.Step-1)%4, "4 steps per epoch")
	assert.Empty(t, ev.Variable)
	vars, err := res.Trained.Variables()
	require.NoError(t, err)
	for _, v := range vars["dense/dense/weights"].Data {
		assert.False(t, math.IsInf(float64(v), 0) || math.IsNaN(float64(v)))
	}
}

// TestFindLR: the range test's rates grow geometrically from min, it stops when the loss
// diverges, and the suggestion lies below the rate of the lowest loss.
func TestFindLR(t *testing.T) {
	o := cbOpts(1)
	o.Optimizer = models.OptimizerConfig{Name: "sgd"}
	res, err := models.FindLR(context.Background(), o, models.RangeTest{MinLR: 1e-4, MaxLR: 1e4, Steps: 60})
	require.NoError(t, err)
	require.Greater(t, len(res.Points), 10)
	ratio := math.Pow(1e8, 1.0/59)
	for i, p := range res.Points {
		assert.InDelta(t, 1e-4*math.Pow(ratio, float64(i)), p.LR, 1e-9*p.LR+1e-12, "step %d", i)
	}
	assert.True(t, res.Diverged, "sgd at a rate of 1e4 diverges")
	assert.Less(t, len(res.Points), 60)
	assert.LessOrEqual(t, res.Steepest, res.MinLoss)
	assert.GreaterOrEqual(t, res.Steepest, 1e-4)

	_, err = models.FindLR(context.Background(), o, models.RangeTest{MinLR: 1, MaxLR: 0.1, Steps: 10})
	assert.ErrorContains(t, err, "min")
}
