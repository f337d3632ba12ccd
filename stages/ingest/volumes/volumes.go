// Package volumes is the ingest.volumes stage kind: it reads a folder of NIfTI volumes
// (.nii, .nii.gz) and DICOM series (a folder of single-frame slices each, assembled by
// io/dicom.ReadSeries), optionally with segmentation masks of the same names in a second folder,
// reorients them to RAS+, resamples them to a voxel spacing, crops or pads them to one shape,
// clips and normalises intensities, and writes the [D, H, W, 1] tensor table that the 3-D cnn
// reads, with labels from class folders or a labels CSV and the masks as a second tensor column.
package volumes

import (
	"context"
	"fmt"
	"io"
	"math"
	"os"
	"path"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"github.com/biopipe/biopipe/contract"
	"github.com/biopipe/biopipe/dataset"
	"github.com/biopipe/biopipe/io/dicom"
	"github.com/biopipe/biopipe/io/nifti"
	"github.com/biopipe/biopipe/stages/ingest/internal/files"
	"github.com/biopipe/biopipe/stages/ingest/table"
)

// KindName is the registered name of the stage kind.
const KindName = "ingest.volumes"

// Config field names (label fields as in ingest.images and ingest.dicom).
const (
	FieldPath         = "path"
	FieldMasks        = "masks"
	FieldCanonical    = "canonical"
	FieldSpacing      = "spacing"
	FieldShape        = "shape"
	FieldClip         = "clip"
	FieldNormalize    = "normalize"
	FieldLabels       = "labels"
	FieldLabelFrom    = "label_from"
	FieldLabelColumn  = "label_column"
	FieldKeyColumn    = "key_column"
	FieldMissingLabel = "missing_label"
	FieldTask         = "task"
	FieldName         = "name"
)

// Normalisations.
const (
	NormNone   = "none"
	NormZScore = "zscore"
	NormMinMax = "minmax"
)

// Output columns.
const (
	ColFile   = "file"
	ColMask   = "mask"
	ColAffine = "affine"
	// RoleMask marks the mask column (field metadata biopipe.role): a target, not a feature.
	RoleMask = dataset.RoleMask
)

// Fields is the config of ingest.volumes.
var Fields = []contract.Field{
	{Name: FieldPath, Type: contract.Path, Required: true, Doc: "the folder of NIfTI volumes (.nii, .nii.gz) and DICOM series (one folder of slices per series), searched recursively"},
	{Name: FieldMasks, Type: contract.Path, Doc: "a folder of segmentation masks with the same relative paths as the volumes; written as a second tensor column \"mask\" (nearest-neighbour resampling)"},
	{Name: FieldCanonical, Type: contract.Bool, Default: true, Doc: "reorient every volume (and mask) to the closest RAS+ orientation first, so that axes mean the same in every file"},
	{Name: FieldSpacing, Type: contract.Floats, Default: []any{}, Min: contract.Bound(0),
		Doc: "resample to this voxel size in mm, [x, y, z] (trilinear; masks nearest); empty keeps each file's spacing"},
	{Name: FieldShape, Type: contract.Ints, Default: []any{}, Min: contract.Bound(1),
		Doc: "crop or pad (centred) to [x, y, z] voxels after resampling; empty keeps the size, which must then be the same for all volumes"},
	{Name: FieldClip, Type: contract.Floats, Default: []any{}, Doc: "[lo, hi]: clip intensities (after scl_slope/inter) to this window, e.g. [-1000, 400] HU for CT"},
	{Name: FieldNormalize, Type: contract.String, Default: NormZScore, Enum: []string{NormNone, NormZScore, NormMinMax},
		Doc: "per volume, after clipping: zscore (mean 0, sd 1 over its voxels), minmax (0..1) or none"},
	{Name: FieldLabels, Type: contract.Path, Doc: "CSV file of labels, joined on the volume's path relative to path:"},
	{Name: FieldLabelFrom, Type: contract.String, Default: files.LabelAuto, Enum: []string{files.LabelAuto, files.LabelCSV, files.LabelFolder, files.LabelNone},
		Doc: "where labels come from: folder (class_name/case.nii.gz), csv (labels), none; auto = csv when labels is set, none when masks is set, else folder"},
	{Name: FieldLabelColumn, Type: contract.String, Default: "label", Doc: "the CSV column holding the label"},
	{Name: FieldKeyColumn, Type: contract.String, Default: "file", Doc: "the CSV column holding the volume's relative path"},
	{Name: FieldMissingLabel, Type: contract.String, Default: "error", Enum: []string{"error", "drop"},
		Doc: "a volume without a label: fail naming it, or drop it (counted in summary.json)"},
	{Name: FieldTask, Type: contract.String, Default: table.TaskAuto, Enum: []string{table.TaskAuto, table.TaskClassification, table.TaskRegression},
		Doc: "as in ingest.table"},
	{Name: FieldName, Type: contract.String, Default: dataset.ColTensor, Doc: "name of the tensor column"},
}

