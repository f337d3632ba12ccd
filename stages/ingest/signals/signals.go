// Package signals is the ingest.signals stage kind and the signals artifact format: continuous
// multichannel recordings (EEG, ECoG, LFP ...) read from EDF/EDF+/BDF files, raw interleaved
// binary or CSV, stored as Arrow (one row per recording segment and channel) with an
// annotations table. Subjects are pseudonymised with HMAC-SHA256; no patient name or code
// from a header is copied into the artifact.
package signals

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/biopipe/biopipe/contract"
	"github.com/biopipe/biopipe/dataset"
)

// Config field names of ingest.signals.
const (
	FieldFiles          = "files"
	FieldFormat         = "format"
	FieldChannels       = "channels"
	FieldSubjectFrom    = "subject_from"
	FieldSubjectPattern = "subject_pattern"
	FieldSaltEnv        = "salt_env"
	FieldSalt           = "salt"
	FieldRaw            = "raw"
	FieldCSV            = "csv"
	FieldDType          = "dtype"
	FieldNChannels      = "channels"
	FieldChannelNames   = "channel_names"
	FieldSampleRate     = "sample_rate"
	FieldScale          = "scale"
	FieldBigEndian      = "big_endian"
	FieldUnit           = "unit"
	FieldTimeColumn     = "time_column"
	FieldDelimiter      = "delimiter"
	FieldEventsChannel  = "events_channel"
	FieldEventsMask     = "events_mask"
)

// Summary is the summary.json of a signals artifact.
type Summary struct {
	Recordings  int                    `json:"recordings"`
	Segments    int                    `json:"segments"`
	Subjects    int                    `json:"subjects"`
	Channels    []string               `json:"channels"`
	SampleRates []float64              `json:"sample_rates"`
	DurationS   float64                `json:"duration_s"`
	Annotations map[string]int         `json:"annotations"` // count per annotation text
	Files       []FileSummary          `json:"files"`
	Quarantined []contract.Quarantined `json:"quarantined,omitempty"`
	// PHIHashes are SHA-256 hashes (hex) of identifying strings found in the inputs
	// (patient fields, subject ids), so a report guard can check text for them without
	// holding the strings themselves.
	PHIHashes     []string `json:"phi_hashes"`
	PHIHashMethod string   `json:"phi_hash_method"`
}

// PHIHashMethod describes how phi_hashes are computed, for guards that check text.
const PHIHashMethod = "sha256 hex of each identifying value (EDF patient field and its code, birthdate, name and " +
	"further subfields; recording field, admin code, technician; the subject id) as stored (trimmed) and lower-cased, " +
	"also with '_' read as a space (EDF+ writes spaces as '_'); names also of each part of 3 or more characters"

// phiForms returns the hashes of the forms of an identifying value a text guard may meet.
func phiForms(v string, name bool) []string {
	v = strings.TrimSpace(v)
	if len(v) < 2 || v == "X" {
		return nil
	}
	forms := []string{v, strings.Join(strings.Fields(strings.ReplaceAll(v, "_", " ")), " ")}
	if name {
		for _, p := range strings.FieldsFunc(v, func(r rune) bool { return r == '_' || r == ' ' || r == ',' }) {
			if len(p) >= 3 {
				forms = append(forms, p)
			}
		}
	}
	var out []string
	for _, f := range forms {
		out = append(out, HashPHI(f), HashPHI(strings.ToLower(f)))
	}
	return out
}

// FileSummary describes one ingested file.
type FileSummary struct {
	Source    string  `json:"source"`
	Recording string  `json:"recording"`
	Subject   string  `json:"subject"`
	Format    string  `json:"format"`
	Segments  int     `json:"segments"`
	Channels  int     `json:"channels"`
	DurationS float64 `json:"duration_s"`
}

