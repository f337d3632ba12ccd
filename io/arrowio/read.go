package arrowio

import (
	"bytes"
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/ipc"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/compress"
	"github.com/apache/arrow-go/v18/parquet/file"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"

	"github.com/biopipe/biopipe/dataset"
)

// Formats Read accepts.
const (
	FormatAuto    = "auto"
	FormatCSV     = "csv"
	FormatTSV     = "tsv"
	FormatParquet = "parquet"
	FormatArrow   = "arrow"
)

// Formats lists the format names, for config enums.
var Formats = []string{FormatAuto, FormatCSV, FormatTSV, FormatParquet, FormatArrow}

var (
	parquetMagic = []byte("PAR1")
	arrowMagic   = []byte("ARROW1")
)

// DetectFormat names the format of path from its magic bytes, then its extension:
// parquet, arrow (IPC file or stream, Feather v2) or csv/tsv (any other text).
func DetectFormat(path string) (string, error) {
	head := make([]byte, 8)
	fh, err := os.Open(path)
	if err != nil {
		return "", err
	}
	n, _ := io.ReadFull(fh, head)
	fh.Close()
	return detect(path, head[:n]), nil
}

func detect(path string, head []byte) string {
	p := strings.ToLower(path)
	switch {
	case bytes.HasPrefix(head, parquetMagic):
		return FormatParquet
	case bytes.HasPrefix(head, arrowMagic):
		return FormatArrow
	case strings.HasSuffix(p, ".parquet") || strings.HasSuffix(p, ".pq"):
		return FormatParquet
	case strings.HasSuffix(p, ".arrow") || strings.HasSuffix(p, ".feather") || strings.HasSuffix(p, ".ipc") || strings.HasSuffix(p, ".arrows"):
		return FormatArrow
	case delimiterFor(path) == '\t':
		return FormatTSV
	}
	return FormatCSV
}

// Options selects the format of a table file and how text formats are parsed.
// CSV.Types also applies to Parquet and Arrow files (see Cast).
type Options struct {
	Format string // auto (default), csv, tsv, parquet, arrow
	CSV    CSVOptions
}

// Read reads a table file of any supported format into a frame.
func Read(ctx context.Context, path string, opts Options) (*dataset.Frame, *ReadInfo, error) {
	format := opts.Format
	if format == "" || format == FormatAuto {
		var err error
		if format, err = DetectFormat(path); err != nil {
			return nil, nil, err
		}
	}
	switch format {
	case FormatCSV, FormatTSV:
		co := opts.CSV
		if co.Delimiter == 0 && format == FormatTSV {
			co.Delimiter = '\t'
		}
		return ReadCSV(path, co)
	case FormatParquet:
		f, err := ReadParquet(ctx, path)
		if err != nil {
			return nil, nil, err
		}
		if err := Cast(f, opts.CSV.Types); err != nil {
			return nil, nil, fmt.Errorf("%s: %w", path, err)
		}
		return f, &ReadInfo{Format: FormatParquet, Rows: f.NumRows()}, nil
	case FormatArrow:
		f, err := ReadIPC(path)
		if err != nil {
			return nil, nil, err
		}
		if err := Cast(f, opts.CSV.Types); err != nil {
			return nil, nil, fmt.Errorf("%s: %w", path, err)
		}
		return f, &ReadInfo{Format: FormatArrow, Rows: f.NumRows()}, nil
	}
	return nil, nil, fmt.Errorf("%s: unknown format %q (want one of %s)", path, format, strings.Join(Formats, ", "))
}

