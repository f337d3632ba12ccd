package autoencoder_test

import (
	"context"
	"math"
	"math/rand/v2"
	"path/filepath"
	"testing"

	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/biopipe/biopipe/dataset"
	"github.com/biopipe/biopipe/models"
	"github.com/biopipe/biopipe/models/autoencoder"
	"github.com/biopipe/biopipe/models/internal/synth"
)

// lowRank returns n rows of rank-k data in dim dimensions (x = z·W + small noise, z standard
// normal, W scaled so each value has variance about 1), with class = sign of z0.
func lowRank(n, dim, k int, seed uint64) *models.Data {
	r := rand.New(rand.NewPCG(7, 11)) // the same W for every seed
	w := make([]float64, k*dim)
	for i := range w {
		w[i] = r.NormFloat64() / math.Sqrt(float64(k))
	}
	r = rand.New(rand.NewPCG(seed, 3))
	d := &models.Data{X: &dataset.Matrix{N: n, Shape: []int{dim}, X: make([]float32, n*dim)}}
	z := make([]float64, k)
	for i := range n {
		for j := range z {
			z[j] = r.NormFloat64()
		}
		for c := range dim {
			v := 0.05 * r.NormFloat64()
			for j := range z {
				v += z[j] * w[j*dim+c]
			}
			d.X.X[i*dim+c] = float32(v)
		}
		cls := 0
		if z[0] > 0 {
			cls = 1
		}
		d.Classes = append(d.Classes, cls)
	}
	return d
}

func variance(x []float32) float64 {
	var s, ss float64
	for _, v := range x {
		s += float64(v)
	}
	m := s / float64(len(x))
	for _, v := range x {
		ss += (float64(v) - m) * (float64(v) - m)
	}
	return ss / float64(len(x))
}

func mse(a []float32, rows [][]float32) float64 {
	var s float64
	n := 0
	for _, r := range rows {
		for _, v := range r {
			d := float64(v) - float64(a[n])
			s += d * d
			n++
		}
	}
	return s / float64(n)
}

func TestLearnsLowRankData(t *testing.T) {
	ctx := context.Background()
	train, val := lowRank(512, 24, 3, 1), lowRank(128, 24, 3, 2)
	v := variance(val.X.X)
	for _, tc := range []struct {
		name   string
		family string
		params map[string]any
		maxMSE float64 // as a share of the data's variance
	}{
		{"autoencoder", "autoencoder", map[string]any{"hidden": []any{32}, "latent_dim": 3}, 0.1},
		{"denoising", "autoencoder", map[string]any{"hidden": []any{32}, "latent_dim": 3, "input_noise": 0.1, "input_dropout": 0.05, "activation": "tanh"}, 0.15},
		{"vae", "vae", map[string]any{"hidden": []any{32}, "latent_dim": 3, "beta": 0.5, "kl_warmup_steps": 100}, 0.2},
		{"layer norm, maxout", "autoencoder", map[string]any{"hidden": []any{32}, "latent_dim": 3, "normalization": "layer", "activation": "maxout"}, 0.15},
		{"batch norm vae", "vae", map[string]any{"hidden": []any{32}, "latent_dim": 3, "beta": 0.5, "normalization": "batch"}, 0.2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res, err := models.Train(ctx, models.TrainOptions{
				Family: tc.family, Params: tc.params, Train: train, Val: val,
				Epochs: 60, BatchSize: 32, Seed: 1, Optimizer: models.OptimizerConfig{LearningRate: 3e-3},
			})
			require.NoError(t, err)
			assert.Equal(t, models.Reconstruction, res.Card.Task)
			outs, err := res.Trained.Outputs(ctx, val.X)
			require.NoError(t, err)
			require.GreaterOrEqual(t, len(outs), 2)
			assert.Equal(t, "reconstruction", outs[0].Name)
			assert.Equal(t, "latent", outs[1].Name)
			assert.Equal(t, []int{3}, outs[1].Shape)
			got := mse(val.X.X, outs[0].Values)
			t.Logf("%s: val MSE %.4f, variance %.4f (share %.3f)", tc.family, got, v, got/v)
			assert.Less(t, got, tc.maxMSE*v, "reconstruction error should drop well below the data's variance")
			first := res.History.Epochs[0].TrainLoss
			last := res.History.Epochs[len(res.History.Epochs)-1].TrainLoss
			assert.Less(t, last, first/3, "training loss should fall")
		})
	}
}

