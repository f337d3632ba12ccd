// Package table is the ingest.table stage kind: it reads a CSV/TSV, Parquet or Arrow table,
// marks its label, id and group columns, decides the task and writes a table artifact.
package table

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"maps"
	"math"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/biopipe/biopipe/contract"
	"github.com/biopipe/biopipe/dataset"
	"github.com/biopipe/biopipe/io/arrowio"
)

// KindName is the registered name of the stage kind.
const KindName = "ingest.table"

// Config field names.
const (
	FieldPath      = "path"
	FieldFormat    = "format"
	FieldDelimiter = "delimiter"
	FieldHeader    = "header"
	FieldNAValues  = "na_values"
	FieldTypes     = "types"
	FieldLabel     = "label"
	FieldID        = "id"
	FieldGroup     = "group"
	FieldTask      = "task"
	FieldDrop      = "drop"
	FieldBadRows   = "on_bad_rows"
	FieldPseudo    = "pseudonymize"
	FieldSalt      = "salt"
	FieldSaltEnv   = "salt_env"
)

// Task values.
const (
	TaskAuto           = "auto"
	TaskClassification = "classification"
	TaskRegression     = "regression"
)

// MaxAutoClasses is the most distinct integer label values for which task: auto decides
// classification.
const MaxAutoClasses = 20

// Fields is the config of ingest.table.
var Fields = []contract.Field{
	{Name: FieldPath, Type: contract.Path, Required: true, Doc: "the table file: .csv, .tsv (optionally .gz), .parquet, .arrow/.feather"},
	{Name: FieldFormat, Type: contract.String, Default: arrowio.FormatAuto, Enum: arrowio.Formats, Doc: "file format; auto looks at the magic bytes, then the extension"},
	{Name: FieldDelimiter, Type: contract.String, Doc: `field delimiter of text files, one character or "tab"; default: tab for .tsv, comma for .csv, sniffed otherwise`},
	{Name: FieldHeader, Type: contract.Bool, Default: true, Doc: "the first row of a text file holds the column names (false: columns are col1, col2, ...)"},
	{Name: FieldNAValues, Type: contract.Strings, Doc: `cell values read as missing (default: "", NA, N/A, NaN, ?, null)`},
	{Name: FieldTypes, Type: contract.Map, Doc: "declared column types, column -> int|float|string; other text columns are inferred from their values (Parquet/Arrow columns are cast)", Example: "types: {zip: string, age: int}"},
	{Name: FieldLabel, Type: contract.String, Doc: "the label (target) column; rows without a label are dropped and counted"},
	{Name: FieldID, Type: contract.String, Doc: "the example id column (kept as text, not a feature)"},
	{Name: FieldGroup, Type: contract.String, Doc: "the group (patient/subject) column used by grouped splits (kept as text, not a feature)"},
	{Name: FieldTask, Type: contract.String, Default: TaskAuto, Enum: []string{TaskAuto, TaskClassification, TaskRegression},
		Doc: "auto: classification when the label is text or has at most 20 distinct integer values, else regression"},
	{Name: FieldDrop, Type: contract.Strings, Doc: "columns to leave out"},
	{Name: FieldBadRows, Type: contract.String, Default: "error", Enum: []string{"error", "skip"}, Doc: "a text row with the wrong number of fields: fail naming file and line, or skip and count it"},
	{Name: FieldPseudo, Type: contract.Bool, Default: true,
		Doc: "replace the values of the id and group columns (patient identifiers) by salted pseudonyms, HMAC-SHA256 as ingest.dicom makes them (P + 12 hex digits), so no raw patient id leaves ingest; summary.json keeps only SHA-256 hashes of the raw values (phi_hashes) for downstream scrubbing"},
	{Name: FieldSalt, Type: contract.String, Default: "", Doc: "pseudonym salt written in the pipeline (only for synthetic or public data: it lands in the manifest); prefer salt_env"},
	{Name: FieldSaltEnv, Type: contract.String, Default: "BIOPIPE_SALT", Doc: "environment variable holding the pseudonym salt (else the work dir's random project salt)"},
}

