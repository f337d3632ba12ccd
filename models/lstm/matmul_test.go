package lstm

import (
	"math/rand/v2"
	"testing"

	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/biopipe/biopipe/models"
)

// TestFastMatmulGradients checks that the layer's explicit matmul gradients equal the ones
// autodiff derives from plain DotGeneral: gradients of a weighted sum of both outputs of
// apply with respect to x and every weight, forward and bidirectional.
func TestFastMatmulGradients(t *testing.T) {
	backend, err := models.NewBackend("")
	require.NoError(t, err)
	const steps, batch, feat, units = 4, 3, 5, 6
	for _, d := range []int{1, 2} {
		r := rand.New(rand.NewPCG(uint64(d), 11))
		rnd := func(dims ...int) *tensors.Tensor {
			n := 1
			for _, v := range dims {
				n *= v
			}
			v := make([]float32, n)
			for i := range v {
				v[i] = float32(r.NormFloat64() * 0.5)
			}
			return tensors.FromFlatDataAndDimensions(v, dims...)
		}
		args := []any{rnd(steps, batch, feat), rnd(d, feat, 4*units), rnd(d, units, 4*units), rnd(d, 4*units),
			rnd(steps, batch, d*units), rnd(batch, d*units)}
		grads := func(mm matmulFn) [][]float32 {
			outs, err := graph.ExecOnceN(backend, func(in []*graph.Node) []*graph.Node {
				o, last := apply(in[0], in[1], in[2], in[3], mm)
				loss := graph.Add(graph.ReduceAllSum(graph.Mul(o, in[4])), graph.ReduceAllSum(graph.Mul(last, in[5])))
				return graph.Gradient(loss, in[0], in[1], in[2], in[3])
			}, args...)
			require.NoError(t, err)
			var flat [][]float32
			for _, o := range outs {
				flat = append(flat, tensors.MustCopyFlatData[float32](o))
			}
			return flat
		}
		want, got := grads(plainMatmul), grads(fastMatmul)
		for i, name := range []string{"x", "input_weights", "recurrent_weights", "biases"} {
			require.Len(t, got[i], len(want[i]))
			norm := 0.0
			for _, v := range want[i] {
				norm += float64(v * v)
			}
			require.Greater(t, norm, 1e-6, "d loss / d %s is zero: the check would be vacuous", name)
			assert.InDeltaSlice(t, want[i], got[i], 1e-5, "d loss / d %s, %d directions", name, d)
		}
	}
}