var kind = &contract.Kind{
	Salt:    &contract.SaltFields{Value: FieldSalt, Env: FieldSaltEnv},
	Name:    "ingest.signals",
	Doc:     "read EDF/EDF+/BDF, raw binary or CSV recordings into a signals artifact",
	Version: "1",
	Description: `Reads continuous multichannel recordings. EDF, EDF+ (continuous or discontinuous,
with annotations) and BDF/BDF+ are recognised by content; .bin/.raw/.dat files are raw
interleaved samples (set raw.*); .csv files hold one column per channel (set csv.*). Folders
in files are searched for such files. Each file is one recording; EDF+D files keep their
contiguous segments. The subject of a recording is a pseudonym: "P" + the first 12 hex
digits of HMAC-SHA256(salt, "patient" NUL id), the same pseudonym ingest.dicom gives a
PatientID and ingest.table an id column, where the id is the EDF+ patient code (else the patient
name or field; subject_from: patient) or a part of the file name (subject_from: file,
subject_pattern with one capture group). The salt is read from the environment variable
named by salt_env, else it is the project's secret salt kept in the work dir (a digest of the
salt joins the cache key), so pseudonyms of guessable ids cannot be reversed. Patient names and codes are never written;
summary.json lists SHA-256 hashes of them under phi_hashes for the report's guard.
Output: recordings.arrow (recording, subject, source, segment, onset, channel, unit,
sample_rate, samples list<float32>) and annotations.arrow (recording, onset, duration, text).`,
	Fields: []contract.Field{
		{Name: FieldFiles, Type: contract.Paths, Required: true, Doc: "recording files or folders holding them"},
		{Name: FieldFormat, Type: contract.String, Default: "auto", Enum: []string{"auto", "edf", "raw", "csv"}, Doc: "input format (auto: EDF/BDF by content, raw by .bin/.raw/.dat, csv by .csv)"},
		{Name: FieldChannels, Type: contract.Strings, Doc: `channels to keep: names or globs ("EEG*"), "re:" for a regular expression; names fix the order; empty keeps all`},
		{Name: FieldSubjectFrom, Type: contract.String, Default: "auto", Enum: []string{"auto", "patient", "file"}, Doc: "where the subject id comes from (auto: file when subject_pattern is set, else patient)"},
		{Name: FieldSubjectPattern, Type: contract.String, Doc: `regular expression on the file name whose first group is the subject id (e.g. "^(sub-\\d+)")`},
		{Name: FieldSalt, Type: contract.String, Doc: "pseudonym salt written in the pipeline (only for synthetic or public data: it lands in the manifest); prefer salt_env"},
		{Name: FieldSaltEnv, Type: contract.String, Default: "BIOPIPE_SALT", Doc: "environment variable holding the pseudonym salt"},
		{Name: FieldEventsChannel, Type: contract.String, Doc: `a trigger channel (e.g. BioSemi "Status") turned into annotations: each change to a non-zero code starts an event whose text is the code; the channel is then dropped`},
		{Name: FieldEventsMask, Type: contract.Int, Default: 0, Min: contract.Bound(0), Doc: "bit mask applied to trigger codes (0 = none; 255 for BioSemi's low byte)"},
		{Name: FieldRaw, Type: contract.Object, Doc: "raw interleaved binary input", Fields: []contract.Field{
			{Name: FieldDType, Type: contract.String, Default: "int16", Enum: []string{"int16", "int32", "float32", "float64"}, Doc: "sample type"},
			{Name: FieldNChannels, Type: contract.Int, Default: 0, Min: contract.Bound(0), Doc: "number of interleaved channels"},
			{Name: FieldChannelNames, Type: contract.Strings, Doc: "channel names (default ch1..chN)"},
			{Name: FieldSampleRate, Type: contract.Float, Default: 0.0, Min: contract.Bound(0), Doc: "sample rate in Hz"},
			{Name: FieldScale, Type: contract.Float, Default: 1.0, Doc: "physical value = sample × scale"},
			{Name: FieldBigEndian, Type: contract.Bool, Default: false, Doc: "big-endian samples"},
			{Name: FieldUnit, Type: contract.String, Default: "uV", Doc: "physical unit"},
		}},
		{Name: FieldCSV, Type: contract.Object, Doc: "CSV input (header row of channel names)", Fields: []contract.Field{
			{Name: FieldSampleRate, Type: contract.Float, Default: 0.0, Min: contract.Bound(0), Doc: "sample rate in Hz (derived from time_column when 0)"},
			{Name: FieldTimeColumn, Type: contract.String, Doc: "column holding time in seconds (not a channel)"},
			{Name: FieldDelimiter, Type: contract.String, Default: ",", Doc: "field delimiter"},
			{Name: FieldUnit, Type: contract.String, Default: "uV", Doc: "physical unit"},
		}},
	},
	Output: contract.Port{Name: "signals", Type: contract.Signals, Doc: "recordings.arrow + annotations.arrow"},
	Example: `- id: eeg
  kind: ingest.signals
  with:
    files: [data/eeg]
    channels: [C3, C4, O1, O2]
    subject_pattern: '^(sub-\d+)'`,
	New:     newStage,
	Headers: headers,
}

