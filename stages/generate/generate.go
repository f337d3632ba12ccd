// Package generate registers the "generate" stage kind: it draws N samples from a trained
// generative model (gan, diffusion, conv_vae) with the pipeline seed and writes them as a
// tensor table, so the same classifier and evaluate stages can read them; optionally as PNG
// files and, when the training data came from DICOM, as DICOM Secondary Capture files
// marked synthetic. Given a classifier trained on the real data, it measures the samples'
// quality against real held-out examples (sample_confidence, class_coverage, class_kl,
// fid_domain).
package generate

import (
	"context"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/biopipe/biopipe/contract"
	"github.com/biopipe/biopipe/dataset"
	"github.com/biopipe/biopipe/evaluation"
	biodicom "github.com/biopipe/biopipe/io/dicom"
	"github.com/biopipe/biopipe/models"
	_ "github.com/biopipe/biopipe/models/all" // every model family, for models.Load
	"github.com/biopipe/biopipe/plots"
)

// KindName is the stage kind's name.
const KindName = "generate"

// Ports.
const (
	PortModel      = "model"
	PortClassifier = "classifier"
	PortData       = "data"
)

// Field names.
const (
	FieldN      = "n"
	FieldPNG    = "png"
	FieldDICOM  = "dicom"
	FieldSplit  = "real_split"
	FieldColumn = "column"
)

// DICOM modes.
const (
	DICOMAuto = "auto"
	DICOMNo   = "no"
)

// Files in the artifact.
const (
	GridFile    = "samples.png"
	QualityFile = "quality.json"
	PNGDir      = "png"
	DICOMDir    = "dicom"
)

// Fields is the generate kind's config spec.
var Fields = []contract.Field{
	{Name: FieldN, Type: contract.Int, Default: 1000, Min: contract.Bound(1), Max: contract.Bound(1000000),
		Doc: "number of samples (a class-conditional model draws the classes in turn: 0, 1, ..., K-1, 0, ...)"},
	{Name: FieldPNG, Type: contract.Int, Default: 0, Min: contract.Bound(0),
		Doc: "also write the first this many samples as PNG files under png/ (0 = none)"},
	{Name: FieldDICOM, Type: contract.String, Default: DICOMAuto, Enum: []string{DICOMAuto, DICOMNo},
		Doc: "auto: when the data input came from DICOM (ingest.dicom), also write every sample as a DICOM Secondary Capture file under dicom/, marked synthetic (BurnedInAnnotation NO, a derivation description, new UIDs, no patient data); no: never"},
	{Name: FieldSplit, Type: contract.String, Default: dataset.Test,
		Doc: "split of the data input whose real examples the quality figures are compared with"},
	{Name: FieldColumn, Type: contract.String, Default: dataset.ColTensor, Doc: "name of the samples' tensor column"},
}

func init() {
	contract.Register(&contract.Kind{
		Name: KindName,
		Doc:  "draw seeded samples from a generative model (gan, diffusion, conv_vae) as a tensor table, with quality figures",
		Description: `Draws n samples from the trained generative model with the pipeline seed (the same seed gives the
same samples, bit for bit, on the go backend) and writes them as data.arrow: a tensor column (x), the
conditioning class as the label (class-conditional models), split "test" and a synthetic flag, so the
train/evaluate stages can read them. samples.png shows the first 80. Inputs, matched by type in
order: the generative model, then optionally a classifier trained on the real data, and the data.
With a classifier and the data, quality.json and the manifest carry, for the samples beside the same
figures for the real examples of real_split: sample_confidence (mean top-class probability),
class_coverage (classes predicted for at least 1% of the examples), class_kl (KL divergence of the
predicted class histogram from the real one) and fid_domain, a Fréchet distance on the classifier's
penultimate features ("features" output, as the cnn exports). fid_domain is not the Inception FID:
its scale depends on the classifier, so compare it only between models measured with the same one.`,
		Version:     "1",
		Fields:      Fields,
		UsesBackend: true,
		Inputs: []contract.Port{
			{Name: PortModel, Type: contract.Model, Doc: "the trained generative model"},
			{Name: PortClassifier, Type: contract.Model, Optional: true, Doc: "a classifier trained on the real data, to measure the samples"},
			{Name: PortData, Type: contract.Table, Optional: true, Doc: "the real data (its held-out split for the quality reference; DICOM provenance)"},
		},
		Output: contract.Port{Name: "data", Type: contract.Table, Doc: "data.arrow (samples), samples.png, quality.json, png/, dicom/"},
		New: func(cfg contract.Config) (contract.Stage, error) {
			return contract.StageFunc(func(ctx context.Context, env *contract.Env) error { return run(ctx, env, cfg) }), nil
		},
		Example: `- id: samples
  kind: generate
  inputs: [gan, classifier, images]   # generator, real-data classifier, real data
  with: {n: 1000, png: 16}`,
	})
}

