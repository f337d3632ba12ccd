package expr

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/file"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"

	"github.com/biopipe/biopipe/dataset"
)

// Formats accepted by Options.Format.
var Formats = []string{"auto", "tsv", "csv", "gct", "10x", "mtx", "parquet", "arrow"}

// Options configures Read.
type Options struct {
	// Format is one of Formats; "" or "auto" decides by the path: a folder is 10x, then
	// by extension (.gct, .mtx, .parquet, .arrow/.feather/.ipc, .csv, else delimited text).
	Format string
	// Orientation of a dense text, MatrixMarket or table file (default GenesBySamples;
	// GCT and 10x folders have a fixed layout and ignore it).
	Orientation Orientation
	Delimiter   byte // see DenseOptions
	InfoColumns int  // see DenseOptions
	// IDColumn names the id column of a Parquet/Arrow table (default: the first text column).
	IDColumn    string
	GeneIDs     string // 10x: "id" or "name" (see TenXOptions)
	FeatureType string // 10x: keep only this feature type
	Workers     int
}

// DetectFormat returns the format Read would use for path.
func DetectFormat(path string) (string, error) {
	st, err := os.Stat(path)
	if err != nil {
		return "", err
	}
	if st.IsDir() {
		return "10x", nil
	}
	switch {
	case hasExt(path, ".gct"):
		return "gct", nil
	case hasExt(path, ".mtx"):
		return "mtx", nil
	case hasExt(path, ".parquet", ".pq"):
		return "parquet", nil
	case hasExt(path, ".arrow", ".feather", ".ipc"):
		return "arrow", nil
	case hasExt(path, ".csv"):
		return "csv", nil
	}
	return "tsv", nil
}

// Read reads an expression matrix in any supported format.
func Read(ctx context.Context, path string, opt Options) (*Matrix, error) {
	format := opt.Format
	if format == "" || format == "auto" {
		var err error
		if format, err = DetectFormat(path); err != nil {
			return nil, err
		}
	}
	switch format {
	case "tsv", "csv":
		d := DenseOptions{Orientation: opt.Orientation, Delimiter: opt.Delimiter, InfoColumns: opt.InfoColumns, Workers: opt.Workers}
		if d.Delimiter == 0 {
			d.Delimiter = map[string]byte{"tsv": '\t', "csv": ','}[format]
		}
		return ReadDense(path, d)
	case "gct":
		return ReadGCT(path)
	case "10x":
		if st, err := os.Stat(path); err == nil && !st.IsDir() {
			path = filepath.Dir(path)
		}
		return Read10x(path, TenXOptions{GeneIDs: opt.GeneIDs, FeatureType: opt.FeatureType})
	case "mtx":
		if dir := filepath.Dir(path); Is10x(dir) {
			return Read10x(dir, TenXOptions{GeneIDs: opt.GeneIDs, FeatureType: opt.FeatureType})
		}
		return readBareMTX(path, opt.Orientation)
	case "parquet", "arrow":
		f, err := readTable(ctx, path, format)
		if err != nil {
			return nil, err
		}
		m, err := FromFrame(path, f, opt.IDColumn, opt.Orientation)
		if err != nil {
			return nil, err
		}
		m.Format = format
		return m, nil
	}
	return nil, fmt.Errorf("%s: unknown expression format %q (want one of %s)", path, format, strings.Join(Formats, ", "))
}

// readBareMTX reads a MatrixMarket file without id files: ids are "gene1".., "sample1"..
func readBareMTX(path string, orient Orientation) (*Matrix, error) {
	s, _, err := ReadMTX(path)
	if err != nil {
		return nil, err
	}
	if orient == "" || orient == GenesBySamples {
		s = s.T()
	}
	m := &Matrix{Sparse: s, Format: "mtx", Source: path}
	m.Samples = numbered("sample", s.Rows)
	m.Genes = numbered("gene", s.Cols)
	return m, nil
}

func numbered(prefix string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("%s%d", prefix, i+1)
	}
	return out
}

