package edf

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"os"
	"sort"
	"strconv"
	"strings"
)

// Writer writes a file record by record. The header's signal list must include the
// annotation signal for EDF+/BDF+ (see AddAnnotationSignal). Close patches the record count.
type Writer struct {
	name    string
	f       *os.File
	w       *bufio.Writer
	h       Header
	n       int
	buf     []byte
	offsets []int
	err     error
}

// AddAnnotationSignal appends an annotation signal able to hold bytesPerRecord bytes of TALs
// per record (a multiple of the sample width is used) and returns its index.
func (h *Header) AddAnnotationSignal(bytesPerRecord int) int {
	w := h.Format.Bytes()
	label := AnnotationLabel
	if w == 3 {
		label = BDFAnnotationLabel
	}
	lo, hi := -32768, 32767
	if w == 3 {
		lo, hi = -8388608, 8388607
	}
	h.Signals = append(h.Signals, SignalHeader{
		Label: label, PhysicalMin: -1, PhysicalMax: 1, DigitalMin: lo, DigitalMax: hi,
		SamplesPerRecord: (bytesPerRecord + w - 1) / w,
	})
	return len(h.Signals) - 1
}

// Create creates path and writes the header. NumRecords in h is ignored: the count of
// records written is set by Close.
func Create(path string, h Header) (*Writer, error) {
	if err := checkWritable(&h); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	w := &Writer{name: path, f: f, w: bufio.NewWriterSize(f, 1<<20), h: h, buf: make([]byte, h.RecordSize())}
	off := 0
	for i := range h.Signals {
		w.offsets = append(w.offsets, off)
		off += h.Signals[i].SamplesPerRecord * h.Format.Bytes()
	}
	h.NumRecords = -1
	if _, err := w.w.Write(EncodeHeader(&h)); err != nil {
		f.Close()
		return nil, err
	}
	return w, nil
}

func checkWritable(h *Header) error {
	if len(h.Signals) == 0 {
		return fmt.Errorf("no signals")
	}
	if h.Format.Plus() && len(h.AnnotationSignals()) == 0 {
		return fmt.Errorf("%s needs an annotation signal (Header.AddAnnotationSignal)", h.Format)
	}
	lo, hi := -32768, 32767
	if h.Format.Bytes() == 3 {
		lo, hi = -8388608, 8388607
	}
	for i, s := range h.Signals {
		if s.DigitalMin < lo || s.DigitalMax > hi || s.DigitalMax <= s.DigitalMin {
			return fmt.Errorf("signal %d (%q): digital range [%d, %d] is empty or outside [%d, %d]", i+1, s.Label, s.DigitalMin, s.DigitalMax, lo, hi)
		}
		if s.PhysicalMax == s.PhysicalMin {
			return fmt.Errorf("signal %d (%q): physical minimum equals maximum", i+1, s.Label)
		}
		if s.SamplesPerRecord <= 0 {
			return fmt.Errorf("signal %d (%q): samples per record must be positive", i+1, s.Label)
		}
	}
	return nil
}

// EncodeHeader returns the header bytes of h (256 + 256 per signal).
func EncodeHeader(h *Header) []byte {
	ns := len(h.Signals)
	var b strings.Builder
	put := func(s string, n int) {
		if len(s) > n {
			s = s[:n]
		}
		b.WriteString(s)
		b.WriteString(strings.Repeat(" ", n-len(s)))
	}
	if h.Format.Bytes() == 3 {
		b.WriteByte(0xFF)
		put("BIOSEMI", 7)
	} else {
		put("0", 8)
	}
	patient, recording := h.Patient, h.Recording
	if h.Format.Plus() {
		// EDF+ structures both fields; unknown subfields are "X".
		if strings.TrimSpace(patient) == "" {
			patient = "X X X X"
		}
		if strings.TrimSpace(recording) == "" {
			recording = "Startdate X X X X"
			if !h.Start.IsZero() {
				recording = "Startdate " + strings.ToUpper(h.Start.Format("02-Jan-2006")) + " X X X"
			}
		}
	}
	put(ascii(patient), 80)
	put(ascii(recording), 80)
	t := h.Start
	put(fmt.Sprintf("%02d.%02d.%02d", t.Day(), int(t.Month()), t.Year()%100), 8)
	put(fmt.Sprintf("%02d.%02d.%02d", t.Hour(), t.Minute(), t.Second()), 8)
	put(strconv.Itoa(256+256*ns), 8)
	reserved := h.Reserved
	switch h.Format {
	case EDFPlus:
		reserved = "EDF+C"
		if h.Discontinuous {
			reserved = "EDF+D"
		}
	case BDFPlus:
		reserved = "BDF+C"
		if h.Discontinuous {
			reserved = "BDF+D"
		}
	case BDF:
		if reserved == "" {
			reserved = "24BIT"
		}
	}
	put(ascii(reserved), 44)
	put(strconv.Itoa(h.NumRecords), 8)
	put(formatNumber(h.RecordDuration), 8)
	put(strconv.Itoa(ns), 4)
	for _, f := range signalFieldSizes {
		for _, s := range h.Signals {
			var v string
			switch f.name {
			case "label":
				v = s.Label
			case "transducer type":
				v = s.Transducer
			case "physical dimension":
				v = s.PhysicalDimension
			case "physical minimum":
				v = formatNumber(s.PhysicalMin)
			case "physical maximum":
				v = formatNumber(s.PhysicalMax)
			case "digital minimum":
				v = strconv.Itoa(s.DigitalMin)
			case "digital maximum":
				v = strconv.Itoa(s.DigitalMax)
			case "prefiltering":
				v = s.Prefilter
			case "number of samples in each data record":
				v = strconv.Itoa(s.SamplesPerRecord)
			case "reserved":
				v = s.Reserved
			}
			put(ascii(v), f.size)
		}
	}
	return []byte(b.String())
}

