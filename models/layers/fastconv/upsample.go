package fastconv

import (
	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/support/exceptions"
)

// UpsampleCF repeats every value of a channels-first x [C, batch, spatial...] factor times
// along each spatial axis (nearest-neighbour upsampling): [C, batch, spatial*factor...].
// factor holds one value per spatial axis, or one for all. Followed by a convolution it is
// the decoder layer of the conv autoencoders and generators ("upsample + conv", which has
// none of a transposed convolution's checkerboard artefacts).
//
// The forward pass repeats by block concatenation (the Go backend's fast copy, see
// upsample); the gradient is given explicitly as the sum over each block: one Reshape and
// one ReduceSum, instead of autodiff's chain through the concatenation.
func UpsampleCF(x *graph.Node, factor ...int) *graph.Node {
	if x.Rank() < 3 {
		exceptions.Panicf("fastconv.UpsampleCF: x must be channels-first [channels, batch, spatial...], got shape %s", x.Shape())
	}
	dims := x.Shape().Dimensions
	f := perAxis("factor", factor, len(dims)-2, 1)
	split := []int{dims[0], dims[1]} // [C, B, n0, f0, n1, f1, ...]
	ones := []int{dims[0], dims[1]}  // [C, B, n0, 1, n1, 1, ...]
	out := []int{dims[0], dims[1]}
	var sumAxes []int
	for a, n := range dims[2:] {
		if f[a] < 1 {
			exceptions.Panicf("fastconv.UpsampleCF: factor %v must be at least 1", factor)
		}
		split = append(split, n, f[a])
		ones = append(ones, n, 1)
		out = append(out, n*f[a])
		sumAxes = append(sumAxes, 3+2*a)
	}
	forward := func(st []*graph.Node, link *graph.Node) *graph.Node {
		t := graph.Reshape(graph.Add(st[0], link), ones...)
		return graph.Reshape(upsample(t, split), out...)
	}
	backward := func(_ int, v *graph.Node) *graph.Node {
		return graph.Reshape(graph.ReduceSum(graph.Reshape(v, split...), sumAxes...), dims...)
	}
	return customOp([]*graph.Node{x}, forward, backward)
}
