// Package tensor is the transform.tensor stage kind: it packs numeric feature columns (the
// pixels of an image stored one per column, the samples of a short signal) into one tensor
// column of a given shape, so that a convolutional model sees an image instead of a flat
// vector.
package tensor

import (
	"context"
	"fmt"
	"math"
	"slices"

	"github.com/biopipe/biopipe/contract"
	"github.com/biopipe/biopipe/dataset"
	"github.com/biopipe/biopipe/stages/transform/internal/tab"
)

// KindName is the registered name of the stage kind.
const KindName = "transform.tensor"

// Config field names.
const (
	FieldColumns = "columns"
	FieldShape   = "shape"
	FieldName    = "name"
	FieldScale   = "scale"
)

// Fields is the config of transform.tensor.
var Fields = []contract.Field{
	{Name: FieldColumns, Type: contract.Strings,
		Doc: "the numeric columns to pack, in row-major order of the shape (default: every numeric feature column, in table order)"},
	{Name: FieldShape, Type: contract.Ints, Required: true, Min: contract.Bound(1),
		Doc: "per-example tensor shape, channels last: [8, 8, 1] for 8x8 grey images (the cnn model reads a 2-axis [8, 8] as a sequence [T, C]); its size must equal the number of columns"},
	{Name: FieldName, Type: contract.String, Default: dataset.ColTensor,
		Doc: "name of the new tensor column"},
	{Name: FieldScale, Type: contract.Float, Default: 1.0,
		Doc: "factor every value is multiplied by (e.g. 0.0625 maps 0..16 pixel values to 0..1); a fixed factor, not fitted"},
}

func init() {
	contract.Register(&contract.Kind{
		Name: KindName,
		Doc:  "pack numeric columns (pixels) into one tensor column of a given shape, e.g. [8, 8, 1]",
		Description: `Builds one tensor column (FixedSizeList<float32> with the shape in its metadata) from numeric
columns, fills it row by row in row-major order of shape (the last axis varies fastest: for [H, W, C]
the columns are pixel (0,0) channel 0, (0,0) channel 1, ..., (0,1) ...), multiplies by scale, and drops
the packed columns. Role columns (label, group, id, split, fold) and unpacked columns stay. A missing
value is an error naming the column and row (impute first).`,
		Version: "1",
		Fields:  Fields,
		Inputs:  tab.InputPort,
		Output:  contract.Port{Name: "data", Type: contract.Table, Doc: "the table with the tensor column"},
		New:     New,
		Example: `- id: images
  kind: transform.tensor
  inputs: [load]
  with: {shape: [8, 8, 1], scale: 0.0625}`,
	})
}

// New builds the stage from a validated config.
func New(cfg contract.Config) (contract.Stage, error) {
	cols, shape, name, scale := cfg.Strings(FieldColumns), cfg.Ints(FieldShape), cfg.String(FieldName), cfg.Float(FieldScale)
	if len(shape) == 0 {
		return nil, &contract.ConfigError{Issues: []contract.Issue{{Path: []string{FieldShape}, Msg: "give at least one axis"}}}
	}
	return contract.StageFunc(func(ctx context.Context, env *contract.Env) error {
		f, err := tab.Load(env)
		if err != nil {
			return err
		}
		if err := Pack(f, cols, shape, name, scale); err != nil {
			return fmt.Errorf("stage %q: %w", env.StageID, err)
		}
		env.SetMetric("tensor_shape", fmt.Sprint(shape))
		return tab.Write(env, f, nil)
	}), nil
}

// Pack replaces the chosen numeric columns of f (nil = every numeric feature column) by one
// tensor column name of the given per-row shape, values multiplied by scale. The tensor
// column takes the place of the first packed column.
func Pack(f *dataset.Frame, columns []string, shape []int, name string, scale float64) error {
	cols, err := tab.Columns(f, columns, (*dataset.Column).Numeric)
	if err != nil {
		return err
	}
	for _, c := range cols {
		if !c.Numeric() {
			return fmt.Errorf("columns: %q is a %s column; only numeric columns can be packed", c.Name, c.Kind)
		}
	}
	size := dataset.TensorSize(shape)
	if len(cols) != size {
		return fmt.Errorf("shape %v holds %d values per row but %d columns were chosen", shape, size, len(cols))
	}
	packed := make([]string, len(cols))
	for i, c := range cols {
		packed[i] = c.Name
	}
	if f.Col(name) != nil && !slices.Contains(packed, name) {
		return fmt.Errorf("name: a column %q exists already", name)
	}
	n := f.NumRows()
	out := &dataset.Column{Name: name, Kind: dataset.Tensor, Shape: slices.Clone(shape), T: make([]float32, n*size)}
	for j, c := range cols {
		for r := range n {
			v := c.Float64(r)
			if math.IsNaN(v) {
				return fmt.Errorf("column %q: row %d is missing; impute it first (transform.impute)", c.Name, r)
			}
			out.T[r*size+j] = float32(v * scale)
		}
	}
	kept := make([]*dataset.Column, 0, len(f.Columns)-len(cols)+1)
	for _, c := range f.Columns {
		switch {
		case c.Name == packed[0]:
			kept = append(kept, out) // the tensor takes the first packed column's place
		case !slices.Contains(packed, c.Name):
			kept = append(kept, c)
		}
	}
	f.Columns = kept
	return f.Validate()
}
