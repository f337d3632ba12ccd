// Package sequences is the ingest.sequences stage kind: it reads a FASTA or FASTQ file
// (plain or gzip) into a table of one row per record (id, sequence, quality), checks every
// residue against a DNA, RNA or protein alphabet with its IUPAC ambiguity codes, and takes
// labels from a CSV joined on the record id or from a pattern in the header.
package sequences

import (
	"context"
	"fmt"
	"io"
	"path/filepath"
	"regexp"
	"slices"

	"github.com/biopipe/biopipe/contract"
	"github.com/biopipe/biopipe/dataset"
	"github.com/biopipe/biopipe/io/arrowio"
	"github.com/biopipe/biopipe/io/seq"
	"github.com/biopipe/biopipe/stages/ingest/table"
)

// KindName is the registered name of the stage kind.
const KindName = "ingest.sequences"

// Config field names.
const (
	FieldPath         = "path"
	FieldAlphabet     = "alphabet"
	FieldLabels       = "labels"
	FieldLabelsID     = "labels_id"
	FieldLabel        = "label"
	FieldLabelPattern = "label_pattern"
	FieldTask         = "task"
	FieldAmbiguous    = "ambiguous"
	FieldInvalid      = "invalid"
	FieldUnlabelled   = "unlabelled"
)

// Output columns and their field metadata.
const (
	ColID       = "id"
	ColSequence = "sequence"
	ColQuality  = "quality"
	// RoleSequence marks the sequence column (field metadata biopipe.role), so that it is not
	// a model feature and transform.encode_sequence finds it; MetaAlphabet names its alphabet.
	RoleSequence = "sequence"
	RoleQuality  = "quality"
	MetaRole     = "biopipe.role"
	MetaAlphabet = "biopipe.alphabet"
)

// Choices.
const (
	AlphabetAuto = "auto"
	Keep         = "keep"
	Drop         = "drop"
	Error        = "error"
	Skip         = "skip"
)

// Fields is the config of ingest.sequences.
var Fields = []contract.Field{
	{Name: FieldPath, Type: contract.Path, Required: true, Doc: "the FASTA or FASTQ file (.fa/.fasta/.fq/.fastq ..., optionally .gz); the format is read from the first line"},
	{Name: FieldAlphabet, Type: contract.String, Default: AlphabetAuto, Enum: append([]string{AlphabetAuto}, seq.Alphabets...),
		Doc: "residue alphabet: dna (ACGT), rna (ACGU), protein (20 amino acids); auto: nucleotides when >= 90% of residues are ACGTUN, RNA when U outnumbers T"},
	{Name: FieldLabels, Type: contract.Path, Doc: "a CSV/TSV (or Parquet/Arrow) table of labels, joined on the record id"},
	{Name: FieldLabelsID, Type: contract.String, Default: "id", Doc: "the column of labels: that holds the record id (the header up to the first space)"},
	{Name: FieldLabel, Type: contract.String, Doc: "the label column: a column of labels:, or the name given to the label taken from the header by label_pattern (default \"label\")"},
	{Name: FieldLabelPattern, Type: contract.String,
		Doc: "a regular expression run on the whole header line (without '>'/'@'); its first capture group is the label, e.g. 'class=(\\w+)'"},
	{Name: FieldTask, Type: contract.String, Default: table.TaskAuto, Enum: []string{table.TaskAuto, table.TaskClassification, table.TaskRegression},
		Doc: "as in ingest.table: auto is classification for text labels or at most 20 distinct integers"},
	{Name: FieldAmbiguous, Type: contract.String, Default: Keep, Enum: []string{Keep, Drop, Error},
		Doc: "records holding IUPAC ambiguity codes (N, R, Y ... for nucleotides; B, Z, J, X for proteins): keep them (transform.encode_sequence spreads or zeroes them), drop them (counted), or fail naming the record"},
	{Name: FieldInvalid, Type: contract.String, Default: Error, Enum: []string{Error, Skip},
		Doc: "a residue that is neither a letter of the alphabet, an ambiguity code nor a gap ('-', '.'): fail naming file, line and record, or skip the record (counted)"},
	{Name: FieldUnlabelled, Type: contract.String, Default: Drop, Enum: []string{Drop, Error},
		Doc: "a record that the labels table or label_pattern gives no label: drop it (counted, with a warning) or fail naming it"},
}

