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

// TestFloat32ErfOp runs the Erf executor on float32 (fastmath.Erf32Slice) over shapes from
// empty to several parallel chunks, against math.Erf rounded to float32: within 7 ulp, NaN stays
// NaN, ±0 keep their sign; float64 unchanged bit for bit.
func TestFloat32ErfOp(t *testing.T) {
	rng := rand.New(rand.NewPCG(51, 2))
	for _, dims := range [][]int{{0}, {1}, {3, 0, 2}, {5, 1, 33}, {2, 32, 96}, {1 << 15}} {
		for _, dtype := range []dtypes.DType{dtypes.Float32, dtypes.Float64} {
			in := emptyBuffer(t, shapes.Make(dtype, dims...))
			specials := []float64{0, math.Copysign(0, -1), math.NaN(), math.Inf(1), math.Inf(-1), 1e-40, -5}
			switch v := in.Flat.(type) {
			case []float32:
				for i := range v {
					v[i] = float32(rng.NormFloat64() * 2)
				}
				for i := range min(len(v), len(specials)) {
					v[i] = float32(specials[i])
				}
			case []float64:
				for i := range v {
					v[i] = rng.NormFloat64() * 2
				}
				for i := range min(len(v), len(specials)) {
					v[i] = specials[i]
				}
			}
			out, err := execErf(testBackend(), &gobackend.Node{OpType: compute.OpTypeErf}, []*gobackend.Buffer{in}, []bool{false})
			if err != nil {
				t.Fatalf("Erf %s%v: %+v", dtype, dims, err)
			}
			switch v := in.Flat.(type) {
			case []float32:
				for i, x := range v {
					got, want := out.Flat.([]float32)[i], float32(math.Erf(float64(x)))
					if want != want {
						if got == got {
							t.Fatalf("Erf float32(%g) = %g, want NaN", x, got)
						}
						continue
					}
					if d := ulpDiff(got, want); d > 7 || (want == 0 && math.Float32bits(got) != math.Float32bits(want)) {
						t.Fatalf("Erf float32(%g) = %g, want %g (%d ulp)", x, got, want, d)
					}
				}
			case []float64:
				for i, x := range v {
					got, want := out.Flat.([]float64)[i], math.Erf(x)
					if math.Float64bits(got) != math.Float64bits(want) {
						t.Fatalf("Erf float64(%g) = %g, want %g", x, got, want)
					}
				}
			}
		}
	}
}
