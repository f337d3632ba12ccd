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
	if padShift(operandBytes, outputBytes, fillBytes, zeroFill, operandDims, elementSize, axesConfig) {
		return true
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

// padShift handles a Pad that shifts the operand without changing its shape (Start == -End on
// every axis, as for a convolution kernel offset): the whole operand is one copy() at the flat
// offset of the shift, then the elements whose source lies outside the operand along some axis
// (bands of |Start| along each shifted axis, which the flat copy filled with wrapped-around
// neighbours) are set to the fill value. It returns false for other Pads.
func padShift(operandBytes, outputBytes, fillBytes []byte, zeroFill bool, dims []int, elementSize int, axesConfig []compute.PadAxis) bool {
	rank := len(dims)
	shift := 0
	strides := make([]int, rank) // in bytes
	stride := elementSize
	for axis := rank - 1; axis >= 0; axis-- {
		strides[axis] = stride
		stride *= dims[axis]
		if axis < len(axesConfig) {
			cfg := axesConfig[axis]
			if cfg.Start != -cfg.End || cfg.Interior != 0 {
				return false
			}
			if cfg.Start >= dims[axis] || -cfg.Start >= dims[axis] {
				return false // Nothing of the operand is left along this axis.
			}
			shift += cfg.Start * strides[axis]
		}
	}
	if shift >= 0 {
		copy(outputBytes[shift:], operandBytes[:len(operandBytes)-shift])
	} else {
		copy(outputBytes, operandBytes[-shift:])
	}
	setFill := func(b []byte) {
		if zeroFill {
			for i := range b {
				b[i] = 0
			}
			return
		}
		for i := 0; i < len(b); i += elementSize {
			copy(b[i:i+elementSize], fillBytes)
		}
	}
	for axis := range min(rank, len(axesConfig)) {
		start := axesConfig[axis].Start
		if start == 0 {
			continue
		}
		// The band: output indices [0, start) or [dim+start, dim) along axis, for every index of
		// the axes before it, all of the axes after it (one contiguous block each).
		bandStart, bandLen := 0, start
		if start < 0 {
			bandStart, bandLen = dims[axis]+start, -start
		}
		block := bandLen * strides[axis]
		outer := strides[axis] * dims[axis]
		for base := bandStart * strides[axis]; base < len(outputBytes); base += outer {
			setFill(outputBytes[base : base+block])
		}
	}
	return true
}
