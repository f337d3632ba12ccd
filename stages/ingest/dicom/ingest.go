package dicom

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strings"
	"sync"

	"github.com/biopipe/biopipe/contract"
	"github.com/biopipe/biopipe/dataset"
	biodicom "github.com/biopipe/biopipe/io/dicom"
)

// Options configure Run; the stage fills them from its config.
type Options struct {
	Path         string
	Files        []string
	Mode         string
	Size         []int
	Depth        int
	Window       string
	WindowCenter float64
	WindowWidth  float64 // > 0: custom window
	Normalize    string
	Channels     int
	Labels       string
	LabelFrom    string
	LabelColumn  string
	JoinOn       string
	KeyColumn    string
	MissingLabel string
	Deidentify   bool
	Salt         string
	SaltEnv      string
	Workers      int
	Batch        int
}

// source is one input file after the header pass.
type source struct {
	abs, rel string
	h        *biodicom.Header
	label    string
	normal   float64 // position along the slice normal
	hasPos   bool
}

// example is one output row: a slice (file + frame) or a series volume.
type example struct {
	files   []*source
	frame   int // slice mode: the frame of files[0]
	slice   int // slice mode: index in the series order
	label   string
	patient string
	series  string
}

// Summary is written to summary.json. It holds no patient identifiers: phi_hashes are
// SHA-256 hex digests of identifying strings seen in the inputs.
type Summary struct {
	Files              int                    `json:"files"`
	Examples           int                    `json:"examples"`
	Series             int                    `json:"series"`
	Patients           int                    `json:"patients"`
	Mode               string                 `json:"mode"`
	Shape              []int                  `json:"shape"`
	Classes            map[string]int         `json:"classes,omitempty"`
	DroppedUnlabelled  int                    `json:"dropped_unlabelled"`
	Quarantined        []contract.Quarantined `json:"quarantined"`
	TransferSyntaxes   map[string]int         `json:"transfer_syntaxes"`
	Modalities         map[string]int         `json:"modalities"`
	Deidentified       bool                   `json:"deidentified"`
	DeidentMethod      string                 `json:"deidentification,omitempty"`
	PHIHashes          []string               `json:"phi_hashes"`
	PHIHashNormalising string                 `json:"phi_hash_method"`
}

// maxBatchBytes bounds the tensor bytes of one record batch (and so the stage's memory).
const maxBatchBytes = 256 << 20

// PHIHashMethod describes how phi_hashes are computed, for guards that check text.
const PHIHashMethod = "sha256 hex of each identifying value as stored (trimmed) and lower-cased; for values with '^' or spaces (person names, addresses) also of each part of 3 or more characters, of the parts joined by single spaces, and of 'Given Family' for Family^Given, each also lower-cased"

