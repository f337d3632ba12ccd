// Package metrics holds pure evaluation functions: classification (binary and multiclass),
// calibration, regression and segmentation metrics, ROC and precision-recall curves,
// threshold selection, seeded bootstrap confidence intervals and k-fold aggregation.
// The definitions follow scikit-learn wherever scikit-learn has the metric, so that results
// can be checked against it on the same predictions.
package metrics

import (
	"cmp"
	"fmt"
	"math"
	"slices"
)

// Confusion is a confusion matrix: Confusion[t][p] counts examples of true class t
// predicted as class p.
type Confusion [][]int

// ConfusionMatrix counts (truth, prediction) pairs for k classes. Labels outside
// [0, k) are an error naming the position.
func ConfusionMatrix(truth, pred []int, k int) (Confusion, error) {
	if len(truth) != len(pred) {
		return nil, fmt.Errorf("confusion matrix: %d labels but %d predictions", len(truth), len(pred))
	}
	m := make(Confusion, k)
	for i := range m {
		m[i] = make([]int, k)
	}
	for i := range truth {
		if truth[i] < 0 || truth[i] >= k || pred[i] < 0 || pred[i] >= k {
			return nil, fmt.Errorf("confusion matrix: row %d: class (%d, %d) outside [0, %d)", i, truth[i], pred[i], k)
		}
		m[truth[i]][pred[i]]++
	}
	return m, nil
}

// Total returns the number of examples counted.
func (c Confusion) Total() int {
	n := 0
	for _, r := range c {
		for _, v := range r {
			n += v
		}
	}
	return n
}

// Accuracy is the fraction of correct predictions.
func (c Confusion) Accuracy() float64 {
	ok := 0
	for i := range c {
		ok += c[i][i]
	}
	return ratio(float64(ok), float64(c.Total()))
}

// Recall returns the recall (sensitivity) of class k: TP / (TP + FN); NaN when the class is absent.
func (c Confusion) Recall(k int) float64 {
	row := 0
	for _, v := range c[k] {
		row += v
	}
	return ratio(float64(c[k][k]), float64(row))
}

// Precision returns the precision (PPV) of class k: TP / (TP + FP); NaN when never predicted.
func (c Confusion) Precision(k int) float64 {
	col := 0
	for i := range c {
		col += c[i][k]
	}
	return ratio(float64(c[k][k]), float64(col))
}

// F1 returns the F1 score of class k. Like scikit-learn (zero_division=0) it is 0 when
// precision and recall are both undefined or zero.
func (c Confusion) F1(k int) float64 {
	tp := float64(c[k][k])
	fp, fn := 0.0, 0.0
	for i := range c {
		if i != k {
			fp += float64(c[i][k])
			fn += float64(c[k][i])
		}
	}
	if 2*tp+fp+fn == 0 {
		return 0
	}
	return 2 * tp / (2*tp + fp + fn)
}

// BalancedAccuracy is the mean recall over the classes present in the truth.
func (c Confusion) BalancedAccuracy() float64 {
	sum, n := 0.0, 0
	for k := range c {
		if r := c.Recall(k); !math.IsNaN(r) {
			sum += r
			n++
		}
	}
	return ratio(sum, float64(n))
}

// F1Macro is the unweighted mean of per-class F1 over the classes present in the truth
// or the predictions (scikit-learn's labels = union of both).
func (c Confusion) F1Macro() float64 {
	sum, n := 0.0, 0
	for k := range c {
		present := false
		for i := range c {
			if c[k][i] > 0 || c[i][k] > 0 {
				present = true
			}
		}
		if present {
			sum += c.F1(k)
			n++
		}
	}
	return ratio(sum, float64(n))
}

// F1Micro is F1 from the pooled counts; for single-label problems it equals accuracy.
func (c Confusion) F1Micro() float64 { return c.Accuracy() }

// Binary holds the four counts of a binary confusion matrix (positive class = 1).
type Binary struct{ TP, FP, TN, FN int }

// Binary returns the counts of a 2x2 matrix, class 1 positive.
func (c Confusion) Binary() Binary {
	return Binary{TP: c[1][1], FP: c[0][1], TN: c[0][0], FN: c[1][0]}
}

// Sensitivity is TP / (TP + FN).
func (b Binary) Sensitivity() float64 { return ratio(float64(b.TP), float64(b.TP+b.FN)) }

// Specificity is TN / (TN + FP).
func (b Binary) Specificity() float64 { return ratio(float64(b.TN), float64(b.TN+b.FP)) }

// PPV (precision) is TP / (TP + FP).
func (b Binary) PPV() float64 { return ratio(float64(b.TP), float64(b.TP+b.FP)) }

// NPV is TN / (TN + FN).
func (b Binary) NPV() float64 { return ratio(float64(b.TN), float64(b.TN+b.FN)) }

// F1 is the F1 score of the positive class (0 when undefined, as scikit-learn).
func (b Binary) F1() float64 {
	d := float64(2*b.TP + b.FP + b.FN)
	if d == 0 {
		return 0
	}
	return 2 * float64(b.TP) / d
}

func ratio(a, b float64) float64 {
	if b == 0 {
		return math.NaN()
	}
	return a / b
}

