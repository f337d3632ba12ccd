package models

import (
	"math"
	"testing"

	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/biopipe/biopipe/dataset"
)

// TestSegmentationLossValues checks the segmentation loss against the formulas, for a
// one-channel (sigmoid) and a three-channel (softmax) output.
func TestSegmentationLossValues(t *testing.T) {
	backend, err := NewBackend("go")
	require.NoError(t, err)
	sig := func(z float64) float64 { return 1 / (1 + math.Exp(-z)) }
	run := func(l SegmentationLoss, logits *tensors.Tensor, y *tensors.Tensor) float64 {
		fn := l.Func()
		out, err := graph.ExecOnce(backend, func(z, y *graph.Node) *graph.Node { return fn(nil, nil, y, []*graph.Node{z}) }, logits, y)
		require.NoError(t, err)
		return float64(tensors.MustCopyFlatData[float32](out)[0])
	}

	// Binary: two examples of 2x1 pixels.
	z := []float64{2, -1, 0, 3}
	y := []float64{1, 0, 0, 1}
	var bce float64
	for i := range z {
		bce += -(y[i]*math.Log(sig(z[i])) + (1-y[i])*math.Log(1-sig(z[i])))
	}
	bce /= 4
	dice := 0.0
	for b := range 2 {
		var py, p, yy float64
		for i := 2 * b; i < 2*b+2; i++ {
			py += sig(z[i]) * y[i]
			p += sig(z[i])
			yy += y[i]
		}
		dice += (2*py + 1) / (p + yy + 1)
	}
	dice /= 2
	lz := tensors.FromFlatDataAndDimensions([]float32{2, -1, 0, 3}, 2, 2, 1, 1)
	ly := tensors.FromFlatDataAndDimensions([]float32{1, 0, 0, 1}, 2, 2, 1, 1)
	assert.InDelta(t, bce, run(SegmentationLoss{}, lz, ly), 1e-5, "BCE")
	assert.InDelta(t, bce+0.5*(1-dice), run(SegmentationLoss{DiceWeight: 0.5}, lz, ly), 1e-5, "BCE + 0.5 soft Dice")

	// Three classes: one example of 2 voxels, labels 0 and 2.
	logits := [][]float64{{1, 2, 3}, {0.5, -1, 2}}
	labels := []int{0, 2}
	var ce float64
	probs := make([][]float64, 2)
	for v, l := range logits {
		var s float64
		for _, x := range l {
			s += math.Exp(x)
		}
		probs[v] = make([]float64, 3)
		for k, x := range l {
			probs[v][k] = math.Exp(x) / s
		}
		ce -= math.Log(probs[v][labels[v]])
	}
	ce /= 2
	dice = 0
	for k := 1; k < 3; k++ {
		var pt, p, tt float64
		for v := range 2 {
			oh := 0.0
			if labels[v] == k {
				oh = 1
			}
			pt += probs[v][k] * oh
			p += probs[v][k]
			tt += oh
		}
		dice += (2*pt + 1) / (p + tt + 1)
	}
	dice /= 2
	mz := tensors.FromFlatDataAndDimensions([]float32{1, 2, 3, 0.5, -1, 2}, 1, 2, 3)
	my := tensors.FromFlatDataAndDimensions([]float32{0, 2}, 1, 2, 1)
	assert.InDelta(t, ce, run(SegmentationLoss{}, mz, my), 1e-5, "softmax CE")
	assert.InDelta(t, ce+(1-dice), run(SegmentationLoss{DiceWeight: 1}, mz, my), 1e-5, "CE + soft Dice")

	assert.ErrorContains(t, SegmentationLoss{DiceWeight: -1}.Check(), "dice weight must be")
}

// TestSegDiceSum checks the per-epoch Dice metric: hard labels, mean over foreground
// classes, a class absent from both prediction and mask counting 1.
func TestSegDiceSum(t *testing.T) {
	backend, err := NewBackend("go")
	require.NoError(t, err)
	// Example 0: truth [1 1 0 0], prediction (z >= 0) [1 0 1 0]: Dice 2·1/(2+2) = 0.5.
	// Example 1: nothing in either: 1.
	z := tensors.FromFlatDataAndDimensions([]float32{1, -1, 0.5, -2, -1, -1, -1, -1}, 2, 4, 1)
	y := tensors.FromFlatDataAndDimensions([]float32{1, 1, 0, 0, 0, 0, 0, 0}, 2, 4, 1)
	out, err := graph.ExecOnce(backend, func(z, y *graph.Node) *graph.Node { return segDiceSum(z, y) }, z, y)
	require.NoError(t, err)
	assert.InDelta(t, 1.5, tensors.MustCopyFlatData[float32](out)[0], 1e-6)
	assert.Equal(t, []string{"background", "foreground"}, MaskClasses([]float32{0, 1, 0}))
	assert.Equal(t, []string{"background", "label_1", "label_2", "label_3"}, MaskClasses([]float32{0, 3, 1}))
	assert.Equal(t, 1, SegChannels(2))
	assert.Equal(t, 4, SegChannels(4))
}

func TestSegmentationOptionChecks(t *testing.T) {
	x := &dataset.Matrix{N: 2, Shape: []int{2, 2, 1}, X: make([]float32, 8)}
	cases := []struct {
		name string
		o    TrainOptions
		task Task
		want string
	}{
		{"val_dice on regression", TrainOptions{Train: &Data{X: x, Targets: []float64{1, 2}}, EarlyStopping: EarlyStopping{Monitor: MonitorValDice}}, Regression,
			`early_stopping.monitor "val_dice" needs a segmentation task`},
		{"one class", TrainOptions{Train: &Data{X: x, Masks: make([]float32, 8)}, Classes: []string{"background"}}, Segmentation, "at least 2 classes"},
		{"short masks", TrainOptions{Train: &Data{X: x, Masks: make([]float32, 7)}, Classes: []string{"background", "foreground"}}, Segmentation,
			"one mask of 4 values per row (input shape [2 2 1]): 7 values for 2 rows"},
		{"label out of range", TrainOptions{Train: &Data{X: x, Masks: []float32{0, 0, 0, 0, 0, 2, 0, 0}}, Classes: []string{"background", "foreground"}}, Segmentation,
			"row 1, voxel 1: mask value 2 is not a class index in 0..1"},
		{"fractional label", TrainOptions{Train: &Data{X: x, Masks: []float32{0, 0.5, 0, 0, 0, 0, 0, 0}}, Classes: []string{"background", "foreground"}}, Segmentation,
			"row 0, voxel 1: mask value 0.5"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			c.o.Epochs, c.o.BatchSize = 1, 1
			assert.ErrorContains(t, checkOptions(&c.o, c.task), c.want)
		})
	}
}
