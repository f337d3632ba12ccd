package dataset

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/ipc"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/biopipe/biopipe/crashpoint"
)

// Schema returns the Arrow schema of the frame.
func (f *Frame) Schema() *arrow.Schema {
	fields := make([]arrow.Field, len(f.Columns))
	for i, c := range f.Columns {
		fields[i] = columnField(c)
	}
	md := arrow.MetadataFrom(f.Meta)
	return arrow.NewSchema(fields, &md)
}

func columnField(c *Column) arrow.Field {
	meta := map[string]string{}
	for k, v := range c.Meta {
		meta[k] = v
	}
	var dt arrow.DataType
	switch c.Kind {
	case Float:
		dt = arrow.PrimitiveTypes.Float64
	case Int:
		dt = arrow.PrimitiveTypes.Int64
	case String:
		dt = arrow.BinaryTypes.String
	case Tensor:
		dt = arrow.FixedSizeListOf(int32(TensorSize(c.Shape)), arrow.PrimitiveTypes.Float32)
		b, _ := json.Marshal(c.Shape)
		meta[MetaShape] = string(b)
	}
	md := arrow.MetadataFrom(meta)
	return arrow.Field{Name: c.Name, Type: dt, Nullable: true, Metadata: md}
}

// Record builds one Arrow record batch holding the whole frame. The caller releases it.
func (f *Frame) Record(mem memory.Allocator) (arrow.RecordBatch, error) {
	if err := f.Validate(); err != nil {
		return nil, err
	}
	return f.recordRows(mem, f.Schema(), 0, f.NumRows()), nil
}

// recordRows builds the record batch of rows [lo, hi) of a validated frame.
func (f *Frame) recordRows(mem memory.Allocator, schema *arrow.Schema, lo, hi int) arrow.RecordBatch {
	b := array.NewRecordBuilder(mem, schema)
	defer b.Release()
	for i, c := range f.Columns {
		var valid []bool
		if c.Valid != nil {
			valid = c.Valid[lo:hi]
		}
		switch c.Kind {
		case Float:
			b.Field(i).(*array.Float64Builder).AppendValues(c.F[lo:hi], valid)
		case Int:
			b.Field(i).(*array.Int64Builder).AppendValues(c.I[lo:hi], valid)
		case String:
			b.Field(i).(*array.StringBuilder).AppendValues(c.S[lo:hi], valid)
		case Tensor:
			lb := b.Field(i).(*array.FixedSizeListBuilder)
			vb := lb.ValueBuilder().(*array.Float32Builder)
			size := TensorSize(c.Shape)
			for r := lo; r < hi; r++ {
				if c.IsValid(r) {
					lb.Append(true)
				} else {
					lb.AppendNull()
				}
				vb.AppendValues(c.T[r*size:(r+1)*size], nil)
			}
		}
	}
	return b.NewRecordBatch()
}

// MaxRecordBatchBytes bounds the column data of one record batch that WriteFile writes: a
// larger frame is written as several record batches of whole rows, so that a reader can
// stream it batch by batch (OpenTable) in bounded memory. Frames up to this size are one
// record batch.
const MaxRecordBatchBytes = 64 << 20

// rowBytes estimates the bytes of column data per row (strings at their mean length).
func (f *Frame) rowBytes() int {
	n := f.NumRows()
	per := 0
	for _, c := range f.Columns {
		switch c.Kind {
		case Float, Int:
			per += 8
		case Tensor:
			per += 4 * TensorSize(c.Shape)
		case String:
			total := 0
			for _, s := range c.S {
				total += len(s)
			}
			per += 4 + total/max(n, 1)
		}
	}
	return max(per, 1)
}

// WriteFile writes the frame as an Arrow IPC file (Feather v2) atomically: to a temporary
// name in the same folder, fsynced, then renamed. A frame over MaxRecordBatchBytes is
// written as several record batches.
func (f *Frame) WriteFile(path string) error {
	return f.WriteFileBatched(path, max(1, MaxRecordBatchBytes/f.rowBytes()))
}

// WriteFileBatched is WriteFile with at most rowsPerBatch rows per record batch.
func (f *Frame) WriteFileBatched(path string, rowsPerBatch int) error {
	if err := f.Validate(); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	if rowsPerBatch < 1 {
		return fmt.Errorf("%s: rows per record batch must be at least 1, got %d", path, rowsPerBatch)
	}
	schema := f.Schema()
	return AtomicWrite(path, func(w *os.File) error {
		fw, err := ipc.NewFileWriter(w, ipc.WithSchema(schema))
		if err != nil {
			return err
		}
		n := f.NumRows()
		for lo := 0; lo < n || lo == 0; lo += rowsPerBatch {
			rec := f.recordRows(memory.DefaultAllocator, schema, lo, min(lo+rowsPerBatch, n))
			err := fw.Write(rec)
			rec.Release()
			if err != nil {
				return err
			}
			if n == 0 {
				break
			}
		}
		return fw.Close()
	})
}

