//go:build unix

package matmul

import (
	"fmt"
	"math/rand/v2"
	"syscall"
	"testing"
)

// BenchmarkSmallNoSIMD times the non-SIMD small kernels (both layouts, float32 and float64) and
// reports the process CPU time per product (cpu-ns/op, steadier than ns/op on a shared machine;
// with -cpu 1 it is the kernel's own). Run with
// go test -run '^$' -bench SmallNoSIMD -cpu 1 ./internal/gobackend/dot/matmul/
func BenchmarkSmallNoSIMD(b *testing.B) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, s := range [][4]int{{1, 32, 32, 32}, {8, 16, 24, 20}, {1, 64, 10, 100}, {1, 7, 129, 33}} {
		batch, m, n, k := s[0], s[1], s[2], s[3]
		lhs32, rhs32, out32 := make([]float32, batch*m*k), make([]float32, batch*k*n), make([]float32, batch*m*n)
		for i := range lhs32 {
			lhs32[i] = rng.Float32()
		}
		for i := range rhs32 {
			rhs32[i] = rng.Float32()
		}
		lhs64, rhs64, out64 := make([]float64, len(lhs32)), make([]float64, len(rhs32)), make([]float64, len(out32))
		for i := range lhs64 {
			lhs64[i] = float64(lhs32[i])
		}
		for i := range rhs64 {
			rhs64[i] = float64(rhs32[i])
		}
		kernels := []struct {
			name string
			fn   func()
		}{
			{"NonTransposed/float32", func() { smallNoSIMDGeneric(lhs32, rhs32, 0, batch, m, n, k, out32) }},
			{"Transposed/float32", func() { smallNoSIMDGenericTransposed(lhs32, rhs32, 0, batch, m, n, k, out32) }},
			{"NonTransposed/float64", func() { smallNoSIMDGeneric(lhs64, rhs64, 0, batch, m, n, k, out64) }},
			{"Transposed/float64", func() { smallNoSIMDGenericTransposed(lhs64, rhs64, 0, batch, m, n, k, out64) }},
		}
		for _, kernel := range kernels {
			b.Run(fmt.Sprintf("%dx%dx%dx%d/%s", batch, m, n, k, kernel.name), func(b *testing.B) {
				start := smallNoSIMDProcessCPU()
				for b.Loop() {
					kernel.fn()
				}
				if b.N > 0 {
					b.ReportMetric(float64(smallNoSIMDProcessCPU()-start)/float64(b.N), "cpu-ns/op")
				}
			})
		}
	}
}

// smallNoSIMDProcessCPU returns the user+system CPU nanoseconds used by the process so far.
func smallNoSIMDProcessCPU() int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return ru.Utime.Nano() + ru.Stime.Nano()
}
