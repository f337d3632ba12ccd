// Copyright 2023-2026 The GoMLX Authors. SPDX-License-Identifier: Apache-2.0

package fastmath

import (
	"math"
	"math/rand/v2"
	"testing"
)

// ulpDistance is the distance between two float32 in units in the last place (the number of
// representable values between them; +0 and -0 are 1 apart).
func ulpDistance(a, b float32) int64 {
	key := func(f float32) int64 {
		i := int64(int32(math.Float32bits(f)))
		if i < 0 {
			i = math.MinInt32 - i
		}
		return i
	}
	d := key(a) - key(b)
	if d < 0 {
		d = -d
	}
	return d
}

// erfInputs is a dense sweep of [-5, 5], every power of two (both signs), random bit patterns
// and the special values.
func erfInputs() []float32 {
	var xs []float32
	for x := float32(-5); x <= 5; x += 1.0 / 8192 {
		xs = append(xs, x)
	}
	for e := -149; e <= 127; e++ {
		p := float32(math.Ldexp(1, e))
		xs = append(xs, p, -p, p*1.5, -p*1.5)
	}
	rng := rand.New(rand.NewPCG(5, 1))
	for range 200_000 {
		xs = append(xs, math.Float32frombits(rng.Uint32()))
	}
	inf := float32(math.Inf(1))
	return append(xs, 0, float32(math.Copysign(0, -1)), inf, -inf, float32(math.NaN()), 3.92, -3.92, 4, -4)
}

// TestErf32 checks Erf32 against the correctly rounded erf (math.Erf in float64, rounded):
// within 7 ulp (the largest errors are near ±1, where an ulp is 6e-8), within 3 ulp for
// |x| < 1 and 1 ulp for |x| < 2^-13 (subnormals included); ±0 keep their sign, ±Inf give ±1, NaN gives NaN; and that the
// slice versions (AVX512 where available, with a scalar tail) return Erf32's and Gelu32's bits.
func TestErf32(t *testing.T) {
	xs := erfInputs()
	for _, x := range xs {
		got := Erf32(x)
		if x != x {
			if got == got {
				t.Fatalf("Erf32(NaN) = %g", got)
			}
			continue
		}
		want := float32(math.Erf(float64(x)))
		bound := int64(7)
		switch a := math.Abs(float64(x)); {
		case a < 0x1p-13:
			bound = 1
		case a < 1:
			bound = 3
		}
		if d := ulpDistance(got, want); d > bound {
			t.Fatalf("Erf32(%g) = %g, want %g: %d ulp (bound %d)", x, got, want, d, bound)
		}
	}
	if got := Erf32(float32(math.Copysign(0, -1))); math.Float32bits(got) != math.Float32bits(float32(math.Copysign(0, -1))) {
		t.Errorf("Erf32(-0) = %g, want -0", got)
	}
	if got := Erf32(float32(math.Inf(-1))); got != -1 {
		t.Errorf("Erf32(-Inf) = %g, want -1", got)
	}

	// Slice versions, on lengths around the vector width.
	for _, n := range []int{0, 1, 15, 16, 17, 33, len(xs)} {
		in := xs[len(xs)-n:]
		out, gelu := make([]float32, n), make([]float32, n)
		Erf32Slice(in, out)
		Gelu32Slice(in, gelu)
		for i, x := range in {
			if want := Erf32(x); math.Float32bits(out[i]) != math.Float32bits(want) && !(want != want && out[i] != out[i]) {
				t.Fatalf("Erf32Slice (n=%d): element %d (x=%g) = %g, want Erf32's %g", n, i, x, out[i], want)
			}
			if want := Gelu32(x); math.Float32bits(gelu[i]) != math.Float32bits(want) && !(want != want && gelu[i] != gelu[i]) {
				t.Fatalf("Gelu32Slice (n=%d): element %d (x=%g) = %g, want Gelu32's %g", n, i, x, gelu[i], want)
			}
		}
	}
}

// BenchmarkErf32 times erf over 64k float32 in [-4, 4]: math.Erf in float64, Erf32 element by
// element, and Erf32Slice (AVX512 where available).
func BenchmarkErf32(b *testing.B) {
	in, out := make([]float32, 1<<16), make([]float32, 1<<16)
	for i := range in {
		in[i] = float32(i)/(1<<13) - 4
	}
	b.Run("math.Erf", func(b *testing.B) {
		for b.Loop() {
			for i, x := range in {
				out[i] = float32(math.Erf(float64(x)))
			}
		}
	})
	b.Run("Erf32", func(b *testing.B) {
		for b.Loop() {
			for i, x := range in {
				out[i] = Erf32(x)
			}
		}
	})
	b.Run("Erf32Slice", func(b *testing.B) {
		for b.Loop() {
			Erf32Slice(in, out)
		}
	})
}
