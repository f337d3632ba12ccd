package edf

import (
	"context"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/biopipe/biopipe/io/inspect"
)

// Summary is what `biopipe inspect FILE.edf` prints. Patient and Recording are the header's
// identification fields as they are: inspect is a local tool, and they may identify a person.
type Summary struct {
	File           string  `json:"file"`
	Format         string  `json:"format"`
	Patient        string  `json:"patient"`
	Recording      string  `json:"recording"`
	Start          string  `json:"start"`
	Discontinuous  bool    `json:"discontinuous"`
	NumRecords     int     `json:"num_records"`
	RecordDuration float64 `json:"record_duration"`
	Duration       float64 `json:"duration"`
	// Segments are the contiguous runs of records (one for continuous files; EDF+D files
	// list their gaps this way), from the records' time-keeping annotations.
	Segments          []Segment       `json:"segments"`
	Signals           []SignalSummary `json:"signals"`
	Annotations       []Annotation    `json:"annotations"`
	AnnotationSignals int             `json:"annotation_signals"`
}

// Segment is a contiguous run of data records: onset and duration in seconds.
type Segment struct {
	Onset    float64 `json:"onset"`
	Duration float64 `json:"duration"`
	Records  int     `json:"records"`
}

// SignalSummary describes one data signal with simple statistics of its physical values.
type SignalSummary struct {
	Label             string    `json:"label"`
	Transducer        string    `json:"transducer,omitempty"`
	Prefilter         string    `json:"prefilter,omitempty"`
	PhysicalDimension string    `json:"physical_dimension"`
	PhysicalMin       float64   `json:"physical_min"`
	PhysicalMax       float64   `json:"physical_max"`
	DigitalMin        int       `json:"digital_min"`
	DigitalMax        int       `json:"digital_max"`
	SampleRate        float64   `json:"sample_rate"`
	NSamples          int       `json:"n_samples"`
	First             []float64 `json:"first"`
	Mean              float64   `json:"mean"`
	Std               float64   `json:"std"`
}

// Summarize reads a file (streaming its records) and returns its summary.
func Summarize(ctx context.Context, path string) (*Summary, error) {
	r, err := Open(path)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	h := r.Header()
	s := &Summary{
		File: path, Format: h.Format.String(), Patient: h.Patient, Recording: h.Recording,
		Start: h.Start.Format("2006-01-02T15:04:05"), Discontinuous: h.Discontinuous,
		NumRecords: h.NumRecords, RecordDuration: h.RecordDuration, Duration: h.Duration(),
		AnnotationSignals: len(h.AnnotationSignals()), Annotations: []Annotation{}, Segments: []Segment{},
	}
	data := h.DataSignals()
	sum := make([]float64, len(data))
	sumsq := make([]float64, len(data))
	for _, i := range data {
		sh := &h.Signals[i]
		s.Signals = append(s.Signals, SignalSummary{
			Label: sh.Label, Transducer: sh.Transducer, Prefilter: sh.Prefilter,
			PhysicalDimension: sh.PhysicalDimension, PhysicalMin: sh.PhysicalMin, PhysicalMax: sh.PhysicalMax,
			DigitalMin: sh.DigitalMin, DigitalMax: sh.DigitalMax, SampleRate: h.SampleRate(i),
			NSamples: h.NumRecords * sh.SamplesPerRecord, First: []float64{},
		})
	}
	err = r.Records(ctx, func(rec *Record) error {
		for k, i := range data {
			ss := &s.Signals[k]
			for _, v := range rec.Samples[i] {
				if len(ss.First) < 10 {
					// the float32 value with its shortest decimal form
					f, _ := strconv.ParseFloat(strconv.FormatFloat(float64(v), 'g', -1, 32), 64)
					ss.First = append(ss.First, f)
				}
				sum[k] += float64(v)
				sumsq[k] += float64(v) * float64(v)
			}
		}
		s.Annotations = append(s.Annotations, rec.Annotations...)
		if n := len(s.Segments); n > 0 && math.Abs(s.Segments[n-1].Onset+s.Segments[n-1].Duration-rec.Onset) < 1e-6 {
			s.Segments[n-1].Duration += h.RecordDuration
			s.Segments[n-1].Records++
		} else {
			s.Segments = append(s.Segments, Segment{Onset: rec.Onset, Duration: h.RecordDuration, Records: 1})
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	for k := range s.Signals {
		n := float64(s.Signals[k].NSamples)
		if n == 0 {
			continue
		}
		m := sum[k] / n
		s.Signals[k].Mean = m
		s.Signals[k].Std = math.Sqrt(math.Max(0, sumsq[k]/n-m*m))
	}
	return s, nil
}

// WriteText prints a summary for people.
func (s *Summary) WriteText(w io.Writer) error {
	fmt.Fprintf(w, "%s: %s, %d records of %gs (%gs), start %s", s.File, s.Format, s.NumRecords, s.RecordDuration, s.Duration, s.Start)
	if s.Discontinuous {
		fmt.Fprint(w, ", discontinuous")
	}
	fmt.Fprintf(w, "\npatient:   %s\nrecording: %s\n", s.Patient, s.Recording)
	if len(s.Segments) > 1 || (len(s.Segments) == 1 && s.Segments[0].Onset != 0) {
		fmt.Fprintf(w, "segments: ")
		for i, g := range s.Segments {
			if i > 0 {
				fmt.Fprint(w, ", ")
			}
			fmt.Fprintf(w, "%gs+%gs", g.Onset, g.Duration)
		}
		fmt.Fprintln(w)
	}
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "signal\tunit\trate (Hz)\tsamples\tphysical range\tdigital range\tmean\tstd")
	for _, g := range s.Signals {
		fmt.Fprintf(tw, "%s\t%s\t%g\t%d\t[%g, %g]\t[%d, %d]\t%.4g\t%.4g\n", g.Label, g.PhysicalDimension, g.SampleRate, g.NSamples,
			g.PhysicalMin, g.PhysicalMax, g.DigitalMin, g.DigitalMax, g.Mean, g.Std)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if len(s.Annotations) > 0 {
		fmt.Fprintf(w, "\n%d annotations:\n", len(s.Annotations))
		for i, a := range s.Annotations {
			if i == 20 {
				fmt.Fprintf(w, "  ... (%d more; use --json)\n", len(s.Annotations)-20)
				break
			}
			d := ""
			if a.Duration >= 0 {
				d = fmt.Sprintf(" (%gs)", a.Duration)
			}
			fmt.Fprintf(w, "  %10.4fs%s  %s\n", a.Onset, d, strings.TrimSpace(a.Text))
		}
	}
	return nil
}

func init() {
	inspect.Register(&inspect.Inspector{
		Name: "edf",
		Match: func(path string, head []byte) bool {
			if len(head) >= 8 && (string(head[:8]) == "0       " || (head[0] == 0xFF && string(head[1:8]) == "BIOSEMI")) {
				return true
			}
			return inspect.Ext(path, ".edf", ".bdf", ".rec")
		},
		Inspect: func(ctx context.Context, path string) (any, error) { return Summarize(ctx, path) },
		Text: func(w io.Writer, v any) error {
			s, ok := v.(*Summary)
			if !ok {
				return inspect.WriteJSON(w, v)
			}
			return s.WriteText(w)
		},
	})
}
