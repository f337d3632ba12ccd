package fastconv

import (
	"slices"

	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/support/exceptions"
)

// UpConvCF is ConvCF(UpsampleCF(x, 2), kernel, bias, Config{Padding: Same}): nearest-neighbour
// upsampling by 2 along every spatial axis of a channels-first x [C, batch, spatial...],
// followed by a stride-1 "same" convolution with kernel [kernel spatial..., C, F] and bias [F]
// (may be nil), returning [F, batch, 2*spatial...]. It is the upsample + conv layer of the
// decoders, computed without building the upsampled tensor.
//
// Every output position 2i+a (phase a in {0, 1} on each axis) reads the upsampled input at
// 2i+a+t-p for the kernel taps t (p = (k-1)/2, the "same" padding before), that is x at
// i + floor((a+t-p)/2): each phase is a convolution of x itself with a smaller kernel whose
// taps are sums of the original ones (for k = 3: 2 taps, {t0} and {t1+t2} for phase 0, {t0+t1}
// and {t2} for phase 1). The 2^d phase convolutions (as ConvCF, with x zero-padded by the
// phase's reach) do ((L_0+L_1)/(2k))^d of the multiply-adds, L_a the phase kernel lengths: 4/9 for a
// 3x3 kernel in 2-d; their im2col matrices, built at the input's resolution, hold 4/9 of the
// data too. The phase outputs are interleaved by one transpose. The gradients are those of
// ConvCF, of the kernel folding (a small matmul with a constant 0/1 matrix) and of the
// interleave; the tests check them against UpsampleCF + ConvCF and graph.ConvGeneral.
func UpConvCF(x, kernel, bias *graph.Node) *graph.Node {
	nsp := x.Rank() - 2
	if nsp < 1 {
		exceptions.Panicf("fastconv.UpConvCF: x must be channels-first [channels, batch, spatial...], got shape %s", x.Shape())
	}
	if kernel.Rank() != nsp+2 {
		exceptions.Panicf("fastconv.UpConvCF: kernel of shape %s does not match channels-first x of shape %s: want [kernel spatial (%d axes)..., C, F]", kernel.Shape(), x.Shape(), nsp)
	}
	g := x.Graph()
	dims := x.Shape().Dimensions
	kdims := kernel.Shape().Dimensions
	c, f := kdims[nsp], kdims[nsp+1]
	if dims[0] != c {
		exceptions.Panicf("fastconv.UpConvCF: kernel of shape %s expects %d input channels, channels-first x of shape %s has %d", kernel.Shape(), c, x.Shape(), dims[0])
	}

	// Per axis and phase: the source offset range [lo, hi] and each tap's offset.
	type phaseAxis struct{ lo, hi int }
	axes := make([][2]phaseAxis, nsp)
	for i := range nsp {
		k := kdims[i]
		p := (k - 1) / 2
		for a := range 2 {
			axes[i][a] = phaseAxis{floorDiv2(a - p), floorDiv2(a + k - 1 - p)}
		}
	}
	// The phases in row-major order of (a_0, ..., a_{d-1}); for each, the fold matrix
	// [phase taps, k_0*...*k_{d-1}] that sums the original taps into the phase kernel.
	numPhases := 1 << nsp
	kTaps := 1
	for i := range nsp {
		kTaps *= kdims[i]
	}
	var foldRows [][]float32
	phaseTapDims := make([][]int, numPhases)
	for ph := range numPhases {
		phase := phaseOf(ph, nsp)
		tapDims := make([]int, nsp)
		n := 1
		for i := range nsp {
			tapDims[i] = axes[i][phase[i]].hi - axes[i][phase[i]].lo + 1
			n *= tapDims[i]
		}
		phaseTapDims[ph] = tapDims
		rows := make([][]float32, n)
		for r := range rows {
			rows[r] = make([]float32, kTaps)
		}
		// Each original tap (row-major t) adds to the phase tap holding its source offset.
		t := make([]int, nsp)
		for flat := range kTaps {
			row := 0
			for i := range nsp {
				p := (kdims[i] - 1) / 2
				row = row*tapDims[i] + floorDiv2(phase[i]+t[i]-p) - axes[i][phase[i]].lo
			}
			rows[row][flat] = 1
			for i := nsp - 1; i >= 0; i-- {
				t[i]++
				if t[i] < kdims[i] {
					break
				}
				t[i] = 0
			}
		}
		foldRows = append(foldRows, rows...)
	}
	fold := make([]float32, 0, len(foldRows)*kTaps)
	for _, r := range foldRows {
		fold = append(fold, r...)
	}
	foldT := graph.ConvertDType(graph.Reshape(graph.Const(g, fold), len(foldRows), kTaps), kernel.DType())
	// All phase kernels at once: [sum of phase taps, C*F].
	folded := graph.DotGeneral(foldT, []int{1}, nil, graph.Reshape(kernel, kTaps, c*f), []int{0}, nil)

	ys := make([]*graph.Node, numPhases)
	start := 0
	for ph := range numPhases {
		phase := phaseOf(ph, nsp)
		n := 1
		for _, d := range phaseTapDims[ph] {
			n *= d
		}
		pk := graph.Reshape(graph.SliceAxis(folded, 0, graph.AxisRange(start, start+n)), append(append([]int{}, phaseTapDims[ph]...), c, f)...)
		start += n
		pads := make([][2]int, nsp)
		for i := range nsp {
			pads[i] = [2]int{-axes[i][phase[i]].lo, axes[i][phase[i]].hi}
		}
		y := convCF(x, pk, bias, phaseGeometry(dims, phaseTapDims[ph], pads))
		ys[ph] = graph.Reshape(y, append([]int{1}, y.Shape().Dimensions...)...)
	}
	// [phases, F, B, n...] -> [2, ..., 2, F, B, n_0, ..., n_{d-1}] -> [F, B, n_0, 2, n_1, 2, ...].
	stacked := graph.Concatenate(ys, 0)
	split := make([]int, 0, 2*nsp+2)
	for range nsp {
		split = append(split, 2)
	}
	split = append(split, f, dims[1])
	split = append(split, dims[2:]...)
	perm := []int{nsp, nsp + 1}
	out := []int{f, dims[1]}
	for i := range nsp {
		perm = append(perm, nsp+2+i, i)
		out = append(out, 2*dims[2+i])
	}
	return graph.Reshape(graph.TransposeAllAxes(graph.Reshape(stacked, split...), perm...), out...)
}

// phaseGeometry is the geometry of a stride-1 channels-first convolution of x (dimensions
// dims) with the given kernel size and zero padding whose output keeps x's spatial size.
func phaseGeometry(dims, kernel []int, pads [][2]int) *geometry {
	nsp := len(kernel)
	geo := &geometry{
		kernel:    kernel,
		strides:   slices.Repeat([]int{1}, nsp),
		dilations: slices.Repeat([]int{1}, nsp),
		pads:      pads,
		inDims:    dims,
		outSp:     dims[2:],
		cf:        true,
	}
	geo.offsets = kernelOffsets(kernel)
	return geo
}

// floorDiv2 is floor(n / 2) for any sign of n.
func floorDiv2(n int) int {
	if n >= 0 {
		return n / 2
	}
	return -((-n + 1) / 2)
}

// phaseOf returns the per-axis phases (0 or 1) of phase index ph, row-major over nsp axes.
func phaseOf(ph, nsp int) []int {
	phase := make([]int, nsp)
	for i := nsp - 1; i >= 0; i-- {
		phase[i] = ph & 1
		ph >>= 1
	}
	return phase
}
