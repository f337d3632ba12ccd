package signal

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"sort"
	"strconv"
	"strings"

	"github.com/biopipe/biopipe/contract"
	"github.com/biopipe/biopipe/dataset"
	"github.com/biopipe/biopipe/stages/ingest/signals"
)

// Field names of transform.epoch.
const (
	FieldMode     = "mode"
	FieldTMin     = "tmin"
	FieldTMax     = "tmax"
	FieldBaseline = "baseline"
	FieldEventMap = "event_map"
	FieldLength   = "length"
	FieldStep     = "step"
	FieldLabels   = "labels"
	FieldReject   = "reject"
	FieldClasses  = "classes"
)

// Column names and metadata keys of an epoch table.
const (
	ColLabel     = "label"
	ColSubject   = "subject"
	ColRecording = "recording"
	ColOnset     = "onset"
	ColEvent     = "event"
	ColID        = "id"
	// MetaChannels (field metadata of the tensor column) is the JSON list of channel names
	// along the last axis; MetaSampleRate is the sample rate in Hz along the first.
	MetaChannels   = "biopipe.channels"
	MetaSampleRate = "biopipe.sample_rate"
	// MetaRole (field metadata) marks a column that is not a feature (see
	// dataset.Frame.RoleColumns); RoleProvenance is its value for where-from columns.
	MetaRole       = "biopipe.role"
	RoleProvenance = "provenance"
)

var epochKind = &contract.Kind{
	Name:    "transform.epoch",
	Doc:     "cut recordings into labelled windows: a tensor table [samples, channels]",
	Version: "1",
	Description: `Cuts fixed-length windows out of continuous recordings and writes a table with one row
per window: x (tensor [samples, channels], time-major, as a recurrent model consumes it),
label, subject (the group, for subject-wise splits), recording, onset (s), event and id.

mode: events takes a window [tmin, tmax) s around each annotation whose text is a key of
event_map (the value is the label; with no event_map every annotation text is its own
label). baseline: [a, b] subtracts each channel's mean over [a, b) s (relative to the event).
mode: sliding takes windows of length s every step s; labels (a CSV with columns source,
label and optionally onset, duration in s) labels a window by the interval holding its
centre, or the whole recording when onset is empty; windows without a label are dropped.
Without labels the table has no label column.

Windows that leave their recording segment are skipped; with reject > 0 a window whose
peak-to-peak amplitude exceeds reject (physical units) on any channel is rejected. Both are
counted in summary.json. The selected channels must share one sample rate.`,
	Fields: []contract.Field{
		{Name: FieldMode, Type: contract.String, Default: "events", Enum: []string{"events", "sliding"}, Doc: "window placement"},
		{Name: FieldTMin, Type: contract.Float, Default: 0.0, Doc: "events: window start relative to the event, s"},
		{Name: FieldTMax, Type: contract.Float, Default: 1.0, Doc: "events: window end relative to the event, s"},
		{Name: FieldBaseline, Type: contract.Floats, Doc: "events: [start, end] s relative to the event for baseline correction"},
		{Name: FieldEventMap, Type: contract.Map, Doc: "events: annotation text -> label (others ignored)"},
		{Name: FieldLength, Type: contract.Float, Default: 2.0, Min: contract.Bound(0), Doc: "sliding: window length, s"},
		{Name: FieldStep, Type: contract.Float, Default: 1.0, Min: contract.Bound(0), Doc: "sliding: step between windows, s"},
		{Name: FieldLabels, Type: contract.Path, Doc: "sliding: CSV of labels (source, label[, onset, duration])"},
		{Name: FieldReject, Type: contract.Float, Default: 0.0, Min: contract.Bound(0), Doc: "peak-to-peak rejection threshold (0 = off)"},
		{Name: FieldClasses, Type: contract.Strings, Doc: "class order (default: sorted labels)"},
		{Name: FieldChannels, Type: contract.Strings, Doc: `channels of the tensor, in this order for plain names: names, globs ("EEG*") or "re:" regular expressions; empty = all`},
	},
	Inputs: signalsIn,
	Output: contract.Port{Name: "table", Type: contract.Table, Doc: "one row per window"},
	Example: `- id: epochs
  kind: transform.epoch
  inputs: [filtered]
  with:
    tmin: 0
    tmax: 1
    event_map: {T1: rest, T2: motor}
    reject: 150`,
	New: newEpoch,
}

func init() { contract.Register(epochKind) }

type epochStage struct {
	cfg      contract.Config
	sel      *signals.Selector
	eventMap map[string]string
}