func init() {
	contract.Register(&contract.Kind{
		Name: KindName,
		Doc:  "read NIfTI volumes and DICOM series (and masks) into a [D, H, W, 1] tensor table: RAS+, resampled, cropped/padded, clipped, normalised",
		Description: `Finds the .nii/.nii.gz files under path (io/nifti: NIfTI-1 and -2, every integer and float datatype,
scl_slope/scl_inter applied) and the DICOM series: every folder holding DICOM files (the DICM magic or a
.dcm extension) is one series of single-frame slices, one volume, named by the folder's relative path (its
parent folder is the class for folder labels; a labels CSV names the folder). The slices are ordered by
(0020,0032) ImagePositionPatient along the slice normal from (0020,0037) ImageOrientationPatient (not by
file name or InstanceNumber); the voxel size is (0028,0030) PixelSpacing and the distance between slice
positions, which must be uniform (within 1%: a missing slice is an error naming the file); rescale
slope/intercept are applied (CT: Hounsfield units) and the LPS patient geometry becomes the same RAS
affine a NIfTI file has, so both go through the same steps. Each 3-D volume is reoriented to the closest RAS+ orientation (canonical:),
resampled to spacing: (trilinear), cropped or padded (centred, with the volume's minimum) to shape:, clipped
to clip: and normalised (normalize:). The tensor column is [z, y, x, 1] (D, H, W, C: the layout of the 3-D
cnn), x varying fastest as in the file. With masks:, the mask of the same relative path goes through the
same reorientation, nearest-neighbour resampling and crop/pad (padded with 0) into a tensor column "mask"
marked as a role column (NIfTI volumes only). Writes data.arrow (file, x, mask, label) and summary.json
(volumes, DICOM series, stored shapes, spacings and orientations, classes). The file column of a DICOM
series is its folder's relative path, which holds no DICOM identifier; the files' patient
attributes are not read into the table (de-identify folder names upstream if they carry any).`,
		Version: "2", // 2: DICOM series under path are read too
		Fields:  Fields,
		Output:  contract.Port{Name: "data", Type: contract.Table, Doc: "data.arrow (file, x, affine, mask, label); summary.json"},
		New:     New,
		Example: `- id: load
  kind: ingest.volumes
  with: {path: data/ct, spacing: [2, 2, 2], shape: [64, 64, 48], clip: [-1000, 400], normalize: zscore}   # data/ct/<class>/*.nii.gz`,
	})
}

// Options configure Read.
type Options struct {
	Path, Masks  string
	Canonical    bool
	Spacing      []float64
	Shape        []int
	Clip         []float64
	Normalize    string
	Labels       files.Labels
	MissingLabel string
	Task         string
	Name         string
}

// Summary is written to summary.json.
type Summary struct {
	Folder          string         `json:"folder"`
	Volumes         int            `json:"volumes"`
	DICOMSeries     int            `json:"dicom_series,omitempty"` // volumes assembled from DICOM slices
	Shape           []int          `json:"shape"`                  // per row, [D, H, W, 1]
	StoredShapes    map[string]int `json:"stored_shapes"`
	Spacings        map[string]int `json:"stored_spacings"`
	Orientations    map[string]int `json:"orientations"`
	Masks           int            `json:"masks"`
	MaskLabels      []float64      `json:"mask_values,omitempty"`
	MissingDropped  int            `json:"missing_label_dropped"`
	LabelsUnmatched int            `json:"labels_without_volume,omitempty"`
	Task            string         `json:"task,omitempty"`
	Classes         []string       `json:"classes,omitempty"`
	ClassCounts     map[string]int `json:"class_counts,omitempty"`
}

