package edf

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"sync"
)

// Reader reads the data records of one file. It is safe for concurrent ReadRecord calls
// when the underlying io.ReaderAt is (an *os.File is).
type Reader struct {
	name    string
	r       io.ReaderAt
	closer  io.Closer
	h       *Header
	recSize int
	offsets []int // byte offset of each signal inside a record
	size    int64
}

// Open opens a file and parses its header. Close the reader when done.
func Open(path string) (*Reader, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	r, err := NewReader(f, st.Size(), path)
	if err != nil {
		f.Close()
		return nil, err
	}
	r.closer = f
	return r, nil
}

// NewReader parses the header of a file of the given size read through r; name is used in
// errors. The record count is checked against the size: a header that states more or fewer
// records than the file holds, or a file that ends inside a record, is an *Error.
func NewReader(r io.ReaderAt, size int64, name string) (*Reader, error) {
	fixed := make([]byte, fixedHeaderSize)
	n, err := r.ReadAt(fixed, 0)
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if _, _, err := ParseFixedHeader(name, fixed[:n]); err != nil {
		return nil, err
	}
	hb, _ := parseInt(fixed[184:192])
	full := make([]byte, hb)
	n, err = r.ReadAt(full, 0)
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	h, err := ParseHeader(name, full[:n])
	if err != nil {
		return nil, err
	}
	rd := &Reader{name: name, r: r, h: h, recSize: h.RecordSize(), size: size}
	off := 0
	for i := range h.Signals {
		rd.offsets = append(rd.offsets, off)
		off += h.Signals[i].SamplesPerRecord * h.Format.Bytes()
	}
	data := size - int64(h.HeaderBytes)
	if rd.recSize == 0 {
		if data != 0 {
			return nil, &Error{File: name, Offset: int64(h.HeaderBytes), Field: "data records", Err: fmt.Errorf("records are 0 bytes but %d bytes follow the header", data)}
		}
		if h.NumRecords < 0 {
			h.NumRecords = 0
		}
		return rd, nil
	}
	whole := data / int64(rd.recSize)
	if rem := data % int64(rd.recSize); rem != 0 {
		at := int64(h.HeaderBytes) + whole*int64(rd.recSize)
		return nil, &Error{File: name, Offset: at, Field: fmt.Sprintf("data record %d", whole),
			Err: fmt.Errorf("truncated: %d of %d bytes present", rem, rd.recSize)}
	}
	switch {
	case h.NumRecords == -1:
		h.NumRecords = int(whole)
	case int64(h.NumRecords) != whole:
		return nil, &Error{File: name, Offset: 236, Field: "number of data records",
			Err: fmt.Errorf("header states %d records of %d bytes but the file holds %d", h.NumRecords, rd.recSize, whole)}
	}
	return rd, nil
}

// Header returns the parsed header.
func (r *Reader) Header() *Header { return r.h }

// Name returns the name used in errors.
func (r *Reader) Name() string { return r.name }

// Close closes the file opened by Open.
func (r *Reader) Close() error {
	if r.closer != nil {
		return r.closer.Close()
	}
	return nil
}

// Record is one decoded data record.
type Record struct {
	Index int
	// Onset is the start of the record in seconds from the recording start: from its
	// time-keeping TAL in EDF+/BDF+, else Index × record duration.
	Onset float64
	// Samples holds the physical values of each signal (nil for annotation signals).
	Samples [][]float32
	// Annotations are the annotations in the record's annotation signals (time keeping excluded).
	Annotations []Annotation
	raw         []byte
}

// recordOffset returns the byte offset of record i.
func (r *Reader) recordOffset(i int) int64 {
	return int64(r.h.HeaderBytes) + int64(i)*int64(r.recSize)
}

// ReadRecord reads and decodes record i into rec, reusing rec's buffers.
func (r *Reader) ReadRecord(i int, rec *Record) error {
	if i < 0 || i >= r.h.NumRecords {
		return fmt.Errorf("%s: record %d out of range [0, %d)", r.name, i, r.h.NumRecords)
	}
	if cap(rec.raw) < r.recSize {
		rec.raw = make([]byte, r.recSize)
	}
	rec.raw = rec.raw[:r.recSize]
	off := r.recordOffset(i)
	if _, err := r.r.ReadAt(rec.raw, off); err != nil {
		return &Error{File: r.name, Offset: off, Field: fmt.Sprintf("data record %d", i), Err: err}
	}
	return r.decodeRecord(i, rec.raw, rec)
}

