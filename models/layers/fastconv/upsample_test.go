package fastconv

import (
	"math/rand/v2"
	"testing"

	"github.com/gomlx/gomlx/core/graph"
	"github.com/stretchr/testify/require"
)

// upsampleRef is nearest-neighbour upsampling as plain ops: reshape, broadcast, reshape
// (its gradient is autodiff's ReduceSum of the broadcast).
func upsampleRef(x *graph.Node, f []int) *graph.Node {
	dims := x.Shape().Dimensions
	ones, split, out := dims[:2:2], dims[:2:2], dims[:2:2]
	for a, n := range dims[2:] {
		ones = append(ones, n, 1)
		split = append(split, n, f[a])
		out = append(out, n*f[a])
	}
	return graph.Reshape(graph.BroadcastToDims(graph.Reshape(x, ones...), split...), out...)
}

func TestUpsampleCFMatchesPlainOps(t *testing.T) {
	backend := goBackend(t)
	cases := []struct {
		name   string
		x      []int
		factor []int
	}{
		{"2x2", []int{3, 2, 4, 4}, []int{2, 2}},
		{"one channel 2x2", []int{1, 3, 4, 5}, []int{2}},
		{"2x3", []int{2, 2, 3, 2}, []int{2, 3}},
		{"1d x4", []int{2, 3, 5}, []int{4}},
		{"3d 2x2x2", []int{2, 2, 2, 3, 2}, []int{2}},
		{"factor 1 on one axis", []int{2, 2, 4, 4}, []int{1, 2}},
	}
	for ci, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(uint64(ci), 11))
			x := randTensor(rng, tc.x...)
			f := perAxis("factor", tc.factor, len(tc.x)-2, 1)
			build := func(fast bool) func(x *graph.Node) []*graph.Node {
				return func(x *graph.Node) []*graph.Node {
					var y *graph.Node
					if fast {
						y = UpsampleCF(x, tc.factor...)
					} else {
						y = upsampleRef(x, f)
					}
					return []*graph.Node{y, graph.Gradient(lossOf(y, 5), x)[0]}
				}
			}
			want, err := graph.MustNewExec(backend, build(false)).Call(x)
			require.NoError(t, err)
			got, err := graph.MustNewExec(backend, build(true)).Call(x)
			require.NoError(t, err)
			requireClose(t, "output", want[0], got[0], 0)
			requireClose(t, "dx", want[1], got[1], 1e-5)
		})
	}
	require.Error(t, tryGraph(func() {
		graph.MustNewExec(backend, func(x *graph.Node) *graph.Node { return UpsampleCF(x, 2) }).MustCall(randTensor(rand.New(rand.NewPCG(1, 1)), 4, 4))
	}), "rank 2 is not channels-first [C, B, spatial...]")
}
