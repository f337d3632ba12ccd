// Package expression holds the gene-expression transforms: transform.normalize (CPM,
// log1p, z-score, quantile), transform.select_features (count filters, highly variable
// genes, explicit gene lists) and transform.reduce (PCA). Each works on one tensor column
// (default "x", as ingest.expression writes it), keeps the gene ids in its field metadata
// (biopipe.features) in step, and fits its parameters on the train split when the table has
// one, so nothing is learnt from validation or test samples.
package expression

import (
	"fmt"
	"slices"
	"strings"

	"github.com/biopipe/biopipe/contract"
	"github.com/biopipe/biopipe/dataset"
	"github.com/biopipe/biopipe/io/expr"
	"github.com/biopipe/biopipe/stages/transform/internal/tab"
)

// FieldColumn is the config field naming the tensor column, shared by all three kinds.
const FieldColumn = "column"

func columnField() contract.Field {
	return contract.Field{Name: FieldColumn, Type: contract.String, Default: dataset.ColTensor,
		Doc: "the tensor column holding one expression vector per sample (genes in its biopipe.features metadata)"}
}

// exprColumn finds the 1-D tensor column and its gene ids (generated as f1, f2, ... when
// the metadata has none).
func exprColumn(f *dataset.Frame, name string) (*dataset.Column, []string, error) {
	c := f.Col(name)
	if c == nil {
		var tensors []string
		for _, col := range f.Columns {
			if col.Kind == dataset.Tensor {
				tensors = append(tensors, col.Name)
			}
		}
		hint := "the table has no tensor column; read expression data with ingest.expression"
		if len(tensors) > 0 {
			hint = "tensor columns: " + strings.Join(tensors, ", ")
		}
		return nil, nil, fmt.Errorf("no column %q (%s)", name, hint)
	}
	if c.Kind != dataset.Tensor || len(c.Shape) != 1 {
		return nil, nil, fmt.Errorf("column %q is %s with shape %v, want a 1-D tensor of genes", name, c.Kind, c.Shape)
	}
	genes, err := expr.FeatureNames(c.Meta)
	if err != nil {
		return nil, nil, fmt.Errorf("column %q: %w", name, err)
	}
	if genes == nil {
		genes = make([]string, c.Shape[0])
		for i := range genes {
			genes[i] = fmt.Sprintf("f%d", i+1)
		}
	}
	if len(genes) != c.Shape[0] {
		return nil, nil, fmt.Errorf("column %q: %d gene ids in its metadata for %d values per row", name, len(genes), c.Shape[0])
	}
	if c.NullCount() > 0 {
		return nil, nil, fmt.Errorf("column %q: %d rows have no expression vector", name, c.NullCount())
	}
	return c, genes, nil
}

// fitRows returns the rows to fit on, erroring when the train split is empty.
func fitRows(f *dataset.Frame) ([]int, string, error) {
	rows, which := tab.FitRows(f)
	if len(rows) == 0 {
		return nil, which, fmt.Errorf("no %s rows to fit on", which)
	}
	return rows, which, nil
}

// selectGenes keeps the given gene indices of c (in order) and updates its metadata.
func selectGenes(c *dataset.Column, genes []string, keep []int) {
	n := c.Len()
	p := c.Shape[0]
	out := make([]float32, n*len(keep))
	for r := range n {
		src := c.T[r*p : (r+1)*p]
		dst := out[r*len(keep) : (r+1)*len(keep)]
		for k, g := range keep {
			dst[k] = src[g]
		}
	}
	names := make([]string, len(keep))
	for k, g := range keep {
		names[k] = genes[g]
	}
	c.T = out
	c.Shape = []int{len(keep)}
	meta := map[string]string{}
	for k, v := range c.Meta {
		meta[k] = v
	}
	c.Meta = expr.SetFeatureNames(meta, names)
}

func firstN(s []string, n int) []string { return slices.Clone(s[:min(n, len(s))]) }
