// Package configs holds example pipelines; this test runs every one of them end to end.
package configs

import (
	"context"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/biopipe/biopipe/contract"
	"github.com/biopipe/biopipe/llm/llmtest"
	"github.com/biopipe/biopipe/manifest"
	"github.com/biopipe/biopipe/models/tensorboard"
	"github.com/biopipe/biopipe/pipelines"
	_ "github.com/biopipe/biopipe/stages/all"
	"github.com/biopipe/biopipe/testdata/gen/notesgen"
	"github.com/biopipe/biopipe/workflows"
)

// expect lists, per config, the headline figures it must reach (metric name -> minimum):
// every stage that reports the metric in the manifest (each fold of a k-fold run) must reach it.
var expect = map[string]map[string]float64{
	"quickstart.yaml":          {"test_auroc": 0.97},
	"quickstart-kfold.yaml":    {"test_auroc": 0.97},
	"diabetes-regression.yaml": {"test_r2": 0.35},
	"digits-cnn.yaml":          {"test_accuracy": 0.97},
	"dicom-cnn.yaml":           {"test_accuracy": 0.95},
	"eeg-lstm.yaml":            {"test_balanced_accuracy": 0.90},
	"expression-ae.yaml":       {"test_balanced_accuracy": 0.95},
	"expression-pca.yaml":      {"test_balanced_accuracy": 0.95},
	"notes-extract.yaml":       {"extract_mean_accuracy": 0.85, "extract_smoker_f1": 0.80},
	"transfer-digits.yaml":     {"test_accuracy": 0.93},
	"quickstart-sweep.yaml":    {"test_auroc": 0.97}, // the best setting's mean over seeds
	"splice-cnn1d.yaml":        {"test_accuracy": 0.93},
	"digits-folder-cnn.yaml":   {"test_accuracy": 0.97},
	"nifti-cnn3d.yaml":         {"test_auroc": 0.95},
	"nifti-seg.yaml":           {"test_dice": 0.9},
	// Generative models: 1,000 samples measured by a classifier trained on the real digits.
	"digits-gan.yaml":       {"sample_confidence": 0.8, "class_coverage": 9},
	"digits-diffusion.yaml": {"sample_confidence": 0.8, "class_coverage": 9},
	"dicom-anomaly.yaml":    {"test_anomaly_auroc": 0.9},
	// The lowest of the three models (images, table, fusion); stageBeats compares them.
	"multimodal.yaml": {"test_auroc": 0.65},
}

// stageBeats lists, per config, a stage whose metric must be higher than each of the other
// stages' on the same test rows (a model that must beat its baselines).
var stageBeats = map[string]struct {
	winner, metric string
	over           []string
}{
	"multimodal.yaml": {"eval_fusion", "test_auroc", []string{"eval_image", "eval_table"}},
}

// stageExpect lists, per config, ranges a stage's metric must fall in: stage id -> metric
// -> {min, max} (configs that compare models, e.g. a perceptron that must fail beside an MLP
// that must succeed).
var stageExpect = map[string]map[string]map[string][2]float64{
	"digits-vae.yaml": {"eval": {"test_mse": {0, 0.08}}}, // pixels in [0, 1]
	"xor.yaml": {
		"eval_perceptron": {"test_accuracy": {0, 0.75}}, // no line separates XOR's four corners
		"eval_mlp":        {"test_accuracy": {1, 1}},
	},
	"multimodal.yaml": {"eval_fusion": {"test_auroc": {0.9, 1}}},
}

// eventStages lists, per config, stages whose TensorBoard event files must be in the run
// folder and decode (runs/<id>/tensorboard/<stage id>/events.out.tfevents.*).
var eventStages = map[string][]string{
	"xor.yaml": {"train_perceptron", "eval_perceptron", "train_mlp", "eval_mlp"},
}

// services lists, per config, local stand-ins for the servers it calls, started for its run;
// each returns the overrides that point the config at them.
var services = map[string]func(t *testing.T) []pipelines.Override{
	"notes-extract.yaml": fakeNotesModel,
}

// fakeNotesModel is an OpenAI-compatible server whose "model" is notesgen's rule-based
// reader of the note text.
func fakeNotesModel(t *testing.T) []pipelines.Override {
	srv := llmtest.New(func(r llmtest.Request) llmtest.Reply { return llmtest.Reply{Content: notesgen.Answer(r.User)} })
	t.Cleanup(srv.Close)
	return []pipelines.Override{
		{Path: "vars.llm_url", Value: srv.URL, Origin: "configs_test"},
		{Path: "vars.llm_model", Value: "notesgen-reader", Origin: "configs_test"},
	}
}

