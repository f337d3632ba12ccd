// Package fastconv builds convolution and pooling layers out of the operations that GoMLX's
// pure-Go backend runs fast, with exact gradients.
//
// The Go backend executes graph.ConvGeneral (and its gradient, which is again ConvGeneral)
// as a direct nested loop, which makes CNN training tens of times slower than PyTorch.
// DotGeneral, on the other hand, is a tuned (and, built with GOEXPERIMENT=simd, SIMD) matrix
// multiplication. This package therefore expresses a convolution as im2col + one matmul:
//
//   - "same" padding is built by concatenating zero borders (graph.Pad has no gradient on the
//     Go backend; Concatenate does and is a block copy);
//   - the patches are kernel-offset Slices (with strides and dilations) concatenated along the
//     channel axis, plus a column of ones when there is a bias: [M, prod(kernel)*C (+1)];
//   - one DotGeneral with the kernel (and bias row) reshaped to [prod(kernel)*C (+1), F].
//
// The gradients are not left to autodiff, which would derive full-size transposes and
// Sign-based indicator chains from those ops; they are given explicitly (see customOp):
// dKernel and dBias are one matmul, dx = col2im(v·Kᵀ) is built only when x needs a gradient
// (not for a first layer fed with data). The tests check them against ConvGeneral/MaxPool
// gradients and against exact directional derivatives.
// (graph.ConvGeneral's gradient w.r.t. the input is wrong in GoMLX v0.28.2 for even kernel
// sizes and for strides that do not divide the padded input; fastconv's is right there too.)
//
// Max pooling is one ReduceWindow (one SelectAndScatter for its gradient); mean pooling with
// window == stride over sizes that divide is a Reshape plus ReduceMean; other configurations
// fall back to graph.MaxPool/MeanPool. MaxPoolRelu applies relu after max pooling (they
// commute), and Relu has a one-Where gradient.
//
// ConvCF, PoolCF and Builder.ChannelsFirst are the same for channels-first activations
// [C, batch, spatial...], the layout whose matmuls the Go backend runs fastest (see ConvCF);
// a network converts once at each end (ToChannelsFirst, ToChannelsLast). UpConvCF is a
// decoder's nearest 2x upsampling followed by a same convolution, computed per output phase
// on the input itself (4/9 of the multiply-adds for a 3x3 kernel).
//
// Otherwise all tensors are channels-last: x is [batch, spatial..., channels] and kernels are
// [kernel spatial..., in channels, out channels], the layout of layers.Convolution, whose
// variable names ("conv/weights", "conv/biases") the Builder reuses so checkpoints are
// interchangeable. Any number of spatial axes works: Conv1D (temporal), Conv2D, Conv3D.
//
// Functions panic on invalid shapes while the graph is built, like the rest of GoMLX graph
// building; callers turn those panics into errors at their boundary (exceptions.Try).
// Second derivatives (gradients of gradients) are not supported.
package fastconv

import (
	"slices"

	"github.com/gomlx/compute/shapes"
	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/support/exceptions"
)

// Padding selects how the borders of the input are handled.
type Padding int

const (
	// Valid uses no padding: only windows that fit entirely in the input produce an output.
	Valid Padding = iota
	// Same pads with zeros so that, with stride 1, the output has the input's spatial size:
	// (k-1)/2 zeros before and k/2 after along each axis, for an effective kernel size k
	// (the convention of graph.Convolve's PadSame). With stride s the output size is ceil(n/s).
	Same
)

// String returns "valid" or "same".
func (p Padding) String() string {
	if p == Same {
		return "same"
	}
	return "valid"
}

// Config holds the geometry of an N-d convolution or pooling window. A nil or empty
// Strides/Dilations means 1 on every axis; a single value applies to every axis.
type Config struct {
	Strides   []int
	Dilations []int
	Padding   Padding
}

// perAxis expands a per-axis setting: nil -> all def, one value -> repeated.
func perAxis(name string, v []int, n, def int) []int {
	switch len(v) {
	case 0:
		return slices.Repeat([]int{def}, n)
	case 1:
		return slices.Repeat([]int{v[0]}, n)
	case n:
		return slices.Clone(v)
	}
	exceptions.Panicf("fastconv: %s has %d values, want 1 or %d (one per spatial axis)", name, len(v), n)
	return nil
}

