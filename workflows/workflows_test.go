package workflows

import (
	"context"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/biopipe/biopipe/contract"
	"github.com/biopipe/biopipe/manifest"
	"github.com/biopipe/biopipe/pipelines"
	_ "github.com/biopipe/biopipe/stages/all"
)

// quickstart is the example pipeline the workflow files below sweep.
var quickstart = filepath.Join("..", "configs", "quickstart.yaml")

func writeWorkflow(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "wf.yaml")
	require.NoError(t, os.WriteFile(p, []byte(body), 0o644))
	return p
}

func TestLoadErrors(t *testing.T) {
	abs, err := filepath.Abs(quickstart)
	require.NoError(t, err)
	head := "name: t\npipeline: " + abs + "\n"
	for _, tc := range []struct {
		name, body string
		want       []string
	}{
		{"unknown key", head + "sweeps:\n  seed: [1]\n", []string{"wf.yaml:3:1:", `unknown key "sweeps"`, `did you mean "sweep"?`}},
		{"unknown field", head + "sweep:\n  stages.train.with.optimizer.learnin_rate: [0.1]\n", []string{"wf.yaml:4:3: sweep", `field "optimizer.learnin_rate": unknown field`, `did you mean "learning_rate"?`}},
		{"unknown stage", head + "sweep:\n  stages.trian.with.epochs: [3]\n", []string{"wf.yaml:4:3:", `no stage "trian"`, `did you mean "train"?`}},
		{"wrong type", head + "sweep:\n  stages.train.with.epochs: [3, many]\n", []string{"wf.yaml:4:3: sweep stages.train.with.epochs=many", "want an integer"}},
		{"unknown top key", head + "sweep:\n  seeds: [1, 2]\n", []string{"wf.yaml:4:3:", `unknown key "seeds"`, `did you mean "seed"?`}},
		{"empty axis", head + "sweep:\n  seed: []\n", []string{"wf.yaml:4:9:", "non-empty list"}},
		{"group_by not swept", head + "sweep:\n  seed: [1]\ntable:\n  metrics: [test_auroc]\n  group_by: [stages.train.with.epoch]\n", []string{"wf.yaml:7:", `not a sweep key`}},
		{"table key", head + "table:\n  metric: [test_auroc]\n", []string{"wf.yaml:4:3:", `unknown key "metric" in table`, `did you mean "metrics"?`}},
		{"no pipeline file", "pipeline: nowhere.yaml\n", []string{"wf.yaml:1:11:", "nowhere.yaml: no such file"}},
		{"bad schedule", head + "schedule: \"0 3 * *\"\n", []string{"wf.yaml:3:11:", `schedule "0 3 * *"`}},
		{"slurm key", head + "slurm:\n  memory: 4G\n", []string{"wf.yaml:4:3:", `field "slurm.memory": unknown field (did you mean "mem"?)`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Load(writeWorkflow(t, tc.body), contract.Default)
			require.Error(t, err)
			var se pipelines.SpecErrors
			assert.ErrorAs(t, err, &se, "positioned errors exit with code 2")
			for _, w := range tc.want {
				assert.Contains(t, err.Error(), w)
			}
		})
	}
}

func TestExpandGrid(t *testing.T) {
	abs, err := filepath.Abs(quickstart)
	require.NoError(t, err)
	w, err := Load(writeWorkflow(t, "pipeline: "+abs+"\nsweep:\n  stages.train.with.optimizer.learning_rate: [0.01, 0.001]\n  seed: [1, 2, 3]\n"), contract.Default)
	require.NoError(t, err)
	require.Len(t, w.Points(), 6)
	// The last axis varies fastest; each point's plan carries its values.
	want := [][2]any{{0.01, 1}, {0.01, 2}, {0.01, 3}, {0.001, 1}, {0.001, 2}, {0.001, 3}}
	for i, p := range w.Points() {
		assert.Equal(t, want[i][0], p.Values[0])
		assert.Equal(t, want[i][1], p.Values[1])
		plan := w.Plan(i)
		assert.EqualValues(t, want[i][1], plan.Spec.Seed)
		assert.Equal(t, want[i][0], plan.Stage("train").Config.Object("optimizer").Float("learning_rate"))
	}
	assert.Equal(t, "learning_rate=0.01, seed=2", w.Label(w.Points()[1]))
	assert.True(t, IsWorkflow(w.File))
	assert.False(t, IsWorkflow(quickstart))
}

// TestSummarise checks the t interval against Student's t quantiles from a printed table
// (t_{0.975,2} = 4.303, t_{0.975,4} = 2.776).
func TestSummarise(t *testing.T) {
	for _, tc := range []struct {
		v            []float64
		mean, sd, tq float64
	}{
		{[]float64{1, 2, 3}, 2, 1, 4.303},
		{[]float64{0.90, 0.92, 0.94, 0.96, 0.98}, 0.94, math.Sqrt(0.001), 2.776},
	} {
		c := summarise(tc.v, 0.95)
		assert.InDelta(t, tc.mean, c.Mean, 1e-12)
		assert.InDelta(t, tc.sd, c.SD, 1e-12)
		half := tc.tq * tc.sd / math.Sqrt(float64(len(tc.v)))
		assert.InDelta(t, tc.mean-half, c.Lo, 1e-3)
		assert.InDelta(t, tc.mean+half, c.Hi, 1e-3)
	}
	one := summarise([]float64{0.5}, 0.95)
	assert.True(t, math.IsNaN(one.Lo) && math.IsNaN(one.SD), "one run has no interval")
}

