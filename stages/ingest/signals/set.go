package signals

import (
	"fmt"
	"os"
	"path"
	"regexp"
	"slices"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/ipc"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/biopipe/biopipe/dataset"
)

// Files of a signals artifact.
const (
	RecordingsFile  = "recordings.arrow"  // one row per (recording segment, channel)
	AnnotationsFile = "annotations.arrow" // one row per annotation
)

// Column names of recordings.arrow and annotations.arrow.
const (
	ColRecording  = "recording"   // recording id: subject pseudonym + index, no PHI
	ColSubject    = "subject"     // subject pseudonym (HMAC-SHA256)
	ColSource     = "source"      // base name of the input file
	ColSegment    = "segment"     // contiguous segment index (EDF+D files have several)
	ColOnset      = "onset"       // seconds from the recording start (first sample / annotation)
	ColChannel    = "channel"     // channel label
	ColUnit       = "unit"        // physical dimension
	ColSampleRate = "sample_rate" // Hz
	ColSamples    = "samples"     // list<float32> of physical values
	ColDuration   = "duration"    // annotation duration in seconds (-1 = none)
	ColText       = "text"        // annotation text
)

// Channel is one channel of a segment.
type Channel struct {
	Name       string
	Unit       string
	SampleRate float64
	Data       []float32
}

// Segment is a contiguous stretch of one recording: its channels (which may have different
// sample rates) start at Onset seconds from the recording start.
type Segment struct {
	Recording string
	Subject   string
	Source    string
	Index     int
	Onset     float64
	Channels  []*Channel
}

// Annotation is an event of a recording, in seconds from the recording start.
type Annotation struct {
	Recording string
	Onset     float64
	Duration  float64
	Text      string
}

// Set is the content of a signals artifact: continuous multichannel recordings, cut into
// contiguous segments, plus their annotations. It is stored as two Arrow IPC files
// (RecordingsFile, AnnotationsFile) that pandas, polars or R can read.
type Set struct {
	Segments    []*Segment
	Annotations []Annotation
}

// Channel returns the channel with this name, or nil.
func (s *Segment) Channel(name string) *Channel {
	for _, c := range s.Channels {
		if c.Name == name {
			return c
		}
	}
	return nil
}

// Duration returns the longest channel's duration in seconds.
func (s *Segment) Duration() float64 {
	d := 0.0
	for _, c := range s.Channels {
		if c.SampleRate > 0 {
			d = max(d, float64(len(c.Data))/c.SampleRate)
		}
	}
	return d
}

// AnnotationsOf returns the annotations of a recording.
func (s *Set) AnnotationsOf(recording string) []Annotation {
	var out []Annotation
	for _, a := range s.Annotations {
		if a.Recording == recording {
			out = append(out, a)
		}
	}
	return out
}

var recordingSchema = arrow.NewSchema([]arrow.Field{
	{Name: ColRecording, Type: arrow.BinaryTypes.String},
	{Name: ColSubject, Type: arrow.BinaryTypes.String},
	{Name: ColSource, Type: arrow.BinaryTypes.String},
	{Name: ColSegment, Type: arrow.PrimitiveTypes.Int64},
	{Name: ColOnset, Type: arrow.PrimitiveTypes.Float64},
	{Name: ColChannel, Type: arrow.BinaryTypes.String},
	{Name: ColUnit, Type: arrow.BinaryTypes.String},
	{Name: ColSampleRate, Type: arrow.PrimitiveTypes.Float64},
	{Name: ColSamples, Type: arrow.ListOf(arrow.PrimitiveTypes.Float32)},
}, nil)