func run(ctx context.Context, env *contract.Env, cfg contract.Config) error {
	mi, err := env.One(PortModel)
	if err != nil {
		return err
	}
	gen, err := models.Load(mi.Dir, env.Backend)
	if err != nil {
		return fmt.Errorf("stage %q: %w", env.StageID, err)
	}
	card := gen.Card()
	if !gen.CanSample() {
		return fmt.Errorf("stage %q: model %q (stage %q) is not generative; use gan, diffusion or conv_vae", env.StageID, card.Family, mi.StageID)
	}
	var frame *dataset.Frame
	if ins := env.In(PortData); len(ins) > 0 {
		if frame, err = dataset.ReadFile(ins[0].File(contract.DataFile)); err != nil {
			return fmt.Errorf("stage %q: %w", env.StageID, err)
		}
	}
	n := cfg.Int(FieldN)
	prog := env.Progress("generate "+card.Family, 1)
	samples, err := gen.Sample(ctx, n, nil, uint64(env.Seed))
	prog.Add(1)
	prog.Close()
	if err != nil {
		return fmt.Errorf("stage %q: %w", env.StageID, err)
	}
	var labels []int
	if gen.Conditional() {
		labels = make([]int, n)
		for i := range labels {
			labels[i] = i % len(card.Classes)
		}
	}
	sum := map[string]any{"model": card.Family, "n": n, "seed": env.Seed, "shape": card.InputShape, "conditional": gen.Conditional()}
	out := samplesFrame(samples, cfg.String(FieldColumn), card.Classes, labels)
	if err := out.WriteFile(env.Out(contract.DataFile)); err != nil {
		return fmt.Errorf("stage %q: %w", env.StageID, err)
	}
	var figures []contract.SummaryFigure
	if len(card.InputShape) == 3 || len(card.InputShape) == 4 {
		if err := writeGrid(env, samples, card, gen.Conditional()); err != nil {
			return fmt.Errorf("stage %q: %w", env.StageID, err)
		}
		caption := fmt.Sprintf("The first %d of %d samples drawn from the %s with seed %d", min(n, 80), n, card.Family, env.Seed)
		if gen.Conditional() {
			caption += "; one class per column, in class order (" + strings.Join(card.Classes, ", ") + ")"
		}
		figures = append(figures, contract.SummaryFigure{File: GridFile, Title: "Generated samples", Caption: caption + "."})
		if k := cfg.Int(FieldPNG); k > 0 {
			if err := writePNGs(env.Out(PNGDir), samples, min(k, n)); err != nil {
				return fmt.Errorf("stage %q: %w", env.StageID, err)
			}
			sum["png_files"] = min(k, n)
		}
	}
	if cfg.String(FieldDICOM) == DICOMAuto && frame != nil && fromDICOM(frame) {
		written, err := writeDICOM(env.Out(DICOMDir), samples, card, mi.Digest, env.Seed)
		if err != nil {
			return fmt.Errorf("stage %q: %w", env.StageID, err)
		}
		sum["dicom_files"] = written
	}
	if ins := env.In(PortClassifier); len(ins) > 0 {
		if frame == nil {
			return fmt.Errorf("stage %q: a classifier input needs the real data too (list the data stage in inputs)", env.StageID)
		}
		q, err := quality(ctx, env, ins[0].Dir, samples, frame, cfg.String(FieldSplit), card, labels)
		if err != nil {
			return fmt.Errorf("stage %q: %w", env.StageID, err)
		}
		if err := dataset.WriteJSON(env.Out(QualityFile), q); err != nil {
			return err
		}
		sum["quality"] = q
		sum["tables"] = []map[string]any{qualityTable(q, n, card.Family)}
	}
	sum["figures"] = figures
	return dataset.WriteJSON(env.Out(contract.SummaryFile), sum)
}