// Run ingests the files described by o into env.OutDir.
func Run(ctx context.Context, env *contract.Env, o *Options) error {
	root, paths, err := listInputs(o)
	if err != nil {
		return err
	}
	if len(paths) == 0 {
		return fmt.Errorf("%s: no DICOM files found", o.Path)
	}
	workers := o.Workers
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	sum := &Summary{Mode: o.Mode, TransferSyntaxes: map[string]int{}, Modalities: map[string]int{}, Deidentified: o.Deidentify}
	if o.Deidentify {
		sum.DeidentMethod = "DICOM PS3.15 Basic Application Level Confidentiality Profile for outputs: PatientID -> HMAC-SHA256 pseudonym with the project salt; UIDs -> 2.25 UIDs from HMAC-SHA256; names, birth dates, dates, accession numbers, institutions and physicians are not written"
	}
	pseudo := pseudonymizer{salt: []byte(o.Salt), on: o.Deidentify}

	// Header pass (parallel).
	srcs := make([]*source, len(paths))
	errs := make([]error, len(paths))
	prog := env.Progress("read headers", len(paths))
	parallel(ctx, workers, len(paths), func(i int) {
		h, err := biodicom.ReadHeader(paths[i])
		if err == nil && !h.HasPixelData {
			err = fmt.Errorf("%s: tag (7FE0,0010) PixelData: missing", paths[i])
		}
		if err != nil {
			errs[i] = err
		} else {
			srcs[i] = &source{abs: paths[i], rel: relPath(root, paths[i]), h: h}
		}
		prog.Add(1)
	})
	prog.Close()
	if err := ctx.Err(); err != nil {
		return err
	}
	phi := map[string]bool{}
	var kept []*source
	for i, s := range srcs {
		if errs[i] != nil {
			if !env.KeepGoing {
				return fmt.Errorf("%w (use --keep-going to quarantine corrupt files)", relErr(root, errs[i]))
			}
			env.Quarantine(relPath(root, paths[i]), relErr(root, errs[i]).Error())
			continue
		}
		for _, v := range s.h.PHI {
			phi[v] = true
		}
		sum.TransferSyntaxes[s.h.TransferSyntaxUID]++
		if s.h.Modality != "" {
			sum.Modalities[s.h.Modality]++
		}
		kept = append(kept, s)
	}
	sum.PHIHashes = phiHashes(phi)

	// Labels.
	if err := assignLabels(kept, o, &sum.DroppedUnlabelled); err != nil {
		return err
	}
	kept = slices.DeleteFunc(kept, func(s *source) bool { return s.label == dropMark })

	// Series grouping, slice order and examples.
	exs, nSeries, err := buildExamples(kept, o, &pseudo)
	if err != nil {
		return err
	}
	if len(exs) == 0 {
		return fmt.Errorf("%s: no examples left to write (all files quarantined or unlabelled)", inputName(o))
	}
	shape, err := outputShape(exs, o)
	if err != nil {
		return err
	}
	sum.Shape, sum.Series = shape, nSeries

	var classes []string
	if o.LabelFrom != LabelNone {
		set := map[string]bool{}
		for _, e := range exs {
			set[e.label] = true
		}
		for c := range set {
			classes = append(classes, c)
		}
		sort.Strings(classes)
	}

	// Decode pass: parallel within a batch, batches written in order.
	w, err := newBatchWriter(env.Out(contract.DataFile), shape, classes, o)
	if err != nil {
		return err
	}
	defer w.abort()
	prog = env.Progress("decode", len(exs))
	defer prog.Close()
	proc := newProcessor(o, shape)
	written := 0
	patients := map[string]bool{}
	sum.Classes = map[string]int{}
	// a batch holds at most o.Batch examples and about maxBatchBytes of tensors
	batchSize := max(1, min(o.Batch, maxBatchBytes/(4*dataset.TensorSize(shape))))
	for start := 0; start < len(exs); start += batchSize {
		end := min(start+batchSize, len(exs))
		batch := exs[start:end]
		out := make([]result, len(batch))
		parallel(ctx, workers, len(batch), func(i int) {
			out[i] = proc.run(batch[i])
			prog.Add(1)
		})
		if err := ctx.Err(); err != nil {
			return err
		}
		var rows []rowData
		for i, r := range out {
			if r.err != nil {
				if !env.KeepGoing {
					return fmt.Errorf("%w (use --keep-going to quarantine corrupt files)", relErr(root, r.err))
				}
				env.Quarantine(r.file, relErr(root, r.err).Error())
				continue
			}
			e := batch[i]
			rows = append(rows, rowData{ex: e, x: r.x, digest: r.digest})
			patients[e.patient] = true
			if o.LabelFrom != LabelNone {
				sum.Classes[e.label]++
			}
		}
		if err := w.write(rows); err != nil {
			return err
		}
		written += len(rows)
	}
	if written == 0 {
		return fmt.Errorf("%s: every example failed to decode (see the quarantine list)", inputName(o))
	}
	if err := w.close(); err != nil {
		return err
	}
	sum.Files, sum.Examples, sum.Patients = len(kept), written, len(patients)
	sum.Quarantined = env.Quarantined()
	if sum.Quarantined == nil {
		sum.Quarantined = []contract.Quarantined{}
	}
	if len(sum.Classes) == 0 {
		sum.Classes = nil
	}
	sum.PHIHashNormalising = PHIHashMethod
	if err := dataset.WriteJSON(env.Out(contract.SummaryFile), sum); err != nil {
		return err
	}
	env.SetMetric("dicom_files", sum.Files)
	env.SetMetric("dicom_examples", written)
	env.SetMetric("dicom_series", nSeries)
	env.SetMetric("dicom_patients", len(patients))
	env.SetMetric("dicom_quarantined", len(sum.Quarantined))
	env.Log.Info("ingest.dicom", "files", sum.Files, "examples", written, "series", nSeries,
		"patients", len(patients), "quarantined", len(sum.Quarantined), "shape", fmt.Sprint(shape), "deidentified", o.Deidentify)
	return nil
}

