// Copyright 2023-2026 The GoMLX Authors. SPDX-License-Identifier: Apache-2.0

//go:build amd64 && goexperiment.simd

package ops

import "simd/archsimd"

func init() {
	if archsimd.X86.AVX512() {
		expFloat32Blocks = expFloat32AVX512
	}
}

// expFloat32x16 is expf32Core on 16 lanes, the same float32 operations in the same order (so the
// same bits), for inputs in [-87, 87].
func expFloat32x16(x archsimd.Float32x16) archsimd.Float32x16 {
	const (
		log2e = 1.44269504088896341
		c1    = 0.693359375
		c2    = -2.12194440e-4
	)
	b := archsimd.BroadcastFloat32x16
	n := x.Mul(b(log2e)).Add(b(0.5)).FloorScaled(0)
	r := x.Sub(n.Mul(b(c1))).Sub(n.Mul(b(c2)))
	p := b(1.9875691500e-4).Mul(r).Add(b(1.3981999507e-3))
	p = p.Mul(r).Add(b(8.3334519073e-3))
	p = p.Mul(r).Add(b(4.1665795894e-2))
	p = p.Mul(r).Add(b(1.6666665459e-1))
	p = p.Mul(r).Add(b(5.0000001201e-1))
	p = p.Mul(r).Mul(r).Add(r).Add(b(1))
	// 2^n from the exponent bits (n is integral, in [-126, 126]: the conversion is exact).
	return p.Mul(n.ConvertToInt32().Add(archsimd.BroadcastInt32x16(127)).ShiftAllLeft(23).AsFloat32x16())
}

// expFloat32AVX512 is expFloat32 on the whole 16-element blocks of inputs; a block with an input
// outside [-87, 87] (or NaN) goes element by element (math.Exp for those inputs).
func expFloat32AVX512(inputs, outputs []float32) int {
	// Leave no dirty upper vector state: later SSE code (math.Exp, say) would run ~3x slower.
	defer archsimd.ClearAVXUpperBits()
	n := len(inputs) &^ 15
	outputs = outputs[:len(inputs)]
	lo, hi := archsimd.BroadcastFloat32x16(-87), archsimd.BroadcastFloat32x16(87)
	for i := 0; i < n; i += 16 {
		x := archsimd.LoadFloat32x16Slice(inputs[i : i+16])
		if x.GreaterEqual(lo).And(x.LessEqual(hi)).ToBits() != 0xffff {
			expFloat32Scalar(inputs[i:i+16], outputs[i:i+16])
			continue
		}
		expFloat32x16(x).StoreSlice(outputs[i : i+16])
	}
	return n
}
