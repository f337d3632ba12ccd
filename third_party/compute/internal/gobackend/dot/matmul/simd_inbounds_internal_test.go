//go:build amd64 && goexperiment.simd

package matmul

import (
	"fmt"
	"math"
	"math/rand/v2"
	"simd/archsimd"
	"testing"

	"github.com/gomlx/compute/dtypes/bfloat16"
	"github.com/gomlx/compute/dtypes/float16"
	"github.com/gomlx/compute/internal/gobackend"
	"github.com/gomlx/compute/internal/gobackend/dot"
)

// simdRouterCase is one product for TestSIMDKernelsInBounds.
type simdRouterCase struct {
	layout         dot.Layout
	batch, m, n, k int
}

// runSIMDRouterInBounds runs router on one product with the small or the large (packed) variant
// forced, on operands surrounded by NaN guards in their backing arrays (exact capacity), then on
// separately allocated exact slices, and checks the result against a float64 reference and that
// the guards are untouched. The operands are small integers, so every dtype's result is exact:
// a read outside the operands shows as a NaN or a wrong value, a write outside the output as a
// changed guard. Under -race, checkptr also checks every access against its slice's allocation.
func runSIMDRouterInBounds[I, O any](t *testing.T, backend *gobackend.Backend, name string, c simdRouterCase, rng *rand.Rand,
	fromF64 func(float64) I, toF64I func(I) float64, fromF64O func(float64) O, toF64O func(O) float64,
	router func(*gobackend.Backend, dot.Layout, []I, []I, int, int, int, int, []O)) {
	t.Helper()
	lhsSize, rhsSize, outSize := c.batch*c.m*c.k, c.batch*c.n*c.k, c.batch*c.m*c.n
	for _, separate := range []bool{false, true} {
		lhs, lhsBacking := guarded(lhsSize, fromF64(math.NaN()))
		rhs, rhsBacking := guarded(rhsSize, fromF64(math.NaN()))
		out, outBacking := guarded(outSize, fromF64O(math.NaN()))
		if separate {
			lhs, rhs, out = make([]I, lhsSize), make([]I, rhsSize), make([]O, outSize)
		}
		for i := range lhs {
			lhs[i] = fromF64(float64(rng.IntN(9) - 4))
		}
		for i := range rhs {
			rhs[i] = fromF64(float64(rng.IntN(9) - 4))
		}
		for i := range out {
			out[i] = fromF64O(0)
		}
		router(backend, c.layout, lhs, rhs, c.batch, c.m, c.n, c.k, out)
		for b := range c.batch {
			for i := range c.m {
				for j := range c.n {
					var want float64
					for k := range c.k {
						l := toF64I(lhs[(b*c.m+i)*c.k+k])
						var r float64
						if c.layout == dot.LayoutTransposed {
							r = toF64I(rhs[(b*c.n+j)*c.k+k])
						} else {
							r = toF64I(rhs[(b*c.k+k)*c.n+j])
						}
						want += l * r
					}
					if got := toF64O(out[(b*c.m+i)*c.n+j]); got != want {
						t.Fatalf("%s %s %dx%dx%dx%d (separate=%v): output[%d,%d,%d] = %v, want %v",
							name, c.layout, c.batch, c.m, c.n, c.k, separate, b, i, j, got, want)
					}
				}
			}
		}
		if separate {
			continue
		}
		for what, backing := range map[string][]I{"lhs": lhsBacking, "rhs": rhsBacking} {
			for _, g := range append(backing[:guardLen:guardLen], backing[len(backing)-guardLen:]...) {
				if !math.IsNaN(toF64I(g)) {
					t.Fatalf("%s %s %dx%dx%dx%d: %s guard written: %v", name, c.layout, c.batch, c.m, c.n, c.k, what, g)
				}
			}
		}
		for _, g := range append(outBacking[:guardLen:guardLen], outBacking[len(outBacking)-guardLen:]...) {
			if !math.IsNaN(toF64O(g)) {
				t.Fatalf("%s %s %dx%dx%dx%d: output guard written: %v", name, c.layout, c.batch, c.m, c.n, c.k, g)
			}
		}
	}
}