// pseudonymizes reports whether a config replaces identifier values by pseudonyms.
func pseudonymizes(cfg contract.Config) bool {
	return cfg.Bool(FieldPseudo) && (cfg.String(FieldID) != "" || cfg.String(FieldGroup) != "")
}

func init() {
	contract.Register(&contract.Kind{
		Name: KindName,
		Doc:  "read a CSV/TSV, Parquet or Arrow table and mark its label, id and group columns",
		Description: `Reads one table file. Text column types are inferred from all values of a column (int, float, string)
unless declared in types:. Marks the label, id and group columns in the artifact's metadata, drops
the listed columns, decides the task (classification or regression) and records the sorted class
names. The id and group columns hold patient identifiers: their values are replaced by salted
pseudonyms (pseudonymize: true, the default), the same HMAC as ingest.dicom's, so a grouped split
still keeps a patient's rows together while no raw id reaches an artifact, log or report.
Writes data.arrow and summary.json (rows, columns, class counts, rows skipped, phi_hashes).`,
		Version: "2", // 2: id and group values pseudonymised by default
		Fields:  Fields,
		Salt:    &contract.SaltFields{Value: FieldSalt, Env: FieldSaltEnv, When: pseudonymizes},
		Output:  contract.Port{Name: "data", Type: contract.Table, Doc: "data.arrow with roles in its metadata; summary.json"},
		New:     New,
		Headers: Headers,
		Example: `- id: load
  kind: ingest.table
  with: {path: data/patients.csv, label: outcome, id: patient_id, drop: [name], types: {zip: string}}`,
	})
}

// Stage is a configured ingest.table stage.
type Stage struct {
	Path    string
	Options arrowio.Options
	Label   string
	ID      string
	Group   string
	Task    string
	Drop    []string
	// Pseudonymous: the id and group values are replaced by pseudonyms under Salt (see
	// Pseudonymize); Read leaves them raw, Run applies it.
	Pseudonymous  bool
	Salt, SaltEnv string
}

// Summary is written to summary.json.
type Summary struct {
	File             string            `json:"file"` // base name only
	Format           string            `json:"format"`
	Rows             int               `json:"rows"`
	Columns          int               `json:"columns"`
	Features         int               `json:"features"`
	Task             string            `json:"task,omitempty"`
	Label            string            `json:"label,omitempty"`
	Classes          []string          `json:"classes,omitempty"`
	ClassCounts      map[string]int    `json:"class_counts,omitempty"`
	BadRowsSkipped   int               `json:"bad_rows_skipped"`
	BadLines         []int             `json:"bad_lines,omitempty"`
	MissingLabelRows int               `json:"missing_label_rows_dropped"`
	Missing          map[string]int    `json:"missing,omitempty"` // per column, only columns with missing values
	ColumnTypes      map[string]string `json:"column_types"`
	Dropped          []string          `json:"dropped,omitempty"`
	// Pseudonymized lists the identifier columns whose values were replaced by pseudonyms;
	// PHIHashes holds the SHA-256 (hex) of each distinct raw value, so a later stage can
	// recognise and scrub an identifier in free text without the raw value being stored.
	Pseudonymized []string `json:"pseudonymized,omitempty"`
	PHIHashes     []string `json:"phi_hashes,omitempty"`
}

