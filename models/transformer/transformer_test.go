package transformer_test

import (
	"context"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/biopipe/biopipe/dataset"
	"github.com/biopipe/biopipe/models"
	"github.com/biopipe/biopipe/models/internal/synth"
	"github.com/biopipe/biopipe/models/transformer"
)

func train(t *testing.T, params map[string]any, data, val *models.Data, epochs int) *models.Result {
	t.Helper()
	res, err := models.Train(context.Background(), models.TrainOptions{
		Family: transformer.Family, Params: params, Train: data, Val: val, Task: models.Classification,
		Classes: []string{"slow", "fast"}, Epochs: epochs, BatchSize: 32, Seed: 7,
		Optimizer: models.OptimizerConfig{Name: models.OptAdam, LearningRate: 0.003},
	})
	require.NoError(t, err)
	return res
}

func TestLearnsSineFrequency(t *testing.T) {
	params := map[string]any{"units": 16, "heads": 2, "layers": 1, "patch_size": 4}
	res := train(t, params, synth.Sines(256, 64, 2, 0.3, 1), nil, 12)
	acc := synth.Accuracy(t, res, synth.Sines(200, 64, 2, 0.3, 2))
	t.Logf("test accuracy %.3f", acc)
	assert.GreaterOrEqual(t, acc, 0.9)
}

func TestVariants(t *testing.T) {
	cases := []struct {
		name   string
		params map[string]any
		shape  []int
	}{
		{"two blocks dropout hidden", map[string]any{"units": 8, "heads": 2, "dropout": 0.2, "hidden": []any{4}}, []int{16, 3}},
		{"front end, patch remainder dropped", map[string]any{"units": 4, "heads": 1, "layers": 1, "channels": []any{4}, "patch_size": 3, "activation": "relu"}, []int{21, 2}},
		{"[T] input, one token", map[string]any{"units": 4, "heads": 4, "layers": 1, "patch_size": 5}, []int{5}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			size := dataset.TensorSize(c.shape)
			r := rand.New(rand.NewPCG(5, 5))
			d := &models.Data{X: &dataset.Matrix{N: 24, Shape: c.shape, X: make([]float32, 24*size)}}
			for i := range d.X.X {
				d.X.X[i] = float32(r.NormFloat64())
			}
			for i := range 24 {
				d.Classes = append(d.Classes, i%2)
			}
			res := train(t, c.params, d, d, 2)
			p, err := res.Trained.Predict(context.Background(), d.X)
			require.NoError(t, err)
			require.Len(t, p, 24)
			assert.Len(t, p[0], 2)
			assert.InDelta(t, 1, p[0][0]+p[0][1], 1e-5)
		})
	}
}

func TestParameterCountAndTokens(t *testing.T) {
	const c, u, patch, steps = 3, 8, 4, 16
	d := synth.Sines(8, steps, c, 0.1, 1)
	res := train(t, map[string]any{"units": u, "heads": 2, "layers": 1, "patch_size": patch, "ff_multiplier": 2}, d, nil, 1)
	n := steps / patch
	want := (patch*c*u + u) + n*u + // embedding, positions
		2*u + 3*(u*u+u) + (u*u + u) + // attention: norm, q/k/v, output
		2*u + (u*2*u + 2*u) + (2*u*u + u) + // feed-forward: norm, in, out
		2*u + (u*2 + 2) // final norm, output layer
	assert.Equal(t, want, res.Card.NumParameters)

	f, err := models.Get(transformer.Family)
	require.NoError(t, err)
	for _, tc := range []struct {
		params map[string]any
		in     int
		want   int
	}{
		{map[string]any{}, 128, 32},
		{map[string]any{"patch_size": 8}, 130, 16},
		{map[string]any{"channels": []any{8, 8}, "pool_size": 4}, 128, 2},
	} {
		p, err := f.ResolveParams(tc.params)
		require.NoError(t, err)
		assert.Equal(t, tc.want, transformer.Tokens(tc.in, p), "%v on %d samples", tc.params, tc.in)
	}
}

func TestDeterministic(t *testing.T) {
	d, v := synth.Sines(64, 16, 2, 0.5, 3), synth.Sines(32, 16, 2, 0.5, 4)
	params := map[string]any{"units": 8, "heads": 2, "dropout": 0.1}
	a := train(t, params, d, v, 2)
	b := train(t, params, d, v, 2)
	pa, err := a.Trained.Predict(context.Background(), v.X)
	require.NoError(t, err)
	pb, err := b.Trained.Predict(context.Background(), v.X)
	require.NoError(t, err)
	assert.Equal(t, pa, pb, "same seed, same data: same predictions bit for bit")
	assert.Equal(t, a.History.Epochs[1].TrainLoss, b.History.Epochs[1].TrainLoss)
}

func TestBuildErrors(t *testing.T) {
	f, err := models.Get(transformer.Family)
	require.NoError(t, err)
	spec := models.Spec{InputShape: []int{16, 2}, Task: models.Classification, NumClasses: 2}
	p, err := f.ResolveParams(nil)
	require.NoError(t, err)
	_, err = transformer.Build(models.Spec{InputShape: []int{8, 8, 1}, Task: models.Classification, NumClasses: 2}, p)
	assert.ErrorContains(t, err, "[T, C]")
	_, err = transformer.Build(models.Spec{InputShape: []int{8, 2}, Task: models.Reconstruction}, p)
	assert.ErrorContains(t, err, "unsupported task")
	p, err = f.ResolveParams(map[string]any{"units": 10, "heads": 4})
	require.NoError(t, err)
	_, err = transformer.Build(spec, p)
	assert.ErrorContains(t, err, "units 10 is not a multiple of heads 4")
	p, err = f.ResolveParams(map[string]any{"patch_size": 32})
	require.NoError(t, err)
	_, err = transformer.Build(spec, p)
	assert.ErrorContains(t, err, "no token")
	p, err = f.ResolveParams(map[string]any{"patch_size": 1})
	require.NoError(t, err)
	_, err = transformer.Build(models.Spec{InputShape: []int{5000, 2}, Task: models.Classification, NumClasses: 2}, p)
	assert.ErrorContains(t, err, "at most 1024")
}
