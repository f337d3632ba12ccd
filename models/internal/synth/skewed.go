package synth

import (
	"math"
	"math/rand/v2"

	"github.com/biopipe/biopipe/dataset"
	"github.com/biopipe/biopipe/models"
)

// SkewedSines returns n bucketed sequences (Matrix.Lengths set) of channels channels, the
// task of Sines on sequences of varied length (at least half the first bucket): row i has
// a true length drawn so that about half the rows fit the first bucket, a quarter the
// second, and so on (the last bucket takes the rest), the sinusoid over its true length, zeros
// after it up to the largest bucket; its Lengths entry is the smallest bucket that holds
// it. buckets must increase. The frequency is per sample (slow: 0.03-0.06 cycles, fast:
// 0.15-0.25), so a class looks the same at any length.
func SkewedSines(n int, buckets []int, channels int, noise float64, seed uint64) *models.Data {
	r := rand.New(rand.NewPCG(seed, 5))
	lmax := buckets[len(buckets)-1]
	size := lmax * channels
	d := &models.Data{X: &dataset.Matrix{N: n, Shape: []int{lmax, channels}, X: make([]float32, n*size), Lengths: make([]int, n)}}
	for i := range n {
		b := 0
		for b < len(buckets)-1 && r.Float64() < 0.5 {
			b++
		}
		lo := buckets[0]/2 + 1 // no sequence too short to show its frequency
		if b > 0 {
			lo = buckets[b-1] + 1
		}
		steps := lo + r.IntN(buckets[b]-lo+1)
		d.X.Lengths[i] = buckets[b]
		c := i % 2
		d.Classes = append(d.Classes, c)
		freq := 0.03 + 0.03*r.Float64() // cycles per sample
		if c == 1 {
			freq = 0.15 + 0.1*r.Float64()
		}
		phase := 2 * math.Pi * r.Float64()
		x := d.X.X[i*size : (i+1)*size]
		for t := range steps {
			s := math.Sin(2*math.Pi*freq*float64(t) + phase)
			for k := range channels {
				x[t*channels+k] = float32(s + noise*r.NormFloat64())
			}
		}
	}
	return d
}
