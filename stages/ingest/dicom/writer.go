package dicom

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/apache/arrow-go/v18/arrow/ipc"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/biopipe/biopipe/dataset"
)

// rowData is one decoded example ready to write.
type rowData struct {
	ex     *example
	x      []float32
	digest string
}

// batchWriter streams record batches into an Arrow IPC file: written to a temporary name,
// fsynced and renamed on close, removed on abort.
type batchWriter struct {
	path   string
	tmp    *os.File
	fw     *ipc.FileWriter
	shape  []int
	labels bool
	meta   map[string]string
	done   bool
}

func newBatchWriter(path string, shape []int, classes []string, o *Options) (*batchWriter, error) {
	w := &batchWriter{path: path, shape: shape, labels: o.LabelFrom != LabelNone, meta: map[string]string{
		dataset.MetaGroup:  ColPatient,
		dataset.MetaSource: "ingest.dicom",
	}}
	if w.labels {
		w.meta[dataset.MetaLabel] = ColLabel
		w.meta[dataset.MetaTask] = "classification"
		f := dataset.New()
		f.SetClasses(classes)
		w.meta[dataset.MetaClasses] = f.Meta[dataset.MetaClasses]
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return nil, err
	}
	w.tmp = tmp
	schema := w.frame(nil).Schema()
	w.fw, err = ipc.NewFileWriter(tmp, ipc.WithSchema(schema), ipc.WithAllocator(memory.DefaultAllocator))
	if err != nil {
		w.abort()
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return w, nil
}

// frame builds the frame of some rows (the schema alone for nil).
func (w *batchWriter) frame(rows []rowData) *dataset.Frame {
	prov := map[string]string{"biopipe.role": RoleProvenance}
	f := &dataset.Frame{Meta: w.meta}
	x := &dataset.Column{Name: ColX, Kind: dataset.Tensor, Shape: w.shape, T: make([]float32, 0, len(rows)*dataset.TensorSize(w.shape))}
	label := &dataset.Column{Name: ColLabel, Kind: dataset.String}
	patient := &dataset.Column{Name: ColPatient, Kind: dataset.String}
	series := &dataset.Column{Name: ColSeries, Kind: dataset.String, Meta: prov}
	instance := &dataset.Column{Name: ColInstance, Kind: dataset.Int, Meta: prov}
	slice := &dataset.Column{Name: ColSlice, Kind: dataset.Int, Meta: prov}
	frame := &dataset.Column{Name: ColFrame, Kind: dataset.Int, Meta: prov}
	source := &dataset.Column{Name: ColSource, Kind: dataset.String, Meta: prov}
	for _, r := range rows {
		x.T = append(x.T, r.x...)
		label.S = append(label.S, r.ex.label)
		patient.S = append(patient.S, r.ex.patient)
		series.S = append(series.S, r.ex.series)
		inst := int64(-1)
		if h := r.ex.files[0].h; h.HasInstanceNumber {
			inst = int64(h.InstanceNumber)
		}
		instance.I = append(instance.I, inst)
		slice.I = append(slice.I, int64(r.ex.slice))
		frame.I = append(frame.I, int64(r.ex.frame))
		source.S = append(source.S, r.digest)
	}
	f.Columns = append(f.Columns, x)
	if w.labels {
		f.Columns = append(f.Columns, label)
	}
	f.Columns = append(f.Columns, patient, series, instance, slice, frame, source)
	return f
}

func (w *batchWriter) write(rows []rowData) error {
	if len(rows) == 0 {
		return nil
	}
	rec, err := w.frame(rows).Record(memory.DefaultAllocator)
	if err != nil {
		return fmt.Errorf("%s: %w", w.path, err)
	}
	defer rec.Release()
	if err := w.fw.Write(rec); err != nil {
		return fmt.Errorf("%s: %w", w.path, err)
	}
	return nil
}

func (w *batchWriter) close() error {
	if err := w.fw.Close(); err != nil {
		return fmt.Errorf("%s: %w", w.path, err)
	}
	if err := w.tmp.Sync(); err != nil {
		return err
	}
	if err := w.tmp.Close(); err != nil {
		return err
	}
	if err := os.Rename(w.tmp.Name(), w.path); err != nil {
		return err
	}
	w.done = true
	return nil
}

// abort removes the temporary file unless close succeeded.
func (w *batchWriter) abort() {
	if w.done || w.tmp == nil {
		return
	}
	w.tmp.Close()
	os.Remove(w.tmp.Name())
}