func init() {
	contract.Register(&contract.Kind{
		Name: KindName,
		Doc:  "read FASTA/FASTQ sequences with labels from a CSV (joined on record id) or from a header pattern",
		Description: `Streams one FASTA or FASTQ file (multi-line records, .gz allowed) into a table with one row per
record: id (the header up to the first space; ids must be unique), sequence (upper-cased; gaps kept,
a protein's trailing '*' stop removed), quality (FASTQ only, as written) and the label. The sequence
column is a role column (not a model feature) carrying its alphabet in the field metadata;
transform.encode_sequence turns it into a tensor. Every residue is checked against the alphabet: its
letters, its IUPAC ambiguity codes (handled by ambiguous:) and gaps; anything else is handled by
invalid:. Labels come from a table joined on the record id (labels:, labels_id:, label:) or from the
first capture group of label_pattern: on the header. Writes data.arrow and summary.json (records,
length distribution, alphabet, ambiguous records and residues, records dropped, class counts).`,
		Version: "1",
		Fields:  Fields,
		Output:  contract.Port{Name: "data", Type: contract.Table, Doc: "data.arrow (id, sequence, quality, label); summary.json"},
		New:     New,
		Example: `- id: load
  kind: ingest.sequences
  with: {path: data/splice.fa.gz, alphabet: dna, labels: data/labels.csv, labels_id: id, label: class}`,
	})
}

// Options configure Read.
type Options struct {
	Path         string
	Alphabet     string // auto, dna, rna, protein
	Labels       string // labels table path
	LabelsID     string
	Label        string
	LabelPattern *regexp.Regexp
	Task         string
	Ambiguous    string // keep, drop, error
	Invalid      string // error, skip
	Unlabelled   string // drop, error
}

// Summary is written to summary.json.
type Summary struct {
	File               string         `json:"file"` // base name only
	Format             string         `json:"format"`
	Alphabet           string         `json:"alphabet"`
	Records            int            `json:"records"` // rows written
	RecordsRead        int            `json:"records_read"`
	MinLength          int            `json:"min_length"`
	MeanLength         float64        `json:"mean_length"`
	MaxLength          int            `json:"max_length"`
	AmbiguousRecords   int            `json:"ambiguous_records"` // kept or dropped, per ambiguous:
	AmbiguousResidues  int            `json:"ambiguous_residues"`
	AmbiguousDropped   int            `json:"ambiguous_dropped"`
	InvalidSkipped     int            `json:"invalid_skipped"`
	UnlabelledDropped  int            `json:"unlabelled_dropped"`
	FirstUnlabelled    []string       `json:"first_unlabelled,omitempty"`
	Task               string         `json:"task,omitempty"`
	Label              string         `json:"label,omitempty"`
	Classes            []string       `json:"classes,omitempty"`
	ClassCounts        map[string]int `json:"class_counts,omitempty"`
	LabelsWithoutMatch int            `json:"labels_without_record"` // rows of labels: naming no record
}

// New builds the stage from a validated config.
func New(cfg contract.Config) (contract.Stage, error) {
	o := Options{
		Path: cfg.String(FieldPath), Alphabet: cfg.String(FieldAlphabet), Labels: cfg.String(FieldLabels),
		LabelsID: cfg.String(FieldLabelsID), Label: cfg.String(FieldLabel), Task: cfg.String(FieldTask),
		Ambiguous: cfg.String(FieldAmbiguous), Invalid: cfg.String(FieldInvalid), Unlabelled: cfg.String(FieldUnlabelled),
	}
	var issues []contract.Issue
	if p := cfg.String(FieldLabelPattern); p != "" {
		re, err := regexp.Compile(p)
		switch {
		case err != nil:
			issues = append(issues, contract.Issue{Path: []string{FieldLabelPattern}, Msg: err.Error()})
		case re.NumSubexp() < 1:
			issues = append(issues, contract.Issue{Path: []string{FieldLabelPattern}, Msg: "needs a capture group (...) around the label"})
		default:
			o.LabelPattern = re
		}
		if o.Labels != "" {
			issues = append(issues, contract.Issue{Path: []string{FieldLabelPattern}, Msg: "give labels: or label_pattern:, not both"})
		}
	}
	if o.Labels != "" && o.Label == "" {
		issues = append(issues, contract.Issue{Path: []string{FieldLabel}, Msg: "name the label column of labels: (label: ...)"})
	}
	if o.Label == ColID || o.Label == ColSequence || o.Label == ColQuality {
		issues = append(issues, contract.Issue{Path: []string{FieldLabel}, Msg: fmt.Sprintf("%q is a column the stage writes; name the label otherwise", o.Label)})
	}
	if o.Task != table.TaskAuto && o.Labels == "" && o.LabelPattern == nil {
		issues = append(issues, contract.Issue{Path: []string{FieldTask}, Msg: "task needs labels (labels: or label_pattern:)"})
	}
	if len(issues) > 0 {
		return nil, &contract.ConfigError{Issues: issues}
	}
	if o.LabelPattern != nil && o.Label == "" {
		o.Label = "label"
	}
	return contract.StageFunc(func(ctx context.Context, env *contract.Env) error {
		f, sum, err := Read(ctx, o)
		if err != nil {
			return fmt.Errorf("stage %q: %w", env.StageID, err)
		}
		if sum.UnlabelledDropped > 0 {
			env.Log.Warn("dropped records without a label", "stage", env.StageID, "records", sum.UnlabelledDropped, "first", sum.FirstUnlabelled)
		}
		if sum.InvalidSkipped > 0 || sum.AmbiguousDropped > 0 {
			env.Log.Warn("skipped records", "stage", env.StageID, "invalid", sum.InvalidSkipped, "ambiguous", sum.AmbiguousDropped)
		}
		if err := f.WriteFile(env.Out(contract.DataFile)); err != nil {
			return err
		}
		env.SetMetric("records", sum.Records)
		env.SetMetric("ambiguous_records", sum.AmbiguousRecords)
		return dataset.WriteJSON(env.Out(contract.SummaryFile), sum)
	}), nil
}

