package models_test

import (
	"context"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/ml/layers"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/biopipe/biopipe/contract"
	"github.com/biopipe/biopipe/dataset"
	"github.com/biopipe/biopipe/models"
	"github.com/biopipe/biopipe/models/internal/synth"
	_ "github.com/biopipe/biopipe/models/mlp"
)

// A tiny autoencoder family exercising the parts of the Family interface the mlp does not:
// a fixed task, extra outputs and a custom loss.
func init() {
	models.Register(&models.Family{
		Name: "test_ae",
		Doc:  "test autoencoder",
		Task: models.Reconstruction,
		Params: []contract.Field{
			{Name: "latent", Type: contract.Int, Default: 2, Min: contract.Bound(1), Doc: "latent size"},
		},
		Build: func(spec models.Spec, p contract.Config) (*models.Network, error) {
			latent := p.Int("latent")
			return &models.Network{
				OutputNames: []string{"reconstruction", "latent"},
				Forward: func(scope *model.Scope, x *graph.Node) []*graph.Node {
					z := layers.DenseWithBias(scope.In("encoder"), x, latent)
					r := layers.DenseWithBias(scope.In("decoder"), z, spec.OutputDim())
					return []*graph.Node{r, z}
				},
				Loss: func(_ *model.Scope, x, labels *graph.Node, outs []*graph.Node) *graph.Node {
					// MSE plus a small penalty on the latent code, like a VAE's KL term.
					mse := graph.ReduceAllMean(graph.Square(graph.Sub(outs[0], x)))
					return graph.Add(mse, graph.MulScalar(graph.ReduceAllMean(graph.Square(outs[1])), 1e-3))
				},
			}, nil
		},
	})
}

func blobOpts(t *testing.T, out string) models.TrainOptions {
	t.Helper()
	return models.TrainOptions{
		Family: "mlp", Params: map[string]any{"hidden": []any{16, 8}},
		Train: synth.Blobs(160, 4, 2.5, 1), Val: synth.Blobs(80, 4, 2.5, 2),
		Task: models.Classification, Classes: []string{"neg", "pos"},
		Epochs: 8, BatchSize: 32, Seed: 7, OutDir: out,
		Optimizer: models.OptimizerConfig{Name: models.OptAdam, LearningRate: 0.01},
	}
}

func TestTrainLearnsAndRoundTrips(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	res, err := models.Train(ctx, blobOpts(t, dir))
	require.NoError(t, err)
	val := synth.Blobs(80, 4, 2.5, 2)
	probs, err := res.Trained.Predict(ctx, val.X)
	require.NoError(t, err)
	require.Len(t, probs, 80)
	for _, p := range probs {
		require.Len(t, p, 2)
		assert.InDelta(t, 1, p[0]+p[1], 1e-5)
	}
	assert.Greater(t, synth.ArgmaxAccuracy(probs, val.Classes), 0.95)

	// Artifact files.
	assert.FileExists(t, filepath.Join(dir, models.CardFile))
	assert.FileExists(t, filepath.Join(dir, models.HistoryFile))
	assert.DirExists(t, filepath.Join(dir, models.CheckpointDir))
	card, err := models.ReadCard(dir)
	require.NoError(t, err)
	assert.Equal(t, "mlp", card.Family)
	assert.Equal(t, []int{4}, card.InputShape)
	assert.Equal(t, models.Classification, card.Task)
	assert.Equal(t, "none", card.Standardisation)
	assert.Equal(t, "go", card.Backend)
	assert.Equal(t, 8, card.EpochsRun)
	assert.Equal(t, 4*16+16+16*8+8+8*2+2, card.NumParameters)
	hist, err := models.ReadHistory(dir)
	require.NoError(t, err)
	require.Len(t, hist.Epochs, 8)
	assert.NotNil(t, hist.Epochs[0].ValAccuracy)
	assert.NotNil(t, hist.Epochs[0].TrainAccuracy)
	assert.Less(t, hist.Epochs[7].TrainLoss, hist.Epochs[0].TrainLoss)

	// Load + Predict gives the same outputs, bit for bit.
	loaded, err := models.Load(dir, "")
	require.NoError(t, err)
	again, err := loaded.Predict(ctx, val.X)
	require.NoError(t, err)
	assert.Equal(t, probs, again)
	assert.Equal(t, card.Family, loaded.Card().Family)

	// More rows than one inference chunk, and a ragged last chunk.
	big := synth.Blobs(300, 4, 2.5, 3)
	bp, err := loaded.Predict(ctx, big.X)
	require.NoError(t, err)
	require.Len(t, bp, 300)
	first, err := loaded.Predict(ctx, &dataset.Matrix{N: 1, Shape: []int{4}, X: big.X.X[299*4:]})
	require.NoError(t, err)
	assert.InDeltaSlice(t, first[0], bp[299], 1e-6)
}

