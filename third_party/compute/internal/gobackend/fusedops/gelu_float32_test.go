// Copyright 2023-2026 The GoMLX Authors. SPDX-License-Identifier: Apache-2.0

package fusedops

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/gomlx/compute"
	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/internal/gobackend"
	"github.com/gomlx/compute/shapes"
)

// TestFusedGeluFloat32 runs the exact FusedGelu executor on float32 (fastmath.Gelu32Slice)
// over shapes from empty to several parallel chunks, against the plain kernel (math.Erf in
// float64): within 4 ulp plus |x|·2.5e-7 (erf's error of at most 7 ulp of 1, times x/2), and
// bit for bit at ±0, ±Inf (±Inf·(1+erf): +Inf and NaN, as before) and NaN; float64 unchanged
// bit for bit.
func TestFusedGeluFloat32(t *testing.T) {
	backend := newGoBackend(t).(*gobackend.Backend)
	rng := rand.New(rand.NewPCG(51, 1))
	node := func(shape shapes.Shape) *gobackend.Node {
		return &gobackend.Node{OpType: compute.OpTypeFusedGelu, Shape: shape, Data: &nodeFusedGelu{exact: true}}
	}
	for _, size := range []int{0, 1, 17, 4096, 3*4096 + 5} {
		shape := shapes.Make(dtypes.Float32, size)
		in := make([]float32, size)
		for i := range in {
			in[i] = float32(rng.NormFloat64() * 3)
		}
		specials := []float32{0, float32(math.Copysign(0, -1)), float32(math.Inf(1)), float32(math.Inf(-1)), float32(math.NaN()), 1e-30, -1e-30, 6, -6}
		for i := range min(size, len(specials)) {
			in[i] = specials[i]
		}
		out, err := execFusedGelu(backend, node(shape), []*gobackend.Buffer{{RawShape: shape, Flat: in}}, []bool{false})
		if err != nil {
			t.Fatalf("FusedGelu float32[%d]: %+v", size, err)
		}
		want := make([]float32, size)
		geluChunk(in, want)
		for i, g := range out.Flat.([]float32) {
			w, x := want[i], in[i]
			if x != x || math.IsInf(float64(x), 0) || x == 0 {
				if math.Float32bits(g) != math.Float32bits(w) && !(g != g && w != w) {
					t.Fatalf("FusedGelu(%g) = %g, want %g", x, g, w)
				}
				continue
			}
			ulp := math.Abs(float64(math.Nextafter32(w, float32(math.Inf(1)))) - float64(w))
			if d := math.Abs(float64(g - w)); d > 4*ulp+2.5e-7*math.Abs(float64(x)) {
				t.Fatalf("FusedGelu(%g) = %g, want %g (difference %g)", x, g, w, d)
			}
		}
	}
	in64 := []float64{-3, -0.5, 0, 0.25, 2, math.Inf(1)}
	shape64 := shapes.Make(dtypes.Float64, len(in64))
	out64, err := execFusedGelu(backend, node(shape64), []*gobackend.Buffer{{RawShape: shape64, Flat: in64}}, []bool{false})
	if err != nil {
		t.Fatalf("FusedGelu float64: %+v", err)
	}
	want64 := make([]float64, len(in64))
	geluChunk(in64, want64)
	for i, g := range out64.Flat.([]float64) {
		if math.Float64bits(g) != math.Float64bits(want64[i]) {
			t.Fatalf("FusedGelu float64(%g) = %g, want %g", in64[i], g, want64[i])
		}
	}
}
