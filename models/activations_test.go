package models_test

import (
	"math"
	"testing"

	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/biopipe/biopipe/contract"
	"github.com/biopipe/biopipe/models"
)

// TestActivationValues checks every activation against its textbook formula.
func TestActivationValues(t *testing.T) {
	backend, err := models.NewBackend("go")
	require.NoError(t, err)
	xs := []float64{-30, -2, -0.5, 0, 0.5, 2, 30}
	sig := func(x float64) float64 { return 1 / (1 + math.Exp(-x)) }
	const lambda, alpha = 1.0507009873554805, 1.6732632423543772
	cases := []struct {
		act  models.Activation
		want func(float64) float64
		tol  float64
	}{
		{models.Activation{Name: models.ActSigmoid}, sig, 1e-6},
		{models.Activation{Name: models.ActTanh}, math.Tanh, 1e-6},
		{models.Activation{Name: models.ActRelu}, func(x float64) float64 { return math.Max(x, 0) }, 0},
		{models.Activation{Name: models.ActLeakyRelu, Slope: 0.2}, func(x float64) float64 { return math.Max(x, 0.2*x) }, 1e-6},
		{models.Activation{Name: models.ActElu}, func(x float64) float64 {
			if x > 0 {
				return x
			}
			return math.Expm1(x)
		}, 1e-6},
		{models.Activation{Name: models.ActSelu}, func(x float64) float64 {
			if x > 0 {
				return lambda * x
			}
			return lambda * alpha * math.Expm1(x)
		}, 1e-5},
		{models.Activation{Name: models.ActGelu}, func(x float64) float64 { return x * 0.5 * (1 + math.Erf(x/math.Sqrt2)) }, 1e-4},
		{models.Activation{Name: models.ActSwish}, func(x float64) float64 { return x * sig(x) }, 1e-5},
		{models.Activation{Name: models.ActSoftplus}, func(x float64) float64 { return math.Max(x, 0) + math.Log1p(math.Exp(-math.Abs(x))) }, 1e-5},
	}
	in := make([]float32, len(xs))
	for i, x := range xs {
		in[i] = float32(x)
	}
	for _, c := range cases {
		t.Run(c.act.Name, func(t *testing.T) {
			require.NoError(t, c.act.Check())
			out, err := graph.ExecOnce(backend, c.act.Apply, tensors.FromFlatDataAndDimensions(in, len(in)))
			require.NoError(t, err)
			got := tensors.MustCopyFlatData[float32](out)
			for i, x := range xs {
				assert.InDelta(t, c.want(x), float64(got[i]), c.tol*math.Max(1, math.Abs(c.want(x))), "x=%v", x)
			}
		})
	}
}

// TestMaxout: maxout keeps the largest of each group of k consecutive values and shrinks the
// last axis k-fold; Width asks the layer for k times the units.
func TestMaxout(t *testing.T) {
	backend, err := models.NewBackend("go")
	require.NoError(t, err)
	a := models.ActivationOf(contract.Config{"activation": "maxout", "maxout_pieces": 3})
	require.NoError(t, a.Check())
	assert.Equal(t, 12, a.Width(4))
	in := tensors.FromValue([][]float32{{1, 5, -2, -1, -3, -7}, {0, 0, 0, 9, 8, 10}})
	out, err := graph.ExecOnce(backend, a.Apply, in)
	require.NoError(t, err)
	assert.Equal(t, []int{2, 2}, out.Shape().Dimensions)
	assert.Equal(t, []float32{5, -1, 0, 10}, tensors.MustCopyFlatData[float32](out))

	assert.ErrorContains(t, models.Activation{Name: "maxout", Pieces: 1}.Check(), "maxout_pieces")
	assert.ErrorContains(t, models.Activation{Name: "softsign"}.Check(), "unknown activation")
	assert.Equal(t, 5, models.ActivationOf(contract.Config{"activation": "relu"}).Width(5))
}
