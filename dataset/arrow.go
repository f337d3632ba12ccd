package dataset

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"

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
	schema := f.Schema()
	b := array.NewRecordBuilder(mem, schema)
	defer b.Release()
	for i, c := range f.Columns {
		n := c.Len()
		switch c.Kind {
		case Float:
			b.Field(i).(*array.Float64Builder).AppendValues(c.F, c.Valid)
		case Int:
			b.Field(i).(*array.Int64Builder).AppendValues(c.I, c.Valid)
		case String:
			b.Field(i).(*array.StringBuilder).AppendValues(c.S, c.Valid)
		case Tensor:
			lb := b.Field(i).(*array.FixedSizeListBuilder)
			vb := lb.ValueBuilder().(*array.Float32Builder)
			size := TensorSize(c.Shape)
			for r := 0; r < n; r++ {
				if c.IsValid(r) {
					lb.Append(true)
				} else {
					lb.AppendNull()
				}
				vb.AppendValues(c.T[r*size:(r+1)*size], nil)
			}
		}
	}
	return b.NewRecordBatch(), nil
}

// WriteFile writes the frame as an Arrow IPC file (Feather v2) atomically: to a temporary
// name in the same folder, fsynced, then renamed.
func (f *Frame) WriteFile(path string) error {
	rec, err := f.Record(memory.DefaultAllocator)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	defer rec.Release()
	return AtomicWrite(path, func(w *os.File) error {
		fw, err := ipc.NewFileWriter(w, ipc.WithSchema(rec.Schema()))
		if err != nil {
			return err
		}
		if err := fw.Write(rec); err != nil {
			return err
		}
		return fw.Close()
	})
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

// ReadFile reads an Arrow IPC file (all record batches) into a frame.
func ReadFile(path string) (*Frame, error) {
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
	f, err := FromRecords(r.Schema(), recs)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return f, nil
}

// FromRecords converts record batches of one schema into a frame. Integer, float, boolean
// and string-like Arrow types are widened to the frame's kinds; fixed-size lists of floats
// become tensor columns (shape from the biopipe.shape field metadata, else 1-D).
func FromRecords(schema *arrow.Schema, recs []arrow.RecordBatch) (*Frame, error) {
	f := New()
	md := schema.Metadata()
	for i, k := range md.Keys() {
		f.Meta[k] = md.Values()[i]
	}
	for ci, field := range schema.Fields() {
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
		hasNull := false
		for _, rec := range recs {
			if rec.Column(ci).NullN() > 0 {
				hasNull = true
			}
		}
		for _, rec := range recs {
			if err := appendArray(c, rec.Column(ci), hasNull); err != nil {
				return nil, fmt.Errorf("column %q: %w", field.Name, err)
			}
		}
		f.Columns = append(f.Columns, c)
	}
	return f, f.Validate()
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
				s = a.ValueStr(i)
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
