package fastconv

import (
	"github.com/gomlx/compute/shapes"
	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/support/exceptions"
)

// ConvCF is ConvWithBias for channels-first tensors: x is [C, batch, spatial...] and the
// result [F, batch, out spatial...]; kernel keeps the [kernel spatial..., C, F] layout of
// ConvWithBias (and of layers.Convolution), and bias [F] may be nil.
//
// On the Go backend this layout is markedly faster: the im2col matrix is built transposed,
// [prod(kernel)*C (+1), M] with M = batch·prod(out spatial), by concatenating slices along
// the leading axis (contiguous blocks), and the three matmuls (forward, kernel gradient,
// input gradient) all have the small kernel matrix on one side and the long M axis as the
// output's (or contraction's) contiguous axis, the layouts the backend's SIMD matmul runs
// fastest (about 1.5-2x the channels-last ones on the shapes of a small CNN). A network
// that keeps its activations channels-first between layers (see PoolCF) pays no transposes;
// ToChannelsFirst/ToChannelsLast convert at its ends.
func ConvCF(x, kernel, bias *graph.Node, cfg Config) *graph.Node {
	nsp := x.Rank() - 2
	if nsp < 1 {
		exceptions.Panicf("fastconv: x must be [channels, batch, spatial...], got shape %s", x.Shape())
	}
	if kernel.Rank() != nsp+2 {
		exceptions.Panicf("fastconv: kernel of shape %s does not match channels-first x of shape %s: want [kernel spatial (%d axes)..., C, F]", kernel.Shape(), x.Shape(), nsp)
	}
	kdims := kernel.Shape().Dimensions
	c := x.Shape().Dimensions[0]
	if kdims[nsp] != c {
		exceptions.Panicf("fastconv: kernel of shape %s expects %d input channels, channels-first x of shape %s has %d", kernel.Shape(), kdims[nsp], x.Shape(), c)
	}
	if x.DType() != kernel.DType() {
		exceptions.Panicf("fastconv: x dtype %s differs from kernel dtype %s", x.DType(), kernel.DType())
	}
	f := kdims[nsp+1]
	if bias != nil && (bias.Rank() != 1 || bias.Shape().Dimensions[0] != f || bias.DType() != x.DType()) {
		exceptions.Panicf("fastconv: bias of shape %s, want [%d] of dtype %s", bias.Shape(), f, x.DType())
	}
	geo := newGeometryLayout(x, kdims[:nsp], cfg, true)
	rows := len(geo.offsets) * c
	m := geo.batch()
	for _, d := range geo.outSp {
		m *= d
	}
	outDims := append([]int{f, geo.batch()}, geo.outSp...)

	inputs := []*graph.Node{x, kernel}
	if bias != nil {
		inputs = append(inputs, bias)
	}
	// As in ConvWithBias, the bias is folded into the matmul: a row of ones below the
	// patches, the bias as the last row of the kernel matrix.
	cols := rows
	if bias != nil {
		cols++
	}
	var pt, k2 *graph.Node // forward values reused by the gradient: patchesᵀ [cols, M], kernel [rows, F]
	forward := func(st []*graph.Node, link *graph.Node) *graph.Node {
		k2 = graph.Reshape(st[1], rows, f)
		kc := k2
		var ones *graph.Node
		if bias != nil {
			ones = graph.Ones(x.Graph(), shapes.Make(x.DType(), append([]int{1}, outDims[1:]...)...))
			kc = graph.Concatenate([]*graph.Node{k2, graph.Reshape(st[2], 1, f)}, 0)
		}
		pt = graph.Reshape(patches(st[0], geo, ones), cols, m)
		// The link joins the (small) kernel: zero value, and a path for autodiff.
		kt := graph.TransposeAllAxes(graph.Add(kc, link), 1, 0) // [F, cols]
		y := graph.DotGeneral(kt, []int{1}, nil, pt, []int{0}, nil)
		return graph.Reshape(y, outDims...)
	}
	var dk2, dk2For *graph.Node // [cols, F], shared by the kernel and bias gradients of one adjoint
	backward := func(i int, v *graph.Node) *graph.Node {
		vt := graph.Reshape(v, f, m)
		if i == 0 {
			// dx = col2im(k2 · vᵀ), one matmul per kernel offset: k2's [C, F] block of the
			// offset times vᵀ. Slicing the kernel is free next to slicing the [rows, M]
			// product, which the backend copies element by element.
			dpt := graph.DotGeneral(k2, []int{1}, nil, vt, []int{0}, nil)
			return col2im(graph.Reshape(dpt, append([]int{rows}, outDims[1:]...)...), geo)
		}
		if dk2 == nil || dk2For != v { // a graph may take several gradients
			dk2For = v
			// dk2 = p·v contracting M, the long axis of both; the backend's matmul is faster
			// with the operand with fewer rows on the left.
			if cols < f {
				dk2 = graph.DotGeneral(pt, []int{1}, nil, vt, []int{1}, nil) // [cols, F]
			} else {
				dk2 = graph.TransposeAllAxes(graph.DotGeneral(vt, []int{1}, nil, pt, []int{1}, nil), 1, 0)
			}
		}
		if i == 1 {
			dk := dk2
			if bias != nil {
				dk = graph.SliceAxis(dk2, 0, graph.AxisRange(0, rows))
			}
			return graph.Reshape(dk, kdims...)
		}
		return graph.Reshape(graph.SliceAxis(dk2, 0, graph.AxisRange(rows, rows+1)), f)
	}
	return customOp(inputs, forward, backward)
}

