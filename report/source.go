package report

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"

	"github.com/biopipe/biopipe/contract"
	"github.com/biopipe/biopipe/dataset"
	"github.com/biopipe/biopipe/evaluation"
	"github.com/biopipe/biopipe/models"
)

// Source is everything a report is written from.
type Source struct {
	Title    string
	Context  string // the researcher's paragraph (report config `context`)
	Pipeline contract.PipelineInfo
	Backend  string
	Seed     int64
	// Evaluations are the metrics artifacts on the report's "metrics" port.
	Evaluations []Evaluation
	// Artifacts are every upstream artifact, in topological order.
	Artifacts []contract.Input
	// Quarantined are inputs skipped with --keep-going (also read from summaries).
	Quarantined []contract.Quarantined
}

// Evaluation is one evaluate artifact.
type Evaluation struct {
	StageID string
	Dir     string
	Result  *evaluation.Result
}

// LoadEvaluation reads an evaluate artifact.
func LoadEvaluation(stageID, dir string) (Evaluation, error) {
	r, err := evaluation.ReadResult(dir)
	if err != nil {
		return Evaluation{}, fmt.Errorf("stage %q: %w", stageID, err)
	}
	return Evaluation{StageID: stageID, Dir: dir, Result: r}, nil
}

// stageCard is a model card with the stage that trained it.
type stageCard struct {
	id   string
	card *models.Card
}

// facts gathered from the artifacts.
type gathered struct {
	tables   []tableInfo
	model    *models.Card
	modelID  string
	earlier  []stageCard // models trained upstream of the evaluated one (an autoencoder feeding an embedding, ...)
	history  []byte
	data     *dataCounts // the evaluated dataset
	dataID   string
	quarant  []contract.Quarantined
	phiHash  []string
	idValues []string
	across   *Across // several evaluations (k-fold), nil otherwise
	figures  []*Figure
	extra    []Block // tables and notes upstream stages list in their summary.json
}

type tableInfo struct {
	art     contract.Input
	rows    int
	cols    int
	source  string
	summary map[string]any
}

// dataCounts are the evaluated dataset's counts per split and class.
type dataCounts struct {
	label   string
	task    string
	classes []string
	splits  []string
	counts  map[string]map[string]int // split -> class -> n ("" for regression)
	total   int
	group   string
	groups  int
}

// maxArrowBytes bounds the data.arrow files read for counts and identifier values.
const maxArrowBytes = 2 << 30

func gather(src *Source) (*gathered, error) {
	g := &gathered{quarant: append([]contract.Quarantined(nil), src.Quarantined...)}
	evalData := evaluatedTable(src)
	for _, a := range src.Artifacts {
		if sum, err := readSummary(a.Dir); err == nil {
			if q, ok := sum["quarantined"].([]any); ok {
				for _, x := range q {
					if m, ok := x.(map[string]any); ok {
						f, _ := m["file"].(string)
						r, _ := m["reason"].(string)
						g.quarant = append(g.quarant, contract.Quarantined{File: f, Reason: r})
					}
				}
			}
			figs, err := summaryFigures(a, sum)
			if err != nil {
				return nil, err
			}
			g.figures = append(g.figures, figs...)
			if a.Type != contract.Metrics {
				g.extra = append(g.extra, summaryTables(sum)...)
			}
			if hs, ok := sum["phi_hashes"].([]any); ok {
				for _, h := range hs {
					if s, ok := h.(string); ok {
						g.phiHash = append(g.phiHash, s)
					}
				}
			}
		}
		switch a.Type {
		case contract.Table:
			ti := tableInfo{art: a}
			ti.summary, _ = readSummary(a.Dir)
			path := filepath.Join(a.Dir, contract.DataFile)
			if st, err := os.Stat(path); err == nil && st.Size() < maxArrowBytes {
				f, err := dataset.ReadFile(path)
				if err != nil {
					return nil, fmt.Errorf("stage %q: %w", a.StageID, err)
				}
				ti.rows, ti.cols = f.NumRows(), len(f.Columns)
				ti.source = f.Meta[dataset.MetaSource]
				for _, role := range []string{dataset.MetaID, dataset.MetaGroup} {
					if c := f.Col(f.Meta[role]); c != nil {
						for i := 0; i < c.Len(); i++ {
							g.idValues = append(g.idValues, c.Text(i))
						}
					}
				}
				if a.StageID == evalData || evalData == "" {
					g.data = counts(f)
					g.dataID = a.StageID
				}
			}
			g.tables = append(g.tables, ti)
		case contract.Signals:
			ti := tableInfo{art: a}
			ti.summary, _ = readSummary(a.Dir)
			g.tables = append(g.tables, ti)
		case contract.Model:
			if c, err := models.ReadCard(a.Dir); err == nil {
				if g.model != nil {
					g.earlier = append(g.earlier, stageCard{id: g.modelID, card: g.model})
				}
				g.model, g.modelID = &c, a.StageID
			}
			if b, err := os.ReadFile(filepath.Join(a.Dir, contract.HistoryFile)); err == nil {
				g.history = b
			}
		}
	}
	if g.history == nil {
		for _, ev := range src.Evaluations {
			if b, err := os.ReadFile(filepath.Join(ev.Dir, contract.HistoryFile)); err == nil {
				g.history = b
				break
			}
		}
	}
	return g, nil
}

