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
		selectMax4Float32Rows = selectMax4Float32RowsAVX512
		selectMax2x2Float32Rows = selectMax2x2Float32RowsAVX512
		maxPoolRunFloat32Rows = maxPoolRunFloat32RowsAVX512
		selectMaxRun4Float32Rows = selectMaxRun4Float32RowsAVX512
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
	// ... and that interleave the lanes of two vectors (low half, high half).
	interleaveLo32 = [16]uint32{0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23}
	interleaveHi32 = [16]uint32{8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31}
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

// selectMax4Masks returns the source values (0+v, as the scalar code adds them to zero) at the
// first maximum of the windows (x0, x1, x2, x3) and zero elsewhere: VMAXPS gives the max of
// NaN-free inputs, the first input equal to it wins (±0 compare equal, as in the scalar code).
func selectMax4Masks(x0, x1, x2, x3, v archsimd.Float32x16) (o0, o1, o2, o3 archsimd.Float32x16) {
	var zero archsimd.Float32x16
	m := x0.Max(x1).Max(x2.Max(x3))
	vv := zero.Add(v)
	e0, e1, e2 := x0.Equal(m), x1.Equal(m), x2.Equal(m)
	e01 := e0.Or(e1)
	o0 = vv.Masked(e0)
	o1 = zero.Merge(vv.Masked(e1), e0)
	o2 = zero.Merge(vv.Masked(e2), e01)
	o3 = zero.Merge(vv, e01.Or(e2))
	return
}

// selectMax4Float32RowsAVX512 is selectMax4Float32Rows with 16 windows per step (a row's last
// step overlaps the previous one); steps with a NaN input take the scalar windows.
func selectMax4Float32RowsAVX512(out, x, src []float32, n, base, rowStep int, offs [4]int) {
	defer archsimd.ClearAVXUpperBits()
	o0, o1, o2, o3 := offs[0], offs[1], offs[2], offs[3]
	for j := 0; j*n < len(src); j++ {
		s, b := src[j*n:(j+1)*n], base+j*rowStep
		for i := 0; i < n; i += 16 {
			i := min(i, n-16)
			p := b + i
			x0, x1 := archsimd.LoadFloat32x16Slice(x[p+o0:]), archsimd.LoadFloat32x16Slice(x[p+o1:])
			x2, x3 := archsimd.LoadFloat32x16Slice(x[p+o2:]), archsimd.LoadFloat32x16Slice(x[p+o3:])
			if x0.IsNaN().Or(x1.IsNaN()).Or(x2.IsNaN()).Or(x3.IsNaN()).ToBits() != 0 {
				for l := range 16 {
					selectMax4Float32Window(out, x, p+l, &offs, s[i+l])
				}
				continue
			}
			r0, r1, r2, r3 := selectMax4Masks(x0, x1, x2, x3, archsimd.LoadFloat32x16Slice(s[i:]))
			r0.StoreSlice(out[p+o0:])
			r1.StoreSlice(out[p+o1:])
			r2.StoreSlice(out[p+o2:])
			r3.StoreSlice(out[p+o3:])
		}
	}
}