// verifyCheap lists the configs whose `biopipe verify` (a second full run) is part of make test.
var verifyCheap = map[string]bool{
	"quickstart.yaml": true, "quickstart-kfold.yaml": true, "diabetes-regression.yaml": true,
	"notes-extract.yaml": true,
}

// sameFigure lists pairs of configs that read the same data two ways and must reach the same
// figure within a tolerance: metric, the two configs, tolerance.
var sameFigure = []struct {
	metric, a, b string
	tol          float64
}{
	{"test_accuracy", "digits-cnn.yaml", "digits-folder-cnn.yaml", 0.01}, // CSV vs PNG folders
}

// reportMentions lists, per config, text its report.md must contain.
var reportMentions = map[string][]string{
	"quickstart.yaml":       {"## Methods", "## Results", "## Reproducibility"},
	"quickstart-kfold.yaml": {"Cross-validation summary (5 folds)"},
	"expression-ae.yaml":    {`Upstream, stage "vae" trained a VAE`},
	"eeg-lstm.yaml":         {`Exclusions in stage "epochs"`},
	"transfer-digits.yaml":  {`Evaluation "eval_finetune"`, `Evaluation "eval_finetune_all"`, `Evaluation "eval_scratch"`},
	"xor.yaml":              {"eval_perceptron-decision_boundary.png", "eval_mlp-decision_boundary.png"},
	"splice-cnn1d.yaml":     {"First-layer motifs", "motifs.png"},
	"nifti-seg.yaml":        {"Segmentation on the test split", "| foreground |", "segmentation_slices.png", "dice_per_case.png", "left out of that class's mean"},
	"digits-vae.yaml":       {"Inputs and reconstructions", "Samples from the prior", "Latent interpolation"},
	"digits-gan.yaml":       {"Samples after epoch 1", "Samples after epoch 20", "Generated samples"},
	"digits-diffusion.yaml": {"Generated samples"},
	"dicom-anomaly.yaml":    {"Anomaly detection ROC"},
	"multimodal.yaml":       {`Evaluation "eval_image"`, `Evaluation "eval_table"`, `Evaluation "eval_fusion"`},
}

func TestMain(m *testing.M) {
	// Example configs name data relative to the repository root, as the README runs them.
	if err := os.Chdir(".."); err != nil {
		panic(err)
	}
	os.Exit(m.Run())
}

