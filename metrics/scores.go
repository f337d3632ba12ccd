package metrics

import (
	"math"
	"sort"
)

// Scalars is a set of named scalar metric values.
type Scalars map[string]float64

// Names returns the metric names, sorted.
func (s Scalars) Names() []string {
	out := make([]string, 0, len(s))
	for k := range s {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// Scalar metric names produced by ClassificationScores and RegressionScores.
const (
	NameAccuracy         = "accuracy"
	NameBalancedAccuracy = "balanced_accuracy"
	NameAUROC            = "auroc"
	NameAUPRC            = "auprc"
	NameF1               = "f1"
	NameF1Macro          = "f1_macro"
	NameF1Micro          = "f1_micro"
	NameSensitivity      = "sensitivity"
	NameSpecificity      = "specificity"
	NamePPV              = "ppv"
	NameNPV              = "npv"
	NameECE              = "ece"
	NameBrier            = "brier"
	NameMSE              = "mse"
	NameRMSE             = "rmse"
	NameMAE              = "mae"
	NameR2               = "r2"
)

// ClassificationScores computes every scalar classification metric of class-probability
// predictions. Binary problems (two columns) use class 1 as positive and predict it when
// its probability is >= threshold; they report sensitivity, specificity, PPV, NPV and the
// positive-class F1. Multiclass problems predict the argmax and report one-vs-rest macro
// AUROC and AUPRC. Calibration uses bins equal-width bins.
func ClassificationScores(truth []int, probs [][]float64, threshold float64, bins int) Scalars {
	k := 2
	if len(probs) > 0 {
		k = len(probs[0])
	}
	pred := Predict(probs, threshold)
	cm, err := ConfusionMatrix(truth, pred, k)
	if err != nil {
		return Scalars{}
	}
	s := Scalars{
		NameAccuracy:         cm.Accuracy(),
		NameBalancedAccuracy: cm.BalancedAccuracy(),
		NameF1Macro:          cm.F1Macro(),
		NameF1Micro:          cm.F1Micro(),
		NameECE:              ECE(Calibration(truth, probs, bins)),
		NameBrier:            Brier(truth, probs),
	}
	if k == 2 {
		score := Column(probs, 1)
		b := cm.Binary()
		s[NameAUROC] = AUROC(truth, score)
		s[NameAUPRC] = AveragePrecision(truth, score)
		s[NameF1] = b.F1()
		s[NameSensitivity] = b.Sensitivity()
		s[NameSpecificity] = b.Specificity()
		s[NamePPV] = b.PPV()
		s[NameNPV] = b.NPV()
	} else {
		s[NameAUROC] = MacroOVR(truth, probs, AUROC)
		s[NameAUPRC] = MacroOVR(truth, probs, AveragePrecision)
	}
	return s
}

// RegressionScores computes MSE, RMSE, MAE and R².
func RegressionScores(truth, pred []float64) Scalars {
	return Scalars{NameMSE: MSE(truth, pred), NameRMSE: RMSE(truth, pred), NameMAE: MAE(truth, pred), NameR2: R2(truth, pred)}
}

// Threshold rules for binary classifiers.
const (
	ThresholdFixed       = "fixed"       // a given probability (0.5 by default)
	ThresholdYouden      = "youden"      // maximise sensitivity + specificity - 1
	ThresholdSensitivity = "sensitivity" // the highest threshold reaching a target sensitivity
)

// YoudenThreshold returns the score threshold maximising Youden's J = TPR - FPR (the
// highest such threshold on ties). It returns 0.5 when the curve is undefined.
func YoudenThreshold(truth []int, score []float64) float64 {
	c := ROC(truth, score)
	best, thr := math.Inf(-1), 0.5
	for i := 1; i < len(c.X); i++ {
		if j := c.Y[i] - c.X[i]; j > best {
			best, thr = j, c.Threshold[i]
		}
	}
	return thr
}

// SensitivityThreshold returns the highest score threshold whose sensitivity is at least
// target (0.5 when there are no positives).
func SensitivityThreshold(truth []int, score []float64, target float64) float64 {
	c := ROC(truth, score)
	for i := 1; i < len(c.X); i++ {
		if c.Y[i] >= target-1e-12 {
			return c.Threshold[i]
		}
	}
	return 0.5
}

// FoldSummary aggregates one metric over k folds: mean and sample standard deviation of
// the per-fold values, and the pooled estimate over all out-of-fold predictions.
type FoldSummary struct {
	Mean   float64   `json:"mean"`
	SD     float64   `json:"sd"`
	Pooled float64   `json:"pooled"`
	Folds  []float64 `json:"folds"`
}

// AggregateFolds summarises per-fold metrics; pooled holds the metrics computed on all
// folds' predictions together (nil to leave Pooled NaN). NaN fold values are skipped.
func AggregateFolds(perFold []Scalars, pooled Scalars) map[string]FoldSummary {
	out := map[string]FoldSummary{}
	names := map[string]bool{}
	for _, f := range perFold {
		for k := range f {
			names[k] = true
		}
	}
	for name := range names {
		var vals []float64
		fs := FoldSummary{Pooled: math.NaN()}
		for _, f := range perFold {
			v, ok := f[name]
			if !ok {
				v = math.NaN()
			}
			fs.Folds = append(fs.Folds, v)
			if !math.IsNaN(v) {
				vals = append(vals, v)
			}
		}
		fs.Mean, fs.SD = meanSD(vals)
		if v, ok := pooled[name]; ok {
			fs.Pooled = v
		}
		out[name] = fs
	}
	return out
}

func meanSD(v []float64) (mean, sd float64) {
	if len(v) == 0 {
		return math.NaN(), math.NaN()
	}
	for _, x := range v {
		mean += x
	}
	mean /= float64(len(v))
	if len(v) < 2 {
		return mean, math.NaN()
	}
	for _, x := range v {
		sd += (x - mean) * (x - mean)
	}
	return mean, math.Sqrt(sd / float64(len(v)-1))
}
