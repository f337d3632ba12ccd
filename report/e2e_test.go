package report_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"html"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/biopipe/biopipe/contract"
	"github.com/biopipe/biopipe/dataset"
	"github.com/biopipe/biopipe/metrics"
	"github.com/biopipe/biopipe/pipelines"
	"github.com/biopipe/biopipe/report"
	_ "github.com/biopipe/biopipe/stages/all"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// runQuickstart runs configs/quickstart.yaml (the README's first command) with its data
// path made absolute, and returns the run folder.
func runQuickstart(t *testing.T) string {
	t.Helper()
	_, file, _, _ := runtime.Caller(0)
	root := filepath.Join(filepath.Dir(file), "..")
	data := filepath.Join(root, "testdata", "ehr", "breast_cancer.csv")
	config := filepath.Join(root, "configs", "quickstart.yaml")
	for _, f := range []string{data, config} {
		if _, err := os.Stat(f); err != nil {
			t.Skipf("no %s", f)
		}
	}
	dir := t.TempDir()
	set, err := pipelines.ParseOverride("vars.data="+data, "test")
	require.NoError(t, err)
	src, err := pipelines.Load(config, []pipelines.Override{set})
	require.NoError(t, err)
	plan, err := pipelines.Validate(src, contract.Default)
	require.NoError(t, err)
	m, err := pipelines.Run(context.Background(), plan, pipelines.Options{
		WorkDir: filepath.Join(dir, "wd"), Command: "biopipe run configs/quickstart.yaml",
		Log: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	require.NoError(t, err)
	return filepath.Join(dir, "wd", "runs", m.RunID)
}

var imgRE = regexp.MustCompile(`<img[^>]+src="([^"]+)"`)

func TestQuickstartReportAndRegenerate(t *testing.T) {
	runDir := runQuickstart(t)
	html, err := os.ReadFile(filepath.Join(runDir, contract.ReportHTML))
	require.NoError(t, err, "the report stage copies report.html into the run folder")
	h := string(html)
	for _, s := range []string{"Abstract", "Data", "Methods", "Results", "Discussion", "Reproducibility",
		"biopipe run ", filepath.Join("configs", "quickstart.yaml"), "Examples per split and class", "AUROC"} {
		assert.Contains(t, h, s)
	}
	assert.GreaterOrEqual(t, len(imgRE.FindAllString(h, -1)), 5)

	// biopipe report RUN: rebuild from the run folder alone
	require.NoError(t, os.Remove(filepath.Join(runDir, contract.ReportHTML)))
	out, err := report.Regenerate(context.Background(), runDir, "")
	require.NoError(t, err)
	again, err := os.ReadFile(out)
	require.NoError(t, err)
	assert.Equal(t, h, string(again), "regenerated report is identical")

	checkInBrowser(t, out)
}

// browserScript reports, once the page has loaded, how many images there are, how many
// failed to decode, and whether anything reaches past the window's right edge (content
// inside a scrolling table or code box may, the box itself may not).
const browserScript = `<script>
window.addEventListener('load', function () {
  var imgs = Array.prototype.slice.call(document.images);
  var broken = imgs.filter(function (i) { return !i.complete || i.naturalWidth === 0; }).length;
  var w = window.innerWidth, wide = [];
  document.querySelectorAll('body *').forEach(function (e) {
    if (e.closest('.table-wrap > table') || e.closest('pre > code') || e.tagName === 'SCRIPT') { return; }
    var r = e.getBoundingClientRect();
    if (r.width > 0 && r.right > w + 1) { wide.push(e.tagName + (e.className ? '.' + e.className : '')); }
  });
  var d = document.createElement('pre');
  d.id = 'biopipe-check';
  d.textContent = 'BIOPIPE-CHECK ' + JSON.stringify({images: imgs.length, broken: broken,
    scrollWidth: document.documentElement.scrollWidth, innerWidth: w, wide: wide.slice(0, 5)});
  document.body.appendChild(d);
});
</script>`

type browserResult struct {
	Images      int      `json:"images"`
	Broken      int      `json:"broken"`
	ScrollWidth int      `json:"scrollWidth"`
	InnerWidth  int      `json:"innerWidth"`
	Wide        []string `json:"wide"`
}

const chromium = "/usr/bin/chromium"

// inBrowser opens html (a file) in headless Chromium at the given window width, runs
// browserScript in it, takes a screenshot, and returns the script's findings.
func inBrowser(t *testing.T, htmlFile string, width int) browserResult {
	t.Helper()
	b, err := os.ReadFile(htmlFile)
	require.NoError(t, err)
	dir := t.TempDir()
	page := filepath.Join(dir, "page.html")
	withScript := strings.Replace(string(b), "</body>", browserScript+"</body>", 1)
	require.NoError(t, os.WriteFile(page, []byte(withScript), 0o644))
	flags := []string{"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync", "--hide-scrollbars",
		"--user-data-dir=" + filepath.Join(dir, "profile"), fmt.Sprintf("--window-size=%d,1200", width),
		"--virtual-time-budget=5000"}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	shot := filepath.Join(dir, "shot.png")
	cmd := exec.CommandContext(ctx, chromium, append(flags, "--screenshot="+shot, "file://"+page)...)
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "chromium --screenshot: %s", out)
	st, err := os.Stat(shot)
	require.NoError(t, err, "no screenshot: %s", out)
	assert.Greater(t, st.Size(), int64(1000))

	cmd = exec.CommandContext(ctx, chromium, append(flags, "--dump-dom", "file://"+page)...)
	var dom bytes.Buffer
	cmd.Stdout = &dom
	require.NoError(t, cmd.Run(), "chromium --dump-dom")
	_, after, ok := strings.Cut(dom.String(), `<pre id="biopipe-check">BIOPIPE-CHECK `)
	require.True(t, ok, "the check script did not run")
	end := strings.Index(after, "</pre>")
	require.Greater(t, end, 0)
	var res browserResult
	require.NoError(t, json.Unmarshal([]byte(html.UnescapeString(after[:end])), &res))
	return res
}

// checkInBrowser asserts that every image of the report loads and nothing overflows the
// page width, on a desktop and on a phone-sized window.
func checkInBrowser(t *testing.T, htmlFile string) {
	if _, err := os.Stat(chromium); err != nil {
		t.Skip("no /usr/bin/chromium (Debian chromium)")
	}
	for _, width := range []int{1280, 500} {
		res := inBrowser(t, htmlFile, width)
		assert.Greater(t, res.Images, 0, "width %d", width)
		assert.Zero(t, res.Broken, "width %d: every image loads", width)
		assert.LessOrEqual(t, res.ScrollWidth, res.InnerWidth, "width %d: no horizontal overflow (%v)", width, res.Wide)
		assert.Empty(t, res.Wide, "width %d", width)
	}
}

// TestBrowserCheckCatchesFaults makes sure the browser check fails on a broken image and
// on content wider than the page.
func TestBrowserCheckCatchesFaults(t *testing.T) {
	if _, err := os.Stat(chromium); err != nil {
		t.Skip("no /usr/bin/chromium (Debian chromium)")
	}
	bad := filepath.Join(t.TempDir(), "bad.html")
	require.NoError(t, os.WriteFile(bad, []byte(`<!DOCTYPE html><html><body>
<img src="data:image/png;base64,bm90IGEgcG5n"><div style="width:3000px">wide</div></body></html>`), 0o644))
	res := inBrowser(t, bad, 800)
	assert.Equal(t, 1, res.Images)
	assert.Equal(t, 1, res.Broken)
	assert.Greater(t, res.ScrollWidth, res.InnerWidth)
	assert.NotEmpty(t, res.Wide)
}

// kfoldYAML is a 3-fold cross-validation: one split, train and evaluate stage per fold.
const kfoldYAML = `name: breast-cancer-cv
seed: 7
stages:
  - {id: load, kind: ingest.table, with: {path: "DATA", label: target}}
FOLDS  - id: report
    kind: report
    inputs: [eval0, eval1, eval2]
`

const foldYAML = `  - {id: splitK, kind: transform.split, inputs: [load], with: {strategy: kfold, folds: 3, fold: K, val: 0.1}}
  - {id: stdK, kind: transform.standardize, inputs: [splitK]}
  - {id: trainK, kind: train, inputs: [stdK], with: {model: mlp, hidden: [8], epochs: 5, batch_size: 64, optimizer: {name: adam, learning_rate: 0.01}}}
  - {id: evalK, kind: evaluate, inputs: [trainK, stdK], with: {bootstrap: 50}}
`

func TestKFoldReport(t *testing.T) {
	_, file, _, _ := runtime.Caller(0)
	data := filepath.Join(filepath.Dir(file), "..", "testdata", "ehr", "breast_cancer.csv")
	if _, err := os.Stat(data); err != nil {
		t.Skipf("no %s", data)
	}
	var folds strings.Builder
	for k := 0; k < 3; k++ {
		folds.WriteString(strings.ReplaceAll(foldYAML, "K", fmt.Sprint(k)))
	}
	y := strings.Replace(strings.Replace(kfoldYAML, "DATA", data, 1), "FOLDS", folds.String(), 1)
	dir := t.TempDir()
	p := filepath.Join(dir, "cv.yaml")
	require.NoError(t, os.WriteFile(p, []byte(y), 0o644))
	src, err := pipelines.Load(p, nil)
	require.NoError(t, err)
	plan, err := pipelines.Validate(src, contract.Default)
	require.NoError(t, err)
	m, err := pipelines.Run(context.Background(), plan, pipelines.Options{WorkDir: filepath.Join(dir, "wd"),
		Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	require.NoError(t, err)
	b, err := os.ReadFile(filepath.Join(dir, "wd", "runs", m.RunID, contract.ReportMD))
	require.NoError(t, err)
	md := string(b)
	assert.Contains(t, md, "Cross-validation summary (3 folds)")
	assert.Contains(t, md, "| AUROC | ")
	assert.Contains(t, md, "![ROC curve](eval2-roc.png)", "per-fold figures kept")
	assert.Contains(t, md, "Across the 3 cross-validation folds, the mean ± sd was AUROC")

	// the pooled AUROC is the AUROC of the three test folds' predictions together
	var truth []int
	var score []float64
	for k := 0; k < 3; k++ {
		var dirK string
		for _, s := range m.Stages {
			if s.ID == fmt.Sprintf("eval%d", k) {
				dirK = s.Artifact.Dir
			}
		}
		f, err := dataset.ReadFile(filepath.Join(dirK, contract.PredictionsFile))
		require.NoError(t, err)
		for i := 0; i < f.NumRows(); i++ {
			if f.Col("split").S[i] == "test" {
				truth = append(truth, map[string]int{"0": 0, "1": 1}[f.Col("label").S[i]])
				score = append(score, f.Col("prob_1").F[i])
			}
		}
	}
	assert.Len(t, truth, 569, "the test folds cover every row once")
	pooled := metrics.AUROC(truth, score)
	assert.Contains(t, md, fmt.Sprintf("| %.3f |", pooled))
}