// AUROC is the area under the ROC curve for binary truth (1 = positive) and scores,
// computed as the Mann-Whitney statistic with mid-ranks, so tied scores count one half.
// It is NaN when only one class is present.
func AUROC(truth []int, score []float64) float64 {
	n := len(truth)
	idx := order(score)
	ranks := make([]float64, n)
	for i := 0; i < n; {
		j := i
		for j+1 < n && score[idx[j+1]] == score[idx[i]] {
			j++
		}
		mid := float64(i+j)/2 + 1
		for k := i; k <= j; k++ {
			ranks[idx[k]] = mid
		}
		i = j + 1
	}
	var pos, neg, sum float64
	for i, t := range truth {
		if t == 1 {
			pos++
			sum += ranks[i]
		} else {
			neg++
		}
	}
	if pos == 0 || neg == 0 {
		return math.NaN()
	}
	return (sum - pos*(pos+1)/2) / (pos * neg)
}

// order returns the indices that sort score ascending (stable).
func order(score []float64) []int {
	idx := make([]int, len(score))
	for i := range idx {
		idx[i] = i
	}
	// Ties keep their index order, as a stable sort would; (score, index) is a total order,
	// so the unstable pdqsort gives that order without sort.SliceStable's reflection-based
	// swaps (which made bootstrapped AUROC/AP the evaluate stage's largest cost). NaN
	// scores, which a stable sort by < would leave in an unspecified place, sort first.
	slices.SortFunc(idx, func(a, b int) int {
		if c := cmp.Compare(score[a], score[b]); c != 0 {
			return c
		}
		return a - b
	})
	return idx
}

// Curve is a ROC or precision-recall curve: points (X[i], Y[i]) reached at Threshold[i]
// (predict positive when score >= threshold).
type Curve struct {
	X, Y, Threshold []float64
}

// thresholdCounts walks distinct scores from high to low and returns cumulative TP and FP.
func thresholdCounts(truth []int, score []float64) (tps, fps, thr []float64) {
	idx := order(score)
	var tp, fp float64
	for i := len(idx) - 1; i >= 0; i-- {
		if truth[idx[i]] == 1 {
			tp++
		} else {
			fp++
		}
		if i == 0 || score[idx[i-1]] != score[idx[i]] {
			tps = append(tps, tp)
			fps = append(fps, fp)
			thr = append(thr, score[idx[i]])
		}
	}
	return tps, fps, thr
}

// ROC returns the ROC curve (X = false positive rate, Y = true positive rate) with one
// point per distinct score plus the origin (threshold +Inf).
func ROC(truth []int, score []float64) Curve {
	tps, fps, thr := thresholdCounts(truth, score)
	c := Curve{X: []float64{0}, Y: []float64{0}, Threshold: []float64{math.Inf(1)}}
	if len(tps) == 0 {
		return c
	}
	P, N := tps[len(tps)-1], fps[len(fps)-1]
	for i := range tps {
		c.X = append(c.X, ratio(fps[i], N))
		c.Y = append(c.Y, ratio(tps[i], P))
		c.Threshold = append(c.Threshold, thr[i])
	}
	return c
}

// PR returns the precision-recall curve (X = recall, Y = precision) with one point per
// distinct score, ordered by decreasing threshold, starting at recall 0 precision 1.
func PR(truth []int, score []float64) Curve {
	tps, fps, thr := thresholdCounts(truth, score)
	c := Curve{X: []float64{0}, Y: []float64{1}, Threshold: []float64{math.Inf(1)}}
	if len(tps) == 0 {
		return c
	}
	P := tps[len(tps)-1]
	for i := range tps {
		c.X = append(c.X, ratio(tps[i], P))
		c.Y = append(c.Y, tps[i]/(tps[i]+fps[i]))
		c.Threshold = append(c.Threshold, thr[i])
	}
	return c
}

// AveragePrecision is the area under the precision-recall curve as scikit-learn's
// average_precision_score: sum over thresholds of (R_n - R_{n-1}) * P_n. NaN without positives.
func AveragePrecision(truth []int, score []float64) float64 {
	c := PR(truth, score)
	if len(c.X) < 2 || math.IsNaN(c.X[1]) {
		return math.NaN()
	}
	ap := 0.0
	for i := 1; i < len(c.X); i++ {
		ap += (c.X[i] - c.X[i-1]) * c.Y[i]
	}
	return ap
}

// OneVsRest returns the binary truth of class k.
func OneVsRest(truth []int, k int) []int {
	out := make([]int, len(truth))
	for i, t := range truth {
		if t == k {
			out[i] = 1
		}
	}
	return out
}

// Column returns column k of a row-major probability matrix.
func Column(probs [][]float64, k int) []float64 {
	out := make([]float64, len(probs))
	for i, p := range probs {
		out[i] = p[k]
	}
	return out
}

// MacroOVR averages a binary metric over classes one-vs-rest (scikit-learn's
// multi_class="ovr", average="macro"); classes whose value is NaN are skipped, and the
// result is NaN if any class is absent from the truth, as scikit-learn raises there.
func MacroOVR(truth []int, probs [][]float64, fn func([]int, []float64) float64) float64 {
	if len(probs) == 0 {
		return math.NaN()
	}
	k := len(probs[0])
	sum := 0.0
	for c := 0; c < k; c++ {
		v := fn(OneVsRest(truth, c), Column(probs, c))
		if math.IsNaN(v) {
			return math.NaN()
		}
		sum += v
	}
	return sum / float64(k)
}

// Argmax returns the index of the largest value (the first on ties).
func Argmax(p []float64) int {
	best := 0
	for i, v := range p {
		if v > p[best] {
			best = i
		}
	}
	return best
}

// Predict turns class probabilities into predicted classes: for two classes, class 1 when
// p[1] >= threshold; otherwise the argmax.
func Predict(probs [][]float64, threshold float64) []int {
	out := make([]int, len(probs))
	for i, p := range probs {
		if len(p) == 2 {
			if p[1] >= threshold {
				out[i] = 1
			}
			continue
		}
		out[i] = Argmax(p)
	}
	return out
}