// paddings returns the (before, after) zero padding of each spatial axis.
func paddings(kernel, dilations []int, p Padding) [][2]int {
	pads := make([][2]int, len(kernel))
	if p != Same {
		return pads
	}
	for i, k := range kernel {
		eff := (k-1)*dilations[i] + 1
		pads[i] = [2]int{(eff - 1) / 2, eff / 2}
	}
	return pads
}

// PadZeros pads the spatial axes of x [batch, spatial..., C] with zeros, pads[i] =
// (before, after) for spatial axis i. It concatenates zero blocks, which, unlike graph.Pad,
// has a gradient on every backend.
func PadZeros(x *graph.Node, pads [][2]int) *graph.Node {
	if len(pads) != x.Rank()-2 {
		exceptions.Panicf("fastconv.PadZeros: %d paddings for x of shape %s with %d spatial axes", len(pads), x.Shape(), x.Rank()-2)
	}
	return padZeros(x, pads, 1)
}

// padZeros is PadZeros for spatial axes starting at axis first (1 channels-last, 2
// channels-first).
func padZeros(x *graph.Node, pads [][2]int, first int) *graph.Node {
	g := x.Graph()
	for i, p := range pads {
		axis := i + first
		if p[0] < 0 || p[1] < 0 {
			exceptions.Panicf("fastconv.PadZeros: negative padding %v on spatial axis %d", p, i)
		}
		if p[0] == 0 && p[1] == 0 {
			continue
		}
		parts := make([]*graph.Node, 0, 3)
		for j, n := range []int{p[0], -1, p[1]} {
			switch {
			case j == 1:
				parts = append(parts, x)
			case n > 0:
				s := x.Shape().Clone()
				s.Dimensions[axis] = n
				parts = append(parts, graph.Zeros(g, s))
			}
		}
		x = graph.Concatenate(parts, axis)
	}
	return x
}

// outSize is the number of window positions along an axis of size n (already padded).
func outSize(n, k, stride, dilation int) int {
	eff := (k-1)*dilation + 1
	if n < eff {
		return 0
	}
	return (n-eff)/stride + 1
}

// geometry is the resolved shape arithmetic of one convolution.
type geometry struct {
	kernel, strides, dilations []int
	pads                       [][2]int
	inDims                     []int // x's dimensions
	outSp                      []int // output spatial sizes
	offsets                    [][]int
	// cf: x is channels-first [C, batch, spatial...] rather than [batch, spatial..., C].
	cf bool
}

// sp is the axis of spatial axis i in x.
func (geo *geometry) sp(i int) int {
	if geo.cf {
		return i + 2
	}
	return i + 1
}

// channels is x's number of channels.
func (geo *geometry) channels() int {
	if geo.cf {
		return geo.inDims[0]
	}
	return geo.inDims[len(geo.inDims)-1]
}

// batch is x's batch size.
func (geo *geometry) batch() int {
	if geo.cf {
		return geo.inDims[1]
	}
	return geo.inDims[0]
}

func newGeometry(x *graph.Node, kernel []int, cfg Config) *geometry {
	return newGeometryLayout(x, kernel, cfg, false)
}