// WriteDir writes the set into an artifact folder (atomically, file by file). Each segment
// is one record batch, so a reader can stream segment by segment.
func (s *Set) WriteDir(dir string) error {
	err := dataset.AtomicWrite(dir+"/"+RecordingsFile, func(w *os.File) error {
		fw, err := ipc.NewFileWriter(w, ipc.WithSchema(recordingSchema))
		if err != nil {
			return err
		}
		b := array.NewRecordBuilder(memory.DefaultAllocator, recordingSchema)
		defer b.Release()
		for _, seg := range s.Segments {
			for _, c := range seg.Channels {
				b.Field(0).(*array.StringBuilder).Append(seg.Recording)
				b.Field(1).(*array.StringBuilder).Append(seg.Subject)
				b.Field(2).(*array.StringBuilder).Append(seg.Source)
				b.Field(3).(*array.Int64Builder).Append(int64(seg.Index))
				b.Field(4).(*array.Float64Builder).Append(seg.Onset)
				b.Field(5).(*array.StringBuilder).Append(c.Name)
				b.Field(6).(*array.StringBuilder).Append(c.Unit)
				b.Field(7).(*array.Float64Builder).Append(c.SampleRate)
				lb := b.Field(8).(*array.ListBuilder)
				lb.Append(true)
				lb.ValueBuilder().(*array.Float32Builder).AppendValues(c.Data, nil)
			}
			rec := b.NewRecordBatch()
			err := fw.Write(rec)
			rec.Release()
			if err != nil {
				return err
			}
		}
		return fw.Close()
	})
	if err != nil {
		return err
	}
	schema := arrow.NewSchema([]arrow.Field{
		{Name: ColRecording, Type: arrow.BinaryTypes.String},
		{Name: ColOnset, Type: arrow.PrimitiveTypes.Float64},
		{Name: ColDuration, Type: arrow.PrimitiveTypes.Float64},
		{Name: ColText, Type: arrow.BinaryTypes.String},
	}, nil)
	return dataset.AtomicWrite(dir+"/"+AnnotationsFile, func(w *os.File) error {
		fw, err := ipc.NewFileWriter(w, ipc.WithSchema(schema))
		if err != nil {
			return err
		}
		b := array.NewRecordBuilder(memory.DefaultAllocator, schema)
		defer b.Release()
		for _, a := range s.Annotations {
			b.Field(0).(*array.StringBuilder).Append(a.Recording)
			b.Field(1).(*array.Float64Builder).Append(a.Onset)
			b.Field(2).(*array.Float64Builder).Append(a.Duration)
			b.Field(3).(*array.StringBuilder).Append(a.Text)
		}
		rec := b.NewRecordBatch()
		defer rec.Release()
		if err := fw.Write(rec); err != nil {
			return err
		}
		return fw.Close()
	})
}

