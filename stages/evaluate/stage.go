// Package evaluate is the `evaluate` stage kind: it runs a trained model on the splits of
// a dataset and writes metrics.json (package evaluation's Result), predictions.arrow and the
// figures, including the per-epoch curves from the model's training history.
package evaluate

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/biopipe/biopipe/contract"
	"github.com/biopipe/biopipe/dataset"
	"github.com/biopipe/biopipe/evaluation"
	"github.com/biopipe/biopipe/metrics"
	"github.com/biopipe/biopipe/models"
	"github.com/biopipe/biopipe/plots"
)

// KindName is the stage kind's name.
const KindName = "evaluate"

// Config field names.
const (
	FieldThreshold         = "threshold"
	FieldThresholdValue    = "threshold_value"
	FieldTargetSensitivity = "target_sensitivity"
	FieldBootstrap         = "bootstrap"
	FieldLevel             = "ci_level"
	FieldBins              = "calibration_bins"
	FieldSplits            = "splits"
	FieldAnomalyLabel      = "anomaly_label"
	FieldTensorBoard       = "tensorboard"
	FieldStreamAbove       = "stream_above"
)

// Ports.
const (
	PortModel = "model"
	PortData  = "data"
)

// Fields is the evaluate stage's config spec.
var Fields = []contract.Field{
	{Name: FieldThreshold, Type: contract.String, Default: metrics.ThresholdFixed,
		Enum: []string{metrics.ThresholdFixed, metrics.ThresholdYouden, metrics.ThresholdSensitivity},
		Doc:  "binary decision threshold: fixed (threshold_value), youden (max sensitivity+specificity-1) or sensitivity (reach target_sensitivity); fitted on the val split only"},
	{Name: FieldThresholdValue, Type: contract.Float, Default: 0.5, Min: contract.Bound(0), Max: contract.Bound(1),
		Doc: "probability of the positive class at or above which a binary prediction is positive (rule fixed); binary segmentation: the foreground probability at or above which a voxel is foreground"},
	{Name: FieldTargetSensitivity, Type: contract.Float, Default: 0.9, Min: contract.Bound(0), Max: contract.Bound(1),
		Doc: "sensitivity the threshold must reach on the val split (rule sensitivity)"},
	{Name: FieldBootstrap, Type: contract.Int, Default: 1000, Min: contract.Bound(0), Max: contract.Bound(100000),
		Doc: "bootstrap resamples for the confidence intervals (0 = none); stratified by class, whole groups when the data has a group column; seeded by the pipeline seed"},
	{Name: FieldLevel, Type: contract.Float, Default: 0.95, Min: contract.Bound(0.5), Max: contract.Bound(0.999),
		Doc: "confidence level of the intervals"},
	{Name: FieldBins, Type: contract.Int, Default: 10, Min: contract.Bound(2), Max: contract.Bound(100),
		Doc: "equal-width bins of the reliability diagram and ECE"},
	{Name: FieldSplits, Type: contract.Strings, Default: []any{dataset.Train, dataset.Val, dataset.Test},
		Doc: "splits to evaluate, in report order (absent splits are skipped; figures use test, else the last)"},
	{Name: FieldAnomalyLabel, Type: contract.String,
		Doc: "reconstruction models (autoencoders): the label value of anomalous rows; the per-row reconstruction error is scored as an anomaly score against it (anomaly_auroc; e.g. train on normal rows only, score all)"},
	{Name: FieldStreamAbove, Type: contract.Int, Default: 1024, Min: contract.Bound(0), Advanced: true,
		Doc: "classification and regression models: read the data from its Arrow file a record batch at a time when the file is larger than this many MiB (0: always), so data larger than memory is evaluated in bounded memory (no decision-region or motif figure then)"},
	{Name: FieldTensorBoard, Type: contract.Bool, Default: true,
		Doc: "also write the figures (confusion matrix, ROC, decision regions ...) as images and every split's metrics as scalars to runs/<run id>/tensorboard/<stage id>/ (tensorboard --logdir <workdir>/runs)"},
}