func newGeometryLayout(x *graph.Node, kernel []int, cfg Config, cf bool) *geometry {
	nsp := x.Rank() - 2
	if nsp < 1 {
		exceptions.Panicf("fastconv: x must be [batch, spatial..., channels], got shape %s", x.Shape())
	}
	if len(kernel) != nsp {
		exceptions.Panicf("fastconv: kernel has %d spatial axes, x of shape %s has %d", len(kernel), x.Shape(), nsp)
	}
	geo := &geometry{
		kernel:    slices.Clone(kernel),
		strides:   perAxis("strides", cfg.Strides, nsp, 1),
		dilations: perAxis("dilations", cfg.Dilations, nsp, 1),
		inDims:    slices.Clone(x.Shape().Dimensions),
		outSp:     make([]int, nsp),
		cf:        cf,
	}
	for i := range nsp {
		if kernel[i] < 1 || geo.strides[i] < 1 || geo.dilations[i] < 1 {
			exceptions.Panicf("fastconv: kernel %v, strides %v and dilations %v must be >= 1", kernel, geo.strides, geo.dilations)
		}
	}
	geo.pads = paddings(kernel, geo.dilations, cfg.Padding)
	for i := range nsp {
		n := geo.inDims[geo.sp(i)] + geo.pads[i][0] + geo.pads[i][1]
		geo.outSp[i] = outSize(n, kernel[i], geo.strides[i], geo.dilations[i])
		if geo.outSp[i] == 0 {
			exceptions.Panicf("fastconv: kernel %v (dilations %v) does not fit in x of shape %s (padding %s)", kernel, geo.dilations, x.Shape(), cfg.Padding)
		}
	}
	geo.offsets = kernelOffsets(kernel)
	return geo
}

// kernelOffsets lists every offset of a kernel of the given spatial sizes, in row-major order.
func kernelOffsets(kernel []int) [][]int {
	n := 1
	for _, k := range kernel {
		n *= k
	}
	offsets := make([][]int, 0, n)
	offset := make([]int, len(kernel))
	for range n {
		offsets = append(offsets, slices.Clone(offset))
		for i := len(kernel) - 1; i >= 0; i-- {
			offset[i]++
			if offset[i] < kernel[i] {
				break
			}
			offset[i] = 0
		}
	}
	return offsets
}

// sumPairwise adds parts as a balanced tree (independent adds the executor can run in
// parallel) instead of one chain.
func sumPairwise(parts []*graph.Node) *graph.Node {
	for len(parts) > 1 {
		next := parts[:0:0]
		for i := 0; i+1 < len(parts); i += 2 {
			next = append(next, graph.Add(parts[i], parts[i+1]))
		}
		if len(parts)%2 == 1 {
			next = append(next, parts[len(parts)-1])
		}
		parts = next
	}
	return parts[0]
}

// unitStrides reports whether every spatial stride is 1.
func (geo *geometry) unitStrides() bool {
	return !slices.ContainsFunc(geo.strides, func(s int) bool { return s != 1 })
}

// window returns, for a kernel offset along spatial axis i, the first padded position read
// and the limit of the strided range.
func (geo *geometry) window(i, off int) (start, limit int) {
	start = off * geo.dilations[i]
	return start, start + (geo.outSp[i]-1)*geo.strides[i] + 1
}

// Patches extracts the convolution windows of x [batch, spatial..., C] for a kernel of the
// given spatial size (im2col): the result is [batch, out spatial..., prod(kernel)*C], the
// last axis ordered (kernel offset axis 0, ..., kernel offset axis d-1, channel), which is
// the row-major order of a [kernel..., C, F] kernel reshaped to [prod(kernel)*C, F].
// Its gradient is the one autodiff derives (Concatenate -> Slice, Slice -> Pad).
func Patches(x *graph.Node, kernel []int, cfg Config) *graph.Node {
	return patches(x, newGeometry(x, kernel, cfg), nil)
}

// patches is Patches; extra, if not nil, is concatenated as the last columns.
func patches(x *graph.Node, geo *geometry, extra *graph.Node) *graph.Node {
	if geo.cf && geo.unitStrides() {
		return shiftedPatches(x, geo, extra)
	}
	x = padZeros(x, geo.pads, geo.sp(0))
	dims := x.Shape().Dimensions
	nsp := len(geo.kernel)
	parts := make([]*graph.Node, 0, len(geo.offsets))
	for _, offset := range geo.offsets {
		spec := make([]graph.SliceAxisSpec, x.Rank())
		for a := range spec {
			spec[a] = graph.AxisRange()
		}
		whole := true
		for i := range nsp {
			start, limit := geo.window(i, offset[i])
			spec[geo.sp(i)] = graph.AxisRange(start, limit).Stride(geo.strides[i])
			if start != 0 || limit != dims[geo.sp(i)] || geo.strides[i] != 1 {
				whole = false
			}
		}
		if whole {
			parts = append(parts, x)
		} else {
			parts = append(parts, graph.Slice(x, spec...))
		}
	}
	if extra != nil {
		parts = append(parts, extra)
	}
	if len(parts) == 1 {
		return parts[0]
	}
	if geo.cf {
		return graph.Concatenate(parts, 0)
	}
	return graph.Concatenate(parts, -1)
}