func (r *Reader) decodeRecord(i int, raw []byte, rec *Record) error {
	h := r.h
	rec.Index = i
	rec.Onset = float64(i) * h.RecordDuration
	rec.Annotations = rec.Annotations[:0]
	if len(rec.Samples) != len(h.Signals) {
		rec.Samples = make([][]float32, len(h.Signals))
	}
	first := true
	for s := range h.Signals {
		sh := &h.Signals[s]
		b := raw[r.offsets[s] : r.offsets[s]+sh.SamplesPerRecord*h.Format.Bytes()]
		if sh.IsAnnotation() {
			rec.Samples[s] = nil
			tals, err := ParseTALs(b, r.recordOffset(i)+int64(r.offsets[s]))
			if err != nil {
				return &Error{File: r.name, Offset: r.recordOffset(i) + int64(r.offsets[s]), Field: fmt.Sprintf("data record %d annotations", i), Err: err}
			}
			for k, t := range tals {
				if first && k == 0 {
					// The first TAL of the first annotation signal keeps time.
					rec.Onset = t.Onset
					if len(t.Texts) == 0 {
						continue
					}
				}
				for _, txt := range t.Texts {
					rec.Annotations = append(rec.Annotations, Annotation{Onset: t.Onset, Duration: t.Duration, Text: txt})
				}
			}
			first = false
			continue
		}
		if cap(rec.Samples[s]) < sh.SamplesPerRecord {
			rec.Samples[s] = make([]float32, sh.SamplesPerRecord)
		}
		out := rec.Samples[s][:sh.SamplesPerRecord]
		rec.Samples[s] = out
		decode(out, b, h.Format.Bytes(), sh.Gain(), sh.Offset())
	}
	return nil
}

// decode converts little-endian samples of width bytes to physical values.
func decode(out []float32, b []byte, width int, gain, offset float64) {
	if width == 2 {
		decode16(out, b, gain, offset)
		return
	}
	// Scale in float64, round once to float32: a float32 multiply-add loses digits when the
	// offset is large against the gain (24-bit BDF).
	_ = b[3*len(out)-1]
	for k := range out {
		v := int32(uint32(b[3*k])<<8|uint32(b[3*k+1])<<16|uint32(b[3*k+2])<<24) >> 8
		out[k] = float32(float64(v)*gain + offset)
	}
}

// decode16Scalar is the portable 16-bit loop (see decode16).
func decode16Scalar(out []float32, b []byte, g, o float64) {
	if len(out) == 0 {
		return
	}
	_ = b[2*len(out)-1]
	for k := range out {
		v := int16(binary.LittleEndian.Uint16(b[2*k:]))
		out[k] = float32(float64(v)*g + o)
	}
}

// ReadDigital returns the raw digital samples of signal s in record i.
func (r *Reader) ReadDigital(i, s int) ([]int32, error) {
	if s < 0 || s >= len(r.h.Signals) {
		return nil, fmt.Errorf("%s: signal %d out of range", r.name, s)
	}
	if i < 0 || i >= r.h.NumRecords {
		return nil, fmt.Errorf("%s: record %d out of range [0, %d)", r.name, i, r.h.NumRecords)
	}
	w := r.h.Format.Bytes()
	b := make([]byte, r.h.Signals[s].SamplesPerRecord*w)
	off := r.recordOffset(i) + int64(r.offsets[s])
	if _, err := r.r.ReadAt(b, off); err != nil {
		return nil, &Error{File: r.name, Offset: off, Field: fmt.Sprintf("data record %d signal %d", i, s+1), Err: err}
	}
	out := make([]int32, r.h.Signals[s].SamplesPerRecord)
	for k := range out {
		if w == 2 {
			out[k] = int32(int16(binary.LittleEndian.Uint16(b[2*k:])))
		} else {
			out[k] = int32(uint32(b[3*k])<<8|uint32(b[3*k+1])<<16|uint32(b[3*k+2])<<24) >> 8
		}
	}
	return out, nil
}

// Records calls fn for each record in order, reusing one Record (fn must copy what it keeps).
// It stops at the first error, or when ctx is cancelled.
func (r *Reader) Records(ctx context.Context, fn func(rec *Record) error) error {
	const chunkBytes = 4 << 20
	per := 1
	if r.recSize > 0 {
		per = max(1, chunkBytes/r.recSize)
	}
	buf := make([]byte, per*r.recSize)
	var rec Record
	for start := 0; start < r.h.NumRecords; start += per {
		if err := ctx.Err(); err != nil {
			return err
		}
		n := min(per, r.h.NumRecords-start)
		b := buf[:n*r.recSize]
		off := r.recordOffset(start)
		if _, err := r.r.ReadAt(b, off); err != nil {
			return &Error{File: r.name, Offset: off, Field: fmt.Sprintf("data records %d-%d", start, start+n-1), Err: err}
		}
		for k := 0; k < n; k++ {
			if err := r.decodeRecord(start+k, b[k*r.recSize:(k+1)*r.recSize], &rec); err != nil {
				return err
			}
			if err := fn(&rec); err != nil {
				return err
			}
		}
	}
	return nil
}

