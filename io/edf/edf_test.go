package edf

import (
	"bytes"
	"context"
	"errors"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/biopipe/biopipe/io/inspect"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// testHeader builds a header with two signals at different rates (plus annotations for +).
func testHeader(f Format) Header {
	lo, hi := -32768, 32767
	if f.Bytes() == 3 {
		lo, hi = -8388608, 8388607
	}
	h := Header{
		Format:         f,
		Patient:        "MCH-0234567 F 02-MAY-1951 Haagse_Harry",
		Recording:      "Startdate 02-MAR-2002 EMG561 BK/JOP Sony. MNC R Median Nerve.",
		Start:          time.Date(2002, 3, 2, 10, 5, 7, 0, time.UTC),
		RecordDuration: 0.5,
		Signals: []SignalHeader{
			{Label: "EEG Fpz-Cz", Transducer: "AgAgCl electrode", PhysicalDimension: "uV", PhysicalMin: -500, PhysicalMax: 500, DigitalMin: lo, DigitalMax: hi, Prefilter: "HP:0.1Hz", SamplesPerRecord: 64},
			{Label: "Resp", PhysicalDimension: "mV", PhysicalMin: -10, PhysicalMax: 20, DigitalMin: -2048, DigitalMax: 2047, SamplesPerRecord: 8},
		},
	}
	if f.Plus() {
		h.AddAnnotationSignal(120)
	}
	return h
}

func sine(n int, rate, freq, amp float64) []float64 {
	out := make([]float64, n)
	for i := range out {
		out[i] = amp * math.Sin(2*math.Pi*freq*float64(i)/rate)
	}
	return out
}

func TestRoundTrip(t *testing.T) {
	for _, f := range []Format{EDF, EDFPlus, BDF, BDFPlus} {
		t.Run(f.String(), func(t *testing.T) {
			h := testHeader(f)
			nrec := 20
			samples := make([][]float64, len(h.Signals))
			samples[0] = sine(nrec*64, 128, 10, 300)
			samples[1] = sine(nrec*8, 16, 1, 9.5)
			var annots []Annotation
			if f.Plus() {
				annots = []Annotation{{Onset: 1.25, Duration: 0.5, Text: "left"}, {Onset: 3, Duration: -1, Text: "right hand"}, {Onset: 3.1, Duration: 0, Text: "Ünïcode"}}
			}
			path := filepath.Join(t.TempDir(), "x.edf")
			require.NoError(t, WriteFile(path, h, samples, annots))
			rec, err := ReadFile(context.Background(), path)
			require.NoError(t, err)
			rh := rec.Header
			assert.Equal(t, f, rh.Format)
			assert.Equal(t, nrec, rh.NumRecords)
			assert.Equal(t, h.Patient, rh.Patient)
			assert.Equal(t, h.Start, rh.Start)
			assert.Equal(t, 0.5, rh.RecordDuration)
			require.Len(t, rec.Samples, 2)
			assert.Equal(t, 128.0, rec.SampleRate(0))
			assert.Equal(t, 16.0, rec.SampleRate(1))
			assert.Equal(t, "uV", rec.Signal(0).PhysicalDimension)
			for k := range rec.Samples {
				g := rec.Signal(k).Gain()
				require.Len(t, rec.Samples[k], len(samples[k]))
				for i, v := range rec.Samples[k] {
					require.InDelta(t, samples[k][i], float64(v), g/2+1e-4*math.Abs(samples[k][i])+1e-6, "signal %d sample %d", k, i)
				}
			}
			assert.Equal(t, annots, rec.Annotations)
			for i, o := range rec.RecordOnsets {
				assert.InDelta(t, float64(i)*0.5, o, 1e-12)
			}
			// The streaming API yields the same samples.
			r, err := Open(path)
			require.NoError(t, err)
			defer r.Close()
			var got []Annotation
			n := 0
			require.NoError(t, r.Records(context.Background(), func(x *Record) error {
				assert.Equal(t, rec.Samples[0][x.Index*64:(x.Index+1)*64], x.Samples[0])
				got = append(got, x.Annotations...)
				n++
				return nil
			}))
			assert.Equal(t, nrec, n)
			assert.Equal(t, annots, got)
			d, err := r.ReadDigital(3, 1)
			require.NoError(t, err)
			assert.Len(t, d, 8)
		})
	}
}

func TestDiscontinuous(t *testing.T) {
	h := testHeader(EDFPlus)
	h.Discontinuous = true
	path := filepath.Join(t.TempDir(), "d.edf")
	w, err := Create(path, h)
	require.NoError(t, err)
	onsets := []float64{0, 0.5, 10, 10.5}
	for i, o := range onsets {
		var ann []Annotation
		if i == 2 {
			ann = []Annotation{{Onset: 10.2, Duration: -1, Text: "after gap"}}
		}
		require.NoError(t, w.WriteRecord([][]float64{make([]float64, 64), make([]float64, 8), nil}, o, ann))
	}
	require.NoError(t, w.Close())
	rec, err := ReadFile(context.Background(), path)
	require.NoError(t, err)
	assert.True(t, rec.Header.Discontinuous)
	assert.Equal(t, onsets, rec.RecordOnsets)
	assert.Equal(t, []Annotation{{Onset: 10.2, Duration: -1, Text: "after gap"}}, rec.Annotations)
	sum, err := Summarize(context.Background(), path)
	require.NoError(t, err)
	assert.Equal(t, []Segment{{Onset: 0, Duration: 1, Records: 2}, {Onset: 10, Duration: 1, Records: 2}}, sum.Segments)
	var buf bytes.Buffer
	require.NoError(t, sum.WriteText(&buf))
	assert.Contains(t, buf.String(), "segments: 0s+1s, 10s+1s")
}

// writeValid writes a small valid EDF+ file and returns its bytes.
func writeValid(t *testing.T) []byte {
	h := testHeader(EDFPlus)
	path := filepath.Join(t.TempDir(), "v.edf")
	require.NoError(t, WriteFile(path, h, [][]float64{make([]float64, 3*64), make([]float64, 3*8), nil}, nil))
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	return b
}

func TestBadFiles(t *testing.T) {
	valid := writeValid(t)
	ns := 3
	put := func(b []byte, off int, s string) []byte {
		c := append([]byte(nil), b...)
		copy(c[off:], s)
		return c
	}
	cases := []struct {
		name   string
		data   []byte
		offset int64
		field  string
	}{
		{"short", valid[:100], 100, "header"},
		{"version", put(valid, 0, "1       "), 0, "version"},
		{"signal count", put(valid, 252, "5   "), 184, "number of bytes in header record"},
		{"garbled signal count", put(valid, 252, "x3  "), 252, "number of signals"},
		{"garbled record count", put(valid, 236, "3O      "), 236, "number of data records"},
		{"garbled duration", put(valid, 244, "0,5     "), 244, "duration of a data record"},
		{"garbled date", put(valid, 168, "32.13.02"), 168, "startdate/starttime"},
		{"garbled physical min", put(valid, 256+(16+80+8)*ns, "abc     "), int64(256 + (16+80+8)*ns), "signal 1 (\"EEG Fpz-Cz\") physical minimum"},
		{"garbled samples", put(valid, 256+(16+80+8+32+80)*ns+8, "-4      "), int64(256 + (16+80+8+32+80)*ns + 8), "signal 2 (\"Resp\") number of samples"},
		{"digital range", put(valid, 256+(16+80+8+16)*ns, "40000   "), int64(256 + (16+80+8+16)*ns), "signal 1 (\"EEG Fpz-Cz\") digital minimum/maximum"},
		{"record count too high", put(valid, 236, "4       "), 236, "number of data records"},
		{"record count too low", put(valid, 236, "2       "), 236, "number of data records"},
		{"truncated record", valid[:len(valid)-7], int64(256*(ns+1) + 2*(64+8+60)*2), "data record 2"},
		{"header cut", valid[:600], 600, "signal headers"},
		{"control byte", put(valid, 20, "\x01"), 20, "local patient identification"},
		{"non-ascii number", put(valid, 237, "\xe9"), 237, "number of data records"},
		{"control byte in label", put(valid, 257, "\x00"), 257, "signal 1 label"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), c.name+".edf")
			require.NoError(t, os.WriteFile(path, c.data, 0o644))
			_, err := Open(path)
			require.Error(t, err)
			var e *Error
			require.True(t, errors.As(err, &e), "%v", err)
			assert.Equal(t, path, e.File)
			assert.Equal(t, c.offset, e.Offset, "%v", err)
			assert.True(t, strings.HasPrefix(e.Field, c.field), "field %q, want prefix %q", e.Field, c.field)
			assert.Contains(t, err.Error(), path)
		})
	}
}