// shiftedPatches is patches for stride 1 and a channels-first x: the block of each kernel
// offset is x shifted by the offset (less the padding) with zeros shifted in, one Pad with
// positive and negative (cropping) amounts, so x is neither padded nor sliced first (one copy
// per block instead of two; the Go backend copies rows for it, patch 0031). It has no
// gradient (graph.Pad's VJP does not take negative padding): only for customOp's forward pass.
func shiftedPatches(x *graph.Node, geo *geometry, extra *graph.Node) *graph.Node {
	zero := graph.ScalarZero(x.Graph(), x.DType())
	parts := make([]*graph.Node, 0, len(geo.offsets)+1)
	for _, offset := range geo.offsets {
		cfg := make([]graph.PadAxis, x.Rank())
		shifted := false
		for i := range geo.kernel {
			a := geo.sp(i)
			start := geo.pads[i][0] - offset[i]*geo.dilations[i]
			cfg[a] = graph.PadAxis{Start: start, End: geo.outSp[i] - geo.inDims[a] - start}
			shifted = shifted || cfg[a] != (graph.PadAxis{})
		}
		if shifted {
			// StopGradient: autodiff may still visit the ops of customOp's forward pass (their
			// gradient is dead there), and graph.Pad's VJP does not take negative padding.
			parts = append(parts, graph.StopGradient(graph.Pad(x, zero, cfg...)))
		} else {
			parts = append(parts, x)
		}
	}
	if extra != nil {
		parts = append(parts, extra)
	}
	if len(parts) == 1 {
		return parts[0]
	}
	return graph.Concatenate(parts, 0)
}

// col2im is the adjoint of patches: it scatters dp [batch, out spatial..., R*C] back onto
// x's shape, summing the overlapping windows.
func col2im(dp *graph.Node, geo *geometry) *graph.Node {
	c := geo.channels()
	chAxis := dp.Rank() - 1
	if geo.cf {
		chAxis = 0
	}
	return col2imParts(func(o int) *graph.Node {
		if dp.Shape().Dimensions[chAxis] == c {
			return dp
		}
		return graph.SliceAxis(dp, chAxis, graph.AxisRange(o*c, (o+1)*c))
	}, geo)
}

// col2imParts is col2im with the block of each kernel offset o given by part(o), shaped
// like x but with the output's spatial sizes.
func col2imParts(partOf func(o int) *graph.Node, geo *geometry) *graph.Node {
	nsp := len(geo.kernel)
	if geo.unitStrides() {
		// Each block shifted into x's (unpadded) frame by one Pad, positive and negative
		// (cropping) amounts; the blocks summed pairwise (independent adds the executor can
		// run in parallel).
		parts := make([]*graph.Node, len(geo.offsets))
		for o, offset := range geo.offsets {
			part := partOf(o)
			cfg := make([]graph.PadAxis, part.Rank())
			shifted := false
			for i := range nsp {
				a := geo.sp(i)
				start := offset[i]*geo.dilations[i] - geo.pads[i][0]
				cfg[a] = graph.PadAxis{Start: start, End: geo.inDims[a] - geo.outSp[i] - start}
				shifted = shifted || cfg[a] != (graph.PadAxis{})
			}
			if shifted {
				// StopGradient: graph.Pad's VJP does not take negative padding (and a gradient of
				// this gradient is not supported anyway).
				part = graph.StopGradient(graph.Pad(part, graph.ScalarZero(part.Graph(), part.DType()), cfg...))
			}
			parts[o] = part
		}
		return sumPairwise(parts)
	}
	var acc *graph.Node
	for o, offset := range geo.offsets {
		part := partOf(o)
		zero := graph.ScalarZero(part.Graph(), part.DType())
		cfg := make([]graph.PadAxis, part.Rank())
		needPad := false
		for i := range nsp {
			a := geo.sp(i)
			padded := geo.inDims[a] + geo.pads[i][0] + geo.pads[i][1]
			start, limit := geo.window(i, offset[i])
			cfg[a] = graph.PadAxis{Start: start, End: padded - limit, Interior: geo.strides[i] - 1}
			if cfg[a] != (graph.PadAxis{}) {
				needPad = true
			}
		}
		if needPad {
			part = graph.Pad(part, zero, cfg...)
		}
		if acc == nil {
			acc = part
		} else {
			acc = graph.Add(acc, part)
		}
	}
	// Drop the zero padding.
	crop := false
	spec := make([]graph.SliceAxisSpec, acc.Rank())
	for a := range spec {
		spec[a] = graph.AxisRange()
	}
	for i := range nsp {
		a := geo.sp(i)
		spec[a] = graph.AxisRange(geo.pads[i][0], geo.pads[i][0]+geo.inDims[a])
		if geo.pads[i] != [2]int{} {
			crop = true
		}
	}
	if crop {
		acc = graph.Slice(acc, spec...)
	}
	return acc
}

