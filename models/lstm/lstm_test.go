package lstm_test

import (
	"context"
	"math/rand/v2"
	"testing"

	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	gomlxlstm "github.com/gomlx/gomlx/ml/layers/lstm"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/biopipe/biopipe/dataset"
	"github.com/biopipe/biopipe/models"
	"github.com/biopipe/biopipe/models/internal/synth"
	"github.com/biopipe/biopipe/models/lstm"
)

// TestApplyMatchesGoMLXLSTM checks the fused cell against GoMLX's ml/layers/lstm with the
// same weights (rearranged into its layout), forward and bidirectional.
func TestApplyMatchesGoMLXLSTM(t *testing.T) {
	backend, err := models.NewBackend("")
	require.NoError(t, err)
	const steps, batch, feat, units = 5, 3, 4, 6
	// GoMLX gate order: 0 input, 1 output, 2 forget, 3 cell; ours: input, forget, output, cell.
	ours := [4]int{0, 2, 1, 3}
	for _, d := range []int{1, 2} {
		r := rand.New(rand.NewPCG(uint64(d), 9))
		rnd := func(n int) []float32 {
			v := make([]float32, n)
			for i := range v {
				v[i] = float32(r.NormFloat64() * 0.5)
			}
			return v
		}
		xBTF := rnd(batch * steps * feat)
		gIn, gRec, gBias := rnd(d*4*units*feat), rnd(d*4*units*units), rnd(d*8*units)
		xTBF := make([]float32, len(xBTF))
		wi := make([]float32, d*feat*4*units)
		wr := make([]float32, d*units*4*units)
		b := make([]float32, d*4*units)
		for bi := range batch {
			for ti := range steps {
				copy(xTBF[(ti*batch+bi)*feat:][:feat], xBTF[(bi*steps+ti)*feat:][:feat])
			}
		}
		for di := range d {
			for k := range 4 {
				col := ours[k] * units
				for h := range units {
					for f := range feat {
						wi[(di*feat+f)*4*units+col+h] = gIn[((di*4+k)*units+h)*feat+f]
					}
					for j := range units {
						wr[(di*units+j)*4*units+col+h] = gRec[((di*4+k)*units+h)*units+j]
					}
					b[di*4*units+col+h] = gBias[(di*8+k)*units+h] + gBias[(di*8+4+k)*units+h]
				}
			}
		}
		dir := gomlxlstm.DirForward
		if d == 2 {
			dir = gomlxlstm.DirBidirectional
		}
		outs, err := graph.ExecOnceN(backend, func(g *graph.Graph) []*graph.Node {
			c := func(v []float32, dims ...int) *graph.Node {
				return graph.ConstTensor(g, tensors.FromFlatDataAndDimensions(v, dims...))
			}
			o, last := lstm.Apply(c(xTBF, steps, batch, feat), c(wi, d, feat, 4*units), c(wr, d, units, 4*units), c(b, d, 4*units))
			all, lastH, _ := gomlxlstm.NewWithWeights(c(xBTF, batch, steps, feat), c(gIn, d, 4, units, feat),
				c(gRec, d, 4, units, units), c(gBias, d, 8, units), nil).Direction(dir).Done()
			// all: [T, D, B, H] -> [T, B, D*H]; lastH: [D, B, H] -> [B, D*H].
			all = graph.Reshape(graph.TransposeAllAxes(all, 0, 2, 1, 3), steps, batch, d*units)
			lastH = graph.Reshape(graph.TransposeAllAxes(lastH, 1, 0, 2), batch, d*units)
			return []*graph.Node{o, last, all, lastH}
		})
		require.NoError(t, err)
		got, want := tensors.MustCopyFlatData[float32](outs[0]), tensors.MustCopyFlatData[float32](outs[2])
		require.Len(t, got, steps*batch*d*units)
		assert.InDeltaSlice(t, want, got, 1e-5, "outputs, %d directions", d)
		assert.InDeltaSlice(t, tensors.MustCopyFlatData[float32](outs[3]), tensors.MustCopyFlatData[float32](outs[1]), 1e-5, "last state, %d directions", d)
	}
}

func train(t *testing.T, params map[string]any, data, val *models.Data, epochs int) *models.Result {
	t.Helper()
	res, err := models.Train(context.Background(), models.TrainOptions{
		Family: lstm.Family, Params: params, Train: data, Val: val, Task: models.Classification,
		Classes: []string{"slow", "fast"}, Epochs: epochs, BatchSize: 32, Seed: 7,
		Optimizer: models.OptimizerConfig{Name: models.OptAdam, LearningRate: 0.01},
	})
	require.NoError(t, err)
	return res
}