func TestBadTAL(t *testing.T) {
	valid := writeValid(t)
	ns := 3
	annOff := 256*(ns+1) + (64+8)*2 // first record's annotation signal
	c := append([]byte(nil), valid...)
	copy(c[annOff:], "+0\x14\x14\x00+x1\x14bad\x14\x00")
	path := filepath.Join(t.TempDir(), "tal.edf")
	require.NoError(t, os.WriteFile(path, c, 0o644))
	_, err := ReadFile(context.Background(), path)
	var e *Error
	require.True(t, errors.As(err, &e), "%v", err)
	assert.Equal(t, int64(annOff), e.Offset)
	assert.Contains(t, err.Error(), "TAL onset")
}

func TestParseTALs(t *testing.T) {
	cases := []struct {
		in   string
		want []TAL
		err  bool
	}{
		{"+0\x14\x14\x00\x00\x00", []TAL{{Onset: 0, Duration: -1}}, false},
		{"+180\x14Lights off\x14Close door\x14\x00", []TAL{{Onset: 180, Duration: -1, Texts: []string{"Lights off", "Close door"}}}, false},
		{"+1800.2\x1525.5\x14Apnea\x14\x00+3.5\x14\x14\x00", []TAL{{Onset: 1800.2, Duration: 25.5, Texts: []string{"Apnea"}}, {Onset: 3.5, Duration: -1}}, false},
		{"-0.065\x14Pre-stimulus beep 1000Hz\x14\x00", []TAL{{Onset: -0.065, Duration: -1, Texts: []string{"Pre-stimulus beep 1000Hz"}}}, false},
		{"0\x14\x14\x00", nil, true},
		{"+1\x15\x14x\x14\x00", nil, true},
		{"+1\x14x\x00", nil, true},
		{"+1\x14x\x14", nil, true},
		{"+1e3\x14x\x14\x00", nil, true},
	}
	for _, c := range cases {
		got, err := ParseTALs([]byte(c.in), 0)
		if c.err {
			assert.Error(t, err, "%q", c.in)
			continue
		}
		require.NoError(t, err, "%q", c.in)
		assert.Equal(t, c.want, got, "%q", c.in)
	}
}

