// Copyright 2023-2026 The GoMLX Authors. SPDX-License-Identifier: Apache-2.0

package ops

import (
	"github.com/gomlx/compute"
)

// padRunsOff makes Pad take the generic path (tests compare the two).
var padRunsOff = false

// padRuns writes the Pad of operand into output for a Pad without interior padding, Start and
// End possibly negative (cropping): the output is filled (cleared for a zero fill value), axes
// without padding are merged, and each run of the innermost (merged) axis that lands inside the
// output is one copy(). It returns false, doing nothing, when some axis has interior padding
// (the generic path handles those).
func padRuns(operandBytes, outputBytes, fillBytes []byte, operandDims []int, elementSize int, axesConfig []compute.PadAxis) bool {
	if padRunsOff {
		return false
	}
	for axis := range operandDims {
		if axis < len(axesConfig) && axesConfig[axis].Interior != 0 {
			return false
		}
	}
	zeroFill := true
	for _, b := range fillBytes {
		zeroFill = zeroFill && b == 0
	}
	if zeroFill {
		clear(outputBytes)
	} else if len(outputBytes) > 0 {
		copy(outputBytes, fillBytes)
		for i := len(fillBytes); i < len(outputBytes); i *= 2 {
			copy(outputBytes[i:], outputBytes[:i])
		}
	}
	type run struct {
		inDim, outDim int // merged dimensions
		lo, hi        int // operand range that lands inside the output
		shift         int // output index = operand index + shift
	}
	var axes []run
	for axis, d := range operandDims {
		var cfg compute.PadAxis
		if axis < len(axesConfig) {
			cfg = axesConfig[axis]
		}
		outDim := d + cfg.Start + cfg.End
		if cfg.Start == 0 && cfg.End == 0 && len(axes) > 0 && axes[len(axes)-1].shift == 0 && axes[len(axes)-1].inDim == axes[len(axes)-1].outDim {
			// Merge with the previous untouched axis.
			last := &axes[len(axes)-1]
			last.inDim *= d
			last.outDim *= d
			last.hi = last.inDim
			continue
		}
		axes = append(axes, run{inDim: d, outDim: outDim, lo: max(0, -cfg.Start), hi: min(d, outDim-cfg.Start), shift: cfg.Start})
	}
	for _, a := range axes {
		if a.hi <= a.lo {
			return true // Nothing of the operand lands in the output.
		}
	}
	if len(outputBytes) == 0 || len(operandBytes) == 0 {
		return true
	}
	// Bytes per unit of each merged axis.
	rank := len(axes)
	inStrides := make([]int, rank)
	outStrides := make([]int, rank)
	inStride, outStride := elementSize, elementSize
	for i := rank - 1; i >= 0; i-- {
		inStrides[i], outStrides[i] = inStride, outStride
		inStride *= axes[i].inDim
		outStride *= axes[i].outDim
	}
	if rank == 0 {
		copy(outputBytes, operandBytes)
		return true
	}
	last := axes[rank-1]
	rowBytes := (last.hi - last.lo) * elementSize
	inBase := last.lo * inStrides[rank-1]
	outBase := (last.lo + last.shift) * outStrides[rank-1]
	idx := make([]int, rank-1)
	for i := range idx {
		idx[i] = axes[i].lo
		inBase += axes[i].lo * inStrides[i]
		outBase += (axes[i].lo + axes[i].shift) * outStrides[i]
	}
	for {
		copy(outputBytes[outBase:outBase+rowBytes], operandBytes[inBase:inBase+rowBytes])
		i := rank - 2
		for ; i >= 0; i-- {
			idx[i]++
			inBase += inStrides[i]
			outBase += outStrides[i]
			if idx[i] < axes[i].hi {
				break
			}
			n := axes[i].hi - axes[i].lo
			inBase -= n * inStrides[i]
			outBase -= n * outStrides[i]
			idx[i] = axes[i].lo
		}
		if i < 0 {
			return true
		}
	}
}
