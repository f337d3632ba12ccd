package train

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/biopipe/biopipe/contract"
	"github.com/biopipe/biopipe/dataset"
	"github.com/biopipe/biopipe/models"
)

// blobFrame is a classification table: two Gaussian blobs in dim features, string labels,
// and a split column (train, val, test in 6:2:2).
func blobFrame(n, dim int, seed uint64) *dataset.Frame {
	r := rand.New(rand.NewPCG(seed, 3))
	f := dataset.New()
	label := &dataset.Column{Name: "diagnosis", Kind: dataset.String}
	split := &dataset.Column{Name: dataset.ColSplit, Kind: dataset.String}
	cols := make([]*dataset.Column, dim)
	for j := range cols {
		cols[j] = &dataset.Column{Name: fmt.Sprintf("f%d", j), Kind: dataset.Float}
	}
	for i := range n {
		c := i % 2
		label.S = append(label.S, []string{"benign", "malignant"}[c])
		split.S = append(split.S, []string{"train", "train", "train", "val", "test"}[i%5])
		for j := range cols {
			cols[j].F = append(cols[j].F, r.NormFloat64()+float64(2*c-1)*1.5)
		}
	}
	f.Columns = append(cols, label, split)
	f.Meta[dataset.MetaLabel] = "diagnosis"
	f.Meta[dataset.MetaTask] = "classification"
	f.SetClasses([]string{"benign", "malignant"})
	return f
}

func newEnv(t *testing.T, raw map[string]any, f *dataset.Frame) (*contract.Env, contract.Stage) {
	t.Helper()
	in := t.TempDir()
	require.NoError(t, f.WriteFile(filepath.Join(in, contract.DataFile)))
	return streamEnv(t, in, raw)
}

func TestStageTrainsClassifier(t *testing.T) {
	ctx := context.Background()
	f := blobFrame(300, 5, 1)
	raw := map[string]any{
		"model": "mlp", "hidden": []any{16}, "epochs": 10, "batch_size": 16,
		"optimizer": map[string]any{"learning_rate": 0.01},
	}
	env, st := newEnv(t, raw, f)
	require.NoError(t, st.Run(ctx, env))
	for _, name := range []string{contract.ModelCardFile, contract.HistoryFile, contract.SummaryFile} {
		assert.FileExists(t, env.Out(name))
	}
	assert.DirExists(t, env.Out(contract.CheckpointDir))
	m := env.Metrics()
	assert.Greater(t, m["val_accuracy"], 0.95)
	assert.Contains(t, m, "train_loss")
	assert.Contains(t, m, "val_loss")
	assert.Contains(t, m, "epochs_run")

	tm, err := models.Load(env.OutDir, "go")
	require.NoError(t, err)
	card := tm.Card()
	assert.Equal(t, []string{"benign", "malignant"}, card.Classes)
	assert.Equal(t, []string{"f0", "f1", "f2", "f3", "f4"}, card.FeatureNames)
	assert.Equal(t, int64(42), card.Seed)
	assert.Equal(t, 180, card.TrainExamples)
	assert.Equal(t, 60, card.ValExamples)
	x, err := f.Features(f.SplitRows(dataset.Test))
	require.NoError(t, err)
	cls, _, err := f.Labels(f.SplitRows(dataset.Test))
	require.NoError(t, err)
	probs, err := tm.Predict(ctx, x)
	require.NoError(t, err)
	hit := 0
	for i, p := range probs {
		if (p[1] > p[0]) == (cls[i] == 1) {
			hit++
		}
	}
	assert.Greater(t, float64(hit)/float64(len(probs)), 0.95)

	// Same seed, same inputs: the same model, bit for bit (training time aside).
	env2, st2 := newEnv(t, raw, f)
	require.NoError(t, st2.Run(ctx, env2))
	h1, err := os.ReadFile(env.Out(contract.HistoryFile))
	require.NoError(t, err)
	h2, err := os.ReadFile(env2.Out(contract.HistoryFile))
	require.NoError(t, err)
	var a, b models.History
	require.NoError(t, json.Unmarshal(h1, &a))
	require.NoError(t, json.Unmarshal(h2, &b))
	for i := range a.Epochs {
		a.Epochs[i].Seconds, b.Epochs[i].Seconds = 0, 0
	}
	assert.Equal(t, a, b)

	// The trained model initialises another through the "init" port.
	env3, st3 := newEnv(t, map[string]any{"model": "mlp", "hidden": []any{16}, "epochs": 1}, f)
	env3.Inputs = append(env3.Inputs, contract.Input{StageID: "pre", Type: contract.Model, Port: PortInit, Dir: env.OutDir})
	require.NoError(t, st3.Run(ctx, env3))
	c3, err := models.ReadCard(env3.OutDir)
	require.NoError(t, err)
	require.NotNil(t, c3.InitFrom)
	assert.Len(t, c3.InitFrom.Loaded, 4)
}