// samplesFrame is the samples as a tensor table: x, label (the conditioning class), split
// "test" and synthetic = true.
func samplesFrame(s *dataset.Matrix, column string, classes []string, labels []int) *dataset.Frame {
	f := dataset.New()
	f.Meta[dataset.MetaSource] = KindName
	f.Columns = append(f.Columns, &dataset.Column{Name: column, Kind: dataset.Tensor, Shape: slices.Clone(s.Shape), T: s.X})
	if labels != nil {
		lab := &dataset.Column{Name: "label", Kind: dataset.String, S: make([]string, s.N)}
		for i, c := range labels {
			lab.S[i] = classes[c]
		}
		f.Columns = append(f.Columns, lab)
		f.Meta[dataset.MetaLabel] = "label"
		f.Meta[dataset.MetaTask] = string(models.Classification)
		f.SetClasses(classes)
	}
	split := &dataset.Column{Name: dataset.ColSplit, Kind: dataset.String, S: make([]string, s.N)}
	syn := &dataset.Column{Name: "synthetic", Kind: dataset.Int, I: make([]int64, s.N), Meta: map[string]string{"biopipe.role": "provenance"}}
	for i := range split.S {
		split.S[i] = dataset.Test
		syn.I[i] = 1
	}
	f.Columns = append(f.Columns, split, syn)
	return f
}

// valueRange is the plotting range of samples: [0, 1] unless they reach outside it.
func valueRange(v []float32) (float64, float64) {
	lo, hi := 0.0, 1.0
	for _, x := range v {
		lo, hi = min(lo, float64(x)), max(hi, float64(x))
	}
	if lo < -0.5 { // tanh-scaled data
		lo = -1
	}
	return lo, hi
}

func writeGrid(env *contract.Env, s *dataset.Matrix, card models.Card, conditional bool) error {
	size := dataset.TensorSize(s.Shape)
	cols := 10
	if conditional {
		cols = len(card.Classes)
	}
	k := min(s.N, 8*cols)
	rows := make([][]float32, k)
	for i := range rows {
		rows[i] = s.X[i*size : (i+1)*size]
	}
	lo, hi := valueRange(s.X[:k*size])
	png, err := plots.ImageGrid(rows, s.Shape, cols, lo, hi)
	if err != nil {
		return err
	}
	return os.WriteFile(env.Out(GridFile), png, 0o644)
}

func writePNGs(dir string, s *dataset.Matrix, k int) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	size := dataset.TensorSize(s.Shape)
	lo, hi := valueRange(s.X)
	for i := range k {
		png, err := plots.ImageGrid([][]float32{s.X[i*size : (i+1)*size]}, s.Shape, 1, lo, hi)
		if err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("sample_%05d.png", i)), png, 0o644); err != nil {
			return err
		}
	}
	return nil
}

// Quality is quality.json: the samples' figures beside the real examples'.
type Quality struct {
	Classifier string                    `json:"classifier"` // model family
	RealSplit  string                    `json:"real_split"`
	Generated  evaluation.QualityFigures `json:"generated"`
	Real       evaluation.QualityFigures `json:"real"`
	// LabelAgreement is the share of a conditional model's samples that the classifier
	// assigns to the class they were drawn for.
	LabelAgreement *float64 `json:"label_agreement,omitempty"`
	Classes        []string `json:"classes"`
	Caveat         string   `json:"caveat"`
}