// TableWriter writes a table artifact one record batch at a time, for tables built in
// pieces that need not fit in memory together. Every frame written must have the schema of
// the first (the same columns, kinds, shapes and metadata).
type TableWriter struct {
	path   string
	tmp    *os.File
	fw     *ipc.FileWriter
	schema *arrow.Schema
	rows   int
}

// CreateTable starts writing the table artifact at path; nothing is at path until Close
// succeeds (the file is written under a temporary name, fsynced and renamed).
func CreateTable(path string) (*TableWriter, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return nil, err
	}
	return &TableWriter{path: path, tmp: tmp}, nil
}

// Write appends the rows of f as one record batch.
func (w *TableWriter) Write(f *Frame) error {
	if err := f.Validate(); err != nil {
		return fmt.Errorf("%s: rows %d-: %w", w.path, w.rows, err)
	}
	schema := f.Schema()
	if w.fw == nil {
		fw, err := ipc.NewFileWriter(w.tmp, ipc.WithSchema(schema))
		if err != nil {
			return fmt.Errorf("%s: %w", w.path, err)
		}
		w.fw, w.schema = fw, schema
	} else if !schema.Equal(w.schema) || !schema.Metadata().Equal(w.schema.Metadata()) {
		return fmt.Errorf("%s: rows %d-: the frame's schema differs from the first batch's", w.path, w.rows)
	}
	rec := f.recordRows(memory.DefaultAllocator, schema, 0, f.NumRows())
	defer rec.Release()
	if err := w.fw.Write(rec); err != nil {
		return fmt.Errorf("%s: %w", w.path, err)
	}
	w.rows += f.NumRows()
	return nil
}

// Close finishes the file and renames it into place.
func (w *TableWriter) Close() error {
	if w.fw == nil {
		w.Abort()
		return fmt.Errorf("%s: no rows written", w.path)
	}
	if err := w.fw.Close(); err != nil {
		w.Abort()
		return fmt.Errorf("%s: %w", w.path, err)
	}
	if err := w.tmp.Sync(); err != nil {
		w.Abort()
		return fmt.Errorf("%s: %w", w.path, err)
	}
	if err := w.tmp.Close(); err != nil {
		os.Remove(w.tmp.Name())
		return fmt.Errorf("%s: %w", w.path, err)
	}
	if err := os.Rename(w.tmp.Name(), w.path); err != nil {
		os.Remove(w.tmp.Name())
		return fmt.Errorf("%s: %w", w.path, err)
	}
	return nil
}

// Abort removes what was written.
func (w *TableWriter) Abort() {
	w.tmp.Close()
	os.Remove(w.tmp.Name())
}

