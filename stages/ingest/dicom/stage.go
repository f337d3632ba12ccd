// Package dicom is the `ingest.dicom` stage kind: it turns a folder tree, a DICOMDIR or a
// list of DICOM files into a tensor dataset (Arrow IPC, see package dataset): one example
// per slice (or one volume per series) with rescale, windowing, resizing and
// normalisation applied, a label from a CSV or from folder names, the patient pseudonym as
// the group, and provenance columns. De-identification is on by default (PS3.15 Basic
// Profile for what reaches artifacts and logs): patient names, IDs, birth dates and other
// identifying attributes never leave the stage; PatientID becomes a salted HMAC
// pseudonym and UIDs become salted hashed UIDs. summary.json lists counts, quarantined
// files and the SHA-256 of every identifying string seen, so that later stages (an LLM
// guard) can refuse text containing them without ever storing them.
package dicom

import (
	"context"
	"fmt"

	"github.com/biopipe/biopipe/contract"
)

// Kind is the stage kind name.
const Kind = "ingest.dicom"

// Config field names.
const (
	FieldPath         = "path"
	FieldFiles        = "files"
	FieldMode         = "mode"
	FieldSize         = "size"
	FieldDepth        = "depth"
	FieldWindow       = "window"
	FieldWindowCenter = "window_center"
	FieldWindowWidth  = "window_width"
	FieldNormalize    = "normalize"
	FieldChannels     = "channels"
	FieldLabels       = "labels"
	FieldLabelFrom    = "label_from"
	FieldLabelColumn  = "label_column"
	FieldJoinOn       = "join_on"
	FieldKeyColumn    = "key_column"
	FieldMissingLabel = "missing_label"
	FieldDeidentify   = "deidentify"
	FieldSalt         = "salt"
	FieldSaltEnv      = "salt_env"
	FieldWorkers      = "workers"
	FieldBatch        = "batch"
)

// Modes, join keys and label sources.
const (
	ModeSlice  = "slice"
	ModeVolume = "volume"

	JoinPath    = "path"
	JoinSOP     = "sop_instance_uid"
	JoinSeries  = "series_instance_uid"
	JoinStudy   = "study_instance_uid"
	JoinPatient = "patient_id"

	LabelAuto   = "auto"
	LabelCSV    = "csv"
	LabelFolder = "folder"
	LabelNone   = "none"
)

// Output column names.
const (
	ColX        = "x"
	ColLabel    = "label"
	ColPatient  = "patient"
	ColSeries   = "series"
	ColInstance = "instance"
	ColSlice    = "slice"
	ColFrame    = "frame"
	ColSource   = "source_sha256"
	// RoleProvenance is the biopipe.role field metadata of provenance columns.
	RoleProvenance = "provenance"
)

// Presets maps window names to (center, width) in Hounsfield units.
var Presets = map[string][2]float64{
	"lung":        {-600, 1500},
	"mediastinum": {50, 350},
	"soft_tissue": {40, 400},
	"brain":       {40, 80},
	"bone":        {400, 1800},
	"liver":       {60, 160},
}