func init() { contract.Register(kind) }

// Kind returns the ingest.signals kind (for tests and docs).
func Kind() *contract.Kind { return kind }

type stage struct {
	cfg     contract.Config
	sel     *Selector
	subject *regexp.Regexp
	raw     RawOptions
	csv     CSVOptions
}

func newStage(cfg contract.Config) (contract.Stage, error) {
	s := &stage{cfg: cfg}
	var issues []contract.Issue
	var err error
	if s.sel, err = NewSelector(cfg.Strings(FieldChannels)); err != nil {
		issues = append(issues, contract.Issue{Path: []string{FieldChannels}, Msg: err.Error()})
	}
	if p := cfg.String(FieldSubjectPattern); p != "" {
		if s.subject, err = regexp.Compile(p); err != nil {
			issues = append(issues, contract.Issue{Path: []string{FieldSubjectPattern}, Msg: err.Error()})
		} else if s.subject.NumSubexp() < 1 {
			issues = append(issues, contract.Issue{Path: []string{FieldSubjectPattern}, Msg: "needs one capture group: the subject id"})
		}
	}
	if cfg.String(FieldSubjectFrom) == "file" && s.subject == nil && len(issues) == 0 {
		// the whole file stem is the id
		s.subject = regexp.MustCompile(`^(.*)$`)
	}
	raw := cfg.Object(FieldRaw)
	s.raw = RawOptions{DType: raw.String(FieldDType), Channels: raw.Int(FieldNChannels), ChannelNames: raw.Strings(FieldChannelNames),
		SampleRate: raw.Float(FieldSampleRate), Scale: raw.Float(FieldScale), BigEndian: raw.Bool(FieldBigEndian), Unit: raw.String(FieldUnit)}
	if s.raw.DType == "" {
		s.raw.DType = "int16"
	}
	c := cfg.Object(FieldCSV)
	s.csv = CSVOptions{SampleRate: c.Float(FieldSampleRate), TimeColumn: c.String(FieldTimeColumn), Unit: c.String(FieldUnit)}
	if d := c.String(FieldDelimiter); d != "" {
		r := []rune(d)
		if len(r) != 1 {
			issues = append(issues, contract.Issue{Path: []string{FieldCSV, FieldDelimiter}, Msg: fmt.Sprintf("%q is not one character", d)})
		} else {
			s.csv.Delimiter = r[0]
		}
	}
	if len(issues) > 0 {
		return nil, &contract.ConfigError{Issues: issues}
	}
	return s, nil
}

