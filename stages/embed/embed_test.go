package embed_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"image/png"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/biopipe/biopipe/contract"
	"github.com/biopipe/biopipe/dataset"
	"github.com/biopipe/biopipe/models"
	"github.com/biopipe/biopipe/stages/embed"
	"github.com/biopipe/biopipe/stages/train"
)

// clusters writes a table of n rows: three classes, each a Gaussian cluster around its own
// centre in a 3-D subspace of a dim-dimensional tensor column "x", with id, group, batch
// and split role columns.
func clusters(t *testing.T, n, dim int) string {
	t.Helper()
	r := rand.New(rand.NewPCG(1, 2))
	classes := []string{"alpha", "beta", "gamma"}
	w := make([]float64, 3*dim)
	for i := range w {
		w[i] = r.NormFloat64()
	}
	f := dataset.New()
	x := &dataset.Column{Name: "x", Kind: dataset.Tensor, Shape: []int{dim}}
	id := &dataset.Column{Name: "sample", Kind: dataset.String}
	label := &dataset.Column{Name: "cell_type", Kind: dataset.String}
	group := &dataset.Column{Name: "donor", Kind: dataset.String}
	batch := &dataset.Column{Name: "batch", Kind: dataset.String, Meta: map[string]string{"biopipe.role": "batch"}}
	split := &dataset.Column{Name: dataset.ColSplit, Kind: dataset.String}
	for i := range n {
		c := i % 3
		z := []float64{r.NormFloat64() * 0.4, r.NormFloat64() * 0.4, r.NormFloat64() * 0.4}
		z[c] += 2.5
		for j := range dim {
			v := 0.1 * r.NormFloat64()
			for k := range 3 {
				v += z[k] * w[k*dim+j]
			}
			x.T = append(x.T, float32(v/3))
		}
		id.S = append(id.S, fmt.Sprintf("cell%04d", i))
		label.S = append(label.S, classes[c])
		group.S = append(group.S, fmt.Sprintf("donor%d", i%4))
		batch.S = append(batch.S, fmt.Sprintf("b%d", i%2))
		s := dataset.Train
		switch i % 10 {
		case 7:
			s = dataset.Val
		case 8, 9:
			s = dataset.Test
		}
		split.S = append(split.S, s)
	}
	f.Columns = []*dataset.Column{id, x, label, group, batch, split}
	f.Meta[dataset.MetaID], f.Meta[dataset.MetaLabel], f.Meta[dataset.MetaGroup] = "sample", "cell_type", "donor"
	f.Meta[dataset.MetaTask] = "classification"
	f.SetClasses(classes)
	dir := t.TempDir()
	require.NoError(t, f.WriteFile(filepath.Join(dir, contract.DataFile)))
	return dir
}

func trainAE(t *testing.T, family string, data string, latent int) string {
	t.Helper()
	f, err := dataset.ReadFile(filepath.Join(data, contract.DataFile))
	require.NoError(t, err)
	x, err := f.Features(f.SplitRows(dataset.Train))
	require.NoError(t, err)
	params := map[string]any{"hidden": []any{16}, "latent_dim": latent}
	if family == "vae" {
		params["beta"] = 0.1
	}
	dir := t.TempDir()
	_, err = models.Train(context.Background(), models.TrainOptions{
		Family: family, Params: params,
		Train: &models.Data{X: x}, Epochs: 30, BatchSize: 32, Seed: 1, OutDir: dir,
		Optimizer: models.OptimizerConfig{LearningRate: 3e-3},
	})
	require.NoError(t, err)
	return dir
}

func run(t *testing.T, kind string, raw map[string]any, inputs ...contract.Input) *contract.Env {
	t.Helper()
	k, err := contract.Default.Get(kind)
	require.NoError(t, err)
	cfg, issues := contract.Check(k.Fields, raw)
	require.Empty(t, issues)
	st, err := k.New(cfg)
	require.NoError(t, err)
	env := contract.NewEnv(nil)
	env.StageID, env.Kind, env.Config, env.Seed, env.Backend = kind, kind, cfg, 7, "go"
	env.Inputs = inputs
	env.OutDir = t.TempDir()
	require.NoError(t, st.Run(context.Background(), env))
	return env
}

