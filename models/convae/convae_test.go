package convae_test

import (
	"context"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/biopipe/biopipe/dataset"
	"github.com/biopipe/biopipe/models"
	"github.com/biopipe/biopipe/models/convae"
)

// blobs returns n examples of the given shape [spatial..., 1] in [0, 1]: one bright square
// of side 2 at a random position on a dark background.
func blobs(n int, shape []int, seed uint64) *models.Data {
	r := rand.New(rand.NewPCG(seed, 5))
	size := dataset.TensorSize(shape)
	d := &models.Data{X: &dataset.Matrix{N: n, Shape: shape, X: make([]float32, n*size)}}
	sp := shape[:len(shape)-1]
	for i := range n {
		img := d.X.X[i*size : (i+1)*size]
		at := make([]int, len(sp))
		for a, s := range sp {
			at[a] = r.IntN(s - 1)
		}
		for p := range size {
			idx, in := p, true
			for a := len(sp) - 1; a >= 0; a-- {
				c := idx % sp[a]
				idx /= sp[a]
				if c < at[a] || c > at[a]+1 {
					in = false
				}
			}
			if in {
				img[p] = 1
			}
		}
	}
	return d
}

func train(t *testing.T, family string, shape []int, params map[string]any, epochs int) *models.Result {
	t.Helper()
	res, err := models.Train(context.Background(), models.TrainOptions{
		Family: family, Params: params, Train: blobs(128, shape, 1), Val: blobs(32, shape, 2),
		Epochs: epochs, BatchSize: 32, Seed: 3, Optimizer: models.OptimizerConfig{LearningRate: 0.005},
	})
	require.NoError(t, err)
	return res
}

func TestConvAutoencoderLearns(t *testing.T) {
	cases := []struct {
		name   string
		shape  []int
		params map[string]any
	}{
		{"image mse", []int{8, 8, 1}, map[string]any{"channels": []any{8, 16}, "latent_dim": 8}},
		{"image odd size bce", []int{7, 6, 1}, map[string]any{"channels": []any{8, 8}, "latent_dim": 8, "loss": "bce"}},
		{"volume", []int{4, 4, 4, 1}, map[string]any{"channels": []any{4}, "latent_dim": 4}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			res := train(t, convae.ConvAutoencoder, tc.shape, tc.params, 6)
			h := res.History.Epochs
			first, last := *h[0].ValMSE, *res.Card.Final.ValMSE
			t.Logf("val mse %.4f -> %.4f", first, last)
			assert.Less(t, last, first, "training lowers the reconstruction error")
			x := blobs(3, tc.shape, 9).X
			outs, err := res.Trained.Outputs(context.Background(), x)
			require.NoError(t, err)
			require.Len(t, outs[0].Values, 3)
			assert.Len(t, outs[0].Values[0], dataset.TensorSize(tc.shape))
			assert.Equal(t, "latent", outs[1].Name)
			assert.False(t, res.Trained.CanSample(), "a plain autoencoder has no prior to sample")
		})
	}
}

func TestConvVAESamples(t *testing.T) {
	res := train(t, convae.ConvVAE, []int{8, 8, 1}, map[string]any{"channels": []any{8, 16}, "latent_dim": 4, "loss": "bce"}, 3)
	m := res.Trained
	require.True(t, m.CanSample())
	a, err := m.Sample(context.Background(), 5, nil, 11)
	require.NoError(t, err)
	b, err := m.Sample(context.Background(), 5, nil, 11)
	require.NoError(t, err)
	assert.Equal(t, []int{8, 8, 1}, a.Shape)
	assert.Equal(t, a.X, b.X, "same seed, same samples, bit for bit")
	for _, v := range a.X {
		require.True(t, v >= 0 && v <= 1, "bce output is a probability")
	}
	z := &dataset.Matrix{N: 2, Shape: []int{4}, X: make([]float32, 8)}
	dec, err := m.SampleFrom(context.Background(), z, nil, 0)
	require.NoError(t, err)
	assert.Equal(t, dec.X[:64], dec.X[64:], "the same code decodes to the same image")
	_, err = m.Sample(context.Background(), 2, []int{0, 1}, 1)
	assert.ErrorContains(t, err, "not class-conditional")
}

func TestConvAEErrors(t *testing.T) {
	_, err := models.Train(context.Background(), models.TrainOptions{
		Family: convae.ConvAutoencoder, Train: &models.Data{X: &dataset.Matrix{N: 2, Shape: []int{4}, X: make([]float32, 8)}},
		Epochs: 1, BatchSize: 2,
	})
	assert.ErrorContains(t, err, "want an image [H, W, C] or a volume")
}