func TestAppendTALRoundTrip(t *testing.T) {
	tals := []TAL{{Onset: 0, Duration: -1}, {Onset: 12.125, Duration: 0.25, Texts: []string{"a", "b c"}}, {Onset: -1.5, Duration: -1, Texts: []string{"neg"}}}
	var b []byte
	for _, x := range tals {
		b = AppendTAL(b, x)
	}
	got, err := ParseTALs(append(b, 0, 0, 0), 0)
	require.NoError(t, err)
	assert.Equal(t, tals, got)
}

func TestFormatNumber(t *testing.T) {
	for _, c := range []struct {
		v    float64
		want string
	}{{0.5, "0.5"}, {-500, "-500"}, {3200.1234567, "3200.123"}, {-0.000001, "-0.00000"}, {1e9, "1e+09"}, {1, "1"}} {
		got := formatNumber(c.v)
		assert.LessOrEqual(t, len(got), 8)
		if c.want != "-0.00000" {
			assert.Equal(t, c.want, got)
		}
	}
}

func FuzzParseHeader(f *testing.F) {
	h := testHeader(EDFPlus)
	h.NumRecords = 3
	f.Add(EncodeHeader(&h))
	b := testHeader(BDF)
	f.Add(EncodeHeader(&b))
	f.Fuzz(func(t *testing.T, data []byte) {
		h, err := ParseHeader("fuzz", data)
		if err != nil {
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("error is not *Error: %v", err)
			}
			return
		}
		if len(h.Signals)*256+256 != h.HeaderBytes {
			t.Fatalf("header bytes %d for %d signals", h.HeaderBytes, len(h.Signals))
		}
		// A parsed header re-encodes to a header that parses to the same signals.
		h2, err := ParseHeader("re", EncodeHeader(h))
		if err != nil {
			t.Fatalf("re-encoded header does not parse: %v", err)
		}
		if len(h2.Signals) != len(h.Signals) {
			t.Fatalf("signal count changed")
		}
	})
}