func TestStageRegressionWithoutVal(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 1))
	f := dataset.New()
	x := &dataset.Column{Name: "age", Kind: dataset.Float}
	y := &dataset.Column{Name: "dose", Kind: dataset.Float}
	split := &dataset.Column{Name: dataset.ColSplit, Kind: dataset.String}
	for i := range 120 {
		v := r.NormFloat64()
		x.F = append(x.F, v)
		y.F = append(y.F, 2*v+1+0.05*r.NormFloat64())
		split.S = append(split.S, map[bool]string{true: "test", false: "train"}[i%6 == 0])
	}
	f.Columns = []*dataset.Column{x, y, split}
	f.Meta[dataset.MetaLabel] = "dose"
	f.Meta[dataset.MetaTask] = "regression"
	env, st := newEnv(t, map[string]any{"model": "mlp", "hidden": []any{}, "epochs": 60, "batch_size": 10,
		"optimizer": map[string]any{"name": "sgd", "learning_rate": 0.05}}, f)
	require.NoError(t, st.Run(context.Background(), env))
	m := env.Metrics()
	assert.NotContains(t, m, "val_loss")
	assert.Less(t, m["train_mse"], 0.01)
	assert.Equal(t, 60, m["epochs_run"])
	h, err := models.ReadHistory(env.OutDir)
	require.NoError(t, err)
	assert.False(t, h.StoppedEarly)
	assert.Equal(t, 60, h.BestEpoch)
}

func TestStageConfigErrors(t *testing.T) {
	cases := []struct {
		name string
		raw  map[string]any
		want string
	}{
		{"typo", map[string]any{"model": "mlp", "epoch": 3}, `did you mean "epochs"`},
		{"missing model", map[string]any{"epochs": 3}, `"model": missing required field`},
		{"unknown model", map[string]any{"model": "mpl"}, `did you mean "mlp"`},
		{"bad activation", map[string]any{"model": "mlp", "activation": "softsign"}, `"softsign" is not one of`},
		{"bad optimizer", map[string]any{"model": "mlp", "optimizer": map[string]any{"name": "adamm"}}, `did you mean "adam"`},
		{"negative dropout", map[string]any{"model": "mlp", "dropout": -0.1}, "below the minimum"},
		{"maxout not for cnn", map[string]any{"model": "cnn", "activation": "maxout"}, `"maxout" is not one of`},
		{"bad schedule", map[string]any{"model": "mlp", "lr_schedule": map[string]any{"name": "cosin"}}, `did you mean "cosine"`},
		{"bad initializer", map[string]any{"model": "mlp", "initializer": "xavier"}, `"xavier" is not one of`},
		{"val_dice needs unet", map[string]any{"model": "cnn", "early_stopping": map[string]any{"monitor": "val_dice"}}, `val_dice needs a segmentation model (unet); "cnn" is not one`},
		{"val_accuracy not for unet", map[string]any{"model": "unet", "early_stopping": map[string]any{"monitor": "val_accuracy"}}, `val_accuracy needs a classification model; "unet" is a segmentation model`},
		{"cnn param on unet", map[string]any{"model": "unet", "channels": []any{8}}, `not a parameter of model "unet"`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cfg, issues := contract.Check(Fields, c.raw)
			if len(issues) == 0 {
				_, err := newStage(cfg)
				require.Error(t, err)
				assert.Contains(t, err.Error(), c.want)
				return
			}
			assert.Contains(t, (&contract.ConfigError{Issues: issues}).Error(), c.want)
		})
	}
}