// selectMax2x2Float32RowsAVX512 is selectMax2x2Float32Rows with 16 windows per step: the two
// rows' 32 elements split into even and odd lanes (VPERMI2PS), the four masked outputs
// interleaved back; a row's last step loads and stores only its part; steps with a NaN input
// take the scalar windows.
func selectMax2x2Float32RowsAVX512(out, x, src []float32, n, base, rowStep, width int) {
	defer archsimd.ClearAVXUpperBits()
	even, odd := archsimd.LoadUint32x16(&evenLanes32), archsimd.LoadUint32x16(&oddLanes32)
	lo, hi := archsimd.LoadUint32x16(&interleaveLo32), archsimd.LoadUint32x16(&interleaveHi32)
	offs := [4]int{0, 1, width, width + 1}
	for j := 0; j*n < len(src); j++ {
		s, t := src[j*n:(j+1)*n], base+j*rowStep
		top, bot := x[t:t+2*n], x[t+width:t+width+2*n]
		outTop, outBot := out[t:t+2*n], out[t+width:t+width+2*n]
		for i := 0; i < n; i += 16 {
			full := i+16 <= n
			var a0, a1, b0, b1, v archsimd.Float32x16
			if full {
				a0, a1 = archsimd.LoadFloat32x16Slice(top[2*i:]), archsimd.LoadFloat32x16Slice(top[2*i+16:])
				b0, b1 = archsimd.LoadFloat32x16Slice(bot[2*i:]), archsimd.LoadFloat32x16Slice(bot[2*i+16:])
				v = archsimd.LoadFloat32x16Slice(s[i:])
			} else {
				a0, a1 = archsimd.LoadFloat32x16SlicePart(top[2*i:]), archsimd.LoadFloat32x16SlicePart(top[min(2*i+16, 2*n):])
				b0, b1 = archsimd.LoadFloat32x16SlicePart(bot[2*i:]), archsimd.LoadFloat32x16SlicePart(bot[min(2*i+16, 2*n):])
				v = archsimd.LoadFloat32x16SlicePart(s[i:])
			}
			if a0.IsNaN().Or(a1.IsNaN()).Or(b0.IsNaN()).Or(b1.IsNaN()).ToBits() != 0 {
				for l := i; l < min(i+16, n); l++ {
					selectMax4Float32Window(out, x, t+2*l, &offs, s[l])
				}
				continue
			}
			r0, r1, r2, r3 := selectMax4Masks(a0.ConcatPermute(a1, even), a0.ConcatPermute(a1, odd),
				b0.ConcatPermute(b1, even), b0.ConcatPermute(b1, odd), v)
			t0, t1 := r0.ConcatPermute(r1, lo), r0.ConcatPermute(r1, hi)
			u0, u1 := r2.ConcatPermute(r3, lo), r2.ConcatPermute(r3, hi)
			if full {
				t0.StoreSlice(outTop[2*i:])
				t1.StoreSlice(outTop[2*i+16:])
				u0.StoreSlice(outBot[2*i:])
				u1.StoreSlice(outBot[2*i+16:])
			} else {
				t0.StoreSlicePart(outTop[2*i:])
				t1.StoreSlicePart(outTop[min(2*i+16, 2*n):])
				u0.StoreSlicePart(outBot[2*i:])
				u1.StoreSlicePart(outBot[min(2*i+16, 2*n):])
			}
		}
	}
}

// maxPoolRunFloat32RowsAVX512 is maxPoolRunFloat32Rows with 16 outputs per step: the max of the
// even and odd lanes of k*16 elements (VPERMI2PS), once for k = 2, twice for k = 4, with the
// zero and NaN handling of maxWindowFloat32RowsAVX512 (the AND of the inputs' bits where the
// max is zero; steps with a NaN input, and a row's last n%16 outputs, take the scalar chain).
func maxPoolRunFloat32RowsAVX512(out, x []float32, n, base, rowStep, k int) {
	defer archsimd.ClearAVXUpperBits()
	var zero archsimd.Float32x16
	even, odd := archsimd.LoadUint32x16(&evenLanes32), archsimd.LoadUint32x16(&oddLanes32)
	offs := []int{0, 1, 2, 3}[:k]
	// pairs returns the max of adjacent lanes of (a, b) and the AND of their bits.
	pairs := func(a, b, aBits, bBits archsimd.Float32x16) (archsimd.Float32x16, archsimd.Float32x16) {
		m := a.ConcatPermute(b, even).Max(a.ConcatPermute(b, odd))
		bits := aBits.ConcatPermute(bBits, even).AsInt32x16().And(aBits.ConcatPermute(bBits, odd).AsInt32x16())
		return m, bits.AsFloat32x16()
	}
	for j := 0; j*n < len(out); j++ {
		o, row := out[j*n:(j+1)*n], x[base+j*rowStep:base+j*rowStep+k*n]
		i := 0
		for ; i+16 <= n; i += 16 {
			p := row[k*i : k*i+16*k]
			v0, v1 := archsimd.LoadFloat32x16Slice(p), archsimd.LoadFloat32x16Slice(p[16:])
			nan := v0.IsNaN().Or(v1.IsNaN())
			m, bits := pairs(v0, v1, v0, v1)
			if k == 4 {
				v2, v3 := archsimd.LoadFloat32x16Slice(p[32:]), archsimd.LoadFloat32x16Slice(p[48:])
				nan = nan.Or(v2.IsNaN()).Or(v3.IsNaN())
				m2, bits2 := pairs(v2, v3, v2, v3)
				m, bits = pairs(m, m2, bits, bits2)
			}
			if nan.ToBits() != 0 {
				for l := i; l < i+16; l++ {
					maxWindowFloat32Scalar(o[l:l+1], row, k*l, offs)
				}
				continue
			}
			bits.Merge(m, m.Equal(zero)).StoreSlice(o[i:])
		}
		for l := i; l < n; l++ {
			maxWindowFloat32Scalar(o[l:l+1], row, k*l, offs)
		}
	}
}

