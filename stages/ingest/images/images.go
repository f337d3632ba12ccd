// Package images is the ingest.images stage kind: it reads a folder of image files (PNG,
// JPEG, TIFF 8/16-bit, BMP, GIF), labelled by their class folder or by a labels CSV, into the
// tensor table the cnn family reads: one row per image, an [H, W, C] tensor column, label,
// group and file columns.
package images

import (
	"context"
	"fmt"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"sync"

	"github.com/biopipe/biopipe/contract"
	"github.com/biopipe/biopipe/dataset"
	"github.com/biopipe/biopipe/io/img"
	"github.com/biopipe/biopipe/stages/ingest/internal/files"
	"github.com/biopipe/biopipe/stages/ingest/table"
)

// KindName is the registered name of the stage kind.
const KindName = "ingest.images"

// Config field names (label fields named as in ingest.dicom).
const (
	FieldPath          = "path"
	FieldColor         = "color"
	FieldSize          = "size"
	FieldInterpolation = "interpolation"
	FieldRange         = "range"
	FieldLabels        = "labels"
	FieldLabelFrom     = "label_from"
	FieldLabelColumn   = "label_column"
	FieldKeyColumn     = "key_column"
	FieldMissingLabel  = "missing_label"
	FieldGroupPattern  = "group_pattern"
	FieldOrder         = "order"
	FieldTask          = "task"
	FieldName          = "name"
)

// Choices.
const (
	LabelAuto   = files.LabelAuto
	LabelCSV    = files.LabelCSV
	LabelFolder = files.LabelFolder
	LabelNone   = files.LabelNone
	OrderPath   = "path"
	OrderName   = "name"
)

// Output columns.
const (
	ColFile  = "file"
	ColGroup = "group"
)

// Fields is the config of ingest.images.
var Fields = []contract.Field{
	{Name: FieldPath, Type: contract.Path, Required: true, Doc: "the folder of images (searched recursively: .png .jpg .jpeg .tif .tiff .bmp .gif)"},
	{Name: FieldColor, Type: contract.String, Default: img.Gray, Enum: []string{img.Gray, img.RGB},
		Doc: "gray: one channel (ITU-R BT.601 luma of colour files); rgb: three channels (gray files repeated, alpha dropped)"},
	{Name: FieldSize, Type: contract.Ints, Default: []any{}, Min: contract.Bound(1),
		Doc: "resize every image to [height, width]; empty keeps the stored size, which must then be the same for all files"},
	{Name: FieldInterpolation, Type: contract.String, Default: img.Bilinear, Enum: img.Interpolations,
		Doc: "how size: resamples: nearest (labels, masks), bilinear, catmullrom (bicubic, sharper when shrinking)"},
	{Name: FieldRange, Type: contract.Floats, Default: []any{},
		Doc: "[lo, hi]: sample values v become (v - lo) / (hi - lo), v on the file's own scale (0..255 for 8-bit, 0..65535 for 16-bit); empty maps each file's full range to 0..1"},
	{Name: FieldLabels, Type: contract.Path, Doc: "CSV file of labels, joined to the images on their path relative to path: (e.g. scans/a.png)"},
	{Name: FieldLabelFrom, Type: contract.String, Default: LabelAuto, Enum: []string{LabelAuto, LabelCSV, LabelFolder, LabelNone},
		Doc: "where labels come from: folder (the first folder under path: class_name/img.png), csv (labels), none; auto = csv when labels is set, else folder"},
	{Name: FieldLabelColumn, Type: contract.String, Default: "label", Doc: "the CSV column holding the label"},
	{Name: FieldKeyColumn, Type: contract.String, Default: "file", Doc: "the CSV column holding the image path relative to path:"},
	{Name: FieldMissingLabel, Type: contract.String, Default: "error", Enum: []string{"error", "drop"},
		Doc: "an image without a label: fail naming it, or drop it (counted in summary.json)"},
	{Name: FieldGroupPattern, Type: contract.String,
		Doc: "a regular expression on the relative path whose first capture group is the patient/subject (a group column for grouped splits), e.g. '^[^/]+/(P\\d+)_'"},
	{Name: FieldOrder, Type: contract.String, Default: OrderPath, Enum: []string{OrderPath, OrderName},
		Doc: "row order: path (sorted relative paths, i.e. class by class) or name (sorted file names, then paths: files numbered across class folders keep their numbering)"},
	{Name: FieldTask, Type: contract.String, Default: table.TaskAuto, Enum: []string{table.TaskAuto, table.TaskClassification, table.TaskRegression},
		Doc: "as in ingest.table: auto is classification for text labels or at most 20 distinct integers"},
	{Name: FieldName, Type: contract.String, Default: dataset.ColTensor, Doc: "name of the tensor column"},
}

