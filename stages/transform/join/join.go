// Package join is the transform.join stage kind: it joins two tables on an id or patient
// column (inner or left; one-to-many by the first, the mean or all matching rows), keeps the
// left table's roles, and keeps the split consistent: every key's rows end on one side.
package join

import (
	"context"
	"fmt"
	"slices"

	"github.com/biopipe/biopipe/contract"
	"github.com/biopipe/biopipe/dataset"
)

// KindName is the registered name of the stage kind.
const KindName = "transform.join"

// Ports.
const (
	PortLeft  = "left"
	PortRight = "right"
)

// Config field names.
const (
	FieldOn      = "on"
	FieldRightOn = "right_on"
	FieldHow     = "how"
	FieldMany    = "many"
	FieldSuffix  = "suffix"
)

// Choices.
const (
	Inner = "inner"
	Left  = "left"
	First = "first"
	Mean  = "mean"
	All   = "all"
)

// Fields is the config of transform.join.
var Fields = []contract.Field{
	{Name: FieldOn, Type: contract.String, Required: true, Doc: "the key column of the left table (an id or patient column); matched as text"},
	{Name: FieldRightOn, Type: contract.String, Doc: "the key column of the right table (default: the same name as on)"},
	{Name: FieldHow, Type: contract.String, Default: Inner, Enum: []string{Inner, Left},
		Doc: "inner: only left rows with a match; left: every left row, right columns missing where there is no match (tensor columns cannot be missing)"},
	{Name: FieldMany, Type: contract.String, Default: First, Enum: []string{First, Mean, All},
		Doc: "a key with several right rows: first (in table order), mean (numeric and tensor columns averaged, text from the first row), or all (one output row per matching pair)"},
	{Name: FieldSuffix, Type: contract.String, Default: "_right", Doc: "appended to a right column whose name the left table already uses"},
}

func init() {
	contract.Register(&contract.Kind{
		Name: KindName,
		Doc:  "join two tables on an id or patient column (inner/left; first, mean or all of several matches), split kept per key",
		Description: `The first input is the left table, the second the right. The output has the left table's columns and
roles (label, group, id, task, classes), then the right table's non-role columns (its id, split and fold
columns are left out, and its label and group unless the left table has none: images joined to a clinical
table take its outcome as label; a clashing name gets suffix:). The split: when the left table has a
split column it is kept; when only the right has one, each key takes its split from the right. Either way
every key must end in one split: a patient in train and in test is an error (split by group before the
join, or join before splitting). Writes data.arrow and summary.json (rows in, rows out, keys without a
match on each side, keys with several right rows).`,
		Version: "1",
		Fields:  Fields,
		Inputs: []contract.Port{
			{Name: PortLeft, Type: contract.Table, Doc: "the left table (its rows, roles and split are kept)"},
			{Name: PortRight, Type: contract.Table, Doc: "the right table (its feature columns are added)"},
		},
		Output: contract.Port{Name: "data", Type: contract.Table, Doc: "the joined table; summary.json"},
		New:    New,
		Example: `- id: joined
  kind: transform.join
  inputs: [images, clinical]    # left, right
  with: {on: patient, how: inner, many: mean}`,
	})
}

// Options are the join settings.
type Options struct {
	On, RightOn, How, Many, Suffix string
}

// Summary is written to summary.json.
type Summary struct {
	LeftRows        int      `json:"left_rows"`
	RightRows       int      `json:"right_rows"`
	OutputRows      int      `json:"output_rows"`
	LeftUnmatched   int      `json:"left_rows_without_match"`
	RightKeysUnused int      `json:"right_keys_without_match"`
	KeysWithMany    int      `json:"keys_with_several_right_rows"`
	AddedColumns    []string `json:"added_columns"`
	SplitFrom       string   `json:"split_from,omitempty"` // left, right or "" (none)
}

