package evaluation

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func gaussian(n, d int, mean, sd float64, seed uint64) [][]float64 {
	r := rand.New(rand.NewPCG(seed, 1))
	out := make([][]float64, n)
	for i := range out {
		out[i] = make([]float64, d)
		for j := range out[i] {
			out[i][j] = mean + sd*r.NormFloat64()
		}
	}
	return out
}

func TestFrechetDistance(t *testing.T) {
	// Independent axes: d * ((m1-m2)^2 + (s1-s2)^2) for large samples.
	a, b := gaussian(20000, 3, 0, 1, 1), gaussian(20000, 3, 1, 2, 2)
	fd, err := FrechetDistance(a, b)
	require.NoError(t, err)
	assert.InDelta(t, 3*(1+1), fd, 0.15)
	same, err := FrechetDistance(a, a)
	require.NoError(t, err)
	assert.InDelta(t, 0, same, 1e-6)
	_, err = FrechetDistance(a[:1], b)
	assert.Error(t, err)
}

func TestSampleQuality(t *testing.T) {
	onehot := func(c int, p float64) []float64 {
		v := []float64{(1 - p) / 2, (1 - p) / 2, (1 - p) / 2}
		v[c] = p
		return v
	}
	real := ClassifierView{Probs: [][]float64{onehot(0, .9), onehot(1, .9), onehot(2, .9), onehot(0, .9)}}
	// Generated: only classes 0 and 1, less confident.
	gen := ClassifierView{Probs: [][]float64{onehot(0, .6), onehot(1, .8), onehot(0, .7), onehot(1, .5)}}
	g, r, err := SampleQuality(gen, real, 3)
	require.NoError(t, err)
	assert.InDelta(t, 0.65, g.Confidence, 1e-12)
	assert.Equal(t, 2, g.Coverage)
	assert.Equal(t, 3, r.Coverage)
	assert.InDelta(t, 0.9, r.Confidence, 1e-12)
	assert.InDelta(t, 0.5*math.Log(0.5/0.5)+0.5*math.Log(0.5/0.25), g.KL, 1e-4)
	assert.Zero(t, r.KL)
	assert.Nil(t, g.FID, "no features, no Fréchet distance")
	_, _, err = SampleQuality(ClassifierView{Probs: [][]float64{{1, 0}}}, real, 3)
	assert.ErrorContains(t, err, "2 class probabilities")
}