// Fields is the config spec of ingest.dicom.
var Fields = []contract.Field{
	{Name: FieldPath, Type: contract.Path, Doc: "a folder tree of DICOM files, a DICOMDIR, or one DICOM file (give this or files)"},
	{Name: FieldFiles, Type: contract.Paths, Doc: "a list of DICOM files (instead of path)"},
	{Name: FieldMode, Type: contract.String, Default: ModeSlice, Enum: []string{ModeSlice, ModeVolume},
		Doc: "slice: one example per slice/frame; volume: one [D,H,W,C] example per series"},
	{Name: FieldSize, Type: contract.Ints, Default: []any{}, Min: contract.Bound(1),
		Doc: "resize every slice to [rows, columns] (bilinear); empty keeps the stored size, which must then be the same for all files"},
	{Name: FieldDepth, Type: contract.Int, Default: 0, Min: contract.Bound(0),
		Doc: "volume mode: resample every series to this many slices (linear); 0 keeps the count, which must then be equal"},
	{Name: FieldWindow, Type: contract.String, Default: "none",
		Enum: []string{"none", "file", "lung", "mediastinum", "soft_tissue", "brain", "bone", "liver"},
		Doc:  "display window applied after rescale, mapping [center-width/2, center+width/2] to [0,1]: a preset, the file's WindowCenter/WindowWidth, or none (see window_center/window_width)"},
	{Name: FieldWindowCenter, Type: contract.Float, Doc: "custom window center (with window_width; overrides window)"},
	{Name: FieldWindowWidth, Type: contract.Float, Min: contract.Bound(0), Doc: "custom window width"},
	{Name: FieldNormalize, Type: contract.String, Default: "auto", Enum: []string{"auto", "none", "minmax", "zscore"},
		Doc: "per-example normalisation: auto = none when windowed (values already in [0,1]), else minmax"},
	{Name: FieldChannels, Type: contract.Int, Default: 0, Enum: nil, Min: contract.Bound(0), Max: contract.Bound(3),
		Doc: "output channels: 0 as stored, 1 converts RGB to grey, 3 repeats grey"},
	{Name: FieldLabels, Type: contract.Path, Doc: "CSV file of labels, joined to the files on join_on"},
	{Name: FieldLabelFrom, Type: contract.String, Default: LabelAuto, Enum: []string{LabelAuto, LabelCSV, LabelFolder, LabelNone},
		Doc: "where labels come from: csv (labels), folder (the first folder under path: class_name/...), none; auto = csv when labels is set, else none"},
	{Name: FieldLabelColumn, Type: contract.String, Default: "label", Doc: "the CSV column holding the label"},
	{Name: FieldJoinOn, Type: contract.String, Default: JoinPath, Enum: []string{JoinPath, JoinSOP, JoinSeries, JoinStudy, JoinPatient},
		Doc: "what a CSV row is matched on: the file path (relative to path, or to the common folder of files; absolute paths also match), or a DICOM attribute"},
	{Name: FieldKeyColumn, Type: contract.String, Default: "", Doc: "the CSV column holding the join key (default: the join_on name)"},
	{Name: FieldMissingLabel, Type: contract.String, Default: "error", Enum: []string{"error", "drop"},
		Doc: "what to do with a file that has no label: fail naming it, or drop it (counted in summary.json)"},
	{Name: FieldDeidentify, Type: contract.Bool, Default: true,
		Doc: "replace patient IDs and UIDs by salted pseudonyms; names, IDs and dates never leave the stage (turning it off writes raw PatientID and UIDs)"},
	{Name: FieldSalt, Type: contract.String, Default: "", Doc: "project salt of the pseudonyms (keep it the same across runs of a project so pseudonyms stay stable)"},
	{Name: FieldSaltEnv, Type: contract.String, Default: "BIOPIPE_SALT", Doc: "environment variable holding the salt when salt is empty"},
	{Name: FieldWorkers, Type: contract.Int, Default: 0, Min: contract.Bound(0), Doc: "parallel decoders (0 = one per CPU)", Advanced: true},
	{Name: FieldBatch, Type: contract.Int, Default: 256, Min: contract.Bound(1), Doc: "examples per Arrow record batch (bounds memory)", Advanced: true},
}

func init() {
	contract.Register(&contract.Kind{
		Salt:    &contract.SaltFields{Value: FieldSalt, Env: FieldSaltEnv},
		Name:    Kind,
		Doc:     "read DICOM files into a de-identified tensor dataset",
		Version: "1",
		Description: `Reads a folder tree, a DICOMDIR or a list of DICOM files (native, RLE Lossless and
baseline JPEG pixel data), groups instances into series (SeriesInstanceUID) and orders slices
along the slice normal (ImagePositionPatient; InstanceNumber when absent). Each example is a
slice ([H,W,C] tensor "x") or, in volume mode, a series ([D,H,W,C]); values are rescaled
(CT: Hounsfield units), windowed, resized and normalised. Columns: x, label, patient (salted
pseudonym, the group for patient-level splits), and provenance columns series, instance,
slice, frame, source_sha256. summary.json holds counts, quarantined files and phi_hashes.`,
		Fields:  Fields,
		Output:  contract.Port{Name: "data", Type: contract.Table, Doc: "tensor dataset (data.arrow) and summary.json"},
		New:     New,
		Headers: Headers,
		Example: `- id: scans
  kind: ingest.dicom
  with:
    path: data/ct
    labels: data/ct/labels.csv
    join_on: path
    window: lung
    size: [32, 32]
    salt_env: BIOPIPE_SALT`,
	})
}

