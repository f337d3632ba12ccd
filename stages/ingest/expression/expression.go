// Package expression is the ingest.expression stage kind: it reads a gene-expression matrix
// (dense CSV/TSV, GCT, 10x MatrixMarket folder, Parquet or Arrow), joins a sample annotation
// table by sample id and writes one row per sample with the expression vector as a tensor
// column "x" whose field metadata lists the gene ids.
package expression

import (
	"context"
	"fmt"
	"math"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/biopipe/biopipe/contract"
	"github.com/biopipe/biopipe/dataset"
	"github.com/biopipe/biopipe/io/arrowio"
	"github.com/biopipe/biopipe/io/expr"
)

// KindName is the registered name of the stage kind.
const KindName = "ingest.expression"

// Config field names.
const (
	FieldPath         = "path"
	FieldFormat       = "format"
	FieldOrientation  = "orientation"
	FieldDelimiter    = "delimiter"
	FieldInfoColumns  = "info_columns"
	FieldIDColumn     = "id_column"
	FieldGeneIDs      = "gene_ids"
	FieldFeatureType  = "feature_type"
	FieldAnnotation   = "annotation"
	FieldSampleColumn = "sample_column"
	FieldLabel        = "label"
	FieldGroup        = "group"
	FieldBatch        = "batch"
	FieldKeep         = "keep"
	FieldTask         = "task"
	FieldUnannotated  = "unannotated"
)

// Column names of the output.
const (
	ColSample = "sample"
	RoleBatch = "batch"
	RoleAnnot = "annotation"
)

// Fields is the config of ingest.expression.
var Fields = []contract.Field{
	{Name: FieldPath, Type: contract.Path, Required: true, Doc: "the matrix: .csv/.tsv/.txt (optionally .gz), .gct, a 10x folder (matrix.mtx[.gz], features.tsv[.gz] or genes.tsv, barcodes.tsv[.gz]), .mtx, .parquet or .arrow"},
	{Name: FieldFormat, Type: contract.String, Default: "auto", Enum: expr.Formats, Doc: "file format; auto: a folder is 10x, else by extension"},
	{Name: FieldOrientation, Type: contract.String, Default: string(expr.GenesBySamples), Enum: []string{string(expr.GenesBySamples), string(expr.SamplesByGenes)},
		Doc: "layout of a text, table or bare .mtx file: one row per gene (GEO, R) or one row per sample (pandas, scanpy); GCT and 10x have a fixed layout"},
	{Name: FieldDelimiter, Type: contract.String, Doc: `delimiter of a text matrix, one character or "tab"; default: by extension, else sniffed`},
	{Name: FieldInfoColumns, Type: contract.Int, Default: 0, Min: contract.Bound(0), Doc: "text columns between the id column and the values in a text matrix (e.g. a gene symbol column)"},
	{Name: FieldIDColumn, Type: contract.String, Doc: "Parquet/Arrow: the column holding the row ids (default: the first text column)"},
	{Name: FieldGeneIDs, Type: contract.String, Default: "id", Enum: []string{"id", "name"}, Doc: "10x: gene ids from the first column of features.tsv (Ensembl) or the symbol (made unique with -1, -2 suffixes)"},
	{Name: FieldFeatureType, Type: contract.String, Doc: `10x: keep only features of this type, e.g. "Gene Expression"`},
	{Name: FieldAnnotation, Type: contract.Path, Doc: "sample annotation table (CSV/TSV/Parquet/Arrow), one row per sample, joined by sample id"},
	{Name: FieldSampleColumn, Type: contract.String, Doc: "annotation column holding the sample ids (default: the first column)"},
	{Name: FieldLabel, Type: contract.String, Doc: "annotation column with the label (phenotype, cell type); samples with an empty label are dropped and counted"},
	{Name: FieldGroup, Type: contract.String, Doc: "annotation column with the group (patient, donor) for grouped splits"},
	{Name: FieldBatch, Type: contract.String, Doc: "annotation column with the batch (kept as a role column, not a feature)"},
	{Name: FieldKeep, Type: contract.Strings, Doc: "further annotation columns to carry along (as role columns, not features)"},
	{Name: FieldTask, Type: contract.String, Default: "classification", Enum: []string{"classification", "regression"}, Doc: "what the label is"},
	{Name: FieldUnannotated, Type: contract.String, Default: "error", Enum: []string{"error", "drop"},
		Doc: "a matrix sample missing from the annotation: fail naming it, or drop it and count it in summary.json"},
}

