package evaluate

import (
	"context"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"github.com/biopipe/biopipe/contract"
	"github.com/biopipe/biopipe/dataset"
	"github.com/biopipe/biopipe/evaluation"
	"github.com/biopipe/biopipe/models"
	_ "github.com/biopipe/biopipe/models/autoencoder"
	_ "github.com/biopipe/biopipe/models/mlp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// blobs builds a two-class table with a split column and a group column.
func blobs(n int) *dataset.Frame {
	rng := rand.New(rand.NewPCG(5, 6))
	f := dataset.New()
	a := &dataset.Column{Name: "a", Kind: dataset.Float}
	b := &dataset.Column{Name: "b", Kind: dataset.Float}
	y := &dataset.Column{Name: "target", Kind: dataset.Int}
	g := &dataset.Column{Name: "patient", Kind: dataset.String}
	s := &dataset.Column{Name: dataset.ColSplit, Kind: dataset.String}
	for i := 0; i < n; i++ {
		c := int64(i % 2)
		a.F = append(a.F, rng.NormFloat64()+1.5*float64(c))
		b.F = append(b.F, rng.NormFloat64()-float64(c))
		y.I = append(y.I, c)
		g.S = append(g.S, "P"+string(rune('a'+i/4%26)))
		s.S = append(s.S, []string{dataset.Train, dataset.Train, dataset.Train, dataset.Val, dataset.Test}[i%5])
	}
	f.Columns = []*dataset.Column{a, b, y, g, s}
	f.Meta[dataset.MetaLabel] = "target"
	f.Meta[dataset.MetaGroup] = "patient"
	f.Meta[dataset.MetaTask] = "classification"
	f.SetClasses([]string{"0", "1"})
	return f
}

func TestStageRun(t *testing.T) {
	dir := t.TempDir()
	frame := blobs(200)
	dataDir := filepath.Join(dir, "data")
	require.NoError(t, os.MkdirAll(dataDir, 0o755))
	require.NoError(t, frame.WriteFile(filepath.Join(dataDir, contract.DataFile)))

	modelDir := filepath.Join(dir, "model")
	train := func(split string) *models.Data {
		rows := frame.SplitRows(split)
		x, err := frame.Features(rows)
		require.NoError(t, err)
		cls, _, err := frame.Labels(rows)
		require.NoError(t, err)
		return &models.Data{X: x, Classes: cls}
	}
	_, err := models.Train(context.Background(), models.TrainOptions{
		Family: "mlp", Params: map[string]any{"hidden": []any{8}}, Train: train(dataset.Train), Val: train(dataset.Val),
		Task: models.Classification, Classes: []string{"0", "1"}, Epochs: 5, BatchSize: 32,
		Optimizer: models.OptimizerConfig{Name: models.OptAdam, LearningRate: 0.05}, Seed: 1, OutDir: modelDir,
	})
	require.NoError(t, err)

	kind, err := contract.Default.Get(KindName)
	require.NoError(t, err)
	cfg, issues := contract.Check(kind.Fields, map[string]any{"threshold": "youden", "bootstrap": 100})
	require.Empty(t, issues)
	st, err := kind.New(cfg)
	require.NoError(t, err)
	env := contract.NewEnv(nil)
	env.StageID, env.Config, env.Seed, env.Backend = "eval", cfg, 42, "go"
	env.OutDir = filepath.Join(dir, "out")
	require.NoError(t, os.MkdirAll(env.OutDir, 0o755))
	env.Inputs = []contract.Input{
		{StageID: "train", Type: contract.Model, Port: PortModel, Dir: modelDir},
		{StageID: "split", Type: contract.Table, Port: PortData, Dir: dataDir},
	}
	require.NoError(t, st.Run(context.Background(), env))

	res, err := evaluation.ReadResult(env.OutDir)
	require.NoError(t, err)
	assert.Equal(t, []string{"train", "val", "test"}, res.Splits)
	assert.Equal(t, "val", res.Threshold.FittedOn)
	assert.True(t, res.Bootstrap.Grouped)
	test := res.PerSplit["test"]
	assert.Equal(t, 40, test.N)
	assert.Greater(t, test.Metrics["auroc"].Value, 0.8, "separable blobs")
	m := env.Metrics()
	assert.Equal(t, test.Metrics["auroc"].Value, m["test_auroc"])
	assert.Contains(t, m, "val_accuracy")
	for _, f := range []string{contract.PredictionsFile, contract.HistoryFile, "roc.png", "pr.png", "confusion.png", "reliability.png", "curve_loss.png"} {
		assert.FileExists(t, filepath.Join(env.OutDir, f))
	}
	preds, err := dataset.ReadFile(filepath.Join(env.OutDir, contract.PredictionsFile))
	require.NoError(t, err)
	assert.Equal(t, 200, preds.NumRows())
	assert.NotNil(t, preds.Col("prob_1"))
}

func TestStageReconstruction(t *testing.T) {
	dir := t.TempDir()
	frame := blobs(120)
	frame.Drop("target")
	delete(frame.Meta, dataset.MetaLabel)
	frame.Meta[dataset.MetaTask] = "reconstruction"
	dataDir := filepath.Join(dir, "data")
	require.NoError(t, os.MkdirAll(dataDir, 0o755))
	require.NoError(t, frame.WriteFile(filepath.Join(dataDir, contract.DataFile)))
	x, err := frame.Features(frame.SplitRows(dataset.Train))
	require.NoError(t, err)
	modelDir := filepath.Join(dir, "model")
	_, err = models.Train(context.Background(), models.TrainOptions{
		Family: "autoencoder", Params: map[string]any{"hidden": []any{4}, "latent_dim": 1}, Train: &models.Data{X: x},
		Epochs: 3, BatchSize: 16, Seed: 1, OutDir: modelDir,
	})
	require.NoError(t, err)
	kind, err := contract.Default.Get(KindName)
	require.NoError(t, err)
	cfg, _ := contract.Check(kind.Fields, map[string]any{"bootstrap": 50})
	st, err := kind.New(cfg)
	require.NoError(t, err)
	env := contract.NewEnv(nil)
	env.StageID, env.Config, env.Seed, env.Backend = "eval", cfg, 1, "go"
	env.OutDir = filepath.Join(dir, "out")
	require.NoError(t, os.MkdirAll(env.OutDir, 0o755))
	env.Inputs = []contract.Input{
		{StageID: "train", Type: contract.Model, Port: PortModel, Dir: modelDir},
		{StageID: "split", Type: contract.Table, Port: PortData, Dir: dataDir},
	}
	require.NoError(t, st.Run(context.Background(), env))
	res, err := evaluation.ReadResult(env.OutDir)
	require.NoError(t, err)
	test := res.PerSplit["test"]
	mse := test.Metrics["mse"]
	assert.Greater(t, mse.Value, 0.0)
	assert.LessOrEqual(t, mse.Low, mse.Value)
	assert.InDelta(t, math.Sqrt(mse.Value), test.Metrics["rmse"].Value, 1e-12)
	assert.FileExists(t, filepath.Join(env.OutDir, "reconstruction_error.png"))
	preds, err := dataset.ReadFile(filepath.Join(env.OutDir, contract.PredictionsFile))
	require.NoError(t, err)
	sum := 0.0
	n := 0
	for i, s := range preds.Col("split").S {
		if s == "test" {
			sum += preds.Col("mse").F[i]
			n++
		}
	}
	assert.InDelta(t, sum/float64(n), mse.Value, 1e-9, "the split's MSE is the mean of the per-row errors")
}
