package workflows

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"gonum.org/v1/gonum/stat/distuv"

	"github.com/biopipe/biopipe/contract"
	"github.com/biopipe/biopipe/dataset"
	"github.com/biopipe/biopipe/manifest"
	"github.com/biopipe/biopipe/metrics"
	"github.com/biopipe/biopipe/plots"
	doc "github.com/biopipe/biopipe/report"
)

// Table is a results table: one row per group (the group_by values), each metric summarised
// across the group's runs (seeds and any other axis not grouped by).
type Table struct {
	Workflow string
	GroupBy  []string // sweep keys
	Metrics  []string
	Level    float64
	Rows     []Row
}

// Row is one group of the table.
type Row struct {
	Group []any // values of GroupBy
	Cells []Cell
	Runs  []RunRef
}

// RunRef names a run that fed a row.
type RunRef struct {
	Point          int    `json:"point"`
	Label          string `json:"label"`
	RunID          string `json:"run_id"`
	ManifestSHA256 string `json:"manifest_sha256"`
}

// Cell summarises one metric over a group's runs: mean, sample sd and a t interval for the
// mean across runs (seeds); and the pooled estimate over all the runs' test predictions
// together with its bootstrap interval, where the evaluate stage wrote predictions.
type Cell struct {
	N                      int
	Mean, SD               float64
	Lo, Hi                 float64 // t interval (NaN with one run)
	Pooled, BootLo, BootHi float64 // pooled estimate and bootstrap interval (NaN: none)
	Values                 []float64
}

// BuildTable computes the results table of a finished workflow from its runs' manifests.
func BuildTable(w *Workflow, rec *Record) (*Table, error) {
	ms, err := rec.Manifests()
	if err != nil {
		return nil, err
	}
	t := &Table{Workflow: w.Name, GroupBy: w.Table.GroupBy, Metrics: w.Table.Metrics, Level: w.Table.Level}
	if len(t.Metrics) == 0 {
		return nil, fmt.Errorf("%s: table.metrics: no metrics named (e.g. metrics: [test_auroc])", w.Pos("table"))
	}
	type acc struct {
		row  *Row
		vals [][]float64
		dirs []string // the evaluate artifact of each run
	}
	var groups []*acc
	find := func(g []any) *acc {
		for _, a := range groups {
			if fmt.Sprint(a.row.Group) == fmt.Sprint(g) {
				return a
			}
		}
		a := &acc{row: &Row{Group: g}, vals: make([][]float64, len(t.Metrics))}
		groups = append(groups, a)
		return a
	}
	for i, p := range rec.Points {
		m := ms[i]
		var g []any
		for _, k := range t.GroupBy {
			g = append(g, p.Values[k])
		}
		a := find(g)
		a.row.Runs = append(a.row.Runs, RunRef{Point: p.Index + 1, Label: labelOf(rec, p), RunID: p.RunID, ManifestSHA256: p.ManifestSHA256})
		evalDir := ""
		for j, name := range t.Metrics {
			stage, v, err := metricOf(m, name, w.Table.Stage)
			if err != nil {
				return nil, fmt.Errorf("%s: table.metrics: point %d (run %s): %w", w.Pos("table.metrics"), p.Index+1, p.RunID, err)
			}
			a.vals[j] = append(a.vals[j], v)
			if j == 0 {
				evalDir = artifactDir(m, stage)
			}
		}
		a.dirs = append(a.dirs, evalDir)
	}
	for _, a := range groups {
		pooled := map[string]metrics.Interval{}
		if !slices.Contains(a.dirs, "") {
			// Runs without predictions (or of another task) have no pooled interval.
			pooled, _ = pooledBootstrap(a.dirs, t.Metrics, t.Level)
		}
		for j, name := range t.Metrics {
			c := summarise(a.vals[j], t.Level)
			c.Pooled, c.BootLo, c.BootHi = math.NaN(), math.NaN(), math.NaN()
			if iv, ok := pooled[name]; ok {
				c.Pooled, c.BootLo, c.BootHi = iv.Value, iv.Low, iv.High
			}
			a.row.Cells = append(a.row.Cells, c)
		}
		t.Rows = append(t.Rows, *a.row)
	}
	return t, nil
}

