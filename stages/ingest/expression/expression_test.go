package expression

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/biopipe/biopipe/contract"
	"github.com/biopipe/biopipe/dataset"
	"github.com/biopipe/biopipe/io/expr"
	"github.com/biopipe/biopipe/testdata/gen/exprgen"
)

func run(t *testing.T, raw map[string]any) (*dataset.Frame, *Summary, error) {
	t.Helper()
	kind, err := contract.Default.Get(KindName)
	require.NoError(t, err)
	cfg, issues := contract.Check(kind.Fields, raw)
	require.Empty(t, issues)
	st, err := kind.New(cfg)
	if err != nil {
		return nil, nil, err
	}
	env := contract.NewEnv(nil)
	env.StageID, env.Config, env.OutDir = "load", cfg, t.TempDir()
	if err := st.Run(context.Background(), env); err != nil {
		return nil, nil, err
	}
	f, err := dataset.ReadFile(env.Out(contract.DataFile))
	require.NoError(t, err)
	var sum Summary
	b, err := os.ReadFile(env.Out(contract.SummaryFile))
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(b, &sum))
	return f, &sum, nil
}

func writeFile(t *testing.T, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	require.NoError(t, os.WriteFile(p, []byte(content), 0o644))
	return p
}

func TestIngest10x(t *testing.T) {
	p := exprgen.Default()
	p.Cells, p.Genes, p.MarkersPerType = 120, 300, 10
	d, err := exprgen.Generate(p)
	require.NoError(t, err)
	dir := t.TempDir()
	require.NoError(t, d.Write(filepath.Join(dir, "10x"), filepath.Join(dir, "cells.csv")))

	f, sum, err := run(t, map[string]any{"path": filepath.Join(dir, "10x"), "annotation": filepath.Join(dir, "cells.csv"),
		"label": "cell_type", "group": "donor", "batch": "batch"})
	require.NoError(t, err)
	require.Equal(t, 120, f.NumRows())
	x := f.Col("x")
	require.NotNil(t, x)
	assert.Equal(t, []int{300}, x.Shape)
	genes, err := expr.FeatureNames(x.Meta)
	require.NoError(t, err)
	assert.Equal(t, d.Matrix.Genes, genes)
	assert.Equal(t, d.Matrix.Dense(), x.T)
	assert.Equal(t, d.Matrix.Samples, f.Col("sample").S)
	assert.Equal(t, d.Type, f.Label().S)
	assert.Equal(t, d.Donor, f.Group().S)
	assert.Equal(t, "batch", f.Col("batch").Meta["biopipe.role"])
	assert.Equal(t, "cell_type", f.Meta[dataset.MetaLabel])
	// features are the tensor only: ids, label, group and batch are roles
	m, err := f.Features(nil)
	require.NoError(t, err)
	assert.Equal(t, []int{300}, m.Shape)
	cls, _, err := f.Labels(nil)
	require.NoError(t, err)
	assert.Len(t, cls, 120)
	assert.Equal(t, "10x", sum.Format)
	assert.True(t, sum.SparseInput)
	assert.Len(t, sum.Classes, 5)
	assert.Equal(t, 120, sum.ClassCounts["B cell"]+sum.ClassCounts["CD14 monocyte"]+sum.ClassCounts["CD4 T cell"]+sum.ClassCounts["CD8 T cell"]+sum.ClassCounts["NK cell"])
}

func TestIngestDenseAnnotation(t *testing.T) {
	dir := t.TempDir()
	mat := writeFile(t, dir, "m.tsv", "gene\tS1\tS2\tS3\nG1\t1\t2\t3\nG2\t4\t5\t6\n")
	ann := writeFile(t, dir, "a.csv", "id,pheno,age,patient\nS3,tumor,61,P1\nS1,normal,45,P2\nS2,,50,P2\nS9,tumor,70,P3\n")
	f, sum, err := run(t, map[string]any{"path": mat, "annotation": ann, "label": "pheno", "group": "patient", "keep": []any{"age"}})
	require.NoError(t, err)
	assert.Equal(t, []string{"S1", "S3"}, f.Col("sample").S)
	assert.Equal(t, []float32{1, 4, 3, 6}, f.Col("x").T)
	assert.Equal(t, []string{"normal", "tumor"}, f.Label().S)
	assert.Equal(t, []string{"45", "61"}, f.Col("age").S)
	assert.Equal(t, 1, sum.MissingLabel)
	assert.Equal(t, 1, sum.AnnotationUnused)
	assert.Equal(t, []string{"normal", "tumor"}, f.Classes())

	// regression on a numeric column
	f, _, err = run(t, map[string]any{"path": mat, "annotation": ann, "label": "age", "task": "regression"})
	require.NoError(t, err)
	assert.Equal(t, []float64{45, 50, 61}, f.Label().F)
}