func FuzzParseTALs(f *testing.F) {
	f.Add([]byte("+0\x14\x14\x00+1.5\x152\x14x\x14\x00"))
	f.Add([]byte("+180\x14Lights off\x14Close door\x14\x00"))
	f.Fuzz(func(t *testing.T, data []byte) {
		tals, err := ParseTALs(data, 0)
		if err != nil {
			return
		}
		var b []byte
		for _, x := range tals {
			b = AppendTAL(b, x)
		}
		again, err := ParseTALs(b, 0)
		if err != nil {
			t.Fatalf("re-encoded TALs do not parse: %v (%q)", err, b)
		}
		if len(again) != len(tals) {
			t.Fatalf("TAL count %d != %d", len(again), len(tals))
		}
	})
}

func TestInspect(t *testing.T) {
	h := testHeader(EDFPlus)
	nrec := 4
	samples := [][]float64{make([]float64, nrec*64), make([]float64, nrec*8), nil}
	for i := range samples[0] {
		samples[0][i] = float64(i%7) * 10
	}
	for i := range samples[1] {
		samples[1][i] = 5
	}
	path := filepath.Join(t.TempDir(), "rec.edf")
	require.NoError(t, WriteFile(path, h, samples, []Annotation{{Onset: 1, Duration: 0.5, Text: "T1"}}))
	in, err := inspect.Find(path)
	require.NoError(t, err)
	assert.Equal(t, "edf", in.Name)
	v, err := in.Inspect(context.Background(), path)
	require.NoError(t, err)
	s := v.(*Summary)
	assert.Equal(t, "EDF+", s.Format)
	assert.Equal(t, h.Patient, s.Patient)
	assert.Equal(t, 4, s.NumRecords)
	require.Len(t, s.Signals, 2)
	g := s.Signals[0]
	assert.Equal(t, "EEG Fpz-Cz", g.Label)
	assert.Equal(t, 128.0, g.SampleRate)
	assert.Equal(t, 256, g.NSamples)
	require.Len(t, g.First, 10)
	var mean, sq float64
	for _, x := range samples[0] {
		mean += x
	}
	mean /= float64(len(samples[0]))
	for _, x := range samples[0] {
		sq += (x - mean) * (x - mean)
	}
	std := math.Sqrt(sq / float64(len(samples[0])))
	for i := range g.First {
		assert.InDelta(t, samples[0][i], g.First[i], 0.01)
	}
	assert.InDelta(t, mean, g.Mean, 0.01)
	assert.InDelta(t, std, g.Std, 0.01)
	assert.InDelta(t, 5, s.Signals[1].Mean, 0.01)
	assert.InDelta(t, 0, s.Signals[1].Std, 1e-3)
	assert.Equal(t, []Annotation{{Onset: 1, Duration: 0.5, Text: "T1"}}, s.Annotations)
	assert.Equal(t, []Segment{{Onset: 0, Duration: 2, Records: 4}}, s.Segments)
	var buf bytes.Buffer
	require.NoError(t, in.Text(&buf, v))
	assert.Contains(t, buf.String(), "EEG Fpz-Cz")
	assert.Contains(t, buf.String(), "T1")
	buf.Reset()
	require.NoError(t, inspect.WriteJSON(&buf, v))
	assert.Contains(t, buf.String(), `"physical_dimension": "uV"`)
	assert.Contains(t, buf.String(), `"n_samples": 256`)
}

