package fastconv

import (
	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/support/exceptions"
)

// customOp builds an operation whose gradient is given explicitly rather than derived by
// GoMLX's autodiff from the ops of its forward pass.
//
// GoMLX only lets one attach a gradient to an identity (graph.IdentityWithCustomGradient).
// customOp composes identities:
//
//   - each input i passes through an identity whose gradient function returns
//     backward(i, v), v being the adjoint of the op's output;
//   - the forward pass reads the inputs through StopGradient, so autodiff builds nothing
//     for its ops (whatever it builds there is dead and the backend never runs it);
//   - the output passes through an identity whose gradient function records v and passes
//     zeros on;
//   - forward must mix link, a zero scalar that depends on every input through a Where
//     with a false condition (so NaN/Inf inputs do not leak into it), into some small
//     tensor of its computation. That path makes autodiff visit the input identities, in
//     reverse creation order: after the output's, so v is known by then.
//
// backward is called only for inputs that need a gradient (e.g. not for the data input
// of a first layer), so its cost is paid only where needed. Second derivatives are not
// supported.
func customOp(inputs []*graph.Node, forward func(stopped []*graph.Node, link *graph.Node) *graph.Node,
	backward func(i int, v *graph.Node) *graph.Node) *graph.Node {
	g := inputs[0].Graph()
	var adjoint *graph.Node
	stopped := make([]*graph.Node, len(inputs))
	var link *graph.Node
	for i, in := range inputs {
		id := graph.IdentityWithCustomGradient(in, func(x, _ *graph.Node) *graph.Node {
			if adjoint == nil {
				exceptions.Panicf("fastconv: gradient of input #%d requested before the output's (is the op's output used?)", i)
			}
			grad := backward(i, adjoint)
			if !grad.Shape().Equal(x.Shape()) {
				exceptions.Panicf("fastconv: internal error: gradient of input #%d has shape %s, want %s", i, grad.Shape(), x.Shape())
			}
			return grad
		})
		stopped[i] = graph.StopGradient(id)
		// One element of the input, as a scalar.
		spec := make([]graph.SliceAxisSpec, id.Rank())
		for a := range spec {
			spec[a] = graph.AxisRange(0, 1)
		}
		first := graph.Reshape(graph.Slice(id, spec...))
		if first.DType() != inputs[0].DType() {
			first = graph.ConvertDType(first, inputs[0].DType())
		}
		if link == nil {
			link = first
		} else {
			link = graph.Add(link, first)
		}
	}
	zero := graph.ScalarZero(g, link.DType())
	link = graph.Where(graph.Const(g, false), link, zero)
	out := forward(stopped, link)
	return graph.IdentityWithCustomGradient(out, func(y, v *graph.Node) *graph.Node {
		adjoint = v
		return graph.Zeros(g, y.Shape())
	})
}

// CustomOp builds an operation whose gradient is given explicitly (see customOp): forward
// computes the output from the inputs read through StopGradient and must mix link, a zero
// scalar, into some small tensor of its computation; backward(i, v) returns the gradient of
// input i for the adjoint v of the output, and is called only for inputs that need one.
// Second derivatives are not supported.
func CustomOp(inputs []*graph.Node, forward func(stopped []*graph.Node, link *graph.Node) *graph.Node,
	backward func(i int, v *graph.Node) *graph.Node) *graph.Node {
	return customOp(inputs, forward, backward)
}