func init() {
	contract.Register(&contract.Kind{
		Name: KindName,
		Doc:  "read a gene-expression matrix (CSV/TSV, GCT, 10x, Parquet, Arrow) and join sample annotations",
		Description: `Reads one expression matrix in either orientation and writes one row per sample: a "sample"
id column, the expression vector as the tensor column "x" (its field metadata biopipe.features lists
the gene ids, one per element), and the label, group, batch and kept annotation columns joined from
the annotation table by sample id (GCT 1.3 column metadata counts as annotation too). Sparse 10x data
is read sparse and densified only for the output. Duplicated ids, a matrix sample absent from the
annotation, and non-numeric cells are errors naming the file, line and column. summary.json holds the
shape, share of zeros, library sizes, class counts and the samples dropped.`,
		Version: "1",
		Fields:  Fields,
		Output:  contract.Port{Name: "data", Type: contract.Table, Doc: "data.arrow (one row per sample, tensor column x); summary.json"},
		New:     New,
		Headers: Headers,
		Example: `- id: load
  kind: ingest.expression
  with: {path: data/pbmc/filtered_feature_bc_matrix, annotation: data/pbmc/cells.csv, label: cell_type, group: donor, batch: batch}`,
	})
}

// Stage is a configured ingest.expression stage.
type Stage struct {
	Path         string
	Read         expr.Options
	Annotation   string
	SampleColumn string
	Label        string
	Group        string
	Batch        string
	Keep         []string
	Task         string
	DropMissing  bool
}

// Summary is written to summary.json.
type Summary struct {
	File              string         `json:"file"`
	Format            string         `json:"format"`
	Samples           int            `json:"samples"`
	Genes             int            `json:"genes"`
	SparseInput       bool           `json:"sparse_input"`
	ZeroFraction      float64        `json:"zero_fraction"`
	LibrarySize       expr.SumStats  `json:"library_size"`
	FirstGenes        []string       `json:"first_genes"`
	Task              string         `json:"task,omitempty"`
	Label             string         `json:"label,omitempty"`
	Classes           []string       `json:"classes,omitempty"`
	ClassCounts       map[string]int `json:"class_counts,omitempty"`
	Unannotated       int            `json:"unannotated_dropped"`
	UnannotatedFirst  []string       `json:"-"` // sample ids stay out of summaries (they may identify patients)
	MissingLabel      int            `json:"missing_label_dropped"`
	AnnotationUnused  int            `json:"annotation_rows_unmatched"`
	AnnotationColumns []string       `json:"annotation_columns,omitempty"`
}

