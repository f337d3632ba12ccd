package matmul

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/gomlx/compute/dtypes/bfloat16"
	"github.com/gomlx/compute/dtypes/float16"
)

// guardLen is the number of elements placed before and after every operand in
// TestSmallNoSIMDInBounds.
const guardLen = 16

// guarded returns a slice of n elements that lies between two guard regions of the
// same backing array (the returned slice's capacity is n: the guards are outside it),
// the whole backing array, and an exactly sized, separately allocated copy target.
func guarded[T any](n int, guard T) (inner, backing []T) {
	backing = make([]T, guardLen+n+guardLen)
	for i := range backing {
		backing[i] = guard
	}
	return backing[guardLen : guardLen+n : guardLen+n], backing
}

// smallNoSIMDCase is one product for TestSmallNoSIMDInBounds.
type smallNoSIMDCase struct {
	batchSize, batchStart, batchCount int
	lhsCross, rhsCross, contracting   int
	transposed                        bool
}

func (c smallNoSIMDCase) String() string {
	layout := "NonTransposed"
	if c.transposed {
		layout = "Transposed"
	}
	return fmt.Sprintf("%s/batch=%d[%d:+%d]/M=%d/N=%d/K=%d", layout,
		c.batchSize, c.batchStart, c.batchCount, c.lhsCross, c.rhsCross, c.contracting)
}

// smallNoSIMDCases covers every fringe of the kernels' tiles (3 rows x 4 columns, contraction
// unrolled by 4) and chunks that start inside the batch, as the parallel version runs them.
func smallNoSIMDCases() []smallNoSIMDCase {
	var cases []smallNoSIMDCase
	sizes := []int{1, 2, 3, 4, 5, 6, 7, 8, 9, 13}
	for _, transposed := range []bool{false, true} {
		for _, m := range sizes {
			for _, n := range sizes {
				for _, k := range sizes {
					cases = append(cases, smallNoSIMDCase{1, 0, 1, m, n, k, transposed})
				}
			}
		}
		for _, b := range [][3]int{{3, 0, 3}, {3, 1, 2}, {3, 2, 1}, {4, 1, 2}} {
			cases = append(cases, smallNoSIMDCase{b[0], b[1], b[2], 5, 6, 7, transposed})
			cases = append(cases, smallNoSIMDCase{b[0], b[1], b[2], 3, 4, 4, transposed})
		}
	}
	return cases
}

// runSmallNoSIMDInBounds runs one case of smallNoSIMDGeneric[Transposed] (or the half-precision
// variants through kernel) on operands surrounded by NaN guards, with exactly sized slices:
//   - a read outside an operand would pick up a NaN and make an output NaN;
//   - a write outside the chunk's output matrices would change a NaN guard or a sentinel;
//   - under checkptr (-race) an access outside the slice's allocation aborts, and the second
//     run, on separately allocated slices of exactly the operands' sizes, leaves no slack
//     after them.
func runSmallNoSIMDInBounds[I, O any](t *testing.T, c smallNoSIMDCase, rng *rand.Rand,
	fromF64 func(float64) I, toF64I func(I) float64, toF64O func(O) float64, fromF64O func(float64) O,
	kernel func(lhs, rhs []I, batchStart, batchCount, lhsCross, rhsCross, contracting int, output []O, transposed bool),
	tolerance float64) {
	t.Helper()
	lhsSize := c.batchSize * c.lhsCross * c.contracting
	rhsSize := c.batchSize * c.contracting * c.rhsCross
	outSize := c.batchSize * c.lhsCross * c.rhsCross
	nanI, nanO := fromF64(math.NaN()), fromF64O(math.NaN())
	const sentinel = -12345

	for _, separate := range []bool{false, true} {
		lhs, lhsBacking := guarded(lhsSize, nanI)
		rhs, rhsBacking := guarded(rhsSize, nanI)
		output, outBacking := guarded(outSize, nanO)
		if separate {
			lhs, rhs, output = make([]I, lhsSize), make([]I, rhsSize), make([]O, outSize)
		}
		for i := range lhs {
			lhs[i] = fromF64(float64(rng.IntN(9) - 4))
		}
		for i := range rhs {
			rhs[i] = fromF64(float64(rng.IntN(9) - 4))
		}
		for i := range output {
			output[i] = fromF64O(sentinel)
		}

		kernel(lhs, rhs, c.batchStart, c.batchCount, c.lhsCross, c.rhsCross, c.contracting, output, c.transposed)

		for b := range c.batchSize {
			inChunk := b >= c.batchStart && b < c.batchStart+c.batchCount
			for i := range c.lhsCross {
				for j := range c.rhsCross {
					got := toF64O(output[(b*c.lhsCross+i)*c.rhsCross+j])
					if !inChunk {
						if got != sentinel {
							t.Fatalf("%s: output[%d,%d,%d] outside the chunk was written: %v", c, b, i, j, got)
						}
						continue
					}
					var want float64
					for k := range c.contracting {
						l := toF64I(lhs[(b*c.lhsCross+i)*c.contracting+k])
						var r float64
						if c.transposed {
							r = toF64I(rhs[(b*c.rhsCross+j)*c.contracting+k])
						} else {
							r = toF64I(rhs[(b*c.contracting+k)*c.rhsCross+j])
						}
						want += l * r
					}
					if math.IsNaN(got) || math.Abs(got-want) > tolerance {
						t.Fatalf("%s (separate=%v): output[%d,%d,%d] = %v, want %v (NaN: a guard was read)",
							c, separate, b, i, j, got, want)
					}
				}
			}
		}
		if separate {
			continue
		}
		for name, backing := range map[string][]I{"lhs": lhsBacking, "rhs": rhsBacking} {
			for _, g := range [][]I{backing[:guardLen], backing[len(backing)-guardLen:]} {
				for _, v := range g {
					if !math.IsNaN(toF64I(v)) {
						t.Fatalf("%s: %s guard written: %v", c, name, v)
					}
				}
			}
		}
		for _, g := range [][]O{outBacking[:guardLen], outBacking[len(outBacking)-guardLen:]} {
			for _, v := range g {
				if !math.IsNaN(toF64O(v)) {
					t.Fatalf("%s: output guard written: %v", c, v)
				}
			}
		}
	}
}

