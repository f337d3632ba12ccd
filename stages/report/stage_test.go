package report

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/biopipe/biopipe/contract"
	"github.com/biopipe/biopipe/dataset"
	"github.com/biopipe/biopipe/evaluation"
	"github.com/biopipe/biopipe/models"
	_ "github.com/biopipe/biopipe/models/mlp"
	"github.com/biopipe/biopipe/plots"
	doc "github.com/biopipe/biopipe/report"
	"github.com/biopipe/biopipe/stages/evaluate"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// fixture is a small finished pipeline: data (with patient ids), model and evaluation.
type fixture struct {
	dir       string
	artifacts []contract.Input
	evalDir   string
	info      contract.PipelineInfo
}

var (
	fixOnce sync.Once
	fix     *fixture
	fixErr  error
)

func buildFixture(dir string) (*fixture, error) {
	rng := rand.New(rand.NewPCG(11, 12))
	f := dataset.New()
	a := &dataset.Column{Name: "radius", Kind: dataset.Float}
	b := &dataset.Column{Name: "texture", Kind: dataset.Float}
	y := &dataset.Column{Name: "diagnosis", Kind: dataset.String}
	id := &dataset.Column{Name: "patient_id", Kind: dataset.String}
	s := &dataset.Column{Name: dataset.ColSplit, Kind: dataset.String}
	for i := 0; i < 240; i++ {
		c := i % 2
		a.F = append(a.F, rng.NormFloat64()+1.4*float64(c))
		b.F = append(b.F, rng.NormFloat64()-0.8*float64(c))
		y.S = append(y.S, []string{"benign", "malignant"}[c])
		id.S = append(id.S, fmt.Sprintf("PAT-%05d", 10000+i))
		s.S = append(s.S, []string{"train", "train", "train", "val", "test"}[i%5])
	}
	f.Columns = []*dataset.Column{a, b, y, id, s}
	f.Meta[dataset.MetaLabel] = "diagnosis"
	f.Meta[dataset.MetaID] = "patient_id"
	f.Meta[dataset.MetaTask] = "classification"
	f.Meta[dataset.MetaSource] = "synthetic.csv"
	f.SetClasses([]string{"benign", "malignant"})
	dataDir := filepath.Join(dir, "split")
	if err := os.MkdirAll(dataDir, 0o755); err != nil {
		return nil, err
	}
	if err := f.WriteFile(filepath.Join(dataDir, contract.DataFile)); err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(dataDir, contract.SummaryFile), []byte(`{"rows": 240, "dropped_rows": 0, "quarantined": [{"file": "bad.csv", "reason": "line 3: 2 fields, want 5"}],
		"figures": [{"file": "hist.png", "title": "Feature histogram", "caption": "Radius by class."}]}`), 0o644); err != nil {
		return nil, err
	}
	hist, err := plots.Lines("Radius", "radius", "count", []plots.Series{{Name: "all", X: a.F[:10], Y: b.F[:10]}})
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(dataDir, "hist.png"), hist, 0o644); err != nil {
		return nil, err
	}
	data := func(split string) (*models.Data, error) {
		rows := f.SplitRows(split)
		x, err := f.Features(rows)
		if err != nil {
			return nil, err
		}
		cls, _, err := f.Labels(rows)
		return &models.Data{X: x, Classes: cls}, err
	}
	tr, err := data("train")
	if err != nil {
		return nil, err
	}
	va, err := data("val")
	if err != nil {
		return nil, err
	}
	modelDir := filepath.Join(dir, "train")
	if _, err := models.Train(context.Background(), models.TrainOptions{
		Family: "mlp", Params: map[string]any{"hidden": []any{8}}, Train: tr, Val: va,
		Task: models.Classification, Classes: []string{"benign", "malignant"}, Epochs: 6, BatchSize: 32,
		Optimizer: models.OptimizerConfig{Name: models.OptAdam, LearningRate: 0.05}, Seed: 3, OutDir: modelDir,
	}); err != nil {
		return nil, err
	}
	kind, err := contract.Default.Get(evaluate.KindName)
	if err != nil {
		return nil, err
	}
	cfg, _ := contract.Check(kind.Fields, map[string]any{"bootstrap": 200})
	st, err := kind.New(cfg)
	if err != nil {
		return nil, err
	}
	env := contract.NewEnv(nil)
	env.StageID, env.Config, env.Seed, env.Backend = "eval", cfg, 42, "go"
	env.OutDir = filepath.Join(dir, "eval")
	if err := os.MkdirAll(env.OutDir, 0o755); err != nil {
		return nil, err
	}
	model := contract.Input{StageID: "train", Kind: "train", Type: contract.Model, Port: evaluate.PortModel, Dir: modelDir, Digest: "sha256:bbbb"}
	table := contract.Input{StageID: "split", Kind: "transform.split", Type: contract.Table, Port: evaluate.PortData, Dir: dataDir, Digest: "sha256:aaaa"}
	env.Inputs = []contract.Input{model, table}
	if err := st.Run(context.Background(), env); err != nil {
		return nil, err
	}
	evalIn := contract.Input{StageID: "eval", Kind: "evaluate", Type: contract.Metrics, Port: PortMetrics, Dir: env.OutDir, Digest: "sha256:cccc"}
	return &fixture{
		dir: dir, evalDir: env.OutDir, artifacts: []contract.Input{table, model, evalIn},
		info: contract.PipelineInfo{
			Name: "synthetic-mlp", File: "pipeline.yaml", SpecHash: "sha256:1234", Command: "biopipe run pipeline.yaml",
			RunID: "20260101-000000", Version: "test", SpecYAML: "name: synthetic-mlp\nseed: 42\n",
			Modules: map[string]string{"github.com/gomlx/gomlx": "v0.28.2"},
			Stages: []contract.StageInfo{
				{ID: "split", Kind: "transform.split", Config: contract.Config{"strategy": "stratified", "test": 0.2}},
				{ID: "train", Kind: "train", Inputs: []string{"split"}, Config: contract.Config{"model": "mlp", "epochs": 6}},
				{ID: "eval", Kind: "evaluate", Inputs: []string{"train", "split"}, Config: cfg},
				{ID: "report", Kind: "report", Inputs: []string{"eval"}},
			},
		},
	}, nil
}

