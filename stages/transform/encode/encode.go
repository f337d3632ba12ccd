// Package encode is the transform.encode stage kind: it turns text (categorical) feature
// columns into numbers, one-hot or ordinal, with the category list fitted on the train split.
package encode

import (
	"context"
	"fmt"
	"sort"
	"strconv"

	"github.com/biopipe/biopipe/contract"
	"github.com/biopipe/biopipe/dataset"
	"github.com/biopipe/biopipe/stages/transform/internal/tab"
)

// KindName is the registered name of the stage kind.
const KindName = "transform.encode"

// Config field names.
const (
	FieldMethod        = "method"
	FieldColumns       = "columns"
	FieldMaxCategories = "max_categories"
	FieldUnknown       = "handle_unknown"
)

// Methods and unknown-category handling.
const (
	OneHot  = "onehot"
	Ordinal = "ordinal"
	Ignore  = "ignore"
	Error   = "error"
)

// Fields is the config of transform.encode.
var Fields = []contract.Field{
	{Name: FieldMethod, Type: contract.String, Default: OneHot, Enum: []string{OneHot, Ordinal},
		Doc: `onehot: one 0/1 float column "name=category" per category; ordinal: one int column holding the category's index`},
	{Name: FieldColumns, Type: contract.Strings, Doc: "columns to encode (default: every text feature column); numeric columns may be listed too"},
	{Name: FieldMaxCategories, Type: contract.Int, Default: 100, Min: contract.Bound(1), Doc: "a column with more categories in the train split is an error (likely an identifier: mark it as id or drop it)"},
	{Name: FieldUnknown, Type: contract.String, Default: Ignore, Enum: []string{Ignore, Error},
		Doc: "a category absent from the train split: ignore (onehot: all zeros; ordinal: -1) or error"},
}

func init() {
	contract.Register(&contract.Kind{
		Name: KindName,
		Doc:  "one-hot or ordinal encoding of text feature columns, categories fitted on the train split",
		Description: `Collects the categories of each chosen column in the train split (all rows when there is
no split column), sorted, and replaces the column in place by its encoding. Missing values stay
missing (impute them first with strategy most_frequent or constant if the model needs values).
The categories of every column are written to params.json.`,
		Version: "1",
		Fields:  Fields,
		Inputs:  tab.InputPort,
		Output:  contract.Port{Name: "data", Type: contract.Table, Doc: "the table with encoded columns; params.json"},
		New:     New,
		Example: `- id: encode
  kind: transform.encode
  inputs: [impute]
  with: {method: onehot, columns: [sex, smoking]}`,
	})
}

// Options configures an encoding.
type Options struct {
	Method        string
	Columns       []string
	MaxCategories int
	Unknown       string
}

// Params are the fitted categories (params.json).
type Params struct {
	Method   string              `json:"method"`
	FittedOn string              `json:"fitted_on"`
	Columns  map[string]Encoding `json:"columns"`
}

// Encoding is the category list of one column and the columns it became.
type Encoding struct {
	Categories []string `json:"categories"`
	Outputs    []string `json:"outputs"`
	Unknown    int      `json:"unknown_rows"` // rows whose category is not in the list
}

// New builds the stage from a validated config.
func New(cfg contract.Config) (contract.Stage, error) {
	o := Options{
		Method:        cfg.String(FieldMethod),
		Columns:       cfg.Strings(FieldColumns),
		MaxCategories: cfg.Int(FieldMaxCategories),
		Unknown:       cfg.String(FieldUnknown),
	}
	return contract.StageFunc(func(ctx context.Context, env *contract.Env) error {
		f, err := tab.Load(env)
		if err != nil {
			return err
		}
		p, err := Apply(f, o)
		if err != nil {
			return fmt.Errorf("stage %q: %w", env.StageID, err)
		}
		env.SetMetric("encoded_columns", len(p.Columns))
		return tab.Write(env, f, p)
	}), nil
}

