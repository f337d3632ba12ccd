// Copyright 2023-2026 The GoMLX Authors. SPDX-License-Identifier: Apache-2.0

package ops

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/gomlx/compute"
	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/internal/gobackend"
	"github.com/gomlx/compute/shapes"
)

// TestFloat32ExpOp runs the Exp executor on float32 against math.Exp rounded to float32: a dense
// sweep of [-90, 90], random bit patterns and the specials, in one buffer (so vector blocks mix
// fast and fallback inputs) and in buffers of 0-40 elements (tails): within 2 ulp for
// |x| <= 87, bit for bit outside (overflow to +Inf, subnormal and zero results, ±Inf, NaN); the
// vectorized blocks (where the CPU has them) return expFloat32Scalar's bits; float64 unchanged.
func TestFloat32ExpOp(t *testing.T) {
	var xs []float32
	for x := float32(-90); x <= 90; x += 1.0 / 512 {
		xs = append(xs, x)
	}
	rng := rand.New(rand.NewPCG(53, 1))
	for range 100_000 {
		xs = append(xs, math.Float32frombits(rng.Uint32()))
	}
	xs = append(xs, 0, float32(math.Copysign(0, -1)), float32(math.Inf(1)), float32(math.Inf(-1)), float32(math.NaN()),
		87, -87, 88.7, 88.8, -103, -104, -150, 1e-30)
	run := func(in []float32) []float32 {
		buf := emptyBuffer(t, shapes.Make(dtypes.Float32, len(in)))
		copy(buf.Flat.([]float32), in)
		out, err := execExp(testBackend(), &gobackend.Node{OpType: compute.OpTypeExp}, []*gobackend.Buffer{buf}, []bool{false})
		if err != nil {
			t.Fatalf("Exp float32[%d]: %+v", len(in), err)
		}
		return out.Flat.([]float32)
	}
	check := func(in, got []float32) {
		scalar := make([]float32, len(in))
		expFloat32Scalar(in, scalar)
		for i, x := range in {
			want := float32(math.Exp(float64(x)))
			if math.Float32bits(got[i]) != math.Float32bits(scalar[i]) && !(got[i] != got[i] && scalar[i] != scalar[i]) {
				t.Fatalf("Exp(%g) = %g, the scalar code gives %g", x, got[i], scalar[i])
			}
			if x >= -87 && x <= 87 {
				if d := ulpDiff(got[i], want); d > 2 {
					t.Fatalf("Exp(%g) = %g, want %g (%d ulp)", x, got[i], want, d)
				}
			} else if math.Float32bits(got[i]) != math.Float32bits(want) && !(got[i] != got[i] && want != want) {
				t.Fatalf("Exp(%g) = %g, want math.Exp's %g", x, got[i], want)
			}
		}
	}
	check(xs, run(xs))
	for n := range 41 {
		in := xs[rng.IntN(len(xs)-n):][:n]
		check(in, run(in))
	}

	in64 := []float64{-3, 0, 0.5, 700, -745, math.Inf(1), math.NaN()}
	buf := &gobackend.Buffer{RawShape: shapes.Make(dtypes.Float64, len(in64)), Flat: in64}
	out, err := execExp(testBackend(), &gobackend.Node{OpType: compute.OpTypeExp}, []*gobackend.Buffer{buf}, []bool{false})
	if err != nil {
		t.Fatalf("Exp float64: %+v", err)
	}
	for i, x := range in64 {
		if got, want := out.Flat.([]float64)[i], math.Exp(x); math.Float64bits(got) != math.Float64bits(want) && !(math.IsNaN(got) && math.IsNaN(want)) {
			t.Fatalf("Exp float64(%g) = %g, want %g", x, got, want)
		}
	}
}

// BenchmarkExpFloat32 times float32 Exp on 64k inputs in [-20, 5] (a softmax's or a GELU
// gradient's range): math.Exp in float64 per element (the generic kernel) and expFloat32 (with
// AVX512 where available). Besides ns/op it reports cpu-ns/op.
func BenchmarkExpFloat32(b *testing.B) {
	in, out := make([]float32, 1<<16), make([]float32, 1<<16)
	for i := range in {
		in[i] = float32(i)/(1<<16)*25 - 20
	}
	b.Run("generic", func(b *testing.B) {
		benchLoop(b, func() { execExpGeneric(in, out) })
	})
	b.Run("float32", func(b *testing.B) {
		benchLoop(b, func() { expFloat32(in, out) })
	})
}
