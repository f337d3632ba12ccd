package ops

import "math"

// Float32 Tanh and Logistic without float64 transcendental calls.
//
// The generic kernels convert each float32 to float64 and call math.Tanh or math.Exp,
// about 10-15 ns per element, which made these two ops a large share of recurrent networks'
// steps (LSTM/GRU gates). The float32 kernels below use the single-precision Cephes
// algorithms (expf: range reduction by ln 2 and a degree-6 polynomial; tanhf: an odd
// polynomial below 0.625 and 1 - 2/(exp(2|x|)+1) above), evaluated in float32: a few ulp
// from the correctly rounded result (see TestFloat32TanhLogistic), several times faster.
// Inputs outside the range where the fast exp is valid (|x| > 87, NaN, ±Inf) take the
// float64 path, so special values and tiny (subnormal) results are exactly the old ones.

// expf32 is e^x for |x| <= 87 (normal float32 results); ok is false outside that range (and
// for NaN), where the caller falls back to math.Exp.
func expf32(x float32) (y float32, ok bool) {
	if !(x >= -87 && x <= 87) {
		return 0, false
	}
	return expf32Core(x), true
}

// expf32Core is e^x for x in [-87, 87] (Cephes expf).
func expf32Core(x float32) float32 {
	const (
		log2e = 1.44269504088896341
		c1    = 0.693359375
		c2    = -2.12194440e-4
	)
	// The float32() conversions round every product on its own (the Go spec lets a compiler
	// fuse x*y+z otherwise, e.g. GOAMD64=v3), so the vector kernels, which do the same
	// operations one by one, give the same bits.
	n := float32(math.Floor(float64(float32(x*log2e) + 0.5)))
	r := float32(x-float32(n*c1)) - float32(n*c2)
	p := float32(1.9875691500e-4 * r)
	p = float32(float32(p+1.3981999507e-3) * r)
	p = float32(float32(p+8.3334519073e-3) * r)
	p = float32(float32(p+4.1665795894e-2) * r)
	p = float32(float32(p+1.6666665459e-1) * r)
	p = p + 5.0000001201e-1
	p = float32(float32(float32(p*r)*r)+r) + 1
	// 2^n for n in [-126, 126]: build the exponent bits directly.
	return p * math.Float32frombits(uint32(int32(n)+127)<<23)
}

// tanhFloat32Blocks and logisticFloat32Blocks, when set (amd64 builds with
// GOEXPERIMENT=simd, on CPUs with AVX512), compute the kernels on the whole 16-element blocks
// at the start of inputs, with the same float32 operations as the scalar code (same bits), and
// return how many elements they did.
var tanhFloat32Blocks, logisticFloat32Blocks func(inputs, outputs []float32) int

// tanhFloat32 computes outputs[i] = tanh(inputs[i]).
func tanhFloat32(inputs, outputs []float32) {
	done := 0
	if tanhFloat32Blocks != nil {
		done = tanhFloat32Blocks(inputs, outputs)
	}
	tanhFloat32Scalar(inputs[done:], outputs[done:])
}

// logisticFloat32 computes outputs[i] = 1/(1+exp(-inputs[i])): 1/(1+e^-x) for x >= 0 and
// e^x/(1+e^x) below, both accurate in relative terms.
func logisticFloat32(inputs, outputs []float32) {
	done := 0
	if logisticFloat32Blocks != nil {
		done = logisticFloat32Blocks(inputs, outputs)
	}
	logisticFloat32Scalar(inputs[done:], outputs[done:])
}

// tanhFloat32Scalar is tanhFloat32 one element at a time.
func tanhFloat32Scalar(inputs, outputs []float32) {
	for i, x := range inputs {
		a := x
		if a < 0 {
			a = -a
		}
		switch {
		case a >= 10:
			// Rounds to ±1 in float32 from about 9.01 on.
			outputs[i] = float32(math.Copysign(1, float64(x)))
		case a > 0.625:
			e := expf32Core(2 * a)
			y := 1 - 2/(e+1)
			if x < 0 {
				y = -y
			}
			outputs[i] = y
		case x == 0:
			outputs[i] = x // keeps the sign of zero
		default: // also NaN
			z := x * x
			p := float32(-5.70498872745e-3 * z)
			p = float32(float32(p+2.06390887954e-2) * z)
			p = float32(float32(p-5.37397155531e-2) * z)
			p = float32(float32(p+1.33314422036e-1) * z)
			p = float32(float32(p-3.33332819422e-1) * z)
			outputs[i] = float32(p*x) + x
		}
	}
}

// logisticFloat32Scalar is logisticFloat32 one element at a time.
func logisticFloat32Scalar(inputs, outputs []float32) {
	for i, x := range inputs {
		if x >= 0 {
			e, ok := expf32(-x)
			if !ok {
				e = float32(math.Exp(-float64(x)))
			}
			outputs[i] = 1 / (1 + e)
		} else {
			e, ok := expf32(x)
			if !ok {
				e = float32(math.Exp(float64(x))) // NaN stays NaN
			}
			outputs[i] = e / (1 + e)
		}
	}
}