// AtomicWrite creates path by writing a temporary file in the same folder with fill, syncing
// it and renaming it into place; on error nothing is left at path.
func AtomicWrite(path string, fill func(w *os.File) error) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	ok := false
	defer func() {
		if !ok {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	if err := fill(tmp); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	crashpoint.Hit("write:" + filepath.Base(path))
	if err := tmp.Sync(); err != nil {
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return err
	}
	ok = true
	return nil
}

// ReadFile reads an Arrow IPC file (all record batches) into a frame. A corrupt file is an
// error naming it: arrow-go's reader panics on some (buffers shorter than their arrays
// claim), and such a panic is returned as an error here, at our boundary.
func ReadFile(path string) (f *Frame, err error) {
	defer func() {
		if r := recover(); r != nil {
			f, err = nil, fmt.Errorf("%s: corrupt Arrow IPC file: %v", path, r)
		}
	}()
	fh, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer fh.Close()
	r, err := ipc.NewFileReader(fh, ipc.WithAllocator(memory.DefaultAllocator))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	defer r.Close()
	var recs []arrow.RecordBatch
	for i := 0; i < r.NumRecords(); i++ {
		rec, err := r.RecordBatch(i)
		if err != nil {
			return nil, fmt.Errorf("%s: record batch %d: %w", path, i, err)
		}
		rec.Retain() // the reader reuses a batch on the next call
		defer rec.Release()
		recs = append(recs, rec)
	}
	if f, err = FromRecords(r.Schema(), recs); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return f, nil
}

// FromRecords converts record batches of one schema into a frame. Integer, float, boolean
// and string-like Arrow types are widened to the frame's kinds; fixed-size lists of floats
// become tensor columns (shape from the biopipe.shape field metadata, else 1-D).
//
// The batches may come from a file biopipe did not write: every column is validated first
// (offsets, buffer sizes, dictionary indices), since arrow-go's readers trust them and its
// accessors panic on a corrupt one; a panic that validation misses is still returned as an
// error, never raised.
func FromRecords(schema *arrow.Schema, recs []arrow.RecordBatch) (f *Frame, err error) {
	defer func() {
		if r := recover(); r != nil {
			f, err = nil, fmt.Errorf("corrupt Arrow data: %v", r)
		}
	}()
	for bi, rec := range recs {
		for ci := range int(rec.NumCols()) {
			if err := ValidateArray(rec.Column(ci)); err != nil {
				return nil, fmt.Errorf("record batch %d, column %q: corrupt Arrow data: %w", bi, rec.ColumnName(ci), err)
			}
		}
	}
	f = frameFor(schema)
	for ci, c := range f.Columns {
		hasNull := false
		for _, rec := range recs {
			if rec.Column(ci).NullN() > 0 {
				hasNull = true
			}
		}
		for _, rec := range recs {
			if err := appendArray(c, rec.Column(ci), hasNull); err != nil {
				return nil, fmt.Errorf("column %q: %w", c.Name, err)
			}
		}
	}
	return f, f.Validate()
}

// frameFor returns a frame with no rows and the columns (names, kinds, shapes, metadata)
// and metadata of schema.
func frameFor(schema *arrow.Schema) *Frame {
	f := New()
	md := schema.Metadata()
	for i, k := range md.Keys() {
		f.Meta[k] = md.Values()[i]
	}
	for _, field := range schema.Fields() {
		c := &Column{Name: field.Name}
		fmd := field.Metadata
		for i, k := range fmd.Keys() {
			if k == MetaShape {
				continue
			}
			if c.Meta == nil {
				c.Meta = map[string]string{}
			}
			c.Meta[k] = fmd.Values()[i]
		}
		switch dt := field.Type.(type) {
		case *arrow.FixedSizeListType:
			c.Kind = Tensor
			c.Shape = []int{int(dt.Len())}
			if s, ok := fmd.GetValue(MetaShape); ok {
				var shape []int
				if err := json.Unmarshal([]byte(s), &shape); err == nil && TensorSize(shape) == int(dt.Len()) {
					c.Shape = shape
				}
			}
		case *arrow.StringType, *arrow.LargeStringType, *arrow.BinaryType, *arrow.DictionaryType:
			c.Kind = String
		case *arrow.Float16Type, *arrow.Float32Type, *arrow.Float64Type:
			c.Kind = Float
		case *arrow.Int8Type, *arrow.Int16Type, *arrow.Int32Type, *arrow.Int64Type,
			*arrow.Uint8Type, *arrow.Uint16Type, *arrow.Uint32Type, *arrow.Uint64Type, *arrow.BooleanType:
			c.Kind = Int
		default:
			c.Kind = String
		}
		f.Columns = append(f.Columns, c)
	}
	return f
}

func appendArray(c *Column, a arrow.Array, withValid bool) error {
	n := a.Len()
	for i := 0; i < n; i++ {
		if withValid {
			c.Valid = append(c.Valid, a.IsValid(i))
		}
		switch c.Kind {
		case Float:
			var v float64
			switch x := a.(type) {
			case *array.Float64:
				v = x.Value(i)
			case *array.Float32:
				v = float64(x.Value(i))
			case *array.Float16:
				v = float64(x.Value(i).Float32())
			}
			c.F = append(c.F, v)
		case Int:
			var v int64
			switch x := a.(type) {
			case *array.Int8:
				v = int64(x.Value(i))
			case *array.Int16:
				v = int64(x.Value(i))
			case *array.Int32:
				v = int64(x.Value(i))
			case *array.Int64:
				v = x.Value(i)
			case *array.Uint8:
				v = int64(x.Value(i))
			case *array.Uint16:
				v = int64(x.Value(i))
			case *array.Uint32:
				v = int64(x.Value(i))
			case *array.Uint64:
				v = int64(x.Value(i))
			case *array.Boolean:
				if x.Value(i) {
					v = 1
				}
			}
			c.I = append(c.I, v)
		case String:
			s := ""
			if a.IsValid(i) {
				// A copy: a string array's value aliases the record batch's body buffer,
				// which holds every column of the batch (OpenTable keeps only the role
				// columns of a streamed table).
				s = strings.Clone(a.ValueStr(i))
			}
			c.S = append(c.S, s)
		case Tensor:
			l := a.(*array.FixedSizeList)
			size := TensorSize(c.Shape)
			vals := l.ListValues()
			off := (l.Offset() + i) * size
			switch v := vals.(type) {
			case *array.Float32:
				c.T = append(c.T, v.Float32Values()[off:off+size]...)
			case *array.Float64:
				for _, x := range v.Float64Values()[off : off+size] {
					c.T = append(c.T, float32(x))
				}
			default:
				return fmt.Errorf("tensor values of type %s not supported (want float32/float64)", vals.DataType())
			}
		}
	}
	return nil
}

// WriteJSON writes v as indented JSON (with a final newline) to path, atomically.
func WriteJSON(path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return AtomicWrite(path, func(w *os.File) error { _, err := w.Write(append(b, '\n')); return err })
}

// ValidateArray checks that an Arrow array's buffers hold what its length, offset and type
// claim (full validation of variable-length offsets, fixed-width buffer sizes, validity
// bitmaps, list children and dictionary indices), so that reading its values cannot go out of
// bounds.
func ValidateArray(a arrow.Array) error {
	d := a.Data()
	end := d.Offset() + d.Len()
	if d.Offset() < 0 || d.Len() < 0 {
		return fmt.Errorf("negative offset %d or length %d", d.Offset(), d.Len())
	}
	bufs := d.Buffers()
	if a.NullN() > 0 && len(bufs) > 0 && bufs[0] != nil && bufs[0].Len()*8 < end {
		return fmt.Errorf("validity bitmap of %d bytes for %d values", bufs[0].Len(), end)
	}
	switch arr := a.(type) {
	case *array.Dictionary:
		if err := ValidateArray(arr.Indices()); err != nil {
			return fmt.Errorf("dictionary indices: %w", err)
		}
		if err := ValidateArray(arr.Dictionary()); err != nil {
			return fmt.Errorf("dictionary: %w", err)
		}
		n := arr.Dictionary().Len()
		for i := range arr.Len() {
			if arr.IsValid(i) {
				if j := arr.GetValueIndex(i); j < 0 || j >= n {
					return fmt.Errorf("value %d: dictionary index %d out of range [0, %d)", i, j, n)
				}
			}
		}
		return nil
	case *array.FixedSizeList:
		if err := validateFull(arr); err != nil {
			return err
		}
		return ValidateArray(arr.ListValues())
	case *array.String:
		if err := checkOffsets(arr.ValueOffsets(), len(arr.ValueBytes())); err != nil {
			return err
		}
	case *array.Binary:
		if err := checkOffsets(arr.ValueOffsets(), len(arr.ValueBytes())); err != nil {
			return err
		}
	case *array.LargeString:
		if err := checkOffsets(arr.ValueOffsets(), len(arr.ValueBytes())); err != nil {
			return err
		}
	case interface{ ValidateFull() error }:
		if err := validateFull(arr); err != nil {
			return err
		}
	}
	if fw, ok := a.DataType().(arrow.FixedWidthDataType); ok && len(bufs) > 1 {
		need := (end*fw.BitWidth() + 7) / 8
		if bufs[1] == nil {
			if end > 0 {
				return fmt.Errorf("no value buffer for %d values", end)
			}
		} else if bufs[1].Len() < need {
			return fmt.Errorf("value buffer of %d bytes for %d values of %d bits", bufs[1].Len(), end, fw.BitWidth())
		}
	}
	return nil
}

// checkOffsets checks variable-length offsets: non-decreasing and within the data. (arrow-go's
// String.ValidateFull slices the data before checking and panics on offsets past its end:
// found by FuzzReadIPC.)
func checkOffsets[T int32 | int64](offs []T, n int) error {
	prev := T(0)
	for i, o := range offs {
		if o < 0 || int64(o) > int64(n) {
			return fmt.Errorf("offset %d is %d, outside the %d bytes of data", i, o, n)
		}
		if i > 0 && o < prev {
			return fmt.Errorf("offset %d is %d, less than the one before (%d)", i, o, prev)
		}
		prev = o
	}
	return nil
}

// validateFull runs arrow-go's own ValidateFull, returning a panic in it as an error.
func validateFull(a interface{ ValidateFull() error }) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%v", r)
		}
	}()
	return a.ValidateFull()
}