func artifactDir(m *manifest.Manifest, stage string) string {
	for _, s := range m.Stages {
		if s.ID == stage && s.Artifact != nil {
			return s.Artifact.Dir
		}
	}
	return ""
}

func labelOf(rec *Record, p PointRecord) string {
	var parts []string
	for _, k := range rec.Axes {
		parts = append(parts, ShortKey(k)+"="+formatValue(p.Values[k]))
	}
	return strings.Join(parts, ", ")
}

// metricOf finds a metric in a run's manifest: in the named stage, or in the one stage that
// reports it.
func metricOf(m *manifest.Manifest, name, stage string) (string, float64, error) {
	var found []string
	var val float64
	for _, s := range m.Stages {
		if stage != "" && s.ID != stage {
			continue
		}
		if v, ok := number(s.Metrics[name]); ok {
			found = append(found, s.ID)
			val = v
		}
	}
	switch len(found) {
	case 1:
		return found[0], val, nil
	case 0:
		var names []string
		for _, s := range m.Stages {
			if stage == "" || s.ID == stage {
				for k := range s.Metrics {
					if _, ok := number(s.Metrics[k]); ok && !slices.Contains(names, k) {
						names = append(names, k)
					}
				}
			}
		}
		slices.Sort(names)
		return "", 0, fmt.Errorf("no metric %q%s (metrics: %s)", name, contract.DidYouMean(name, names), strings.Join(names, ", "))
	}
	return "", 0, fmt.Errorf("metric %q is reported by stages %s: name one with table.stage", name, strings.Join(found, ", "))
}

func number(v any) (float64, bool) {
	switch x := v.(type) {
	case float64:
		return x, true
	case int:
		return float64(x), true
	case map[string]any:
		f, ok := x["value"].(float64)
		return f, ok
	}
	return 0, false
}

func summarise(v []float64, level float64) Cell {
	c := Cell{N: len(v), Values: v, Lo: math.NaN(), Hi: math.NaN(), SD: math.NaN(), Pooled: math.NaN(), BootLo: math.NaN(), BootHi: math.NaN()}
	c.Mean = mean(v)
	if len(v) < 2 {
		return c
	}
	ss := 0.0
	for _, x := range v {
		ss += (x - c.Mean) * (x - c.Mean)
	}
	c.SD = math.Sqrt(ss / float64(len(v)-1))
	t := distuv.StudentsT{Mu: 0, Sigma: 1, Nu: float64(len(v) - 1)}.Quantile(1 - (1-level)/2)
	half := t * c.SD / math.Sqrt(float64(len(v)))
	c.Lo, c.Hi = c.Mean-half, c.Mean+half
	return c
}

func mean(v []float64) float64 {
	if len(v) == 0 {
		return math.NaN()
	}
	s := 0.0
	for _, x := range v {
		s += x
	}
	return s / float64(len(v))
}

func f4(x float64) string {
	if math.IsNaN(x) {
		return "–"
	}
	return fmt.Sprintf("%.4f", x)
}

func interval(lo, hi float64) string {
	if math.IsNaN(lo) {
		return "–"
	}
	return fmt.Sprintf("[%.4f, %.4f]", lo, hi)
}

func (t *Table) header(short bool) []string {
	var h []string
	for _, g := range t.GroupBy {
		if short {
			g = ShortKey(g)
		}
		h = append(h, g)
	}
	h = append(h, "n")
	pct := fmt.Sprintf("%g%%", t.Level*100)
	for _, m := range t.Metrics {
		h = append(h, m+" (mean ± sd)", m+" "+pct+" CI (t)", m+" pooled ["+pct+" bootstrap CI]")
	}
	return h
}

func (t *Table) cells(r Row) []string {
	var out []string
	for _, g := range r.Group {
		out = append(out, formatValue(g))
	}
	n := 0
	if len(r.Cells) > 0 {
		n = r.Cells[0].N
	}
	out = append(out, fmt.Sprint(n))
	for _, c := range r.Cells {
		pooled := "–"
		if !math.IsNaN(c.Pooled) {
			pooled = f4(c.Pooled) + " " + interval(c.BootLo, c.BootHi)
		}
		out = append(out, f4(c.Mean)+" ± "+f4(c.SD), interval(c.Lo, c.Hi), pooled)
	}
	return out
}

