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
	return convCF(x, kernel, bias, newGeometryLayout(x, kdims[:nsp], cfg, true))
}

// convCF is ConvCF with its geometry resolved (geo.pads may be any zero padding).
func convCF(x, kernel, bias *graph.Node, geo *geometry) *graph.Node {
	nsp := x.Rank() - 2
	kdims := kernel.Shape().Dimensions
	c := x.Shape().Dimensions[0]
	f := kdims[nsp+1]
	if useKernelFirst(geo, f) {
		return convKernelFirstCF(x, kernel, bias, geo)
	}
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
			if dxByConvolution(geo, f) {
				return convInputGradCF(v, k2, geo)
			}
			// dx = col2im(k2 · vᵀ), one matmul per kernel offset: k2's [C, F] block of the
			// offset times vᵀ, shaped like x at the output's spatial size. Slicing the kernel
			// is free next to slicing the [rows, M] product, and the small matmuls are
			// independent nodes the executor runs in parallel.
			blockDims := append([]int{c}, outDims[1:]...)
			return col2imParts(func(o int) *graph.Node {
				ko := k2
				if len(geo.offsets) > 1 {
					ko = graph.SliceAxis(k2, 0, graph.AxisRange(o*c, (o+1)*c))
				}
				return graph.Reshape(graph.DotGeneral(ko, []int{1}, nil, vt, []int{0}, nil), blockDims...)
			}, geo)
		}
		if dk2 == nil || dk2For != v { // a graph may take several gradients
			dk2For = v
			// dk2 = p·vᵀ contracting M, the long axis of both. Measured on the Go backend
			// (GOMAXPROCS=1, GFLOP/s): with at least 128 patch rows and 16 filters, v
			// transposed to [M, F] (a small copy) as the rhs of [cols, M]·[M, F] runs the
			// backend's direct kernel for tall products: [289,16384]·[16384,16] 56 (vs 18
			// for [16,16384]·[289,16384]ᵀ), [145,12544]·[12544,32] 82 (vs 39). Below that,
			// the operand with fewer rows goes on the left.
			switch {
			case cols >= 128 && f >= 16:
				dk2 = graph.DotGeneral(pt, []int{1}, nil, graph.TransposeAllAxes(vt, 1, 0), []int{0}, nil)
			case cols < 16 && f >= 16:
				// Fewer than 16 patch rows (a first layer on one channel: 3x3+1): as the rhs they
				// are narrower than a vector, which routes the product to the backend's direct
				// dot-product kernel: [16,50176]·[10,50176]ᵀ 26 vs 10 GFLOP/s the other way round.
				dk2 = graph.TransposeAllAxes(graph.DotGeneral(vt, []int{1}, nil, pt, []int{1}, nil), 1, 0)
			case cols < f:
				dk2 = graph.DotGeneral(pt, []int{1}, nil, vt, []int{1}, nil) // [cols, F]
			default:
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

// dxMode overrides dxByConvolution's choice in tests: 0 decides by cost, 1 always col2im,
// 2 always the convolution where it applies.
var dxMode = 0

// dxByConvolution reports whether ConvCF's input gradient is computed as a convolution of
// the adjoint (convInputGradCF) rather than as col2im of k2·vᵀ. Both cost the same
// multiply-adds; they differ in the data they move. col2im writes the [prod(kernel)*C, M]
// product and then pads, adds and crops one x-sized block per kernel offset; the
// convolution builds the adjoint's patches, [prod(kernel)*F, M], once. So the convolution
// moves less whenever F <= C (the decoder's upsample+conv layers, an output layer with
// one filter), and applies only with stride 1 (a strided convolution's adjoint is one with
// holes).
func dxByConvolution(geo *geometry, f int) bool {
	if !geo.unitStrides() {
		return false
	}
	switch dxMode {
	case 1:
		return false
	case 2:
		return true
	}
	return f <= geo.channels()
}

// convInputGradCF returns the gradient w.r.t. x [C, batch, spatial...] of a stride-1
// ConvCF with kernel matrix k2 [prod(kernel)*C, F] (no bias row), given the adjoint v
// [F, batch, out spatial...]: the correlation of v, zero-padded by eff-1-before (before)
// and eff-1-after (after) on each axis (eff the dilated kernel size, before/after the
// forward padding), with the kernel flipped along every spatial axis and its C and F axes
// swapped. Flipping every axis of a row-major kernel reverses its flattened offset order,
// so the flipped, swapped kernel is k2 reshaped [offsets, C, F], reversed on the first
// axis and transposed to [C, offsets*F]: a small tensor. The patches of v are then
// [offsets*F, M_x] and dx is one matmul, with no col2im sum.
func convInputGradCF(v, k2 *graph.Node, geo *geometry) *graph.Node {
	nsp := len(geo.kernel)
	vd := v.Shape().Dimensions
	f, c := vd[0], geo.channels()
	vgeo := &geometry{
		kernel:    geo.kernel,
		strides:   geo.strides,
		dilations: geo.dilations,
		pads:      make([][2]int, nsp),
		inDims:    vd,
		outSp:     geo.inDims[2:],
		offsets:   geo.offsets,
		cf:        true,
	}
	for i, k := range geo.kernel {
		eff := (k-1)*geo.dilations[i] + 1
		vgeo.pads[i] = [2]int{eff - 1 - geo.pads[i][0], eff - 1 - geo.pads[i][1]}
	}
	n := len(geo.offsets)
	mx := geo.inDims[1]
	for _, d := range vgeo.outSp {
		mx *= d
	}
	pv := graph.Reshape(patches(v, vgeo, nil), n*f, mx)
	kf := graph.Reverse(graph.Reshape(k2, n, c, f), 0)
	kf = graph.Reshape(graph.TransposeAllAxes(kf, 1, 0, 2), c, n*f)
	dx := graph.DotGeneral(kf, []int{1}, nil, pv, []int{0}, nil)
	return graph.Reshape(dx, geo.inDims...)
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
