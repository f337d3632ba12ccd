package report

import (
	"context"
	"encoding/json"
	"flag"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/biopipe/biopipe/contract"
	"github.com/biopipe/biopipe/dataset"
	"github.com/biopipe/biopipe/evaluation"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var update = flag.Bool("update", false, "rewrite the golden files")

// goldenSource builds a finished run from fixed predictions: a table, a model card and
// history written by hand, and an evaluation computed by evaluation.Evaluate.
func goldenSource(t *testing.T) *Source {
	dir := t.TempDir()
	rng := rand.New(rand.NewPCG(21, 22))
	f := dataset.New()
	x := &dataset.Column{Name: "x", Kind: dataset.Float}
	y := &dataset.Column{Name: "outcome", Kind: dataset.String}
	s := &dataset.Column{Name: dataset.ColSplit, Kind: dataset.String}
	preds := map[string]*evaluation.Predictions{}
	for i := 0; i < 300; i++ {
		c := i % 3 % 2
		split := []string{"train", "train", "train", "val", "test"}[i%5]
		x.F = append(x.F, float64(c)+rng.NormFloat64())
		y.S = append(y.S, []string{"control", "case"}[c])
		s.S = append(s.S, split)
		p := preds[split]
		if p == nil {
			p = &evaluation.Predictions{}
			preds[split] = p
		}
		score := 1 / (1 + math.Exp(-(1.6*float64(2*c-1) + rng.NormFloat64())))
		p.Rows = append(p.Rows, i)
		p.Truth = append(p.Truth, c)
		p.Probs = append(p.Probs, []float64{1 - score, score})
	}
	f.Columns = []*dataset.Column{x, y, s}
	f.Meta[dataset.MetaLabel] = "outcome"
	f.Meta[dataset.MetaTask] = "classification"
	f.Meta[dataset.MetaSource] = "cohort.csv"
	f.SetClasses([]string{"control", "case"})
	dataDir := filepath.Join(dir, "load")
	modelDir := filepath.Join(dir, "train")
	evalDir := filepath.Join(dir, "eval")
	for _, d := range []string{dataDir, modelDir, evalDir} {
		require.NoError(t, os.MkdirAll(d, 0o755))
	}
	require.NoError(t, f.WriteFile(filepath.Join(dataDir, contract.DataFile)))
	require.NoError(t, os.WriteFile(filepath.Join(dataDir, contract.SummaryFile), []byte(`{"rows": 300, "columns": 3, "missing_values": 0}`), 0o644))
	card := map[string]any{"family": "mlp", "params": map[string]any{"hidden": []int{16}, "dropout": 0.1}, "task": "classification",
		"input_shape": []int{1}, "classes": []string{"control", "case"}, "outputs": []string{"output"}, "epochs": 20, "epochs_run": 12,
		"best_epoch": 9, "batch_size": 32, "optimizer": map[string]any{"name": "adam", "learning_rate": 0.001, "weight_decay": 0},
		"early_stopping": map[string]any{"patience": 3, "monitor": "val_loss"}, "backend": "go", "seed": 42,
		"train_examples": 180, "val_examples": 60, "num_parameters": 65, "train_seconds": 1.5}
	b, _ := json.Marshal(card)
	require.NoError(t, os.WriteFile(filepath.Join(modelDir, contract.ModelCardFile), b, 0o644))
	var hist []map[string]float64
	for e := 1; e <= 12; e++ {
		hist = append(hist, map[string]float64{"epoch": float64(e), "train_loss": 1 / float64(e), "val_loss": 1.2/float64(e) + 0.01*float64(e)})
	}
	b, _ = json.Marshal(map[string]any{"epochs": hist})
	require.NoError(t, os.WriteFile(filepath.Join(modelDir, contract.HistoryFile), b, 0o644))

	out, err := evaluation.Evaluate(context.Background(), preds, evaluation.Options{Task: "classification", Classes: []string{"control", "case"},
		Model: "mlp", Threshold: "youden", Resamples: 200, Seed: 42, Order: []string{"train", "val", "test"}})
	require.NoError(t, err)
	b, err = json.Marshal(out.Result)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(evalDir, contract.MetricsFile), b, 0o644))
	for name, png := range out.Figures {
		require.NoError(t, os.WriteFile(filepath.Join(evalDir, name), png, 0o644))
	}
	ev, err := LoadEvaluation("eval", evalDir)
	require.NoError(t, err)
	return &Source{
		Context: "We ask whether a single marker separates cases from controls.",
		Pipeline: contract.PipelineInfo{Name: "golden", File: "golden.yaml", SpecHash: "0f1e2d", Command: "biopipe run golden.yaml",
			RunID: "20260101-000000-golden", Version: "0.1.0", SpecYAML: "name: golden\nseed: 42\n",
			Modules: map[string]string{"github.com/gomlx/gomlx": "v0.28.2", "gonum.org/v1/plot": "v0.17.0"},
			Stages: []contract.StageInfo{
				{ID: "load", Kind: "ingest.table", Config: contract.Config{"path": "cohort.csv", "label": "outcome"}},
				{ID: "train", Kind: "train", Inputs: []string{"load"}, Config: contract.Config{"model": "mlp", "epochs": 20}},
				{ID: "eval", Kind: "evaluate", Inputs: []string{"train", "load"}, Config: contract.Config{"threshold": "youden", "bootstrap": 200}},
				{ID: "report", Kind: "report", Inputs: []string{"eval"}},
			},
		},
		Backend: "go", Seed: 42, Evaluations: []Evaluation{ev},
		Artifacts: []contract.Input{
			{StageID: "load", Kind: "ingest.table", Type: contract.Table, Dir: dataDir, Digest: "d1"},
			{StageID: "train", Kind: "train", Type: contract.Model, Dir: modelDir, Digest: "d2"},
			{StageID: "eval", Kind: "evaluate", Type: contract.Metrics, Dir: evalDir, Digest: "d3"},
		},
	}
}

func TestGoldenMarkdown(t *testing.T) {
	b, err := Build(context.Background(), goldenSource(t), Options{})
	require.NoError(t, err)
	got := b.Doc.Markdown()
	path := filepath.Join("testdata", "report.golden.md")
	if *update {
		require.NoError(t, os.MkdirAll("testdata", 0o755))
		require.NoError(t, os.WriteFile(path, got, 0o644))
	}
	want, err := os.ReadFile(path)
	require.NoError(t, err, "run go test ./report -run Golden -update")
	assert.Equal(t, string(want), string(got))
	html := string(b.Doc.HTML())
	assert.Equal(t, len(b.Doc.Figures()), strings.Count(html, `<img alt=`))
}
