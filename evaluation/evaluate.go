// Package evaluation turns a model's predictions on the splits of a dataset into an
// evaluation: every scalar metric with a seeded bootstrap confidence interval, per split,
// a fitted threshold, and the figures (ROC, PR, confusion heat map, reliability diagram).
// Result is the metrics.json format that the evaluate stage writes and the report and
// workflows read. The metric math lives in package metrics; Evaluate works on predictions
// alone, so it is usable without a model.
package evaluation

import (
	"context"
	"fmt"
	"hash/fnv"
	"math"

	"github.com/biopipe/biopipe/metrics"
	"github.com/biopipe/biopipe/plots"
)

// Predictions are a model's outputs on the rows of one split.
type Predictions struct {
	Rows   []int       // row positions in the dataset
	Truth  []int       // class index per row (classification)
	Target []float64   // true value per row (regression)
	Probs  [][]float64 // class probabilities per row (classification)
	Value  []float64   // predicted value per row (regression)
	Groups []string    // group (patient) per row; nil when the data has no group column
	// SqErr and AbsErr are per-row mean squared and absolute reconstruction errors
	// (task reconstruction: autoencoders).
	SqErr, AbsErr []float64
	// Anomalous marks each row 1 when its label is the anomalous class and 0 otherwise
	// (reconstruction with Options.AnomalyLabel); the reconstruction error is then scored
	// as an anomaly score (anomaly_auroc).
	Anomalous []int
	// Seg holds each row's per-class voxel counts of the predicted mask against the true
	// one (task segmentation).
	Seg []SegCase
}

// Len returns the number of rows.
func (p *Predictions) Len() int { return len(p.Rows) }

// NameAnomalyAUROC is the metric name of the AUROC of the reconstruction error against
// the anomalous label.
const NameAnomalyAUROC = "anomaly_auroc"

// Options configure Evaluate.
type Options struct {
	Task      string   // "classification", "regression", "reconstruction" or "segmentation"
	Classes   []string // class names (classification; segmentation: the mask's classes, 0 = background)
	Model     string   // model family, for the record
	Threshold string   // metrics.ThresholdFixed, ThresholdYouden or ThresholdSensitivity
	// FixedThreshold is the threshold of the fixed rule (0.5 by default).
	FixedThreshold    float64
	TargetSensitivity float64
	Resamples         int     // bootstrap resamples (0 = no intervals)
	Level             float64 // confidence level
	Seed              uint64
	Bins              int // calibration bins
	// Order lists the splits to report, in order; missing or empty splits are skipped.
	Order []string
	// AnomalyLabel (reconstruction) names the label value of anomalous rows, for the record.
	AnomalyLabel string
}

// Output is what Evaluate produces: the result and the figure PNGs by file name.
type Output struct {
	Result  *Result
	Figures map[string][]byte
}

// Evaluate computes metrics, intervals and figures from predictions per split. The
// binary threshold is fitted on the "val" split only, when the rule asks for fitting.
func Evaluate(ctx context.Context, preds map[string]*Predictions, opt Options) (*Output, error) {
	if opt.Level == 0 {
		opt.Level = 0.95
	}
	if opt.Bins == 0 {
		opt.Bins = 10
	}
	res := &Result{
		Task: opt.Task, Classes: opt.Classes, Model: opt.Model, PerSplit: map[string]*Split{},
		Bootstrap: BootstrapInfo{Resamples: opt.Resamples, Level: opt.Level, Seed: opt.Seed, Stratified: opt.Task == "classification"},
	}
	for _, name := range opt.Order {
		if p := preds[name]; p != nil && p.Len() > 0 {
			res.Splits = append(res.Splits, name)
		}
	}
	if len(res.Splits) == 0 {
		return nil, fmt.Errorf("no predictions on any of the splits %v", opt.Order)
	}
	res.Primary = res.Splits[len(res.Splits)-1]
	for _, s := range res.Splits {
		if s == "test" {
			res.Primary = s
		}
	}
	binary := opt.Task == "classification" && len(opt.Classes) == 2
	if binary {
		th, err := fitThreshold(preds["val"], opt)
		if err != nil {
			return nil, err
		}
		res.Threshold = th
	}
	for _, name := range res.Splits {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		p := preds[name]
		if p.Groups != nil {
			res.Bootstrap.Grouped = true
		}
		s, err := evalSplit(p, res, opt, name)
		if err != nil {
			return nil, fmt.Errorf("split %q: %w", name, err)
		}
		res.PerSplit[name] = s
	}
	out := &Output{Result: res, Figures: map[string][]byte{}}
	if err := figures(out, preds[res.Primary], opt); err != nil {
		return nil, err
	}
	return out, nil
}

