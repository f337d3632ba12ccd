package report

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/biopipe/biopipe/contract"
	"github.com/biopipe/biopipe/evaluation"
	"github.com/biopipe/biopipe/llm"
	"github.com/biopipe/biopipe/metrics"
	"github.com/biopipe/biopipe/plots"
)

// Options control Build.
type Options struct {
	// LLM, when set, drafts the Abstract, Introduction and Discussion.
	LLM *llm.Config
	// Draft, when set, is reused instead of calling the LLM (Regenerate).
	Draft *llm.Draft
	Log   *slog.Logger
}

// Built is a built report and the record of its narrative.
type Built struct {
	Doc     *Doc
	Draft   *llm.Draft     // nil when no LLM was configured
	Summary map[string]any // the aggregate summary given (or that would be given) to the LLM
	// Numbers and Ungrounded count the numbers in the LLM's text and those that matched
	// none of the run's figures.
	Numbers    int
	Ungrounded int
	// Refused is set when the PHI guard stopped the prompt.
	Refused bool
	// Redacted counts identifiers replaced by "[redacted]" in the report's text.
	Redacted int
}

// Build writes the report document from its sources.
func Build(ctx context.Context, src *Source, opt Options) (*Built, error) {
	if opt.Log == nil {
		opt.Log = slog.Default()
	}
	g, err := gather(src)
	if err != nil {
		return nil, err
	}
	if g.across, err = across(src); err != nil {
		return nil, err
	}
	b := &Built{Doc: &Doc{Title: title(src, g)}}
	b.Summary = summary(src, g)
	if src.Pipeline.RunID != "" {
		b.Doc.Subtitle = fmt.Sprintf("biopipe run %s of pipeline %q", src.Pipeline.RunID, src.Pipeline.Name)
	}

	guard := llm.NewGuard()
	if err := guard.AddHashes(g.phiHash...); err != nil {
		return nil, fmt.Errorf("upstream phi_hashes: %w", err)
	}
	guard.AddValues(g.idValues...)
	var notes []Block
	var draft map[string]string
	switch {
	case opt.Draft != nil:
		b.Draft = opt.Draft
	case opt.LLM != nil:
		d, err := llm.Write(ctx, *opt.LLM, guard, b.Summary, src.Context)
		b.Draft = d
		if err != nil {
			var ei *llm.ErrIdentifier
			b.Refused = errors.As(err, &ei)
			opt.Log.Warn("LLM narrative failed; using the template narrative", "err", err)
		}
	}
	if d := b.Draft; d != nil {
		if d.Error != "" {
			what := "The LLM narrative could not be produced"
			if d.Refused {
				what = "The LLM was not asked: the prompt contained an identifier seen at ingest"
			}
			notes = append(notes, &Note{Text: fmt.Sprintf("%s (%s). The Abstract, Introduction and Discussion below are biopipe's template narrative.", what, d.Error)})
		} else {
			draft = d.Sections
		}
	}
	facts := &llm.Facts{}
	walkNumbers(b.Summary, facts)
	llmParas := func(text string) []Block {
		var out []Block
		for _, p := range paragraphs(text) {
			para, n, bad := grounded(p, facts)
			b.Numbers += n
			b.Ungrounded += bad
			out = append(out, para)
		}
		return out
	}

	abstract := &Section{ID: "abstract", Title: "Abstract"}
	intro := &Section{ID: "introduction", Title: "Introduction"}
	discussion := &Section{ID: "discussion", Title: "Discussion"}
	abstract.Add(notes...)
	if t := draft[llm.Abstract]; t != "" {
		abstract.Add(llmParas(t)...)
	} else {
		abstract.Add(templateAbstract(src, g)...)
	}
	if t := draft[llm.Introduction]; t != "" {
		intro.Add(llmParas(t)...)
	} else {
		intro.Add(templateIntro(src, g)...)
	}
	if t := draft[llm.Discussion]; t != "" {
		discussion.Add(llmParas(t)...)
	} else {
		discussion.Add(templateDiscussion(src, g)...)
	}
	if d := b.Draft; d != nil && d.Error == "" {
		discussion.Add(&Note{Text: fmt.Sprintf("The Abstract, Introduction and Discussion were drafted by %s (%s) from an aggregate summary of this run (metrics, counts, configuration; no rows, no identifiers). %d numbers were checked against the run's results; %d matched nothing and are highlighted as unverified.",
			d.Model, d.BaseURL, b.Numbers, b.Ungrounded)})
	}
	results, err := resultsSection(src, g)
	if err != nil {
		return nil, err
	}
	b.Doc.Sections = []*Section{abstract, intro, dataSection(src, g), methodsSection(src, g), results, discussion, reproSection(src)}
	b.Redacted = redact(b.Doc, guard)
	if b.Redacted > 0 {
		opt.Log.Warn("identifiers redacted from the report", "count", b.Redacted)
	}
	return b, nil
}