func TestEmbedVAEThenClassify(t *testing.T) {
	data := clusters(t, 300, 20)
	modelDir := trainAE(t, "vae", data, 4)
	env := run(t, embed.KindName, map[string]any{},
		contract.Input{StageID: "vae", Type: contract.Model, Port: embed.PortModel, Dir: modelDir},
		contract.Input{StageID: "scale", Type: contract.Table, Port: embed.PortData, Dir: data})

	out, err := dataset.ReadFile(env.Out(contract.DataFile))
	require.NoError(t, err)
	assert.Equal(t, []string{"sample", "cell_type", "donor", "batch", "split", "z0", "z1", "z2", "z3"}, out.Names())
	assert.Equal(t, 300, out.NumRows())
	assert.Equal(t, "sample", out.Meta[dataset.MetaID])
	assert.Equal(t, []string{"alpha", "beta", "gamma"}, out.Classes())
	assert.Equal(t, "batch", out.Col("batch").Meta["biopipe.role"], "role metadata carries over")
	for _, v := range out.Col("z0").F {
		require.False(t, math.IsNaN(v))
	}
	// The table's latent columns are the model's "latent" output (the VAE's mean).
	m, err := models.Load(modelDir, "")
	require.NoError(t, err)
	in, _ := dataset.ReadFile(filepath.Join(data, contract.DataFile))
	x, _ := in.Features(nil)
	outs, err := m.Outputs(context.Background(), x)
	require.NoError(t, err)
	assert.Equal(t, float64(outs[1].Values[5][2]), out.Col("z2").F[5])

	var sum embed.Summary
	b, err := os.ReadFile(env.Out(contract.SummaryFile))
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(b, &sum))
	assert.Equal(t, 4, sum.Dims)
	assert.Equal(t, "pca", sum.Plot)
	assert.Equal(t, map[string]int{"train": 210, "val": 30, "test": 60}, sum.PerSplit)
	require.Len(t, sum.Explained, 2)
	assert.Greater(t, sum.Explained[0], sum.Explained[1])
	require.Len(t, sum.Figures, 1)
	assert.Equal(t, embed.FigureFile, sum.Figures[0].File)
	assert.Contains(t, sum.Figures[0].Caption, "coloured by cell_type")
	img, err := os.ReadFile(env.Out(embed.FigureFile))
	require.NoError(t, err)
	cfg, err := png.DecodeConfig(bytes.NewReader(img))
	require.NoError(t, err)
	assert.Greater(t, cfg.Width, 300)
	assert.Equal(t, 4, env.Metrics()["latent_dims"])

	// Same inputs, same artifact bytes.
	again := run(t, embed.KindName, map[string]any{},
		contract.Input{StageID: "vae", Type: contract.Model, Port: embed.PortModel, Dir: modelDir},
		contract.Input{StageID: "scale", Type: contract.Table, Port: embed.PortData, Dir: data})
	for _, f := range []string{contract.DataFile, embed.FigureFile, contract.SummaryFile} {
		a, _ := os.ReadFile(env.Out(f))
		b, _ := os.ReadFile(again.Out(f))
		assert.True(t, bytes.Equal(a, b), "%s differs between runs", f)
	}

	// A classifier on the latent space: the train stage reads z0..z3 as the features.
	tr := run(t, train.KindName, map[string]any{"model": "mlp", "hidden": []any{16}, "epochs": 40, "batch_size": 32,
		"optimizer": map[string]any{"learning_rate": 0.01}},
		contract.Input{StageID: "embed", Type: contract.Table, Port: train.PortData, Dir: env.OutDir})
	card, err := models.ReadCard(tr.OutDir)
	require.NoError(t, err)
	assert.Equal(t, []string{"z0", "z1", "z2", "z3"}, card.FeatureNames)
	acc, _ := tr.Metrics()["val_accuracy"].(float64)
	assert.Greater(t, acc, 0.9, "the clusters separate in the latent space")
}

func TestEmbedFormatsAndPlots(t *testing.T) {
	data := clusters(t, 120, 10)
	ae := trainAE(t, "autoencoder", data, 2)
	inputs := []contract.Input{
		{StageID: "ae", Type: contract.Model, Port: embed.PortModel, Dir: ae},
		{StageID: "split", Type: contract.Table, Port: embed.PortData, Dir: data},
	}
	env := run(t, embed.KindName, map[string]any{"format": "tensor", "column": "code"}, inputs...)
	out, err := dataset.ReadFile(env.Out(contract.DataFile))
	require.NoError(t, err)
	c := out.Col("code")
	require.NotNil(t, c)
	assert.Equal(t, dataset.Tensor, c.Kind)
	assert.Equal(t, []int{2}, c.Shape)
	var sum embed.Summary
	b, _ := os.ReadFile(env.Out(contract.SummaryFile))
	require.NoError(t, json.Unmarshal(b, &sum))
	assert.Equal(t, "latent", sum.Plot, "a 2-D code is plotted as it is")
	assert.Empty(t, sum.Explained)

	env = run(t, embed.KindName, map[string]any{"plot": "none", "prefix": "ae_"}, inputs...)
	assert.NoFileExists(t, env.Out(embed.FigureFile))
	out, err = dataset.ReadFile(env.Out(contract.DataFile))
	require.NoError(t, err)
	assert.NotNil(t, out.Col("ae_1"))

	// The reconstruction is an output too; an unknown output lists the model's outputs.
	env = run(t, embed.KindName, map[string]any{"output": "reconstruction", "plot": "pca"}, inputs...)
	out, _ = dataset.ReadFile(env.Out(contract.DataFile))
	assert.NotNil(t, out.Col("z9"))

	k, _ := contract.Default.Get(embed.KindName)
	cfg, _ := contract.Check(k.Fields, map[string]any{"output": "codes"})
	st, err := k.New(cfg)
	require.NoError(t, err)
	e := contract.NewEnv(nil)
	e.StageID, e.Config, e.Inputs, e.OutDir = "embed", cfg, inputs, t.TempDir()
	err = st.Run(context.Background(), e)
	assert.ErrorContains(t, err, `no output "codes" (its outputs: reconstruction, latent)`)

	// A role column name clash is an error, not a silent overwrite.
	cfg, _ = contract.Check(k.Fields, map[string]any{"format": "tensor", "column": "donor"})
	st, _ = k.New(cfg)
	e.Config, e.OutDir = cfg, t.TempDir()
	assert.ErrorContains(t, st.Run(context.Background(), e), `"donor" would replace the role column`)
}