func init() {
	contract.Register(&contract.Kind{
		Name: KindName,
		Doc:  "read a folder of PNG/JPEG/TIFF/BMP images (class per folder or a labels CSV) into an [H, W, C] tensor table",
		Description: `Finds every image file under path (recursively, hidden files and folders skipped), decodes it with
Go's image packages and golang.org/x/image (8- and 16-bit PNG and TIFF, baseline and progressive JPEG,
BMP, GIF), converts it to gray or RGB, resizes it when size: is set (nearest, bilinear or Catmull-Rom),
and maps its samples to floats through range:. Writes one row per image: file (relative path, the id),
the tensor column ([height, width, channels], channels last, as transform.tensor and the cnn family
use), the label (class folder name or CSV column) and, with group_pattern:, a group column. A file
that does not decode fails the stage naming it, or with --keep-going is quarantined and listed in the
report. Writes data.arrow and summary.json (images, formats, bit depths, stored sizes, classes).`,
		Version: "1",
		Fields:  Fields,
		Output:  contract.Port{Name: "data", Type: contract.Table, Doc: "data.arrow (file, x, label, group); summary.json"},
		New:     New,
		Example: `- id: load
  kind: ingest.images
  with: {path: data/xrays, color: gray, size: [64, 64], interpolation: bilinear}   # data/xrays/<class>/*.png`,
	})
}

// Options configure Read.
type Options struct {
	Path         string
	Image        img.Options
	Labels       string
	LabelFrom    string
	LabelColumn  string
	KeyColumn    string
	MissingLabel string
	GroupPattern *regexp.Regexp
	Order        string
	Task         string
	Name         string
	KeepGoing    bool
	Workers      int
}

// Summary is written to summary.json.
type Summary struct {
	Folder          string         `json:"folder"` // base name only
	Images          int            `json:"images"`
	Shape           []int          `json:"shape"`
	Formats         map[string]int `json:"formats"`
	Depths          map[string]int `json:"bit_depths"`
	StoredSizes     map[string]int `json:"stored_sizes"` // "HxW" -> images
	Resized         int            `json:"resized"`
	MissingDropped  int            `json:"missing_label_dropped"`
	FirstMissing    []string       `json:"first_missing,omitempty"`
	Quarantined     []string       `json:"quarantined,omitempty"`
	Task            string         `json:"task,omitempty"`
	Classes         []string       `json:"classes,omitempty"`
	ClassCounts     map[string]int `json:"class_counts,omitempty"`
	Groups          int            `json:"groups,omitempty"`
	LabelsUnmatched int            `json:"labels_without_image,omitempty"`
}

