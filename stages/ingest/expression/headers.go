package expression

import (
	"context"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/biopipe/biopipe/contract"
	"github.com/biopipe/biopipe/io/arrowio"
)

// Headers is ingest.expression's header check: the sample id, label, group, batch and kept
// columns must be columns of the annotation table, read from its first row (or schema)
// only. With a GCT matrix, whose column metadata may supply annotation columns, only the
// sample id column is checked.
func Headers(ctx context.Context, cfg contract.Config, _ []contract.DataHeader) (contract.DataHeader, []contract.Issue) {
	st, err := New(cfg)
	if err != nil {
		return contract.DataHeader{}, nil
	}
	s := st.(*Stage)
	if s.Annotation == "" {
		return contract.DataHeader{}, nil
	}
	cols, err := arrowio.ReadColumns(ctx, s.Annotation, arrowio.Options{})
	if err != nil || len(cols) == 0 {
		return contract.DataHeader{}, nil
	}
	from := filepath.Base(s.Annotation)
	var issues []contract.Issue
	if s.SampleColumn != "" && !slices.Contains(cols, s.SampleColumn) {
		issues = append(issues, contract.NameIssue([]string{FieldSampleColumn}, "sample id column", s.SampleColumn, from, cols))
	}
	gct := s.Read.Format == "gct" || strings.HasSuffix(strings.TrimSuffix(strings.ToLower(s.Path), ".gz"), ".gct")
	if gct {
		return contract.DataHeader{}, issues
	}
	for _, r := range [][2]string{{FieldLabel, s.Label}, {FieldGroup, s.Group}, {FieldBatch, s.Batch}} {
		if r[1] != "" && !slices.Contains(cols, r[1]) {
			issues = append(issues, contract.NameIssue([]string{r[0]}, r[0]+" column", r[1], from, cols))
		}
	}
	for i, k := range s.Keep {
		if !slices.Contains(cols, k) {
			issues = append(issues, contract.NameIssue([]string{FieldKeep, strconv.Itoa(i)}, "column", k, from, cols))
		}
	}
	return contract.DataHeader{}, issues
}