// FIDCaveat is written beside fid_domain wherever it is shown.
const FIDCaveat = "fid_domain is a Fréchet distance on the penultimate features of a classifier trained on this pipeline's real data, not the Inception FID: its scale depends on that classifier, so compare it only between models measured with the same classifier (lower is closer to the real data)."

func quality(ctx context.Context, env *contract.Env, dir string, samples *dataset.Matrix, frame *dataset.Frame, split string, card models.Card, labels []int) (*Quality, error) {
	clf, err := models.Load(dir, env.Backend)
	if err != nil {
		return nil, fmt.Errorf("classifier: %w", err)
	}
	cc := clf.Card()
	if cc.Task != models.Classification {
		return nil, fmt.Errorf("classifier: model %q is a %s model, want classification", cc.Family, cc.Task)
	}
	if dataset.TensorSize(cc.InputShape) != dataset.TensorSize(samples.Shape) {
		return nil, fmt.Errorf("classifier: it takes inputs of shape %v, the samples have shape %v", cc.InputShape, samples.Shape)
	}
	if labels != nil && !slices.Equal(cc.Classes, card.Classes) {
		return nil, fmt.Errorf("classifier: its classes %v differ from the generator's %v", cc.Classes, card.Classes)
	}
	rows := frame.SplitRows(split)
	if len(rows) < 2 {
		return nil, fmt.Errorf("data: split %q has %d rows; the quality reference needs real held-out examples", split, len(rows))
	}
	x, err := frame.Features(rows)
	if err != nil {
		return nil, fmt.Errorf("data: %w", err)
	}
	genView, err := view(ctx, clf, samples)
	if err != nil {
		return nil, fmt.Errorf("classifier on the samples: %w", err)
	}
	realView, err := view(ctx, clf, x)
	if err != nil {
		return nil, fmt.Errorf("classifier on the real data: %w", err)
	}
	g, r, err := evaluation.SampleQuality(genView, realView, len(cc.Classes))
	if err != nil {
		return nil, err
	}
	q := &Quality{Classifier: cc.Family, RealSplit: split, Generated: g, Real: r, Classes: cc.Classes, Caveat: FIDCaveat}
	env.SetMetric(evaluation.NameSampleConfidence, g.Confidence)
	env.SetMetric(evaluation.NameClassCoverage, float64(g.Coverage))
	env.SetMetric(evaluation.NameClassKL, g.KL)
	env.SetMetric("real_data_confidence", r.Confidence) // not "real_sample_confidence": a search for *sample_confidence must find the samples'
	env.SetMetric("real_data_coverage", float64(r.Coverage))
	if g.FID != nil {
		env.SetMetric(evaluation.NameFIDDomain, *g.FID)
	}
	if labels != nil {
		hit := 0
		for i, p := range genView.Probs {
			if argmax(p) == labels[i] {
				hit++
			}
		}
		a := float64(hit) / float64(len(labels))
		q.LabelAgreement = &a
		env.SetMetric("label_agreement", a)
	}
	return q, nil
}

// view runs the classifier: class probabilities and, when it exports them, features.
func view(ctx context.Context, clf *models.Trained, x *dataset.Matrix) (evaluation.ClassifierView, error) {
	var v evaluation.ClassifierView
	outs, err := clf.Outputs(ctx, x)
	if err != nil {
		return v, err
	}
	v.Probs = toFloat64(outs[0].Values)
	for _, o := range outs[1:] {
		if o.Name == "features" {
			v.Features = toFloat64(o.Values)
		}
	}
	return v, nil
}

func toFloat64(rows [][]float32) [][]float64 {
	out := make([][]float64, len(rows))
	for i, r := range rows {
		out[i] = make([]float64, len(r))
		for j, v := range r {
			out[i][j] = float64(v)
		}
	}
	return out
}

func argmax(p []float64) int {
	best := 0
	for i, v := range p {
		if v > p[best] {
			best = i
		}
	}
	return best
}