func inputName(o *Options) string {
	if o.Path != "" {
		return o.Path
	}
	return fmt.Sprintf("%d files", len(o.Files))
}

// relErr rewrites absolute paths under root in an error message to relative ones.
func relErr(root string, err error) error {
	if root == "" {
		return err
	}
	msg := strings.ReplaceAll(err.Error(), root+string(filepath.Separator), "")
	if msg == err.Error() {
		return err
	}
	return &wrapped{msg: msg, err: err}
}

type wrapped struct {
	msg string
	err error
}

func (w *wrapped) Error() string { return w.msg }
func (w *wrapped) Unwrap() error { return w.err }

func relPath(root, p string) string {
	if root != "" {
		if r, err := filepath.Rel(root, p); err == nil && !strings.HasPrefix(r, "..") {
			return filepath.ToSlash(r)
		}
	}
	return filepath.ToSlash(p)
}

// parallel runs fn(0..n-1) on up to workers goroutines; it stops handing out work when
// ctx is cancelled.
func parallel(ctx context.Context, workers, n int, fn func(i int)) {
	if workers > n {
		workers = n
	}
	var next int
	var mu sync.Mutex
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				mu.Lock()
				i := next
				next++
				mu.Unlock()
				if i >= n || ctx.Err() != nil {
					return
				}
				fn(i)
			}
		}()
	}
	wg.Wait()
}

// listInputs returns the root folder (for relative paths and folder labels) and the
// DICOM files to read, sorted.
func listInputs(o *Options) (string, []string, error) {
	if len(o.Files) > 0 {
		out := slices.Clone(o.Files)
		sort.Strings(out)
		return commonDir(out), out, nil
	}
	st, err := os.Stat(o.Path)
	if err != nil {
		return "", nil, err
	}
	if !st.IsDir() {
		dir := filepath.Dir(o.Path)
		if strings.EqualFold(filepath.Base(o.Path), "DICOMDIR") {
			files, err := readDICOMDIR(o.Path)
			return dir, files, err
		}
		return dir, []string{o.Path}, nil
	}
	var out []string
	err = filepath.WalkDir(o.Path, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if p != o.Path && strings.HasPrefix(d.Name(), ".") {
				return filepath.SkipDir
			}
			return nil
		}
		if strings.EqualFold(d.Name(), "DICOMDIR") || strings.HasPrefix(d.Name(), ".") {
			return nil
		}
		if !d.Type().IsRegular() {
			// follow symbolic links to files (folders of links are common for data sets)
			if st, err := os.Stat(p); err != nil || !st.Mode().IsRegular() {
				return nil
			}
		}
		if looksLikeDICOM(p) {
			out = append(out, p)
		}
		return nil
	})
	sort.Strings(out)
	return o.Path, out, err
}

func commonDir(paths []string) string {
	if len(paths) == 0 {
		return ""
	}
	dir := filepath.Dir(paths[0])
	for _, p := range paths[1:] {
		for !strings.HasPrefix(p, dir+string(filepath.Separator)) && dir != filepath.Dir(dir) {
			dir = filepath.Dir(dir)
		}
	}
	return dir
}