func TestTableFormats(t *testing.T) {
	tab := &Table{Workflow: "w", GroupBy: []string{"stages.train.with.optimizer.learning_rate"}, Metrics: []string{"test_auroc"}, Level: 0.95,
		Rows: []Row{{Group: []any{0.001}, Cells: []Cell{summarise([]float64{0.9, 0.95, 1.0}, 0.95)}}}}
	tab.Rows[0].Cells[0].Pooled, tab.Rows[0].Cells[0].BootLo, tab.Rows[0].Cells[0].BootHi = 0.93, 0.85, 0.99
	md := tab.Markdown()
	assert.Contains(t, md, "| learning_rate | n | test_auroc (mean ± sd) | test_auroc 95% CI (t) | test_auroc pooled [95% bootstrap CI] |")
	assert.Contains(t, md, "| 0.001 | 3 | 0.9500 ± 0.0500 | [0.8258, 1.0742] | 0.9300 [0.8500, 0.9900] |")
	tex := tab.LaTeX()
	assert.Contains(t, tex, "\\toprule")
	assert.Contains(t, tex, "0.001 & 3 & 0.9500 $\\pm$ 0.0500 & [0.8258, 1.0742] & 0.9300 [0.8500, 0.9900] \\\\")
	assert.Contains(t, tex, "learning\\_rate")
	csv := tab.CSV()
	assert.Contains(t, csv, "stages.train.with.optimizer.learning_rate,n,test_auroc_mean,test_auroc_sd,test_auroc_ci_low,test_auroc_ci_high,test_auroc_pooled,test_auroc_boot_low,test_auroc_boot_high\n")
	assert.Contains(t, csv, "0.001,3,0.95000000000000007,0.049999999999999989,")
}

func TestVerify(t *testing.T) {
	data := filepath.Join(t.TempDir(), "bc.csv")
	b, err := os.ReadFile(filepath.Join("..", "testdata", "ehr", "breast_cancer.csv"))
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(data, b, 0o644))
	src, err := pipelines.Load(quickstart, []pipelines.Override{{Path: "vars.data", Value: data, Origin: "test"}})
	require.NoError(t, err)
	plan, err := pipelines.Validate(src, contract.Default)
	require.NoError(t, err)
	wd := t.TempDir()
	m, err := pipelines.Run(context.Background(), plan, pipelines.Options{WorkDir: wd})
	require.NoError(t, err)
	runDir := filepath.Join(wd, "runs", m.RunID)

	// The pooled estimate of a single run is that run's own metric.
	_, auroc, err := metricOf(m, "test_auroc", "")
	require.NoError(t, err)
	pooled, err := pooledBootstrap([]string{artifactDir(m, "eval")}, []string{"test_auroc", "val_auroc"}, 0.95)
	require.NoError(t, err)
	require.Contains(t, pooled, "test_auroc")
	assert.NotContains(t, pooled, "val_auroc", "only the primary split's predictions are pooled")
	assert.InDelta(t, auroc, pooled["test_auroc"].Value, 1e-12)
	assert.Less(t, pooled["test_auroc"].Low, pooled["test_auroc"].High)

	res, err := Verify(context.Background(), runDir, contract.Default, VerifyOptions{})
	require.NoError(t, err)
	require.True(t, res.OK(), "%v", res.Diffs)
	assert.Equal(t, len(m.Stages), res.Compared)

	// A modified file in the store is named with its stage and artifact.
	var model *manifest.StageRecord
	for _, s := range m.Stages {
		if s.ID == "train" {
			model = s
		}
	}
	require.NotNil(t, model)
	card := filepath.Join(model.Artifact.Dir, "model.json")
	orig, err := os.ReadFile(card)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(card, append(orig, ' '), 0o644))
	res, err = Verify(context.Background(), runDir, contract.Default, VerifyOptions{})
	require.NoError(t, err)
	require.Len(t, res.Diffs, 1)
	assert.Equal(t, "train", res.Diffs[0].Stage)
	assert.Equal(t, "stored", res.Diffs[0].What)
	assert.Equal(t, []string{"model.json"}, res.Diffs[0].Files)
	assert.Contains(t, res.Diffs[0].String(), model.Artifact.Dir)
	require.NoError(t, os.WriteFile(card, orig, 0o644))

	// A changed input file is named as a changed input, not as a changed computation.
	require.NoError(t, os.WriteFile(data, append(b, []byte("1,2\n")...), 0o644))
	res, err = Verify(context.Background(), runDir, contract.Default, VerifyOptions{})
	require.NoError(t, err)
	require.Len(t, res.Diffs, 1)
	assert.Equal(t, "input", res.Diffs[0].What)
	assert.Equal(t, "load", res.Diffs[0].Stage)
	assert.Contains(t, res.Diffs[0].Msg, data+` (field "path") changed since the run`)
}