// TestSmallNoSIMDInBounds checks that the non-SIMD small kernels read only their operands and
// write only the chunk's output matrices, with the exact results, on slices with no slack
// (guards in the same backing array, or separate exact allocations). Run with -race it also
// checks the kernels' pointer arithmetic under checkptr.
func TestSmallNoSIMDInBounds(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 70))
	f32 := func(v float64) float32 { return float32(v) }
	f32to64 := func(v float32) float64 { return float64(v) }
	id := func(v float64) float64 { return v }
	for _, c := range smallNoSIMDCases() {
		runSmallNoSIMDInBounds(t, c, rng, f32, f32to64, f32to64, f32,
			func(lhs, rhs []float32, start, count, m, n, k int, out []float32, transposed bool) {
				if transposed {
					smallNoSIMDGenericTransposed(lhs, rhs, start, count, m, n, k, out)
				} else {
					smallNoSIMDGeneric(lhs, rhs, start, count, m, n, k, out)
				}
			}, 0)
		runSmallNoSIMDInBounds(t, c, rng, id, id, id, id,
			func(lhs, rhs []float64, start, count, m, n, k int, out []float64, transposed bool) {
				if transposed {
					smallNoSIMDGenericTransposed(lhs, rhs, start, count, m, n, k, out)
				} else {
					smallNoSIMDGeneric(lhs, rhs, start, count, m, n, k, out)
				}
			}, 0)
		runSmallNoSIMDInBounds(t, c, rng, float16.FromFloat64, func(v float16.Float16) float64 { return v.Float64() },
			f32to64, f32,
			func(lhs, rhs []float16.Float16, start, count, m, n, k int, out []float32, transposed bool) {
				if transposed {
					smallNoSIMDHalfPrecisionTransposed(lhs, rhs, start, count, m, n, k, out)
				} else {
					smallNoSIMDHalfPrecision(lhs, rhs, start, count, m, n, k, out)
				}
			}, 0)
		runSmallNoSIMDInBounds(t, c, rng, bfloat16.FromFloat64, func(v bfloat16.BFloat16) float64 { return v.Float64() },
			f32to64, f32,
			func(lhs, rhs []bfloat16.BFloat16, start, count, m, n, k int, out []float32, transposed bool) {
				if transposed {
					smallNoSIMDHalfPrecisionTransposed(lhs, rhs, start, count, m, n, k, out)
				} else {
					smallNoSIMDHalfPrecision(lhs, rhs, start, count, m, n, k, out)
				}
			}, 0)
	}
}

// TestSmallNoSIMDChunkOutsideSlices checks that a chunk reaching past the operands panics
// instead of reading or writing past them (the check used to ignore batchStart).
func TestSmallNoSIMDChunkOutsideSlices(t *testing.T) {
	lhs, rhs, out := make([]float32, 2*3*4), make([]float32, 2*4*5), make([]float32, 2*3*5)
	for _, transposed := range []bool{false, true} {
		// Two matrices starting at -1, 1 or 2: each leaves the two-matrix operands.
		for _, start := range []int{-1, 1, 2} {
			assertPanics(t, fmt.Sprintf("transposed=%v start=%d", transposed, start), func() {
				if transposed {
					smallNoSIMDGenericTransposed(lhs, rhs, start, 2, 3, 5, 4, out)
				} else {
					smallNoSIMDGeneric(lhs, rhs, start, 2, 3, 5, 4, out)
				}
			})
		}
	}
}

func assertPanics(t *testing.T, name string, f func()) {
	t.Helper()
	defer func() {
		if recover() == nil {
			t.Errorf("%s: no panic", name)
		}
	}()
	f()
}