func newEpoch(cfg contract.Config) (contract.Stage, error) {
	sel, issues := selector(cfg, FieldChannels)
	s := &epochStage{cfg: cfg, sel: sel, eventMap: map[string]string{}}
	for k, v := range cfg.MapOf(FieldEventMap) {
		switch x := v.(type) {
		case string:
			s.eventMap[k] = x
		case int, float64, bool:
			s.eventMap[k] = fmt.Sprint(x)
		default:
			issues = append(issues, contract.Issue{Path: []string{FieldEventMap, k}, Msg: "label must be a scalar"})
		}
	}
	if cfg.String(FieldMode) == "events" {
		if cfg.Float(FieldTMax) <= cfg.Float(FieldTMin) {
			issues = append(issues, contract.Issue{Path: []string{FieldTMax}, Msg: fmt.Sprintf("tmax (%g) must be greater than tmin (%g)", cfg.Float(FieldTMax), cfg.Float(FieldTMin))})
		}
		if b := cfg.Floats(FieldBaseline); len(b) > 0 {
			if len(b) != 2 || b[0] >= b[1] || b[0] < cfg.Float(FieldTMin) || b[1] > cfg.Float(FieldTMax) {
				issues = append(issues, contract.Issue{Path: []string{FieldBaseline}, Msg: "give [start, end] with tmin <= start < end <= tmax"})
			}
		}
	} else {
		if cfg.Float(FieldLength) <= 0 || cfg.Float(FieldStep) <= 0 {
			issues = append(issues, contract.Issue{Path: []string{FieldLength}, Msg: "length and step must be positive"})
		}
	}
	if err := configError(issues); err != nil {
		return nil, err
	}
	return s, nil
}

// EpochSummary is the summary.json of an epoch table.
type EpochSummary struct {
	Mode              string         `json:"mode"`
	Epochs            int            `json:"epochs"`
	PerClass          map[string]int `json:"per_class,omitempty"`
	PerSubject        map[string]int `json:"per_subject"`
	Rejected          int            `json:"rejected"`
	RejectedPerClass  map[string]int `json:"rejected_per_class,omitempty"`
	RejectThreshold   float64        `json:"reject_threshold"`
	OutsideRecording  int            `json:"outside_recording"`
	Unlabelled        int            `json:"unlabelled,omitempty"`
	IgnoredEvents     map[string]int `json:"ignored_events,omitempty"`
	Channels          []string       `json:"channels"`
	SampleRate        float64        `json:"sample_rate"`
	SamplesPerEpoch   int            `json:"samples_per_epoch"`
	BaselineCorrected bool           `json:"baseline_corrected"`
}

type window struct {
	seg    *signals.Segment
	chs    []*signals.Channel
	start  int // sample index in the segment
	onset  float64
	label  string
	event  string
	hasLab bool
}

