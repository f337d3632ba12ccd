package expr

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/biopipe/biopipe/io/inspect"
)

// Summary is what `biopipe inspect` reports for an expression file.
type Summary struct {
	Path string `json:"path"`
	Stats
	Note string `json:"note,omitempty"`
}

func init() {
	inspect.Register(&inspect.Inspector{
		Name: "expression",
		Match: func(path string, head []byte) bool {
			if head == nil {
				if st, err := os.Stat(path); err == nil && st.IsDir() {
					return Is10x(path)
				}
				return false
			}
			return inspect.Ext(path, ".gct", ".gct.gz", ".mtx", ".mtx.gz")
		},
		Inspect: func(ctx context.Context, path string) (any, error) {
			m, err := Read(ctx, path, Options{})
			if err != nil {
				return nil, err
			}
			s := Summary{Path: path, Stats: m.Summary(5)}
			if m.Format == "mtx" {
				s.Note = "bare MatrixMarket file: rows read as genes, columns as samples; ids are numbered"
			}
			return s, nil
		},
		Text: func(w io.Writer, v any) error {
			s, ok := v.(Summary)
			if !ok {
				return inspect.WriteJSON(w, v)
			}
			return s.WriteText(w)
		},
	})
}

// WriteText prints the summary for a terminal.
func (s Summary) WriteText(w io.Writer) error {
	storage := "dense"
	if s.Sparse {
		storage = "sparse"
	}
	fmt.Fprintf(w, "%s: %s expression matrix (%s)\n", s.Path, s.Format, storage)
	fmt.Fprintf(w, "  shape:         %d samples x %d genes\n", s.Samples, s.Genes)
	fmt.Fprintf(w, "  first samples: %s\n", strings.Join(s.FirstSamples, ", "))
	fmt.Fprintf(w, "  first genes:   %s\n", strings.Join(s.FirstGenes, ", "))
	fmt.Fprintf(w, "  zeros:         %.1f%% (%d non-zero)\n", 100*s.ZeroFraction, s.NonZero)
	fmt.Fprintf(w, "  sample sums:   min %.6g, median %.6g, mean %.6g, max %.6g\n",
		s.SampleSums.Min, s.SampleSums.Median, s.SampleSums.Mean, s.SampleSums.Max)
	var first []string
	for i, v := range s.FirstSums {
		first = append(first, fmt.Sprintf("%s=%.6g", s.FirstSamples[i], v))
	}
	fmt.Fprintf(w, "  first sums:    %s\n", strings.Join(first, ", "))
	if s.Note != "" {
		fmt.Fprintf(w, "  note:          %s\n", s.Note)
	}
	return nil
}
