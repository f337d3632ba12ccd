// Package subset is the transform.subset stage kind: it keeps the rows of chosen classes
// and, optionally, a seeded stratified fraction of the rows of chosen splits (the few
// labelled examples of a transfer-learning experiment), and optionally only some feature
// columns (one modality of a multimodal table).
package subset

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"sort"
	"strings"

	"github.com/biopipe/biopipe/contract"
	"github.com/biopipe/biopipe/dataset"
	"github.com/biopipe/biopipe/stages/transform/internal/tab"
)

// KindName is the registered name of the stage kind.
const KindName = "transform.subset"

// Config field names.
const (
	FieldClasses  = "classes"
	FieldFraction = "fraction"
	FieldSplits   = "splits"
	FieldColumns  = "columns"
)

// Fields is the config of transform.subset.
var Fields = []contract.Field{
	{Name: FieldClasses, Type: contract.Strings, Doc: "keep rows whose label is one of these, which become the classes in this order (default: every class)"},
	{Name: FieldFraction, Type: contract.Float, Default: 1.0, Min: contract.Bound(0), Max: contract.Bound(1),
		Doc: "keep this fraction of the rows of each class in the chosen splits (at least one per class), drawn with the pipeline seed"},
	{Name: FieldSplits, Type: contract.Strings, Default: []any{dataset.Train}, Doc: "splits the fraction applies to (rows of other splits are all kept)"},
	{Name: FieldColumns, Type: contract.Strings, Doc: "keep only these feature columns (the role columns: label, group, id, split, fold and provenance always stay), e.g. one modality of a joined table; default: every column"},
}

func init() {
	contract.Register(&contract.Kind{
		Name: KindName,
		Doc:  "keep the rows of chosen classes, a seeded, stratified fraction of the train rows, and chosen feature columns",
		Description: `Keeps the rows whose label is in classes (which become the table's classes, in the
given order) and then, in the chosen splits, a fraction of the rows of each class (rounded,
at least one), drawn with the pipeline seed; other splits keep every row. Use it to pretrain on
some classes and fine-tune on others with few labels. With columns, only those feature columns
stay (role columns always do): one modality of a joined multimodal table, for a single-modality
model on the same rows and split. params.json lists the rows kept per split and class (and the
columns kept).`,
		Version: "1",
		Fields:  Fields,
		Inputs:  tab.InputPort,
		Output:  contract.Port{Name: "data", Type: contract.Table, Doc: "the kept rows; params.json"},
		New:     New,
		Example: `- id: few
  kind: transform.subset
  inputs: [split]
  with: {classes: ["5", "6", "7", "8", "9"], fraction: 0.1}`,
	})
}

// Params is params.json: rows kept per split and class.
type Params struct {
	Classes  []string                  `json:"classes"`
	Fraction float64                   `json:"fraction"`
	Kept     map[string]map[string]int `json:"kept"`
	Columns  []string                  `json:"columns,omitempty"` // the columns kept, with columns:
}

// KeepColumns drops every feature column of f not in keep; role columns stay. A name in keep
// that is not a feature column of f is an error naming it.
func KeepColumns(f *dataset.Frame, keep []string) error {
	roles := f.RoleColumns()
	var features []string
	for _, c := range f.Columns {
		if !slices.Contains(roles, c.Name) {
			features = append(features, c.Name)
		}
	}
	for _, k := range keep {
		if !slices.Contains(features, k) {
			if slices.Contains(roles, k) {
				return fmt.Errorf("%q is a role column (label, group, id, split, fold or provenance): it stays anyway; list feature columns only", k)
			}
			return fmt.Errorf("%q is not a feature column of the table (feature columns: %s)%s", k, strings.Join(features, ", "), contract.DidYouMean(k, features))
		}
	}
	var drop []string
	for _, c := range features {
		if !slices.Contains(keep, c) {
			drop = append(drop, c)
		}
	}
	f.Drop(drop...)
	return nil
}

// New builds the stage from a validated config.
func New(cfg contract.Config) (contract.Stage, error) {
	return contract.StageFunc(func(ctx context.Context, env *contract.Env) error {
		f, err := tab.Load(env)
		if err != nil {
			return err
		}
		out, p, err := Apply(f, cfg.Strings(FieldClasses), cfg.Float(FieldFraction), cfg.Strings(FieldSplits), uint64(env.Seed))
		if err != nil {
			return fmt.Errorf("stage %q: %w", env.StageID, err)
		}
		if cols := cfg.Strings(FieldColumns); len(cols) > 0 {
			if err := KeepColumns(out, cols); err != nil {
				return fmt.Errorf("stage %q: %s: %w", env.StageID, FieldColumns, err)
			}
			p.Columns = out.Names()
		}
		env.SetMetric("subset_rows", out.NumRows())
		return tab.Write(env, out, p)
	}), nil
}

// Apply returns the kept rows of f.
func Apply(f *dataset.Frame, classes []string, fraction float64, splits []string, seed uint64) (*dataset.Frame, *Params, error) {
	lc := f.Label()
	if lc == nil {
		return nil, nil, fmt.Errorf("no label column (set label: in the ingest stage)")
	}
	if len(classes) == 0 {
		classes = f.Classes()
	}
	known := f.Classes()
	for _, c := range classes {
		if len(known) > 0 && !slices.Contains(known, c) {
			return nil, nil, fmt.Errorf("class %q is not one of the table's classes %s%s", c, strings.Join(known, ", "), contract.DidYouMean(c, known))
		}
	}
	sp := f.Split()
	splitOf := func(i int) string {
		if sp == nil {
			return dataset.Train
		}
		return sp.S[i]
	}
	p := &Params{Classes: classes, Fraction: fraction, Kept: map[string]map[string]int{}}
	groups := map[[2]string][]int{}
	var keys [][2]string
	var keep []int
	for i := range f.NumRows() {
		if !lc.IsValid(i) {
			continue
		}
		c := lc.Text(i)
		if len(classes) > 0 && !slices.Contains(classes, c) {
			continue
		}
		s := splitOf(i)
		if !slices.Contains(splits, s) || fraction >= 1 {
			keep = append(keep, i)
			continue
		}
		k := [2]string{s, c}
		if groups[k] == nil {
			keys = append(keys, k)
		}
		groups[k] = append(groups[k], i)
	}
	sort.Slice(keys, func(i, j int) bool { return keys[i][0]+"\x00"+keys[i][1] < keys[j][0]+"\x00"+keys[j][1] })
	rng := rand.New(rand.NewPCG(seed, 0x737562736574)) // "subset"
	for _, k := range keys {
		rows := groups[k]
		rng.Shuffle(len(rows), func(i, j int) { rows[i], rows[j] = rows[j], rows[i] })
		n := max(1, int(math.Round(fraction*float64(len(rows)))))
		keep = append(keep, rows[:n]...)
	}
	if len(keep) == 0 {
		return nil, nil, fmt.Errorf("no rows left (classes %v)", classes)
	}
	sort.Ints(keep)
	out := f.Rows(keep).Clone()
	if len(classes) > 0 {
		out.SetClasses(classes)
	}
	for _, i := range keep {
		s, c := splitOf(i), lc.Text(i)
		if p.Kept[s] == nil {
			p.Kept[s] = map[string]int{}
		}
		p.Kept[s][c]++
	}
	return out, p, nil
}
