// Copyright 2023-2026 The GoMLX Authors. SPDX-License-Identifier: Apache-2.0

//go:build amd64 && goexperiment.simd

package ops

import (
	"math"
	"simd/archsimd"
)

func init() {
	if archsimd.X86.AVX512() {
		maxWindowFloat32Rows = maxWindowFloat32RowsAVX512
		maxPool2x2Float32Rows = maxPool2x2Float32RowsAVX512
	}
}

// maxWindowFloat32RowsAVX512 is maxWindowFloat32Rows with 16 lanes per instruction. VMAXPS
// returns one of its operands when they compare equal (±0) or either is NaN, so each block
// keeps, beside the VMAXPS chain, the AND of its inputs' bits: where the max is zero that AND
// is +0 if any input is +0 and -0 otherwise (the others are then negative), Go's max. A block
// with a NaN input takes the scalar chain (same NaN bits). Rows whose length is not a multiple
// of 16 end with an overlapping block.
func maxWindowFloat32RowsAVX512(out, x []float32, n, base, rowStep int, offs []int) {
	// Leave no dirty upper vector state: later SSE code (math.Exp, say) would run ~3x slower.
	defer archsimd.ClearAVXUpperBits()
	if n < 16 || len(offs) == 0 {
		for j := 0; j*n < len(out); j++ {
			maxWindowFloat32Scalar(out[j*n:(j+1)*n], x, base+j*rowStep, offs)
		}
		return
	}
	var zero archsimd.Float32x16
	off0, rest := offs[0], offs[1:]
	block := func(o []float32, b int) {
		v := archsimd.LoadFloat32x16Slice(x[b+off0 : b+off0+16])
		bits := v.AsInt32x16()
		nan := v.IsNaN()
		for _, off := range rest {
			w := archsimd.LoadFloat32x16Slice(x[b+off : b+off+16])
			v = v.Max(w)
			bits = bits.And(w.AsInt32x16())
			nan = nan.Or(w.IsNaN())
		}
		if nan.ToBits() != 0 {
			maxWindowFloat32Scalar(o[:16], x, b, offs)
			return
		}
		bits.AsFloat32x16().Merge(v, v.Equal(zero)).StoreSlice(o[:16])
	}
	for j := 0; j*n < len(out); j++ {
		o, b := out[j*n:(j+1)*n], base+j*rowStep
		i := 0
		for ; i+16 <= n; i += 16 {
			block(o[i:], b+i)
		}
		if i < n {
			block(o[n-16:], b+n-16)
		}
	}
}

// Lane indices of ConcatPermute that take the even (odd) lanes of two vectors.
var (
	evenLanes32 = [16]uint32{0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30}
	oddLanes32  = [16]uint32{1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31}
)

// maxPool2x2Float32RowsAVX512 is maxPool2x2Float32Rows with 16 outputs per step: the max of the
// two rows' 32 elements, then of the even and odd lanes (VPERMI2PS), with the zero and NaN
// handling of maxWindowFloat32RowsAVX512 (the AND of the four inputs' bits where the max is
// zero; blocks with a NaN input take the scalar chain). A row's last block loads and stores
// only its part (masked).
func maxPool2x2Float32RowsAVX512(out, x []float32, n, base, rowStep, width int) {
	defer archsimd.ClearAVXUpperBits()
	var zero archsimd.Float32x16
	even, odd := archsimd.LoadUint32x16(&evenLanes32), archsimd.LoadUint32x16(&oddLanes32)
	offs := [4]int{0, 1, width, width + 1}
	for j := 0; j*n < len(out); j++ {
		o, t := out[j*n:(j+1)*n], base+j*rowStep
		top, bot := x[t:t+2*n], x[t+width:t+width+2*n]
		for i := 0; i < n; i += 16 {
			var a0, a1, b0, b1 archsimd.Float32x16
			if i+16 <= n {
				a0, a1 = archsimd.LoadFloat32x16Slice(top[2*i:]), archsimd.LoadFloat32x16Slice(top[2*i+16:])
				b0, b1 = archsimd.LoadFloat32x16Slice(bot[2*i:]), archsimd.LoadFloat32x16Slice(bot[2*i+16:])
			} else {
				a0, a1 = archsimd.LoadFloat32x16SlicePart(top[2*i:]), archsimd.LoadFloat32x16SlicePart(top[min(2*i+16, 2*n):])
				b0, b1 = archsimd.LoadFloat32x16SlicePart(bot[2*i:]), archsimd.LoadFloat32x16SlicePart(bot[min(2*i+16, 2*n):])
			}
			nan := a0.IsNaN().Or(a1.IsNaN()).Or(b0.IsNaN()).Or(b1.IsNaN())
			if nan.ToBits() != 0 {
				maxWindowFloat32Scalar2x2(o[i:min(i+16, n)], x, t+2*i, offs)
				continue
			}
			v0, v1 := a0.Max(b0), a1.Max(b1)
			m := v0.ConcatPermute(v1, even).Max(v0.ConcatPermute(v1, odd))
			and0 := a0.AsInt32x16().And(b0.AsInt32x16()).AsFloat32x16()
			and1 := a1.AsInt32x16().And(b1.AsInt32x16()).AsFloat32x16()
			bits := and0.ConcatPermute(and1, even).AsInt32x16().And(and0.ConcatPermute(and1, odd).AsInt32x16())
			r := bits.AsFloat32x16().Merge(m, m.Equal(zero))
			if i+16 <= n {
				r.StoreSlice(o[i:])
			} else {
				r.StoreSlicePart(o[i:])
			}
		}
	}
}

// maxWindowFloat32Scalar2x2 sets o[i] to the scalar max chain of the window offs at b+2i.
func maxWindowFloat32Scalar2x2(o, x []float32, b int, offs [4]int) {
	init := float32(math.Inf(-1))
	for i := range o {
		p := b + 2*i
		o[i] = max(max(max(max(init, x[p+offs[0]]), x[p+offs[1]]), x[p+offs[2]]), x[p+offs[3]])
	}
}
