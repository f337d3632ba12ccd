package lstm

import (
	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/support/exceptions"
)

// fastMatmul multiplies a [D, M, K] by b [D, K, N] (batched over D) with its gradients
// given explicitly in the layout the pure-Go backend multiplies fast (lhs contracting its
// last axis, rhs its first):
//
//	da = v · bᵀ as DotGeneral(v [D,M,N], transpose(b) [D,N,K])
//	db = aᵀ · v as DotGeneral(transpose(a) [D,K,M], v [D,M,N])
//
// Autodiff's DotGeneral gradients contract the lhs on its first axis (db) and the rhs on
// its last (da), which the Go backend's matmul runs 10-20x slower for the LSTM's shapes
// (e.g. [32,32]ᵀ·[32,128]: 2.3 ms against 0.05 ms). The gradient is exact; only the
// layout of the computation differs. The layer uses it for the input projection of all
// steps.
func fastMatmul(a, b *graph.Node) *graph.Node {
	var adjoint *graph.Node
	var sa, sb *graph.Node
	backward := func(i int, v *graph.Node) *graph.Node {
		if i == 0 {
			return graph.DotGeneral(v, []int{2}, []int{0}, graph.TransposeAllAxes(sb, 0, 2, 1), []int{1}, []int{0})
		}
		return graph.DotGeneral(graph.TransposeAllAxes(sa, 0, 2, 1), []int{2}, []int{0}, v, []int{1}, []int{0})
	}
	g := a.Graph()
	ids := make([]*graph.Node, 2)
	for i, in := range []*graph.Node{a, b} {
		ids[i] = graph.IdentityWithCustomGradient(in, func(x, _ *graph.Node) *graph.Node {
			if adjoint == nil {
				exceptions.Panicf("lstm: gradient of matmul input #%d requested before its output's", i)
			}
			return backward(i, adjoint)
		})
	}
	sa, sb = graph.StopGradient(ids[0]), graph.StopGradient(ids[1])
	// link: a zero scalar that depends on both inputs (through a Where with a false
	// condition, so NaN/Inf cannot leak), mixed into b: the path on which autodiff reaches
	// the input identities, after the output's (reverse creation order), so that adjoint is
	// known by then. Their own gradient functions replace what flows on it.
	first := func(x *graph.Node) *graph.Node {
		return graph.Reshape(graph.Slice(x, graph.AxisRange(0, 1), graph.AxisRange(0, 1), graph.AxisRange(0, 1)))
	}
	link := graph.Where(graph.Const(g, false), graph.Add(first(ids[0]), first(ids[1])), graph.ScalarZero(g, a.DType()))
	out := graph.DotGeneral(sa, []int{2}, []int{0}, graph.Add(sb, link), []int{1}, []int{0})
	return graph.IdentityWithCustomGradient(out, func(y, v *graph.Node) *graph.Node {
		adjoint = v
		return graph.Zeros(g, y.Shape())
	})
}
