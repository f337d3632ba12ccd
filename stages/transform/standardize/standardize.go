// Package standardize is the transform.standardize stage kind: z-scores of numeric feature
// columns (and tensor columns, per element or globally), with mean and standard deviation
// fitted on the train split only and applied to every row.
package standardize

import (
	"context"
	"fmt"
	"math"

	"github.com/biopipe/biopipe/contract"
	"github.com/biopipe/biopipe/dataset"
	"github.com/biopipe/biopipe/stages/transform/internal/tab"
)

// KindName is the registered name of the stage kind.
const KindName = "transform.standardize"

// Config field names.
const (
	FieldColumns = "columns"
	FieldTensor  = "tensor"
)

// Tensor modes.
const (
	Element = "element" // one mean/sd per tensor element
	Global  = "global"  // one mean/sd over every element
	None    = "none"    // leave tensor columns alone
)

// Fields is the config of transform.standardize.
var Fields = []contract.Field{
	{Name: FieldColumns, Type: contract.Strings, Doc: "columns to standardize (default: every numeric and tensor feature column)"},
	{Name: FieldTensor, Type: contract.String, Default: Element, Enum: []string{Element, Global, None},
		Doc: "tensor columns: element (a mean/sd per element), global (one mean/sd over all elements) or none"},
}

func init() {
	contract.Register(&contract.Kind{
		Name: KindName,
		Doc:  "z-score numeric and tensor feature columns with mean/sd fitted on the train split",
		Description: `Replaces each chosen column x by (x - mean) / sd, with mean and population standard
deviation computed on the train split (all rows when there is no split column) and applied to every
row, so no test information leaks into training. A constant column (sd 0) is only centred. Integer
columns become float. Missing values stay missing. Fitted values are written to params.json.`,
		Version: "1",
		Fields:  Fields,
		Inputs:  tab.InputPort,
		Output:  contract.Port{Name: "data", Type: contract.Table, Doc: "the standardized table; params.json"},
		New:     New,
		Example: `- id: scale
  kind: transform.standardize
  inputs: [split]`,
	})
}

// Params are the fitted parameters (params.json).
type Params struct {
	FittedOn string                 `json:"fitted_on"` // "train" or "all"
	FitRows  int                    `json:"fit_rows"`
	Columns  map[string]Scale       `json:"columns,omitempty"`
	Tensors  map[string]TensorScale `json:"tensors,omitempty"`
}

// Scale is the mean and standard deviation of one column.
type Scale struct {
	Mean float64 `json:"mean"`
	SD   float64 `json:"sd"`
}

// TensorScale holds per-element (or one global) means and standard deviations.
type TensorScale struct {
	Mode string    `json:"mode"`
	Mean []float64 `json:"mean"`
	SD   []float64 `json:"sd"`
}

// New builds the stage from a validated config.
func New(cfg contract.Config) (contract.Stage, error) {
	cols, mode := cfg.Strings(FieldColumns), cfg.String(FieldTensor)
	return contract.StageFunc(func(ctx context.Context, env *contract.Env) error {
		f, err := tab.Load(env)
		if err != nil {
			return err
		}
		p, err := Apply(f, cols, mode)
		if err != nil {
			return fmt.Errorf("stage %q: %w", env.StageID, err)
		}
		env.SetMetric("standardized_columns", len(p.Columns)+len(p.Tensors))
		return tab.Write(env, f, p)
	}), nil
}

// Apply fits on the train rows of f and standardizes the chosen columns in place.
func Apply(f *dataset.Frame, columns []string, mode string) (*Params, error) {
	cols, err := tab.Columns(f, columns, func(c *dataset.Column) bool {
		return c.Numeric() || (c.Kind == dataset.Tensor && mode != None)
	})
	if err != nil {
		return nil, err
	}
	rows, on := tab.FitRows(f)
	if len(rows) == 0 {
		return nil, fmt.Errorf("no %s rows to fit on", on)
	}
	p := &Params{FittedOn: on, FitRows: len(rows), Columns: map[string]Scale{}, Tensors: map[string]TensorScale{}}
	for _, c := range cols {
		switch {
		case c.Numeric():
			var s, ss, n float64
			for _, r := range rows {
				if tab.Missing(c, r) {
					continue
				}
				v := c.Float64(r)
				s += v
				n++
			}
			if n == 0 {
				return nil, fmt.Errorf("column %q has no values in the %s rows", c.Name, on)
			}
			mean := s / n
			for _, r := range rows {
				if !tab.Missing(c, r) {
					d := c.Float64(r) - mean
					ss += d * d
				}
			}
			sd := safeSD(math.Sqrt(ss / n))
			p.Columns[c.Name] = Scale{Mean: mean, SD: sd}
			out := &dataset.Column{Name: c.Name, Kind: dataset.Float, F: make([]float64, c.Len()), Valid: c.Valid, Meta: c.Meta}
			for i := range out.F {
				if c.IsValid(i) {
					out.F[i] = (c.Float64(i) - mean) / sd
				}
			}
			f.Set(out)
		case c.Kind == dataset.Tensor:
			if mode == None {
				return nil, fmt.Errorf("column %q is a tensor but tensor: none", c.Name)
			}
			ts, err := fitTensor(c, rows, mode)
			if err != nil {
				return nil, err
			}
			applyTensor(c, ts)
			p.Tensors[c.Name] = ts
		default:
			return nil, fmt.Errorf("column %q holds %s values; standardize needs numbers (encode text first)", c.Name, c.Kind)
		}
	}
	return p, nil
}

// safeSD maps a zero (or non-finite) deviation to 1, so constant columns are only centred.
func safeSD(sd float64) float64 {
	if sd == 0 || math.IsNaN(sd) || math.IsInf(sd, 0) {
		return 1
	}
	return sd
}

func fitTensor(c *dataset.Column, rows []int, mode string) (TensorScale, error) {
	size := dataset.TensorSize(c.Shape)
	width := size
	if mode == Global {
		width = 1
	}
	sum := make([]float64, width)
	n := make([]float64, width)
	for _, r := range rows {
		for j, v := range c.Row(r) {
			if v != v {
				continue
			}
			sum[j%width] += float64(v)
			n[j%width]++
		}
	}
	ts := TensorScale{Mode: mode, Mean: make([]float64, width), SD: make([]float64, width)}
	for j := range width {
		if n[j] == 0 {
			return ts, fmt.Errorf("tensor column %q: element %d has no values in the fit rows", c.Name, j)
		}
		ts.Mean[j] = sum[j] / n[j]
	}
	ss := make([]float64, width)
	for _, r := range rows {
		for j, v := range c.Row(r) {
			if v != v {
				continue
			}
			d := float64(v) - ts.Mean[j%width]
			ss[j%width] += d * d
		}
	}
	for j := range width {
		ts.SD[j] = safeSD(math.Sqrt(ss[j] / n[j]))
	}
	return ts, nil
}

func applyTensor(c *dataset.Column, ts TensorScale) {
	width := len(ts.Mean)
	size := dataset.TensorSize(c.Shape)
	for i, v := range c.T {
		j := (i % size) % width
		c.T[i] = float32((float64(v) - ts.Mean[j]) / ts.SD[j])
	}
}