// ReadDir reads a signals artifact folder.
func ReadDir(dir string) (*Set, error) {
	s := &Set{}
	p := dir + "/" + RecordingsFile
	err := readBatches(p, func(rec arrow.RecordBatch) error {
		cols := map[string]arrow.Array{}
		for i, f := range rec.Schema().Fields() {
			cols[f.Name] = rec.Column(i)
		}
		for _, name := range []string{ColRecording, ColSubject, ColSource, ColSegment, ColOnset, ColChannel, ColUnit, ColSampleRate, ColSamples} {
			if cols[name] == nil {
				return fmt.Errorf("column %q missing", name)
			}
		}
		str := func(n string) *array.String { a, _ := cols[n].(*array.String); return a }
		f64 := func(n string) *array.Float64 { a, _ := cols[n].(*array.Float64); return a }
		recID, subj, src, ch, unit := str(ColRecording), str(ColSubject), str(ColSource), str(ColChannel), str(ColUnit)
		seg, _ := cols[ColSegment].(*array.Int64)
		onset, rate := f64(ColOnset), f64(ColSampleRate)
		list, _ := cols[ColSamples].(*array.List)
		if recID == nil || subj == nil || src == nil || ch == nil || unit == nil || seg == nil || onset == nil || rate == nil || list == nil {
			return fmt.Errorf("unexpected column types (schema %s)", rec.Schema())
		}
		vals, ok := list.ListValues().(*array.Float32)
		if !ok {
			return fmt.Errorf("column %q is not list<float32>", ColSamples)
		}
		var cur *Segment
		for i := 0; i < int(rec.NumRows()); i++ {
			if cur == nil || cur.Recording != recID.Value(i) || cur.Index != int(seg.Value(i)) {
				cur = &Segment{Recording: recID.Value(i), Subject: subj.Value(i), Source: src.Value(i), Index: int(seg.Value(i)), Onset: onset.Value(i)}
				s.Segments = append(s.Segments, cur)
			}
			lo, hi := list.ValueOffsets(i)
			data := make([]float32, hi-lo)
			copy(data, vals.Float32Values()[lo:hi])
			cur.Channels = append(cur.Channels, &Channel{Name: ch.Value(i), Unit: unit.Value(i), SampleRate: rate.Value(i), Data: data})
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("%s: %w", p, err)
	}
	p = dir + "/" + AnnotationsFile
	err = readBatches(p, func(rec arrow.RecordBatch) error {
		if rec.NumCols() != 4 {
			return fmt.Errorf("want 4 columns, have %d", rec.NumCols())
		}
		r, _ := rec.Column(0).(*array.String)
		on, _ := rec.Column(1).(*array.Float64)
		du, _ := rec.Column(2).(*array.Float64)
		tx, _ := rec.Column(3).(*array.String)
		if r == nil || on == nil || du == nil || tx == nil {
			return fmt.Errorf("unexpected column types (schema %s)", rec.Schema())
		}
		for i := 0; i < int(rec.NumRows()); i++ {
			s.Annotations = append(s.Annotations, Annotation{Recording: r.Value(i), Onset: on.Value(i), Duration: du.Value(i), Text: tx.Value(i)})
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("%s: %w", p, err)
	}
	return s, nil
}

func readBatches(p string, fn func(rec arrow.RecordBatch) error) error {
	fh, err := os.Open(p)
	if err != nil {
		return err
	}
	defer fh.Close()
	r, err := ipc.NewFileReader(fh)
	if err != nil {
		return err
	}
	defer r.Close()
	for i := 0; i < r.NumRecords(); i++ {
		rec, err := r.RecordBatch(i)
		if err != nil {
			return err
		}
		if err := fn(rec); err != nil {
			return err
		}
	}
	return nil
}

// Selector picks channels by name: each pattern is a case-insensitive glob ("EEG*", "C?")
// or, prefixed with "re:", a regular expression. An empty selector picks every channel.
type Selector struct {
	globs []string
	res   []*regexp.Regexp
}

// NewSelector compiles patterns.
func NewSelector(patterns []string) (*Selector, error) {
	s := &Selector{}
	for _, p := range patterns {
		if r, ok := strings.CutPrefix(p, "re:"); ok {
			re, err := regexp.Compile("(?i)" + r)
			if err != nil {
				return nil, fmt.Errorf("channel pattern %q: %w", p, err)
			}
			s.res = append(s.res, re)
			continue
		}
		if _, err := path.Match(strings.ToLower(p), ""); err != nil {
			return nil, fmt.Errorf("channel pattern %q: %w", p, err)
		}
		s.globs = append(s.globs, strings.ToLower(p))
	}
	return s, nil
}

// Empty reports whether the selector has no patterns (and so picks everything).
func (s *Selector) Empty() bool { return len(s.globs) == 0 && len(s.res) == 0 }

// Match reports whether the channel name is picked.
func (s *Selector) Match(name string) bool {
	if s.Empty() {
		return true
	}
	low := strings.ToLower(name)
	for _, g := range s.globs {
		if ok, _ := path.Match(g, low); ok {
			return true
		}
	}
	for _, r := range s.res {
		if r.MatchString(name) {
			return true
		}
	}
	return false
}

// Order returns the picked channels of a segment: in the order of the patterns for plain
// names (so "C3, C4" fixes the channel order), then in file order.
func (s *Selector) Order(chs []*Channel) []*Channel {
	var out []*Channel
	used := map[*Channel]bool{}
	for _, g := range s.globs {
		for _, c := range chs {
			if !used[c] && strings.ToLower(c.Name) == g {
				out = append(out, c)
				used[c] = true
			}
		}
	}
	for _, c := range chs {
		if !used[c] && s.Match(c.Name) {
			out = append(out, c)
			used[c] = true
		}
	}
	return out
}

// UnmatchedPatterns returns the positions of the patterns that pick none of names: a
// misspelt channel name, or a glob that matches nothing.
func UnmatchedPatterns(patterns, names []string) []int {
	var out []int
	for i, p := range patterns {
		sel, err := NewSelector([]string{p})
		if err != nil {
			continue // a config error, reported by the constructor
		}
		if !slices.ContainsFunc(names, sel.Match) {
			out = append(out, i)
		}
	}
	return out
}