// ReadParquet reads a Parquet file into a frame (through arrow-go's pqarrow). A file that
// does not start and end with the Parquet magic is an error, and so is a panic of the
// Parquet reader on a corrupt file (recovered here, naming the file).
func ReadParquet(ctx context.Context, path string) (f *dataset.Frame, err error) {
	fh, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer fh.Close()
	if err := checkParquetMagic(fh, path); err != nil {
		return nil, err
	}
	defer func() {
		if p := recover(); p != nil {
			f, err = nil, fmt.Errorf("%s: corrupt parquet file: %v", path, p)
		}
	}()
	pr, err := file.NewParquetReader(fh)
	if err != nil {
		return nil, fmt.Errorf("%s: parquet: %w", path, err)
	}
	defer pr.Close()
	fr, err := pqarrow.NewFileReader(pr, pqarrow.ArrowReadProperties{Parallel: true, BatchSize: 1 << 16}, memory.DefaultAllocator)
	if err != nil {
		return nil, fmt.Errorf("%s: parquet: %w", path, err)
	}
	// The table's schema lacks the metadata (roles, tensor shapes); the file reader's has it.
	schema, err := fr.Schema()
	if err != nil {
		return nil, fmt.Errorf("%s: parquet: %w", path, err)
	}
	tbl, err := fr.ReadTable(ctx)
	if err != nil {
		return nil, fmt.Errorf("%s: parquet: %w", path, err)
	}
	defer tbl.Release()
	f, err = tableFrame(schema, tbl)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	for _, c := range f.Columns {
		for k := range c.Meta {
			if strings.HasPrefix(k, "PARQUET:") {
				delete(c.Meta, k)
			}
		}
		if len(c.Meta) == 0 {
			c.Meta = nil
		}
	}
	return f, nil
}

// checkParquetMagic checks the 4-byte "PAR1" at the start of a Parquet file (arrow-go
// checks only the one at the end).
func checkParquetMagic(fh *os.File, path string) error {
	head := make([]byte, len(parquetMagic))
	n, _ := fh.ReadAt(head, 0)
	if !bytes.Equal(head[:n], parquetMagic) {
		return fmt.Errorf("%s: byte 0: not a Parquet file: starts with %q, want %q", path, head[:n], parquetMagic)
	}
	return nil
}

func tableFrame(schema *arrow.Schema, tbl arrow.Table) (*dataset.Frame, error) {
	tr := array.NewTableReader(tbl, -1)
	defer tr.Release()
	var recs []arrow.RecordBatch
	defer func() {
		for _, r := range recs {
			r.Release()
		}
	}()
	for tr.Next() {
		r := tr.RecordBatch()
		r.Retain()
		recs = append(recs, r)
	}
	if err := tr.Err(); err != nil {
		return nil, err
	}
	return dataset.FromRecords(schema, recs)
}

// ReadIPC reads an Arrow IPC file (Feather v2) or an Arrow IPC stream into a frame. A
// corrupt file is an error naming it, never a panic (arrow-go's reader panics on some).
func ReadIPC(path string) (f *dataset.Frame, err error) {
	defer func() {
		if r := recover(); r != nil {
			f, err = nil, fmt.Errorf("%s: corrupt Arrow IPC data: %v", path, r)
		}
	}()
	fh, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer fh.Close()
	head := make([]byte, 6)
	n, _ := io.ReadFull(fh, head)
	if bytes.Equal(head[:n], arrowMagic) {
		return dataset.ReadFile(path)
	}
	if _, err := fh.Seek(0, io.SeekStart); err != nil {
		return nil, err
	}
	r, err := ipc.NewReader(fh, ipc.WithAllocator(memory.DefaultAllocator))
	if err != nil {
		return nil, fmt.Errorf("%s: not an Arrow IPC file or stream: %w", path, err)
	}
	defer r.Release()
	var recs []arrow.RecordBatch
	defer func() {
		for _, rec := range recs {
			rec.Release()
		}
	}()
	for r.Next() {
		rec := r.RecordBatch()
		rec.Retain()
		recs = append(recs, rec)
	}
	if err := r.Err(); err != nil {
		return nil, fmt.Errorf("%s: record batch %d: %w", path, len(recs), err)
	}
	if f, err = dataset.FromRecords(r.Schema(), recs); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return f, nil
}

// WriteIPC writes the frame as an Arrow IPC file (Feather v2), atomically.
func WriteIPC(f *dataset.Frame, path string) error { return f.WriteFile(path) }