func TestIngestSamplesByGenesWithInfoColumn(t *testing.T) {
	dir := t.TempDir()
	csv := writeFile(t, dir, "cells.csv", "cell,type,G1,G2\nc1,T,1,2\nc2,B,3,4\n")
	f, sum, err := run(t, map[string]any{"path": csv, "orientation": "samples_x_genes", "info_columns": 1, "label": "type"})
	require.NoError(t, err)
	assert.Equal(t, []string{"T", "B"}, f.Label().S)
	assert.Equal(t, []float32{1, 2, 3, 4}, f.Col("x").T)
	assert.Equal(t, []string{"G1", "G2"}, sum.FirstGenes)
	assert.Equal(t, "csv", sum.Format)
}

func TestIngestGCTColumnMetadata(t *testing.T) {
	dir := t.TempDir()
	gct := writeFile(t, dir, "x.gct", "#1.3\n2\t3\t1\t1\nid\tsymbol\tA\tB\tC\nsubtype\tna\tbasal\tluminal\tbasal\n"+
		"G1\tT\t1\t2\t3\nG2\tE\t4\t5\t6\n")
	f, sum, err := run(t, map[string]any{"path": gct, "label": "subtype"})
	require.NoError(t, err)
	assert.Equal(t, []string{"basal", "luminal", "basal"}, f.Label().S)
	assert.Equal(t, "gct", sum.Format)
	assert.Equal(t, []float32{1, 4, 2, 5, 3, 6}, f.Col("x").T)
}

func TestIngestErrors(t *testing.T) {
	dir := t.TempDir()
	mat := writeFile(t, dir, "m.tsv", "gene\tS1\tS2\nG1\t1\t2\n")
	tests := []struct {
		name string
		ann  string
		cfg  map[string]any
		want []string
	}{
		{"unannotated sample", "id,y\nS1,a\n", map[string]any{"label": "y"}, []string{"a.csv: 1 sample(s) of m.tsv have no row", `"S2"`, "unannotated: drop"}},
		{"duplicated id", "id,y\nS1,a\nS2,b\nS1,c\n", map[string]any{"label": "y"}, []string{"a.csv: line 4", `duplicated sample id "S1"`, "line 2"}},
		{"no such column", "id,label\nS1,a\nS2,b\n", map[string]any{"label": "lable"}, []string{`no annotation column "lable"`, `did you mean "label"`}},
		{"nothing matches", "id,y\nX1,a\nX2,b\n", map[string]any{"label": "y", "unannotated": "drop"}, []string{"no sample id of m.tsv matches", `"S1"`, `"X1"`}},
		{"bad regression label", "id,y\nS1,1\nS2,1abc\n", map[string]any{"label": "y", "task": "regression"}, []string{"a.csv: line 3", `label "1abc" is not a number`}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := map[string]any{"path": mat, "annotation": writeFile(t, dir, "a.csv", tc.ann)}
			for k, v := range tc.cfg {
				cfg[k] = v
			}
			_, _, err := run(t, cfg)
			require.Error(t, err)
			for _, w := range tc.want {
				assert.Contains(t, err.Error(), w)
			}
		})
	}
	// drop mode keeps the annotated samples
	f, sum, err := run(t, map[string]any{"path": mat, "annotation": writeFile(t, dir, "b.csv", "id,y\nS2,a\n"), "label": "y", "unannotated": "drop"})
	require.NoError(t, err)
	assert.Equal(t, []string{"S2"}, f.Col("sample").S)
	assert.Equal(t, 1, sum.Unannotated)
	// a non-numeric cell in the matrix names file, line and column
	_, _, err = run(t, map[string]any{"path": writeFile(t, dir, "bad.tsv", "gene\tS1\tS2\nG1\t1\tx\n")})
	require.ErrorContains(t, err, `bad.tsv:2: column 3 (sample "S2"): "x" is not a number`)
}