// looksLikeDICOM reports a file with the DICM magic or a DICOM extension.
func looksLikeDICOM(p string) bool {
	ext := strings.ToLower(filepath.Ext(p))
	if ext == ".dcm" || ext == ".dicom" || ext == ".dic" {
		return true
	}
	f, err := os.Open(p)
	if err != nil {
		return false
	}
	defer f.Close()
	head := make([]byte, 132)
	n, _ := f.Read(head)
	return n == 132 && bytes.Equal(head[128:], []byte("DICM"))
}

func readDICOMDIR(path string) ([]string, error) {
	h, err := biodicom.ReadHeader(path)
	if err != nil {
		return nil, err
	}
	if len(h.ReferencedFiles) == 0 {
		return nil, fmt.Errorf("%s: DICOMDIR references no files (tag (0004,1500) ReferencedFileID)", path)
	}
	dir := filepath.Dir(path)
	var out []string
	for _, r := range h.ReferencedFiles {
		p := filepath.Join(dir, filepath.FromSlash(r))
		if _, err := os.Stat(p); err != nil {
			// media file IDs are upper case; the copy on disk may not be
			if alt := findCaseInsensitive(dir, r); alt != "" {
				p = alt
			} else {
				return nil, fmt.Errorf("%s: referenced file %s: %w", path, r, err)
			}
		}
		out = append(out, p)
	}
	sort.Strings(out)
	return out, nil
}

func findCaseInsensitive(dir, rel string) string {
	cur := dir
	for _, part := range strings.Split(rel, "/") {
		ents, err := os.ReadDir(cur)
		if err != nil {
			return ""
		}
		found := ""
		for _, e := range ents {
			if strings.EqualFold(e.Name(), part) {
				found = e.Name()
				break
			}
		}
		if found == "" {
			return ""
		}
		cur = filepath.Join(cur, found)
	}
	return cur
}

// phiHashes hashes identifying strings as PHIHashMethod describes.
func phiHashes(values map[string]bool) []string {
	set := map[string]bool{}
	add := func(s string) {
		if s = strings.TrimSpace(s); len(s) >= 2 {
			d := sha256.Sum256([]byte(s))
			set[hex.EncodeToString(d[:])] = true
		}
	}
	for v := range values {
		add(v)
		add(strings.ToLower(v))
		if strings.ContainsAny(v, "^ ") {
			parts := strings.FieldsFunc(v, func(r rune) bool { return r == '^' || r == ' ' || r == '=' })
			for _, part := range parts {
				if len(part) >= 3 {
					add(part)
					add(strings.ToLower(part))
				}
			}
			forms := []string{strings.Join(parts, " ")}
			if strings.Contains(v, "^") && len(parts) >= 2 { // Family^Given -> "Given Family"
				forms = append(forms, parts[1]+" "+parts[0])
			}
			for _, f := range forms {
				add(f)
				add(strings.ToLower(f))
			}
		}
	}
	out := make([]string, 0, len(set))
	for h := range set {
		out = append(out, h)
	}
	sort.Strings(out)
	return out
}

// outputShape is the per-example tensor shape, checked against every file.
func outputShape(exs []*example, o *Options) ([]int, error) {
	var h, w, c, d int
	for _, e := range exs {
		for _, s := range e.files {
			hh, ww := s.h.Rows, s.h.Columns
			if len(o.Size) == 2 {
				hh, ww = o.Size[0], o.Size[1]
			}
			cc := s.h.SamplesPerPixel
			if o.Channels != 0 {
				cc = o.Channels
			}
			if h == 0 {
				h, w, c = hh, ww, cc
			} else if hh != h || ww != w || cc != c {
				return nil, fmt.Errorf("%s: slices are %dx%dx%d, earlier files %dx%dx%d: set size: [rows, columns] (and channels) to resize them to one shape", s.rel, hh, ww, cc, h, w, c)
			}
		}
		if o.Mode == ModeVolume {
			dd := e.depth()
			if o.Depth > 0 {
				dd = o.Depth
			}
			if d == 0 {
				d = dd
			} else if dd != d {
				return nil, fmt.Errorf("%s: series has %d slices, earlier series %d: set depth: N to resample every series to N slices", e.files[0].rel, dd, d)
			}
		}
	}
	if o.Mode == ModeVolume {
		return []int{d, h, w, c}, nil
	}
	return []int{h, w, c}, nil
}

