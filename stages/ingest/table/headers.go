package table

import (
	"context"
	"maps"
	"path/filepath"
	"slices"
	"strconv"

	"github.com/biopipe/biopipe/contract"
	"github.com/biopipe/biopipe/io/arrowio"
)

// Headers is ingest.table's header check: the label, id, group, drop and types columns must
// be columns of the file, read from its first row (or schema) only.
func Headers(ctx context.Context, cfg contract.Config, _ []contract.DataHeader) (contract.DataHeader, []contract.Issue) {
	st, err := New(cfg)
	if err != nil {
		return contract.DataHeader{}, nil // config issues are Validate's
	}
	s := st.(*Stage)
	cols, err := arrowio.ReadColumns(ctx, s.Path, s.Options)
	if err != nil {
		return contract.DataHeader{}, nil
	}
	from := filepath.Base(s.Path)
	var issues []contract.Issue
	for _, r := range [][2]string{{FieldLabel, s.Label}, {FieldID, s.ID}, {FieldGroup, s.Group}} {
		if r[1] != "" && !slices.Contains(cols, r[1]) {
			issues = append(issues, contract.NameIssue([]string{r[0]}, r[0]+" column", r[1], from, cols))
		}
	}
	for i, d := range s.Drop {
		if !slices.Contains(cols, d) {
			issues = append(issues, contract.NameIssue([]string{FieldDrop, strconv.Itoa(i)}, "column", d, from, cols))
		}
	}
	for _, col := range slices.Sorted(maps.Keys(cfg.MapOf(FieldTypes))) {
		if !slices.Contains(cols, col) {
			issues = append(issues, contract.NameIssue([]string{FieldTypes, col}, "typed column", col, from, cols))
		}
	}
	out := slices.DeleteFunc(slices.Clone(cols), func(c string) bool { return slices.Contains(s.Drop, c) })
	return contract.DataHeader{Columns: out}, issues
}