// New builds the stage from a validated config.
func New(cfg contract.Config) (contract.Stage, error) {
	o := Options{
		Path: cfg.String(FieldPath), Labels: cfg.String(FieldLabels), LabelFrom: cfg.String(FieldLabelFrom),
		LabelColumn: cfg.String(FieldLabelColumn), KeyColumn: cfg.String(FieldKeyColumn), MissingLabel: cfg.String(FieldMissingLabel),
		Order: cfg.String(FieldOrder), Task: cfg.String(FieldTask), Name: cfg.String(FieldName),
		Image: img.Options{Color: cfg.String(FieldColor), Interpolation: cfg.String(FieldInterpolation)},
	}
	var issues []contract.Issue
	if s := cfg.Ints(FieldSize); len(s) > 0 {
		if len(s) != 2 {
			issues = append(issues, contract.Issue{Path: []string{FieldSize}, Msg: fmt.Sprintf("give [height, width], not %d values", len(s))})
		} else {
			o.Image.Height, o.Image.Width = s[0], s[1]
		}
	}
	if r := cfg.Floats(FieldRange); len(r) > 0 {
		if len(r) != 2 || r[1] <= r[0] {
			issues = append(issues, contract.Issue{Path: []string{FieldRange}, Msg: fmt.Sprintf("give [lo, hi] with lo < hi, not %v", r)})
		} else {
			o.Image.Lo, o.Image.Hi = r[0], r[1]
		}
	}
	if p := cfg.String(FieldGroupPattern); p != "" {
		re, err := regexp.Compile(p)
		switch {
		case err != nil:
			issues = append(issues, contract.Issue{Path: []string{FieldGroupPattern}, Msg: err.Error()})
		case re.NumSubexp() < 1:
			issues = append(issues, contract.Issue{Path: []string{FieldGroupPattern}, Msg: "needs a capture group (...) around the patient/subject"})
		default:
			o.GroupPattern = re
		}
	}
	if o.LabelFrom == LabelAuto {
		o.LabelFrom = LabelFolder
		if o.Labels != "" {
			o.LabelFrom = LabelCSV
		}
	}
	if o.LabelFrom == LabelCSV && o.Labels == "" {
		issues = append(issues, contract.Issue{Path: []string{FieldLabels}, Msg: "label_from: csv needs the labels file"})
	}
	if len(issues) > 0 {
		return nil, &contract.ConfigError{Issues: issues}
	}
	return contract.StageFunc(func(ctx context.Context, env *contract.Env) error {
		o := o
		o.KeepGoing = env.KeepGoing
		f, sum, err := Read(ctx, o, env.Quarantine)
		if err != nil {
			return fmt.Errorf("stage %q: %w", env.StageID, err)
		}
		if sum.MissingDropped > 0 {
			env.Log.Warn("dropped images without a label", "stage", env.StageID, "images", sum.MissingDropped, "first", sum.FirstMissing)
		}
		if err := f.WriteFile(env.Out(contract.DataFile)); err != nil {
			return err
		}
		env.SetMetric("images", sum.Images)
		return dataset.WriteJSON(env.Out(contract.SummaryFile), sum)
	}), nil
}

// List returns the image files under root as slash-separated relative paths, sorted.
func List(root string) ([]string, error) { return files.List(root, img.IsImage) }

