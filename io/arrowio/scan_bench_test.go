package arrowio

import (
	"math/rand/v2"
	"strconv"
	"testing"
)

func benchFloats() [][]byte {
	rng := rand.New(rand.NewPCG(1, 2))
	out := make([][]byte, 4096)
	for i := range out {
		out[i] = strconv.AppendFloat(nil, rng.NormFloat64()*100, 'g', 6, 64)
	}
	return out
}

func BenchmarkScanFloat(b *testing.B) {
	in := benchFloats()
	var s float64
	for b.Loop() {
		for _, v := range in {
			f, _, _ := scanFloat(v, 0)
			s += f
		}
	}
	_ = s
}

func BenchmarkStrconvParseFloat(b *testing.B) {
	in := benchFloats()
	var s float64
	for b.Loop() {
		for _, v := range in {
			f, _ := strconv.ParseFloat(string(v), 64)
			s += f
		}
	}
	_ = s
}