func TestFamilyFieldsUnion(t *testing.T) {
	fams := []*models.Family{
		{Name: "mlp", Params: []contract.Field{
			{Name: "dropout", Type: contract.Float, Default: 0.0, Doc: "dropout", Min: contract.Bound(0)},
			{Name: "activation", Type: contract.String, Enum: []string{"relu", "tanh"}, Doc: "act"},
		}},
		{Name: "cnn", Params: []contract.Field{
			{Name: "dropout", Type: contract.Float, Default: 0.25, Doc: "dropout", Min: contract.Bound(0)},
			{Name: "activation", Type: contract.String, Enum: []string{"relu", "gelu"}, Doc: "act"},
			{Name: "filters", Type: contract.Ints, Default: []any{8, 16}, Doc: "conv filters"},
		}},
	}
	base := baseFields()
	union := familyFields(base, fams)
	require.Len(t, union, 3)
	assert.Equal(t, "dropout", union[0].Name)
	assert.Nil(t, union[0].Default)
	assert.Equal(t, "[mlp] dropout (default 0); [cnn] dropout (default 0.25)", union[0].Doc)
	assert.NotNil(t, union[0].Min)
	assert.Equal(t, []string{"relu", "tanh", "gelu"}, union[1].Enum)
	assert.Equal(t, "[cnn] conv filters (default [8, 16])", union[2].Doc)

	fields := append(base, union...)
	cfg, issues := contract.Check(fields, map[string]any{"model": "mlp", "filters": []any{4}, "dropout": 0.1})
	require.Empty(t, issues)
	params, issues := familyParams(fams[0], cfg, union, fams)
	require.Len(t, issues, 1)
	assert.Equal(t, `field "filters": not a parameter of model "mlp" (used by cnn); mlp params: dropout, activation`, issues[0].Error())
	cfg, _ = contract.Check(fields, map[string]any{"model": "mlp", "activation": "gelu"})
	_, issues = familyParams(fams[0], cfg, union, fams)
	require.Len(t, issues, 1)
	assert.Contains(t, issues[0].Error(), `"gelu" is not one of relu, tanh`)
	cfg, _ = contract.Check(fields, map[string]any{"model": "cnn", "dropout": 0.1})
	params, issues = familyParams(fams[1], cfg, union, fams)
	require.Empty(t, issues)
	assert.Equal(t, map[string]any{"dropout": 0.1}, params)

	assert.Panics(t, func() {
		familyFields(base, []*models.Family{{Name: "x", Params: []contract.Field{{Name: "epochs", Type: contract.Int}}}})
	})
	assert.Panics(t, func() {
		familyFields(base, append(fams, &models.Family{Name: "y", Params: []contract.Field{{Name: "dropout", Type: contract.Int}}}))
	})
}

func TestStageRegistered(t *testing.T) {
	k, err := contract.Default.Get(KindName)
	require.NoError(t, err)
	assert.True(t, k.UsesBackend)
	assert.Equal(t, contract.Model, k.Output.Type)
	names := map[string]bool{}
	for _, f := range k.Fields {
		names[f.Name] = true
	}
	for _, n := range []string{"model", "epochs", "batch_size", "optimizer", "early_stopping", "init_from", "hidden", "activation", "dropout", "normalization"} {
		assert.True(t, names[n], n)
	}
}

// TestStageBreastCancer trains the reference MLP (30 standardised features, hidden [64, 32],
// adam 1e-3, batch 64, 40 epochs) on the WDBC table.
func TestStageBreastCancer(t *testing.T) {
	path := filepath.Join("..", "..", "testdata", "ehr", "breast_cancer.csv")
	f, err := readBreastCancer(path)
	if os.IsNotExist(err) {
		t.Skip("testdata/ehr/breast_cancer.csv not present")
	}
	require.NoError(t, err)
	env, st := newEnv(t, map[string]any{
		"model": "mlp", "hidden": []any{64, 32}, "epochs": 40, "batch_size": 64,
		"optimizer": map[string]any{"name": "adam", "learning_rate": 1e-3},
	}, f)
	start := time.Now()
	require.NoError(t, st.Run(context.Background(), env))
	m := env.Metrics()
	t.Logf("breast cancer mlp: %v, epochs %v, val accuracy %.3f, val loss %.4f", time.Since(start), m["epochs_run"], m["val_accuracy"], m["val_loss"])
	assert.Greater(t, m["val_accuracy"], 0.93)
}

