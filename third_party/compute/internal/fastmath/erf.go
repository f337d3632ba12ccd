// Copyright 2023-2026 The GoMLX Authors. SPDX-License-Identifier: Apache-2.0

package fastmath

// Erf32 approximates erf(x) for float32 within 7 ulp of the correctly rounded result (3 ulp
// for |x| < 1; see TestErf32), several times faster than float32(math.Erf(float64(x))).
//
// Algorithm: the rational approximation XLA uses for float32 erf, x·(P(x²)/Q(x²)) with P of
// degree 6 and Q of degree 4 in x² (x multiplied last, so that tiny and subnormal x lose no
// bits), on x clamped to [-4, 4] (erf rounds to ±1 in float32
// beyond ±3.92). It needs no exp, so it vectorizes without branches (Erf32Slice). ±0 keep
// their sign, ±Inf give ±1, NaN stays NaN.
//
// The polynomials are evaluated with separate multiplies and adds (no FMA), so that the
// scalar and the vectorized versions return the same bits.
func Erf32(x float32) float32 {
	if x != x {
		return x
	}
	c := max(-4, min(4, x))
	x2 := c * c
	p := float32(erfA13)
	p = p*x2 + erfA11
	p = p*x2 + erfA9
	p = p*x2 + erfA7
	p = p*x2 + erfA5
	p = p*x2 + erfA3
	p = p*x2 + erfA1
	q := float32(erfB8)
	q = q*x2 + erfB6
	q = q*x2 + erfB4
	q = q*x2 + erfB2
	q = q*x2 + erfB0
	return c * (p / q)
}

// Coefficients of Erf32's numerator (odd powers of x) and denominator (even powers).
const (
	erfA1  = -1.60960333262415e-02
	erfA3  = -2.95459980854025e-03
	erfA5  = -7.34990630326855e-04
	erfA7  = -5.69250639462346e-05
	erfA9  = -2.10102402082508e-06
	erfA11 = 2.77068142495902e-08
	erfA13 = -2.72614225801306e-10
	erfB0  = -1.42647390514189e-02
	erfB2  = -7.37332916720468e-03
	erfB4  = -1.68282697438203e-03
	erfB6  = -2.13374055278905e-04
	erfB8  = -1.45660718464996e-05
)

// geluSqrtHalf is 1/√2, the scale of erf's argument in the exact GELU.
const geluSqrtHalf = float32(0.70710678118654752440)

// Gelu32 is the exact GELU x·Φ(x) = x·0.5·(1 + erf(x/√2)) with Erf32, evaluated in that order.
func Gelu32(x float32) float32 {
	return x * 0.5 * (1 + Erf32(x*geluSqrtHalf))
}

// Erf32Slice sets out[i] = Erf32(in[i]) for i < len(in) (out must be at least as long), with
// AVX512 where the CPU has it; the results are the same bits as Erf32's.
func Erf32Slice(in, out []float32) {
	erf32Slice(in, out[:len(in)])
}

// Gelu32Slice sets out[i] = Gelu32(in[i]) for i < len(in) (out must be at least as long), with
// AVX512 where the CPU has it; the results are the same bits as Gelu32's.
func Gelu32Slice(in, out []float32) {
	gelu32Slice(in, out[:len(in)])
}

// erf32Slice and gelu32Slice are replaced by the AVX512 kernels where available.
var (
	erf32Slice  = erf32SliceScalar
	gelu32Slice = gelu32SliceScalar
)

func erf32SliceScalar(in, out []float32) {
	out = out[:len(in)]
	for i, x := range in {
		out[i] = Erf32(x)
	}
}

func gelu32SliceScalar(in, out []float32) {
	out = out[:len(in)]
	for i, x := range in {
		out[i] = Gelu32(x)
	}
}