// Conv convolves x [batch, spatial..., C] with kernel [kernel spatial..., C, F] (no bias),
// returning [batch, out spatial..., F]. It is numerically graph.Convolve(x, kernel) with the
// same strides, kernel dilations and padding (channels-last), computed as im2col + one matmul.
func Conv(x, kernel *graph.Node, cfg Config) *graph.Node {
	return ConvWithBias(x, kernel, nil, cfg)
}

// ConvWithBias is Conv plus a bias [F] added to every output position (bias may be nil).
//
// Its gradient is given explicitly (see customOp): dKernel and dBias = patchesᵀ·v as one
// matmul, dx = col2im(v·kernelᵀ) (Pads of the per-offset slices, summed), and dx is
// only built when x needs a gradient. This avoids the full-size transposes and the
// pad-per-slice chain that autodiff would derive from the forward ops.
func ConvWithBias(x, kernel, bias *graph.Node, cfg Config) *graph.Node {
	nsp := x.Rank() - 2
	if nsp < 1 {
		exceptions.Panicf("fastconv: x must be [batch, spatial..., channels], got shape %s", x.Shape())
	}
	if kernel.Rank() != nsp+2 {
		exceptions.Panicf("fastconv: kernel of shape %s does not match x of shape %s: want [kernel spatial (%d axes)..., C, F]", kernel.Shape(), x.Shape(), nsp)
	}
	kdims := kernel.Shape().Dimensions
	c := x.Shape().Dimensions[x.Rank()-1]
	if kdims[nsp] != c {
		exceptions.Panicf("fastconv: kernel of shape %s expects %d input channels, x of shape %s has %d", kernel.Shape(), kdims[nsp], x.Shape(), c)
	}
	if x.DType() != kernel.DType() {
		exceptions.Panicf("fastconv: x dtype %s differs from kernel dtype %s", x.DType(), kernel.DType())
	}
	f := kdims[nsp+1]
	if bias != nil && (bias.Rank() != 1 || bias.Shape().Dimensions[0] != f || bias.DType() != x.DType()) {
		exceptions.Panicf("fastconv: bias of shape %s, want [%d] of dtype %s", bias.Shape(), f, x.DType())
	}
	geo := newGeometry(x, kdims[:nsp], cfg)
	rows := len(geo.offsets) * c
	m := geo.inDims[0]
	for _, d := range geo.outSp {
		m *= d
	}
	outDims := append(append([]int{geo.inDims[0]}, geo.outSp...), f)

	inputs := []*graph.Node{x, kernel}
	if bias != nil {
		inputs = append(inputs, bias)
	}
	// The bias is folded into the matmul: a column of ones is appended to the patches and
	// the bias as a last row of the kernel matrix. That saves a broadcast add over the
	// output, and the bias gradient comes out of the kernel-gradient matmul.
	cols := rows
	if bias != nil {
		cols++
	}
	var p2d, k2 *graph.Node // forward values reused by the gradient
	forward := func(st []*graph.Node, link *graph.Node) *graph.Node {
		var ones *graph.Node
		k2 = graph.Reshape(st[1], rows, f)
		if bias != nil {
			ones = graph.Ones(x.Graph(), shapes.Make(x.DType(), append(outDims[:len(outDims)-1:len(outDims)-1], 1)...))
			k2 = graph.Concatenate([]*graph.Node{k2, graph.Reshape(st[2], 1, f)}, 0)
		}
		p2d = graph.Reshape(patches(st[0], geo, ones), m, cols)
		// The link joins the (small) kernel: zero value, and a path for autodiff.
		y := graph.DotGeneral(p2d, []int{1}, nil, graph.Add(k2, link), []int{0}, nil)
		return graph.Reshape(y, outDims...)
	}
	var dk2, dk2For *graph.Node // [cols, F], shared by the kernel and bias gradients of one adjoint
	backward := func(i int, v *graph.Node) *graph.Node {
		v2d := graph.Reshape(v, m, f)
		if i == 0 { // dx = col2im(v · k2ᵀ), the matmul in [M, cols] layout directly.
			// k2 is transposed first: the Go backend's matmul is far faster (10x measured on
			// [1024,32]x[113,32]^T) when the rhs contracting axis comes first.
			dp := graph.DotGeneral(v2d, []int{1}, nil, graph.TransposeAllAxes(k2, 1, 0), []int{0}, nil)
			return col2im(graph.Reshape(dp, append(outDims[:len(outDims)-1:len(outDims)-1], cols)...), geo)
		}
		if dk2 == nil || dk2For != v { // a graph may take several gradients
			dk2For = v
			// dk2 = pᵀ · v. The Go backend's matmul wants the lhs contracting axis last, so
			// one [M, ·] operand must be transposed: pick the narrower one.
			if cols < f {
				pt := graph.TransposeAllAxes(p2d, 1, 0)
				dk2 = graph.DotGeneral(pt, []int{1}, nil, v2d, []int{0}, nil)
			} else {
				vt := graph.TransposeAllAxes(v2d, 1, 0)
				dk2 = graph.TransposeAllAxes(graph.DotGeneral(vt, []int{1}, nil, p2d, []int{0}, nil), 1, 0)
			}
		}
		if i == 1 {
			if bias == nil {
				return graph.Reshape(dk2, kdims...)
			}
			return graph.Reshape(graph.SliceAxis(dk2, 0, graph.AxisRange(0, rows)), kdims...)
		}
		return graph.Reshape(graph.SliceAxis(dk2, 0, graph.AxisRange(rows, rows+1)), f)
	}
	return customOp(inputs, forward, backward)
}

