package ops

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

// The vector forms of the float32 Tanh and Logistic kernels (AVX512) give the scalar
// kernels' bits on every input of float32Inputs (special values, range edges, subnormals,
// random bit patterns), shuffled so that blocks mix fast-path and fallback lanes, at every
// start offset within a block, and in place.
func TestFloat32TanhLogisticBlocks(t *testing.T) {
	if tanhFloat32Blocks == nil || logisticFloat32Blocks == nil {
		t.Skip("no vector kernels in this build (needs amd64, GOEXPERIMENT=simd and AVX512)")
	}
	xs := float32Inputs()
	rng := rand.New(rand.NewPCG(7, 62))
	shuffled := slices.Clone(xs)
	rng.Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
	for _, tc := range []struct {
		name   string
		blocks func(in, out []float32) int
		scalar func(in, out []float32)
		kernel func(in, out []float32)
	}{
		{"tanh", tanhFloat32Blocks, tanhFloat32Scalar, tanhFloat32},
		{"logistic", logisticFloat32Blocks, logisticFloat32Scalar, logisticFloat32},
	} {
		for _, in := range [][]float32{xs, shuffled} {
			want := make([]float32, len(in))
			tc.scalar(in, want)
			for offset := range 16 {
				got := make([]float32, len(in))
				done := tc.blocks(in[offset:], got[offset:])
				if n := len(in) - offset; done != n&^15 {
					t.Fatalf("%s: %d of %d elements done, want %d", tc.name, done, n, n&^15)
				}
				tc.scalar(in[offset+done:], got[offset+done:])
				tc.scalar(in[:offset], got[:offset])
				for i := range want {
					if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
						t.Fatalf("%s(%g) offset %d: %g (bits %08x), scalar %g (bits %08x)", tc.name, in[i], offset,
							got[i], math.Float32bits(got[i]), want[i], math.Float32bits(want[i]))
					}
				}
			}
			inPlace := slices.Clone(in[:len(in)-5])
			tc.kernel(inPlace, inPlace)
			for i, v := range inPlace {
				if math.Float32bits(v) != math.Float32bits(want[i]) {
					t.Fatalf("%s(%g) in place: %g, want %g", tc.name, in[i], v, want[i])
				}
			}
		}
	}
}