// New builds the stage from a validated config.
func New(cfg contract.Config) (contract.Stage, error) {
	o := Options{
		Path: cfg.String(FieldPath), Masks: cfg.String(FieldMasks), Canonical: cfg.Bool(FieldCanonical),
		Spacing: cfg.Floats(FieldSpacing), Shape: cfg.Ints(FieldShape), Clip: cfg.Floats(FieldClip),
		Normalize: cfg.String(FieldNormalize), MissingLabel: cfg.String(FieldMissingLabel), Task: cfg.String(FieldTask),
		Name:   cfg.String(FieldName),
		Labels: files.Labels{From: cfg.String(FieldLabelFrom), Table: cfg.String(FieldLabels), Key: cfg.String(FieldKeyColumn), Column: cfg.String(FieldLabelColumn)},
	}
	var issues []contract.Issue
	for _, f := range []struct {
		name string
		n    int
	}{{FieldSpacing, len(o.Spacing)}, {FieldShape, len(o.Shape)}} {
		if f.n != 0 && f.n != 3 {
			issues = append(issues, contract.Issue{Path: []string{f.name}, Msg: fmt.Sprintf("give [x, y, z], not %d values", f.n)})
		}
	}
	for _, s := range o.Spacing {
		if s <= 0 {
			issues = append(issues, contract.Issue{Path: []string{FieldSpacing}, Msg: "voxel sizes must be positive"})
			break
		}
	}
	if len(o.Clip) != 0 && (len(o.Clip) != 2 || o.Clip[1] <= o.Clip[0]) {
		issues = append(issues, contract.Issue{Path: []string{FieldClip}, Msg: fmt.Sprintf("give [lo, hi] with lo < hi, not %v", o.Clip)})
	}
	if o.Labels.From == files.LabelAuto {
		switch {
		case o.Labels.Table != "":
			o.Labels.From = files.LabelCSV
		case o.Masks != "":
			o.Labels.From = files.LabelNone
		default:
			o.Labels.From = files.LabelFolder
		}
	}
	if o.Labels.From == files.LabelCSV && o.Labels.Table == "" {
		issues = append(issues, contract.Issue{Path: []string{FieldLabels}, Msg: "label_from: csv needs the labels file"})
	}
	if len(issues) > 0 {
		return nil, &contract.ConfigError{Issues: issues}
	}
	return contract.StageFunc(func(ctx context.Context, env *contract.Env) error {
		f, sum, err := Read(ctx, o)
		if err != nil {
			return fmt.Errorf("stage %q: %w", env.StageID, err)
		}
		if sum.MissingDropped > 0 {
			env.Log.Warn("dropped volumes without a label", "stage", env.StageID, "volumes", sum.MissingDropped)
		}
		if err := f.WriteFile(env.Out(contract.DataFile)); err != nil {
			return err
		}
		env.SetMetric("volumes", sum.Volumes)
		return dataset.WriteJSON(env.Out(contract.SummaryFile), sum)
	}), nil
}

func isNIfTI(name string) bool {
	n := strings.ToLower(name)
	return strings.HasSuffix(n, ".nii") || strings.HasSuffix(n, ".nii.gz")
}

// entry is one volume to read: a NIfTI file, or a DICOM series (the slices of one folder).
type entry struct {
	rel    string   // relative to the root: the file, or the series' folder
	series []string // DICOM slices (absolute paths), nil for NIfTI
}

// list finds the NIfTI files and the DICOM series (folders of DICOM files) under root.
func list(root string) ([]entry, error) {
	paths, err := files.List(root, func(name string) bool { return !strings.HasPrefix(name, ".") })
	if err != nil {
		return nil, err
	}
	var out []entry
	series := map[string][]string{}
	for _, p := range paths {
		if isNIfTI(p) {
			out = append(out, entry{rel: p})
			continue
		}
		if path.Base(p) == "DICOMDIR" {
			continue
		}
		abs := filepath.Join(root, filepath.FromSlash(p))
		head, err := readHead(abs, 132)
		if err != nil {
			return nil, err
		}
		if dicom.IsDICOM(p, head) {
			dir := path.Dir(p)
			series[dir] = append(series[dir], abs)
		}
	}
	for dir, fs := range series {
		if dir == "." {
			dir = path.Base(filepath.ToSlash(root))
		}
		out = append(out, entry{rel: dir, series: fs})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].rel < out[j].rel })
	return out, nil
}

func readHead(path string, n int) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	head := make([]byte, n)
	m, err := io.ReadFull(f, head)
	if err != nil && err != io.ErrUnexpectedEOF && err != io.EOF {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return head[:m], nil
}