// TestSIMDKernelsInBounds runs the AVX512 and AVX2 small and large (packing) kernels of every
// dtype on exactly sized operands (see runSIMDRouterInBounds), with shapes that leave partial
// vectors, partial kernel tiles and partial panels.
func TestSIMDKernelsInBounds(t *testing.T) {
	defer func() { ForceSmallVariant, ForceLargeVariant = false, false }()
	backend := directTestBackend(t, -1)
	rng := rand.New(rand.NewPCG(7, 71))
	var cases []simdRouterCase
	for _, layout := range []dot.Layout{dot.LayoutNonTransposed, dot.LayoutTransposed} {
		for _, s := range [][4]int{{1, 5, 33, 17}, {2, 7, 40, 70}, {1, 4, 16, 16}, {3, 9, 65, 33}, {1, 37, 70, 130}, {1, 70, 129, 300}} {
			cases = append(cases, simdRouterCase{layout, s[0], s[1], s[2], s[3]})
		}
	}
	f32 := func(v float64) float32 { return float32(v) }
	f32to64 := func(v float32) float64 { return float64(v) }
	id := func(v float64) float64 { return v }
	bf16to64 := func(v bfloat16.BFloat16) float64 { return v.Float64() }
	f16to64 := func(v float16.Float16) float64 { return v.Float64() }
	type isa struct {
		name      string
		supported bool
		f32       func(*gobackend.Backend, dot.Layout, []float32, []float32, int, int, int, int, []float32)
		f64       func(*gobackend.Backend, dot.Layout, []float64, []float64, int, int, int, int, []float64)
		bf16      func(*gobackend.Backend, dot.Layout, []bfloat16.BFloat16, []bfloat16.BFloat16, int, int, int, int, []float32)
		f16       func(*gobackend.Backend, dot.Layout, []float16.Float16, []float16.Float16, int, int, int, int, []float32)
	}
	for _, arch := range []isa{
		{"AVX512", archsimd.X86.AVX512(), avx512RouterFloat32, avx512RouterFloat64, avx512RouterBFloat16, avx512RouterFloat16},
		{"AVX2", archsimd.X86.AVX2(), avx2RouterFloat32, avx2RouterFloat64, avx2RouterBFloat16, avx2RouterFloat16},
	} {
		for _, variant := range []string{"small", "large"} {
			t.Run(fmt.Sprintf("%s/%s", arch.name, variant), func(t *testing.T) {
				if !arch.supported {
					t.Skipf("%s is not supported on this CPU", arch.name)
				}
				ForceSmallVariant, ForceLargeVariant = variant == "small", variant == "large"
				for _, c := range cases {
					runSIMDRouterInBounds(t, backend, "float32", c, rng, f32, f32to64, f32, f32to64, arch.f32)
					runSIMDRouterInBounds(t, backend, "float64", c, rng, id, id, id, id, arch.f64)
					runSIMDRouterInBounds(t, backend, "bfloat16", c, rng, bfloat16.FromFloat64, bf16to64, f32, f32to64, arch.bf16)
					runSIMDRouterInBounds(t, backend, "float16", c, rng, float16.FromFloat64, f16to64, f32, f32to64, arch.f16)
				}
			})
		}
	}
}

// BenchmarkAVX2SmallHalfPrecision times the AVX2 small bfloat16 kernels (both layouts) and reports
// the process CPU time per product (cpu-ns/op). Run with
// GOEXPERIMENT=simd go test -run '^$' -bench AVX2SmallHalfPrecision -cpu 1 ./internal/gobackend/dot/matmul/
func BenchmarkAVX2SmallHalfPrecision(b *testing.B) {
	if !archsimd.X86.AVX2() {
		b.Skip("AVX2 is not supported on this CPU")
	}
	defer func() { ForceSmallVariant = false }()
	ForceSmallVariant = true
	backend := directTestBackend(b, 1)
	rng := rand.New(rand.NewPCG(1, 2))
	for _, s := range [][3]int{{32, 24, 64}, {64, 40, 100}} {
		m, n, k := s[0], s[1], s[2]
		lhs, rhs := make([]bfloat16.BFloat16, m*k), make([]bfloat16.BFloat16, n*k)
		for i := range lhs {
			lhs[i] = bfloat16.FromFloat32(rng.Float32())
		}
		for i := range rhs {
			rhs[i] = bfloat16.FromFloat32(rng.Float32())
		}
		out := make([]float32, m*n)
		for _, layout := range []dot.Layout{dot.LayoutNonTransposed, dot.LayoutTransposed} {
			b.Run(fmt.Sprintf("%s/%dx%dx%d", layout, m, n, k), func(b *testing.B) {
				start := smallNoSIMDProcessCPU()
				for b.Loop() {
					avx2RouterBFloat16(backend, layout, lhs, rhs, 1, m, n, k, out)
				}
				if b.N > 0 {
					b.ReportMetric(float64(smallNoSIMDProcessCPU()-start)/float64(b.N), "cpu-ns/op")
				}
			})
		}
	}
}