// Apply fits the categories on the train rows and encodes the chosen columns of f in place.
func Apply(f *dataset.Frame, o Options) (*Params, error) {
	cols, err := tab.Columns(f, o.Columns, func(c *dataset.Column) bool { return c.Kind == dataset.String })
	if err != nil {
		return nil, err
	}
	if o.MaxCategories <= 0 {
		o.MaxCategories = 100
	}
	rows, on := tab.FitRows(f)
	p := &Params{Method: o.Method, FittedOn: on, Columns: map[string]Encoding{}}
	for _, c := range cols {
		if c.Kind == dataset.Tensor {
			return nil, fmt.Errorf("column %q is a tensor; encode works on categorical columns", c.Name)
		}
		seen := map[string]bool{}
		var cats []string
		for _, r := range rows {
			if tab.Missing(c, r) {
				continue
			}
			if v := c.Text(r); !seen[v] {
				seen[v] = true
				cats = append(cats, v)
			}
		}
		if len(cats) > o.MaxCategories {
			return nil, fmt.Errorf("column %q has %d categories in the %s rows (max_categories %d): is it an identifier? mark it as id, drop it, or raise max_categories",
				c.Name, len(cats), on, o.MaxCategories)
		}
		sortCategories(cats, c.Numeric())
		index := make(map[string]int, len(cats))
		for i, v := range cats {
			index[v] = i
		}
		enc := Encoding{Categories: cats}
		n := c.Len()
		code := make([]int, n) // -1 unknown, -2 missing
		for i := range n {
			if tab.Missing(c, i) {
				code[i] = -2
				continue
			}
			k, ok := index[c.Text(i)]
			if !ok {
				if o.Unknown == Error {
					return nil, fmt.Errorf("column %q row %d: category %q does not occur in the %s rows (categories: %v)", c.Name, i, c.Text(i), on, cats)
				}
				enc.Unknown++
				k = -1
			}
			code[i] = k
		}
		var out []*dataset.Column
		switch o.Method {
		case Ordinal:
			oc := &dataset.Column{Name: c.Name, Kind: dataset.Int, I: make([]int64, n), Meta: c.Meta}
			for i, k := range code {
				if k == -2 {
					if oc.Valid == nil {
						oc.Valid = make([]bool, n)
						for j := range oc.Valid {
							oc.Valid[j] = true
						}
					}
					oc.Valid[i] = false
					continue
				}
				oc.I[i] = int64(k)
			}
			out = append(out, oc)
		default:
			var valid []bool
			for i, k := range code {
				if k == -2 {
					if valid == nil {
						valid = make([]bool, n)
						for j := range valid {
							valid[j] = true
						}
					}
					valid[i] = false
				}
			}
			for j, v := range cats {
				name := c.Name + "=" + v
				if f.Col(name) != nil {
					return nil, fmt.Errorf("column %q: one-hot column %q already exists", c.Name, name)
				}
				oc := &dataset.Column{Name: name, Kind: dataset.Float, F: make([]float64, n), Valid: valid}
				for i, k := range code {
					if k == j {
						oc.F[i] = 1
					}
				}
				out = append(out, oc)
			}
		}
		for _, oc := range out {
			enc.Outputs = append(enc.Outputs, oc.Name)
		}
		replace(f, c.Name, out)
		p.Columns[c.Name] = enc
	}
	return p, nil
}

// replace puts cols where the named column was.
func replace(f *dataset.Frame, name string, cols []*dataset.Column) {
	i := f.Index(name)
	rest := append([]*dataset.Column{}, f.Columns[i+1:]...)
	f.Columns = append(append(f.Columns[:i], cols...), rest...)
}

func sortCategories(cats []string, numeric bool) {
	if !numeric {
		sort.Strings(cats)
		return
	}
	sort.Slice(cats, func(i, j int) bool {
		a, _ := strconv.ParseFloat(cats[i], 64)
		b, _ := strconv.ParseFloat(cats[j], 64)
		return a < b
	})
}