func TestLearnsSineFrequency(t *testing.T) {
	cases := []struct {
		name   string
		params map[string]any
	}{
		{"plain on 24 steps", map[string]any{"units": 16}},
		{"conv front end on 96 samples", map[string]any{"units": 16, "channels": []any{8}, "pool_size": 4}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			steps := 24
			if c.params["channels"] != nil {
				steps = 96
			}
			res := train(t, c.params, synth.Sines(256, steps, 2, 0.3, 1), nil, 12)
			acc := synth.Accuracy(t, res, synth.Sines(200, steps, 2, 0.3, 2))
			t.Logf("test accuracy %.3f", acc)
			assert.GreaterOrEqual(t, acc, 0.9)
		})
	}
}

func TestVariants(t *testing.T) {
	cases := []struct {
		name   string
		params map[string]any
		shape  []int
	}{
		{"bidirectional stacked mean readout dropout", map[string]any{"units": 4, "layers": 2, "bidirectional": true, "readout": "mean", "dropout": 0.2}, []int{6, 3}},
		{"downsample front end batch norm hidden", map[string]any{"units": 4, "downsample": 2, "channels": []any{4}, "normalization": "batch", "hidden": []any{5}}, []int{17, 2}},
		{"[T] input, one step", map[string]any{"units": 3}, []int{1}},
		{"bidirectional last readout", map[string]any{"units": 3, "bidirectional": true}, []int{4, 1}},
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

func TestParameterCountAndSteps(t *testing.T) {
	const c, h = 3, 5
	d := synth.Sines(8, 10, c, 0.1, 1)
	res := train(t, map[string]any{"units": h, "layers": 2, "bidirectional": true}, d, nil, 1)
	want := 2*(c*4*h+h*4*h+4*h) + // layer 0, two directions
		2*(2*h*4*h+h*4*h+4*h) + // layer 1 reads both directions (2H features)
		(2*h*2 + 2) // output layer on the last states of both directions
	assert.Equal(t, want, res.Card.NumParameters)

	f, err := models.Get(lstm.Family)
	require.NoError(t, err)
	for _, tc := range []struct {
		params map[string]any
		in     int
		want   int
	}{
		{map[string]any{}, 128, 128},
		{map[string]any{"downsample": 4}, 128, 32},
		{map[string]any{"channels": []any{8, 8}, "pool_size": 4}, 128, 8},
		{map[string]any{"downsample": 2, "channels": []any{8}}, 129, 32},
	} {
		p, err := f.ResolveParams(tc.params)
		require.NoError(t, err)
		assert.Equal(t, tc.want, lstm.Steps(tc.in, p), "%v on %d samples", tc.params, tc.in)
	}
}

func TestDeterministic(t *testing.T) {
	d, v := synth.Sines(64, 16, 2, 0.5, 3), synth.Sines(32, 16, 2, 0.5, 4)
	params := map[string]any{"units": 8, "bidirectional": true, "dropout": 0.1}
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
	f, err := models.Get(lstm.Family)
	require.NoError(t, err)
	p, err := f.ResolveParams(nil)
	require.NoError(t, err)
	_, err = lstm.Build(models.Spec{InputShape: []int{8, 8, 1}, Task: models.Classification, NumClasses: 2}, p)
	assert.ErrorContains(t, err, "[T, C]")
	_, err = lstm.Build(models.Spec{InputShape: []int{8, 2}, Task: models.Reconstruction}, p)
	assert.ErrorContains(t, err, "unsupported task")
	_, err = lstm.Build(models.Spec{InputShape: []int{10000, 2}, Task: models.Classification, NumClasses: 2}, p)
	assert.ErrorContains(t, err, "downsample")
	_, err = f.ResolveParams(map[string]any{"readout": "first"})
	assert.ErrorContains(t, err, "readout")
	_, err = f.ResolveParams(map[string]any{"units": 0})
	assert.ErrorContains(t, err, "units")
}

// The lstm takes bucketed sequences: batches of one length each, the recurrence running
// for as many steps as the batch has.
func TestBucketedSequences(t *testing.T) {
	buckets := []int{16, 32, 64}
	res, err := models.Train(context.Background(), models.TrainOptions{
		Family: lstm.Family, Params: map[string]any{"units": 8, "channels": []any{8}, "pool_size": 2},
		Train: synth.SkewedSines(192, buckets, 2, 0.3, 1), Task: models.Classification,
		Classes: []string{"slow", "fast"}, Epochs: 8, BatchSize: 32, Seed: 3,
		Optimizer: models.OptimizerConfig{Name: models.OptAdam, LearningRate: 0.02},
	})
	require.NoError(t, err)
	assert.Equal(t, buckets, res.Card.LengthBuckets)
	acc := synth.Accuracy(t, res, synth.SkewedSines(120, buckets, 2, 0.3, 2))
	t.Logf("test accuracy %.3f", acc)
	assert.GreaterOrEqual(t, acc, 0.85)
}