func TestTrainDeterministic(t *testing.T) {
	ctx := context.Background()
	run := func(seed int64) (models.History, [][]float32) {
		o := blobOpts(t, "")
		o.Seed = seed
		o.Params = map[string]any{"hidden": []any{16}, "dropout": 0.2, "normalization": "batch"}
		res, err := models.Train(ctx, o)
		require.NoError(t, err)
		p, err := res.Trained.Predict(ctx, o.Val.X)
		require.NoError(t, err)
		for i := range res.History.Epochs {
			res.History.Epochs[i].Seconds = 0
		}
		return res.History, p
	}
	h1, p1 := run(3)
	h2, p2 := run(3)
	assert.Equal(t, h1, h2, "same seed, same history")
	assert.Equal(t, p1, p2, "same seed, same weights")
	h3, _ := run(4)
	assert.NotEqual(t, h1.Epochs[0].TrainLoss, h3.Epochs[0].TrainLoss, "another seed, another run")
}

func TestTrainRegression(t *testing.T) {
	ctx := context.Background()
	train, val := synth.Linear(200, 3, 0.05, 1), synth.Linear(60, 3, 0.05, 2)
	res, err := models.Train(ctx, models.TrainOptions{
		Family: "mlp", Params: map[string]any{"hidden": []any{16}, "activation": "tanh"},
		Train: train, Val: val, Task: models.Regression,
		Epochs: 40, BatchSize: 16, Seed: 1,
		Optimizer: models.OptimizerConfig{Name: models.OptAdamW, LearningRate: 0.01, WeightDecay: 1e-4},
	})
	require.NoError(t, err)
	pred, err := res.Trained.Predict(ctx, val.X)
	require.NoError(t, err)
	var mse, variance, mean float64
	for _, y := range val.Targets {
		mean += y / float64(len(val.Targets))
	}
	for i, p := range pred {
		require.Len(t, p, 1)
		mse += (float64(p[0]) - val.Targets[i]) * (float64(p[0]) - val.Targets[i])
		variance += (val.Targets[i] - mean) * (val.Targets[i] - mean)
	}
	assert.Less(t, mse/variance, 0.05, "R² above 0.95")
	last := res.History.Epochs[len(res.History.Epochs)-1]
	require.NotNil(t, last.ValMSE)
	assert.InDelta(t, mse/float64(len(pred)), *last.ValMSE, 1e-4, "history val MSE matches Predict")
	assert.Nil(t, last.ValAccuracy)
}

func TestEarlyStoppingRestoresBest(t *testing.T) {
	ctx := context.Background()
	// Random labels: the model can only overfit, so validation loss turns up quickly.
	train, val := synth.Blobs(64, 8, 0, 1), synth.Blobs(64, 8, 0, 2)
	res, err := models.Train(ctx, models.TrainOptions{
		Family: "mlp", Params: map[string]any{"hidden": []any{64, 64}},
		Train: train, Val: val, Task: models.Classification, Classes: []string{"a", "b"},
		Epochs: 200, BatchSize: 8, Seed: 1,
		Optimizer:     models.OptimizerConfig{Name: models.OptAdam, LearningRate: 0.01},
		EarlyStopping: models.EarlyStopping{Patience: 3, Monitor: models.MonitorValLoss},
	})
	require.NoError(t, err)
	h := res.History
	assert.True(t, h.StoppedEarly)
	assert.Less(t, len(h.Epochs), 200)
	assert.Equal(t, h.BestEpoch+3, len(h.Epochs))
	assert.True(t, h.RestoredBest)
	best := *h.Epochs[h.BestEpoch-1].ValLoss
	for _, e := range h.Epochs {
		assert.GreaterOrEqual(t, *e.ValLoss, best)
	}
	// The kept weights are the best epoch's: recompute its validation loss from Predict.
	probs, err := res.Trained.Predict(ctx, val.X)
	require.NoError(t, err)
	var ce float64
	for i, p := range probs {
		ce -= math.Log(float64(p[val.Classes[i]]))
	}
	assert.InDelta(t, best, ce/float64(len(probs)), 1e-4)
	assert.Equal(t, h.BestEpoch, res.Card.BestEpoch)
}

