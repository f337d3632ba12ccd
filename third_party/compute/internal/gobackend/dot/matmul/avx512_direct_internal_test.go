// Copyright 2023-2026 The GoMLX Authors. SPDX-License-Identifier: Apache-2.0

//go:build amd64 && goexperiment.simd

package matmul

import (
	"fmt"
	"math"
	"math/rand/v2"
	"simd/archsimd"
	"syscall"
	"testing"

	"github.com/gomlx/compute/internal/gobackend"
	"github.com/gomlx/compute/internal/gobackend/dot"
)

// directTestBackend returns a Go backend with the given parallelism (0 disables it).
func directTestBackend(t testing.TB, parallelism int) *gobackend.Backend {
	b, err := gobackend.New("")
	if err != nil {
		t.Fatal(err)
	}
	backend := b.(*gobackend.Backend)
	backend.Workers.SetMaxParallelism(parallelism)
	t.Cleanup(backend.Finalize)
	return backend
}

// directReference computes the product in float64, and the sum of |lhs|·|rhs| terms of each output
// (the scale of its rounding error).
func directReference[T float32 | float64](layout dot.Layout, lhs, rhs []T, batch, m, n, k int) (want, scale []float64) {
	want = make([]float64, batch*m*n)
	scale = make([]float64, batch*m*n)
	for b := range batch {
		for i := range m {
			for j := range n {
				var sum, abs float64
				for p := range k {
					l := float64(lhs[b*m*k+i*k+p])
					var r float64
					if layout == dot.LayoutNonTransposed {
						r = float64(rhs[b*k*n+p*n+j])
					} else {
						r = float64(rhs[b*n*k+j*k+p])
					}
					sum += l * r
					abs += math.Abs(l * r)
				}
				want[b*m*n+i*n+j] = sum
				scale[b*m*n+i*n+j] = abs
			}
		}
	}
	return
}

// directRandom returns n values in [-1, 1).
func directRandom[T float32 | float64](rng *rand.Rand, n int) []T {
	v := make([]T, n)
	for i := range v {
		v[i] = T(2*rng.Float64() - 1)
	}
	return v
}

// directCheck compares got (with a guard band of sentinels after it) with the reference.
func directCheck[T float32 | float64](t *testing.T, name string, got []T, size int, want, scale []float64, eps float64) {
	t.Helper()
	for i := range size {
		if math.Abs(float64(got[i])-want[i]) > eps*(scale[i]+1) || math.IsNaN(float64(got[i])) {
			t.Fatalf("%s: output[%d] = %g, want %g", name, i, got[i], want[i])
		}
	}
	for i := size; i < len(got); i++ {
		if got[i] != 12345 {
			t.Fatalf("%s: wrote past the output, at %d (size %d)", name, i, size)
		}
	}
}

// directOutput returns an output buffer of size elements filled with NaN (so an element the kernel
// skips fails the check), followed by a guard band of 40 sentinels.
func directOutput[T float32 | float64](size int) []T {
	out := make([]T, size+40)
	for i := range out {
		out[i] = T(math.NaN())
		if i >= size {
			out[i] = 12345
		}
	}
	return out
}

var directTestDims = []int{1, 2, 3, 4, 5, 7, 8, 15, 16, 17, 31, 32, 33, 47, 64, 65, 130}

// directKernels are one dtype's direct kernels, and the plain router they replace.
type directKernels[T float32 | float64] struct {
	axpyRows, dotRows func(a, b, c []T, n, k, rowStart, rowEnd int)
	direct            func(backend *gobackend.Backend, layout dot.Layout, lhs, rhs []T, batch, m, n, k int, output []T) bool
	plain             func(backend *gobackend.Backend, layout dot.Layout, lhs, rhs []T, batch, m, n, k int, output []T)
}

// TestDirectKernels checks the direct kernels (both of them, on both layouts, serial and parallel,
// float32 and float64) against a float64 reference and against the small and packed kernels they
// replace, on random shapes including size-1 and empty dimensions and sizes that are not multiples
// of the tiles.
func TestDirectKernels(t *testing.T) {
	if !archsimd.X86.AVX512() {
		t.Skip("AVX512 is not supported on this machine")
	}
	t.Run("Float32", func(t *testing.T) {
		testDirectKernels(t, directKernels[float32]{directAxpyRowsFloat32, directDotRowsFloat32,
			avx512DirectFloat32, avx512RouterFloat32}, 1e-5)
	})
	t.Run("Float64", func(t *testing.T) {
		testDirectKernels(t, directKernels[float64]{directAxpyRowsFloat64, directDotRowsFloat64,
			avx512DirectFloat64, avx512RouterFloat64}, 1e-13)
	})
}