func (e *example) depth() int {
	n := 0
	for _, s := range e.files {
		n += s.h.Frames
	}
	return n
}

// buildExamples groups sources into series, orders slices and makes the examples.
func buildExamples(srcs []*source, o *Options, p *pseudonymizer) ([]*example, int, error) {
	bySeries := map[string][]*source{}
	var keys []string
	for _, s := range srcs {
		k := s.h.SeriesInstanceUID
		if k == "" {
			k = "file:" + s.rel // no series UID: a series of its own
		}
		if _, ok := bySeries[k]; !ok {
			keys = append(keys, k)
		}
		bySeries[k] = append(bySeries[k], s)
	}
	type series struct {
		key, pseudo, patient string
		files                []*source
	}
	var all []series
	for _, k := range keys {
		files := bySeries[k]
		orderSlices(files)
		all = append(all, series{key: k, pseudo: p.uid(k), patient: p.patient(files[0].h), files: files})
	}
	// deterministic order: patient pseudonym, then series pseudonym
	sort.Slice(all, func(i, j int) bool {
		if all[i].patient != all[j].patient {
			return all[i].patient < all[j].patient
		}
		return all[i].pseudo < all[j].pseudo
	})
	var exs []*example
	for _, s := range all {
		if o.Mode == ModeVolume {
			label := s.files[0].label
			for _, f := range s.files[1:] {
				if f.label != label {
					return nil, 0, fmt.Errorf("%s: label %q differs from %q of %s in the same series: volume mode needs one label per series", f.rel, f.label, label, s.files[0].rel)
				}
			}
			exs = append(exs, &example{files: s.files, label: label, patient: s.patient, series: s.pseudo})
			continue
		}
		k := 0
		for _, f := range s.files {
			for fr := 0; fr < f.h.Frames; fr++ {
				exs = append(exs, &example{files: []*source{f}, frame: fr, slice: k, label: f.label, patient: s.patient, series: s.pseudo})
				k++
			}
		}
	}
	return exs, len(all), nil
}

// orderSlices sorts a series along its slice normal (from ImageOrientationPatient and
// ImagePositionPatient); without positions it falls back to InstanceNumber, then the path.
func orderSlices(files []*source) {
	var normal [3]float64
	haveNormal := false
	for _, f := range files {
		if o := f.h.ImageOrientationPatient; len(o) == 6 {
			normal = [3]float64{o[1]*o[5] - o[2]*o[4], o[2]*o[3] - o[0]*o[5], o[0]*o[4] - o[1]*o[3]}
			haveNormal = true
			break
		}
	}
	allPos := haveNormal
	for _, f := range files {
		if p := f.h.ImagePositionPatient; len(p) == 3 && haveNormal {
			f.normal, f.hasPos = p[0]*normal[0]+p[1]*normal[1]+p[2]*normal[2], true
		} else {
			allPos = false
		}
	}
	sort.SliceStable(files, func(i, j int) bool {
		a, b := files[i], files[j]
		if allPos && a.normal != b.normal {
			return a.normal < b.normal
		}
		if a.h.HasInstanceNumber && b.h.HasInstanceNumber && a.h.InstanceNumber != b.h.InstanceNumber {
			return a.h.InstanceNumber < b.h.InstanceNumber
		}
		return a.rel < b.rel
	})
}
