package fastconv

import (
	"slices"

	"github.com/gomlx/gomlx/core/graph"
)

// kernelFirstMode overrides useKernelFirst's choice in tests: 0 decides by size, 1 never, 2
// always where it applies (stride 1).
var kernelFirstMode = 0

// useKernelFirst reports whether ConvCF runs as convKernelFirstCF: stride 1, and few filters
// next to the input channels (4F <= C, e.g. a decoder's output layer with one filter), where
// the im2col matrix ([prod(kernel)*C, M]) is far larger than the per-offset products
// ([prod(kernel)*F, M_padded]) that the kernel-first form moves instead.
func useKernelFirst(geo *geometry, f int) bool {
	if !geo.unitStrides() {
		return false
	}
	switch kernelFirstMode {
	case 1:
		return false
	case 2:
		return true
	}
	return 4*f <= geo.channels()
}

// convKernelFirstCF is ConvCF (stride 1) computed kernel first: z = Kᵀ·x_padded, one matmul
// [offsets*F, C]·[C, M_padded] that applies every kernel offset's [C, F] block at every
// position of the zero-padded x, then y = Σ_o z_o shifted by offset o (one Pad with negative,
// cropping amounts per offset, summed pairwise) plus the bias. Gradients, with the adjoint v
// placed at every offset in the padded frame (dz, [offsets*F, M_padded], n Pads and one
// Concatenate of v): d/dx = the crop of Kc·dz (Kc [C, offsets*F]); d/dkernel = x_padded·dzᵀ;
// d/dbias = Σ v. With few filters every product has a short side and nothing has
// prod(kernel)*C rows.
func convKernelFirstCF(x, kernel, bias *graph.Node, geo *geometry) *graph.Node {
	g := x.Graph()
	nsp := len(geo.kernel)
	kdims := kernel.Shape().Dimensions
	c, f := geo.channels(), kdims[nsp+1]
	n := len(geo.offsets)
	b := geo.batch()
	zero := graph.ScalarZero(g, x.DType())
	// The padded frame: [C, B, p_0, ...].
	padded := []int{b}
	mp := b
	padCfg := make([]graph.PadAxis, x.Rank())
	cropCfg := make([]graph.PadAxis, x.Rank())
	for i := range nsp {
		a := geo.sp(i)
		p := geo.inDims[a] + geo.pads[i][0] + geo.pads[i][1]
		padded = append(padded, p)
		mp *= p
		padCfg[a] = graph.PadAxis{Start: geo.pads[i][0], End: geo.pads[i][1]}
		cropCfg[a] = graph.PadAxis{Start: -geo.pads[i][0], End: -geo.pads[i][1]}
	}
	outDims := append([]int{f, b}, geo.outSp...)
	// shift returns the Pad config that moves offset o's block between the padded frame
	// (size p) and the output frame (size out): out[q] = padded[q + o*d].
	shift := func(o int, toOutput bool) []graph.PadAxis {
		cfg := make([]graph.PadAxis, len(outDims))
		for i := range nsp {
			a := geo.sp(i)
			p := geo.inDims[a] + geo.pads[i][0] + geo.pads[i][1]
			s := geo.offsets[o][i] * geo.dilations[i]
			if toOutput {
				cfg[a] = graph.PadAxis{Start: -s, End: geo.outSp[i] - p + s}
			} else {
				cfg[a] = graph.PadAxis{Start: s, End: p - geo.outSp[i] - s}
			}
		}
		return cfg
	}
	inputs := []*graph.Node{x, kernel}
	if bias != nil {
		inputs = append(inputs, bias)
	}
	var xp, k3 *graph.Node // forward values reused by the gradient: x padded [C, M_padded], kernel [n, C, F]
	forward := func(st []*graph.Node, link *graph.Node) *graph.Node {
		k3 = graph.Reshape(st[1], n, c, f)
		kt := graph.Reshape(graph.TransposeAllAxes(k3, 0, 2, 1), n*f, c)
		xp = st[0]
		if slices.ContainsFunc(padCfg, func(p graph.PadAxis) bool { return p != (graph.PadAxis{}) }) {
			xp = graph.Pad(xp, zero, padCfg...)
		}
		xp = graph.Reshape(xp, c, mp)
		z := graph.Reshape(graph.DotGeneral(kt, []int{1}, nil, xp, []int{0}, nil), append([]int{n * f}, padded...)...)
		parts := make([]*graph.Node, n)
		for o := range n {
			cfg := shift(o, true)
			cfg[0] = graph.PadAxis{Start: -o * f, End: -(n - 1 - o) * f}
			parts[o] = graph.StopGradient(graph.Pad(z, zero, cfg...))
		}
		y := sumPairwise(parts)
		// The shift-Pads sit under StopGradient (autodiff may still visit the ops of a
		// customOp's forward pass, and graph.Pad's gradient does not take negative padding),
		// so the link joins after them: into the bias, or the (few-filter) output.
		if bias != nil {
			bd := make([]int, len(outDims))
			for i := range bd {
				bd[i] = 1
			}
			bd[0] = f
			return graph.Add(y, graph.Reshape(graph.Add(st[2], link), bd...))
		}
		return graph.Add(y, link)
	}
	var dz, dzFor *graph.Node // [n*F, M_padded], shared by the gradients of one adjoint
	backward := func(i int, v *graph.Node) *graph.Node {
		if i == 2 {
			axes := make([]int, len(outDims)-1)
			for a := range axes {
				axes[a] = a + 1
			}
			return graph.ReduceSum(v, axes...)
		}
		if dz == nil || dzFor != v {
			dzFor = v
			parts := make([]*graph.Node, n)
			for o := range n {
				parts[o] = graph.Pad(v, zero, shift(o, false)...)
			}
			dz = graph.Reshape(graph.Concatenate(parts, 0), n*f, mp)
		}
		if i == 0 {
			kc := graph.Reshape(graph.TransposeAllAxes(k3, 1, 0, 2), c, n*f)
			dxp := graph.Reshape(graph.DotGeneral(kc, []int{1}, nil, dz, []int{0}, nil), append([]int{c}, padded...)...)
			if slices.ContainsFunc(cropCfg, func(p graph.PadAxis) bool { return p != (graph.PadAxis{}) }) {
				dxp = graph.StopGradient(graph.Pad(dxp, zero, cropCfg...))
			}
			return dxp
		}
		// d/dkernel: [C, M_padded]·[n*F, M_padded]ᵀ = [C, n*F] -> [n, C, F].
		dk := graph.Reshape(graph.DotGeneral(xp, []int{1}, nil, dz, []int{1}, nil), c, n, f)
		return graph.Reshape(graph.TransposeAllAxes(dk, 1, 0, 2), kdims...)
	}
	return customOp(inputs, forward, backward)
}