// record is one kept record.
type record struct {
	id, seq, qual, header string
	line                  int
}

// Read reads, checks and labels the records.
func Read(ctx context.Context, o Options) (*dataset.Frame, *Summary, error) {
	r, err := seq.Open(o.Path)
	if err != nil {
		return nil, nil, err
	}
	defer r.Close()
	var recs []*seq.Record
	var counts = map[byte]int64{}
	for {
		if len(recs)%4096 == 0 {
			if err := ctx.Err(); err != nil {
				return nil, nil, err
			}
		}
		rec, err := r.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, nil, err
		}
		for i, c := range rec.Seq {
			if c >= 'a' && c <= 'z' {
				c -= 'a' - 'A'
				rec.Seq[i] = c
			}
			counts[c]++
		}
		recs = append(recs, rec)
	}
	if len(recs) == 0 {
		return nil, nil, fmt.Errorf("%s: no sequence records", o.Path)
	}
	name := o.Alphabet
	if name == "" || name == AlphabetAuto {
		name = seq.Guess(counts)
	}
	alpha, err := seq.Get(name)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", o.Path, err)
	}
	sum := &Summary{File: filepath.Base(o.Path), Format: r.Format(), Alphabet: alpha.Name, RecordsRead: len(recs)}
	seen := map[string]int{}
	var kept []record
	for _, rec := range recs {
		if prev, dup := seen[rec.ID]; dup {
			return nil, nil, fmt.Errorf("%s:%d: record id %q appears again (first at line %d); ids must be unique", o.Path, rec.Line, rec.ID, prev)
		}
		seen[rec.ID] = rec.Line
		if rec.ID == "" {
			return nil, nil, fmt.Errorf("%s:%d: record without an id", o.Path, rec.Line)
		}
		s := rec.Seq
		if alpha.Name == seq.Protein && len(s) > 0 && s[len(s)-1] == '*' {
			s = s[:len(s)-1]
		}
		amb, bad := 0, -1
		for i, c := range s {
			switch {
			case alpha.Index(c) >= 0, seq.IsGap(c):
			case alpha.IsAmbiguous(c):
				amb++
			default:
				if bad < 0 {
					bad = i
				}
			}
		}
		if bad >= 0 {
			if o.Invalid == Skip {
				sum.InvalidSkipped++
				continue
			}
			return nil, nil, fmt.Errorf("%s:%d: record %q: residue %d is %q, not in the %s alphabet %s, its ambiguity codes or a gap (set alphabet:, or invalid: skip)",
				o.Path, rec.Line, rec.ID, bad+1, rune(s[bad]), alpha.Name, alpha.Letters)
		}
		if amb > 0 {
			sum.AmbiguousRecords++
			sum.AmbiguousResidues += amb
			switch o.Ambiguous {
			case Error:
				return nil, nil, fmt.Errorf("%s:%d: record %q holds %d ambiguity code(s) (set ambiguous: keep or drop)", o.Path, rec.Line, rec.ID, amb)
			case Drop:
				sum.AmbiguousDropped++
				continue
			}
		}
		header := rec.ID
		if rec.Desc != "" {
			header += " " + rec.Desc
		}
		kept = append(kept, record{id: rec.ID, seq: string(s), qual: string(rec.Qual), header: header, line: rec.Line})
	}
	f := dataset.New()
	f.Meta[dataset.MetaSource] = sum.File
	f.Meta[dataset.MetaID] = ColID
	ids := &dataset.Column{Name: ColID, Kind: dataset.String}
	seqs := &dataset.Column{Name: ColSequence, Kind: dataset.String, Meta: map[string]string{MetaRole: RoleSequence, MetaAlphabet: alpha.Name}}
	quals := &dataset.Column{Name: ColQuality, Kind: dataset.String, Meta: map[string]string{MetaRole: RoleQuality}}
	for _, k := range kept {
		ids.S = append(ids.S, k.id)
		seqs.S = append(seqs.S, k.seq)
		quals.S = append(quals.S, k.qual)
	}
	f.Columns = []*dataset.Column{ids, seqs}
	if sum.Format == seq.FASTQ {
		f.Columns = append(f.Columns, quals)
	}
	if o.Label != "" {
		lc, err := labelColumn(ctx, o, kept, sum)
		if err != nil {
			return nil, nil, err
		}
		f.Columns = append(f.Columns, lc)
		if lc.NullCount() > 0 && o.Unlabelled == Error {
			for i := range lc.Len() {
				if !lc.IsValid(i) {
					return nil, nil, fmt.Errorf("%s:%d: record %q has no label (%s; set unlabelled: drop to leave it out)", o.Path, kept[i].line, kept[i].id, labelSource(o))
				}
			}
		}
		for i := range lc.Len() {
			if !lc.IsValid(i) && len(sum.FirstUnlabelled) < 5 {
				sum.FirstUnlabelled = append(sum.FirstUnlabelled, kept[i].id)
			}
		}
		ls, err := table.MarkLabel(f, o.Label, o.Task)
		if err != nil {
			return nil, nil, fmt.Errorf("%s: %w", o.Path, err)
		}
		sum.UnlabelledDropped = ls.MissingLabelRows
		sum.Task, sum.Label, sum.Classes, sum.ClassCounts = ls.Task, ls.Label, ls.Classes, ls.ClassCounts
	}
	sum.Records = f.NumRows()
	if sum.Records == 0 {
		return nil, nil, fmt.Errorf("%s: no record left (read %d; invalid %d, ambiguous dropped %d, unlabelled %d)",
			o.Path, sum.RecordsRead, sum.InvalidSkipped, sum.AmbiguousDropped, sum.UnlabelledDropped)
	}
	sc := f.Col(ColSequence)
	total := 0
	sum.MinLength = len(sc.S[0])
	for _, s := range sc.S {
		total += len(s)
		sum.MinLength, sum.MaxLength = min(sum.MinLength, len(s)), max(sum.MaxLength, len(s))
	}
	sum.MeanLength = float64(total) / float64(sum.Records)
	return f, sum, f.Validate()
}

