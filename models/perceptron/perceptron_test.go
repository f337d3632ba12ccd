package perceptron_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/biopipe/biopipe/dataset"
	"github.com/biopipe/biopipe/models"
	"github.com/biopipe/biopipe/models/internal/synth"
	_ "github.com/biopipe/biopipe/models/perceptron"
)

func data(x [][]float32, classes []int) *models.Data {
	d := &models.Data{X: &dataset.Matrix{N: len(x), Shape: []int{len(x[0])}}, Classes: classes}
	for _, row := range x {
		d.X.X = append(d.X.X, row...)
	}
	return d
}

// TestRuleByHand: the online rule's update checked against Rosenblatt's rule by hand.
func TestRuleByHand(t *testing.T) {
	ctx := context.Background()
	// One example: the first update is fully determined. Scores start at 0, so argmax picks
	// class 0; the example is class 1, so w_1 += η x, w_0 -= η x, b_1 += η, b_0 -= η.
	d := data([][]float32{{2, -1}}, []int{1})
	res, err := models.Train(ctx, models.TrainOptions{Family: "perceptron", Params: map[string]any{"eta": 0.5},
		Train: d, Task: models.Classification, Classes: []string{"a", "b"}, Epochs: 1, BatchSize: 1, Seed: 1})
	require.NoError(t, err)
	vars, err := res.Trained.Variables()
	require.NoError(t, err)
	assert.InDeltaSlice(t, []float32{-1, 1, 0.5, -0.5}, vars["weights"].Data, 1e-6)
	assert.InDeltaSlice(t, []float32{-0.5, 0.5}, vars["bias"].Data, 1e-6)
	// The reported loss is the criterion before the update: max(0, 0) - 0 = 0 for the tie,
	// and the example was counted wrong (argmax of a tie is class 0).
	assert.Equal(t, 0.0, *res.History.Epochs[0].TrainAccuracy)

	// A second epoch: the example is now right (score_1 = 2.5+0.5 > score_0), nothing moves.
	res, err = models.Train(ctx, models.TrainOptions{Family: "perceptron", Params: map[string]any{"eta": 0.5},
		Train: d, Task: models.Classification, Classes: []string{"a", "b"}, Epochs: 2, BatchSize: 1, Seed: 1})
	require.NoError(t, err)
	assert.Equal(t, 1.0, *res.History.Epochs[1].TrainAccuracy)
	assert.Equal(t, 0.0, res.History.Epochs[1].TrainLoss)
	vars, err = res.Trained.Variables()
	require.NoError(t, err)
	assert.InDeltaSlice(t, []float32{-1, 1, 0.5, -0.5}, vars["weights"].Data, 1e-6)
}

// TestSeparableConverges: on linearly separable data the rule stops making mistakes
// (the perceptron convergence theorem).
func TestSeparableConverges(t *testing.T) {
	ctx := context.Background()
	train := synth.Blobs(80, 2, 8, 1)
	res, err := models.Train(ctx, models.TrainOptions{Family: "perceptron", Train: train, Task: models.Classification,
		Classes: []string{"a", "b"}, Epochs: 30, BatchSize: 1, Seed: 2})
	require.NoError(t, err)
	last := res.History.Epochs[len(res.History.Epochs)-1]
	assert.Equal(t, 1.0, *last.TrainAccuracy)
	assert.Equal(t, 1.0, synth.Accuracy(t, res, train))
}

// TestXORNotSeparable: on XOR no setting of the weights gets more than 3 of the 4 corners
// right, and the rule never settles.
func TestXORNotSeparable(t *testing.T) {
	ctx := context.Background()
	var x [][]float32
	var y []int
	for range 10 {
		for _, c := range [][3]float32{{0, 0, 0}, {0, 1, 1}, {1, 0, 1}, {1, 1, 0}} {
			x = append(x, []float32{c[0], c[1]})
			y = append(y, int(c[2]))
		}
	}
	corners := data([][]float32{{0, 0}, {0, 1}, {1, 0}, {1, 1}}, []int{0, 1, 1, 0})
	res, err := models.Train(ctx, models.TrainOptions{Family: "perceptron", Train: data(x, y), Task: models.Classification,
		Classes: []string{"0", "1"}, Epochs: 50, BatchSize: 1, Seed: 3})
	require.NoError(t, err)
	assert.LessOrEqual(t, synth.Accuracy(t, res, corners), 0.75)
	for _, e := range res.History.Epochs {
		assert.Less(t, *e.TrainAccuracy, 1.0, "epoch %d", e.Epoch)
	}
	_, err = models.Train(ctx, models.TrainOptions{Family: "perceptron", Train: synth.Linear(20, 2, 0.1, 1), Task: models.Regression, Epochs: 1, BatchSize: 4})
	assert.ErrorContains(t, err, "perceptron classifies")
}