// readEntry reads a NIfTI file or assembles a DICOM series into an image.
func readEntry(root string, e entry) (*nifti.Image, error) {
	if e.series == nil {
		return nifti.Read(filepath.Join(root, filepath.FromSlash(e.rel)))
	}
	v, err := dicom.ReadSeries(e.series)
	if err != nil {
		return nil, err
	}
	return &nifti.Image{Shape: []int{v.Shape[0], v.Shape[1], v.Shape[2]}, Data: v.Data, Affine: nifti.Affine(v.Affine)}, nil
}

// prepare reorients, resamples and crops/pads one image.
func prepare(im *nifti.Image, o Options, mask bool, fill float32) (*nifti.Image, error) {
	if len(im.Shape) == 4 && im.Shape[3] == 1 {
		im.Shape = im.Shape[:3]
	}
	if len(im.Shape) != 3 {
		return nil, fmt.Errorf("shape %v: ingest.volumes reads 3-D volumes (one volume of a 4-D series is not chosen automatically)", im.Shape)
	}
	if o.Canonical {
		im = im.Canonical()
	}
	if len(o.Spacing) == 3 {
		var err error
		if im, err = im.Resample([3]float64{o.Spacing[0], o.Spacing[1], o.Spacing[2]}, mask); err != nil {
			return nil, err
		}
	}
	if len(o.Shape) == 3 {
		if !mask {
			fill = float32(math.Inf(1))
			for _, v := range im.Data {
				fill = min(fill, v)
			}
		}
		var err error
		if im, err = im.CropOrPad([3]int{o.Shape[0], o.Shape[1], o.Shape[2]}, fill); err != nil {
			return nil, err
		}
	}
	return im, nil
}

// intensities clips and normalises one volume in place.
func intensities(v []float32, o Options) {
	if len(o.Clip) == 2 {
		lo, hi := float32(o.Clip[0]), float32(o.Clip[1])
		for i, x := range v {
			v[i] = min(max(x, lo), hi)
		}
	}
	switch o.Normalize {
	case NormZScore:
		var s, ss float64
		for _, x := range v {
			s += float64(x)
			ss += float64(x) * float64(x)
		}
		n := float64(len(v))
		mean := s / n
		sd := math.Sqrt(max(ss/n-mean*mean, 0))
		if sd == 0 {
			sd = 1
		}
		for i, x := range v {
			v[i] = float32((float64(x) - mean) / sd)
		}
	case NormMinMax:
		lo, hi := float32(math.Inf(1)), float32(math.Inf(-1))
		for _, x := range v {
			lo, hi = min(lo, x), max(hi, x)
		}
		r := hi - lo
		if r == 0 {
			r = 1
		}
		for i, x := range v {
			v[i] = (x - lo) / r
		}
	}
}