// New builds the stage from a validated config.
func New(cfg contract.Config) (contract.Stage, error) {
	s := &Stage{
		Path:         cfg.String(FieldPath),
		Annotation:   cfg.String(FieldAnnotation),
		SampleColumn: cfg.String(FieldSampleColumn),
		Label:        cfg.String(FieldLabel),
		Group:        cfg.String(FieldGroup),
		Batch:        cfg.String(FieldBatch),
		Keep:         cfg.Strings(FieldKeep),
		Task:         cfg.String(FieldTask),
		DropMissing:  cfg.String(FieldUnannotated) == "drop",
	}
	s.Read = expr.Options{
		Format:      cfg.String(FieldFormat),
		Orientation: expr.Orientation(cfg.String(FieldOrientation)),
		InfoColumns: cfg.Int(FieldInfoColumns),
		IDColumn:    cfg.String(FieldIDColumn),
		GeneIDs:     cfg.String(FieldGeneIDs),
		FeatureType: cfg.String(FieldFeatureType),
	}
	var issues []contract.Issue
	if d := cfg.String(FieldDelimiter); d != "" {
		switch {
		case strings.EqualFold(d, "tab") || d == `\t` || d == "\t":
			s.Read.Delimiter = '\t'
		case len(d) == 1:
			s.Read.Delimiter = d[0]
		default:
			issues = append(issues, contract.Issue{Path: []string{FieldDelimiter}, Msg: fmt.Sprintf("want one character or \"tab\", got %q", d)})
		}
	}
	if s.Annotation == "" {
		for _, f := range []string{FieldSampleColumn} {
			if cfg.String(f) != "" {
				issues = append(issues, contract.Issue{Path: []string{f}, Msg: "needs annotation: (the sample annotation table)"})
			}
		}
	}
	seen := map[string]string{}
	for _, r := range [][2]string{{FieldLabel, s.Label}, {FieldGroup, s.Group}, {FieldBatch, s.Batch}} {
		if r[1] == "" {
			continue
		}
		if other, dup := seen[r[1]]; dup {
			issues = append(issues, contract.Issue{Path: []string{r[0]}, Msg: fmt.Sprintf("column %q is already the %s", r[1], other)})
		}
		seen[r[1]] = r[0]
	}
	if len(issues) > 0 {
		return nil, &contract.ConfigError{Issues: issues}
	}
	return s, nil
}

// Run reads the matrix and annotation and writes the table artifact.
func (s *Stage) Run(ctx context.Context, env *contract.Env) error {
	f, sum, err := s.Load(ctx, env)
	if err != nil {
		return fmt.Errorf("stage %q: %w", env.StageID, err)
	}
	if err := f.WriteFile(env.Out(contract.DataFile)); err != nil {
		return err
	}
	env.SetMetric("samples", sum.Samples)
	env.SetMetric("genes", sum.Genes)
	return dataset.WriteJSON(env.Out(contract.SummaryFile), sum)
}

// annotation is a table of per-sample string columns keyed by sample id.
type annotation struct {
	file    string
	idCol   string
	columns map[string][]string
	names   []string
	index   map[string]int // sample id -> row
	line    func(row int) string
}