// redact replaces identifiers (id/group values, DICOM patient tags seen at ingest) in
// every text of the document, so that file names or a context paragraph cannot carry
// them into the report.
func redact(d *Doc, g *llm.Guard) int {
	if g.Len() == 0 {
		return 0
	}
	total := 0
	fix := func(s *string) {
		r, n := g.Redact(*s)
		*s = r
		total += n
	}
	var walk func([]Block)
	walk = func(bs []Block) {
		for _, b := range bs {
			switch v := b.(type) {
			case *Para:
				for i := range v.Spans {
					fix(&v.Spans[i].Text)
				}
			case *Heading:
				fix(&v.Text)
			case *Table:
				fix(&v.Caption)
				for _, r := range v.Rows {
					for i := range r {
						fix(&r[i])
					}
				}
			case *Figure:
				fix(&v.Caption)
			case *Code:
				fix(&v.Text)
			case *Note:
				fix(&v.Text)
			case *List:
				for i := range v.Items {
					fix(&v.Items[i])
				}
			case *Details:
				walk(v.Blocks)
			}
		}
	}
	fix(&d.Title)
	fix(&d.Subtitle)
	for _, s := range d.Sections {
		walk(s.Blocks)
	}
	return total
}

func title(src *Source, g *gathered) string {
	if src.Title != "" {
		return src.Title
	}
	t := src.Pipeline.Name
	if t == "" {
		t = "biopipe experiment"
	}
	if g.model != nil {
		return fmt.Sprintf("%s: %s %s", t, familyName(g.model.Family), g.model.Task)
	}
	return t
}

// primary returns the first evaluation's primary split.
func primary(src *Source) (*evaluation.Result, *evaluation.Split) {
	if len(src.Evaluations) == 0 {
		return nil, nil
	}
	r := src.Evaluations[0].Result
	return r, r.PerSplit[r.Primary]
}

func f3(v float64) string {
	if math.IsNaN(v) {
		return "n/a"
	}
	return strconv.FormatFloat(v, 'f', 3, 64)
}

// na is an undefined metric's display: "n/a (reason)".
func na(iv metrics.Interval) string {
	if iv.Reason == "" {
		return "n/a"
	}
	return "n/a (" + iv.Reason + ")"
}

func ci(iv metrics.Interval) string {
	if math.IsNaN(iv.Value) {
		return na(iv)
	}
	if math.IsNaN(iv.Low) || math.IsNaN(iv.High) {
		return f3(iv.Value)
	}
	return fmt.Sprintf("%s [%s, %s]", f3(iv.Value), f3(iv.Low), f3(iv.High))
}

func round3(v float64) any {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return nil
	}
	return math.Round(v*1000) / 1000
}

// metricLabel is the display name of a metric.
func metricLabel(name string) string {
	labels := map[string]string{
		metrics.NameAUROC: "AUROC", metrics.NameAUPRC: "AUPRC (average precision)", metrics.NameAccuracy: "Accuracy",
		metrics.NameBalancedAccuracy: "Balanced accuracy", metrics.NameSensitivity: "Sensitivity (recall)",
		metrics.NameSpecificity: "Specificity", metrics.NamePPV: "PPV (precision)", metrics.NameNPV: "NPV",
		metrics.NameF1: "F1 (positive class)", metrics.NameF1Macro: "F1 macro", metrics.NameF1Micro: "F1 micro",
		metrics.NameECE: "ECE", metrics.NameBrier: "Brier score", metrics.NameMSE: "MSE", metrics.NameRMSE: "RMSE",
		metrics.NameMAE: "MAE", metrics.NameR2: "R²",
		evaluation.NameDice: "Dice (mean over foreground classes)", evaluation.NameIoU: "IoU (mean over foreground classes)",
		evaluation.NameVoxelAccuracy: "Voxel accuracy",
	}
	if l, ok := labels[name]; ok {
		return l
	}
	for _, m := range []struct{ prefix, label string }{{evaluation.NameDice + "_", "Dice"}, {evaluation.NameIoU + "_", "IoU"}} {
		if c, ok := strings.CutPrefix(name, m.prefix); ok {
			return m.label + ": " + c
		}
	}
	return name
}

// headline returns the metrics quoted in abstracts: AUROC and accuracy, or RMSE and R².
func headline(r *evaluation.Result) []string {
	switch r.Task {
	case "regression":
		return []string{metrics.NameRMSE, metrics.NameR2}
	case "reconstruction":
		return []string{metrics.NameMSE, metrics.NameMAE}
	case "segmentation":
		return []string{evaluation.NameDice, evaluation.NameIoU}
	}
	if len(r.Classes) == 2 {
		return []string{metrics.NameAUROC, metrics.NameAccuracy, metrics.NameSensitivity, metrics.NameSpecificity}
	}
	return []string{metrics.NameAUROC, metrics.NameAccuracy, metrics.NameBalancedAccuracy}
}