// Read lists, labels and prepares the volumes.
func Read(ctx context.Context, o Options) (*dataset.Frame, *Summary, error) {
	entries, err := list(o.Path)
	if err != nil {
		return nil, nil, err
	}
	if len(entries) == 0 {
		return nil, nil, fmt.Errorf("%s: no NIfTI files (.nii, .nii.gz) or DICOM series", o.Path)
	}
	paths := make([]string, len(entries))
	for i, e := range entries {
		paths[i] = e.rel
	}
	sum := &Summary{Folder: filepath.Base(o.Path), StoredShapes: map[string]int{}, Spacings: map[string]int{}, Orientations: map[string]int{}}
	labels, has, unmatched, err := files.Assign(ctx, paths, o.Labels)
	if err != nil {
		return nil, nil, err
	}
	sum.LabelsUnmatched = unmatched
	var keep []int
	for i, p := range paths {
		if has[i] || o.Labels.From == files.LabelNone {
			keep = append(keep, i)
			continue
		}
		if o.MissingLabel != "drop" {
			return nil, nil, fmt.Errorf("%s: no label (%s; set missing_label: drop to leave it out)", filepath.Join(o.Path, p), o.Labels.MissingReason())
		}
		sum.MissingDropped++
	}
	if len(keep) == 0 {
		return nil, nil, fmt.Errorf("%s: no volume left", o.Path)
	}
	var x, mask *dataset.Column
	fc := &dataset.Column{Name: ColFile, Kind: dataset.String}
	// The grid of every stored volume (after reorientation, resampling and crop/pad), so
	// outputs on it (a segmentation model's masks) can be written back as NIfTI.
	ac := &dataset.Column{Name: ColAffine, Kind: dataset.Tensor, Shape: []int{4, 4},
		Meta: map[string]string{dataset.MetaRole: dataset.RoleAffine, "biopipe.axes": "voxel (x, y, z, 1) to mm (RAS+), row-major"}}
	maskValues := map[float32]bool{}
	first := ""
	for _, i := range keep {
		if err := ctx.Err(); err != nil {
			return nil, nil, err
		}
		file := filepath.Join(o.Path, paths[i])
		im, err := readEntry(o.Path, entries[i])
		if err != nil {
			return nil, nil, err
		}
		if entries[i].series != nil {
			sum.DICOMSeries++
		}
		z := im.Affine.Zooms()
		sum.StoredShapes[fmt.Sprint(im.Shape)]++
		sum.Spacings[fmt.Sprintf("%.3g x %.3g x %.3g", z[0], z[1], z[2])]++
		sum.Orientations[im.Affine.Axcodes()]++
		vol, err := prepare(im, o, false, 0)
		if err != nil {
			return nil, nil, fmt.Errorf("%s: %w", file, err)
		}
		intensities(vol.Data, o)
		shape := []int{vol.Shape[2], vol.Shape[1], vol.Shape[0], 1}
		if x == nil {
			name := o.Name
			if name == "" {
				name = dataset.ColTensor
			}
			x = &dataset.Column{Name: name, Kind: dataset.Tensor, Shape: shape,
				Meta: map[string]string{"biopipe.axes": "z,y,x,c (RAS+ when canonical)"}}
			if len(o.Spacing) == 3 {
				x.Meta["biopipe.spacing"] = fmt.Sprint(o.Spacing)
			}
			first = paths[i]
		} else if !slices.Equal(shape, x.Shape) {
			return nil, nil, fmt.Errorf("%s: volume is %v voxels (x, y, z) after resampling, but %s is %v; set shape: to crop/pad", file, vol.Shape, first, []int{x.Shape[2], x.Shape[1], x.Shape[0]})
		}
		x.T = append(x.T, vol.Data...)
		fc.S = append(fc.S, paths[i])
		for r := range 4 {
			for c := range 4 {
				ac.T = append(ac.T, float32(vol.Affine[r][c]))
			}
		}
		if o.Masks != "" && entries[i].series != nil {
			return nil, nil, fmt.Errorf("%s: masks: a DICOM series has no mask here (masks are NIfTI files named as the volumes)", file)
		}
		if o.Masks != "" {
			mfile := filepath.Join(o.Masks, paths[i])
			mi, err := nifti.Read(mfile)
			if err != nil {
				return nil, nil, fmt.Errorf("mask of %s: %w", paths[i], err)
			}
			if !slices.Equal(mi.Shape[:min(3, len(mi.Shape))], im.Shape[:3]) {
				return nil, nil, fmt.Errorf("%s: mask shape %v differs from the volume's %v", mfile, mi.Shape, im.Shape)
			}
			mv, err := prepare(mi, o, true, 0)
			if err != nil {
				return nil, nil, fmt.Errorf("%s: %w", mfile, err)
			}
			if mask == nil {
				mask = &dataset.Column{Name: ColMask, Kind: dataset.Tensor, Shape: shape, Meta: map[string]string{"biopipe.role": RoleMask}}
			}
			for _, v := range mv.Data {
				maskValues[v] = true
			}
			mask.T = append(mask.T, mv.Data...)
			sum.Masks++
		}
	}
	f := dataset.New()
	f.Meta[dataset.MetaSource] = sum.Folder
	f.Meta[dataset.MetaID] = ColFile
	f.Columns = []*dataset.Column{fc, x, ac}
	if mask != nil {
		f.Columns = append(f.Columns, mask)
		for v := range maskValues {
			sum.MaskLabels = append(sum.MaskLabels, float64(v))
		}
		slices.Sort(sum.MaskLabels)
	}
	if o.Labels.From != files.LabelNone {
		var rows []int
		rows = append(rows, keep...)
		ls, err := table.AppendLabel(f, labels.Rows(rows).Columns[0], o.Labels.Column, o.Task, o.Path)
		if err != nil {
			return nil, nil, err
		}
		sum.Task, sum.Classes, sum.ClassCounts = ls.Task, ls.Classes, ls.ClassCounts
	}
	sum.Volumes = f.NumRows()
	sum.Shape = x.Shape
	return f, sum, f.Validate()
}
