// Package workflows runs many pipelines: a workflow file names a pipeline and a sweep (a grid
// of overrides, seeds included) that expands into runs sharing one work dir, so stages that do
// not depend on a swept value are computed once. It writes results tables across seeds
// (Markdown, LaTeX booktabs, CSV) and a workflow report, re-executes a run to verify it,
// runs files on cron schedules, and submits the same plans to Slurm.
package workflows

import (
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/biopipe/biopipe/contract"
	"github.com/biopipe/biopipe/pipelines"
)

// Workflow is a loaded, validated workflow file.
type Workflow struct {
	File     string // the workflow file as given
	Name     string
	Doc      string
	Pipeline string // the pipeline file, resolved (working directory first, then the workflow's folder)
	Sweep    []Axis // in file order; the last axis varies fastest
	Table    TableSpec
	Schedule string            // cron spec ("" = none), for `biopipe schedule`
	Slurm    SlurmDefaults     // defaults for `biopipe submit --slurm`
	src      *pipelines.Source // positions
	base     *pipelines.Plan   // the pipeline without overrides
	points   []Point           // expanded and validated grid
	plans    []*pipelines.Plan // one per point
	axisPos  map[string]pipelines.Pos
	_        struct{}
}

// Axis is one sweep key and its values.
type Axis struct {
	Key    string // a pipeline path as --set takes it: seed, vars.data, stages.train.with.epochs
	Values []any
}

// TableSpec says what the results table shows.
type TableSpec struct {
	Metrics []string // metric names as the evaluate stage reports them (test_auroc)
	GroupBy []string // sweep keys whose values make the rows; the other axes (seeds) are aggregated
	Stage   string   // the stage whose metrics are read ("" = the one stage that reports them)
	Level   float64  // confidence level of the intervals (default 0.95)
}

// Point is one run of the grid: a value for every axis.
type Point struct {
	Index  int
	Values []any // by axis, in Workflow.Sweep order
	Sets   []pipelines.Override
}

// Label returns "key=value, ..." for the point.
func (w *Workflow) Label(p Point) string {
	parts := make([]string, len(w.Sweep))
	for i, a := range w.Sweep {
		parts[i] = ShortKey(a.Key) + "=" + formatValue(p.Values[i])
	}
	return strings.Join(parts, ", ")
}

// ShortKey is the last segment of a sweep key (learning_rate for stages.train.with.optimizer.learning_rate).
func ShortKey(k string) string {
	if i := strings.LastIndex(k, "."); i >= 0 {
		return k[i+1:]
	}
	return k
}

var workflowFields = []string{"name", "description", "pipeline", "sweep", "table", "schedule", "slurm"}
var tableFields = []string{"metrics", "group_by", "stage", "level"}

// IsWorkflow reports whether file is a workflow file (a top-level pipeline: key and no
// stages:) rather than a pipeline file.
func IsWorkflow(file string) bool {
	b, err := os.ReadFile(file)
	if err != nil {
		return false
	}
	var m map[string]yaml.Node
	if yaml.Unmarshal(b, &m) != nil {
		return false
	}
	_, p := m["pipeline"]
	_, s := m["stages"]
	return p && !s
}