// New builds the stage from a validated config.
func New(cfg contract.Config) (contract.Stage, error) {
	o, err := optionsFrom(cfg)
	if err != nil {
		return nil, err
	}
	return contract.StageFunc(func(ctx context.Context, env *contract.Env) error {
		opt := *o
		if opt.Deidentify {
			salt, from, err := env.PseudonymSalt(opt.Salt, opt.SaltEnv)
			if err != nil {
				return err
			}
			opt.Salt = string(salt)
			env.Log.Debug("pseudonym salt", "from", from)
		}
		return Run(ctx, env, &opt)
	}), nil
}

func optionsFrom(cfg contract.Config) (*Options, error) {
	o := &Options{
		Path: cfg.String(FieldPath), Files: cfg.Strings(FieldFiles), Mode: cfg.String(FieldMode),
		Size: cfg.Ints(FieldSize), Depth: cfg.Int(FieldDepth), Window: cfg.String(FieldWindow),
		Normalize: cfg.String(FieldNormalize), Channels: cfg.Int(FieldChannels),
		Labels: cfg.String(FieldLabels), LabelFrom: cfg.String(FieldLabelFrom), LabelColumn: cfg.String(FieldLabelColumn),
		JoinOn: cfg.String(FieldJoinOn), KeyColumn: cfg.String(FieldKeyColumn), MissingLabel: cfg.String(FieldMissingLabel),
		Deidentify: cfg.Bool(FieldDeidentify), Salt: cfg.String(FieldSalt), SaltEnv: cfg.String(FieldSaltEnv),
		Workers: cfg.Int(FieldWorkers), Batch: cfg.Int(FieldBatch),
	}
	if cfg.Has(FieldWindowWidth) {
		o.WindowWidth = cfg.Float(FieldWindowWidth)
		o.WindowCenter = cfg.Float(FieldWindowCenter)
	}
	var issues []contract.Issue
	if (o.Path == "") == (len(o.Files) == 0) {
		issues = append(issues, contract.Issue{Path: []string{FieldPath}, Msg: "give exactly one of path or files"})
	}
	if len(o.Size) != 0 && len(o.Size) != 2 {
		issues = append(issues, contract.Issue{Path: []string{FieldSize}, Msg: fmt.Sprintf("want [rows, columns], got %d values", len(o.Size))})
	}
	if o.Channels == 2 {
		issues = append(issues, contract.Issue{Path: []string{FieldChannels}, Msg: "want 0, 1 or 3"})
	}
	if cfg.Has(FieldWindowCenter) != cfg.Has(FieldWindowWidth) {
		issues = append(issues, contract.Issue{Path: []string{FieldWindowWidth}, Msg: "window_center and window_width go together"})
	} else if cfg.Has(FieldWindowWidth) && o.WindowWidth <= 0 {
		issues = append(issues, contract.Issue{Path: []string{FieldWindowWidth}, Msg: "must be positive"})
	}
	if o.LabelFrom == LabelCSV && o.Labels == "" {
		issues = append(issues, contract.Issue{Path: []string{FieldLabels}, Msg: "label_from: csv needs labels: FILE.csv"})
	}
	if o.LabelFrom == LabelFolder && o.Path == "" {
		issues = append(issues, contract.Issue{Path: []string{FieldLabelFrom}, Msg: "label_from: folder needs path: (a folder of class_name/... sub-folders)"})
	}
	if o.LabelFrom == LabelAuto {
		o.LabelFrom = LabelNone
		if o.Labels != "" {
			o.LabelFrom = LabelCSV
		}
	}
	if o.KeyColumn == "" {
		o.KeyColumn = o.JoinOn
	}
	if len(issues) > 0 {
		return nil, &contract.ConfigError{Issues: issues}
	}
	return o, nil
}
