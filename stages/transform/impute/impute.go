// Package impute is the transform.impute stage kind: it fills missing values of feature
// columns with a mean, median, most frequent value or constant fitted on the train split.
package impute

import (
	"context"
	"fmt"
	"math"
	"slices"
	"sort"
	"strconv"

	"github.com/biopipe/biopipe/contract"
	"github.com/biopipe/biopipe/dataset"
	"github.com/biopipe/biopipe/stages/transform/internal/tab"
)

// KindName is the registered name of the stage kind.
const KindName = "transform.impute"

// Config field names.
const (
	FieldStrategy  = "strategy"
	FieldColumns   = "columns"
	FieldFillValue = "fill_value"
	FieldFillText  = "fill_text"
)

// Strategies.
const (
	Mean         = "mean"
	Median       = "median"
	MostFrequent = "most_frequent"
	Constant     = "constant"
)

// Fields is the config of transform.impute.
var Fields = []contract.Field{
	{Name: FieldStrategy, Type: contract.String, Default: Mean, Enum: []string{Mean, Median, MostFrequent, Constant},
		Doc: "fill value of each column: mean, median, most frequent value (ties: the smallest) or a constant; text columns use most_frequent under mean/median"},
	{Name: FieldColumns, Type: contract.Strings, Doc: "columns to impute (default: every non-tensor feature column)"},
	{Name: FieldFillValue, Type: contract.Float, Default: 0.0, Doc: "constant: the value for numeric columns"},
	{Name: FieldFillText, Type: contract.String, Default: "missing", Doc: "constant: the value for text columns"},
}

func init() {
	contract.Register(&contract.Kind{
		Name: KindName,
		Doc:  "fill missing feature values with a mean, median, most frequent value or constant fitted on the train split",
		Description: `Fits one fill value per column on the train split (all rows when there is no split
column) and fills every missing cell (empty, NA tokens, NaN) in every row. Integer columns stay
integer when the fill value is a whole number, else become float. The fill values and the number of
cells filled per column are written to params.json.`,
		Version: "1",
		Fields:  Fields,
		Inputs:  tab.InputPort,
		Output:  contract.Port{Name: "data", Type: contract.Table, Doc: "the table without missing feature values; params.json"},
		New:     New,
		Example: `- id: impute
  kind: transform.impute
  inputs: [split]
  with: {strategy: median}`,
	})
}

// Options configures an imputation.
type Options struct {
	Strategy  string
	Columns   []string
	FillValue float64
	FillText  string
}

// Params are the fitted values (params.json).
type Params struct {
	Strategy string            `json:"strategy"`
	FittedOn string            `json:"fitted_on"`
	FitRows  int               `json:"fit_rows"`
	Columns  map[string]Filled `json:"columns"`
}

// Filled is the fill value of one column and how many cells got it.
type Filled struct {
	Strategy string `json:"strategy"`
	Value    any    `json:"value"` // float64, int64 or string
	Filled   int    `json:"filled"`
}

// New builds the stage from a validated config.
func New(cfg contract.Config) (contract.Stage, error) {
	o := Options{
		Strategy:  cfg.String(FieldStrategy),
		Columns:   cfg.Strings(FieldColumns),
		FillValue: cfg.Float(FieldFillValue),
		FillText:  cfg.String(FieldFillText),
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
		filled := 0
		for _, c := range p.Columns {
			filled += c.Filled
		}
		env.SetMetric("imputed_cells", filled)
		return tab.Write(env, f, p)
	}), nil
}

// Apply fits the fill values on the train rows and fills the chosen columns of f in place.
func Apply(f *dataset.Frame, o Options) (*Params, error) {
	cols, err := tab.Columns(f, o.Columns, func(c *dataset.Column) bool { return c.Kind != dataset.Tensor })
	if err != nil {
		return nil, err
	}
	rows, on := tab.FitRows(f)
	p := &Params{Strategy: o.Strategy, FittedOn: on, FitRows: len(rows), Columns: map[string]Filled{}}
	for _, c := range cols {
		if c.Kind == dataset.Tensor {
			return nil, fmt.Errorf("column %q is a tensor; impute works on scalar columns", c.Name)
		}
		strategy := o.Strategy
		if c.Kind == dataset.String && (strategy == Mean || strategy == Median) {
			strategy = MostFrequent
		}
		var vals []float64
		var texts []string
		for _, r := range rows {
			if tab.Missing(c, r) {
				continue
			}
			if c.Kind == dataset.String {
				texts = append(texts, c.S[r])
			} else {
				vals = append(vals, c.Float64(r))
			}
		}
		if strategy != Constant && len(vals) == 0 && len(texts) == 0 {
			return nil, fmt.Errorf("column %q has no values in the %d %s rows to fit %s on; drop it or use strategy: constant", c.Name, len(rows), on, strategy)
		}
		var fill float64
		var text string
		switch {
		case strategy == Constant:
			fill, text = o.FillValue, o.FillText
		case c.Kind == dataset.String:
			text = modeText(texts)
		case strategy == Mean:
			for _, v := range vals {
				fill += v
			}
			fill /= float64(len(vals))
		case strategy == Median:
			fill = median(vals)
		default:
			fill = modeFloat(vals)
		}
		n := 0
		for i := range c.Len() {
			if tab.Missing(c, i) {
				n++
			}
		}
		filled := Filled{Strategy: strategy, Filled: n}
		switch c.Kind {
		case dataset.String:
			filled.Value = text
			for i := range c.S {
				if !c.IsValid(i) {
					c.S[i] = text
				}
			}
			c.Valid = nil
		case dataset.Int:
			if fill == math.Trunc(fill) && math.Abs(fill) < 1<<53 {
				filled.Value = int64(fill)
				for i := range c.I {
					if !c.IsValid(i) {
						c.I[i] = int64(fill)
					}
				}
				c.Valid = nil
				break
			}
			out := &dataset.Column{Name: c.Name, Kind: dataset.Float, F: make([]float64, c.Len()), Meta: c.Meta}
			for i := range out.F {
				if c.IsValid(i) {
					out.F[i] = float64(c.I[i])
				} else {
					out.F[i] = fill
				}
			}
			filled.Value = fill
			f.Set(out)
		case dataset.Float:
			filled.Value = fill
			for i := range c.F {
				if tab.Missing(c, i) {
					c.F[i] = fill
				}
			}
			c.Valid = nil
		}
		p.Columns[c.Name] = filled
	}
	return p, nil
}

// median is the middle value, or the mean of the two middle values.
func median(v []float64) float64 {
	s := slices.Clone(v)
	sort.Float64s(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

// modeFloat is the most frequent value; ties go to the smallest.
func modeFloat(v []float64) float64 {
	counts := map[float64]int{}
	for _, x := range v {
		counts[x]++
	}
	best, bn := math.Inf(1), 0
	for x, n := range counts {
		if n > bn || (n == bn && x < best) {
			best, bn = x, n
		}
	}
	return best
}

// modeText is the most frequent text; ties go to the smallest (numerically when both are numbers).
func modeText(v []string) string {
	counts := map[string]int{}
	for _, x := range v {
		counts[x]++
	}
	best, bn := "", 0
	for x, n := range counts {
		if n > bn || (n == bn && less(x, best)) {
			best, bn = x, n
		}
	}
	return best
}

func less(a, b string) bool {
	fa, ea := strconv.ParseFloat(a, 64)
	fb, eb := strconv.ParseFloat(b, 64)
	if ea == nil && eb == nil {
		return fa < fb
	}
	return a < b
}