func getFixture(t *testing.T) *fixture {
	fixOnce.Do(func() {
		dir, err := os.MkdirTemp("", "biopipe-report-test-")
		if err != nil {
			fixErr = err
			return
		}
		fix, fixErr = buildFixture(dir)
	})
	require.NoError(t, fixErr)
	return fix
}

func TestMain(m *testing.M) {
	code := m.Run()
	if fix != nil {
		os.RemoveAll(fix.dir)
	}
	os.Exit(code)
}

// runReport runs the report stage with the raw config and returns its env.
func runReport(t *testing.T, raw map[string]any) *contract.Env {
	fx := getFixture(t)
	kind, err := contract.Default.Get(KindName)
	require.NoError(t, err)
	cfg, issues := contract.Check(kind.Fields, raw)
	require.Empty(t, issues)
	st, err := kind.New(cfg)
	require.NoError(t, err)
	env := contract.NewEnv(nil)
	env.StageID, env.Config, env.Seed, env.Backend = "report", cfg, 42, "go"
	env.OutDir = filepath.Join(t.TempDir(), "out")
	env.RunDir = filepath.Join(t.TempDir(), "run")
	require.NoError(t, os.MkdirAll(env.OutDir, 0o755))
	require.NoError(t, os.MkdirAll(env.RunDir, 0o755))
	env.Pipeline = fx.info
	env.Upstream = fx.artifacts
	env.Inputs = []contract.Input{fx.artifacts[2]}
	require.NoError(t, st.Run(context.Background(), env))
	return env
}

var imgRE = regexp.MustCompile(`<img[^>]+src="([^"]+)"`)