// Load reads and joins; it returns the frame and its summary.
func (s *Stage) Load(ctx context.Context, env *contract.Env) (*dataset.Frame, *Summary, error) {
	prog := env.Progress("read matrix", 1)
	m, err := expr.Read(ctx, s.Path, s.Read)
	prog.Add(1)
	prog.Close()
	if err != nil {
		return nil, nil, err
	}
	st := m.Summary(5)
	sum := &Summary{File: filepath.Base(s.Path), Format: m.Format, SparseInput: m.IsSparse(), ZeroFraction: st.ZeroFraction,
		LibrarySize: st.SampleSums, FirstGenes: st.FirstGenes}
	env.Log.Info("expression matrix read", "stage", env.StageID, "file", sum.File, "format", m.Format,
		"samples", m.NumSamples(), "genes", m.NumGenes(), "sparse", m.IsSparse())

	ann, err := s.annotations(ctx, m)
	if err != nil {
		return nil, nil, err
	}
	// rows to keep
	keep := make([]int, 0, m.NumSamples())
	var labels []string
	if ann != nil {
		used := 0
		for i, id := range m.Samples {
			if _, ok := ann.index[id]; !ok {
				sum.Unannotated++
				if len(sum.UnannotatedFirst) < 10 {
					sum.UnannotatedFirst = append(sum.UnannotatedFirst, id)
				}
				continue
			}
			used++
			keep = append(keep, i)
		}
		if sum.Unannotated > 0 && !s.DropMissing {
			return nil, nil, fmt.Errorf("%s: %d sample(s) of %s have no row in the annotation (column %q), first: %s (set unannotated: drop to leave them out)",
				ann.file, sum.Unannotated, sum.File, ann.idCol, quoteList(sum.UnannotatedFirst))
		}
		if len(keep) == 0 {
			return nil, nil, fmt.Errorf("%s: no sample id of %s matches column %q (matrix ids look like %s; annotation ids look like %s)",
				ann.file, sum.File, ann.idCol, quoteList(firstN(m.Samples, 3)), quoteList(firstN(ann.columns[ann.idCol], 3)))
		}
		sum.AnnotationUnused = len(ann.index) - used
		sum.AnnotationColumns = ann.names
	} else {
		for i := range m.Samples {
			keep = append(keep, i)
		}
	}
	value := func(col string, sample int) string {
		return ann.columns[col][ann.index[m.Samples[sample]]]
	}
	if s.Label != "" {
		kept := keep[:0]
		for _, i := range keep {
			v := strings.TrimSpace(value(s.Label, i))
			if v == "" || v == "NA" {
				sum.MissingLabel++
				continue
			}
			kept = append(kept, i)
			labels = append(labels, v)
		}
		keep = kept
		if len(keep) == 0 {
			return nil, nil, fmt.Errorf("%s: label column %q is empty for every sample", ann.file, s.Label)
		}
	}

	f := dataset.New()
	f.Meta[dataset.MetaID] = ColSample
	f.Meta[dataset.MetaSource] = sum.File
	ids := make([]string, len(keep))
	g := m.NumGenes()
	var x []float32
	if !m.IsSparse() && len(keep) == m.NumSamples() {
		x = m.X // every sample, in order: no copy
		copy(ids, m.Samples)
	} else {
		x = make([]float32, len(keep)*g)
		for k, i := range keep {
			ids[k] = m.Samples[i]
			m.Row(i, x[k*g:(k+1)*g])
		}
	}
	f.Set(&dataset.Column{Name: ColSample, Kind: dataset.String, S: ids})
	f.Set(&dataset.Column{Name: dataset.ColTensor, Kind: dataset.Tensor, Shape: []int{g}, T: x,
		Meta: expr.SetFeatureNames(nil, m.Genes)})
	strCol := func(name, role string) *dataset.Column {
		c := &dataset.Column{Name: name, Kind: dataset.String, S: make([]string, len(keep))}
		for k, i := range keep {
			c.S[k] = value(name, i)
		}
		if role != "" {
			c.Meta = map[string]string{"biopipe.role": role}
		}
		return c
	}
	if s.Label != "" {
		f.Meta[dataset.MetaLabel] = s.Label
		f.Meta[dataset.MetaTask] = s.Task
		sum.Task, sum.Label = s.Task, s.Label
		if s.Task == "regression" {
			c := &dataset.Column{Name: s.Label, Kind: dataset.Float, F: make([]float64, len(keep))}
			for k, v := range labels {
				var err error
				if c.F[k], err = strconv.ParseFloat(v, 64); err != nil || math.IsNaN(c.F[k]) || math.IsInf(c.F[k], 0) {
					return nil, nil, fmt.Errorf("%s: %s, column %q: label %q is not a number (task: regression)",
						ann.file, ann.line(ann.index[ids[k]]), s.Label, v)
				}
			}
			f.Set(c)
		} else {
			c := &dataset.Column{Name: s.Label, Kind: dataset.String, S: labels}
			f.Set(c)
			counts := map[string]int{}
			for _, v := range labels {
				counts[v]++
			}
			classes := make([]string, 0, len(counts))
			for k := range counts {
				classes = append(classes, k)
			}
			sort.Strings(classes)
			f.SetClasses(classes)
			sum.Classes, sum.ClassCounts = classes, counts
		}
	}
	if s.Group != "" {
		f.Meta[dataset.MetaGroup] = s.Group
		f.Set(strCol(s.Group, ""))
	}
	if s.Batch != "" {
		f.Set(strCol(s.Batch, RoleBatch))
	}
	for _, k := range s.Keep {
		if f.Col(k) != nil {
			continue
		}
		f.Set(strCol(k, RoleAnnot))
	}
	sum.Samples, sum.Genes = len(keep), g
	return f, sum, f.Validate()
}