// fromDICOM reports whether the table came from DICOM files (ingest.dicom).
func fromDICOM(f *dataset.Frame) bool { return f.Meta[dataset.MetaSource] == "ingest.dicom" }

// writeDICOM writes every sample as a DICOM Secondary Capture file marked synthetic, with
// UIDs derived from the model's digest, the seed and the sample index (new, reproducible,
// unrelated to any source file's) and no patient data. Values map from [0, 1] (the
// windowed intensities ingest.dicom produces) to 0..255.
func writeDICOM(dir string, s *dataset.Matrix, card models.Card, digest string, seed int64) (int, error) {
	shape := s.Shape
	frames, rows, cols, ch := 1, 0, 0, 0
	switch len(shape) {
	case 3:
		rows, cols, ch = shape[0], shape[1], shape[2]
	case 4:
		frames, rows, cols, ch = shape[0], shape[1], shape[2], shape[3]
	default:
		return 0, fmt.Errorf("dicom: samples of shape %v are not images or volumes", shape)
	}
	size := dataset.TensorSize(shape)
	base := fmt.Sprintf("%s|%s|%d", digest, card.Family, seed)
	study := biodicom.UID(base, "study")
	series := biodicom.UID(base, "series")
	desc := fmt.Sprintf("synthetic image generated by biopipe (model %s, seed %d); not an acquisition of a patient", card.Family, seed)
	for i := range s.N {
		ex := s.X[i*size : (i+1)*size]
		px := make([]uint8, frames*rows*cols)
		for p := range px {
			v := float64(ex[p*ch]) // channel 0
			px[p] = uint8(math.Round(255 * math.Min(1, math.Max(0, v))))
		}
		img := &biodicom.SyntheticImage{
			Rows: rows, Columns: cols, Frames: frames, Pixels: px,
			StudyInstanceUID: study, SeriesInstanceUID: series, SOPInstanceUID: biodicom.UID(base, "instance", strconv.Itoa(i)),
			InstanceNumber: i + 1, DerivationDescription: desc, SeriesDescription: "biopipe synthetic samples (" + card.Family + ")",
		}
		if err := img.WriteFile(filepath.Join(dir, fmt.Sprintf("SC%05d.dcm", i))); err != nil {
			return i, err
		}
	}
	return s.N, nil
}

// qualityTable is the report's table of the quality figures, with the Fréchet caveat.
func qualityTable(q *Quality, n int, family string) map[string]any {
	f := func(v float64) string { return strconv.FormatFloat(v, 'f', 3, 64) }
	rows := [][]string{
		{"mean top-class confidence (" + evaluation.NameSampleConfidence + ")", f(q.Generated.Confidence), f(q.Real.Confidence)},
		{fmt.Sprintf("classes with >= %.0f%% of the examples (%s)", 100*evaluation.CoverageShare, evaluation.NameClassCoverage),
			fmt.Sprintf("%d of %d", q.Generated.Coverage, len(q.Classes)), fmt.Sprintf("%d of %d", q.Real.Coverage, len(q.Classes))},
		{"KL of the predicted class histogram from the real one (" + evaluation.NameClassKL + ")", f(q.Generated.KL), f(q.Real.KL)},
	}
	if q.Generated.FID != nil {
		rows = append(rows, []string{"Fréchet distance on the classifier's features (" + evaluation.NameFIDDomain + ")", f(*q.Generated.FID), f(*q.Real.FID)})
	}
	if q.LabelAgreement != nil {
		rows = append(rows, []string{"share predicted as the class drawn for (label_agreement)", f(*q.LabelAgreement), ""})
	}
	return map[string]any{
		"caption": fmt.Sprintf("Sample quality: %d samples of the %s labelled by a %s trained on the real data, beside the real %s examples (n = %d).", n, family, q.Classifier, q.RealSplit, q.Real.N),
		"header":  []string{"figure", "generated", "real " + q.RealSplit},
		"rows":    rows,
		"note":    FIDCaveat,
	}
}
