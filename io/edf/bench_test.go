package edf

import (
	"math"
	"math/rand/v2"
	"testing"
)

// BenchmarkDecode16 measures the 16-bit sample decoding loop (bytes -> float32 physical).
func BenchmarkDecode16(b *testing.B) {
	raw := make([]byte, 2*1<<20)
	rng := rand.New(rand.NewPCG(1, 1))
	for i := range raw {
		raw[i] = byte(rng.IntN(256))
	}
	out := make([]float32, 1<<20)
	sh := SignalHeader{PhysicalMin: -3276.8, PhysicalMax: 3276.7, DigitalMin: -32768, DigitalMax: 32767}
	b.SetBytes(int64(len(raw)))
	for b.Loop() {
		decode(out, raw, 2, sh.Gain(), sh.Offset())
	}
}

func BenchmarkDecode16Scalar(b *testing.B) {
	raw := make([]byte, 2*1<<20)
	out := make([]float32, 1<<20)
	b.SetBytes(int64(len(raw)))
	for b.Loop() {
		decode16Scalar(out, raw, 0.1, 0.05)
	}
}

// TestDecode16MatchesScalar: the vector loop gives the scalar loop's values bit for bit.
func TestDecode16MatchesScalar(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for _, n := range []int{0, 1, 7, 8, 9, 31, 1000} {
		raw := make([]byte, 2*n)
		for i := range raw {
			raw[i] = byte(rng.IntN(256))
		}
		for _, go_ := range [][2]float64{{0.1, 0.05}, {1.0 / 65535 * 1000, 500.0076}, {3.14e-5, -2.5}} {
			a, b := make([]float32, n), make([]float32, n)
			decode16(a, raw, go_[0], go_[1])
			decode16Scalar(b, raw, go_[0], go_[1])
			for i := range a {
				if math.Float32bits(a[i]) != math.Float32bits(b[i]) {
					t.Fatalf("n=%d sample %d: %v != %v", n, i, a[i], b[i])
				}
			}
		}
	}
}
