package edf

import (
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