// Load reads and validates a workflow file: unknown keys (with "did you mean"), types, the
// pipeline file, and every sweep key and value against the pipeline's real fields; every point
// of the grid is loaded and validated before anything runs. Errors are pipelines.SpecErrors
// naming file:line:col.
func Load(file string, reg *contract.Registry) (*Workflow, error) {
	src, err := pipelines.Load(file, nil)
	if err != nil {
		return nil, err
	}
	w := &Workflow{File: file, src: src, axisPos: map[string]pipelines.Pos{}, Table: TableSpec{Level: 0.95}}
	var errs pipelines.SpecErrors
	add := func(path, format string, a ...any) {
		errs = append(errs, &pipelines.SpecError{Pos: src.KeyPos(path), Msg: fmt.Sprintf(format, a...)})
	}
	v := src.Value
	for _, k := range slices.Sorted(maps.Keys(v)) {
		if !slices.Contains(workflowFields, k) {
			add(k, "unknown key %q in a workflow file%s (keys: %s)", k, contract.DidYouMean(k, workflowFields), strings.Join(workflowFields, ", "))
		}
	}
	str := func(k string) string {
		if v[k] == nil {
			return ""
		}
		s, ok := v[k].(string)
		if !ok {
			add(k, "%s: want a string, got %v", k, v[k])
		}
		return s
	}
	w.Name, w.Doc, w.Schedule = str("name"), str("description"), str("schedule")
	if w.Name == "" {
		w.Name = strings.TrimSuffix(filepath.Base(file), filepath.Ext(file))
	}
	pf := str("pipeline")
	if pf == "" {
		add("pipeline", "pipeline: missing (the pipeline file this workflow runs)")
	} else if p, ok := resolveFile(pf, filepath.Dir(file)); ok {
		w.Pipeline = p
	} else {
		errs = append(errs, &pipelines.SpecError{Pos: src.ValuePos("pipeline"), Msg: fmt.Sprintf("pipeline %s: no such file (looked in the working directory and in %s)", pf, filepath.Dir(file))})
	}
	if w.Schedule != "" {
		if _, err := ParseSchedule(w.Schedule); err != nil {
			errs = append(errs, &pipelines.SpecError{Pos: src.ValuePos("schedule"), Msg: err.Error()})
		}
	}
	switch sw := v["sweep"].(type) {
	case nil:
	case map[string]any:
		// keep the file's order (the map has lost it)
		if n := mapNode(src.Root, "sweep"); n != nil {
			for i := 0; i+1 < len(n.Content); i += 2 {
				k := n.Content[i].Value
				path := "sweep." + k
				w.axisPos[k] = src.KeyPos(path)
				list, ok := sw[k].([]any)
				if !ok || len(list) == 0 {
					errs = append(errs, &pipelines.SpecError{Pos: src.ValuePos(path), Msg: fmt.Sprintf("sweep %q: want a non-empty list of values, e.g. [1, 2, 3]", k)})
					continue
				}
				w.Sweep = append(w.Sweep, Axis{Key: k, Values: list})
			}
		}
	default:
		add("sweep", "sweep: want a mapping of pipeline paths to lists of values")
	}
	if t, ok := v["table"].(map[string]any); ok {
		for _, k := range slices.Sorted(maps.Keys(t)) {
			if !slices.Contains(tableFields, k) {
				add("table."+k, "unknown key %q in table%s (keys: %s)", k, contract.DidYouMean(k, tableFields), strings.Join(tableFields, ", "))
			}
		}
		w.Table.Metrics = strList(t["metrics"], "table.metrics", src, &errs)
		w.Table.GroupBy = strList(t["group_by"], "table.group_by", src, &errs)
		if s, ok := t["stage"].(string); ok {
			w.Table.Stage = s
		}
		if l, ok := t["level"].(float64); ok {
			if l <= 0 || l >= 1 {
				errs = append(errs, &pipelines.SpecError{Pos: src.ValuePos("table.level"), Msg: "table.level: want a confidence level between 0 and 1, e.g. 0.95"})
			}
			w.Table.Level = l
		}
	} else if v["table"] != nil {
		add("table", "table: want a mapping with metrics and group_by")
	}
	keys := make([]string, len(w.Sweep))
	for i, a := range w.Sweep {
		keys[i] = a.Key
	}
	for i, g := range w.Table.GroupBy {
		if !slices.Contains(keys, g) {
			errs = append(errs, &pipelines.SpecError{Pos: src.ValuePos(fmt.Sprintf("table.group_by.%d", i)),
				Msg: fmt.Sprintf("table.group_by: %q is not a sweep key%s", g, contract.DidYouMean(g, keys))})
		}
	}
	if sl, ok := v["slurm"].(map[string]any); ok {
		d, es := decodeSlurm(sl, "slurm", src)
		w.Slurm = d
		errs = append(errs, es...)
	} else if v["slurm"] != nil {
		add("slurm", "slurm: want a mapping of sbatch defaults (partition, account, qos, cpus, mem, time, gpus)")
	}
	if len(errs) > 0 || w.Pipeline == "" {
		return nil, errs
	}
	// The pipeline itself, then every sweep key against it, then every point.
	base, err := loadPlan(w.Pipeline, nil, reg)
	if err != nil {
		return nil, err
	}
	w.base = base
	if es := w.checkKeys(reg); len(es) > 0 {
		return nil, es
	}
	if err := w.expand(reg); err != nil {
		return nil, err
	}
	if w.Table.Stage != "" && w.base.Stage(w.Table.Stage) == nil {
		var ids []string
		for _, ps := range w.base.Order {
			ids = append(ids, ps.Spec.ID)
		}
		return nil, pipelines.SpecErrors{{Pos: src.ValuePos("table.stage"), Msg: fmt.Sprintf("table.stage: no stage %q in %s%s", w.Table.Stage, w.Pipeline, contract.DidYouMean(w.Table.Stage, ids))}}
	}
	return w, nil
}