func TestInitFrom(t *testing.T) {
	ctx := context.Background()
	src := t.TempDir()
	a, err := models.Train(ctx, blobOpts(t, src))
	require.NoError(t, err)

	// Same architecture and a vanishing learning rate: B starts (and stays) at A's weights.
	o := blobOpts(t, "")
	o.InitFrom = src
	o.Epochs = 1
	o.Seed = 99
	o.Optimizer = models.OptimizerConfig{Name: models.OptSGD, LearningRate: 1e-12}
	b, err := models.Train(ctx, o)
	require.NoError(t, err)
	rep := b.Card.InitFrom
	require.NotNil(t, rep)
	assert.Len(t, rep.Loaded, 6)
	assert.Empty(t, rep.Fresh)
	pa, err := a.Trained.Predict(ctx, o.Val.X)
	require.NoError(t, err)
	pb, err := b.Trained.Predict(ctx, o.Val.X)
	require.NoError(t, err)
	for i := range pa {
		assert.InDeltaSlice(t, pa[i], pb[i], 1e-5)
	}

	// Another head: the first layer transfers, the rest starts fresh. A checkpoint folder works too.
	o = blobOpts(t, "")
	o.InitFrom = filepath.Join(src, models.CheckpointDir)
	o.Params = map[string]any{"hidden": []any{16, 4}}
	o.Epochs = 1
	c, err := models.Train(ctx, o)
	require.NoError(t, err)
	rep = c.Card.InitFrom
	assert.Equal(t, []string{"/model/hidden_0/dense/biases", "/model/hidden_0/dense/weights", "/model/output/dense/biases"}, rep.Loaded)
	assert.Len(t, rep.ShapeMismatch, 3)
	assert.Empty(t, rep.Fresh)

	// Nothing in common is an error.
	o = blobOpts(t, "")
	o.InitFrom = src
	o.Train, o.Val = synth.Linear(40, 3, 0.1, 1), nil
	o.Task = models.Regression
	o.Params = map[string]any{"hidden": []any{5}}
	_, err = models.Train(ctx, o)
	assert.ErrorContains(t, err, "no variable matches")
}

// Predict and Outputs run their chunks side by side on the go backend (one worker per
// core Go may use); every row's values are those of the same chunk run alone, bit for bit,
// whatever the number of workers: here 1 (GOMAXPROCS=1) against 4, over 5 chunks of 256
// rows with a ragged last one, for a classifier and a model with two outputs.
func TestPredictChunksSideBySide(t *testing.T) {
	ctx := context.Background()
	clf, err := models.Train(ctx, blobOpts(t, t.TempDir()))
	require.NoError(t, err)
	ae, err := models.Train(ctx, models.TrainOptions{
		Family: "test_ae", Params: map[string]any{"latent": 3}, Train: synth.Blobs(64, 4, 3, 1),
		Epochs: 2, BatchSize: 16, Seed: 1, OutDir: t.TempDir(),
	})
	require.NoError(t, err)
	x := synth.Blobs(4*models.PredictBatch+37, 4, 2.5, 5).X
	run := func(procs int) (probs [][]float32, outs []models.Output) {
		defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(procs))
		probs, err := clf.Trained.Predict(ctx, x)
		require.NoError(t, err)
		outs, err = ae.Trained.Outputs(ctx, x)
		require.NoError(t, err)
		return probs, outs
	}
	oneProbs, oneOuts := run(1)
	probs, outs := run(4)
	require.Len(t, probs, x.N)
	assert.Equal(t, oneProbs, probs)
	assert.Equal(t, oneOuts, outs)
	assert.Equal(t, []int{3}, outs[1].Shape)
	// A chunk alone in its call (rows 512-767, the same graph) gives the same rows.
	third, err := clf.Trained.Predict(ctx, &dataset.Matrix{N: models.PredictBatch, Shape: []int{4}, X: x.X[2*models.PredictBatch*4 : 3*models.PredictBatch*4]})
	require.NoError(t, err)
	assert.Equal(t, probs[2*models.PredictBatch:3*models.PredictBatch], third)

	// A cancelled context stops the workers with its error.
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	_, err = clf.Trained.Predict(cctx, x)
	require.ErrorIs(t, err, context.Canceled)
}