func summary(src *Source, g *gathered) map[string]any {
	s := map[string]any{"title": title(src, g)}
	if d := g.data; d != nil {
		per := map[string]any{}
		for _, sp := range d.splits {
			if d.task == "regression" {
				per[sp] = d.counts[sp][""]
			} else {
				per[sp] = d.counts[sp]
			}
		}
		data := map[string]any{"examples": d.total, "label": d.label, "per_split": per}
		if d.groups > 0 {
			data["groups"] = d.groups
		}
		s["task"] = d.task
		if len(d.classes) > 0 {
			s["classes"] = d.classes
		}
		s["data"] = data
	}
	if len(g.quarant) > 0 {
		s["quarantined_files"] = len(g.quarant)
	}
	if c := g.model; c != nil {
		m := map[string]any{"family": c.Family, "params": c.Params, "trainable_parameters": c.NumParameters,
			"epochs_configured": c.Epochs, "epochs_run": c.EpochsRun, "best_epoch": c.BestEpoch, "batch_size": c.BatchSize,
			"optimizer": map[string]any{"name": c.Optimizer.Name, "learning_rate": c.Optimizer.LearningRate, "weight_decay": c.Optimizer.WeightDecay},
			"backend":   c.Backend, "seed": c.Seed}
		if c.EarlyStopping.Patience > 0 {
			m["early_stopping"] = map[string]any{"monitor": c.EarlyStopping.Monitor, "patience": c.EarlyStopping.Patience}
		}
		s["model"] = m
		if s["task"] == nil {
			s["task"] = string(c.Task)
		}
	}
	r, _ := primary(src)
	if r == nil {
		return s
	}
	ev := map[string]any{"bootstrap_resamples": r.Bootstrap.Resamples, "ci_level": r.Bootstrap.Level, "primary_split": r.Primary}
	if th := r.Threshold; th != nil {
		ev["threshold"] = map[string]any{"rule": th.Rule, "value": round3(th.Value), "fitted_on": th.FittedOn}
	}
	s["evaluation"] = ev
	res := map[string]any{}
	for _, sp := range r.Splits {
		split := r.PerSplit[sp]
		m := map[string]any{"n": split.N}
		for _, name := range split.MetricNames() {
			iv := split.Metrics[name]
			if sp == r.Primary {
				m[name] = map[string]any{"value": round3(iv.Value), "ci_low": round3(iv.Low), "ci_high": round3(iv.High)}
			} else if slices.Contains(headline(r), name) {
				m[name] = round3(iv.Value)
			}
		}
		res[sp] = m
	}
	s["results"] = res
	if a := g.across; a != nil {
		agg := map[string]any{}
		for name, fs := range a.Metrics {
			if slices.Contains(headline(r), name) {
				agg[name] = map[string]any{"mean": round3(fs.Mean), "sd": round3(fs.SD), "pooled": round3(fs.Pooled)}
			}
		}
		key := "across_evaluations"
		if a.KFold {
			key = "cross_validation"
		}
		s[key] = map[string]any{"evaluations": len(a.Splits), "metrics": agg}
	}
	return s
}

func walkNumbers(v any, f *llm.Facts) {
	switch x := v.(type) {
	case map[string]any:
		for _, e := range x {
			walkNumbers(e, f)
		}
	case map[string]int:
		for _, e := range x {
			f.Add(float64(e))
		}
	case []any:
		for _, e := range x {
			walkNumbers(e, f)
		}
	case []int:
		for _, e := range x {
			f.Add(float64(e))
		}
	case []float64:
		f.Add(x...)
	case float64:
		f.Add(x)
	case int:
		f.Add(float64(x))
	case int64:
		f.Add(float64(x))
	case uint64:
		f.Add(float64(x))
	}
}

