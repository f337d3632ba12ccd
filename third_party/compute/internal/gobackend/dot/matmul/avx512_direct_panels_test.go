// Copyright 2023-2026 The GoMLX Authors. SPDX-License-Identifier: Apache-2.0

//go:build amd64 && goexperiment.simd

package matmul

import (
	"fmt"
	"math/rand/v2"
	"simd/archsimd"
	"testing"

	"github.com/gomlx/compute/internal/gobackend"
	"github.com/gomlx/compute/internal/gobackend/dot"
)

// TestDirectPanels checks the axpy kernel over copied column panels (few lhs rows, or rhs rows
// whose length aliases in the caches) against a float64 reference and the plain router, float32
// and float64, serial and with 4 workers, on sizes around the panel width, partial panels and
// tiles, lhs row counts that are not multiples of 4, and both rhs layouts.
func TestDirectPanels(t *testing.T) {
	if !archsimd.X86.AVX512() {
		t.Skip("AVX512 is not supported on this machine")
	}
	t.Run("Float32", func(t *testing.T) {
		testDirectPanels(t, directKernels[float32]{direct: avx512DirectFloat32, plain: avx512RouterFloat32}, 4, 1e-5)
	})
	t.Run("Float64", func(t *testing.T) {
		testDirectPanels(t, directKernels[float64]{direct: avx512DirectFloat64, plain: avx512RouterFloat64}, 8, 1e-13)
	})
}

func testDirectPanels[T float32 | float64](t *testing.T, kernels directKernels[T], elem int, eps float64) {
	rng := rand.New(rand.NewPCG(3, 4))
	serial, parallel := directTestBackend(t, 0), directTestBackend(t, 4)
	type shape struct{ batch, m, n, k int }
	shapes := []shape{
		{1, 16, 1024, 289}, {1, 32, 512, 144}, {2, 5, 256, 65}, {1, 1, 300, 70}, {1, 33, 1024, 66},
		{1, 37, 768, 100}, {2, 3, 1000, 130}, {1, 4, 257, 97}, {1, 48, 2048, 65}, {1, 130, 512, 80},
	}
	for range 12 {
		shapes = append(shapes, shape{1 + rng.IntN(2), 1 + rng.IntN(40), 256 + rng.IntN(900), 65 + rng.IntN(200)})
	}
	for _, s := range shapes {
		// Aliasing rows (a multiple of 2 KiB) or few lhs rows: the panel path must be the one taken.
		if !directUsePanels(s.m, s.n, s.k, elem) {
			s.n = (s.n + 511) / 512 * 512
			if !directUsePanels(s.m, s.n, s.k, elem) {
				t.Fatalf("shape %+v does not use panels", s)
			}
		}
		for _, layout := range []dot.Layout{dot.LayoutNonTransposed, dot.LayoutTransposed} {
			lhs := directRandom[T](rng, s.batch*s.m*s.k)
			rhs := directRandom[T](rng, s.batch*s.n*s.k)
			want, scale := directReference(layout, lhs, rhs, s.batch, s.m, s.n, s.k)
			for _, backend := range []*gobackend.Backend{serial, parallel} {
				name := fmt.Sprintf("%s batch=%d m=%d n=%d k=%d workers=%d", layout, s.batch, s.m, s.n, s.k, backend.Workers.MaxParallelism())
				got := directOutput[T](s.batch * s.m * s.n)
				if !kernels.direct(backend, layout, lhs, rhs, s.batch, s.m, s.n, s.k, got[:s.batch*s.m*s.n]) {
					t.Fatalf("%s: no scratch buffer", name)
				}
				directCheck(t, name, got, s.batch*s.m*s.n, want, scale, eps)
				plain := directOutput[T](s.batch * s.m * s.n)
				kernels.plain(backend, layout, lhs, rhs, s.batch, s.m, s.n, s.k, plain[:s.batch*s.m*s.n])
				directCheck(t, name+" (plain kernel)", plain, s.batch*s.m*s.n, want, scale, eps)
			}
		}
	}
	// Few-row wide products are routed to the direct kernels (and so to panels).
	if !useDirectKernel(16, 16384, 289, 16) || !useDirectKernel(32, 12544, 145, 16) {
		t.Fatal("few-row wide products are not routed to the direct kernels")
	}
}