func TestCustomFamilyOutputs(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	data := synth.Blobs(64, 6, 3, 1)
	res, err := models.Train(ctx, models.TrainOptions{
		Family: "test_ae", Params: map[string]any{"latent": 3}, Train: data, Val: synth.Blobs(32, 6, 3, 2),
		Task:   models.Classification, // the family's fixed task wins
		Epochs: 5, BatchSize: 16, Seed: 1, OutDir: dir,
	})
	require.NoError(t, err)
	assert.Equal(t, models.Reconstruction, res.Card.Task)
	assert.Equal(t, []string{"reconstruction", "latent"}, res.Card.Outputs)
	require.NotNil(t, res.History.Epochs[0].ValMSE)
	tm, err := models.Load(dir, "go")
	require.NoError(t, err)
	outs, err := tm.Outputs(ctx, data.X)
	require.NoError(t, err)
	require.Len(t, outs, 2)
	assert.Equal(t, []int{6}, outs[0].Shape)
	assert.Equal(t, []int{3}, outs[1].Shape)
	assert.Len(t, outs[1].Values, 64)
	assert.Len(t, outs[1].Values[0], 3)
}

func TestTrainErrors(t *testing.T) {
	ctx := context.Background()
	cases := []struct {
		name string
		edit func(o *models.TrainOptions)
		want string
	}{
		{"unknown family", func(o *models.TrainOptions) { o.Family = "mpl" }, `did you mean "mlp"`},
		{"unknown param", func(o *models.TrainOptions) { o.Params = map[string]any{"hiden": []any{3}} }, `"hiden": unknown field (did you mean "hidden"?)`},
		{"bad activation", func(o *models.TrainOptions) { o.Params = map[string]any{"activation": "softsign"} }, `"activation"`},
		{"unknown optimizer", func(o *models.TrainOptions) { o.Optimizer.Name = "adamm" }, `did you mean "adam"`},
		{"one class", func(o *models.TrainOptions) { o.Classes = []string{"a"} }, "at least 2 classes"},
		{"no rows", func(o *models.TrainOptions) { o.Train = &models.Data{} }, "no training examples"},
		{"zero epochs", func(o *models.TrainOptions) { o.Epochs = 0 }, "epochs"},
		{"label out of range", func(o *models.TrainOptions) { o.Train.Classes[3] = 5 }, "row 3: class index 5"},
		{"val shape", func(o *models.TrainOptions) { o.Val = synth.Blobs(10, 3, 1, 1) }, "shape"},
		{"unknown backend", func(o *models.TrainOptions) { o.Backend = "tpu" }, "unknown backend"},
		{"accuracy monitor on regression", func(o *models.TrainOptions) {
			o.Task, o.Train.Targets, o.Val.Targets = models.Regression, make([]float64, 160), make([]float64, 80)
			o.EarlyStopping.Monitor = models.MonitorValAccuracy
		}, "val_accuracy"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			o := blobOpts(t, "")
			o.Epochs = 1
			c.edit(&o)
			_, err := models.Train(ctx, o)
			require.Error(t, err)
			assert.Contains(t, err.Error(), c.want)
		})
	}
}

func TestLoadErrors(t *testing.T) {
	_, err := models.Load(filepath.Join(t.TempDir(), "missing"), "")
	assert.ErrorContains(t, err, "model.json")

	dir := t.TempDir()
	b, _ := json.Marshal(models.Card{Family: "nope", InputShape: []int{2}})
	require.NoError(t, os.WriteFile(filepath.Join(dir, models.CardFile), b, 0o644))
	_, err = models.Load(dir, "")
	assert.ErrorContains(t, err, `unknown model family "nope"`)

	// A card whose params do not match the checkpoint.
	ctx := context.Background()
	res, err := models.Train(ctx, blobOpts(t, dir))
	require.NoError(t, err)
	card := res.Card
	card.Params["normalization"] = "layer"
	b, _ = json.Marshal(card)
	require.NoError(t, os.WriteFile(filepath.Join(dir, models.CardFile), b, 0o644))
	_, err = models.Load(dir, "")
	assert.ErrorContains(t, err, "not in the checkpoint")
	card.Params["normalization"] = "none"
	card.Params["hidden"] = []int{16, 4}
	b, _ = json.Marshal(card)
	require.NoError(t, os.WriteFile(filepath.Join(dir, models.CardFile), b, 0o644))
	_, err = models.Load(dir, "")
	assert.ErrorContains(t, err, "different shape")

	// Predict on inputs of another width.
	_, err = res.Trained.Predict(ctx, &dataset.Matrix{N: 1, Shape: []int{3}, X: []float32{1, 2, 3}})
	assert.ErrorContains(t, err, "trained on [4]")
}