func init() {
	contract.Register(&contract.Kind{
		Name: KindName,
		Doc:  "metrics with bootstrap confidence intervals, predictions and figures of a trained model",
		Description: `Runs the model on each split of the dataset and writes metrics.json: per split,
every scalar metric as {value, ci_low, ci_high} (classification: accuracy, balanced accuracy,
AUROC, AUPRC, F1 macro/micro, sensitivity, specificity, PPV, NPV, ECE, Brier; multiclass AUROC
and AUPRC are one-vs-rest macro; regression: MSE, RMSE, MAE, R²; segmentation, when the model
is trained on a mask column (unet): Dice and IoU per foreground class and their mean over
classes, each the mean over cases, and voxel accuracy, with intervals from resampling cases; a
case whose true and predicted masks both lack a class is left out of that class's mean, and a
class absent everywhere is null with the reason), the confusion matrix, the
threshold and the calibration bins. Also predictions.arrow, ROC/PR/confusion/reliability PNGs
of the test split (segmentation: per-case Dice and IoU, the predicted mask and the
probabilities per row; a Dice histogram and image/true/predicted slices; with volumes from
ingest.volumes, every row's predicted mask as NIfTI on the stored grid, in
predicted_masks/<split>/<file>.nii.gz), and the model's per-epoch curves. Headline metrics go to the run manifest
as <split>_<metric> (test_auroc, ...).
Without a model, it scores the columns an extract.llm stage filled against their labelled
columns: per field accuracy, F1 (enum: macro over the label's classes; bool: of true) and MAE
(numbers), in the manifest as extract_<field>_accuracy, extract_<field>_f1 and
extract_mean_accuracy.`,
		Version:     "1",
		Fields:      Fields,
		UsesBackend: true,
		Inputs: []contract.Port{
			{Name: PortModel, Type: contract.Model, Optional: true, Doc: "the trained model (absent: evaluate the columns an extract.llm stage filled against their labelled columns)"},
			{Name: PortData, Type: contract.Table, Doc: "the dataset with its split column"},
		},
		Output: contract.Port{Name: "metrics", Type: contract.Metrics, Doc: "metrics.json, predictions.arrow, figures"},
		New: func(cfg contract.Config) (contract.Stage, error) {
			return contract.StageFunc(func(ctx context.Context, env *contract.Env) error { return run(ctx, env, cfg) }), nil
		},
		Example: `- id: eval
  kind: evaluate
  inputs: [train, split]
  with: {threshold: youden, bootstrap: 2000}`,
	})
}

