// Package tensorboard writes and reads TensorBoard event files (events.out.tfevents.*):
// scalars, histograms and PNG images, with no TensorFlow.
//
// An event file is a sequence of TFRecords, each
//
//	uint64 length (little endian) | uint32 masked CRC32C of the length | data | uint32 masked CRC32C of data
//
// where masked(c) = ((c >> 15) | (c << 17)) + 0xa282ead8 (Castagnoli polynomial), and each
// record's data is an Event protocol buffer (TensorFlow's event.proto: wall_time = 1 double,
// step = 2 int64, file_version = 3 string, summary = 5 Summary). A Summary (summary.proto)
// holds repeated Value = 1 {tag = 1, simple_value = 2 float, image = 4 {height = 1,
// width = 2, colorspace = 3, encoded_image_string = 4}, histo = 5 HistogramProto {min = 1,
// max = 2, num = 3, sum = 4, sum_squares = 5, packed bucket_limit = 6, packed bucket = 7}}.
// The first event of a file carries file_version "brain.Event:2". The protocol buffers are
// encoded by hand (proto3 wire format) and decoded by Read, which checks every CRC.
//
// Event files carry wall-clock times, so they belong in a run's folder (runs/<id>/), never
// inside a cached artifact.
package tensorboard

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"image"
	"image/color"
	_ "image/png" // DecodeConfig of the PNGs given to Image
	"math"
	"os"
	"path/filepath"
	"sort"
	"time"
)

// FileVersion is the file_version of an event file's first event.
const FileVersion = "brain.Event:2"

// FilePrefix starts every event file name; TensorBoard looks for files containing "tfevents".
const FilePrefix = "events.out.tfevents."

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// MaskedCRC is TFRecord's masked CRC32C of b.
func MaskedCRC(b []byte) uint32 {
	c := crc32.Checksum(b, castagnoli)
	return ((c >> 15) | (c << 17)) + 0xa282ead8
}

// RunDir is where a pipeline stage writes its events: <runDir>/tensorboard/<stageID>, so
// that tensorboard --logdir <workdir>/runs shows every run's stages side by side; "" when
// runDir is "" (outside a pipeline run).
func RunDir(runDir, stageID string) string {
	if runDir == "" {
		return ""
	}
	return filepath.Join(runDir, "tensorboard", stageID)
}

// Writer appends events to one event file.
type Writer struct {
	f    *os.File
	w    *bufio.Writer
	path string
	now  func() time.Time
}

// Create makes dir (and its parents) and starts a new event file in it, named
// events.out.tfevents.<unix seconds>.biopipe (a number suffix keeps names unique).
func Create(dir string) (*Writer, error) {
	return create(dir, time.Now)
}

func create(dir string, now func() time.Time) (*Writer, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("tensorboard: %w", err)
	}
	base := fmt.Sprintf("%s%d.biopipe", FilePrefix, now().Unix())
	path := filepath.Join(dir, base)
	var f *os.File
	var err error
	for i := 1; ; i++ {
		f, err = os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
		if !errors.Is(err, os.ErrExist) || i > 1000 {
			break
		}
		path = filepath.Join(dir, fmt.Sprintf("%s.%d", base, i))
	}
	if err != nil {
		return nil, fmt.Errorf("tensorboard: %w", err)
	}
	w := &Writer{f: f, w: bufio.NewWriter(f), path: path, now: now}
	ev := appendDouble(nil, 1, w.wallTime())
	ev = appendBytes(ev, 3, []byte(FileVersion))
	if err := w.record(ev); err != nil {
		f.Close()
		return nil, err
	}
	return w, nil
}

// Path is the event file's path.
func (w *Writer) Path() string { return w.path }

func (w *Writer) wallTime() float64 { return float64(w.now().UnixNano()) / 1e9 }

// record writes one TFRecord.
func (w *Writer) record(data []byte) error {
	var hdr [8]byte
	binary.LittleEndian.PutUint64(hdr[:], uint64(len(data)))
	var crc [4]byte
	binary.LittleEndian.PutUint32(crc[:], MaskedCRC(hdr[:]))
	var dcrc [4]byte
	binary.LittleEndian.PutUint32(dcrc[:], MaskedCRC(data))
	for _, b := range [][]byte{hdr[:], crc[:], data, dcrc[:]} {
		if _, err := w.w.Write(b); err != nil {
			return fmt.Errorf("tensorboard: %s: %w", w.path, err)
		}
	}
	return nil
}

// summary writes an Event with one Summary.Value (already encoded, without its tag).
func (w *Writer) summary(step int64, tag string, value []byte) error {
	v := appendBytes(nil, 1, []byte(tag))
	v = append(v, value...)
	s := appendBytes(nil, 1, v)
	ev := appendDouble(nil, 1, w.wallTime())
	ev = appendVarint(appendKey(ev, 2, wireVarint), uint64(step))
	ev = appendBytes(ev, 5, s)
	return w.record(ev)
}

// Scalar writes a scalar (the Scalars dashboard).
func (w *Writer) Scalar(tag string, step int64, value float64) error {
	return w.summary(step, tag, appendFloat(nil, 2, float32(value)))
}