// selectMaxRun4Float32RowsAVX512 is selectMaxRun4Float32Rows with 16 windows per step: the 64
// elements split into the windows' first, second, third and fourth elements by two rounds of
// even/odd lanes (VPERMI2PS), the four masked outputs interleaved back; steps with a NaN input
// and a row's last n%16 windows take the scalar windows.
func selectMaxRun4Float32RowsAVX512(out, x, src []float32, n, base, rowStep int) {
	defer archsimd.ClearAVXUpperBits()
	even, odd := archsimd.LoadUint32x16(&evenLanes32), archsimd.LoadUint32x16(&oddLanes32)
	lo, hi := archsimd.LoadUint32x16(&interleaveLo32), archsimd.LoadUint32x16(&interleaveHi32)
	offs := [4]int{0, 1, 2, 3}
	for j := 0; j*n < len(src); j++ {
		s, t := src[j*n:(j+1)*n], base+j*rowStep
		i := 0
		for ; i+16 <= n; i += 16 {
			p := t + 4*i
			in, o := x[p:p+64], out[p:p+64]
			v0, v1 := archsimd.LoadFloat32x16Slice(in), archsimd.LoadFloat32x16Slice(in[16:])
			v2, v3 := archsimd.LoadFloat32x16Slice(in[32:]), archsimd.LoadFloat32x16Slice(in[48:])
			if v0.IsNaN().Or(v1.IsNaN()).Or(v2.IsNaN()).Or(v3.IsNaN()).ToBits() != 0 {
				for l := i; l < i+16; l++ {
					selectMax4Float32Window(out, x, t+4*l, &offs, s[l])
				}
				continue
			}
			e01, o01 := v0.ConcatPermute(v1, even), v0.ConcatPermute(v1, odd)
			e23, o23 := v2.ConcatPermute(v3, even), v2.ConcatPermute(v3, odd)
			r0, r1, r2, r3 := selectMax4Masks(e01.ConcatPermute(e23, even), o01.ConcatPermute(o23, even),
				e01.ConcatPermute(e23, odd), o01.ConcatPermute(o23, odd), archsimd.LoadFloat32x16Slice(s[i:]))
			e01, e23 = r0.ConcatPermute(r2, lo), r0.ConcatPermute(r2, hi)
			o01, o23 = r1.ConcatPermute(r3, lo), r1.ConcatPermute(r3, hi)
			e01.ConcatPermute(o01, lo).StoreSlice(o)
			e01.ConcatPermute(o01, hi).StoreSlice(o[16:])
			e23.ConcatPermute(o23, lo).StoreSlice(o[32:])
			e23.ConcatPermute(o23, hi).StoreSlice(o[48:])
		}
		for l := i; l < n; l++ {
			selectMax4Float32Window(out, x, t+4*l, &offs, s[l])
		}
	}
}
