package diffusion_test

import (
	"context"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/biopipe/biopipe/dataset"
	"github.com/biopipe/biopipe/models"
	"github.com/biopipe/biopipe/models/diffusion"
)

// bars returns n images [8, 8, 1] in [0, 1] of one bar: class 0 vertical, class 1
// horizontal, at a random position.
func bars(n int, seed uint64) *models.Data {
	r := rand.New(rand.NewPCG(seed, 3))
	const size = 8
	d := &models.Data{X: &dataset.Matrix{N: n, Shape: []int{size, size, 1}, X: make([]float32, n*size*size)}}
	for i := range n {
		c := i % 2
		d.Classes = append(d.Classes, c)
		img := d.X.X[i*size*size : (i+1)*size*size]
		pos := r.IntN(size)
		for k := range size {
			if c == 0 {
				img[k*size+pos] = 1
			} else {
				img[pos*size+k] = 1
			}
		}
	}
	return d
}

func opts(out string, params map[string]any) models.TrainOptions {
	return models.TrainOptions{
		Family: diffusion.Family, Params: params, Train: bars(96, 1), Val: bars(32, 2),
		Classes: []string{"vertical", "horizontal"}, Epochs: 3, BatchSize: 32, Seed: 5, OutDir: out,
		Optimizer: models.OptimizerConfig{LearningRate: 0.003},
	}
}

// TestSameSeedSameSamples: two trainings and samplings with the same seed on the go
// backend give the same samples bit for bit, and a saved model samples the same again.
func TestSameSeedSameSamples(t *testing.T) {
	params := map[string]any{"channels": []any{8, 16}, "timesteps": 20, "embedding_dim": 16, "conditional": true, "guidance": 1.0}
	var runs [][]float32
	dir := t.TempDir()
	for i := range 2 {
		out := ""
		if i == 0 {
			out = dir
		}
		res, err := models.Train(context.Background(), opts(out, params))
		require.NoError(t, err)
		h := res.History.Epochs
		require.NotNil(t, h[len(h)-1].ValLoss, "the noise-prediction loss is validated")
		assert.Less(t, h[len(h)-1].TrainLoss, h[0].TrainLoss, "the noise-prediction loss falls")
		s, err := res.Trained.Sample(context.Background(), 6, nil, 9)
		require.NoError(t, err)
		require.Equal(t, []int{8, 8, 1}, s.Shape)
		runs = append(runs, s.X)
	}
	assert.Equal(t, runs[0], runs[1], "same seed, same samples")
	m, err := models.Load(dir, "")
	require.NoError(t, err)
	require.True(t, m.Conditional())
	s, err := m.Sample(context.Background(), 6, nil, 9)
	require.NoError(t, err)
	assert.Equal(t, runs[0], s.X, "a loaded model samples the same")
	other, err := m.Sample(context.Background(), 6, nil, 10)
	require.NoError(t, err)
	assert.NotEqual(t, runs[0], other.X, "another seed, other samples")
	_, err = m.Sample(context.Background(), 2, []int{0, 2}, 1)
	assert.ErrorContains(t, err, "out of range")
}

func TestDiffusionSchedulesAndErrors(t *testing.T) {
	for _, sched := range []string{"linear", "cosine"} {
		o := opts("", map[string]any{"channels": []any{8}, "timesteps": 10, "schedule": sched, "embedding_dim": 8})
		o.Epochs, o.Classes = 1, nil
		res, err := models.Train(context.Background(), o)
		require.NoError(t, err, sched)
		s, err := res.Trained.Sample(context.Background(), 3, nil, 1)
		require.NoError(t, err)
		for _, v := range s.X {
			require.True(t, v >= 0 && v <= 1, "%s: samples are in the data range [0, 1], got %v", sched, v)
		}
	}
	o := opts("", map[string]any{"guidance": 1.0})
	_, err := models.Train(context.Background(), o)
	assert.ErrorContains(t, err, "guidance needs conditional: true")
	o = opts("", map[string]any{"conditional": true})
	o.Classes = nil
	o.Train.Classes = nil
	_, err = models.Train(context.Background(), o)
	assert.ErrorContains(t, err, "needs class labels")
}