func TestReportTemplate(t *testing.T) {
	env := runReport(t, map[string]any{"context": "Screening for malignant lesions."})
	html, err := os.ReadFile(filepath.Join(env.OutDir, contract.ReportHTML))
	require.NoError(t, err)
	h := string(html)
	if out := os.Getenv("BIOPIPE_REPORT_OUT"); out != "" { // to look at the report
		require.NoError(t, os.WriteFile(out, html, 0o644))
	}
	for _, s := range []string{"Abstract", "Introduction", "Data", "Methods", "Results", "Discussion", "Reproducibility",
		"Screening for malignant lesions.", "AUROC", "bad.csv", "Feature histogram", "Radius by class.", "sha256:1234", "biopipe run pipeline.yaml", "github.com/gomlx/gomlx"} {
		assert.Contains(t, h, s)
	}
	imgs := imgRE.FindAllStringSubmatch(h, -1)
	assert.GreaterOrEqual(t, len(imgs), 6, "ROC, PR, confusion, reliability, loss curve, the ingest stage's figure")
	for _, m := range imgs {
		assert.True(t, strings.HasPrefix(m[1], "data:image/png;base64,"), "embedded")
	}
	assert.NotRegexp(t, `(?i)(src|href)="(https?:|//|file:)`, h, "no external references")
	assert.NotContains(t, h, "PAT-1", "no identifiers in the report")
	md, err := os.ReadFile(filepath.Join(env.OutDir, contract.ReportMD))
	require.NoError(t, err)
	assert.Contains(t, string(md), "![ROC curve](roc.png)")
	assert.FileExists(t, filepath.Join(env.OutDir, "roc.png"))
	for _, f := range []string{contract.ReportMD, contract.ReportHTML, "roc.png"} {
		assert.FileExists(t, filepath.Join(env.RunDir, f), "copied into the run folder")
	}
	assert.NotContains(t, env.Metrics(), "llm_ungrounded_numbers")

	// same inputs, same bytes
	env2 := runReport(t, map[string]any{"context": "Screening for malignant lesions."})
	html2, _ := os.ReadFile(filepath.Join(env2.OutDir, contract.ReportHTML))
	assert.Equal(t, h, string(html2))
}

// fakeLLM is an OpenAI-compatible server that logs requests and answers with text.
func fakeLLM(t *testing.T, status int, text string) (*httptest.Server, *[]string) {
	var mu sync.Mutex
	var bodies []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		bodies = append(bodies, string(b)+"\nAUTH:"+r.Header.Get("Authorization"))
		mu.Unlock()
		if status != 200 {
			w.WriteHeader(status)
			fmt.Fprint(w, `{"error":{"message":"unavailable"}}`)
			return
		}
		out, _ := json.Marshal(map[string]any{"id": "x", "object": "chat.completion", "model": "m",
			"choices": []any{map[string]any{"index": 0, "message": map[string]any{"role": "assistant", "content": text}}}})
		w.Header().Set("Content-Type", "application/json")
		w.Write(out)
	}))
	t.Cleanup(srv.Close)
	return srv, &bodies
}