// Histogram writes the distribution of values in equal-width buckets (the Histograms and
// Distributions dashboards). NaN and infinite values are left out.
func (w *Writer) Histogram(tag string, step int64, values []float64, buckets int) error {
	h := NewHistogram(values, buckets)
	return w.summary(step, tag, appendBytes(nil, 5, h.encode()))
}

// Image writes a PNG (the Images dashboard); its size and colour space come from the PNG.
func (w *Writer) Image(tag string, step int64, png []byte) error {
	cfg, format, err := image.DecodeConfig(bytes.NewReader(png))
	if err != nil || format != "png" {
		return fmt.Errorf("tensorboard: image %q is not a PNG: %v", tag, err)
	}
	img := appendVarint(appendKey(nil, 1, wireVarint), uint64(cfg.Height))
	img = appendVarint(appendKey(img, 2, wireVarint), uint64(cfg.Width))
	img = appendVarint(appendKey(img, 3, wireVarint), uint64(colorspace(cfg.ColorModel)))
	img = appendBytes(img, 4, png)
	return w.summary(step, tag, appendBytes(nil, 4, img))
}

// Flush writes buffered events to the file.
func (w *Writer) Flush() error {
	if err := w.w.Flush(); err != nil {
		return fmt.Errorf("tensorboard: %s: %w", w.path, err)
	}
	return nil
}

// Close flushes and closes the file.
func (w *Writer) Close() error {
	err := w.Flush()
	if cerr := w.f.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("tensorboard: %s: %w", w.path, cerr)
	}
	return err
}

// Histogram is TensorFlow's HistogramProto: Bucket[i] values fell in
// (BucketLimit[i-1], BucketLimit[i]] (the first from -inf).
type Histogram struct {
	Min, Max, Num, Sum, SumSquares float64
	BucketLimit, Bucket            []float64
}

// NewHistogram bins the finite values in buckets equal-width buckets between their min and
// max (one bucket when they are all equal).
func NewHistogram(values []float64, buckets int) Histogram {
	buckets = max(buckets, 1)
	h := Histogram{Min: math.Inf(1), Max: math.Inf(-1)}
	var finite []float64
	for _, v := range values {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			continue
		}
		finite = append(finite, v)
		h.Min, h.Max = math.Min(h.Min, v), math.Max(h.Max, v)
		h.Sum += v
		h.SumSquares += v * v
	}
	h.Num = float64(len(finite))
	if len(finite) == 0 {
		h.Min, h.Max = 0, 0
		return h
	}
	if h.Max == h.Min {
		h.BucketLimit, h.Bucket = []float64{h.Max}, []float64{h.Num}
		return h
	}
	width := (h.Max - h.Min) / float64(buckets)
	h.BucketLimit = make([]float64, buckets)
	h.Bucket = make([]float64, buckets)
	for i := range h.BucketLimit {
		h.BucketLimit[i] = h.Min + float64(i+1)*width
	}
	h.BucketLimit[buckets-1] = h.Max
	for _, v := range finite {
		i := sort.SearchFloat64s(h.BucketLimit, v) // first limit >= v
		h.Bucket[min(i, buckets-1)]++
	}
	return h
}

func (h Histogram) encode() []byte {
	b := appendDouble(nil, 1, h.Min)
	b = appendDouble(b, 2, h.Max)
	b = appendDouble(b, 3, h.Num)
	b = appendDouble(b, 4, h.Sum)
	b = appendDouble(b, 5, h.SumSquares)
	b = appendPackedDoubles(b, 6, h.BucketLimit)
	return appendPackedDoubles(b, 7, h.Bucket)
}

// colorspace is summary.proto's Image.colorspace for a PNG colour model: 1 grayscale,
// 4 RGBA (PNGs with an alpha channel), 3 RGB otherwise.
func colorspace(m color.Model) int {
	switch m {
	case color.GrayModel, color.Gray16Model:
		return 1
	case color.NRGBAModel, color.NRGBA64Model:
		return 4
	}
	return 3
}

// Protocol buffer wire format (proto3).

const (
	wireVarint  = 0
	wireFixed64 = 1
	wireBytes   = 2
	wireFixed32 = 5
)

func appendKey(b []byte, field, wire int) []byte {
	return appendVarint(b, uint64(field)<<3|uint64(wire))
}

func appendVarint(b []byte, v uint64) []byte { return binary.AppendUvarint(b, v) }

func appendBytes(b []byte, field int, v []byte) []byte {
	b = appendVarint(appendKey(b, field, wireBytes), uint64(len(v)))
	return append(b, v...)
}

func appendDouble(b []byte, field int, v float64) []byte {
	return binary.LittleEndian.AppendUint64(appendKey(b, field, wireFixed64), math.Float64bits(v))
}

func appendFloat(b []byte, field int, v float32) []byte {
	return binary.LittleEndian.AppendUint32(appendKey(b, field, wireFixed32), math.Float32bits(v))
}

func appendPackedDoubles(b []byte, field int, vs []float64) []byte {
	if len(vs) == 0 {
		return b
	}
	var p []byte
	for _, v := range vs {
		p = binary.LittleEndian.AppendUint64(p, math.Float64bits(v))
	}
	return appendBytes(b, field, p)
}