// Conv1D convolves a sequence x [batch, time, C] with kernel [k, C, F] (temporal
// convolution) with the given stride, dilation and padding.
func Conv1D(x, kernel *graph.Node, stride, dilation int, padding Padding) *graph.Node {
	if x.Rank() != 3 {
		exceptions.Panicf("fastconv.Conv1D: x must be [batch, time, channels], got shape %s", x.Shape())
	}
	return Conv(x, kernel, Config{Strides: []int{stride}, Dilations: []int{dilation}, Padding: padding})
}

// Conv2D convolves images x [batch, height, width, C] with kernel [kh, kw, C, F].
func Conv2D(x, kernel *graph.Node, stride int, padding Padding) *graph.Node {
	if x.Rank() != 4 {
		exceptions.Panicf("fastconv.Conv2D: x must be [batch, height, width, channels], got shape %s", x.Shape())
	}
	return Conv(x, kernel, Config{Strides: []int{stride}, Padding: padding})
}

// Conv3D convolves volumes x [batch, depth, height, width, C] with kernel [kd, kh, kw, C, F].
// The im2col buffer is prod(kernel) times the input (27x for 3x3x3), so for large volumes
// memory, not time, is the limit.
func Conv3D(x, kernel *graph.Node, stride int, padding Padding) *graph.Node {
	if x.Rank() != 5 {
		exceptions.Panicf("fastconv.Conv3D: x must be [batch, depth, height, width, channels], got shape %s", x.Shape())
	}
	return Conv(x, kernel, Config{Strides: []int{stride}, Padding: padding})
}
