// Package edf reads and writes European Data Format recordings: EDF, EDF+ (continuous and
// discontinuous, with Time-stamped Annotation Lists) and BDF/BDF+ (24-bit samples), following
// the published specifications (https://www.edfplus.info/specs/). The reader works record by
// record, so a file of any size can be streamed; ReadAll decodes a whole file into float32.
package edf

import (
	"bytes"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// Format is the variant of a file.
type Format int

// Formats.
const (
	EDF     Format = iota // EDF (1992), 16-bit
	EDFPlus               // EDF+ ("EDF+C" or "EDF+D" in the reserved field)
	BDF                   // BioSemi BDF, 24-bit
	BDFPlus               // BDF+ ("BDF+C" or "BDF+D")
)

func (f Format) String() string {
	switch f {
	case EDF:
		return "EDF"
	case EDFPlus:
		return "EDF+"
	case BDF:
		return "BDF"
	case BDFPlus:
		return "BDF+"
	}
	return "format(" + strconv.Itoa(int(f)) + ")"
}

// Plus reports whether the format is EDF+ or BDF+ (annotation signals, structured fields).
func (f Format) Plus() bool { return f == EDFPlus || f == BDFPlus }

// Bytes is the size of one sample: 2 for EDF, 3 for BDF.
func (f Format) Bytes() int {
	if f == BDF || f == BDFPlus {
		return 3
	}
	return 2
}

// AnnotationLabel is the label of an EDF+ annotation signal ("BDF Annotations" in BDF+).
const (
	AnnotationLabel    = "EDF Annotations"
	BDFAnnotationLabel = "BDF Annotations"
)

// Header is the fixed part of a file header plus one SignalHeader per signal.
type Header struct {
	Format Format
	// Patient and Recording are the raw 80-character identification fields (trimmed).
	// They may hold identifying information.
	Patient   string
	Recording string
	// Start is the start date and time of the recording (the clock time in the header,
	// no time zone; stored as UTC). EDF+ files take the four-digit year from the
	// recording field when it holds one; the start's sub-second part comes from the
	// first record's time-keeping annotation.
	Start time.Time
	// HeaderBytes is the size of the header as stated (256 + 256*len(Signals)).
	HeaderBytes int
	// Reserved is the 44-character reserved field ("EDF+C", "EDF+D", "24BIT", "BDF+C" ...).
	Reserved string
	// NumRecords is the number of data records (-1 in a header means unknown; the reader
	// then derives it from the file size).
	NumRecords int
	// RecordDuration is the duration of one data record in seconds (0 for files that hold
	// only annotations).
	RecordDuration float64
	Signals        []SignalHeader
	// Discontinuous is true for EDF+D / BDF+D files: records may have gaps between them.
	Discontinuous bool
}

// SignalHeader describes one signal.
type SignalHeader struct {
	Label             string
	Transducer        string
	PhysicalDimension string
	PhysicalMin       float64
	PhysicalMax       float64
	DigitalMin        int
	DigitalMax        int
	Prefilter         string
	SamplesPerRecord  int
	Reserved          string
}

// IsAnnotation reports whether the signal is an EDF+/BDF+ annotation signal.
func (s *SignalHeader) IsAnnotation() bool {
	return s.Label == AnnotationLabel || s.Label == BDFAnnotationLabel
}

// Gain and Offset map a digital value d to its physical value Gain*d + Offset.
func (s *SignalHeader) Gain() float64 {
	return (s.PhysicalMax - s.PhysicalMin) / float64(s.DigitalMax-s.DigitalMin)
}

// Offset is the physical value of digital 0 (see Gain).
func (s *SignalHeader) Offset() float64 {
	return s.PhysicalMin - s.Gain()*float64(s.DigitalMin)
}

// SampleRate returns the sample rate of signal i in Hz (0 when the record duration is 0).
func (h *Header) SampleRate(i int) float64 {
	if h.RecordDuration <= 0 {
		return 0
	}
	return float64(h.Signals[i].SamplesPerRecord) / h.RecordDuration
}

// RecordSize returns the size of one data record in bytes.
func (h *Header) RecordSize() int {
	n := 0
	for i := range h.Signals {
		n += h.Signals[i].SamplesPerRecord
	}
	return n * h.Format.Bytes()
}

// DataSignals returns the indices of the signals that are not annotation signals.
func (h *Header) DataSignals() []int {
	var out []int
	for i := range h.Signals {
		if !h.Signals[i].IsAnnotation() {
			out = append(out, i)
		}
	}
	return out
}

// AnnotationSignals returns the indices of the annotation signals.
func (h *Header) AnnotationSignals() []int {
	var out []int
	for i := range h.Signals {
		if h.Signals[i].IsAnnotation() {
			out = append(out, i)
		}
	}
	return out
}

// Duration returns the recorded duration in seconds (records × record duration).
func (h *Header) Duration() float64 { return float64(h.NumRecords) * h.RecordDuration }

// PatientFields splits an EDF+ patient field into its subfields: code, sex, birthdate, name
// (and any further subfields). "X" marks an unknown subfield. For plain EDF it returns nil.
func (h *Header) PatientFields() []string {
	if !h.Format.Plus() {
		return nil
	}
	return strings.Fields(h.Patient)
}

// RecordingFields splits an EDF+ recording field: "Startdate", date, admin code, technician,
// equipment (and further subfields). For plain EDF it returns nil.
func (h *Header) RecordingFields() []string {
	if !h.Format.Plus() {
		return nil
	}
	return strings.Fields(h.Recording)
}

// Error is a malformed or inconsistent file: it names the file, the header field (or data
// record) and the byte offset where the problem is.
type Error struct {
	File   string
	Offset int64
	Field  string
	Err    error
}

func (e *Error) Error() string {
	name := e.File
	if name == "" {
		name = "<edf>"
	}
	return fmt.Sprintf("%s: byte %d: %s: %v", name, e.Offset, e.Field, e.Err)
}

// Unwrap returns the underlying error.
func (e *Error) Unwrap() error { return e.Err }

// Field sizes of the fixed header and of each per-signal field.
const (
	fixedHeaderSize = 256
	signalHeaderLen = 256
	maxSignals      = 4096
)

var signalFieldSizes = []struct {
	name string
	size int
}{
	{"label", 16}, {"transducer type", 80}, {"physical dimension", 8},
	{"physical minimum", 8}, {"physical maximum", 8}, {"digital minimum", 8},
	{"digital maximum", 8}, {"prefiltering", 80}, {"number of samples in each data record", 8},
	{"reserved", 32},
}

var months = []string{"JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"}

// ParseFixedHeader parses the first 256 bytes of a header. It returns the header without
// signals and the number of signals that the full header holds.
func ParseFixedHeader(name string, b []byte) (*Header, int, error) {
	fail := func(off int, field string, format string, args ...any) (*Header, int, error) {
		return nil, 0, &Error{File: name, Offset: int64(off), Field: field, Err: fmt.Errorf(format, args...)}
	}
	if len(b) < fixedHeaderSize {
		return fail(len(b), "header", "file is %d bytes, shorter than the 256-byte fixed header", len(b))
	}
	h := &Header{}
	switch {
	case b[0] == 0xFF && string(b[1:8]) == "BIOSEMI":
		h.Format = BDF
	case string(b[0:8]) == "0       ":
		h.Format = EDF
	default:
		return fail(0, "version", "%q is neither EDF (\"0       \") nor BDF (0xFF \"BIOSEMI\")", b[0:8])
	}
	// The specification allows printable US-ASCII only. Control bytes are an error; bytes
	// above 126 in the identification fields (names with accents, written by some
	// recorders) are read as Latin-1 rather than rejected.
	for i := 8; i < fixedHeaderSize; i++ {
		if b[i] < 32 || (b[i] > 126 && i >= 168) {
			return fail(i, fieldAt(i), "byte 0x%02x is not printable ASCII", b[i])
		}
	}
	h.Patient = latin1(b[8:88])
	h.Recording = latin1(b[88:168])
	h.Reserved = strings.TrimRight(string(b[192:236]), " ")
	switch {
	case strings.HasPrefix(h.Reserved, "EDF+C"), strings.HasPrefix(h.Reserved, "EDF+D"):
		if h.Format == BDF {
			return fail(192, "reserved", "BDF file declares %q", h.Reserved[:5])
		}
		h.Format = EDFPlus
		h.Discontinuous = h.Reserved[4] == 'D'
	case strings.HasPrefix(h.Reserved, "BDF+C"), strings.HasPrefix(h.Reserved, "BDF+D"):
		if h.Format == EDF {
			return fail(192, "reserved", "EDF file declares %q", h.Reserved[:5])
		}
		h.Format = BDFPlus
		h.Discontinuous = h.Reserved[4] == 'D'
	}
	start, err := parseStart(string(b[168:176]), string(b[176:184]))
	if err != nil {
		return fail(168, "startdate/starttime", "%v", err)
	}
	if h.Format.Plus() {
		// EDF+: "Startdate dd-MMM-yyyy ..." gives the four-digit year.
		if f := strings.Fields(h.Recording); len(f) >= 2 && f[0] == "Startdate" && f[1] != "X" {
			if t, err := time.Parse("02-Jan-2006", titleMonth(f[1])); err == nil {
				start = time.Date(t.Year(), start.Month(), start.Day(), start.Hour(), start.Minute(), start.Second(), 0, time.UTC)
			}
		}
	}
	h.Start = start
	if h.HeaderBytes, err = parseInt(b[184:192]); err != nil {
		return fail(184, "number of bytes in header record", "%v", err)
	}
	if h.NumRecords, err = parseInt(b[236:244]); err != nil {
		return fail(236, "number of data records", "%v", err)
	}
	if h.NumRecords < -1 {
		return fail(236, "number of data records", "%d is negative", h.NumRecords)
	}
	if h.RecordDuration, err = parseFloat(b[244:252]); err != nil {
		return fail(244, "duration of a data record", "%v", err)
	}
	if h.RecordDuration < 0 {
		return fail(244, "duration of a data record", "%g is negative", h.RecordDuration)
	}
	ns, err := parseInt(b[252:256])
	if err != nil {
		return fail(252, "number of signals", "%v", err)
	}
	if ns < 0 || ns > maxSignals {
		return fail(252, "number of signals", "%d is out of range [0, %d]", ns, maxSignals)
	}
	if h.HeaderBytes != fixedHeaderSize+signalHeaderLen*ns {
		return fail(184, "number of bytes in header record", "%d does not match %d signals (want %d)",
			h.HeaderBytes, ns, fixedHeaderSize+signalHeaderLen*ns)
	}
	return h, ns, nil
}

func fieldAt(off int) string {
	switch {
	case off < 88:
		return "local patient identification"
	case off < 168:
		return "local recording identification"
	case off < 176:
		return "startdate"
	case off < 184:
		return "starttime"
	case off < 192:
		return "number of bytes in header record"
	case off < 236:
		return "reserved"
	case off < 244:
		return "number of data records"
	case off < 252:
		return "duration of a data record"
	}
	return "number of signals"
}

func titleMonth(s string) string {
	if len(s) == 11 {
		return s[:3] + s[3:4] + strings.ToLower(s[4:6]) + s[6:]
	}
	return s
}

// ParseHeader parses a complete header (fixed part and signal headers). b must hold at least
// the number of bytes the fixed part states.
func ParseHeader(name string, b []byte) (*Header, error) {
	h, ns, err := ParseFixedHeader(name, b)
	if err != nil {
		return nil, err
	}
	if len(b) < h.HeaderBytes {
		return nil, &Error{File: name, Offset: int64(len(b)), Field: "signal headers",
			Err: fmt.Errorf("file ends inside the header: %d signals need %d header bytes, have %d", ns, h.HeaderBytes, len(b))}
	}
	h.Signals = make([]SignalHeader, ns)
	off := fixedHeaderSize
	for _, f := range signalFieldSizes {
		for i := 0; i < ns; i++ {
			raw := b[off : off+f.size]
			text := f.name == "label" || f.name == "transducer type" || f.name == "physical dimension" || f.name == "prefiltering"
			for j, c := range raw {
				if c < 32 || (c > 126 && !text) {
					return nil, &Error{File: name, Offset: int64(off + j), Field: fmt.Sprintf("signal %d %s", i+1, f.name),
						Err: fmt.Errorf("byte 0x%02x is not printable ASCII", c)}
				}
			}
			s := &h.Signals[i]
			var err error
			switch f.name {
			case "label":
				s.Label = latin1(raw)
			case "transducer type":
				s.Transducer = latin1(raw)
			case "physical dimension":
				s.PhysicalDimension = latin1(raw)
			case "physical minimum":
				s.PhysicalMin, err = parseFloat(raw)
			case "physical maximum":
				s.PhysicalMax, err = parseFloat(raw)
			case "digital minimum":
				s.DigitalMin, err = parseInt(raw)
			case "digital maximum":
				s.DigitalMax, err = parseInt(raw)
			case "prefiltering":
				s.Prefilter = latin1(raw)
			case "number of samples in each data record":
				s.SamplesPerRecord, err = parseInt(raw)
				if err == nil && (s.SamplesPerRecord < 0 || s.SamplesPerRecord > 1<<26) {
					err = fmt.Errorf("%d is out of range", s.SamplesPerRecord)
				}
			case "reserved":
				s.Reserved = strings.TrimRight(string(raw), " ")
			}
			if err != nil {
				return nil, &Error{File: name, Offset: int64(off), Field: fmt.Sprintf("signal %d (%q) %s", i+1, s.Label, f.name), Err: err}
			}
			off += f.size
		}
	}
	// Cross-field checks: digital range within the sample width, non-empty ranges.
	lo, hi := -32768, 32767
	if h.Format.Bytes() == 3 {
		lo, hi = -8388608, 8388607
	}
	physMinOff := fixedHeaderSize + (16+80+8)*ns
	digMinOff := physMinOff + 16*ns
	for i := range h.Signals {
		s := &h.Signals[i]
		if s.DigitalMin < lo || s.DigitalMax > hi || s.DigitalMax <= s.DigitalMin {
			return nil, &Error{File: name, Offset: int64(digMinOff + 8*i), Field: fmt.Sprintf("signal %d (%q) digital minimum/maximum", i+1, s.Label),
				Err: fmt.Errorf("range [%d, %d] is empty or outside [%d, %d]", s.DigitalMin, s.DigitalMax, lo, hi)}
		}
		if s.PhysicalMax == s.PhysicalMin && !s.IsAnnotation() {
			return nil, &Error{File: name, Offset: int64(physMinOff + 8*i), Field: fmt.Sprintf("signal %d (%q) physical minimum/maximum", i+1, s.Label),
				Err: fmt.Errorf("physical minimum equals physical maximum (%g)", s.PhysicalMin)}
		}
	}
	if h.Format.Plus() && len(h.AnnotationSignals()) == 0 {
		return nil, &Error{File: name, Offset: 192, Field: "reserved",
			Err: fmt.Errorf("%s file has no %q signal", h.Format, AnnotationLabel)}
	}
	return h, nil
}

// latin1 decodes a header text field (Latin-1, a superset of the ASCII the specification
// asks for) and trims its space padding.
func latin1(b []byte) string {
	ascii := true
	for _, c := range b {
		if c > 126 {
			ascii = false
			break
		}
	}
	if ascii {
		return strings.TrimRight(string(b), " ")
	}
	r := make([]rune, len(b))
	for i, c := range b {
		r[i] = rune(c)
	}
	return strings.TrimRight(string(r), " ")
}

func parseStart(date, clock string) (time.Time, error) {
	var d, mo, y, hh, mm, ss int
	if _, err := fmt.Sscanf(strings.ReplaceAll(date, ".", " "), "%d %d %d", &d, &mo, &y); err != nil || len(date) != 8 || date[2] != '.' || date[5] != '.' {
		return time.Time{}, fmt.Errorf("startdate %q is not dd.mm.yy", date)
	}
	if _, err := fmt.Sscanf(strings.ReplaceAll(clock, ".", " "), "%d %d %d", &hh, &mm, &ss); err != nil || len(clock) != 8 || clock[2] != '.' || clock[5] != '.' {
		return time.Time{}, fmt.Errorf("starttime %q is not hh.mm.ss", clock)
	}
	if y < 85 {
		y += 2000
	} else {
		y += 1900
	}
	if mo < 1 || mo > 12 || d < 1 || d > 31 || hh > 23 || mm > 59 || ss > 59 || hh < 0 || mm < 0 || ss < 0 {
		return time.Time{}, fmt.Errorf("startdate/time %q %q out of range", date, clock)
	}
	return time.Date(y, time.Month(mo), d, hh, mm, ss, 0, time.UTC), nil
}

func parseInt(b []byte) (int, error) {
	s := string(bytes.TrimSpace(b))
	if s == "" {
		return 0, fmt.Errorf("empty number")
	}
	v, err := strconv.Atoi(strings.TrimPrefix(s, "+"))
	if err != nil {
		return 0, fmt.Errorf("%q is not an integer", s)
	}
	return v, nil
}

func parseFloat(b []byte) (float64, error) {
	s := string(bytes.TrimSpace(b))
	if s == "" {
		return 0, fmt.Errorf("empty number")
	}
	v, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
		return 0, fmt.Errorf("%q is not a number", s)
	}
	return v, nil
}