// ascii replaces bytes outside printable US-ASCII, as the header requires.
func ascii(s string) string {
	return strings.Map(func(r rune) rune {
		if r < 32 || r > 126 {
			return '_'
		}
		return r
	}, s)
}

// formatNumber writes v in at most 8 characters, as precisely as fits.
func formatNumber(v float64) string {
	for prec := 8; prec >= 0; prec-- {
		s := strconv.FormatFloat(v, 'f', prec, 64)
		if strings.Contains(s, ".") {
			s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
		}
		if s == "-0" {
			s = "0"
		}
		if len(s) <= 8 {
			return s
		}
	}
	return strconv.FormatFloat(v, 'g', 2, 64)
}

// WriteRecord writes one data record. samples holds the physical values of every signal
// (entries for annotation signals are ignored; each other entry has SamplesPerRecord values,
// clipped to the physical range). onset is the record's start in seconds (written as the
// time-keeping TAL in EDF+/BDF+); annots are placed in the record's first annotation signal.
func (w *Writer) WriteRecord(samples [][]float64, onset float64, annots []Annotation) error {
	if w.err != nil {
		return w.err
	}
	h := &w.h
	if len(samples) != len(h.Signals) {
		return fmt.Errorf("%s: record %d: %d signals given, header has %d", w.name, w.n, len(samples), len(h.Signals))
	}
	bw := h.Format.Bytes()
	clear(w.buf)
	firstAnn := true
	for s := range h.Signals {
		sh := &h.Signals[s]
		dst := w.buf[w.offsets[s] : w.offsets[s]+sh.SamplesPerRecord*bw]
		if sh.IsAnnotation() {
			var tal []byte
			if firstAnn {
				tal = AppendTAL(tal, TAL{Onset: onset, Duration: -1})
				for _, a := range annots {
					tal = AppendTAL(tal, TAL{Onset: a.Onset, Duration: a.Duration, Texts: []string{a.Text}})
				}
				firstAnn = false
			}
			if len(tal) > len(dst) {
				return fmt.Errorf("%s: record %d: annotations need %d bytes, the annotation signal holds %d", w.name, w.n, len(tal), len(dst))
			}
			copy(dst, tal)
			continue
		}
		if len(samples[s]) != sh.SamplesPerRecord {
			return fmt.Errorf("%s: record %d: signal %q has %d samples, want %d", w.name, w.n, sh.Label, len(samples[s]), sh.SamplesPerRecord)
		}
		g, o := sh.Gain(), sh.Offset()
		for k, v := range samples[s] {
			d := math.Round((v - o) / g)
			d = math.Max(float64(sh.DigitalMin), math.Min(float64(sh.DigitalMax), d))
			if bw == 2 {
				binary.LittleEndian.PutUint16(dst[2*k:], uint16(int16(d)))
			} else {
				u := uint32(int32(d))
				dst[3*k], dst[3*k+1], dst[3*k+2] = byte(u), byte(u>>8), byte(u>>16)
			}
		}
	}
	if _, err := w.w.Write(w.buf); err != nil {
		w.err = err
		return err
	}
	w.n++
	return nil
}