// New builds the stage from a validated config.
func New(cfg contract.Config) (contract.Stage, error) {
	s := &Stage{
		Path:  cfg.String(FieldPath),
		Label: cfg.String(FieldLabel),
		ID:    cfg.String(FieldID),
		Group: cfg.String(FieldGroup),
		Task:  cfg.String(FieldTask),
		Drop:  cfg.Strings(FieldDrop),

		Pseudonymous: pseudonymizes(cfg),
		Salt:         cfg.String(FieldSalt),
		SaltEnv:      cfg.String(FieldSaltEnv),
	}
	var issues []contract.Issue
	s.Options.Format = cfg.String(FieldFormat)
	co := &s.Options.CSV
	co.NoHeader = cfg.Has(FieldHeader) && !cfg.Bool(FieldHeader)
	if cfg.Has(FieldNAValues) {
		co.NAValues = append([]string{}, cfg.Strings(FieldNAValues)...)
	}
	co.SkipBadRows = cfg.String(FieldBadRows) == "skip"
	if d := cfg.String(FieldDelimiter); d != "" {
		switch strings.ToLower(d) {
		case "tab", `\t`:
			co.Delimiter = '\t'
		default:
			r, n := utf8.DecodeRuneInString(d)
			if n != len(d) || r == '"' || r == '\n' || r == '\r' {
				issues = append(issues, contract.Issue{Path: []string{FieldDelimiter}, Msg: fmt.Sprintf("%q is not a single delimiter character (use \"tab\" for tabs)", d)})
			}
			co.Delimiter = r
		}
	}
	if types := cfg.MapOf(FieldTypes); len(types) > 0 {
		co.Types = map[string]dataset.Kind{}
		for col, v := range types {
			k, err := arrowio.ParseKind(fmt.Sprint(v))
			if err != nil {
				issues = append(issues, contract.Issue{Path: []string{FieldTypes, col}, Msg: err.Error()})
				continue
			}
			co.Types[col] = k
		}
	}
	// Identifiers are text: "007" stays "007" (a declared type wins).
	for _, col := range []string{s.ID, s.Group} {
		if col == "" {
			continue
		}
		if co.Types == nil {
			co.Types = map[string]dataset.Kind{}
		}
		if _, ok := co.Types[col]; !ok {
			co.Types[col] = dataset.String
		}
	}
	roles := map[string]string{}
	for _, r := range [][2]string{{FieldLabel, s.Label}, {FieldID, s.ID}, {FieldGroup, s.Group}} {
		if r[1] == "" {
			continue
		}
		if prev, dup := roles[r[1]]; dup {
			issues = append(issues, contract.Issue{Path: []string{r[0]}, Msg: fmt.Sprintf("column %q is already the %s column", r[1], prev)})
		}
		roles[r[1]] = r[0]
		if slices.Contains(s.Drop, r[1]) {
			issues = append(issues, contract.Issue{Path: []string{FieldDrop}, Msg: fmt.Sprintf("column %q is the %s column and cannot be dropped", r[1], r[0])})
		}
	}
	if s.Task != TaskAuto && s.Label == "" {
		issues = append(issues, contract.Issue{Path: []string{FieldTask}, Msg: "task needs a label column (set label:)"})
	}
	if len(issues) > 0 {
		return nil, &contract.ConfigError{Issues: issues}
	}
	return s, nil
}

// Read reads and prepares the frame; it is Run without the output files.
func (s *Stage) Read(ctx context.Context) (*dataset.Frame, *Summary, error) {
	f, info, err := arrowio.Read(ctx, s.Path, s.Options)
	if err != nil {
		return nil, nil, err
	}
	base := filepath.Base(s.Path)
	sum := &Summary{File: base, Format: info.Format, BadRowsSkipped: info.BadRows, BadLines: info.BadLines}
	names := f.Names()
	for _, r := range [][2]string{{FieldLabel, s.Label}, {FieldID, s.ID}, {FieldGroup, s.Group}} {
		if r[1] != "" && f.Col(r[1]) == nil {
			return nil, nil, fmt.Errorf("%s: %s column %q not found%s (columns: %s)", s.Path, r[0], r[1], contract.DidYouMean(r[1], names), strings.Join(names, ", "))
		}
	}
	for _, d := range s.Drop {
		if f.Col(d) == nil {
			return nil, nil, fmt.Errorf("%s: drop: column %q not found%s", s.Path, d, contract.DidYouMean(d, names))
		}
	}
	f.Drop(s.Drop...)
	sum.Dropped = s.Drop
	if f.Meta == nil {
		f.Meta = map[string]string{}
	}
	// Roles set by an upstream writer of an Arrow/Parquet file are replaced by this config.
	for _, k := range []string{dataset.MetaLabel, dataset.MetaID, dataset.MetaGroup, dataset.MetaTask, dataset.MetaClasses} {
		delete(f.Meta, k)
	}
	f.Meta[dataset.MetaSource] = base
	if s.ID != "" {
		f.Meta[dataset.MetaID] = s.ID
	}
	if s.Group != "" {
		f.Meta[dataset.MetaGroup] = s.Group
	}
	if s.Label != "" {
		if err := s.setLabel(f, sum); err != nil {
			return nil, nil, fmt.Errorf("%s: %w", s.Path, err)
		}
	}
	sum.Rows = f.NumRows()
	sum.Columns = len(f.Columns)
	sum.ColumnTypes = map[string]string{}
	roles := f.RoleColumns()
	for _, c := range f.Columns {
		sum.ColumnTypes[c.Name] = c.Kind.String()
		if !slices.Contains(roles, c.Name) {
			sum.Features++
		}
		if n := c.NullCount(); n > 0 {
			if sum.Missing == nil {
				sum.Missing = map[string]int{}
			}
			sum.Missing[c.Name] = n
		}
	}
	return f, sum, nil
}

