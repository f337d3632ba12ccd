// Package tab holds what the tabular transform stages share: reading the input table,
// choosing the rows parameters are fitted on, choosing columns, and writing the output.
package tab

import (
	"fmt"
	"slices"
	"strings"

	"github.com/biopipe/biopipe/contract"
	"github.com/biopipe/biopipe/dataset"
)

// Port is the input port name of every tabular transform.
const Port = "data"

// ParamsFile holds the fitted parameters of a transform, for reports.
const ParamsFile = "params.json"

// InputPort is the one table input of a transform.
var InputPort = []contract.Port{{Name: Port, Type: contract.Table, Doc: "the table to transform"}}

// Load reads the table on the "data" port.
func Load(env *contract.Env) (*dataset.Frame, error) {
	in, err := env.One(Port)
	if err != nil {
		return nil, err
	}
	f, err := dataset.ReadFile(in.File(contract.DataFile))
	if err != nil {
		return nil, fmt.Errorf("stage %q: input from %q: %w", env.StageID, in.StageID, err)
	}
	return f, nil
}

// FitRows returns the rows parameters are fitted on: the train split when the frame has a
// split column, else every row. The second result names the choice ("train" or "all").
func FitRows(f *dataset.Frame) ([]int, string) {
	if f.Split() == nil {
		rows := make([]int, f.NumRows())
		for i := range rows {
			rows[i] = i
		}
		return rows, "all"
	}
	return f.SplitRows(dataset.Train), dataset.Train
}

// Columns resolves the columns a transform works on: the named ones (each must exist and
// not be a role column), or, when names is empty, every feature column that keep accepts.
func Columns(f *dataset.Frame, names []string, keep func(*dataset.Column) bool) ([]*dataset.Column, error) {
	roles := f.RoleColumns()
	if len(names) == 0 {
		var out []*dataset.Column
		for _, c := range f.Columns {
			if !slices.Contains(roles, c.Name) && keep(c) {
				out = append(out, c)
			}
		}
		return out, nil
	}
	var out []*dataset.Column
	for _, n := range names {
		c := f.Col(n)
		if c == nil {
			msg := ""
			if s := contract.Suggest(n, f.Names()); s != "" {
				msg = fmt.Sprintf(" (did you mean %q?)", s)
			}
			return nil, fmt.Errorf("columns: %q not found%s (columns: %s)", n, msg, strings.Join(f.Names(), ", "))
		}
		if slices.Contains(roles, n) {
			return nil, fmt.Errorf("columns: %q is a role column (label, id, group, split or fold), not a feature", n)
		}
		out = append(out, c)
	}
	return out, nil
}

// Write writes the frame as data.arrow and params (when not nil) as params.json.
func Write(env *contract.Env, f *dataset.Frame, params any) error {
	if err := f.WriteFile(env.Out(contract.DataFile)); err != nil {
		return err
	}
	if params == nil {
		return nil
	}
	return dataset.WriteJSON(env.Out(ParamsFile), params)
}

// Missing reports whether row i of c holds no value (invalid, or NaN in a float column).
func Missing(c *dataset.Column, i int) bool {
	if !c.IsValid(i) {
		return true
	}
	return c.Kind == dataset.Float && c.F[i] != c.F[i]
}
