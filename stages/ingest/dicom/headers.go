package dicom

import (
	"context"
	"path/filepath"
	"strings"

	"github.com/biopipe/biopipe/contract"
	"github.com/biopipe/biopipe/io/arrowio"
)

// Headers is ingest.dicom's header check: the labels CSV must have the join key column and
// the label column, read from its first row only (names match as the run matches them:
// case-insensitively, spaces trimmed).
func Headers(ctx context.Context, cfg contract.Config, _ []contract.DataHeader) (contract.DataHeader, []contract.Issue) {
	o, err := optionsFrom(cfg)
	if err != nil || o.LabelFrom != LabelCSV {
		return contract.DataHeader{}, nil
	}
	cols, err := arrowio.ReadColumns(ctx, o.Labels, arrowio.Options{Format: arrowio.FormatCSV, CSV: arrowio.CSVOptions{Delimiter: ','}})
	if err != nil {
		return contract.DataHeader{}, nil
	}
	for i, c := range cols {
		cols[i] = strings.TrimSpace(c)
	}
	has := func(name string) bool {
		for _, c := range cols {
			if strings.EqualFold(c, name) {
				return true
			}
		}
		return false
	}
	from := filepath.Base(o.Labels)
	var issues []contract.Issue
	if !has(o.KeyColumn) {
		field := FieldKeyColumn
		if cfg.String(FieldKeyColumn) == "" {
			field = FieldJoinOn // the key column defaults to the join_on name
		}
		issues = append(issues, contract.NameIssue([]string{field}, "join key column", o.KeyColumn, from, cols))
	}
	if !has(o.LabelColumn) {
		issues = append(issues, contract.NameIssue([]string{FieldLabelColumn}, "label column", o.LabelColumn, from, cols))
	}
	return contract.DataHeader{}, issues
}