// Markdown returns the table as a Markdown (GitHub) table.
func (t *Table) Markdown() string {
	var b strings.Builder
	h := t.header(true)
	b.WriteString("| " + strings.Join(h, " | ") + " |\n|")
	for i := range h {
		if i < len(t.GroupBy) {
			b.WriteString("---|")
		} else {
			b.WriteString("---:|")
		}
	}
	b.WriteString("\n")
	for _, r := range t.Rows {
		b.WriteString("| " + strings.Join(t.cells(r), " | ") + " |\n")
	}
	return b.String()
}

// LaTeX returns the table as a booktabs tabular, ready to \input in a paper.
func (t *Table) LaTeX() string {
	var b strings.Builder
	cols := strings.Repeat("l", len(t.GroupBy)) + "r" + strings.Repeat("rcc", len(t.Metrics))
	fmt.Fprintf(&b, "%% results of workflow %s: mean ± sd over runs, %g%% t interval; pooled estimate with its %g%% bootstrap interval\n", t.Workflow, t.Level*100, t.Level*100)
	fmt.Fprintf(&b, "\\begin{tabular}{%s}\n\\toprule\n", cols)
	var h []string
	for _, x := range t.header(true) {
		h = append(h, texEscape(x))
	}
	b.WriteString(strings.Join(h, " & ") + " \\\\\n\\midrule\n")
	for _, r := range t.Rows {
		var cs []string
		for _, c := range t.cells(r) {
			c = strings.ReplaceAll(c, " ± ", " $\\pm$ ")
			c = strings.ReplaceAll(c, "–", "--")
			cs = append(cs, texEscape(c))
		}
		b.WriteString(strings.Join(cs, " & ") + " \\\\\n")
	}
	b.WriteString("\\bottomrule\n\\end{tabular}\n")
	return b.String()
}

func texEscape(s string) string {
	r := strings.NewReplacer("_", `\_`, "%", `\%`, "&", `\&`, "#", `\#`)
	return r.Replace(s)
}

// CSV returns the table with full-precision numbers: group keys, n, then per metric mean,
// sd, t interval and bootstrap interval.
func (t *Table) CSV() string {
	var buf bytes.Buffer
	w := csv.NewWriter(&buf)
	h := append([]string{}, t.GroupBy...)
	h = append(h, "n")
	for _, m := range t.Metrics {
		h = append(h, m+"_mean", m+"_sd", m+"_ci_low", m+"_ci_high", m+"_pooled", m+"_boot_low", m+"_boot_high")
	}
	_ = w.Write(h)
	g := func(x float64) string {
		if math.IsNaN(x) {
			return ""
		}
		return fmt.Sprintf("%.17g", x)
	}
	for _, r := range t.Rows {
		var row []string
		for _, v := range r.Group {
			row = append(row, formatValue(v))
		}
		row = append(row, fmt.Sprint(r.Cells[0].N))
		for _, c := range r.Cells {
			row = append(row, g(c.Mean), g(c.SD), g(c.Lo), g(c.Hi), g(c.Pooled), g(c.BootLo), g(c.BootHi))
		}
		_ = w.Write(row)
	}
	w.Flush()
	return buf.String()
}

// RunsMarkdown lists the run of every point with its manifest digest.
func (t *Table) RunsMarkdown() string {
	var b strings.Builder
	b.WriteString("| point | setting | run | manifest sha256 |\n|---:|---|---|---|\n")
	for _, r := range t.Rows {
		for _, ref := range r.Runs {
			fmt.Fprintf(&b, "| %d | %s | %s | %s |\n", ref.Point, ref.Label, ref.RunID, ref.ManifestSHA256)
		}
	}
	return b.String()
}

// Files names the outputs WriteResults writes into a workflow's folder.
const (
	TableMD   = "table.md"
	TableTeX  = "table.tex"
	TableCSV  = "table.csv"
	RunsCSV   = "runs.csv"
	ReportDir = "report"
)