func fitThreshold(val *Predictions, opt Options) (*Threshold, error) {
	fixed := opt.FixedThreshold
	if fixed == 0 {
		fixed = 0.5
	}
	th := &Threshold{Rule: opt.Threshold, Value: fixed}
	switch opt.Threshold {
	case "", metrics.ThresholdFixed:
		th.Rule = metrics.ThresholdFixed
		return th, nil
	case metrics.ThresholdYouden, metrics.ThresholdSensitivity:
	default:
		return nil, fmt.Errorf("threshold rule %q: want %s, %s or %s", opt.Threshold, metrics.ThresholdFixed, metrics.ThresholdYouden, metrics.ThresholdSensitivity)
	}
	if val == nil || val.Len() == 0 {
		th.Note = fmt.Sprintf("no validation split to fit the %s threshold on; used %.2f", opt.Threshold, fixed)
		return th, nil
	}
	score := metrics.Column(val.Probs, 1)
	th.FittedOn = "val"
	if opt.Threshold == metrics.ThresholdYouden {
		th.Value = metrics.YoudenThreshold(val.Truth, score)
	} else {
		th.Target = opt.TargetSensitivity
		th.Value = metrics.SensitivityThreshold(val.Truth, score, opt.TargetSensitivity)
	}
	return th, nil
}

func evalSplit(p *Predictions, res *Result, opt Options, name string) (*Split, error) {
	s := &Split{N: p.Len()}
	bopt := metrics.BootstrapOptions{Resamples: opt.Resamples, Level: opt.Level, Seed: opt.Seed ^ splitSalt(name), Groups: p.Groups}
	if opt.Task == "segmentation" {
		return s, evalSegmentation(p, opt, bopt, s)
	}
	if opt.Task == "reconstruction" {
		if len(p.SqErr) != p.Len() || len(p.AbsErr) != p.Len() {
			return nil, fmt.Errorf("%d rows but %d reconstruction errors", p.Len(), len(p.SqErr))
		}
		s.Metrics = metrics.Bootstrap(p.Len(), bopt, func(idx []int) metrics.Scalars {
			var sq, ab float64
			for _, i := range idx {
				sq += p.SqErr[i]
				ab += p.AbsErr[i]
			}
			n := float64(len(idx))
			out := metrics.Scalars{metrics.NameMSE: sq / n, metrics.NameRMSE: math.Sqrt(sq / n), metrics.NameMAE: ab / n}
			if p.Anomalous != nil {
				truth, score := make([]int, len(idx)), make([]float64, len(idx))
				for j, i := range idx {
					truth[j], score[j] = p.Anomalous[i], p.SqErr[i]
				}
				out[NameAnomalyAUROC] = metrics.AUROC(truth, score)
			}
			return out
		})
		explain(s, metrics.RegressionUndefined(p.Len()))
		return s, nil
	}
	if opt.Task == "regression" {
		if len(p.Target) != p.Len() || len(p.Value) != p.Len() {
			return nil, fmt.Errorf("%d rows but %d targets and %d predictions", p.Len(), len(p.Target), len(p.Value))
		}
		s.Metrics = metrics.Bootstrap(p.Len(), bopt, func(idx []int) metrics.Scalars {
			t, v := make([]float64, len(idx)), make([]float64, len(idx))
			for j, i := range idx {
				t[j], v[j] = p.Target[i], p.Value[i]
			}
			return metrics.RegressionScores(t, v)
		})
		explain(s, metrics.RegressionUndefined(p.Len()))
		return s, nil
	}
	k := len(opt.Classes)
	if len(p.Truth) != p.Len() || len(p.Probs) != p.Len() {
		return nil, fmt.Errorf("%d rows but %d labels and %d predictions", p.Len(), len(p.Truth), len(p.Probs))
	}
	for i, row := range p.Probs {
		if len(row) != k {
			return nil, fmt.Errorf("row %d: %d class probabilities for %d classes", p.Rows[i], len(row), k)
		}
	}
	thr := 0.5
	if res.Threshold != nil {
		thr = res.Threshold.Value
		s.Threshold = &thr
	}
	bopt.Strata = p.Truth
	s.Metrics = metrics.Bootstrap(p.Len(), bopt, func(idx []int) metrics.Scalars {
		t, pr := make([]int, len(idx)), make([][]float64, len(idx))
		for j, i := range idx {
			t[j], pr[j] = p.Truth[i], p.Probs[i]
		}
		return metrics.ClassificationScores(t, pr, thr, opt.Bins)
	})
	pred := metrics.Predict(p.Probs, thr)
	explain(s, metrics.ClassificationUndefined(p.Truth, pred, opt.Classes))
	cm, err := metrics.ConfusionMatrix(p.Truth, pred, k)
	if err != nil {
		return nil, err
	}
	s.Confusion = cm
	s.ClassCounts = map[string]int{}
	for c := range cm {
		n := 0
		for _, v := range cm[c] {
			n += v
		}
		s.ClassCounts[opt.Classes[c]] = n
	}
	s.Calibration = metrics.Calibration(p.Truth, p.Probs, opt.Bins)
	return s, nil
}

