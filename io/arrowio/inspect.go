package arrowio

import (
	"context"
	"fmt"
	"io"
	"text/tabwriter"

	"github.com/biopipe/biopipe/dataset"
	"github.com/biopipe/biopipe/io/inspect"
)

// Summary is what `biopipe inspect` shows for a table file.
type Summary struct {
	File     string            `json:"file"`
	Format   string            `json:"format"`
	Rows     int               `json:"rows"`
	BadRows  int               `json:"bad_rows,omitempty"`
	Columns  []ColumnSummary   `json:"columns"`
	Metadata map[string]string `json:"metadata,omitempty"`
}

// ColumnSummary describes one column: name, type and how many rows miss a value.
type ColumnSummary struct {
	Name    string `json:"name"`
	Type    string `json:"type"`
	Shape   []int  `json:"shape,omitempty"`
	Missing int    `json:"missing"`
}

// Summarize reads a table file and summarises its schema and missing values. CSV files
// are read with default options; rows with the wrong number of fields are counted.
func Summarize(ctx context.Context, path string) (*Summary, error) {
	f, info, err := Read(ctx, path, Options{CSV: CSVOptions{SkipBadRows: true}})
	if err != nil {
		return nil, err
	}
	s := &Summary{File: path, Format: info.Format, Rows: f.NumRows(), BadRows: info.BadRows}
	if len(f.Meta) > 0 {
		s.Metadata = f.Meta
	}
	for _, c := range f.Columns {
		missing := c.NullCount()
		if c.Kind == dataset.Float {
			for i, v := range c.F {
				if c.IsValid(i) && v != v { // NaN
					missing++
				}
			}
		}
		s.Columns = append(s.Columns, ColumnSummary{Name: c.Name, Type: c.Kind.String(), Shape: c.Shape, Missing: missing})
	}
	return s, nil
}

func writeSummary(w io.Writer, v any) error {
	s, ok := v.(*Summary)
	if !ok {
		return inspect.WriteJSON(w, v)
	}
	fmt.Fprintf(w, "%s: %s table, %d rows, %d columns", s.File, s.Format, s.Rows, len(s.Columns))
	if s.BadRows > 0 {
		fmt.Fprintf(w, ", %d malformed rows skipped", s.BadRows)
	}
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "column\ttype\tmissing")
	for _, c := range s.Columns {
		typ := c.Type
		if c.Shape != nil {
			typ = fmt.Sprintf("%s%v", typ, c.Shape)
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\n", c.Name, typ, c.Missing)
	}
	return tw.Flush()
}

func init() {
	inspect.Register(&inspect.Inspector{
		Name: "table",
		Match: func(path string, head []byte) bool {
			return inspect.Ext(path, ".csv", ".tsv", ".tab", ".txt", ".csv.gz", ".tsv.gz", ".txt.gz",
				".parquet", ".arrow", ".feather", ".ipc", ".arrows") ||
				detect(path, head) == FormatParquet || detect("", head) == FormatArrow
		},
		Inspect: func(ctx context.Context, path string) (any, error) { return Summarize(ctx, path) },
		Text:    writeSummary,
	})
}