// setLabel drops rows without a label, decides the task and records the classes.
func (s *Stage) setLabel(f *dataset.Frame, sum *Summary) error {
	lc := f.Col(s.Label)
	if lc.Kind == dataset.Tensor {
		return fmt.Errorf("label column %q is a tensor", s.Label)
	}
	var keep []int
	for i := range lc.Len() {
		if lc.IsValid(i) && !(lc.Kind == dataset.Float && math.IsNaN(lc.F[i])) {
			keep = append(keep, i)
		}
	}
	if len(keep) < lc.Len() {
		sum.MissingLabelRows = lc.Len() - len(keep)
		*f = *f.Rows(keep)
		lc = f.Col(s.Label)
	}
	if lc.Valid != nil {
		lc.Valid = nil // every remaining row has a label
	}
	f.Meta[dataset.MetaLabel] = s.Label
	task := s.Task
	if task == TaskAuto {
		task = autoTask(lc)
	}
	if task == TaskRegression && !lc.Numeric() {
		return fmt.Errorf("task regression needs a numeric label, but column %q holds text", s.Label)
	}
	f.Meta[dataset.MetaTask] = task
	sum.Task = task
	sum.Label = s.Label
	if task != TaskClassification {
		return nil
	}
	counts := map[string]int{}
	for i := range lc.Len() {
		counts[lc.Text(i)]++
	}
	classes := make([]string, 0, len(counts))
	for c := range counts {
		classes = append(classes, c)
	}
	sortClasses(classes, lc.Numeric())
	f.SetClasses(classes)
	sum.Classes = classes
	sum.ClassCounts = counts
	return nil
}

// autoTask: text labels and integer-valued labels with few distinct values are classes.
func autoTask(c *dataset.Column) string {
	if c.Kind == dataset.String {
		return TaskClassification
	}
	distinct := map[float64]bool{}
	for i := range c.Len() {
		v := c.Float64(i)
		if v != math.Trunc(v) {
			return TaskRegression
		}
		distinct[v] = true
		if len(distinct) > MaxAutoClasses {
			return TaskRegression
		}
	}
	return TaskClassification
}

// sortClasses sorts numerically when the labels are numbers, else as text.
func sortClasses(classes []string, numeric bool) {
	if !numeric {
		sort.Strings(classes)
		return
	}
	sort.Slice(classes, func(i, j int) bool {
		a, _ := strconv.ParseFloat(classes[i], 64)
		b, _ := strconv.ParseFloat(classes[j], 64)
		return a < b
	})
}