// readBreastCancer reads the CSV, standardises the features with the train rows' mean and
// standard deviation, and splits 70/15/15 with a seeded shuffle.
func readBreastCancer(path string) (*dataset.Frame, error) {
	fh, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer fh.Close()
	recs, err := csv.NewReader(fh).ReadAll()
	if err != nil {
		return nil, err
	}
	head, rows := recs[0], recs[1:]
	n := len(rows)
	perm := rand.New(rand.NewPCG(7, 7)).Perm(n)
	split := make([]string, n)
	for i, p := range perm {
		switch {
		case i < n*70/100:
			split[p] = "train"
		case i < n*85/100:
			split[p] = "val"
		default:
			split[p] = "test"
		}
	}
	f := dataset.New()
	for j, name := range head {
		c := &dataset.Column{Name: name, Kind: dataset.Float}
		for i, r := range rows {
			v, err := strconv.ParseFloat(r[j], 64)
			if err != nil {
				return nil, fmt.Errorf("%s: row %d column %q: %w", path, i+2, name, err)
			}
			c.F = append(c.F, v)
		}
		if name == "target" {
			c = &dataset.Column{Name: name, Kind: dataset.String, S: make([]string, n)}
			for i, r := range rows {
				c.S[i] = map[string]string{"0": "malignant", "1": "benign"}[r[j]]
			}
		} else {
			var mean, sd float64
			var k float64
			for i, v := range c.F {
				if split[i] == "train" {
					mean += v
					k++
				}
			}
			mean /= k
			for i, v := range c.F {
				if split[i] == "train" {
					sd += (v - mean) * (v - mean)
				}
			}
			sd = math.Sqrt(sd / k)
			for i := range c.F {
				c.F[i] = (c.F[i] - mean) / sd
			}
		}
		f.Columns = append(f.Columns, c)
	}
	f.Columns = append(f.Columns, &dataset.Column{Name: dataset.ColSplit, Kind: dataset.String, S: split})
	f.Meta[dataset.MetaLabel] = "target"
	f.Meta[dataset.MetaTask] = "classification"
	f.SetClasses([]string{"malignant", "benign"})
	return f, nil
}

// TestStageCourseFields: the optimizer, schedule, penalty, initializer and callbacks fields
// reach the model and are recorded on its card; TensorBoard events go to the run folder.
func TestStageCourseFields(t *testing.T) {
	ctx := context.Background()
	raw := map[string]any{
		"model": "mlp", "hidden": []any{8}, "activation": "maxout", "maxout_pieces": 3, "epochs": 6, "batch_size": 16,
		"optimizer":      map[string]any{"name": "sgd", "learning_rate": 0.05, "momentum": 0.9, "nesterov": true, "clip_norm": 5.0},
		"lr_schedule":    map[string]any{"name": "cosine", "warmup_epochs": 1, "min_lr": 0.001},
		"regularization": map[string]any{"l2": 1e-4},
		"initializer":    "glorot_uniform",
		"callbacks":      map[string]any{"csv_log": true, "checkpoint": "best"},
		"class_loss":     "focal",
		"class_weights":  map[string]any{"malignant": 2.0},
	}
	env, st := newEnv(t, raw, blobFrame(200, 4, 2))
	env.RunDir = t.TempDir()
	require.NoError(t, st.Run(ctx, env))
	assert.FileExists(t, env.Out(models.HistoryCSVFile))
	events, err := filepath.Glob(filepath.Join(env.RunDir, "tensorboard", "train", "events.out.tfevents.*"))
	require.NoError(t, err)
	assert.Len(t, events, 1, "TensorBoard events in the run folder, not in the artifact")
	inArtifact, _ := filepath.Glob(filepath.Join(env.OutDir, "events.out.tfevents.*"))
	assert.Empty(t, inArtifact)
	card, err := models.ReadCard(env.OutDir)
	require.NoError(t, err)
	assert.Equal(t, models.OptimizerConfig{Name: "sgd", LearningRate: 0.05, Momentum: 0.9, Nesterov: true, ClipNorm: 5}, card.Optimizer)
	require.NotNil(t, card.Schedule)
	assert.Equal(t, "cosine", card.Schedule.Name)
	assert.Equal(t, &models.Regularization{L2: 1e-4}, card.Regularization)
	assert.Equal(t, "glorot_uniform", card.Initializer)
	require.NotNil(t, card.Loss)
	assert.Equal(t, models.ClassLoss{Name: "focal", FocalGamma: 2, ClassWeight: "none", Weights: map[string]float64{"malignant": 2}, Resolved: []float64{1, 2}}, *card.Loss)
	assert.Greater(t, env.Metrics()["val_accuracy"], 0.9)
}
