package cnn1d_test

import (
	"context"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/biopipe/biopipe/dataset"
	"github.com/biopipe/biopipe/models"
	"github.com/biopipe/biopipe/models/cnn1d"
	"github.com/biopipe/biopipe/models/internal/synth"
)

func train(t *testing.T, params map[string]any, data, val *models.Data, epochs int) *models.Result {
	t.Helper()
	res, err := models.Train(context.Background(), models.TrainOptions{
		Family: cnn1d.Family, Params: params, Train: data, Val: val, Task: models.Classification,
		Classes: []string{"slow", "fast"}, Epochs: epochs, BatchSize: 32, Seed: 7,
		Optimizer: models.OptimizerConfig{Name: models.OptAdam, LearningRate: 0.01},
	})
	require.NoError(t, err)
	return res
}

func TestLearnsSineFrequency(t *testing.T) {
	res := train(t, map[string]any{"channels": []any{8, 16}}, synth.Sines(256, 64, 2, 0.5, 1), nil, 10)
	acc := synth.Accuracy(t, res, synth.Sines(200, 64, 2, 0.5, 2))
	t.Logf("test accuracy %.3f", acc)
	assert.GreaterOrEqual(t, acc, 0.95)
}

func TestVariants(t *testing.T) {
	cases := []struct {
		name   string
		params map[string]any
		shape  []int
	}{
		{"dilated residual layer norm", map[string]any{"channels": []any{4, 8}, "dilations": []any{1, 2}, "residual": true, "normalization": "layer"}, []int{32, 3}},
		{"stride avg pool gelu hidden dropout", map[string]any{"channels": []any{4, 4}, "stride": 2, "pool": "avg", "activation": "gelu", "hidden": []any{8}, "dropout": 0.2}, []int{33, 2}},
		{"one-channel [T] input, global max, two convs", map[string]any{"channels": []any{4}, "convs_per_block": 2, "global_pool": "max", "normalization": "none"}, []int{20}},
		{"residual stride no pool", map[string]any{"channels": []any{4, 4}, "stride": 2, "residual": true, "pool": "none", "dilations": []any{2}}, []int{15, 1}},
		{"pooled to one step", map[string]any{"channels": []any{2, 2, 2}, "pool_size": 3, "kernel_size": 3}, []int{5, 1}},
		{"flatten head", map[string]any{"channels": []any{3}, "global_pool": "flatten", "hidden": []any{4}}, []int{12, 4}},
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

func TestParameterCountAndLength(t *testing.T) {
	d := synth.Sines(8, 16, 3, 0.1, 1)
	params := map[string]any{"channels": []any{4, 6}, "kernel_size": 5, "hidden": []any{5}, "normalization": "none", "residual": true}
	res := train(t, params, d, nil, 1)
	want := (5*3*4 + 4) + (3*4 + 4) + // block 0: conv, 1x1 residual projection (3 -> 4 channels)
		(5*4*6 + 6) + (4*6 + 6) + // block 1
		(6*5 + 5) + (5*2 + 2) // head
	assert.Equal(t, want, res.Card.NumParameters)

	f, err := models.Get(cnn1d.Family)
	require.NoError(t, err)
	for _, c := range []struct {
		params map[string]any
		in     int
		want   int
	}{
		{map[string]any{"channels": []any{4, 4}}, 128, 32},
		{map[string]any{"channels": []any{4, 4}, "stride": 2}, 128, 8},
		{map[string]any{"channels": []any{4, 4, 4}, "pool_size": 3}, 10, 1},
		{map[string]any{"channels": []any{4}, "pool": "none", "stride": 3}, 10, 4},
	} {
		p, err := f.ResolveParams(c.params)
		require.NoError(t, err)
		got, err := cnn1d.OutputLength(c.in, p)
		require.NoError(t, err)
		assert.Equal(t, c.want, got, "%v on %d steps", c.params, c.in)
	}
}

func TestDeterministic(t *testing.T) {
	d, v := synth.Sines(64, 32, 2, 0.5, 3), synth.Sines(32, 32, 2, 0.5, 4)
	params := map[string]any{"channels": []any{4, 8}, "dropout": 0.1, "residual": true}
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
	f, err := models.Get(cnn1d.Family)
	require.NoError(t, err)
	p, err := f.ResolveParams(nil)
	require.NoError(t, err)
	_, err = cnn1d.Build(models.Spec{InputShape: []int{8, 8, 1}, Task: models.Classification, NumClasses: 2}, p)
	assert.ErrorContains(t, err, "[T, C]")
	_, err = cnn1d.Build(models.Spec{InputShape: []int{8, 2}, Task: models.Reconstruction}, p)
	assert.ErrorContains(t, err, "unsupported task")
	p, err = f.ResolveParams(map[string]any{"channels": []any{4, 4, 4}, "dilations": []any{1, 2}})
	require.NoError(t, err)
	_, err = cnn1d.Build(models.Spec{InputShape: []int{8, 2}, Task: models.Classification, NumClasses: 2}, p)
	assert.ErrorContains(t, err, "dilations: 2 values for 3 blocks")
	p, err = f.ResolveParams(map[string]any{"channels": []any{}})
	require.NoError(t, err)
	_, err = cnn1d.Build(models.Spec{InputShape: []int{8, 2}, Task: models.Classification, NumClasses: 2}, p)
	assert.ErrorContains(t, err, "channels")
	_, err = f.ResolveParams(map[string]any{"global_pool": "sum"})
	assert.ErrorContains(t, err, "global_pool")
}
