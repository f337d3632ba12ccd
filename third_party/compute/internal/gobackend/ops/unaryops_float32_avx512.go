//go:build amd64 && goexperiment.simd

package ops

import "simd/archsimd"

// AVX512 forms of the float32 Tanh and Logistic kernels: 16 elements per step, the same
// float32 operations in the same order as the scalar code (expf32Core, tanhFloat32Scalar,
// logisticFloat32Scalar), so the same bits; where the scalar code branches, both sides are
// computed and the lanes are merged. A block with an input outside the fast exp's range
// (|x| > 87 or NaN for the logistic) is left to the scalar code, which takes the float64 path
// there.

func init() {
	if archsimd.X86.AVX512() {
		tanhFloat32Blocks = tanhFloat32AVX512
		logisticFloat32Blocks = logisticFloat32AVX512
	}
}

func f32x16(v float32) archsimd.Float32x16 { return archsimd.BroadcastFloat32x16(v) }

const signBit = -1 << 31 // the float32 sign bit, as an int32

// tanhFloat32AVX512 is tanhFloat32Scalar on the whole 16-element blocks of inputs.
func tanhFloat32AVX512(inputs, outputs []float32) int {
	// Leave no dirty upper vector state: the scalar code after it would run slower.
	defer archsimd.ClearAVXUpperBits()
	n := len(inputs) &^ 15
	outputs = outputs[:len(inputs)]
	sign := archsimd.BroadcastInt32x16(signBit)
	one := f32x16(1)
	for i := 0; i < n; i += 16 {
		x := archsimd.LoadFloat32x16Slice(inputs[i : i+16])
		xi := x.AsInt32x16()
		signs := xi.And(sign)
		a := xi.AndNot(sign).AsFloat32x16() // |x|

		// |x| <= 0.625 (and NaN): the odd polynomial.
		z := x.Mul(x)
		p := f32x16(-5.70498872745e-3).Mul(z)
		p = p.Add(f32x16(2.06390887954e-2)).Mul(z)
		p = p.Sub(f32x16(5.37397155531e-2)).Mul(z)
		p = p.Add(f32x16(1.33314422036e-1)).Mul(z)
		p = p.Sub(f32x16(3.33332819422e-1)).Mul(z)
		y := p.Mul(x).Add(x)

		// 0.625 < |x| < 10: ±(1 - 2/(e^{2|x|}+1)).
		mid := a.Greater(f32x16(0.625))
		if mid.ToBits() != 0 {
			e := expFloat32x16(a.Add(a))
			big := one.Sub(f32x16(2).Div(e.Add(one)))
			y = big.AsInt32x16().Or(signs).AsFloat32x16().Merge(y, mid)
		}
		// |x| >= 10: ±1.
		y = one.AsInt32x16().Or(signs).AsFloat32x16().Merge(y, a.GreaterEqual(f32x16(10)))
		// ±0 stays as it is.
		y = x.Merge(y, x.Equal(f32x16(0)))
		y.StoreSlice(outputs[i : i+16])
	}
	return n
}

// logisticFloat32AVX512 is logisticFloat32Scalar on the whole 16-element blocks of inputs.
func logisticFloat32AVX512(inputs, outputs []float32) int {
	// Leave no dirty upper vector state: the scalar code after it would run slower.
	defer archsimd.ClearAVXUpperBits()
	n := len(inputs) &^ 15
	outputs = outputs[:len(inputs)]
	sign := archsimd.BroadcastInt32x16(signBit)
	one := f32x16(1)
	for i := 0; i < n; i += 16 {
		x := archsimd.LoadFloat32x16Slice(inputs[i : i+16])
		// e^{-|x|}: e^-x for x >= 0, e^x below.
		negAbs := x.AsInt32x16().Or(sign).AsFloat32x16()
		if negAbs.GreaterEqual(f32x16(-87)).ToBits() != 0xffff { // |x| > 87 or NaN somewhere
			archsimd.ClearAVXUpperBits() // the fallback calls math.Exp
			logisticFloat32Scalar(inputs[i:i+16], outputs[i:i+16])
			continue
		}
		e := expFloat32x16(negAbs)
		num := one.Merge(e, x.GreaterEqual(f32x16(0)))
		num.Div(one.Add(e)).StoreSlice(outputs[i : i+16])
	}
	return n
}