func readTable(ctx context.Context, path, format string) (*dataset.Frame, error) {
	if format == "arrow" {
		return dataset.ReadFile(path)
	}
	fh, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer fh.Close()
	rdr, err := file.NewParquetReader(fh, file.WithReadProps(parquet.NewReaderProperties(memory.DefaultAllocator)))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	defer rdr.Close()
	fr, err := pqarrow.NewFileReader(rdr, pqarrow.ArrowReadProperties{Parallel: true, BatchSize: 1 << 16}, memory.DefaultAllocator)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	tbl, err := fr.ReadTable(ctx)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	defer tbl.Release()
	tr := array.NewTableReader(tbl, 1<<16)
	defer tr.Release()
	var recs []arrow.RecordBatch
	for tr.Next() {
		rec := tr.RecordBatch()
		rec.Retain()
		recs = append(recs, rec)
	}
	defer func() {
		for _, r := range recs {
			r.Release()
		}
	}()
	f, err := dataset.FromRecords(tbl.Schema(), recs)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return f, nil
}

// FromFrame turns a table into a matrix: idCol (default: the first text column, else the
// pandas index column "__index_level_0__") holds the row ids, every numeric column holds
// values, other text columns become GeneInfo/SampleInfo. With GenesBySamples (the
// default) rows are genes and numeric columns samples.
func FromFrame(name string, f *dataset.Frame, idCol string, orient Orientation) (*Matrix, error) {
	if orient == "" {
		orient = GenesBySamples
	}
	var id *dataset.Column
	if idCol != "" {
		if id = f.Col(idCol); id == nil {
			return nil, fmt.Errorf("%s: no id column %q (columns: %s)", name, idCol, strings.Join(firstN(f.Names(), 10), ", "))
		}
	} else {
		for _, c := range f.Columns {
			if c.Kind == dataset.String {
				id = c
				break
			}
		}
		if id == nil {
			return nil, fmt.Errorf("%s: no text column to hold the row ids (name it with id_column)", name)
		}
	}
	var vals []*dataset.Column
	info := map[string][]string{}
	for _, c := range f.Columns {
		if c == id {
			continue
		}
		switch c.Kind {
		case dataset.Float, dataset.Int:
			vals = append(vals, c)
		case dataset.String:
			info[c.Name] = c.S
		default:
			return nil, fmt.Errorf("%s: column %q is a tensor; want one numeric column per %s", name, c.Name,
				map[bool]string{true: "sample", false: "gene"}[orient == GenesBySamples])
		}
	}
	if len(vals) == 0 {
		return nil, fmt.Errorf("%s: no numeric columns", name)
	}
	n := f.NumRows()
	rowIDs := make([]string, n)
	for i := range rowIDs {
		rowIDs[i] = id.Text(i)
	}
	colIDs := make([]string, len(vals))
	for j, c := range vals {
		colIDs[j] = c.Name
	}
	rowWhat, colWhat := "gene", "sample"
	if orient == SamplesByGenes {
		rowWhat, colWhat = "sample", "gene"
	}
	if err := CheckIDs(rowWhat, rowIDs, func(i int) string { return fmt.Sprintf("%s: row %d, column %q", name, i+1, id.Name) }); err != nil {
		return nil, err
	}
	if err := CheckIDs(colWhat, colIDs, func(i int) string { return fmt.Sprintf("%s: column %d", name, i+1) }); err != nil {
		return nil, err
	}
	m := &Matrix{Source: name}
	if len(info) == 0 {
		info = nil
	}
	nc := len(vals)
	x := make([]float32, n*nc)
	for j, c := range vals {
		for i := 0; i < n; i++ {
			v := c.Float64(i)
			if !finite(v) {
				what := "missing value"
				if c.IsValid(i) {
					what = fmt.Sprintf("%v is not a finite number", v)
				}
				return nil, fmt.Errorf("%s: row %d (%s %q), column %q: %s", name, i+1, rowWhat, rowIDs[i], c.Name, what)
			}
			if orient == GenesBySamples {
				x[j*n+i] = float32(v)
			} else {
				x[i*nc+j] = float32(v)
			}
		}
	}
	m.X = x
	if orient == GenesBySamples {
		m.Genes, m.Samples, m.GeneInfo = rowIDs, colIDs, info
	} else {
		m.Samples, m.Genes, m.SampleInfo = rowIDs, colIDs, info
	}
	return m, nil
}

func firstN(s []string, n int) []string {
	if len(s) > n {
		return append(s[:n:n], "...")
	}
	return s
}