// Close flushes the data, writes the record count into the header and closes the file.
func (w *Writer) Close() error {
	if w.err != nil {
		w.f.Close()
		return w.err
	}
	if err := w.w.Flush(); err != nil {
		w.f.Close()
		return err
	}
	cnt := strconv.Itoa(w.n)
	cnt += strings.Repeat(" ", 8-len(cnt))
	if _, err := w.f.WriteAt([]byte(cnt), 236); err != nil {
		w.f.Close()
		return err
	}
	if err := w.f.Sync(); err != nil {
		w.f.Close()
		return err
	}
	return w.f.Close()
}

// WriteFile writes a recording: h describes every signal (for EDF+/BDF+ including an
// annotation signal; see AddAnnotationSignal), samples[s] holds the physical values of
// signal s (nil for annotation signals; a multiple of its SamplesPerRecord), and each
// annotation is stored in the record that contains its onset, or in the next record with
// room when that one's annotation signal is full (TAL onsets are absolute, so this is
// allowed). Discontinuous files are not written by this helper (use Writer.WriteRecord with
// explicit onsets).
func WriteFile(path string, h Header, samples [][]float64, annots []Annotation) error {
	if len(samples) != len(h.Signals) {
		return fmt.Errorf("%s: %d sample slices for %d signals", path, len(samples), len(h.Signals))
	}
	nrec := -1
	for s := range h.Signals {
		if h.Signals[s].IsAnnotation() {
			continue
		}
		spr := h.Signals[s].SamplesPerRecord
		if spr <= 0 || len(samples[s])%spr != 0 {
			return fmt.Errorf("%s: signal %q: %d samples is not a multiple of %d per record", path, h.Signals[s].Label, len(samples[s]), spr)
		}
		if n := len(samples[s]) / spr; nrec < 0 {
			nrec = n
		} else if n != nrec {
			return fmt.Errorf("%s: signal %q spans %d records, others %d", path, h.Signals[s].Label, n, nrec)
		}
	}
	if nrec < 0 {
		nrec = 0
	}
	if len(annots) > 0 && !h.Format.Plus() {
		return fmt.Errorf("%s: annotations need EDF+ or BDF+", path)
	}
	byRec := make([][]Annotation, nrec)
	sorted := append([]Annotation(nil), annots...)
	sort.SliceStable(sorted, func(i, j int) bool { return sorted[i].Onset < sorted[j].Onset })
	for _, a := range sorted {
		i := 0
		if h.RecordDuration > 0 {
			i = int(math.Floor(a.Onset / h.RecordDuration))
		}
		i = max(0, min(nrec-1, i))
		if nrec == 0 {
			return fmt.Errorf("%s: annotation at %gs but no records", path, a.Onset)
		}
		byRec[i] = append(byRec[i], a)
	}
	capacity := 0
	if ann := h.AnnotationSignals(); len(ann) > 0 {
		capacity = h.Signals[ann[0]].SamplesPerRecord * h.Format.Bytes()
	}
	w, err := Create(path, h)
	if err != nil {
		return err
	}
	rec := make([][]float64, len(h.Signals))
	var carry []Annotation
	for i := 0; i < nrec; i++ {
		pending := append(carry, byRec[i]...)
		used := len(AppendTAL(nil, TAL{Onset: float64(i) * h.RecordDuration, Duration: -1}))
		k := 0
		for ; k < len(pending); k++ {
			a := pending[k]
			n := len(AppendTAL(nil, TAL{Onset: a.Onset, Duration: a.Duration, Texts: []string{a.Text}}))
			if used+n > capacity {
				break
			}
			used += n
		}
		byRec[i], carry = pending[:k], append([]Annotation(nil), pending[k:]...)
		for s := range h.Signals {
			if h.Signals[s].IsAnnotation() {
				continue
			}
			spr := h.Signals[s].SamplesPerRecord
			rec[s] = samples[s][i*spr : (i+1)*spr]
		}
		if err := w.WriteRecord(rec, float64(i)*h.RecordDuration, byRec[i]); err != nil {
			w.Close()
			return err
		}
	}
	if len(carry) > 0 {
		w.Close()
		os.Remove(path)
		return fmt.Errorf("%s: %d annotations do not fit in the annotation signal (%d bytes per record): give it more bytes", path, len(carry), capacity)
	}
	return w.Close()
}

var _ io.Closer = (*Writer)(nil)