func TestDeterministicAndReloadable(t *testing.T) {
	ctx := context.Background()
	train, val := lowRank(128, 12, 2, 1), lowRank(40, 12, 2, 2)
	for _, fam := range []string{"autoencoder", "vae"} {
		t.Run(fam, func(t *testing.T) {
			run := func(dir string) ([]models.Output, *models.Result) {
				res, err := models.Train(ctx, models.TrainOptions{
					Family: fam, Params: map[string]any{"hidden": []any{8}, "latent_dim": 2, "input_noise": 0.2},
					Train: train, Val: val, Epochs: 3, BatchSize: 16, Seed: 5, OutDir: dir,
				})
				require.NoError(t, err)
				outs, err := res.Trained.Outputs(ctx, val.X)
				require.NoError(t, err)
				return outs, res
			}
			dir := t.TempDir()
			a, ra := run(dir)
			b, rb := run("")
			assert.Equal(t, a, b, "same seed, same outputs bit for bit")
			assert.Equal(t, ra.History.Epochs[2].TrainLoss, rb.History.Epochs[2].TrainLoss)

			loaded, err := models.Load(dir, "")
			require.NoError(t, err)
			c, err := loaded.Outputs(ctx, val.X)
			require.NoError(t, err)
			assert.Equal(t, a, c, "a reloaded model gives the same outputs")
			assert.Equal(t, ra.Card.Outputs, loaded.Card().Outputs)
		})
	}
}

func TestVAEKLTerm(t *testing.T) {
	backend, err := models.NewBackend("go")
	require.NoError(t, err)
	// Known values: N(0,1) has KL 0; mean 1 adds 0.5 per dim; logVar l adds 0.5(e^l - 1 - l).
	mean := tensors.FromValue([][]float32{{0, 0}, {1, 0}, {0, 0}})
	logVar := tensors.FromValue([][]float32{{0, 0}, {0, 0}, {1, -1}})
	out, err := graph.ExecOnce(backend, autoencoder.KL, mean, logVar)
	require.NoError(t, err)
	got := tensors.MustCopyFlatData[float32](out)
	want := 0.5*(math.E-2) + 0.5*(math.Exp(-1))
	assert.InDeltaSlice(t, []float32{0, 0.5, float32(want)}, got, 1e-5)

	// A trained VAE's posterior: KL finite and positive, and a larger beta pulls it towards the prior.
	ctx := context.Background()
	train := lowRank(256, 16, 2, 1)
	kl := func(beta float64) float64 {
		res, err := models.Train(ctx, models.TrainOptions{
			Family: "vae", Params: map[string]any{"hidden": []any{16}, "latent_dim": 2, "beta": beta},
			Train: train, Epochs: 15, BatchSize: 32, Seed: 3, Optimizer: models.OptimizerConfig{LearningRate: 3e-3},
		})
		require.NoError(t, err)
		require.Equal(t, []string{"reconstruction", "latent", "log_variance"}, res.Card.Outputs)
		outs, err := res.Trained.Outputs(ctx, train.X)
		require.NoError(t, err)
		var s float64
		for i := range outs[1].Values {
			for j, m := range outs[1].Values[i] {
				l := float64(outs[2].Values[i][j])
				s += 0.5 * (math.Exp(l) + float64(m)*float64(m) - 1 - l)
			}
		}
		s /= float64(len(outs[1].Values))
		require.False(t, math.IsNaN(s) || math.IsInf(s, 0), "KL is %v", s)
		return s
	}
	low, high := kl(0.1), kl(10)
	t.Logf("mean KL per example: beta 0.1 -> %.3f, beta 10 -> %.3f", low, high)
	assert.Greater(t, low, 0.0)
	assert.Greater(t, high, 0.0)
	assert.Less(t, high, low)
}