// New builds the stage from a validated config.
func New(cfg contract.Config) (contract.Stage, error) {
	o := Options{On: cfg.String(FieldOn), RightOn: cfg.String(FieldRightOn), How: cfg.String(FieldHow), Many: cfg.String(FieldMany), Suffix: cfg.String(FieldSuffix)}
	return contract.StageFunc(func(ctx context.Context, env *contract.Env) error {
		var frames [2]*dataset.Frame
		for i, port := range []string{PortLeft, PortRight} {
			in, err := env.One(port)
			if err != nil {
				return err
			}
			if frames[i], err = dataset.ReadFile(in.File(contract.DataFile)); err != nil {
				return fmt.Errorf("stage %q: input %q from %q: %w", env.StageID, port, in.StageID, err)
			}
		}
		out, sum, err := Join(frames[0], frames[1], o)
		if err != nil {
			return fmt.Errorf("stage %q: %w", env.StageID, err)
		}
		if err := out.WriteFile(env.Out(contract.DataFile)); err != nil {
			return err
		}
		env.SetMetric("rows", sum.OutputRows)
		return dataset.WriteJSON(env.Out(contract.SummaryFile), sum)
	}), nil
}

// Join joins right onto left.
func Join(left, right *dataset.Frame, o Options) (*dataset.Frame, *Summary, error) {
	if o.RightOn == "" {
		o.RightOn = o.On
	}
	if o.Suffix == "" {
		o.Suffix = "_right"
	}
	lk, rk := left.Col(o.On), right.Col(o.RightOn)
	if lk == nil {
		return nil, nil, fmt.Errorf("on: the left table has no column %q%s", o.On, contract.DidYouMean(o.On, left.Names()))
	}
	if rk == nil {
		return nil, nil, fmt.Errorf("right_on: the right table has no column %q%s", o.RightOn, contract.DidYouMean(o.RightOn, right.Names()))
	}
	sum := &Summary{LeftRows: left.NumRows(), RightRows: right.NumRows(), AddedColumns: []string{}}
	byKey := map[string][]int{}
	var keyOrder []string
	for i := range rk.Len() {
		if !rk.IsValid(i) {
			continue
		}
		k := rk.Text(i)
		if _, ok := byKey[k]; !ok {
			keyOrder = append(keyOrder, k)
		}
		byKey[k] = append(byKey[k], i)
	}
	for _, rows := range byKey {
		if len(rows) > 1 {
			sum.KeysWithMany++
		}
	}
	// Output rows: pairs (left row, right rows to combine; nil = no match).
	type pair struct {
		l int
		r []int
	}
	var pairs []pair
	used := map[string]bool{}
	for i := range lk.Len() {
		var rows []int
		if lk.IsValid(i) {
			rows = byKey[lk.Text(i)]
		}
		if len(rows) == 0 {
			sum.LeftUnmatched++
			if o.How == Left {
				pairs = append(pairs, pair{i, nil})
			}
			continue
		}
		used[lk.Text(i)] = true
		switch o.Many {
		case All:
			for _, r := range rows {
				pairs = append(pairs, pair{i, []int{r}})
			}
		case Mean:
			pairs = append(pairs, pair{i, rows})
		default:
			pairs = append(pairs, pair{i, rows[:1]})
		}
	}
	for _, k := range keyOrder {
		if !used[k] {
			sum.RightKeysUnused++
		}
	}
	lrows := make([]int, len(pairs))
	for j, p := range pairs {
		lrows[j] = p.l
	}
	out := left.Rows(lrows)
	out.Meta = map[string]string{}
	for k, v := range left.Meta {
		out.Meta[k] = v
	}
	roles := right.RoleColumns()
	// The right's label and group come along when the left has none (images + a clinical
	// table that holds the outcome).
	carry := map[string]string{}
	for _, k := range []string{dataset.MetaLabel, dataset.MetaGroup} {
		if left.Meta[k] == "" && right.Meta[k] != "" && right.Meta[k] != o.RightOn {
			carry[right.Meta[k]] = k
		}
	}
	var rightSplit *dataset.Column
	for _, c := range right.Columns {
		if c.Name == dataset.ColSplit {
			rightSplit = c
		}
		meta, carried := carry[c.Name]
		if c.Name == o.RightOn || (slices.Contains(roles, c.Name) && !carried) {
			continue
		}
		name := c.Name
		for out.Col(name) != nil {
			name += o.Suffix
		}
		nc, err := gather(c, pairs2(pairs, func(p pair) []int { return p.r }), o.Many == Mean)
		if err != nil {
			return nil, nil, fmt.Errorf("right column %q: %w", c.Name, err)
		}
		nc.Name = name
		out.Columns = append(out.Columns, nc)
		sum.AddedColumns = append(sum.AddedColumns, name)
		if carried {
			out.Meta[meta] = name
			if meta == dataset.MetaLabel {
				out.Meta[dataset.MetaTask] = right.Meta[dataset.MetaTask]
				if v, ok := right.Meta[dataset.MetaClasses]; ok {
					out.Meta[dataset.MetaClasses] = v
				}
				if nc.Valid != nil {
					return nil, nil, fmt.Errorf("how: left leaves rows without the right table's label %q; use how: inner", c.Name)
				}
			}
		}
	}
	// The split: the left's, or the right's per key; one split per key either way.
	switch {
	case out.Split() != nil:
		sum.SplitFrom = "left"
	case rightSplit != nil:
		sum.SplitFrom = "right"
		sc := &dataset.Column{Name: dataset.ColSplit, Kind: dataset.String, S: make([]string, len(pairs))}
		for j, p := range pairs {
			if len(p.r) == 0 {
				return nil, nil, fmt.Errorf("left row %d (key %q) has no right row to take its split from; use how: inner, or split after the join", p.l, lk.Text(p.l))
			}
			sc.S[j] = rightSplit.Text(p.r[0])
		}
		out.Set(sc)
	}
	if sc := out.Split(); sc != nil {
		kc := out.Col(o.On)
		seen := map[string]string{}
		for j := range sc.Len() {
			k := kc.Text(j)
			if s, ok := seen[k]; ok && s != sc.S[j] {
				return nil, nil, fmt.Errorf("%s %q is in both %q and %q after the join: split by that column (transform.split strategy: group) before joining, or join before splitting", o.On, k, s, sc.S[j])
			}
			seen[k] = sc.S[j]
		}
	}
	sum.OutputRows = out.NumRows()
	return out, sum, out.Validate()
}