func TestRegistry(t *testing.T) {
	assert.Contains(t, models.Names(), "mlp")
	f, err := models.Get("mlp")
	require.NoError(t, err)
	cfg, err := f.ResolveParams(nil)
	require.NoError(t, err)
	assert.Equal(t, []int{64, 32}, cfg.Ints("hidden"))
	_, err = models.Get("zzzzzzzz")
	assert.ErrorContains(t, err, "known families: ")
}

type countingProgress struct{ total, added, closed int }

func (p *countingProgress) Add(n int) { p.added += n }
func (p *countingProgress) Close()    { p.closed++ }

func TestProgressAndCancel(t *testing.T) {
	o := blobOpts(t, "")
	o.Epochs = 3
	prog := &countingProgress{}
	var epochs []int
	o.Progress = func(desc string, total int) contract.Progress {
		assert.Equal(t, "train mlp", desc)
		prog.total = total
		return prog
	}
	o.OnEpoch = func(r models.EpochRecord) { epochs = append(epochs, r.Epoch) }
	_, err := models.Train(context.Background(), o)
	require.NoError(t, err)
	assert.Equal(t, countingProgress{total: 3, added: 3, closed: 1}, *prog)
	assert.Equal(t, []int{1, 2, 3}, epochs)

	ctx, cancel := context.WithCancel(context.Background())
	o.OnEpoch = func(models.EpochRecord) { cancel() }
	_, err = models.Train(ctx, o)
	assert.ErrorIs(t, err, context.Canceled)
}

func TestNormalizeBackend(t *testing.T) {
	for in, want := range map[string]string{"": "go", "go": "go", " go ": "go", "go:parallelism=2": "go:parallelism=2"} {
		got, err := models.NormalizeBackend(in)
		require.NoError(t, err, in)
		assert.Equal(t, want, got)
	}
	_, err := models.NormalizeBackend("xla")
	assert.ErrorContains(t, err, "valid backends")
	b, err := models.NewBackend("go:parallelism=2")
	require.NoError(t, err)
	assert.NotNil(t, b)
}

// TestRegressionTargetsOfAnyScale: targets far from zero and with a large spread train with
// the default learning rate, because they are standardised inside (and mapped back).
func TestRegressionTargetsOfAnyScale(t *testing.T) {
	ctx := context.Background()
	shift := func(d *models.Data) *models.Data {
		out := *d
		out.Targets = make([]float64, len(d.Targets))
		for i, y := range d.Targets {
			out.Targets[i] = 1000 + 250*y
		}
		return &out
	}
	train, val := shift(synth.Linear(200, 3, 0.05, 1)), shift(synth.Linear(60, 3, 0.05, 2))
	res, err := models.Train(ctx, models.TrainOptions{
		Family: "mlp", Params: map[string]any{"hidden": []any{}},
		Train: train, Val: val, Task: models.Regression,
		Epochs: 60, BatchSize: 16, Seed: 1,
		Optimizer: models.OptimizerConfig{Name: models.OptAdam, LearningRate: 0.01},
	})
	require.NoError(t, err)
	card := res.Trained.Card()
	assert.Greater(t, card.TargetScale, 100.0)
	assert.InDelta(t, 1000, card.TargetMean, 150)
	pred, err := res.Trained.Predict(ctx, val.X)
	require.NoError(t, err)
	var mse, variance, mean float64
	for _, y := range val.Targets {
		mean += y / float64(len(val.Targets))
	}
	for i, p := range pred {
		mse += (float64(p[0]) - val.Targets[i]) * (float64(p[0]) - val.Targets[i])
		variance += (val.Targets[i] - mean) * (val.Targets[i] - mean)
	}
	assert.Less(t, mse/variance, 0.05, "R² above 0.95 in the target's own units")
	last := res.History.Epochs[len(res.History.Epochs)-1]
	assert.InDelta(t, mse/float64(len(pred)), *last.ValMSE, 1e-2**last.ValMSE, "history reports MSE in the target's units")
}