// WriteParquet writes the frame as a Parquet file (zstd-compressed), atomically. Tensor
// columns become fixed-size lists.
func WriteParquet(f *dataset.Frame, path string) error {
	rec, err := f.Record(memory.DefaultAllocator)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	defer rec.Release()
	tbl := array.NewTableFromRecords(rec.Schema(), []arrow.RecordBatch{rec})
	defer tbl.Release()
	props := parquet.NewWriterProperties(parquet.WithCompression(compress.Codecs.Zstd))
	return dataset.AtomicWrite(path, func(w *os.File) error {
		return pqarrow.WriteTable(tbl, writerOnly{w}, 1<<16, props, pqarrow.NewArrowWriterProperties(pqarrow.WithStoreSchema()))
	})
}

// WriteCSV writes the frame as delimited text (delimiter 0 = comma) with a header row,
// atomically. Missing values are written as empty cells; tensor columns are an error.
func WriteCSV(f *dataset.Frame, path string, delimiter rune) error {
	for _, c := range f.Columns {
		if c.Kind == dataset.Tensor {
			return fmt.Errorf("%s: column %q is a tensor; CSV holds only scalar columns (write Arrow or Parquet)", path, c.Name)
		}
	}
	if err := f.Validate(); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return dataset.AtomicWrite(path, func(w *os.File) error { return EncodeCSV(w, f, delimiter) })
}

// EncodeCSV writes the frame as delimited text with a header row to w.
func EncodeCSV(w io.Writer, f *dataset.Frame, delimiter rune) error {
	cw := csv.NewWriter(w)
	if delimiter != 0 {
		cw.Comma = delimiter
	}
	if err := cw.Write(f.Names()); err != nil {
		return err
	}
	row := make([]string, len(f.Columns))
	for i := range f.NumRows() {
		for j, c := range f.Columns {
			if c.Kind == dataset.Tensor {
				return errors.New("tensor columns cannot be written as CSV")
			}
			row[j] = c.Text(i)
		}
		if err := cw.Write(row); err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}

// writerOnly hides Close so that pqarrow does not close the file before it is synced.
type writerOnly struct{ w io.Writer }

func (w writerOnly) Write(p []byte) (int, error) { return w.w.Write(p) }

// Cast converts the named columns of f to the given kinds in place: numbers to text, text
// to numbers (a value that does not parse is an error naming the column and row), int to
// float, and float to int when every value is whole. Read applies it to the declared types
// of Parquet and Arrow files; CSV columns are parsed as declared directly.
func Cast(f *dataset.Frame, types map[string]dataset.Kind) error {
	for _, name := range sortedKeys(types) {
		want := types[name]
		c := f.Col(name)
		if c == nil {
			return fmt.Errorf("declared type for column %q, which the table does not have (columns: %s)", name, strings.Join(f.Names(), ", "))
		}
		if c.Kind == want {
			continue
		}
		if c.Kind == dataset.Tensor || want == dataset.Tensor {
			return fmt.Errorf("column %q: cannot cast %s to %s", name, c.Kind, want)
		}
		out := &dataset.Column{Name: c.Name, Kind: want, Valid: c.Valid, Meta: c.Meta}
		n := c.Len()
		switch want {
		case dataset.String:
			out.S = make([]string, n)
			for i := range n {
				out.S[i] = c.Text(i)
			}
		case dataset.Float:
			out.F = make([]float64, n)
			for i := range n {
				if !c.IsValid(i) {
					continue
				}
				out.F[i] = c.Float64(i)
				if out.F[i] != out.F[i] && c.Kind == dataset.String {
					return fmt.Errorf("column %q row %d: value %q is not a valid float64 (declared type)", name, i, c.S[i])
				}
			}
		case dataset.Int:
			out.I = make([]int64, n)
			for i := range n {
				if !c.IsValid(i) {
					continue
				}
				v := c.Float64(i)
				if v != v || v != float64(int64(v)) {
					return fmt.Errorf("column %q row %d: value %q is not a valid int64 (declared type)", name, i, c.Text(i))
				}
				out.I[i] = int64(v)
			}
		}
		f.Set(out)
	}
	return nil
}

func sortedKeys(m map[string]dataset.Kind) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