func pairs2[P any](ps []P, f func(P) []int) [][]int {
	out := make([][]int, len(ps))
	for i, p := range ps {
		out[i] = f(p)
	}
	return out
}

// gather builds a column with one value per output row from the given source rows: the
// first row's value, or with mean the mean of numeric/tensor values; no rows = missing.
func gather(c *dataset.Column, rows [][]int, mean bool) (*dataset.Column, error) {
	n := len(rows)
	out := &dataset.Column{Kind: c.Kind, Shape: slices.Clone(c.Shape), Meta: c.Meta}
	size := dataset.TensorSize(c.Shape)
	var valid []bool
	missing := false
	for _, rs := range rows {
		if len(rs) == 0 {
			missing = true
		}
	}
	if missing || c.Valid != nil {
		valid = make([]bool, n)
	}
	for j, rs := range rows {
		ok := len(rs) > 0
		if valid != nil {
			valid[j] = ok && c.IsValid(rs[0])
		}
		switch c.Kind {
		case dataset.String:
			v := ""
			if ok {
				v = c.S[rs[0]]
			}
			out.S = append(out.S, v)
		case dataset.Int:
			if mean && len(rs) > 1 {
				// A mean of integers is a float: switch the column over.
				return gatherFloat(c, rows)
			}
			var v int64
			if ok {
				v = c.I[rs[0]]
			}
			out.I = append(out.I, v)
		case dataset.Float:
			v := 0.0
			if ok {
				if mean {
					var s float64
					var k int
					for _, r := range rs {
						if c.IsValid(r) {
							s += c.F[r]
							k++
						}
					}
					if k > 0 {
						v = s / float64(k)
					}
					if valid != nil {
						valid[j] = k > 0
					}
				} else {
					v = c.F[rs[0]]
				}
			}
			out.F = append(out.F, v)
		case dataset.Tensor:
			if !ok {
				return nil, fmt.Errorf("a left row has no match and a tensor value cannot be missing; use how: inner")
			}
			v := make([]float32, size)
			use := rs[:1]
			if mean {
				use = rs
			}
			for _, r := range use {
				for q, x := range c.Row(r) {
					v[q] += x / float32(len(use))
				}
			}
			out.T = append(out.T, v...)
		}
	}
	if valid != nil && c.Kind != dataset.Tensor {
		out.Valid = valid
	}
	return out, nil
}

// gatherFloat is gather for an integer column averaged into floats.
func gatherFloat(c *dataset.Column, rows [][]int) (*dataset.Column, error) {
	f := &dataset.Column{Name: c.Name, Kind: dataset.Float, F: make([]float64, c.Len()), Valid: c.Valid, Meta: c.Meta}
	for i, v := range c.I {
		f.F[i] = float64(v)
	}
	return gather(f, rows, true)
}