// Read lists, labels, decodes and packs the images. quarantine (may be nil) records a file
// skipped with KeepGoing.
func Read(ctx context.Context, o Options, quarantine func(file, reason string)) (*dataset.Frame, *Summary, error) {
	paths, err := List(o.Path)
	if err != nil {
		return nil, nil, err
	}
	if len(paths) == 0 {
		return nil, nil, fmt.Errorf("%s: no image files (%s)", o.Path, strings.Join(img.Extensions, " "))
	}
	if o.Order == OrderName {
		files.SortByName(paths)
	}
	sum := &Summary{Folder: filepath.Base(o.Path), Formats: map[string]int{}, Depths: map[string]int{}, StoredSizes: map[string]int{}}
	lab := files.Labels{From: o.LabelFrom, Table: o.Labels, Key: o.KeyColumn, Column: o.LabelColumn}
	labels, labelled, unmatched, err := files.Assign(ctx, paths, lab)
	if err != nil {
		return nil, nil, err
	}
	sum.LabelsUnmatched = unmatched
	var keep []int
	for i, f := range paths {
		if labelled[i] || o.LabelFrom == LabelNone {
			keep = append(keep, i)
			continue
		}
		if o.MissingLabel != "drop" {
			return nil, nil, fmt.Errorf("%s: no label (%s; set missing_label: drop to leave it out)", filepath.Join(o.Path, f), lab.MissingReason())
		}
		sum.MissingDropped++
		if len(sum.FirstMissing) < 5 {
			sum.FirstMissing = append(sum.FirstMissing, f)
		}
	}
	// Decode in parallel; the first decoded image fixes the shape when size: is not set.
	decoded := make([]*img.Image, len(paths))
	errs := make([]error, len(paths))
	workers := o.Workers
	if workers <= 0 {
		workers = min(runtime.GOMAXPROCS(0), 8)
	}
	var wg sync.WaitGroup
	next := make(chan int)
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				decoded[i], errs[i] = img.Decode(filepath.Join(o.Path, paths[i]))
			}
		}()
	}
	for _, i := range keep {
		if ctx.Err() != nil {
			break
		}
		next <- i
	}
	close(next)
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return nil, nil, err
	}
	var ok []int
	for _, i := range keep {
		if errs[i] != nil {
			if !o.KeepGoing {
				return nil, nil, fmt.Errorf("%w (use --keep-going to quarantine corrupt files)", errs[i])
			}
			if quarantine != nil {
				quarantine(paths[i], errs[i].Error())
			}
			sum.Quarantined = append(sum.Quarantined, paths[i])
			continue
		}
		ok = append(ok, i)
	}
	if len(ok) == 0 {
		return nil, nil, fmt.Errorf("%s: no image left to read", o.Path)
	}
	imo := o.Image
	if imo.Height == 0 {
		b := decoded[ok[0]].Image.Bounds()
		imo.Height, imo.Width = b.Dy(), b.Dx()
	}
	shape := []int{imo.Height, imo.Width, imo.Channels()}
	size := dataset.TensorSize(shape)
	name := o.Name
	if name == "" {
		name = dataset.ColTensor
	}
	x := &dataset.Column{Name: name, Kind: dataset.Tensor, Shape: shape, T: make([]float32, len(ok)*size)}
	fc := &dataset.Column{Name: ColFile, Kind: dataset.String}
	first := paths[ok[0]]
	for r, i := range ok {
		im := decoded[i]
		b := im.Image.Bounds()
		h, w := b.Dy(), b.Dx()
		if o.Image.Height == 0 && (h != imo.Height || w != imo.Width) {
			return nil, nil, fmt.Errorf("%s: image is %dx%d (height x width) but %s is %dx%d; set size: to resize", filepath.Join(o.Path, paths[i]), h, w, first, imo.Height, imo.Width)
		}
		if _, _, err := im.Tensor(x.T[r*size:(r+1)*size], imo); err != nil {
			return nil, nil, fmt.Errorf("%s: %w", filepath.Join(o.Path, paths[i]), err)
		}
		fc.S = append(fc.S, paths[i])
		sum.Formats[im.Format]++
		sum.Depths[fmt.Sprint(im.Depth)]++
		sum.StoredSizes[fmt.Sprintf("%dx%d", h, w)]++
		if h != imo.Height || w != imo.Width {
			sum.Resized++
		}
		decoded[i] = nil
	}
	f := dataset.New()
	f.Meta[dataset.MetaSource] = sum.Folder
	f.Meta[dataset.MetaID] = ColFile
	f.Columns = []*dataset.Column{fc, x}
	if o.GroupPattern != nil {
		g := &dataset.Column{Name: ColGroup, Kind: dataset.String}
		groups := map[string]bool{}
		for _, i := range ok {
			m := o.GroupPattern.FindStringSubmatch(paths[i])
			if m == nil || m[1] == "" {
				return nil, nil, fmt.Errorf("%s: group_pattern %q does not match it", filepath.Join(o.Path, paths[i]), o.GroupPattern)
			}
			g.S = append(g.S, m[1])
			groups[m[1]] = true
		}
		f.Columns = append(f.Columns, g)
		f.Meta[dataset.MetaGroup] = ColGroup
		sum.Groups = len(groups)
	}
	if o.LabelFrom != LabelNone {
		ls, err := table.AppendLabel(f, labels.Rows(ok).Columns[0], o.LabelColumn, o.Task, o.Path)
		if err != nil {
			return nil, nil, err
		}
		sum.Task, sum.Classes, sum.ClassCounts = ls.Task, ls.Classes, ls.ClassCounts
	}
	sum.Images = f.NumRows()
	sum.Shape = shape
	return f, sum, f.Validate()
}