// explain gives every undefined (NaN) metric of s its reason, so metrics.json says null
// with why, never NaN.
func explain(s *Split, reasons map[string]string) {
	for name, iv := range s.Metrics {
		if !math.IsNaN(iv.Value) && !math.IsInf(iv.Value, 0) {
			continue
		}
		iv.Reason = reasons[name]
		if iv.Reason == "" {
			iv.Reason = fmt.Sprintf("undefined on this split (n = %d)", s.N)
		}
		s.Metrics[name] = iv
	}
}

func splitSalt(name string) uint64 {
	h := fnv.New64a()
	h.Write([]byte(name))
	return h.Sum64()
}

// figures draws the primary split's figures.
func figures(out *Output, p *Predictions, opt Options) error {
	res := out.Result
	s := res.PerSplit[res.Primary]
	add := func(file, title, caption string, b []byte, err error) error {
		if err != nil {
			return fmt.Errorf("figure %s: %w", file, err)
		}
		out.Figures[file] = b
		res.Figures = append(res.Figures, Figure{File: file, Title: title, Caption: caption})
		return nil
	}
	where := fmt.Sprintf(" on the %s split (n = %d)", res.Primary, p.Len())
	if opt.Task == "segmentation" {
		return segmentationFigures(add, p, where)
	}
	if opt.Task == "reconstruction" {
		b, err := plots.Histogram("Reconstruction error ("+res.Primary+")", "mean squared error per example", p.SqErr, 30)
		if err := add("reconstruction_error.png", "Reconstruction error", "Distribution of the per-example reconstruction error"+where+".", b, err); err != nil {
			return err
		}
		if p.Anomalous == nil {
			return nil
		}
		iv, ok := s.Metrics[NameAnomalyAUROC]
		if !ok || math.IsNaN(iv.Value) {
			return nil // one class only on this split: no ROC curve
		}
		b, err = plots.ROC(metrics.ROC(p.Anomalous, p.SqErr), iv.Value, nil)
		return add("anomaly_roc.png", "Anomaly detection ROC", fmt.Sprintf("ROC of the reconstruction error as an anomaly score against label %q%s.", opt.AnomalyLabel, where), b, err)
	}
	if opt.Task == "regression" {
		b, err := plots.Scatter("Predicted vs true ("+res.Primary+")", p.Target, p.Value)
		return add("pred_vs_true.png", "Predicted vs true values", "Predicted against true values"+where+"; dashed: y = x.", b, err)
	}
	if len(opt.Classes) == 2 {
		score := metrics.Column(p.Probs, 1)
		thr := res.Threshold.Value
		cm := s.Confusion.Binary()
		op := &plots.Point{X: 1 - cm.Specificity(), Y: cm.Sensitivity(), Label: fmt.Sprintf("threshold %.2f", thr)}
		b, err := plots.ROC(metrics.ROC(p.Truth, score), s.Metrics[metrics.NameAUROC].Value, op)
		if err := add("roc.png", "ROC curve", "ROC curve"+where+"; the dot is the operating point at the chosen threshold.", b, err); err != nil {
			return err
		}
		prev := float64(cm.TP+cm.FN) / float64(p.Len())
		pop := &plots.Point{X: cm.Sensitivity(), Y: cm.PPV(), Label: op.Label}
		b, err = plots.PR(metrics.PR(p.Truth, score), s.Metrics[metrics.NameAUPRC].Value, prev, pop)
		if err := add("pr.png", "Precision-recall curve", "Precision-recall curve"+where+"; dashed: prevalence.", b, err); err != nil {
			return err
		}
	} else {
		var series []plots.Series
		for c, name := range opt.Classes {
			roc := metrics.ROC(metrics.OneVsRest(p.Truth, c), metrics.Column(p.Probs, c))
			series = append(series, plots.Series{Name: name, X: roc.X, Y: roc.Y})
		}
		b, err := plots.Lines("ROC curves (one vs rest)", "False positive rate", "True positive rate", series)
		if err := add("roc.png", "ROC curves, one vs rest", "One-vs-rest ROC curve per class"+where+".", b, err); err != nil {
			return err
		}
	}
	b, err := plots.Confusion(s.Confusion, opt.Classes)
	if err := add("confusion.png", "Confusion matrix", "Confusion matrix"+where+": counts and row percentages (rows: true class).", b, err); err != nil {
		return err
	}
	ece := s.Metrics[metrics.NameECE].Value
	if math.IsNaN(ece) {
		ece = metrics.ECE(s.Calibration)
	}
	b, err = plots.Reliability(s.Calibration, ece)
	return add("reliability.png", "Reliability diagram", fmt.Sprintf("Reliability diagram%s, %d equal-width bins; dashed: perfect calibration.", where, opt.Bins), b, err)
}