func run(ctx context.Context, env *contract.Env, cfg contract.Config) error {
	if len(env.In(PortModel)) == 0 {
		return runExtraction(env)
	}
	mi, err := env.One(PortModel)
	if err != nil {
		return err
	}
	di, err := env.One(PortData)
	if err != nil {
		return err
	}
	model, err := models.Load(mi.Dir, env.Backend)
	if err != nil {
		return fmt.Errorf("stage %q: %w", env.StageID, err)
	}
	card := model.Card()
	path := di.File(contract.DataFile)
	frame, table, err := openData(path, card.Task, cfg.Int(FieldStreamAbove))
	if err != nil {
		return fmt.Errorf("stage %q: %w", env.StageID, err)
	}
	if table != nil {
		defer table.Close()
		env.Log.Info("streaming the data from its file", "stage", env.StageID, "file", path, "rows", table.NumRows(), "record_batches", table.NumBatches())
	}
	opt := evaluation.Options{
		Task: string(card.Task), Classes: card.Classes, Model: card.Family,
		Threshold: cfg.String(FieldThreshold), FixedThreshold: cfg.Float(FieldThresholdValue),
		TargetSensitivity: cfg.Float(FieldTargetSensitivity), Resamples: cfg.Int(FieldBootstrap),
		Level: cfg.Float(FieldLevel), Seed: uint64(env.Seed), Bins: cfg.Int(FieldBins), Order: cfg.Strings(FieldSplits),
		AnomalyLabel: cfg.String(FieldAnomalyLabel),
	}
	if opt.AnomalyLabel != "" && opt.Task != "reconstruction" {
		return fmt.Errorf("stage %q: %s needs a reconstruction model (an autoencoder); %q is a %s model", env.StageID, FieldAnomalyLabel, card.Family, opt.Task)
	}
	if opt.Task == "classification" && len(opt.Classes) == 0 {
		opt.Classes = frame.Classes()
	}
	switch opt.Task {
	case "classification", "regression", "reconstruction", "segmentation":
	default:
		return fmt.Errorf("stage %q: model task %q: evaluate handles classification, regression, reconstruction and segmentation", env.StageID, opt.Task)
	}
	preds := map[string]*evaluation.Predictions{}
	segs := map[string]*segPrediction{}
	prog := env.Progress("predict", len(opt.Order))
	for _, split := range opt.Order {
		rows := frame.SplitRows(split)
		if frame.Split() == nil && split != dataset.Test {
			rows = nil // without a split column every row is test data
		}
		if len(rows) > 0 {
			var p *evaluation.Predictions
			var err error
			if opt.Task == "segmentation" {
				p, segs[split], err = predictSegmentation(ctx, model, frame, rows, opt, cfg.Float(FieldThresholdValue))
			} else {
				p, err = predict(ctx, model, frame, table, rows, opt)
			}
			if err != nil {
				return fmt.Errorf("stage %q: split %q: %w", env.StageID, split, err)
			}
			preds[split] = p
		}
		prog.Add(1)
	}
	prog.Close()
	out, err := evaluation.Evaluate(ctx, preds, opt)
	if err != nil {
		return fmt.Errorf("stage %q: %w", env.StageID, err)
	}
	if table == nil { // the figure needs every row's inputs
		if err := decisionBoundary(ctx, model, frame, preds, opt, out); err != nil {
			return fmt.Errorf("stage %q: decision boundary: %w", env.StageID, err)
		}
	}
	if opt.Task == "reconstruction" {
		if err := reconstructionFigures(ctx, model, frame, out, uint64(env.Seed)); err != nil {
			return fmt.Errorf("stage %q: %w", env.StageID, err)
		}
	}
	if opt.Task == "segmentation" {
		if err := segmentationSlices(frame, preds, segs, out); err != nil {
			return fmt.Errorf("stage %q: segmentation figure: %w", env.StageID, err)
		}
		n, why, err := writeMaskVolumes(env.OutDir, frame, out.Result, preds, segs)
		if err != nil {
			return fmt.Errorf("stage %q: predicted masks as NIfTI: %w", env.StageID, err)
		}
		if why != "" {
			env.Log.Info("predicted masks not written as NIfTI", "stage", env.StageID, "why", why)
		} else {
			env.Log.Info("predicted masks written as NIfTI", "stage", env.StageID, "files", n, "folder", filepath.Join(env.OutDir, MaskDir))
		}
	}
	if err := historyFigures(mi.Dir, env.OutDir, out); err != nil {
		env.Log.Warn("no per-epoch curves", "stage", env.StageID, "err", err)
	}
	if err := motifFigure(model, frame, out); err != nil {
		env.Log.Warn("no motif figure", "stage", env.StageID, "err", err)
	}
	if err := write(env, out, preds, segs, opt); err != nil {
		return fmt.Errorf("stage %q: %w", env.StageID, err)
	}
	if cfg.Bool(FieldTensorBoard) {
		if err := writeTensorBoard(env, out, int64(card.EpochsRun)); err != nil {
			env.Log.Warn("tensorboard", "stage", env.StageID, "err", err)
		}
	}
	// The manifest gets every metric of the primary (test) split and the headline metrics
	// of the others; metrics.json has them all with their intervals.
	for _, split := range out.Result.Splits {
		s := out.Result.PerSplit[split]
		for name, iv := range s.Metrics {
			if split == out.Result.Primary || headline[name] {
				if math.IsNaN(iv.Value) || math.IsInf(iv.Value, 0) {
					env.SetMetric(split+"_"+name, nil) // undefined: metrics.json says why
					continue
				}
				env.SetMetric(split+"_"+name, iv.Value)
			}
		}
	}
	if th := out.Result.Threshold; th != nil {
		env.SetMetric("threshold", th.Value)
	}
	return nil
}