// inputFiles expands folders into the recording files they hold, sorted.
func inputFiles(paths []string, format string) ([]string, error) {
	var out []string
	for _, p := range paths {
		st, err := os.Stat(p)
		if err != nil {
			return nil, err
		}
		if !st.IsDir() {
			out = append(out, p)
			continue
		}
		err = filepath.WalkDir(p, func(q string, d os.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if d.IsDir() || strings.HasPrefix(d.Name(), ".") {
				return nil
			}
			if f := detect(q, format); f != "" {
				out = append(out, q)
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	sort.Strings(out)
	return out, nil
}

// detect returns the format of a file ("" when a folder walk should skip it).
func detect(path, format string) string {
	ext := strings.ToLower(filepath.Ext(path))
	switch format {
	case "edf", "raw", "csv":
		if format == "edf" && ext != ".edf" && ext != ".bdf" && ext != ".rec" && !isEDF(path) {
			return ""
		}
		return format
	}
	switch ext {
	case ".edf", ".bdf", ".rec":
		return "edf"
	case ".bin", ".raw", ".dat":
		return "raw"
	case ".csv":
		return "csv"
	}
	if isEDF(path) {
		return "edf"
	}
	return ""
}

func isEDF(path string) bool {
	f, err := os.Open(path)
	if err != nil {
		return false
	}
	defer f.Close()
	b := make([]byte, 8)
	if n, _ := f.Read(b); n < 8 {
		return false
	}
	return string(b) == "0       " || (b[0] == 0xFF && string(b[1:]) == "BIOSEMI")
}

// Pseudonym returns the subject pseudonym of a patient id: contract.PatientPseudonym, the
// same salted HMAC that ingest.dicom (PatientID) and ingest.table (id and group columns)
// use, so one patient has one pseudonym across modalities under one salt and recordings can
// be joined with images and tables on it.
func Pseudonym(salt []byte, id string) string {
	return contract.PatientPseudonym(salt, id)
}

// HashPHI returns the hex SHA-256 of s (the form of summary.json's phi_hashes).
func HashPHI(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:])
}

func (s *stage) Run(ctx context.Context, env *contract.Env) error {
	// Paths come from env.Config: the executor resolves them (relative to the pipeline file)
	// after the stage was built.
	paths := s.cfg.Strings(FieldFiles)
	if env.Config != nil {
		paths = env.Config.Strings(FieldFiles)
	}
	files, err := inputFiles(paths, s.cfg.String(FieldFormat))
	if err != nil {
		return err
	}
	if len(files) == 0 {
		return fmt.Errorf("no recording files found in %v", paths)
	}
	salt, from, err := env.PseudonymSalt(s.cfg.String(FieldSalt), s.cfg.String(FieldSaltEnv))
	if err != nil {
		return err
	}
	env.Log.Debug("pseudonym salt", "from", from)
	set := &Set{}
	sum := &Summary{Annotations: map[string]int{}, PHIHashes: []string{}, PHIHashMethod: PHIHashMethod}
	phi := map[string]bool{}
	addPHI := func(v string, name bool) {
		for _, h := range phiForms(v, name) {
			phi[h] = true
		}
	}
	perSubject := map[string]int{}
	chanSet, rateSet := map[string]bool{}, map[float64]bool{}
	bar := env.Progress("reading recordings", len(files))
	defer bar.Close()
	for _, path := range files {
		if err := ctx.Err(); err != nil {
			return err
		}
		format := detect(path, s.cfg.String(FieldFormat))
		if format == "" {
			format = "edf"
		}
		var fd *fileData
		switch format {
		case "edf":
			fd, err = readEDF(ctx, path, s.sel)
		case "raw":
			fd, err = readRaw(path, s.raw, s.sel)
		case "csv":
			fd, err = readCSV(path, s.csv, s.sel)
		}
		if err == nil && s.cfg.String(FieldEventsChannel) != "" {
			err = triggerEvents(path, fd, s.cfg.String(FieldEventsChannel), s.cfg.Int(FieldEventsMask))
		}
		if err == nil && len(fd.segments[0].Channels) == 0 {
			err = fmt.Errorf("%s: no channel matches %v", path, s.cfg.Strings(FieldChannels))
		}
		if err != nil {
			if env.KeepGoing {
				env.Quarantine(path, err.Error())
				bar.Add(1)
				continue
			}
			return err
		}
		id, err := s.subjectID(path, fd)
		if err != nil {
			return err
		}
		subj := Pseudonym(salt, id)
		addPHI(id, false)
		addPHI(fd.patient, false)
		addPHI(fd.recording, false)
		for i, f := range fd.patientFields {
			if i == 0 || i == 2 || i >= 4 { // code, birthdate, additional
				addPHI(f, false)
			}
			if i == 3 { // name
				addPHI(f, true)
			}
		}
		for i, f := range fd.recordingFields {
			if i == 2 || i == 3 { // admin code, technician
				addPHI(f, true)
			}
		}
		perSubject[subj]++
		recID := fmt.Sprintf("%s_r%02d", subj, perSubject[subj])
		fs := FileSummary{Source: filepath.Base(path), Recording: recID, Subject: subj, Format: format, Segments: len(fd.segments)}
		for _, seg := range fd.segments {
			seg.Recording, seg.Subject, seg.Source = recID, subj, filepath.Base(path)
			set.Segments = append(set.Segments, seg)
			fs.Channels = max(fs.Channels, len(seg.Channels))
			fs.DurationS += seg.Duration()
			for _, c := range seg.Channels {
				chanSet[c.Name] = true
				rateSet[c.SampleRate] = true
			}
		}
		for _, a := range fd.annotations {
			a.Recording = recID
			set.Annotations = append(set.Annotations, a)
			sum.Annotations[a.Text]++
		}
		sum.Files = append(sum.Files, fs)
		sum.DurationS += fs.DurationS
		bar.Add(1)
	}
	if len(set.Segments) == 0 {
		return fmt.Errorf("every input file was quarantined")
	}
	if err := set.WriteDir(env.OutDir); err != nil {
		return err
	}
	sum.Recordings = len(sum.Files)
	sum.Segments = len(set.Segments)
	sum.Subjects = len(perSubject)
	for c := range chanSet {
		sum.Channels = append(sum.Channels, c)
	}
	sort.Strings(sum.Channels)
	for r := range rateSet {
		sum.SampleRates = append(sum.SampleRates, r)
	}
	sort.Float64s(sum.SampleRates)
	for h := range phi {
		sum.PHIHashes = append(sum.PHIHashes, h)
	}
	sort.Strings(sum.PHIHashes)
	sum.Quarantined = env.Quarantined()
	env.SetMetric("recordings", sum.Recordings)
	env.SetMetric("subjects", sum.Subjects)
	env.SetMetric("duration_s", sum.DurationS)
	return dataset.WriteJSON(env.Out(contract.SummaryFile), sum)
}

// subjectID returns the identifier a subject pseudonym is derived from.
func (s *stage) subjectID(path string, fd *fileData) (string, error) {
	from := s.cfg.String(FieldSubjectFrom)
	stem := strings.TrimSuffix(filepath.Base(path), filepath.Ext(path))
	if from == "file" || (from == "auto" && s.subject != nil) {
		if s.subject == nil {
			return stem, nil
		}
		m := s.subject.FindStringSubmatch(filepath.Base(path))
		if m == nil || m[1] == "" {
			return "", fmt.Errorf("%s: subject_pattern %q does not match the file name", path, s.subject)
		}
		return m[1], nil
	}
	if f := fd.patientFields; len(f) > 0 && f[0] != "X" {
		return f[0], nil
	}
	if f := fd.patientFields; len(f) > 3 && f[3] != "X" {
		return f[3], nil
	}
	if len(fd.patientFields) == 0 && strings.TrimSpace(fd.patient) != "" {
		return strings.TrimSpace(fd.patient), nil
	}
	// No usable patient field (raw, CSV, anonymised EDF+): one subject per file.
	return stem, nil
}

// triggerEvents turns a trigger channel into annotations and removes it from the segments.
func triggerEvents(path string, fd *fileData, name string, mask int) error {
	found := false
	for _, seg := range fd.segments {
		var keep []*Channel
		for _, c := range seg.Channels {
			if c.Name != name {
				keep = append(keep, c)
				continue
			}
			found = true
			code := func(v float32) int {
				x := int(math.Round(float64(v)))
				if mask > 0 {
					x &= mask
				}
				return x
			}
			prev, start := 0, 0
			flush := func(end int) {
				if prev != 0 {
					fd.annotations = append(fd.annotations, Annotation{Onset: seg.Onset + float64(start)/c.SampleRate,
						Duration: float64(end-start) / c.SampleRate, Text: strconv.Itoa(prev)})
				}
			}
			for i, v := range c.Data {
				if k := code(v); k != prev {
					flush(i)
					prev, start = k, i
				}
			}
			flush(len(c.Data))
		}
		seg.Channels = keep
	}
	if !found {
		return fmt.Errorf("%s: events_channel %q not found", path, name)
	}
	sort.SliceStable(fd.annotations, func(i, j int) bool { return fd.annotations[i].Onset < fd.annotations[j].Onset })
	return nil
}