func TestConfigsRunEndToEnd(t *testing.T) {
	files, err := filepath.Glob("configs/*.yaml")
	require.NoError(t, err)
	require.NotEmpty(t, files)
	figures := map[string]map[string]float64{} // config -> metric -> lowest value
	var figMu sync.Mutex
	// The configs run in parallel (up to -parallel, GOMAXPROCS by default): most of their graphs
	// are too small to keep both cores busy alone. The group returns when all have finished.
	t.Run("all", func(t *testing.T) {
		for _, f := range files {
			t.Run(filepath.Base(f), func(t *testing.T) {
				t.Parallel()
				if testing.Short() && !strings.Contains(f, "quickstart") {
					t.Skip("-short runs only the quickstart")
				}
				if workflows.IsWorkflow(f) {
					runWorkflow(t, f)
					return
				}
				var overrides []pipelines.Override
				if start := services[filepath.Base(f)]; start != nil {
					overrides = start(t)
				}
				src, err := pipelines.Load(f, overrides)
				require.NoError(t, err)
				plan, err := pipelines.Validate(src, contract.Default)
				require.NoError(t, err)
				wd := t.TempDir()
				m, err := pipelines.Run(context.Background(), plan, pipelines.Options{WorkDir: wd, Jobs: 2})
				require.NoError(t, err)
				for name, min := range expect[filepath.Base(f)] {
					got, ok := findMetric(m, name)
					require.True(t, ok, "metric %s not in the manifest: %v", name, m.Metrics)
					require.GreaterOrEqual(t, got, min, "%s: %s", f, name)
					t.Logf("%s: %s = %.4f (>= %.2f)", f, name, got, min)
				}
				for _, p := range sameFigure {
					if b := filepath.Base(f); b == p.a || b == p.b {
						got, ok := findMetric(m, p.metric)
						require.True(t, ok, "metric %s not in the manifest", p.metric)
						figMu.Lock()
						if figures[b] == nil {
							figures[b] = map[string]float64{}
						}
						figures[b][p.metric] = got
						figMu.Unlock()
					}
				}
				for stage, ms := range stageExpect[filepath.Base(f)] {
					for name, rng := range ms {
						sm, _ := m.Metrics[stage].(map[string]any)
						got, ok := sm[name].(float64)
						require.True(t, ok, "metric %s of stage %s not in the manifest: %v", name, stage, m.Metrics[stage])
						require.True(t, got >= rng[0] && got <= rng[1], "%s: %s %s = %v, want in [%v, %v]", f, stage, name, got, rng[0], rng[1])
						t.Logf("%s: %s %s = %.4f (in [%.2f, %.2f])", f, stage, name, got, rng[0], rng[1])
					}
				}
				if b, ok := stageBeats[filepath.Base(f)]; ok {
					metric := func(stage string) float64 {
						sm, _ := m.Metrics[stage].(map[string]any)
						got, ok := sm[b.metric].(float64)
						require.True(t, ok, "metric %s of stage %s not in the manifest: %v", b.metric, stage, m.Metrics[stage])
						return got
					}
					win := metric(b.winner)
					for _, o := range b.over {
						lose := metric(o)
						require.Greater(t, win, lose, "%s: %s %s = %.4f must beat %s's %.4f", f, b.winner, b.metric, win, o, lose)
						t.Logf("%s: %s %s = %.4f > %s %.4f", f, b.winner, b.metric, win, o, lose)
					}
				}
				for _, stage := range eventStages[filepath.Base(f)] {
					files, err := filepath.Glob(filepath.Join(wd, "runs", m.RunID, "tensorboard", stage, tensorboard.FilePrefix+"*"))
					require.NoError(t, err)
					require.Len(t, files, 1, "TensorBoard events of stage %s", stage)
					evs, err := tensorboard.ReadFile(files[0])
					require.NoError(t, err)
					require.Greater(t, len(evs), 1, "events of stage %s", stage)
				}
				if want := reportMentions[filepath.Base(f)]; len(want) > 0 {
					md, err := os.ReadFile(filepath.Join(wd, "runs", "latest", "report.md"))
					require.NoError(t, err)
					for _, w := range want {
						require.Contains(t, string(md), w)
					}
				}
				// biopipe verify: a re-execution from the manifest alone gives the same bytes in
				// every artifact (cheap configs here; all of them with BIOPIPE_VERIFY_ALL=1, make verify).
				if verifyCheap[filepath.Base(f)] || os.Getenv("BIOPIPE_VERIFY_ALL") != "" {
					res, err := workflows.Verify(context.Background(), filepath.Join(wd, "runs", m.RunID), contract.Default, workflows.VerifyOptions{})
					require.NoError(t, err)
					require.True(t, res.OK(), "%s: verify: %v", f, res.Diffs)
					require.Equal(t, len(m.Stages), res.Compared)
				}
				// A re-run is all cache hits.
				m, err = pipelines.Run(context.Background(), plan, pipelines.Options{WorkDir: wd})
				require.NoError(t, err)
				require.Equal(t, m.StageCount, m.CacheHits, "re-run of an unchanged pipeline must be all cache hits")
			})
		}
	})
	for _, p := range sameFigure {
		a, aok := figures[p.a][p.metric]
		b, bok := figures[p.b][p.metric]
		if !aok || !bok {
			continue // one of them was skipped or failed (reported above)
		}
		assert.InDelta(t, a, b, p.tol, "%s: %s %.4f vs %s %.4f", p.metric, p.a, a, p.b, b)
		t.Logf("%s: %s %.4f, %s %.4f (within %.2f)", p.metric, p.a, a, p.b, b, p.tol)
	}
}

func findMetric(m *manifest.Manifest, name string) (float64, bool) {
	lowest, found := 0.0, false
	for _, v := range m.Metrics {
		mm, ok := v.(map[string]any)
		if !ok {
			continue
		}
		var f float64
		switch x := mm[name].(type) {
		case float64:
			f = x
		case map[string]any:
			if f, ok = x["value"].(float64); !ok {
				continue
			}
		default:
			continue
		}
		if !found || f < lowest {
			lowest, found = f, true
		}
	}
	return lowest, found
}

// TestSameSeedSameArtifacts runs the quickstart in two work dirs: on the go backend the same
// seed and inputs give the same bytes in every artifact, the model included (checkpoint file
// names, model card, history and report carry no wall-clock times, hosts or run ids).
func TestSameSeedSameArtifacts(t *testing.T) {
	src, err := pipelines.Load("configs/quickstart.yaml", nil)
	require.NoError(t, err)
	plan, err := pipelines.Validate(src, contract.Default)
	require.NoError(t, err)
	run := func() *manifest.Manifest {
		m, err := pipelines.Run(context.Background(), plan, pipelines.Options{WorkDir: t.TempDir(), Jobs: 2})
		require.NoError(t, err)
		return m
	}
	a, b := run(), run()
	require.Len(t, b.Stages, len(a.Stages))
	for i, sa := range a.Stages {
		sb := b.Stages[i]
		require.NotNil(t, sa.Artifact, sa.ID)
		require.Equal(t, sa.Artifact.Files, sb.Artifact.Files, "stage %q: artifact files differ between two runs", sa.ID)
		require.Equal(t, sa.Artifact.Digest, sb.Artifact.Digest, "stage %q", sa.ID)
	}
}