func (s *epochStage) Run(ctx context.Context, env *contract.Env) error {
	set, err := loadSignals(env)
	if err != nil {
		return err
	}
	sum := &EpochSummary{Mode: s.cfg.String(FieldMode), PerSubject: map[string]int{}, PerClass: map[string]int{},
		RejectedPerClass: map[string]int{}, IgnoredEvents: map[string]int{}, RejectThreshold: s.cfg.Float(FieldReject)}
	// Channels and rate, common to all segments.
	var chNames []string
	rate := 0.0
	perSeg := map[*signals.Segment][]*signals.Channel{}
	for _, seg := range set.Segments {
		chs := s.sel.Order(seg.Channels)
		if len(chs) == 0 {
			return fmt.Errorf("recording %s: no channel selected (channels: %s)", seg.Recording, names(seg.Channels))
		}
		got := make([]string, len(chs))
		for i, c := range chs {
			got[i] = c.Name
			if rate == 0 {
				rate = c.SampleRate
			}
			if c.SampleRate != rate {
				return fmt.Errorf("recording %s: channel %q is at %g Hz, others at %g Hz: add transform.resample before transform.epoch", seg.Recording, c.Name, c.SampleRate, rate)
			}
		}
		if chNames == nil {
			chNames = got
		} else if strings.Join(chNames, "\x00") != strings.Join(got, "\x00") {
			return fmt.Errorf("recording %s has channels [%s], earlier recordings [%s]: select the same channels (channels: [...])", seg.Recording, strings.Join(got, ", "), strings.Join(chNames, ", "))
		}
		perSeg[seg] = chs
	}
	if rate <= 0 {
		return fmt.Errorf("no recordings")
	}
	var wins []window
	var n int
	var baseline [2]int
	hasBaseline := false
	if sum.Mode == "events" {
		tmin, tmax := s.cfg.Float(FieldTMin), s.cfg.Float(FieldTMax)
		n = int(math.Round((tmax - tmin) * rate))
		if b := s.cfg.Floats(FieldBaseline); len(b) == 2 {
			hasBaseline = true
			baseline = [2]int{int(math.Round((b[0] - tmin) * rate)), int(math.Round((b[1] - tmin) * rate))}
			baseline[1] = max(baseline[1], baseline[0]+1)
		}
		for _, a := range set.Annotations {
			label, ok := s.eventMap[a.Text]
			if len(s.eventMap) == 0 {
				label, ok = a.Text, true
			}
			if !ok {
				sum.IgnoredEvents[a.Text]++
				continue
			}
			placed := false
			for _, seg := range set.Segments {
				if seg.Recording != a.Recording {
					continue
				}
				start := int(math.Round((a.Onset + tmin - seg.Onset) * rate))
				chs := perSeg[seg]
				if a.Onset < seg.Onset || a.Onset >= seg.Onset+seg.Duration() {
					continue
				}
				placed = true
				if start < 0 || start+n > len(chs[0].Data) {
					sum.OutsideRecording++
					break
				}
				wins = append(wins, window{seg: seg, chs: chs, start: start, onset: a.Onset, label: label, event: a.Text, hasLab: true})
				break
			}
			if !placed {
				sum.OutsideRecording++
			}
		}
	} else {
		n = int(math.Round(s.cfg.Float(FieldLength) * rate))
		step := max(1, int(math.Round(s.cfg.Float(FieldStep)*rate)))
		labelsPath := s.cfg.String(FieldLabels)
		if env.Config != nil { // resolved by the executor after the stage was built
			labelsPath = env.Config.String(FieldLabels)
		}
		labels, err := readLabels(labelsPath)
		if err != nil {
			return err
		}
		for _, seg := range set.Segments {
			chs := perSeg[seg]
			for start := 0; start+n <= len(chs[0].Data); start += step {
				w := window{seg: seg, chs: chs, start: start, onset: seg.Onset + float64(start)/rate}
				if labels != nil {
					centre := w.onset + float64(n)/rate/2
					w.label, w.hasLab = labels.lookup(seg.Source, centre)
					if !w.hasLab {
						sum.Unlabelled++
						continue
					}
				}
				wins = append(wins, w)
			}
		}
	}
	if n <= 0 {
		return fmt.Errorf("windows of %d samples at %g Hz: make the window longer", n, rate)
	}
	nc := len(chNames)
	x := make([]float32, 0, len(wins)*n*nc)
	f := dataset.New()
	var labelCol, subjCol, recCol, eventCol, idCol []string
	var onsetCol []float64
	buf := make([]float32, n*nc)
	labelled := len(wins) > 0 && wins[0].hasLab
	perRec := map[string]int{}
	for _, w := range wins {
		if err := ctx.Err(); err != nil {
			return err
		}
		reject := false
		for c, ch := range w.chs {
			src := ch.Data[w.start : w.start+n]
			mean := 0.0
			if hasBaseline {
				for _, v := range src[baseline[0]:min(baseline[1], n)] {
					mean += float64(v)
				}
				mean /= float64(min(baseline[1], n) - baseline[0])
			}
			lo, hi := math.Inf(1), math.Inf(-1)
			for t, v := range src {
				y := float64(v) - mean
				buf[t*nc+c] = float32(y)
				lo, hi = math.Min(lo, y), math.Max(hi, y)
			}
			if sum.RejectThreshold > 0 && hi-lo > sum.RejectThreshold {
				reject = true
			}
		}
		if reject {
			sum.Rejected++
			if w.hasLab {
				sum.RejectedPerClass[w.label]++
			}
			continue
		}
		x = append(x, buf...)
		labelCol = append(labelCol, w.label)
		subjCol = append(subjCol, w.seg.Subject)
		recCol = append(recCol, w.seg.Recording)
		eventCol = append(eventCol, w.event)
		onsetCol = append(onsetCol, w.onset)
		perRec[w.seg.Recording]++
		idCol = append(idCol, fmt.Sprintf("%s_e%04d", w.seg.Recording, perRec[w.seg.Recording]))
		sum.PerSubject[w.seg.Subject]++
		if w.hasLab {
			sum.PerClass[w.label]++
		}
	}
	chJSON, _ := json.Marshal(chNames)
	f.Set(&dataset.Column{Name: dataset.ColTensor, Kind: dataset.Tensor, Shape: []int{n, nc}, T: x,
		Meta: map[string]string{MetaChannels: string(chJSON), MetaSampleRate: strconv.FormatFloat(rate, 'g', -1, 64)}})
	f.Set(&dataset.Column{Name: ColID, Kind: dataset.String, S: idCol})
	f.Set(&dataset.Column{Name: ColSubject, Kind: dataset.String, S: subjCol})
	// Provenance columns are not model inputs (role metadata keeps them out of the features).
	prov := func() map[string]string { return map[string]string{MetaRole: RoleProvenance} }
	f.Set(&dataset.Column{Name: ColRecording, Kind: dataset.String, S: recCol, Meta: prov()})
	f.Set(&dataset.Column{Name: ColOnset, Kind: dataset.Float, F: onsetCol, Meta: prov()})
	if sum.Mode == "events" {
		f.Set(&dataset.Column{Name: ColEvent, Kind: dataset.String, S: eventCol, Meta: prov()})
	}
	f.Meta[dataset.MetaGroup] = ColSubject
	f.Meta[dataset.MetaID] = ColID
	f.Meta[dataset.MetaSource] = "transform.epoch"
	if labelled {
		f.Set(&dataset.Column{Name: ColLabel, Kind: dataset.String, S: labelCol})
		f.Meta[dataset.MetaLabel] = ColLabel
		f.Meta[dataset.MetaTask] = "classification"
		classes := s.cfg.Strings(FieldClasses)
		if len(classes) == 0 {
			for c := range sum.PerClass {
				classes = append(classes, c)
			}
			for c := range sum.RejectedPerClass {
				if _, ok := sum.PerClass[c]; !ok {
					classes = append(classes, c)
				}
			}
			sort.Strings(classes)
		} else {
			known := map[string]bool{}
			for _, c := range classes {
				known[c] = true
			}
			for c := range sum.PerClass {
				if !known[c] {
					return fmt.Errorf("label %q is not in classes %v", c, classes)
				}
			}
		}
		f.SetClasses(classes)
	}
	// Columns in a fixed, readable order with x first.
	if f.NumRows() == 0 {
		return fmt.Errorf("no epochs: %d windows outside recordings, %d rejected, %d unlabelled, ignored events %v",
			sum.OutsideRecording, sum.Rejected, sum.Unlabelled, sum.IgnoredEvents)
	}
	if err := f.WriteFile(env.Out(contract.DataFile)); err != nil {
		return err
	}
	sum.Epochs = f.NumRows()
	sum.Channels, sum.SampleRate, sum.SamplesPerEpoch, sum.BaselineCorrected = chNames, rate, n, hasBaseline
	env.SetMetric("epochs", sum.Epochs)
	env.SetMetric("epochs_rejected", sum.Rejected)
	env.Log.Info("epochs", "stage", env.StageID, "epochs", sum.Epochs, "rejected", sum.Rejected, "outside", sum.OutsideRecording)
	return dataset.WriteJSON(env.Out(contract.SummaryFile), sum)
}