// headline metrics are recorded in the manifest for every split.
var headline = map[string]bool{metrics.NameAUROC: true, metrics.NameAccuracy: true, metrics.NameRMSE: true, metrics.NameR2: true, evaluation.NameAnomalyAUROC: true,
	evaluation.NameDice: true, evaluation.NameIoU: true}

// openData reads the table at path whole or, for a classification or regression model when
// the file is larger than streamAbove MiB, opens it for streaming: frame then holds only
// the role columns (split, label, group ...) and table reads the inputs.
func openData(path string, task models.Task, streamAbove int) (*dataset.Frame, *dataset.Table, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, nil, err
	}
	if (task != models.Classification && task != models.Regression) || fi.Size() <= int64(streamAbove)<<20 {
		frame, err := dataset.ReadFile(path)
		return frame, nil, err
	}
	table, err := dataset.OpenTable(path)
	if err != nil {
		return nil, nil, err
	}
	return table.Roles(), table, nil
}

// predict runs the model on rows (of frame, or streamed from table when set) and pairs the
// outputs with the labels.
func predict(ctx context.Context, model *models.Trained, frame *dataset.Frame, table *dataset.Table, rows []int, opt evaluation.Options) (*evaluation.Predictions, error) {
	var x *dataset.Matrix
	var out [][]float32
	if table != nil {
		fs, err := table.Features(rows)
		if err != nil {
			return nil, err
		}
		outs, err := model.OutputsFrom(ctx, fs, fs.M)
		if err != nil {
			return nil, err
		}
		out = outs[0].Values
	} else {
		var err error
		if x, err = frame.Features(rows); err != nil {
			return nil, err
		}
		if out, err = model.Predict(ctx, x); err != nil {
			return nil, err
		}
	}
	if len(out) != len(rows) {
		return nil, fmt.Errorf("model returned %d predictions for %d rows", len(out), len(rows))
	}
	p := &evaluation.Predictions{Rows: rows}
	if opt.Task == "reconstruction" { // never streamed (openData)
		size := dataset.TensorSize(x.Shape)
		for i, row := range out {
			if len(row) != size {
				return nil, fmt.Errorf("reconstruction of row %d has %d values, the input %d", rows[i], len(row), size)
			}
			var sq, ab float64
			for j, v := range row {
				d := float64(v) - float64(x.X[i*size+j])
				sq += d * d
				ab += math.Abs(d)
			}
			p.SqErr = append(p.SqErr, sq/float64(size))
			p.AbsErr = append(p.AbsErr, ab/float64(size))
		}
		if opt.AnomalyLabel != "" {
			an, err := anomalous(frame, rows, opt.AnomalyLabel)
			if err != nil {
				return nil, err
			}
			p.Anomalous = an
		}
		return p, nil
	}
	cls, reg, err := frame.Labels(rows)
	if err != nil {
		return nil, err
	}
	p.Truth, p.Target = cls, reg
	if g := frame.Group(); g != nil {
		for _, r := range rows {
			p.Groups = append(p.Groups, g.Text(r))
		}
	}
	for _, row := range out {
		f := make([]float64, len(row))
		for i, v := range row {
			f[i] = float64(v)
		}
		if opt.Task == "regression" {
			if len(f) != 1 {
				return nil, fmt.Errorf("regression model returned %d values per row, want 1", len(f))
			}
			p.Value = append(p.Value, f[0])
		} else {
			p.Probs = append(p.Probs, f)
		}
	}
	return p, nil
}

