package synth

import (
	"math"
	"math/rand/v2"

	"github.com/biopipe/biopipe/dataset"
	"github.com/biopipe/biopipe/models"
)

// Sines returns n sequences [steps, channels] of a noisy sinusoid with random phase and
// per-channel amplitude: class 0 oscillates slowly (2-4 cycles over the sequence), class 1
// fast (6-9 cycles), with unit-variance Gaussian noise scaled by noise. Labels alternate.
// A linear model of the samples cannot tell them apart (the phase is random); a temporal
// convolution or a recurrent network can.
func Sines(n, steps, channels int, noise float64, seed uint64) *models.Data {
	r := rand.New(rand.NewPCG(seed, 4))
	size := steps * channels
	d := &models.Data{X: &dataset.Matrix{N: n, Shape: []int{steps, channels}, X: make([]float32, n*size)}}
	for i := range n {
		c := i % 2
		d.Classes = append(d.Classes, c)
		cycles := 2 + 2*r.Float64()
		if c == 1 {
			cycles = 6 + 3*r.Float64()
		}
		phase := 2 * math.Pi * r.Float64()
		amp := make([]float64, channels)
		for k := range amp {
			amp[k] = 0.5 + r.Float64()
		}
		x := d.X.X[i*size : (i+1)*size]
		for t := range steps {
			s := math.Sin(2*math.Pi*cycles*float64(t)/float64(steps) + phase)
			for k := range channels {
				x[t*channels+k] = float32(amp[k]*s + noise*r.NormFloat64())
			}
		}
	}
	return d
}