// WriteResults writes the results table (Markdown, LaTeX, CSV), the runs list and the
// workflow report (the table and one figure per metric) into dir, and returns the table.
func WriteResults(w *Workflow, rec *Record, dir string) (*Table, error) {
	t, err := BuildTable(w, rec)
	if err != nil {
		return nil, err
	}
	var runs bytes.Buffer
	cw := csv.NewWriter(&runs)
	_ = cw.Write(append(append([]string{"point"}, rec.Axes...), "run_id", "manifest_sha256", "status"))
	for _, p := range rec.Points {
		row := []string{fmt.Sprint(p.Index + 1)}
		for _, k := range rec.Axes {
			row = append(row, formatValue(p.Values[k]))
		}
		_ = cw.Write(append(row, p.RunID, p.ManifestSHA256, p.Status))
	}
	cw.Flush()
	md := fmt.Sprintf("# Results: %s\n\n%s\n%s\n## Runs\n\n%s", w.Name, t.caption(), t.Markdown(), t.RunsMarkdown())
	files := map[string]string{TableMD: md, TableTeX: t.LaTeX(), TableCSV: t.CSV(), RunsCSV: runs.String()}
	for name, s := range files {
		if err := writeFile(filepath.Join(dir, name), []byte(s)); err != nil {
			return nil, err
		}
	}
	d, err := t.Report(w)
	if err != nil {
		return nil, err
	}
	if err := doc.Write(filepath.Join(dir, ReportDir), &doc.Built{Doc: d}); err != nil {
		return nil, err
	}
	return t, nil
}

func (t *Table) caption() string {
	return fmt.Sprintf("Mean ± sd over the runs of each setting; %g%% CI (t) is the t interval of the mean across runs (seeds); "+
		"pooled is the metric on all the runs' test predictions together, with a %g%% bootstrap interval (test rows resampled within each run).\n",
		t.Level*100, t.Level*100)
}

// Report builds the workflow report: the table, the runs, and one figure per metric (value
// by setting, with the t interval).
func (t *Table) Report(w *Workflow) (*doc.Doc, error) {
	d := &doc.Doc{Title: "Workflow " + w.Name, Subtitle: fmt.Sprintf("sweep of %s", w.Pipeline)}
	s := &doc.Section{ID: "results", Title: "Results"}
	if w.Doc != "" {
		s.Add(doc.Text("%s", w.Doc))
	}
	s.Add(doc.Text("%s", strings.TrimSpace(t.caption())))
	tab := &doc.Table{Caption: "Results by setting", Header: t.header(true)}
	for _, r := range t.Rows {
		tab.Rows = append(tab.Rows, t.cells(r))
	}
	s.Add(tab)
	xl := "setting"
	if len(t.GroupBy) > 0 {
		var names []string
		for _, g := range t.GroupBy {
			names = append(names, ShortKey(g))
		}
		xl = strings.Join(names, ", ")
	}
	for j, m := range t.Metrics {
		var pts []plots.Interval
		for _, r := range t.Rows {
			var parts []string
			for _, g := range r.Group {
				parts = append(parts, formatValue(g))
			}
			label := strings.Join(parts, ", ")
			if label == "" {
				label = "all"
			}
			c := r.Cells[j]
			pts = append(pts, plots.Interval{Label: label, Value: c.Mean, Lo: c.Lo, Hi: c.Hi})
		}
		png, err := plots.Intervals(m+" by setting", xl, m, pts)
		if err != nil {
			return nil, err
		}
		s.Add(&doc.Figure{File: "fig_" + m + ".png", Title: m + " by setting",
			Caption: fmt.Sprintf("Mean %s of each setting with its %g%% t interval across runs.", m, t.Level*100), PNG: png})
	}
	runs := &doc.Section{ID: "runs", Title: "Runs"}
	rt := &doc.Table{Caption: "Run of every point and the SHA-256 of its manifest", Header: []string{"point", "setting", "run", "manifest sha256"}}
	for _, r := range t.Rows {
		for _, ref := range r.Runs {
			rt.Rows = append(rt.Rows, []string{fmt.Sprint(ref.Point), ref.Label, ref.RunID, ref.ManifestSHA256})
		}
	}
	runs.Add(rt)
	d.Sections = []*doc.Section{s, runs}
	return d, nil
}

func writeFile(p string, b []byte) error {
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return err
	}
	return dataset.AtomicWrite(p, func(f *os.File) error { _, err := f.Write(b); return err })
}

func jsonUnmarshal(b []byte, v any) error { return json.Unmarshal(b, v) }
