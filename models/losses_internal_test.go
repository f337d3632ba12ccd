package models

import (
	"math"
	"testing"

	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestClassLossValues checks weighted cross-entropy and focal loss against the formulas.
func TestClassLossValues(t *testing.T) {
	backend, err := NewBackend("go")
	require.NoError(t, err)
	logits := [][]float32{{2, 0, -1}, {0.5, 0.5, 0}, {-1, 3, 0}, {0, 0, 4}}
	labels := []int32{0, 2, 1, 0}
	logpt := func(i int) float64 { // log softmax(logits[i])[labels[i]]
		var z float64
		for _, v := range logits[i] {
			z += math.Exp(float64(v))
		}
		return float64(logits[i][labels[i]]) - math.Log(z)
	}
	cases := []struct {
		name  string
		c     ClassLoss
		want  func(i int) float64 // per-example loss
		class []float64
	}{
		{"cross-entropy weighted", ClassLoss{Name: LossCrossEntropy, Resolved: []float64{1, 2, 4}},
			func(i int) float64 { return -logpt(i) }, []float64{1, 2, 4}},
		{"focal gamma 2", ClassLoss{Name: LossFocal, FocalGamma: 2},
			func(i int) float64 { p := math.Exp(logpt(i)); return -math.Pow(1-p, 2) * logpt(i) }, nil},
		{"focal gamma 0 is cross-entropy", ClassLoss{Name: LossFocal, FocalGamma: 0},
			func(i int) float64 { return -logpt(i) }, nil},
		{"focal weighted", ClassLoss{Name: LossFocal, FocalGamma: 1, Resolved: []float64{3, 1, 1}},
			func(i int) float64 { p := math.Exp(logpt(i)); return -(1 - p) * logpt(i) }, []float64{3, 1, 1}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			fn := c.c.lossFunc()
			out, err := graph.ExecOnce(backend, func(l, y *graph.Node) *graph.Node {
				return fn(nil, nil, y, []*graph.Node{l})
			}, tensors.FromValue(logits), tensors.FromFlatDataAndDimensions(labels, 4, 1))
			require.NoError(t, err)
			var num, den float64
			for i := range labels {
				w := 1.0
				if c.class != nil {
					w = c.class[labels[i]]
				}
				num += w * c.want(i)
				den += w
			}
			assert.InDelta(t, num/den, float64(tensors.MustCopyFlatData[float32](out)[0]), 1e-5)
		})
	}
}

func TestClassWeightsResolve(t *testing.T) {
	classes := []string{"a", "b", "c"}
	train := []int{0, 0, 0, 0, 0, 0, 1, 1, 2, 2, 2, 2}
	c := ClassLoss{ClassWeight: ClassWeightBalanced}
	require.NoError(t, c.resolve(Classification, classes, train))
	assert.InDeltaSlice(t, []float64{12.0 / 18, 12.0 / 6, 12.0 / 12}, c.Resolved, 1e-12)

	c = ClassLoss{Weights: map[string]float64{"c": 5}}
	require.NoError(t, c.resolve(Classification, classes, train))
	assert.Equal(t, []float64{1, 1, 5}, c.Resolved)

	for _, bad := range []struct {
		c    ClassLoss
		task Task
		want string
	}{
		{ClassLoss{Weights: map[string]float64{"d": 2}}, Classification, `no class "d"`},
		{ClassLoss{Weights: map[string]float64{"a": 0}}, Classification, "must be > 0"},
		{ClassLoss{Name: "hinge"}, Classification, "unknown loss"},
		{ClassLoss{Name: LossFocal, FocalGamma: 2}, Regression, "apply to classification"},
		{ClassLoss{ClassWeight: ClassWeightBalanced, Weights: map[string]float64{"a": 2}}, Classification, "not both"},
	} {
		assert.ErrorContains(t, bad.c.resolve(bad.task, classes, train), bad.want)
	}
	missing := ClassLoss{ClassWeight: ClassWeightBalanced}
	assert.ErrorContains(t, missing.resolve(Classification, classes, []int{0, 1}), `class "c" has no training rows`)
}