func TestReportLLM(t *testing.T) {
	fx := getFixture(t)
	res, err := evaluation.ReadResult(fx.evalDir)
	require.NoError(t, err)
	auroc := res.PerSplit["test"].Metrics["auroc"].Value
	answer := fmt.Sprintf("## Abstract\nLLM-ABSTRACT: the AUROC was %.3f on the test split.\n\n## Introduction\nLLM-INTRO.\n\n## Discussion\nLLM-DISCUSSION: a wrong figure of 0.123 appears here.", auroc)
	srv, bodies := fakeLLM(t, 200, answer)
	t.Setenv("BIOPIPE_TEST_REPORT_KEY", "sk-report-SECRET-7")
	env := runReport(t, map[string]any{"llm": map[string]any{"base_url": srv.URL + "/v1", "model": "fake", "api_key_env": "BIOPIPE_TEST_REPORT_KEY", "retries": 0}})
	require.Len(t, *bodies, 1)
	sent := (*bodies)[0]
	assert.Contains(t, sent, "AUTH:Bearer sk-report-SECRET-7")
	assert.NotContains(t, sent, "PAT-", "no identifiers in the prompt")
	assert.Contains(t, sent, fmt.Sprintf("%.3f", auroc), "the prompt carries the metrics")

	h, err := os.ReadFile(filepath.Join(env.OutDir, contract.ReportHTML))
	require.NoError(t, err)
	html := string(h)
	assert.Contains(t, html, "LLM-ABSTRACT")
	assert.Contains(t, html, "LLM-DISCUSSION")
	assert.Contains(t, html, `<mark class="ungrounded" title="unverified: this number does not match any figure of the run">0.123</mark>`)
	assert.NotContains(t, html, fmt.Sprintf(`ungrounded" title="unverified: this number does not match any figure of the run">%.3f`, auroc))
	m := env.Metrics()
	assert.Equal(t, 1, m["llm_ungrounded_numbers"])
	assert.Equal(t, true, m["llm_ok"])
	filepath.Walk(filepath.Dir(env.OutDir), func(p string, info os.FileInfo, err error) error {
		if err == nil && !info.IsDir() {
			b, _ := os.ReadFile(p)
			assert.NotContains(t, string(b), "sk-report-SECRET-7", p)
		}
		return nil
	})
	d, err := doc.ReadDraft(env.OutDir)
	require.NoError(t, err)
	assert.Equal(t, "fake", d.Model)
}

func TestReportLLMFailureFallsBack(t *testing.T) {
	srv, bodies := fakeLLM(t, 503, "")
	env := runReport(t, map[string]any{"llm": map[string]any{"base_url": srv.URL + "/v1", "model": "fake", "retries": 1}})
	assert.Len(t, *bodies, 2, "one retry")
	h, err := os.ReadFile(filepath.Join(env.OutDir, contract.ReportHTML))
	require.NoError(t, err)
	assert.Contains(t, string(h), "The LLM narrative could not be produced")
	assert.Contains(t, string(h), "On the held-out test split", "template abstract")
	assert.Equal(t, false, env.Metrics()["llm_ok"])
}

func TestReportGuardRefuses(t *testing.T) {
	srv, bodies := fakeLLM(t, 200, "never used")
	// the context paragraph quotes a patient id from the data's id column
	env := runReport(t, map[string]any{"context": "Case PAT-10017 motivated this study.",
		"llm": map[string]any{"base_url": srv.URL + "/v1", "model": "fake"}})
	assert.Empty(t, *bodies, "nothing was sent")
	h, _ := os.ReadFile(filepath.Join(env.OutDir, contract.ReportHTML))
	assert.Contains(t, string(h), "the prompt contained an identifier seen at ingest")
	assert.Equal(t, true, env.Metrics()["llm_refused_identifier"])
	assert.NotContains(t, string(h), "PAT-10017", "the context paragraph is redacted in the report too")
	assert.Contains(t, string(h), "Case [redacted] motivated this study.")
	assert.Equal(t, 1, env.Metrics()["report_redacted_identifiers"])
}

func TestLLMConfigErrors(t *testing.T) {
	kind, err := contract.Default.Get(KindName)
	require.NoError(t, err)
	tests := []struct {
		llm  map[string]any
		want string
	}{
		{map[string]any{"base_url": "http://x/v1"}, "llm.model"},
		{map[string]any{"base_url": "http://x/v1", "model": "m", "api_key_env": "sk-abc123"}, "NAME of an environment variable"},
		{map[string]any{"base_url": "http://x/v1", "model": "m", "timeout": "soon"}, "positive duration"},
	}
	for _, tc := range tests {
		cfg, issues := contract.Check(kind.Fields, map[string]any{"llm": tc.llm})
		require.Empty(t, issues)
		_, err := kind.New(cfg)
		assert.ErrorContains(t, err, tc.want)
	}
}
