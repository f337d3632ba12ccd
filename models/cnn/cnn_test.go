package cnn_test

import (
	"context"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/biopipe/biopipe/contract"
	"github.com/biopipe/biopipe/dataset"
	"github.com/biopipe/biopipe/models"
	"github.com/biopipe/biopipe/models/cnn"
	"github.com/biopipe/biopipe/models/internal/synth"
)

// bars returns n images [size, size, 1] of one bar on a noisy background: class 0 is a
// vertical bar, class 1 a horizontal one, at a random position. A flat linear model of the
// pixels cannot solve it well (the bar moves); a convolution can.
func bars(n, size int, seed uint64) *models.Data {
	r := rand.New(rand.NewPCG(seed, 3))
	d := &models.Data{X: &dataset.Matrix{N: n, Shape: []int{size, size, 1}, X: make([]float32, n*size*size)}}
	for i := range n {
		c := i % 2
		d.Classes = append(d.Classes, c)
		img := d.X.X[i*size*size : (i+1)*size*size]
		for j := range img {
			img[j] = float32(0.3 * r.NormFloat64())
		}
		pos, start := r.IntN(size), r.IntN(size/2)
		for k := start; k < start+size/2; k++ {
			if c == 0 {
				img[k*size+pos] += 1
			} else {
				img[pos*size+k] += 1
			}
		}
	}
	return d
}

func fit(t *testing.T, params map[string]any, data, val *models.Data, epochs int) *models.Result {
	t.Helper()
	res, err := models.Train(context.Background(), models.TrainOptions{
		Family: cnn.Family, Params: params, Train: data, Val: val, Task: models.Classification,
		Classes: []string{"vertical", "horizontal"}, Epochs: epochs, BatchSize: 32, Seed: 7,
		Optimizer: models.OptimizerConfig{Name: models.OptAdam, LearningRate: 0.01},
	})
	require.NoError(t, err)
	return res
}

func TestLearnsBars(t *testing.T) {
	res := fit(t, map[string]any{"channels": []any{8, 16}}, bars(256, 8, 1), nil, 8)
	acc := synth.Accuracy(t, res, bars(200, 8, 2))
	t.Logf("test accuracy %.3f", acc)
	assert.GreaterOrEqual(t, acc, 0.95)
}

func TestVariants(t *testing.T) {
	cases := []struct {
		name   string
		params map[string]any
		shape  []int
	}{
		{"batch norm avg pool gelu", map[string]any{"channels": []any{4, 4}, "normalization": "batch", "pool": "avg", "activation": "gelu"}, []int{8, 8, 1}},
		{"layer norm max pool hidden dropout", map[string]any{"channels": []any{4}, "normalization": "layer", "hidden": []any{8}, "dropout": 0.2}, []int{8, 8, 3}},
		{"stride no pool flatten two convs", map[string]any{"channels": []any{4, 6}, "stride": 2, "pool": "none", "global_pool": "flatten", "convs_per_block": 2}, []int{7, 9, 1}},
		{"1-D sequence global max", map[string]any{"channels": []any{4, 4}, "kernel_size": 5, "global_pool": "max"}, []int{16, 2}},
		{"3-D volume", map[string]any{"channels": []any{4, 4}, "normalization": "batch"}, []int{4, 6, 6, 1}},
		{"tiny input pooled to 1", map[string]any{"channels": []any{2, 2, 2}, "pool_size": 3}, []int{3, 2, 1}},
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
			res := fit(t, c.params, d, d, 2)
			p, err := res.Trained.Predict(context.Background(), d.X)
			require.NoError(t, err)
			require.Len(t, p, 24)
			assert.Len(t, p[0], 2)
			assert.InDelta(t, 1, p[0][0]+p[0][1], 1e-5)
		})
	}
}