// ToChannelsFirst transposes x [batch, spatial..., C] to [C, batch, spatial...]. When C is
// 1 it is a free reshape.
func ToChannelsFirst(x *graph.Node) *graph.Node {
	if x.Rank() < 2 {
		exceptions.Panicf("fastconv.ToChannelsFirst: x must be [batch, spatial..., channels], got shape %s", x.Shape())
	}
	dims := x.Shape().Dimensions
	if dims[len(dims)-1] == 1 {
		return graph.Reshape(x, append([]int{1}, dims[:len(dims)-1]...)...)
	}
	perm := make([]int, x.Rank())
	perm[0] = x.Rank() - 1
	for i := 1; i < len(perm); i++ {
		perm[i] = i - 1
	}
	return graph.TransposeAllAxes(x, perm...)
}

// ToChannelsLast transposes x [C, batch, spatial...] to [batch, spatial..., C], the
// inverse of ToChannelsFirst.
func ToChannelsLast(x *graph.Node) *graph.Node {
	if x.Rank() < 2 {
		exceptions.Panicf("fastconv.ToChannelsLast: x must be [channels, batch, spatial...], got shape %s", x.Shape())
	}
	dims := x.Shape().Dimensions
	if dims[0] == 1 {
		return graph.Reshape(x, append(dims[1:len(dims):len(dims)], 1)...)
	}
	perm := make([]int, x.Rank())
	for i := range len(perm) - 1 {
		perm[i] = i + 1
	}
	perm[len(perm)-1] = 0
	return graph.TransposeAllAxes(x, perm...)
}

// PoolCF is Pool for channels-first x [C, batch, spatial...]; relu fuses a Relu as in
// MaxPoolRelu (kind must then be Max). The channel and batch axes are merged into the
// batch axis of a channels-last view with one channel, so the fast reshape path and its
// one-mask gradient apply unchanged.
func PoolCF(x *graph.Node, kind PoolKind, window []int, cfg Config, relu bool) *graph.Node {
	if x.Rank() < 3 {
		exceptions.Panicf("fastconv: pooling needs channels-first x shaped [channels, batch, spatial...], got shape %s", x.Shape())
	}
	if relu && kind != Max {
		exceptions.Panicf("fastconv.PoolCF: relu is fused only into max pooling")
	}
	dims := x.Shape().Dimensions
	view := append(append([]int{dims[0] * dims[1]}, dims[2:]...), 1)
	y := pool(graph.Reshape(x, view...), kind, window, cfg, relu)
	yd := y.Shape().Dimensions
	return graph.Reshape(y, append([]int{dims[0], dims[1]}, yd[1:len(yd)-1]...)...)
}