func paragraphs(text string) []string {
	var out []string
	for _, p := range strings.Split(strings.ReplaceAll(text, "\r\n", "\n"), "\n\n") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// grounded turns LLM text into a paragraph whose unmatched numbers are flagged.
func grounded(text string, facts *llm.Facts) (*Para, int, int) {
	nums, bad := llm.Ground(text, facts)
	p := &Para{}
	pos := 0
	for _, n := range nums {
		if n.Grounded {
			continue
		}
		p.Spans = append(p.Spans, Span{Text: text[pos:n.Start]},
			Span{Text: text[n.Start:n.End], Flag: true, Note: "this number does not match any figure of the run"})
		pos = n.End
	}
	p.Spans = append(p.Spans, Span{Text: text[pos:]})
	return p, len(nums), bad
}

func templateAbstract(src *Source, g *gathered) []Block {
	var parts []string
	what := "a model"
	if c := g.model; c != nil {
		what = fmt.Sprintf("%s (%s)", withArticle(c.Family), c.Task)
	}
	if d := g.data; d != nil {
		target := ""
		if d.label != "" {
			target = fmt.Sprintf(" to predict %q", d.label)
		}
		parts = append(parts, fmt.Sprintf("We trained %s%s on %d examples", what, target, d.total))
		if d.groups > 0 {
			parts[0] += fmt.Sprintf(" from %d %s groups", d.groups, d.group)
		}
		parts[0] += "."
	} else {
		parts = append(parts, fmt.Sprintf("We trained %s.", what))
	}
	if r, s := primary(src); s != nil {
		var ms []string
		for _, name := range headline(r) {
			if iv, ok := s.Metrics[name]; ok {
				ms = append(ms, fmt.Sprintf("%s %s", metricLabel(name), ciProse(iv, r.Bootstrap.Level)))
			}
		}
		if g.across == nil {
			parts = append(parts, fmt.Sprintf("On the held-out %s split (n = %d) it reached %s.", r.Primary, s.N, strings.Join(ms, ", ")))
		}
		if a := g.across; a != nil {
			var as []string
			for _, name := range headline(r) {
				if fs, ok := a.Metrics[name]; ok {
					as = append(as, fmt.Sprintf("%s %s ± %s (pooled %s)", metricLabel(name), f3(fs.Mean), f3(fs.SD), f3(fs.Pooled)))
				}
			}
			what := "the %d evaluations"
			if a.KFold {
				what = "the %d cross-validation folds"
			}
			parts = append(parts, fmt.Sprintf("Across "+what+", the mean ± sd was %s.", len(a.Splits), strings.Join(as, ", ")))
		}
	}
	return []Block{Text("%s", strings.Join(parts, " "))}
}

func ciProse(iv metrics.Interval, level float64) string {
	if math.IsNaN(iv.Value) {
		return na(iv)
	}
	if math.IsNaN(iv.Low) {
		return f3(iv.Value)
	}
	return fmt.Sprintf("%s (%g%% CI %s–%s)", f3(iv.Value), level*100, f3(iv.Low), f3(iv.High))
}

func templateIntro(src *Source, g *gathered) []Block {
	var out []Block
	if c := strings.TrimSpace(src.Context); c != "" {
		for _, p := range paragraphs(c) {
			out = append(out, Text("%s", p))
		}
	}
	task := "a prediction task"
	if g.model != nil {
		task = "a " + string(g.model.Task) + " task"
	}
	out = append(out, Text("This report describes a reproducible biopipe experiment on %s: the data, the resolved configuration, the metrics with bootstrap confidence intervals, and everything needed to run it again.", task))
	return out
}

func templateDiscussion(src *Source, g *gathered) []Block {
	r, s := primary(src)
	if s == nil {
		return []Block{Text("No evaluation was connected to this report, so there are no results to discuss.")}
	}
	var out []Block
	head := headline(r)[0]
	iv := s.Metrics[head]
	p := fmt.Sprintf("On the %s split the model's %s was %s.", r.Primary, metricLabel(head), ciProse(iv, r.Bootstrap.Level))
	if !math.IsNaN(iv.Low) {
		p += fmt.Sprintf(" The interval is %s wide; with n = %d test examples, differences smaller than that between models are not resolved by this experiment.", f3(iv.High-iv.Low), s.N)
	}
	out = append(out, Text("%s", p))
	if e, ok := s.Metrics[metrics.NameECE]; ok && !math.IsNaN(e.Value) {
		cal := "well calibrated"
		if e.Value > 0.1 {
			cal = "poorly calibrated; consider recalibrating (temperature or isotonic scaling) before using its probabilities"
		} else if e.Value > 0.05 {
			cal = "moderately calibrated"
		}
		out = append(out, Text("The expected calibration error was %s, so the predicted probabilities are %s (see the reliability diagram).", f3(e.Value), cal))
	}
	if tr, ok := r.PerSplit["train"]; ok {
		if a, ok1 := tr.Metrics[head]; ok1 && !math.IsNaN(a.Value) && !math.IsNaN(iv.Value) && a.Value-iv.Value > 0.05 && r.Task != "regression" {
			out = append(out, Text("The training %s (%s) exceeds the %s value by more than 0.05, which suggests overfitting; stronger regularisation or more data may help.", metricLabel(head), f3(a.Value), r.Primary))
		}
	}
	out = append(out, Text("Limitations: the results come from a single split of one dataset and one seed; a k-fold or repeated-seed run, and an external test set, would show how far they generalise."))
	return out
}

func dataSection(src *Source, g *gathered) *Section {
	s := &Section{ID: "data", Title: "Data"}
	for _, t := range g.tables {
		if t.art.Kind == "" || !strings.HasPrefix(t.art.Kind, "ingest") {
			continue
		}
		line := fmt.Sprintf("Stage %q (%s) read %d rows and %d columns", t.art.StageID, t.art.Kind, t.rows, t.cols)
		if t.art.Type == contract.Signals {
			line = fmt.Sprintf("Stage %q (%s) read the recordings", t.art.StageID, t.art.Kind)
		}
		if t.source != "" {
			line += " from " + t.source
		}
		s.Add(Text("%s.", line))
		if rows := summaryRows(t.summary); len(rows) > 0 {
			s.Add(&Table{Caption: fmt.Sprintf("Ingest summary of stage %q", t.art.StageID), Header: []string{"Item", "Value"}, Rows: rows})
		}
	}
	// Preparation stages that drop examples (rejected epochs, rows without a label, ...)
	// say so in their summary; list those counts as exclusions.
	for _, t := range g.tables {
		if strings.HasPrefix(t.art.Kind, "ingest") {
			continue
		}
		if rows := exclusionRows(t.summary); len(rows) > 0 {
			s.Add(&Table{Caption: fmt.Sprintf("Exclusions in stage %q (%s)", t.art.StageID, t.art.Kind), Header: []string{"Item", "Count"}, Rows: rows})
		}
	}
	if d := g.data; d != nil {
		intro := fmt.Sprintf("The evaluated dataset (stage %q) has %d examples", g.dataID, d.total)
		if d.label != "" {
			intro += fmt.Sprintf("; the label is %q", d.label)
		}
		if d.groups > 0 {
			intro += fmt.Sprintf("; %d distinct %s groups", d.groups, d.group)
		}
		s.Add(Text("%s.", intro))
		if d.task == "regression" || len(d.classes) == 0 {
			t := &Table{Caption: "Examples per split", Header: []string{"Split", "n"}}
			for _, sp := range d.splits {
				t.Rows = append(t.Rows, []string{sp, strconv.Itoa(d.counts[sp][""])})
			}
			s.Add(t)
		} else {
			t := &Table{Caption: "Examples per split and class", Header: append(append([]string{"Split"}, d.classes...), "Total")}
			totals := make([]int, len(d.classes)+1)
			for _, sp := range d.splits {
				row := []string{sp}
				n := 0
				for i, c := range d.classes {
					v := d.counts[sp][c]
					row = append(row, strconv.Itoa(v))
					n += v
					totals[i] += v
				}
				totals[len(d.classes)] += n
				t.Rows = append(t.Rows, append(row, strconv.Itoa(n)))
			}
			row := []string{"all"}
			for _, v := range totals {
				row = append(row, strconv.Itoa(v))
			}
			t.Rows = append(t.Rows, row)
			s.Add(t)
		}
	}
	if len(g.quarant) > 0 {
		t := &Table{Caption: "Quarantined input files (skipped with --keep-going)", Header: []string{"File", "Reason"}}
		for _, q := range g.quarant {
			t.Rows = append(t.Rows, []string{q.File, q.Reason})
		}
		s.Add(&Note{Text: plural(len(g.quarant), "input file was", "input files were") + " corrupt and excluded."}, t)
	} else {
		s.Add(Text("No input file was quarantined."))
	}
	return s
}

var exclusionRx = regexp.MustCompile(`(?i)reject|exclu|dropped|skipped|ignored|out_of_range|outside`)

// exclusionRows lists the numeric entries of a summary whose names say examples were left out.
func exclusionRows(sum map[string]any) [][]string {
	var rows [][]string
	for _, k := range slices.Sorted(maps.Keys(sum)) {
		if !exclusionRx.MatchString(k) {
			continue
		}
		if f, ok := sum[k].(float64); ok {
			rows = append(rows, []string{strings.ReplaceAll(k, "_", " "), strconv.FormatFloat(f, 'g', 6, 64)})
		}
	}
	return rows
}

// summaryRows lists the scalar entries of an ingest summary (identifier hashes and lists
// shown elsewhere are left out).
func summaryRows(sum map[string]any) [][]string {
	var keys []string
	for k := range sum {
		if k == "phi_hashes" || k == "quarantined" || k == "phi_hash_method" || k == "figures" {
			continue
		}
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var rows [][]string
	for _, k := range keys {
		if v := scalarText(sum[k]); v != "" {
			rows = append(rows, []string{strings.ReplaceAll(k, "_", " "), v})
		}
	}
	return rows
}

func scalarText(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case bool:
		return strconv.FormatBool(x)
	case float64:
		return strconv.FormatFloat(x, 'g', 6, 64)
	case []any:
		var parts []string
		for _, e := range x {
			t := scalarText(e)
			if t == "" {
				return ""
			}
			parts = append(parts, t)
		}
		if len(parts) > 12 {
			return fmt.Sprintf("%d values", len(parts))
		}
		return strings.Join(parts, ", ")
	case map[string]any:
		var keys []string
		for k := range x {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		if len(keys) > 12 {
			return fmt.Sprintf("%d entries", len(keys))
		}
		var parts []string
		for _, k := range keys {
			t := scalarText(x[k])
			if t == "" {
				return ""
			}
			parts = append(parts, k+": "+t)
		}
		return strings.Join(parts, "; ")
	}
	return ""
}

func methodsSection(src *Source, g *gathered) *Section {
	s := &Section{ID: "methods", Title: "Methods"}
	if len(src.Pipeline.Stages) > 0 {
		s.Add(Text("The pipeline %q ran these stages in order (configuration after defaults were filled):", src.Pipeline.Name))
		var items []string
		for _, st := range src.Pipeline.Stages {
			if st.Kind == "report" {
				continue
			}
			item := fmt.Sprintf("%s (%s)", st.ID, st.Kind)
			if len(st.Inputs) > 0 {
				item += " ← " + strings.Join(st.Inputs, ", ")
			}
			if c := configText(st.Config, ""); c != "" {
				item += ": " + c
			}
			items = append(items, item)
		}
		s.Add(&List{Items: items})
	}
	if c := g.model; c != nil {
		s.Add(&Heading{Text: "Model and training"})
		p := fmt.Sprintf("The model is %s for %s", withArticle(c.Family), c.Task)
		if pt := configText(c.Params, ""); pt != "" {
			p += " (" + pt + ")"
		}
		p += fmt.Sprintf(" with %d trainable parameters, on inputs of shape %v", c.NumParameters, c.InputShape)
		if len(c.Classes) > 0 {
			p += fmt.Sprintf(" and %d classes (%s)", len(c.Classes), strings.Join(c.Classes, ", "))
		}
		p += fmt.Sprintf(". It was trained with %s (learning rate %g, weight decay %g), batch size %d, for %d of %d epochs",
			c.Optimizer.Name, c.Optimizer.LearningRate, c.Optimizer.WeightDecay, c.BatchSize, c.EpochsRun, c.Epochs)
		if c.EarlyStopping.Patience > 0 {
			p += fmt.Sprintf("; early stopping monitored %s with patience %d", c.EarlyStopping.Monitor, c.EarlyStopping.Patience)
		}
		if c.BestEpoch > 0 {
			p += fmt.Sprintf(", and the weights of epoch %d were kept", c.BestEpoch)
		}
		p += fmt.Sprintf(". Training used %d training and %d validation examples on the %q backend with seed %d.",
			c.TrainExamples, c.ValExamples, c.Backend, c.Seed)
		s.Add(Text("%s", p))
		for _, e := range g.earlier {
			ec := e.card
			q := fmt.Sprintf("Upstream, stage %q trained %s for %s", e.id, withArticle(ec.Family), ec.Task)
			if pt := configText(ec.Params, ""); pt != "" {
				q += " (" + pt + ")"
			}
			q += fmt.Sprintf(" with %d trainable parameters on inputs of shape %v, with %s (learning rate %g), batch size %d, for %d of %d epochs (weights of epoch %d kept).",
				ec.NumParameters, ec.InputShape, ec.Optimizer.Name, ec.Optimizer.LearningRate, ec.BatchSize, ec.EpochsRun, ec.Epochs, ec.BestEpoch)
			s.Add(Text("%s", q))
		}
	}
	if r, _ := primary(src); r != nil {
		s.Add(&Heading{Text: "Evaluation"})
		p := "Metrics were computed on each split"
		if r.Bootstrap.Resamples > 0 {
			p += fmt.Sprintf(" with %g%% percentile bootstrap confidence intervals from %d resamples (seeded)", r.Bootstrap.Level*100, r.Bootstrap.Resamples)
			var how []string
			if r.Bootstrap.Stratified {
				how = append(how, "stratified by class")
			}
			if r.Bootstrap.Grouped {
				how = append(how, "resampling whole groups (patients)")
			}
			if len(how) > 0 {
				p += ", " + strings.Join(how, " and ")
			}
		}
		p += "."
		switch {
		case r.Task == "classification" && len(r.Classes) > 2:
			p += " AUROC and AUPRC are one-vs-rest macro averages over the classes; ECE uses the top-label confidence in equal-width bins."
		case r.Task == "classification":
			p += fmt.Sprintf(" %q is the positive class; ECE uses equal-width bins of its predicted probability.", r.Classes[len(r.Classes)-1])
		case r.Task == "segmentation":
			p += " Dice (2|P∩T| / (|P|+|T|)) and IoU (|P∩T| / |P∪T|) were computed per case (image or volume) and foreground class, then averaged over the cases" +
				" and, for the headline figures, over the classes; the intervals resample whole cases. A case whose true and predicted masks both lack a class" +
				" has no defined overlap for it and is left out of that class's mean (not counted as 1); a class absent everywhere is reported as n/a." +
				" Voxel accuracy is the share of all voxels, background included, labelled right."
		}
		if th := r.Threshold; th != nil {
			switch {
			case th.FittedOn != "":
				p += fmt.Sprintf(" The decision threshold (%s rule) was fitted on the %s split only: %s.", th.Rule, th.FittedOn, f3(th.Value))
			default:
				p += fmt.Sprintf(" The decision threshold was fixed at %s.", f3(th.Value))
			}
			if th.Note != "" {
				p += " " + th.Note + "."
			}
		}
		s.Add(Text("%s", p))
	}
	return s
}

// configText renders a config compactly: key=value, nested blocks as key.sub=value.
func configText(c map[string]any, prefix string) string {
	var keys []string
	for k := range c {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var parts []string
	for _, k := range keys {
		v := c[k]
		if k == "llm" || v == nil {
			continue
		}
		switch x := v.(type) {
		case contract.Config:
			if t := configText(x, prefix+k+"."); t != "" {
				parts = append(parts, t)
			}
		case map[string]any:
			if t := configText(x, prefix+k+"."); t != "" {
				parts = append(parts, t)
			}
		case string:
			if x != "" {
				parts = append(parts, fmt.Sprintf("%s%s=%s", prefix, k, x))
			}
		default:
			parts = append(parts, fmt.Sprintf("%s%s=%v", prefix, k, x))
		}
	}
	return strings.Join(parts, ", ")
}

func resultsSection(src *Source, g *gathered) (*Section, error) {
	s := &Section{ID: "results", Title: "Results"}
	if len(src.Evaluations) == 0 {
		s.Add(&Note{Text: "No evaluate stage is connected to this report."})
	}
	many := len(src.Evaluations) > 1
	haveCurves := false
	if g.across != nil {
		s.Add(acrossBlocks(g.across, src)...)
	}
	for _, ev := range src.Evaluations {
		r := ev.Result
		if many {
			s.Add(&Heading{Text: fmt.Sprintf("Evaluation %q", ev.StageID)})
		}
		t := &Table{Header: []string{"Metric"}}
		t.Caption = "Metrics per split"
		if r.Bootstrap.Resamples > 0 {
			t.Caption += fmt.Sprintf(": value [%g%% bootstrap CI]", r.Bootstrap.Level*100)
		}
		var names []string
		seen := map[string]bool{}
		for _, sp := range r.Splits {
			t.Header = append(t.Header, fmt.Sprintf("%s (n = %d)", sp, r.PerSplit[sp].N))
			for _, n := range r.PerSplit[sp].MetricNames() {
				if !seen[n] {
					seen[n] = true
					names = append(names, n)
				}
			}
		}
		for _, n := range names {
			row := []string{metricLabel(n)}
			for _, sp := range r.Splits {
				iv, ok := r.PerSplit[sp].Metrics[n]
				if !ok {
					row = append(row, "")
					continue
				}
				row = append(row, ci(iv))
			}
			t.Rows = append(t.Rows, row)
		}
		s.Add(t)
		if r.Task == "segmentation" {
			s.Add(segmentationTable(r))
		}
		if p := r.PerSplit[r.Primary]; len(p.Confusion) > 0 {
			ct := &Table{Caption: fmt.Sprintf("Confusion matrix on the %s split (rows: true class, columns: predicted)", r.Primary), Header: []string{"true \\ predicted"}}
			ct.Header = append(ct.Header, r.Classes...)
			for i, row := range p.Confusion {
				cells := []string{r.Classes[i]}
				for _, v := range row {
					cells = append(cells, strconv.Itoa(v))
				}
				ct.Rows = append(ct.Rows, cells)
			}
			s.Add(ct)
		}
		for _, f := range r.Figures {
			png, err := os.ReadFile(filepath.Join(ev.Dir, f.File))
			if err != nil {
				return nil, fmt.Errorf("stage %q: figure %s: %w", ev.StageID, f.File, err)
			}
			if strings.HasPrefix(f.File, "curve_") {
				haveCurves = true
			}
			file := f.File
			if many {
				file = ev.StageID + "-" + f.File
			}
			s.Add(&Figure{File: file, Title: f.Title, Caption: f.Caption, PNG: png})
		}
	}
	if len(g.extra) > 0 {
		s.Add(&Heading{Text: "Other results"})
		s.Add(g.extra...)
	}
	if len(g.figures) > 0 {
		s.Add(&Heading{Text: "Other figures"})
		for _, f := range g.figures {
			s.Add(f)
		}
	}
	if !haveCurves && g.history != nil {
		if h, err := plots.ParseHistory(g.history); err == nil {
			for _, m := range h.Metrics() {
				png, err := h.Curve(m)
				if err != nil {
					return nil, err
				}
				s.Add(&Figure{File: "curve_" + m + ".png", Title: strings.ToUpper(m[:1]) + strings.ReplaceAll(m[1:], "_", " ") + " per epoch", Caption: "Training and validation " + m + " per epoch.", PNG: png})
			}
		}
	}
	return s, nil
}

// segmentationTable lists Dice and IoU per foreground class on the primary split, with the
// number of cases whose true mask has the class.
func segmentationTable(r *evaluation.Result) *Table {
	p := r.PerSplit[r.Primary]
	t := &Table{Caption: fmt.Sprintf("Segmentation on the %s split (n = %d cases): mean per-case overlap per class", r.Primary, p.N),
		Header: []string{"class", "cases with the class", "Dice", "IoU"}}
	for _, c := range r.Classes[min(1, len(r.Classes)):] {
		t.Rows = append(t.Rows, []string{c, strconv.Itoa(p.ClassCounts[c]), ci(p.Metrics[evaluation.NameDice+"_"+c]), ci(p.Metrics[evaluation.NameIoU+"_"+c])})
	}
	t.Rows = append(t.Rows, []string{"mean over classes", "", ci(p.Metrics[evaluation.NameDice]), ci(p.Metrics[evaluation.NameIoU])})
	return t
}

func reproSection(src *Source) *Section {
	s := &Section{ID: "reproducibility", Title: "Reproducibility"}
	p := src.Pipeline
	var items []string
	add := func(k, v string) {
		if v != "" {
			items = append(items, k+": "+v)
		}
	}
	add("Command", p.Command)
	if p.Command == "" && p.File != "" {
		add("Command", "biopipe run "+p.File+" (the exact command line, run id, host and times are in the run's manifest.json)")
	}
	add("Pipeline file", p.File)
	add("Spec hash (SHA-256 of the resolved spec)", p.SpecHash)
	add("Run", p.RunID)
	add("biopipe version", p.Version)
	add("Backend", src.Backend)
	items = append(items, fmt.Sprintf("Seed: %d", src.Seed))
	s.Add(Text("Re-running the command below with the same inputs, seed and backend reproduces the artifacts; on the go backend the metrics are identical bit for bit."))
	s.Add(&List{Items: items})
	if len(src.Artifacts) > 0 {
		t := &Table{Caption: "Artifacts (content digests)", Header: []string{"Stage", "Kind", "Type", "Digest"}}
		for _, a := range src.Artifacts {
			t.Rows = append(t.Rows, []string{a.StageID, a.Kind, string(a.Type), a.Digest})
		}
		s.Add(t)
	}
	if len(p.Modules) > 0 {
		var keys []string
		for k := range p.Modules {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		t := &Table{Header: []string{"Module", "Version"}}
		for _, k := range keys {
			t.Rows = append(t.Rows, []string{k, p.Modules[k]})
		}
		s.Add(&Details{Summary: fmt.Sprintf("Module versions (%d)", len(keys)), Blocks: []Block{t}})
	}
	if p.SpecYAML != "" {
		s.Add(&Details{Summary: "Resolved pipeline spec", Blocks: []Block{&Code{Lang: "yaml", Text: p.SpecYAML}}})
	}
	return s
}

// familyName spells a model family for prose: short names are acronyms (MLP, CNN, VAE).
func familyName(f string) string {
	if f == "unet" {
		return "U-Net"
	}
	if len(f) <= 4 {
		return strings.ToUpper(f)
	}
	return f
}

// withArticle returns the family name with "a" or "an": acronyms by their first letter's
// sound (an MLP, a CNN), words by their first letter (an autoencoder).
func withArticle(f string) string {
	name := familyName(f)
	if name == "" {
		return "a model"
	}
	if strings.HasPrefix(name, "U-") { // "you": a U-Net
		return "a " + name
	}
	set := "aeiouAEIOU"
	if name == strings.ToUpper(name) {
		set = "AEFHILMNORSX"
	}
	if strings.ContainsRune(set, rune(name[0])) {
		return "an " + name
	}
	return "a " + name
}

func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return strconv.Itoa(n) + " " + many
}