// Annotations reads every record's annotation signals and returns the annotations in file
// order, plus the onset of each record (seconds from the start; needed for EDF+D).
func (r *Reader) Annotations() ([]Annotation, []float64, error) {
	h := r.h
	onsets := make([]float64, h.NumRecords)
	for i := range onsets {
		onsets[i] = float64(i) * h.RecordDuration
	}
	ann := h.AnnotationSignals()
	if len(ann) == 0 {
		return nil, onsets, nil
	}
	var out []Annotation
	w := h.Format.Bytes()
	var buf []byte
	for i := 0; i < h.NumRecords; i++ {
		for k, s := range ann {
			n := h.Signals[s].SamplesPerRecord * w
			if cap(buf) < n {
				buf = make([]byte, n)
			}
			b := buf[:n]
			off := r.recordOffset(i) + int64(r.offsets[s])
			if _, err := r.r.ReadAt(b, off); err != nil {
				return nil, nil, &Error{File: r.name, Offset: off, Field: fmt.Sprintf("data record %d annotations", i), Err: err}
			}
			tals, err := ParseTALs(b, off)
			if err != nil {
				return nil, nil, &Error{File: r.name, Offset: off, Field: fmt.Sprintf("data record %d annotations", i), Err: err}
			}
			for j, t := range tals {
				if k == 0 && j == 0 {
					onsets[i] = t.Onset
					if len(t.Texts) == 0 {
						continue
					}
				}
				for _, txt := range t.Texts {
					out = append(out, Annotation{Onset: t.Onset, Duration: t.Duration, Text: txt})
				}
			}
		}
	}
	return out, onsets, nil
}

// Recording is a whole file decoded: the header, each data signal's physical samples
// (in the order of Header.DataSignals), the annotations and the record onsets.
type Recording struct {
	Header      *Header
	Signals     []int       // indices into Header.Signals of the data signals
	Samples     [][]float32 // Samples[k] belongs to Header.Signals[Signals[k]]
	Annotations []Annotation
	// RecordOnsets is the start of each record in seconds (from time-keeping TALs in EDF+;
	// evenly spaced otherwise). For EDF+D they show the gaps.
	RecordOnsets []float64
}

// ReadAll decodes the whole file into memory, reading it in chunks of records decoded in
// parallel. Use Records to stream a file that does not fit in memory.
func (r *Reader) ReadAll(ctx context.Context) (*Recording, error) {
	h := r.h
	out := &Recording{Header: h, Signals: h.DataSignals()}
	out.Samples = make([][]float32, len(out.Signals))
	for k, s := range out.Signals {
		out.Samples[k] = make([]float32, h.NumRecords*h.Signals[s].SamplesPerRecord)
	}
	ann, onsets, err := r.Annotations()
	if err != nil {
		return nil, err
	}
	out.Annotations, out.RecordOnsets = ann, onsets
	if r.recSize == 0 || h.NumRecords == 0 || len(out.Signals) == 0 {
		return out, nil
	}
	const chunkBytes = 2 << 20
	per := max(1, chunkBytes/r.recSize)
	nchunks := (h.NumRecords + per - 1) / per
	workers := min(runtime.GOMAXPROCS(0), nchunks)
	jobs := make(chan int)
	errc := make(chan error, workers)
	var wg sync.WaitGroup
	w := h.Format.Bytes()
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := make([]byte, per*r.recSize)
			for c := range jobs {
				start := c * per
				n := min(per, h.NumRecords-start)
				b := buf[:n*r.recSize]
				off := r.recordOffset(start)
				if _, err := r.r.ReadAt(b, off); err != nil {
					errc <- &Error{File: r.name, Offset: off, Field: fmt.Sprintf("data records %d-%d", start, start+n-1), Err: err}
					return
				}
				for k := 0; k < n; k++ {
					rec := b[k*r.recSize:]
					for j, s := range out.Signals {
						sh := &h.Signals[s]
						spr := sh.SamplesPerRecord
						dst := out.Samples[j][(start+k)*spr : (start+k+1)*spr]
						decode(dst, rec[r.offsets[s]:r.offsets[s]+spr*w], w, sh.Gain(), sh.Offset())
					}
				}
			}
		}()
	}
	var ferr error
feed:
	for c := range nchunks {
		select {
		case jobs <- c:
		case ferr = <-errc:
			break feed
		case <-ctx.Done():
			ferr = ctx.Err()
			break feed
		}
	}
	close(jobs)
	wg.Wait()
	if ferr == nil {
		select {
		case ferr = <-errc:
		default:
		}
	}
	if ferr != nil {
		return nil, ferr
	}
	return out, nil
}

// ReadFile opens path and decodes it whole.
func ReadFile(ctx context.Context, path string) (*Recording, error) {
	r, err := Open(path)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	return r.ReadAll(ctx)
}

// SampleRate returns the sample rate of the k-th data signal.
func (rec *Recording) SampleRate(k int) float64 { return rec.Header.SampleRate(rec.Signals[k]) }

// Signal returns the header of the k-th data signal.
func (rec *Recording) Signal(k int) *SignalHeader { return &rec.Header.Signals[rec.Signals[k]] }