func testDirectKernels[T float32 | float64](t *testing.T, kernels directKernels[T], eps float64) {
	rng := rand.New(rand.NewPCG(1, 2))
	serial, parallel := directTestBackend(t, 0), directTestBackend(t, 4)
	t.Run("rows", func(t *testing.T) {
		// Both kernels on every size combination, on a row range that is not the whole matrix.
		for _, m := range []int{1, 3, 4, 9} {
			for _, n := range directTestDims {
				for _, k := range directTestDims {
					lhs := directRandom[T](rng, m*k)
					rhsKN := directRandom[T](rng, k*n)
					rhsNK := make([]T, n*k)
					directTranspose(rhsKN, rhsNK, k, n)
					want, scale := directReference(dot.LayoutNonTransposed, lhs, rhsKN, 1, m, n, k)
					for _, kernel := range []string{"axpy", "dot"} {
						got := directOutput[T](m * n)
						rowStart := min(1, m-1)
						if kernel == "axpy" {
							kernels.axpyRows(lhs, rhsKN, got[:m*n], n, k, rowStart, m)
						} else {
							kernels.dotRows(lhs, rhsNK, got[:m*n], n, k, rowStart, m)
						}
						for i := range rowStart * n {
							want[i], got[i] = 0, 0 // Rows outside the range are not written.
						}
						directCheck(t, fmt.Sprintf("%s m=%d n=%d k=%d", kernel, m, n, k), got, m*n, want, scale, eps)
					}
				}
			}
		}
	})
	t.Run("products", func(t *testing.T) {
		for range 120 {
			batch := []int{0, 1, 1, 2, 3}[rng.IntN(5)]
			m := []int{0, 1, 5, 16, 33, 100, 257}[rng.IntN(7)]
			n, k := directTestDims[rng.IntN(len(directTestDims))], directTestDims[rng.IntN(len(directTestDims))]
			if rng.IntN(10) == 0 {
				k = 0
			}
			if rng.IntN(10) == 0 {
				n = 0
			}
			switch rng.IntN(8) {
			case 0:
				k = 1000 + rng.IntN(1200) // Several K blocks in the dot kernel.
			case 1:
				n = 1030 + rng.IntN(100) // Rows of the rhs pages apart: K blocks in the axpy kernel.
			}
			for _, layout := range []dot.Layout{dot.LayoutNonTransposed, dot.LayoutTransposed} {
				lhs := directRandom[T](rng, batch*m*k)
				rhs := directRandom[T](rng, batch*n*k)
				want, scale := directReference(layout, lhs, rhs, batch, m, n, k)
				for _, backend := range []*gobackend.Backend{serial, parallel} {
					name := fmt.Sprintf("%s batch=%d m=%d n=%d k=%d workers=%d", layout, batch, m, n, k, backend.Workers.MaxParallelism())
					got := directOutput[T](batch * m * n)
					if !kernels.direct(backend, layout, lhs, rhs, batch, m, n, k, got[:batch*m*n]) {
						t.Fatalf("%s: no scratch buffer", name)
					}
					directCheck(t, name, got, batch*m*n, want, scale, eps)

					// The kernels it replaces, through the same router, agree within float tolerance.
					if batch*m*n*k > 0 { // The plain kernels divide by zero on an empty batch.
						plain := directOutput[T](batch * m * n)
						kernels.plain(backend, layout, lhs, rhs, batch, m, n, k, plain[:batch*m*n])
						directCheck(t, name+" (plain kernel)", plain, batch*m*n, want, scale, eps)
					}
				}
			}
		}
	})
}

// directProcessCPU returns the user+system CPU seconds used by the process so far.
func directProcessCPU() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return float64(ru.Utime.Nano()+ru.Stime.Nano()) / 1e9
}

// BenchmarkDirectFloat32 times the float32 products of the models' training steps (the cnn, lstm and
// mlp benchmarks' shapes, layout as the graph normalises them) with the kernels the router used before
// (small or packed, "plain") and with the direct ones, and reports GFLOP/s. Run with
// GOEXPERIMENT=simd go test -run ^$ -bench DirectFloat32 -cpu 1,2 ./internal/gobackend/dot/matmul/
func BenchmarkDirectFloat32(b *testing.B) {
	type shape struct {
		layout         dot.Layout
		batch, m, n, k int
	}
	nt, tr := dot.LayoutNonTransposed, dot.LayoutTransposed
	shapes := []shape{
		{nt, 1, 12544, 32, 145}, {nt, 1, 32, 12544, 145}, {tr, 1, 12544, 145, 32}, {tr, 1, 32, 145, 12544},
		{nt, 1, 144, 12544, 32}, {tr, 1, 50176, 10, 16}, {nt, 1, 64, 10, 1568},
		{nt, 1, 1024, 113, 32}, {tr, 1, 1024, 113, 32}, {nt, 2, 32, 128, 64}, {tr, 2, 32, 64, 128}, {tr, 2, 128, 64, 32},
		{nt, 1, 64, 64, 30}, {tr, 1, 64, 30, 64}, {nt, 1, 64, 2, 32},
		{nt, 1, 512, 512, 512},
		{nt, 1, 16, 16384, 289}, {nt, 1, 32, 16384, 144}, {nt, 1, 32, 4096, 289}, // conv_autoencoder's decoder
	}
	rng := rand.New(rand.NewPCG(1, 2))
	backend := directTestBackend(b, -1)
	for _, s := range shapes {
		lhs := directRandom[float32](rng, s.batch*s.m*s.k)
		rhs := directRandom[float32](rng, s.batch*s.n*s.k)
		out := make([]float32, s.batch*s.m*s.n)
		for _, variant := range []string{"plain", "direct"} {
			b.Run(fmt.Sprintf("%s/%dx%dx%dx%d/%s", s.layout, s.batch, s.m, s.n, s.k, variant), func(b *testing.B) {
				cpuStart := directProcessCPU()
				for b.Loop() {
					if variant == "plain" {
						avx512RouterFloat32(backend, s.layout, lhs, rhs, s.batch, s.m, s.n, s.k, out)
					} else {
						avx512DirectFloat32(backend, s.layout, lhs, rhs, s.batch, s.m, s.n, s.k, out)
					}
				}
				flops := 2 * float64(s.batch*s.m*s.n*s.k) * float64(b.N)
				b.ReportMetric(flops/b.Elapsed().Seconds()/1e9, "GFLOP/s")
				// Per CPU-second of the process: steadier than wall time on a shared machine (with
				// -cpu 1 it is the kernel's own CPU time).
				b.ReportMetric(flops/(directProcessCPU()-cpuStart)/1e9, "GFLOP/cpu-s")
			})
		}
	}
}