// FuzzReader feeds whole files (header and records) to the reader: it may reject them, but
// only with an error, and what it accepts decodes to the stated number of samples.
func FuzzReader(f *testing.F) {
	h := testHeader(EDFPlus)
	dir := f.TempDir()
	for _, format := range []Format{EDFPlus, BDF} {
		h = testHeader(format)
		path := filepath.Join(dir, format.String())
		samples := make([][]float64, len(h.Signals))
		for s := range h.Signals {
			if !h.Signals[s].IsAnnotation() {
				samples[s] = make([]float64, 2*h.Signals[s].SamplesPerRecord)
			}
		}
		var ann []Annotation
		if format.Plus() {
			ann = []Annotation{{Onset: 0.1, Duration: 0.2, Text: "x"}}
		}
		if err := WriteFile(path, h, samples, ann); err != nil {
			f.Fatal(err)
		}
		b, err := os.ReadFile(path)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := NewReader(bytes.NewReader(data), int64(len(data)), "fuzz")
		if err != nil {
			return
		}
		rec, err := r.ReadAll(context.Background())
		if err != nil {
			return
		}
		for k, s := range rec.Signals {
			if len(rec.Samples[k]) != r.Header().NumRecords*r.Header().Signals[s].SamplesPerRecord {
				t.Fatalf("signal %d: %d samples", s, len(rec.Samples[k]))
			}
		}
		_ = r.Records(context.Background(), func(*Record) error { return nil })
	})
}

func TestLatin1Header(t *testing.T) {
	valid := writeValid(t)
	b := append([]byte(nil), valid...)
	copy(b[8:], "MCH-1 F X Ren\xe9e")
	copy(b[256:], "EEG F\xfc")
	path := filepath.Join(t.TempDir(), "l.edf")
	require.NoError(t, os.WriteFile(path, b, 0o644))
	r, err := Open(path)
	require.NoError(t, err)
	defer r.Close()
	assert.Contains(t, r.Header().Patient, "Renée")
	assert.Equal(t, "EEG Fü", r.Header().Signals[0].Label[:7])
}

func TestPlusDefaultsAndUnknownRecordCount(t *testing.T) {
	h := testHeader(EDFPlus)
	h.Patient, h.Recording = "", ""
	path := filepath.Join(t.TempDir(), "d.edf")
	require.NoError(t, WriteFile(path, h, [][]float64{make([]float64, 2*64), make([]float64, 2*8), nil}, nil))
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	copy(b[236:244], "-1      ") // "unknown" record count, as a recorder leaves it
	require.NoError(t, os.WriteFile(path, b, 0o644))
	r, err := Open(path)
	require.NoError(t, err)
	defer r.Close()
	assert.Equal(t, 2, r.Header().NumRecords)
	assert.Equal(t, "X X X X", r.Header().Patient)
	assert.Equal(t, "Startdate 02-MAR-2002 X X X", r.Header().Recording)
	assert.Equal(t, 2002, r.Header().Start.Year())
}

func TestWriteFileSpillsAnnotations(t *testing.T) {
	h := testHeader(EDFPlus)
	h.Signals[2].SamplesPerRecord = 20 // 40 bytes: time keeping + one short TAL per record
	var annots []Annotation
	for i := range 5 {
		annots = append(annots, Annotation{Onset: 0.1 + 0.01*float64(i), Duration: -1, Text: "e" + string(rune('a'+i))})
	}
	path := filepath.Join(t.TempDir(), "spill.edf")
	require.NoError(t, WriteFile(path, h, [][]float64{make([]float64, 8*64), make([]float64, 8*8), nil}, annots))
	rec, err := ReadFile(context.Background(), path)
	require.NoError(t, err)
	assert.Equal(t, annots, rec.Annotations)
	// Too many for the whole file: an error, and no file left behind.
	path2 := filepath.Join(t.TempDir(), "full.edf")
	err = WriteFile(path2, h, [][]float64{make([]float64, 2*64), make([]float64, 2*8), nil}, annots)
	assert.ErrorContains(t, err, "do not fit")
	_, statErr := os.Stat(path2)
	assert.True(t, os.IsNotExist(statErr))
}