// runWorkflow runs a workflow config (a sweep) end to end: every point succeeds, stages that
// do not depend on a swept value come from the cache, and the results table has one row per
// group_by setting over every other axis, written as Markdown, LaTeX, CSV and a report with
// one figure per metric.
func runWorkflow(t *testing.T, f string) {
	w, err := workflows.Load(f, contract.Default)
	require.NoError(t, err)
	wd := t.TempDir()
	rec, err := workflows.Run(context.Background(), w, workflows.Options{WorkDir: wd, Jobs: 2})
	require.NoError(t, err)
	require.Len(t, rec.Points, len(w.Points()))
	// Runs of the same seed share every stage upstream of the first swept one.
	ms, err := rec.Manifests()
	require.NoError(t, err)
	built := map[string]int{} // cache key -> times computed
	for _, m := range ms {
		require.Equal(t, "ok", m.Status)
		for _, s := range m.Stages {
			if !s.CacheHit {
				built[s.CacheKey]++
			}
		}
	}
	for k, n := range built {
		require.Equal(t, 1, n, "artifact %s computed %d times in one work dir", k[:12], n)
	}
	require.Less(t, len(built), len(ms)*len(ms[0].Stages), "no stage was shared between points")
	tab, err := workflows.BuildTable(w, rec)
	require.NoError(t, err)
	groups := 1
	for _, a := range w.Sweep {
		if slices.Contains(w.Table.GroupBy, a.Key) {
			groups *= len(a.Values)
		}
	}
	require.Len(t, tab.Rows, groups)
	for _, r := range tab.Rows {
		for j, c := range r.Cells {
			require.Equal(t, len(w.Points())/groups, c.N)
			require.False(t, math.IsNaN(c.Mean), "%s", tab.Metrics[j])
			if c.N > 1 {
				require.LessOrEqual(t, c.Lo, c.Mean)
				require.GreaterOrEqual(t, c.Hi, c.Mean)
			}
			require.False(t, math.IsNaN(c.Pooled), "%s: pooled estimate", tab.Metrics[j])
			require.LessOrEqual(t, c.BootLo, c.Pooled)
			require.GreaterOrEqual(t, c.BootHi, c.Pooled)
		}
	}
	if min, ok := expect[filepath.Base(f)]; ok {
		for name, lo := range min {
			j := slices.Index(tab.Metrics, name)
			require.GreaterOrEqual(t, j, 0, "table has no %s", name)
			best := 0.0
			for _, r := range tab.Rows {
				best = max(best, r.Cells[j].Mean)
			}
			require.GreaterOrEqual(t, best, lo, "%s: best mean %s", f, name)
		}
	}
	dir := workflows.Dir(wd, w.Name)
	for _, name := range []string{workflows.TableMD, workflows.TableTeX, workflows.TableCSV, workflows.RunsCSV,
		filepath.Join(workflows.ReportDir, "report.html")} {
		require.FileExists(t, filepath.Join(dir, name))
	}
	for _, m := range tab.Metrics {
		require.FileExists(t, filepath.Join(dir, workflows.ReportDir, "fig_"+m+".png"))
	}
	md, err := os.ReadFile(filepath.Join(dir, workflows.TableMD))
	require.NoError(t, err)
	require.Contains(t, string(md), tab.Markdown())
	t.Logf("%s\n%s", f, tab.Markdown())
}

// TestNotesData: testdata/notes/notes.csv, which notes-extract.yaml reads, is what notesgen
// writes (go test ./... skips packages under testdata/, so the generator's own test does not
// run in make test).
func TestNotesData(t *testing.T) {
	var b strings.Builder
	require.NoError(t, notesgen.WriteCSV(&b, notesgen.Generate(notesgen.DefaultN, notesgen.DefaultSeed)))
	got, err := os.ReadFile("testdata/notes/notes.csv")
	require.NoError(t, err)
	require.Equal(t, b.String(), string(got), "regenerate: go run ./testdata/gen/notesgen/cmd/notesgen -out testdata/notes/notes.csv")
}
