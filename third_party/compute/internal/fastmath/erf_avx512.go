// Copyright 2023-2026 The GoMLX Authors. SPDX-License-Identifier: Apache-2.0

//go:build amd64 && goexperiment.simd

package fastmath

import "simd/archsimd"

func init() {
	if archsimd.X86.AVX512() {
		erf32Slice = erf32SliceAVX512
		gelu32Slice = gelu32SliceAVX512
	}
}

// erf32x16 is Erf32 on 16 lanes: the same operations in the same order.
func erf32x16(x archsimd.Float32x16) archsimd.Float32x16 {
	c := x.Max(archsimd.BroadcastFloat32x16(-4)).Min(archsimd.BroadcastFloat32x16(4))
	x2 := c.Mul(c)
	p := archsimd.BroadcastFloat32x16(erfA13)
	p = p.Mul(x2).Add(archsimd.BroadcastFloat32x16(erfA11))
	p = p.Mul(x2).Add(archsimd.BroadcastFloat32x16(erfA9))
	p = p.Mul(x2).Add(archsimd.BroadcastFloat32x16(erfA7))
	p = p.Mul(x2).Add(archsimd.BroadcastFloat32x16(erfA5))
	p = p.Mul(x2).Add(archsimd.BroadcastFloat32x16(erfA3))
	p = p.Mul(x2).Add(archsimd.BroadcastFloat32x16(erfA1))
	q := archsimd.BroadcastFloat32x16(erfB8)
	q = q.Mul(x2).Add(archsimd.BroadcastFloat32x16(erfB6))
	q = q.Mul(x2).Add(archsimd.BroadcastFloat32x16(erfB4))
	q = q.Mul(x2).Add(archsimd.BroadcastFloat32x16(erfB2))
	q = q.Mul(x2).Add(archsimd.BroadcastFloat32x16(erfB0))
	// NaN lanes: VMINPS/VMAXPS return the clamp bound for them; keep x there.
	return x.Merge(c.Mul(p.Div(q)), x.IsNaN())
}

func erf32SliceAVX512(in, out []float32) {
	// Leave no dirty upper vector state: later SSE code (math.Exp, say) would run ~3x slower.
	defer archsimd.ClearAVXUpperBits()
	out = out[:len(in)]
	i := 0
	for ; i+16 <= len(in); i += 16 {
		erf32x16(archsimd.LoadFloat32x16Slice(in[i : i+16])).StoreSlice(out[i : i+16])
	}
	for ; i < len(in); i++ {
		out[i] = Erf32(in[i])
	}
}

func gelu32SliceAVX512(in, out []float32) {
	defer archsimd.ClearAVXUpperBits()
	out = out[:len(in)]
	half, one, scale := archsimd.BroadcastFloat32x16(0.5), archsimd.BroadcastFloat32x16(1), archsimd.BroadcastFloat32x16(geluSqrtHalf)
	i := 0
	for ; i+16 <= len(in); i += 16 {
		x := archsimd.LoadFloat32x16Slice(in[i : i+16])
		x.Mul(half).Mul(one.Add(erf32x16(x.Mul(scale)))).StoreSlice(out[i : i+16])
	}
	for ; i < len(in); i++ {
		out[i] = Gelu32(in[i])
	}
}