func TestEncoderFineTunesFromVAE(t *testing.T) {
	ctx := context.Background()
	train, val := lowRank(256, 16, 2, 1), lowRank(64, 16, 2, 2)
	dir := t.TempDir()
	params := map[string]any{"hidden": []any{16}, "latent_dim": 2}
	_, err := models.Train(ctx, models.TrainOptions{
		Family: "vae", Params: params, Train: train, Epochs: 5, BatchSize: 32, Seed: 1, OutDir: dir,
	})
	require.NoError(t, err)
	res, err := models.Train(ctx, models.TrainOptions{
		Family: "encoder", Params: map[string]any{"hidden": []any{16}, "latent_dim": 2, "head": []any{4}},
		Train: train, Val: val, Task: models.Classification, Classes: []string{"neg", "pos"},
		Epochs: 20, BatchSize: 32, Seed: 1, InitFrom: filepath.Join(dir, models.CheckpointDir),
		Optimizer: models.OptimizerConfig{LearningRate: 3e-3},
	})
	require.NoError(t, err)
	rep := res.Card.InitFrom
	require.NotNil(t, rep)
	assert.ElementsMatch(t, []string{
		"/model/encoder/dense_0/dense/biases", "/model/encoder/dense_0/dense/weights",
		"/model/encoder/latent/dense/biases", "/model/encoder/latent/dense/weights",
	}, rep.Loaded)
	assert.NotEmpty(t, rep.Fresh, "the head starts fresh")
	assert.NotEmpty(t, rep.Unused, "the decoder and log-variance are not used")
	require.NotNil(t, res.Card.Final.ValAccuracy)
	assert.Greater(t, *res.Card.Final.ValAccuracy, 0.85)
	_, err = models.Train(ctx, models.TrainOptions{
		Family: "encoder", Params: params, Train: train, Task: models.Reconstruction, Epochs: 1, BatchSize: 32,
	})
	assert.ErrorContains(t, err, "not supported")
}

func TestParams(t *testing.T) {
	for _, fam := range []string{"autoencoder", "vae", "encoder"} {
		f, err := models.Get(fam)
		require.NoError(t, err)
		_, err = f.ResolveParams(map[string]any{"latent_dim": 0})
		assert.ErrorContains(t, err, "latent_dim", fam)
		_, err = f.ResolveParams(map[string]any{"hidden": []any{0}})
		assert.ErrorContains(t, err, "below the minimum", fam)
	}
	f, _ := models.Get("vae")
	_, err := f.ResolveParams(map[string]any{"beta": -1.0})
	assert.ErrorContains(t, err, "beta")
	// The blobs helper is shared with the other families' tests; the autoencoder ignores labels.
	_, err = models.Train(context.Background(), models.TrainOptions{
		Family: "autoencoder", Params: map[string]any{"hidden": []any{4}, "latent_dim": 2},
		Train: synth.Blobs(32, 6, 2, 1), Task: models.Classification, Classes: []string{"a", "b"}, Epochs: 1, BatchSize: 8,
	})
	assert.NoError(t, err)
}

func TestVAEKLWarmup(t *testing.T) {
	// During warm-up the KL weight starts at 0, so the first epoch's training loss is lower
	// than with the full beta from the start; validation always uses the full beta.
	ctx := context.Background()
	train, val := lowRank(128, 12, 2, 1), lowRank(32, 12, 2, 2)
	first := func(warmup int) models.EpochRecord {
		res, err := models.Train(ctx, models.TrainOptions{
			Family: "vae", Params: map[string]any{"hidden": []any{8}, "latent_dim": 2, "beta": 5.0, "kl_warmup_steps": warmup},
			Train: train, Val: val, Epochs: 1, BatchSize: 16, Seed: 2,
		})
		require.NoError(t, err)
		return res.History.Epochs[0]
	}
	plain, warm := first(0), first(1000)
	assert.Less(t, warm.TrainLoss, plain.TrainLoss)
	require.NotNil(t, warm.ValLoss)
	assert.Greater(t, *warm.ValLoss, *warm.ValMSE, "validation loss includes the KL term")
}
