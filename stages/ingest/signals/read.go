package signals

import (
	"bufio"
	"context"
	"encoding/binary"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"strconv"
	"strings"

	"github.com/biopipe/biopipe/io/edf"
)

// fileData is what a reader returns for one input file, before pseudonymisation.
type fileData struct {
	segments    []*Segment // Recording/Subject/Source filled in by the caller
	annotations []Annotation
	// identifying fields of the header (EDF patient/recording), for the subject id and PHI hashes
	patient, recording string
	patientFields      []string
	recordingFields    []string
}

// readEDF reads an EDF/EDF+/BDF file. EDF+D files give one segment per contiguous run of
// records; channels not picked by sel are skipped.
func readEDF(ctx context.Context, path string, sel *Selector) (*fileData, error) {
	r, err := edf.Open(path)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	rec, err := r.ReadAll(ctx)
	if err != nil {
		return nil, err
	}
	h := rec.Header
	fd := &fileData{patient: h.Patient, recording: h.Recording, patientFields: h.PatientFields(), recordingFields: h.RecordingFields()}
	for _, a := range rec.Annotations {
		fd.annotations = append(fd.annotations, Annotation{Onset: a.Onset, Duration: a.Duration, Text: a.Text})
	}
	// Contiguous runs of records.
	var runs [][2]int // [first, end) record index
	start := 0
	for i := 1; i <= h.NumRecords; i++ {
		if i == h.NumRecords || math.Abs(rec.RecordOnsets[i]-(rec.RecordOnsets[i-1]+h.RecordDuration)) > 1e-6 {
			runs = append(runs, [2]int{start, i})
			start = i
		}
	}
	for si, run := range runs {
		seg := &Segment{Index: si, Onset: rec.RecordOnsets[run[0]]}
		for k := range rec.Signals {
			sh := rec.Signal(k)
			if !sel.Match(sh.Label) {
				continue
			}
			spr := sh.SamplesPerRecord
			data := rec.Samples[k][run[0]*spr : run[1]*spr]
			if len(runs) > 1 {
				data = append([]float32(nil), data...)
			}
			seg.Channels = append(seg.Channels, &Channel{Name: sh.Label, Unit: sh.PhysicalDimension, SampleRate: rec.SampleRate(k), Data: data})
		}
		seg.Channels = sel.Order(seg.Channels)
		fd.segments = append(fd.segments, seg)
	}
	if len(fd.segments) == 0 {
		fd.segments = []*Segment{{}}
	}
	return fd, nil
}

// RawOptions describe a raw interleaved binary file.
type RawOptions struct {
	DType        string // int16, int32, float32, float64
	Channels     int
	ChannelNames []string
	SampleRate   float64
	Scale        float64 // physical = digital × Scale
	BigEndian    bool
	Unit         string
}

// readRaw reads interleaved samples: frame t holds channel 0..n-1 of sample t.
func readRaw(path string, o RawOptions, sel *Selector) (*fileData, error) {
	width := map[string]int{"int16": 2, "int32": 4, "float32": 4, "float64": 8}[o.DType]
	if width == 0 {
		return nil, fmt.Errorf("%s: raw dtype %q is not one of int16, int32, float32, float64", path, o.DType)
	}
	if o.Channels <= 0 || o.SampleRate <= 0 {
		return nil, fmt.Errorf("%s: raw input needs channels and sample_rate", path)
	}
	names := o.ChannelNames
	if len(names) == 0 {
		for i := range o.Channels {
			names = append(names, fmt.Sprintf("ch%d", i+1))
		}
	}
	if len(names) != o.Channels {
		return nil, fmt.Errorf("%s: %d channel names for %d channels", path, len(names), o.Channels)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	frame := width * o.Channels
	if len(b)%frame != 0 {
		whole := len(b) / frame
		return nil, fmt.Errorf("%s: byte %d: frame %d truncated: file size %d is not a multiple of %d bytes (%d channels × %s)",
			path, whole*frame, whole, len(b), frame, o.Channels, o.DType)
	}
	n := len(b) / frame
	var bo binary.ByteOrder = binary.LittleEndian
	if o.BigEndian {
		bo = binary.BigEndian
	}
	scale := o.Scale
	if scale == 0 {
		scale = 1
	}
	seg := &Segment{}
	for c := 0; c < o.Channels; c++ {
		if !sel.Match(names[c]) {
			continue
		}
		data := make([]float32, n)
		for t := 0; t < n; t++ {
			p := b[t*frame+c*width:]
			var v float64
			switch o.DType {
			case "int16":
				v = float64(int16(bo.Uint16(p)))
			case "int32":
				v = float64(int32(bo.Uint32(p)))
			case "float32":
				v = float64(math.Float32frombits(bo.Uint32(p)))
			case "float64":
				v = math.Float64frombits(bo.Uint64(p))
			}
			data[t] = float32(v * scale)
		}
		seg.Channels = append(seg.Channels, &Channel{Name: names[c], Unit: o.Unit, SampleRate: o.SampleRate, Data: data})
	}
	seg.Channels = sel.Order(seg.Channels)
	return &fileData{segments: []*Segment{seg}}, nil
}

// CSVOptions describe a CSV file with a header row: one column per channel, optionally a
// time column (seconds) from which the sample rate is derived.
type CSVOptions struct {
	SampleRate float64
	TimeColumn string
	Delimiter  rune
	Unit       string
}

func readCSV(path string, o CSVOptions, sel *Selector) (*fileData, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	cr := csv.NewReader(bufio.NewReader(f))
	if o.Delimiter != 0 {
		cr.Comma = o.Delimiter
	}
	cr.ReuseRecord = true
	head, err := cr.Read()
	if err != nil {
		return nil, fmt.Errorf("%s: line 1: header: %w", path, err)
	}
	header := append([]string(nil), head...)
	timeCol := -1
	for i, h := range header {
		if o.TimeColumn != "" && h == o.TimeColumn {
			timeCol = i
		}
	}
	if o.TimeColumn != "" && timeCol < 0 {
		return nil, fmt.Errorf("%s: line 1: time column %q not found (columns: %s)", path, o.TimeColumn, strings.Join(header, ", "))
	}
	cols := make([][]float32, len(header))
	var times []float64
	line := 1
	for {
		row, err := cr.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		line++
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		for i, v := range row {
			x, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			if err != nil {
				return nil, fmt.Errorf("%s: line %d: column %q: %q is not a number", path, line, header[i], v)
			}
			if i == timeCol {
				times = append(times, x)
			} else {
				cols[i] = append(cols[i], float32(x))
			}
		}
	}
	rate := o.SampleRate
	if timeCol >= 0 && len(times) >= 2 {
		dt := (times[len(times)-1] - times[0]) / float64(len(times)-1)
		if dt <= 0 {
			return nil, fmt.Errorf("%s: time column %q does not increase", path, o.TimeColumn)
		}
		if rate == 0 {
			rate = 1 / dt
		}
	}
	if rate <= 0 {
		return nil, fmt.Errorf("%s: set csv.sample_rate or csv.time_column", path)
	}
	seg := &Segment{}
	if len(times) > 0 {
		seg.Onset = times[0]
	}
	for i, h := range header {
		if i == timeCol || !sel.Match(h) {
			continue
		}
		seg.Channels = append(seg.Channels, &Channel{Name: h, Unit: o.Unit, SampleRate: rate, Data: cols[i]})
	}
	seg.Channels = sel.Order(seg.Channels)
	return &fileData{segments: []*Segment{seg}}, nil
}