func labelSource(o Options) string {
	if o.LabelPattern != nil {
		return fmt.Sprintf("label_pattern %q does not match its header", o.LabelPattern.String())
	}
	return fmt.Sprintf("no row of %s has it in column %q", filepath.Base(o.Labels), o.LabelsID)
}

// labelColumn builds the label column for the kept records: from the header pattern, or by
// joining the labels table on the record id (a missing label is a null).
func labelColumn(ctx context.Context, o Options, kept []record, sum *Summary) (*dataset.Column, error) {
	n := len(kept)
	if o.LabelPattern != nil {
		c := &dataset.Column{Name: o.Label, Kind: dataset.String, S: make([]string, n), Valid: make([]bool, n)}
		for i, k := range kept {
			if m := o.LabelPattern.FindStringSubmatch(k.header); m != nil && m[1] != "" {
				c.S[i], c.Valid[i] = m[1], true
			}
		}
		return c, nil
	}
	lt, _, err := arrowio.Read(ctx, o.Labels, arrowio.Options{CSV: arrowio.CSVOptions{Types: map[string]dataset.Kind{o.LabelsID: dataset.String}}})
	if err != nil {
		return nil, err
	}
	idc, lab := lt.Col(o.LabelsID), lt.Col(o.Label)
	for _, want := range [][2]string{{FieldLabelsID, o.LabelsID}, {FieldLabel, o.Label}} {
		if lt.Col(want[1]) == nil {
			return nil, fmt.Errorf("%s: %s: column %q not found%s (columns: %v)", o.Labels, want[0], want[1], contract.DidYouMean(want[1], lt.Names()), lt.Names())
		}
	}
	if lab.Kind == dataset.Tensor {
		return nil, fmt.Errorf("%s: label column %q is a tensor", o.Labels, o.Label)
	}
	row := map[string]int{}
	for i := range idc.Len() {
		id := idc.Text(i)
		if _, dup := row[id]; dup {
			return nil, fmt.Errorf("%s: id %q appears on more than one row of column %q", o.Labels, id, o.LabelsID)
		}
		row[id] = i
	}
	idx := make([]int, n)
	valid := make([]bool, n)
	matched := 0
	for i, k := range kept {
		j, ok := row[k.id]
		idx[i] = max(j, 0)
		valid[i] = ok && lab.IsValid(j)
		if ok {
			matched++
		}
	}
	sum.LabelsWithoutMatch = len(row) - matched
	picked := (&dataset.Frame{Columns: []*dataset.Column{lab}}).Rows(idx).Columns[0]
	picked.Valid = valid
	if !slices.Contains(valid, false) {
		picked.Valid = nil
	}
	picked.Meta = nil
	return picked, nil
}