// Pseudonymize replaces every value of the id and group columns by
// contract.PatientPseudonym(salt, value) (missing values stay missing), and records the
// columns and the SHA-256 of each distinct raw value in the summary.
func (s *Stage) Pseudonymize(f *dataset.Frame, sum *Summary, salt []byte) {
	hashes := map[string]bool{}
	for _, name := range []string{s.ID, s.Group} {
		c := f.Col(name)
		if name == "" || c == nil || slices.Contains(sum.Pseudonymized, name) {
			continue
		}
		out := make([]string, c.Len())
		for i := range out {
			if !c.IsValid(i) {
				continue
			}
			raw := c.Text(i)
			h := sha256.Sum256([]byte(raw))
			hashes[hex.EncodeToString(h[:])] = true
			out[i] = contract.PatientPseudonym(salt, raw)
		}
		*c = dataset.Column{Name: c.Name, Kind: dataset.String, S: out, Valid: c.Valid, Meta: c.Meta}
		sum.Pseudonymized = append(sum.Pseudonymized, name)
		sum.ColumnTypes[name] = dataset.String.String()
	}
	sum.PHIHashes = slices.Sorted(maps.Keys(hashes))
}

// Run reads the table and writes data.arrow and summary.json.
func (s *Stage) Run(ctx context.Context, env *contract.Env) error {
	f, sum, err := s.Read(ctx)
	if err != nil {
		return err
	}
	if s.Pseudonymous {
		salt, from, err := env.PseudonymSalt(s.Salt, s.SaltEnv)
		if err != nil {
			return err
		}
		env.Log.Debug("pseudonym salt", "from", from)
		s.Pseudonymize(f, sum, salt)
	}
	if sum.BadRowsSkipped > 0 {
		env.Log.Warn("skipped malformed rows", "stage", env.StageID, "file", sum.File, "rows", sum.BadRowsSkipped, "first_lines", sum.BadLines)
	}
	if sum.MissingLabelRows > 0 {
		env.Log.Warn("dropped rows without a label", "stage", env.StageID, "label", s.Label, "rows", sum.MissingLabelRows)
	}
	if err := f.WriteFile(env.Out(contract.DataFile)); err != nil {
		return err
	}
	env.SetMetric("rows", sum.Rows)
	env.SetMetric("features", sum.Features)
	if sum.BadRowsSkipped > 0 {
		env.SetMetric("bad_rows_skipped", sum.BadRowsSkipped)
	}
	return dataset.WriteJSON(env.Out(contract.SummaryFile), sum)
}

// AppendLabel adds lc to f as the label column name (its validity and field metadata
// cleared) and marks it with MarkLabel, whose errors it prefixes with where (the input's
// path). ingest.images and ingest.volumes call it with the labels they read from class
// folders or a labels CSV; a name that is already one of f's columns is an error naming the
// label_column field.
func AppendLabel(f *dataset.Frame, lc *dataset.Column, name, task, where string) (*Summary, error) {
	if slices.Contains(f.Names(), name) {
		return nil, fmt.Errorf("label_column: %q is a column the stage writes; name the label otherwise", name)
	}
	lc.Name, lc.Valid, lc.Meta = name, nil, nil
	f.Columns = append(f.Columns, lc)
	ls, err := MarkLabel(f, name, task)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", where, err)
	}
	return ls, nil
}

// MarkLabel does to a frame what label: and task: do in ingest.table: it drops the rows
// without a value in column label, decides the task (auto, classification, regression),
// records the sorted class names and marks the label in the metadata. Other ingest kinds
// (ingest.sequences) call it so that every table's label follows the same rules. The
// returned summary carries the task, classes, class counts and rows dropped.
func MarkLabel(f *dataset.Frame, label, task string) (*Summary, error) {
	if f.Meta == nil {
		f.Meta = map[string]string{}
	}
	if task == "" {
		task = TaskAuto
	}
	if f.Col(label) == nil {
		return nil, fmt.Errorf("label column %q not found%s", label, contract.DidYouMean(label, f.Names()))
	}
	sum := &Summary{}
	if err := (&Stage{Label: label, Task: task}).setLabel(f, sum); err != nil {
		return nil, err
	}
	return sum, nil
}