// evaluatedTable returns the id of the table stage that feeds the first evaluate stage.
func evaluatedTable(src *Source) string {
	if len(src.Evaluations) == 0 {
		return ""
	}
	types := map[string]contract.PortType{}
	for _, a := range src.Artifacts {
		types[a.StageID] = a.Type
	}
	for _, s := range src.Pipeline.Stages {
		if s.ID != src.Evaluations[0].StageID {
			continue
		}
		for _, in := range s.Inputs {
			if types[in] == contract.Table {
				return in
			}
		}
	}
	return ""
}

func readSummary(dir string) (map[string]any, error) {
	b, err := os.ReadFile(filepath.Join(dir, contract.SummaryFile))
	if err != nil {
		return nil, err
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("%s: %w", filepath.Join(dir, contract.SummaryFile), err)
	}
	return m, nil
}

func counts(f *dataset.Frame) *dataCounts {
	d := &dataCounts{task: f.Meta[dataset.MetaTask], classes: f.Classes(), counts: map[string]map[string]int{}, total: f.NumRows()}
	lc := f.Label()
	if lc != nil {
		d.label = lc.Name
	}
	sc := f.Split()
	seen := map[string]bool{}
	for i := 0; i < f.NumRows(); i++ {
		s := "all"
		if sc != nil {
			s = sc.S[i]
		}
		if !seen[s] {
			seen[s] = true
			d.splits = append(d.splits, s)
			d.counts[s] = map[string]int{}
		}
		cls := ""
		if lc != nil && d.task != "regression" {
			cls = lc.Text(i)
		}
		d.counts[s][cls]++
	}
	order := map[string]int{dataset.Train: 0, dataset.Val: 1, dataset.Test: 2}
	sort.SliceStable(d.splits, func(a, b int) bool {
		oa, ok := order[d.splits[a]]
		if !ok {
			oa = 3
		}
		ob, ok := order[d.splits[b]]
		if !ok {
			ob = 3
		}
		return oa < ob
	})
	if gc := f.Group(); gc != nil {
		d.group = gc.Name
		set := map[string]bool{}
		for i := 0; i < gc.Len(); i++ {
			set[gc.Text(i)] = true
		}
		d.groups = len(set)
	}
	if len(d.classes) == 0 && d.task != "regression" && lc != nil {
		set := map[string]bool{}
		for i := 0; i < lc.Len(); i++ {
			set[lc.Text(i)] = true
		}
		for k := range set {
			d.classes = append(d.classes, k)
		}
		sort.Strings(d.classes)
	}
	return d
}

// summaryTables returns the tables an upstream stage lists in its summary.json under
// "tables": [{"caption": "...", "header": [...], "rows": [[...], ...]}], each followed by its
// "note", if any (a caveat shown as a call-out).
func summaryTables(sum map[string]any) []Block {
	list, _ := sum["tables"].([]any)
	var out []Block
	for _, x := range list {
		m, ok := x.(map[string]any)
		if !ok {
			continue
		}
		t := &Table{}
		t.Caption, _ = m["caption"].(string)
		t.Header = strs(m["header"])
		rows, _ := m["rows"].([]any)
		for _, r := range rows {
			t.Rows = append(t.Rows, strs(r))
		}
		if len(t.Header) == 0 || len(t.Rows) == 0 {
			continue
		}
		out = append(out, t)
		if note, _ := m["note"].(string); note != "" {
			out = append(out, &Note{Text: note})
		}
	}
	return out
}

func strs(v any) []string {
	list, _ := v.([]any)
	out := make([]string, 0, len(list))
	for _, e := range list {
		out = append(out, fmt.Sprint(e))
	}
	return out
}

// summaryFigures returns the figures an upstream stage lists in its summary.json under
// "figures": [{"file": "latent.png", "title": "...", "caption": "..."}] (PNG files in
// its artifact folder). Metrics artifacts are skipped: their figures come from metrics.json.
func summaryFigures(a contract.Input, sum map[string]any) ([]*Figure, error) {
	list, ok := sum["figures"].([]any)
	if !ok || a.Type == contract.Metrics {
		return nil, nil
	}
	var out []*Figure
	for i, x := range list {
		m, ok := x.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("stage %q: summary.json: figures[%d]: want an object with file, title, caption", a.StageID, i)
		}
		file, _ := m["file"].(string)
		if file == "" || filepath.Base(file) != file || filepath.Ext(file) != ".png" {
			return nil, fmt.Errorf("stage %q: summary.json: figures[%d]: file %q must be a .png in the artifact folder", a.StageID, i, file)
		}
		png, err := os.ReadFile(filepath.Join(a.Dir, file))
		if err != nil {
			return nil, fmt.Errorf("stage %q: figure %s: %w", a.StageID, file, err)
		}
		title, _ := m["title"].(string)
		if title == "" {
			title = file
		}
		caption, _ := m["caption"].(string)
		out = append(out, &Figure{File: a.StageID + "-" + file, Title: title, Caption: caption, PNG: png})
	}
	return out, nil
}