// checkKeys checks each sweep key against the pipeline: a stage id that exists, then each
// value through the pipeline's own validation (unknown fields, types, bounds).
func (w *Workflow) checkKeys(reg *contract.Registry) pipelines.SpecErrors {
	var errs pipelines.SpecErrors
	var ids []string
	for _, ps := range w.base.Order {
		ids = append(ids, ps.Spec.ID)
	}
	for _, a := range w.Sweep {
		pos := w.axisPos[a.Key]
		segs := strings.Split(a.Key, ".")
		if segs[0] == "stages" && len(segs) > 1 && w.base.Stage(segs[1]) == nil {
			errs = append(errs, &pipelines.SpecError{Pos: pos, Msg: fmt.Sprintf("sweep %q: no stage %q in %s%s (stages: %s)", a.Key, segs[1], w.Pipeline, contract.DidYouMean(segs[1], ids), strings.Join(ids, ", "))})
			continue
		}
		for _, val := range a.Values {
			set := override(a.Key, val, pos)
			if _, err := loadPlan(w.Pipeline, []pipelines.Override{set}, reg); err != nil {
				if es, ok := err.(pipelines.SpecErrors); ok {
					errs = append(errs, es...)
				} else {
					errs = append(errs, &pipelines.SpecError{Pos: pos, Msg: err.Error()})
				}
				break // one value is enough to show a wrong key
			}
		}
	}
	return errs
}

// expand builds the cartesian product of the axes (last axis fastest) and validates each point.
func (w *Workflow) expand(reg *contract.Registry) error {
	n := 1
	for _, a := range w.Sweep {
		n *= len(a.Values)
	}
	for i := 0; i < n; i++ {
		p := Point{Index: i, Values: make([]any, len(w.Sweep))}
		r := i
		for j := len(w.Sweep) - 1; j >= 0; j-- {
			a := w.Sweep[j]
			p.Values[j] = a.Values[r%len(a.Values)]
			r /= len(a.Values)
		}
		for j, a := range w.Sweep {
			p.Sets = append(p.Sets, override(a.Key, p.Values[j], w.axisPos[a.Key]))
		}
		plan, err := loadPlan(w.Pipeline, p.Sets, reg)
		if err != nil {
			return fmt.Errorf("point %d (%s): %w", i+1, w.Label(p), err)
		}
		w.points = append(w.points, p)
		w.plans = append(w.plans, plan)
	}
	return nil
}

// Points returns the expanded grid, in run order.
func (w *Workflow) Points() []Point { return w.points }

// Plan returns the validated plan of point i.
func (w *Workflow) Plan(i int) *pipelines.Plan { return w.plans[i] }

// BasePlan returns the pipeline without the sweep's overrides.
func (w *Workflow) BasePlan() *pipelines.Plan { return w.base }

// Pos returns the position of a workflow key path (table.metrics, sweep.seed).
func (w *Workflow) Pos(path string) pipelines.Pos { return w.src.KeyPos(path) }

func override(key string, val any, pos pipelines.Pos) pipelines.Override {
	b, _ := yaml.Marshal(val)
	return pipelines.Override{Path: key, Value: strings.TrimSpace(string(b)), Origin: fmt.Sprintf("%s: sweep %s=%s", pos, key, formatValue(val))}
}

func loadPlan(file string, sets []pipelines.Override, reg *contract.Registry) (*pipelines.Plan, error) {
	src, err := pipelines.Load(file, sets)
	if err != nil {
		return nil, err
	}
	return pipelines.Validate(src, reg)
}

func resolveFile(p, base string) (string, bool) {
	if _, err := os.Stat(p); err == nil {
		return p, true
	}
	if filepath.IsAbs(p) {
		return "", false
	}
	q := filepath.Join(base, p)
	if _, err := os.Stat(q); err == nil {
		return q, true
	}
	return "", false
}

func mapNode(root *yaml.Node, key string) *yaml.Node {
	for i := 0; i+1 < len(root.Content); i += 2 {
		if root.Content[i].Value == key && root.Content[i+1].Kind == yaml.MappingNode {
			return root.Content[i+1]
		}
	}
	return nil
}

func strList(v any, path string, src *pipelines.Source, errs *pipelines.SpecErrors) []string {
	if v == nil {
		return nil
	}
	list, ok := v.([]any)
	if !ok {
		if s, ok := v.(string); ok {
			return []string{s}
		}
		*errs = append(*errs, &pipelines.SpecError{Pos: src.ValuePos(path), Msg: path + ": want a list of names"})
		return nil
	}
	var out []string
	for i, x := range list {
		s, ok := x.(string)
		if !ok {
			*errs = append(*errs, &pipelines.SpecError{Pos: src.ValuePos(path + "." + strconv.Itoa(i)), Msg: path + ": want a name, got " + fmt.Sprint(x)})
			continue
		}
		out = append(out, s)
	}
	return out
}

func formatValue(v any) string {
	switch x := v.(type) {
	case float64:
		return strconv.FormatFloat(x, 'g', -1, 64)
	case string:
		return x
	}
	return fmt.Sprint(v)
}