// TestParameterCount checks the variable shapes through the trainable parameter count.
func TestParameterCount(t *testing.T) {
	d := bars(8, 8, 1)
	res := fit(t, map[string]any{"channels": []any{4, 6}, "kernel_size": 3, "hidden": []any{5}}, d, nil, 1)
	want := (3*3*1*4 + 4) + (3*3*4*6 + 6) + (6*5 + 5) + (5*2 + 2)
	assert.Equal(t, want, res.Card.NumParameters)

	f, err := models.Get(cnn.Family)
	require.NoError(t, err)
	p, err := f.ResolveParams(map[string]any{"channels": []any{4, 6}, "stride": 2})
	require.NoError(t, err)
	assert.Equal(t, []int{2, 2, 6}, cnn.OutputShape([]int{28, 28, 1}, p), "28 -s2-> 14 -pool-> 7 -s2-> 4 -pool-> 2")
	p, err = f.ResolveParams(map[string]any{"channels": []any{4, 6}})
	require.NoError(t, err)
	assert.Equal(t, []int{7, 7, 6}, cnn.OutputShape([]int{28, 28, 1}, p))
	assert.Equal(t, []int{2, 2, 6}, cnn.OutputShape([]int{8, 8, 1}, p))

	// With flatten, the output layer's size reveals the last feature map's shape in the graph.
	for _, in := range [][]int{{8, 8, 1}, {7, 9, 1}, {5, 6, 6, 1}} {
		params := map[string]any{"channels": []any{4, 6}, "stride": 2, "global_pool": "flatten"}
		p, err := f.ResolveParams(params)
		require.NoError(t, err)
		shape := cnn.OutputShape(in, p)
		sz := dataset.TensorSize(in)
		d := &models.Data{X: &dataset.Matrix{N: 4, Shape: in, X: make([]float32, 4*sz)}, Classes: []int{0, 1, 0, 1}}
		res := fit(t, params, d, nil, 1)
		k := 9 // 3x3 kernel
		if len(in) == 4 {
			k = 27 // 3x3x3
		}
		convs := (k*in[len(in)-1]*4 + 4) + (k*4*6 + 6)
		assert.Equal(t, convs+dataset.TensorSize(shape)*2+2, res.Card.NumParameters, "input %v -> feature map %v", in, shape)
	}
}

func TestDeterministic(t *testing.T) {
	d, v := bars(64, 8, 3), bars(32, 8, 4)
	params := map[string]any{"channels": []any{4, 8}, "normalization": "batch", "dropout": 0.1}
	a := fit(t, params, d, v, 2)
	b := fit(t, params, d, v, 2)
	pa, err := a.Trained.Predict(context.Background(), v.X)
	require.NoError(t, err)
	pb, err := b.Trained.Predict(context.Background(), v.X)
	require.NoError(t, err)
	assert.Equal(t, pa, pb, "same seed, same data: same predictions bit for bit")
	assert.Equal(t, a.History.Epochs[1].TrainLoss, b.History.Epochs[1].TrainLoss)
}

func TestBuildErrors(t *testing.T) {
	f, err := models.Get(cnn.Family)
	require.NoError(t, err)
	p, err := f.ResolveParams(nil)
	require.NoError(t, err)
	_, err = cnn.Build(models.Spec{InputShape: []int{64}, Task: models.Classification, NumClasses: 2}, p)
	assert.ErrorContains(t, err, "transform.tensor")
	_, err = cnn.Build(models.Spec{InputShape: []int{8, 8, 1}, Task: models.Reconstruction}, p)
	assert.ErrorContains(t, err, "unsupported task")
	_, err = f.ResolveParams(map[string]any{"pool": "median"})
	assert.ErrorContains(t, err, "pool")
	p, err = f.ResolveParams(map[string]any{"channels": []any{}})
	require.NoError(t, err)
	_, err = cnn.Build(models.Spec{InputShape: []int{8, 8, 1}, Task: models.Classification, NumClasses: 2}, p)
	assert.ErrorContains(t, err, "channels")
	assert.Equal(t, contract.Config(p)["kernel_size"], 3)
}

// TestInitFromTransfersBlocks fine-tunes a 3-class model from a trained 2-class one: the
// convolutional blocks load by scope path, the new head (other width) starts fresh.
func TestInitFromTransfersBlocks(t *testing.T) {
	dir := t.TempDir()
	_, err := models.Train(context.Background(), models.TrainOptions{
		Family: cnn.Family, Params: map[string]any{"channels": []any{4, 8}, "hidden": []any{6}},
		Train: bars(64, 8, 1), Task: models.Classification, Classes: []string{"vertical", "horizontal"},
		Epochs: 2, BatchSize: 32, Seed: 1, OutDir: dir,
	})
	require.NoError(t, err)
	d := bars(60, 8, 2)
	for i := range d.Classes {
		d.Classes[i] = i % 3
	}
	res, err := models.Train(context.Background(), models.TrainOptions{
		Family: cnn.Family, Params: map[string]any{"channels": []any{4, 8}, "hidden": []any{6}},
		Train: d, Task: models.Classification, Classes: []string{"a", "b", "c"},
		Epochs: 1, BatchSize: 32, Seed: 2, InitFrom: dir,
	})
	require.NoError(t, err)
	rep := res.Card.InitFrom
	require.NotNil(t, rep)
	assert.Subset(t, rep.Loaded, []string{
		"/model/block_0/conv_0/weights", "/model/block_0/conv_0/biases",
		"/model/block_1/conv_0/weights", "/model/block_1/conv_0/biases",
		"/model/hidden_0/dense/weights",
	})
	assert.Equal(t, []string{"/model/output/dense/biases (source [2], model [3])", "/model/output/dense/weights (source [6 2], model [6 3])"},
		rep.ShapeMismatch, "2 -> 3 classes: the output layer starts fresh")
}