// labelTable holds the labels of sliding windows.
type labelTable struct {
	whole     map[string]string
	intervals map[string][]labelInterval
}

type labelInterval struct {
	onset, end float64
	label      string
}

func (l *labelTable) lookup(source string, t float64) (string, bool) {
	for _, iv := range l.intervals[source] {
		if t >= iv.onset && t < iv.end {
			return iv.label, true
		}
	}
	lab, ok := l.whole[source]
	return lab, ok
}

// readLabels reads a CSV with columns source, label and optionally onset, duration.
func readLabels(path string) (*labelTable, error) {
	if path == "" {
		return nil, nil
	}
	fh, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer fh.Close()
	r := csv.NewReader(fh)
	head, err := r.Read()
	if err != nil {
		return nil, fmt.Errorf("%s: line 1: %w", path, err)
	}
	col := map[string]int{}
	for i, h := range head {
		col[strings.TrimSpace(strings.ToLower(h))] = i
	}
	for _, need := range []string{"source", "label"} {
		if _, ok := col[need]; !ok {
			return nil, fmt.Errorf("%s: line 1: column %q missing (have %s)", path, need, strings.Join(head, ", "))
		}
	}
	oi, hasOnset := col["onset"]
	di, hasDur := col["duration"]
	lt := &labelTable{whole: map[string]string{}, intervals: map[string][]labelInterval{}}
	line := 1
	for {
		row, err := r.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		line++
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		src, lab := row[col["source"]], row[col["label"]]
		if !hasOnset || strings.TrimSpace(row[oi]) == "" {
			lt.whole[src] = lab
			continue
		}
		on, err := strconv.ParseFloat(strings.TrimSpace(row[oi]), 64)
		if err != nil {
			return nil, fmt.Errorf("%s: line %d: onset %q is not a number", path, line, row[oi])
		}
		if !hasDur {
			return nil, fmt.Errorf("%s: line %d: an onset needs a duration column", path, line)
		}
		d, err := strconv.ParseFloat(strings.TrimSpace(row[di]), 64)
		if err != nil || d <= 0 {
			return nil, fmt.Errorf("%s: line %d: duration %q is not a positive number", path, line, row[di])
		}
		lt.intervals[src] = append(lt.intervals[src], labelInterval{onset: on, end: on + d, label: lab})
	}
	return lt, nil
}