// annotations reads the annotation table (and the matrix's own sample metadata) and checks
// that every named column exists. It returns nil when there is nothing to join.
func (s *Stage) annotations(ctx context.Context, m *expr.Matrix) (*annotation, error) {
	needed := []string{}
	for _, c := range append([]string{s.Label, s.Group, s.Batch}, s.Keep...) {
		if c != "" {
			needed = append(needed, c)
		}
	}
	a := &annotation{columns: map[string][]string{}, index: map[string]int{}}
	if s.Annotation == "" {
		if len(needed) == 0 {
			return nil, nil
		}
		// columns from the matrix file itself (GCT 1.3 column metadata, table text columns)
		a.file, a.idCol = filepath.Base(s.Path), "sample id"
		a.columns[a.idCol] = m.Samples
		for k, v := range m.SampleInfo {
			a.columns[k] = v
			a.names = append(a.names, k)
		}
		sort.Strings(a.names)
		for i, id := range m.Samples {
			a.index[id] = i
		}
		a.line = func(row int) string { return fmt.Sprintf("sample %d", row+1) }
		for _, c := range needed {
			if _, ok := a.columns[c]; !ok {
				return nil, fmt.Errorf("%s: no sample annotation column %q in the matrix file (it has %s); give annotation: a table", a.file, c, quoteList(a.names))
			}
		}
		return a, nil
	}
	a.file = filepath.Base(s.Annotation)
	// Ids and annotations are used as text: read them as written, so "007" stays "007".
	opts := arrowio.Options{CSV: arrowio.CSVOptions{AllText: true}}
	tbl, info, err := arrowio.Read(ctx, s.Annotation, opts)
	if err != nil {
		return nil, fmt.Errorf("annotation: %w", err)
	}
	if len(tbl.Columns) == 0 {
		return nil, fmt.Errorf("%s: annotation table has no columns", a.file)
	}
	text := info != nil && (info.Format == arrowio.FormatCSV || info.Format == arrowio.FormatTSV)
	a.line = func(row int) string {
		if text {
			return fmt.Sprintf("line %d", row+2)
		}
		return fmt.Sprintf("row %d", row+1)
	}
	a.idCol = s.SampleColumn
	if a.idCol == "" {
		a.idCol = tbl.Columns[0].Name
	}
	for _, c := range tbl.Columns {
		vals := make([]string, c.Len())
		for i := range vals {
			vals[i] = c.Text(i)
		}
		a.columns[c.Name] = vals
		a.names = append(a.names, c.Name)
	}
	// GCT 1.3 column metadata fills in columns the table lacks
	for k, v := range m.SampleInfo {
		if _, ok := a.columns[k]; ok {
			continue
		}
		byID := map[string]string{}
		for i, id := range m.Samples {
			byID[id] = v[i]
		}
		vals := make([]string, tbl.NumRows())
		ids := a.columns[a.idCol]
		for i := range vals {
			if ids != nil {
				vals[i] = byID[ids[i]]
			}
		}
		a.columns[k] = vals
	}
	ids, ok := a.columns[a.idCol]
	if !ok {
		return nil, fmt.Errorf("%s: no sample id column %q%s (columns: %s)", a.file, a.idCol, contract.DidYouMean(a.idCol, a.names), quoteList(a.names))
	}
	for _, c := range needed {
		if _, ok := a.columns[c]; !ok {
			return nil, fmt.Errorf("%s: no annotation column %q%s (columns: %s)", a.file, c, contract.DidYouMean(c, a.names), quoteList(a.names))
		}
	}
	for i, id := range ids {
		id = strings.TrimSpace(id)
		if id == "" {
			return nil, fmt.Errorf("%s: %s, column %q: empty sample id", a.file, a.line(i), a.idCol)
		}
		if j, dup := a.index[id]; dup {
			return nil, fmt.Errorf("%s: %s, column %q: duplicated sample id %q (first on %s)", a.file, a.line(i), a.idCol, id, a.line(j))
		}
		a.index[id] = i
	}
	return a, nil
}

func quoteList(s []string) string {
	q := make([]string, len(s))
	for i, v := range s {
		q[i] = fmt.Sprintf("%q", v)
	}
	return strings.Join(q, ", ")
}

func firstN(s []string, n int) []string { return slices.Clone(s[:min(n, len(s))]) }
