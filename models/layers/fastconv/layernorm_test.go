package fastconv

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/stretchr/testify/require"
)

// plainLayerNormCF is the autodiff formulation: the mean and variance of each example over
// its channels and positions (axes 0, 2, 3, ... of [C, B, spatial...]), per-channel affine.
func plainLayerNormCF(x, gain, offset *graph.Node, eps float64) *graph.Node {
	axes := []int{0}
	for a := 2; a < x.Rank(); a++ {
		axes = append(axes, a)
	}
	mean := graph.ReduceAndKeep(x, graph.ReduceMean, axes...)
	xc := graph.Sub(x, mean)
	variance := graph.ReduceAndKeep(graph.Square(xc), graph.ReduceMean, axes...)
	normed := graph.Div(xc, graph.Sqrt(graph.AddScalar(variance, eps)))
	bd := make([]int, x.Rank())
	for i := range bd {
		bd[i] = 1
	}
	bd[0] = x.Shape().Dimensions[0]
	return graph.Add(graph.Mul(normed, graph.Reshape(gain, bd...)), graph.Reshape(offset, bd...))
}

// TestLayerNormCF compares LayerNormCF's output and its gradients (x, gain, offset) with
// the plain formulation's autodiff gradients, on shapes with odd and size-1 axes, one and
// two spatial axes, and inputs with a large common offset (the variance is computed from
// centred values, so it does not cancel).
func TestLayerNormCF(t *testing.T) {
	backend := goBackend(t)
	cases := []struct {
		dims  []int
		shift float32
	}{
		{[]int{4, 3, 9}, 0}, {[]int{1, 2, 7}, 0}, {[]int{5, 1, 1}, 0}, {[]int{3, 4, 1}, 0},
		{[]int{2, 3, 5, 4}, 0}, {[]int{16, 8, 33}, 0}, {[]int{6, 5, 11}, 100},
	}
	for ci, tc := range cases {
		t.Run(fmt.Sprint(tc.dims, tc.shift), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(uint64(ci), 5))
			x := randTensor(rng, tc.dims...)
			v := flat(t, x)
			for i := range v {
				v[i] = v[i]*float32(1+i%3) + tc.shift
			}
			x = tensors.FromFlatDataAndDimensions(v, tc.dims...)
			gain, offset := randTensor(rng, tc.dims[0]), randTensor(rng, tc.dims[0])
			build := func(ln func(x, g, o *graph.Node, eps float64) *graph.Node) func(x, g, o *graph.Node) []*graph.Node {
				return func(x, g, o *graph.Node) []*graph.Node {
					y := ln(x, g, o, 1e-5)
					loss := lossOf(y, uint64(ci))
					return append([]*graph.Node{y}, graph.Gradient(loss, x, g, o)...)
				}
			}
			want, err := graph.MustNewExec(backend, build(plainLayerNormCF)).Call(x, gain, offset)
			require.NoError(t, err)
			got, err := graph.MustNewExec(backend, build(LayerNormCF)).Call(x, gain, offset)
			require.NoError(t, err)
			tol := 1e-5
			if tc.shift != 0 {
				tol = 1e-3 // the reference's float32 mean of values near 100
			}
			for i, name := range []string{"output", "d/dx", "d/dgain", "d/doffset"} {
				requireClose(t, name, want[i], got[i], tol*10)
			}
		})
	}
}

func TestLayerNormCFErrors(t *testing.T) {
	backend := goBackend(t)
	for _, tc := range []struct {
		x, g []int
		msg  string
	}{
		{[]int{3, 4}, []int{3}, "channels-first [C, batch, spatial...]"},
		{[]int{3, 4, 5}, []int{4}, "gain and offset must be [3]"},
		{[]int{3, 0, 5}, []int{3}, "empty axis"},
	} {
		err := tryGraph(func() {
			graph.MustNewExec(backend, func(g *graph.Graph) *graph.Node {
				gain := graph.Ones(g, shapesOf(tc.g...))
				return LayerNormCF(graph.Zeros(g, shapesOf(tc.x...)), gain, gain, 1e-5)
			}).MustCall()
		})
		require.ErrorContains(t, err, tc.msg)
	}
}