// historyFigures copies history.json forward and draws the per-epoch curves.
func historyFigures(modelDir, outDir string, out *evaluation.Output) error {
	b, err := os.ReadFile(filepath.Join(modelDir, contract.HistoryFile))
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(outDir, contract.HistoryFile), b, 0o644); err != nil {
		return err
	}
	h, err := plots.ParseHistory(b)
	if err != nil {
		return err
	}
	var figs []evaluation.Figure
	for _, m := range h.Metrics() {
		png, err := h.Curve(m)
		if err != nil {
			return err
		}
		file := "curve_" + m + ".png"
		out.Figures[file] = png
		figs = append(figs, evaluation.Figure{File: file, Title: capitalize(strings.ReplaceAll(m, "_", " ")) + " per epoch",
			Caption: "Training and validation " + strings.ReplaceAll(m, "_", " ") + " per epoch."})
	}
	out.Result.Figures = append(figs, out.Result.Figures...)
	return nil
}

// write stores metrics.json, predictions.arrow and the figures in the output folder.
func write(env *contract.Env, out *evaluation.Output, preds map[string]*evaluation.Predictions, segs map[string]*segPrediction, opt evaluation.Options) error {
	b, err := json.MarshalIndent(out.Result, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(env.Out(contract.MetricsFile), append(b, '\n'), 0o644); err != nil {
		return err
	}
	for name, png := range out.Figures {
		if err := os.WriteFile(env.Out(name), png, 0o644); err != nil {
			return err
		}
	}
	if opt.Task == "segmentation" {
		f := dataset.New()
		f.Meta[dataset.MetaTask] = opt.Task
		f.SetClasses(opt.Classes)
		f.Columns = segmentationColumns(out.Result, preds, segs)
		return f.WriteFile(env.Out(contract.PredictionsFile))
	}
	return PredictionsFrame(out.Result, preds, opt).WriteFile(env.Out(contract.PredictionsFile))
}

// PredictionsFrame builds predictions.arrow: per evaluated row its position in the
// dataset (row), split, true label, predicted label (or value) and class probabilities.
func PredictionsFrame(res *evaluation.Result, preds map[string]*evaluation.Predictions, opt evaluation.Options) *dataset.Frame {
	f := dataset.New()
	f.Meta[dataset.MetaTask] = opt.Task
	row := &dataset.Column{Name: "row", Kind: dataset.Int}
	split := &dataset.Column{Name: dataset.ColSplit, Kind: dataset.String}
	if opt.Task == "reconstruction" {
		sq := &dataset.Column{Name: "mse", Kind: dataset.Float}
		ab := &dataset.Column{Name: "mae", Kind: dataset.Float}
		for _, s := range res.Splits {
			p := preds[s]
			for i, r := range p.Rows {
				row.I = append(row.I, int64(r))
				split.S = append(split.S, s)
				sq.F = append(sq.F, p.SqErr[i])
				ab.F = append(ab.F, p.AbsErr[i])
			}
		}
		f.Columns = []*dataset.Column{row, split, sq, ab}
		return f
	}
	if opt.Task == "regression" {
		truth := &dataset.Column{Name: "label", Kind: dataset.Float}
		pred := &dataset.Column{Name: "prediction", Kind: dataset.Float}
		for _, s := range res.Splits {
			p := preds[s]
			for i, r := range p.Rows {
				row.I = append(row.I, int64(r))
				split.S = append(split.S, s)
				truth.F = append(truth.F, p.Target[i])
				pred.F = append(pred.F, p.Value[i])
			}
		}
		f.Columns = []*dataset.Column{row, split, truth, pred}
		f.Meta[dataset.MetaLabel] = "label"
		return f
	}
	f.SetClasses(opt.Classes)
	truth := &dataset.Column{Name: "label", Kind: dataset.String}
	pred := &dataset.Column{Name: "prediction", Kind: dataset.String}
	probs := make([]*dataset.Column, len(opt.Classes))
	for c, name := range opt.Classes {
		probs[c] = &dataset.Column{Name: "prob_" + name, Kind: dataset.Float, Meta: map[string]string{"biopipe.role": "prediction"}}
	}
	thr := 0.5
	if res.Threshold != nil {
		thr = res.Threshold.Value
	}
	for _, s := range res.Splits {
		p := preds[s]
		predicted := metrics.Predict(p.Probs, thr)
		for i, r := range p.Rows {
			row.I = append(row.I, int64(r))
			split.S = append(split.S, s)
			truth.S = append(truth.S, opt.Classes[p.Truth[i]])
			pred.S = append(pred.S, opt.Classes[predicted[i]])
			for c := range probs {
				probs[c].F = append(probs[c].F, p.Probs[i][c])
			}
		}
	}
	pred.Meta = map[string]string{"biopipe.role": "prediction"}
	row.Meta = map[string]string{"biopipe.role": "row"}
	f.Columns = append([]*dataset.Column{row, split, truth, pred}, probs...)
	f.Meta[dataset.MetaLabel] = "label"
	return f
}

func capitalize(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

// MotifFilters is the number of first-layer filters the motif figure shows.
const MotifFilters = 8

// motifFigure draws the first-layer convolution filters of a model over one-hot sequences
// (a tensor column whose metadata names its channels' letters, as transform.encode_sequence
// writes) as sequence logos: the MotifFilters filters with the most information content.
// Models without such an input or such a layer get no figure and no error.
func motifFigure(model *models.Trained, frame *dataset.Frame, out *evaluation.Output) error {
	cols, err := frame.FeatureColumns()
	if err != nil || len(cols) != 1 || cols[0].Kind != dataset.Tensor || cols[0].Meta["biopipe.channels"] == "" {
		return nil
	}
	letters := cols[0].Meta["biopipe.channels"]
	vars, err := model.Variables()
	if err != nil {
		return err
	}
	w := vars["block_0/conv_0/weights"]
	if w == nil || len(w.Shape) != 3 || w.Shape[1] != len(letters) {
		return nil
	}
	k, c, nf := w.Shape[0], w.Shape[1], w.Shape[2]
	motifs := make([]plots.Motif, nf)
	score := make([]float64, nf)
	for f := range nf {
		m := make([][]float64, k)
		for p := range k {
			m[p] = make([]float64, c)
			for ch := range c {
				m[p][ch] = float64(w.Data[(p*c+ch)*nf+f])
			}
		}
		motifs[f] = plots.FilterMotif(fmt.Sprintf("filter %d", f+1), m)
		for _, b := range motifs[f].InformationContent() {
			score[f] += b
		}
	}
	order := make([]int, nf)
	for i := range order {
		order[i] = i
	}
	sort.SliceStable(order, func(a, b int) bool { return score[order[a]] > score[order[b]] })
	var top []plots.Motif
	for _, f := range order[:min(MotifFilters, nf)] {
		m := motifs[f]
		m.Name = fmt.Sprintf("%s (%.1f bits)", m.Name, score[f])
		top = append(top, m)
	}
	png, err := plots.Logos(fmt.Sprintf("First-layer filters as sequence logos (%d of %d, most informative)", len(top), nf), letters, top)
	if err != nil {
		return err
	}
	const file = "motifs.png"
	out.Figures[file] = png
	out.Result.Figures = append(out.Result.Figures, evaluation.Figure{File: file, Title: "First-layer motifs",
		Caption: fmt.Sprintf("The %d most informative of the %d first-layer convolution filters (%d positions each) as sequence logos: "+
			"at each position a softmax of the filter's weights (scaled by their standard deviation) over %s, letters stacked by "+
			"probability, heights in bits of information content.", len(top), nf, k, letters)})
	return nil
}
