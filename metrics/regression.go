package metrics

import (
	"fmt"
	"math"
)

// MSE is the mean squared error.
func MSE(truth, pred []float64) float64 {
	if len(truth) == 0 {
		return math.NaN()
	}
	s := 0.0
	for i := range truth {
		d := truth[i] - pred[i]
		s += d * d
	}
	return s / float64(len(truth))
}

// RMSE is the square root of the mean squared error.
func RMSE(truth, pred []float64) float64 { return math.Sqrt(MSE(truth, pred)) }

// MAE is the mean absolute error.
func MAE(truth, pred []float64) float64 {
	if len(truth) == 0 {
		return math.NaN()
	}
	s := 0.0
	for i := range truth {
		s += math.Abs(truth[i] - pred[i])
	}
	return s / float64(len(truth))
}

// R2 is the coefficient of determination, 1 - SS_res/SS_tot. As scikit-learn, a constant
// truth gives 1 for a perfect prediction and 0 otherwise.
func R2(truth, pred []float64) float64 {
	n := len(truth)
	if n < 2 {
		return math.NaN()
	}
	mean := 0.0
	for _, t := range truth {
		mean += t
	}
	mean /= float64(n)
	var res, tot float64
	for i := range truth {
		res += (truth[i] - pred[i]) * (truth[i] - pred[i])
		tot += (truth[i] - mean) * (truth[i] - mean)
	}
	if tot == 0 {
		if res == 0 {
			return 1
		}
		return 0
	}
	return 1 - res/tot
}

// Dice is the Dice coefficient 2|A∩B| / (|A|+|B|) of two binary masks (value > 0.5 is set);
// two empty masks score 1.
func Dice(truth, pred []float32) (float64, error) {
	inter, a, b, err := overlap(truth, pred)
	if err != nil {
		return 0, err
	}
	if a+b == 0 {
		return 1, nil
	}
	return DiceCounts(int(inter), int(b-inter), int(a-inter)), nil
}

// IoU is the Jaccard index |A∩B| / |A∪B| of two binary masks; two empty masks score 1.
func IoU(truth, pred []float32) (float64, error) {
	inter, a, b, err := overlap(truth, pred)
	if err != nil {
		return 0, err
	}
	if a+b-inter == 0 {
		return 1, nil
	}
	return IoUCounts(int(inter), int(b-inter), int(a-inter)), nil
}

// DiceCounts is 2·TP / (2·TP + FP + FN) from a class's true-positive, false-positive and
// false-negative voxel counts: the overlap of its predicted and true masks. It is NaN
// (undefined) when the class is absent from both.
func DiceCounts(tp, fp, fn int) float64 {
	if tp+fp+fn == 0 {
		return math.NaN()
	}
	return 2 * float64(tp) / float64(2*tp+fp+fn)
}

// IoUCounts is the Jaccard index TP / (TP + FP + FN) from voxel counts; NaN when the class
// is absent from both masks.
func IoUCounts(tp, fp, fn int) float64 {
	if tp+fp+fn == 0 {
		return math.NaN()
	}
	return float64(tp) / float64(tp+fp+fn)
}

func overlap(truth, pred []float32) (inter, a, b float64, err error) {
	if len(truth) != len(pred) {
		return 0, 0, 0, fmt.Errorf("mask sizes differ: %d and %d", len(truth), len(pred))
	}
	for i := range truth {
		t, p := truth[i] > 0.5, pred[i] > 0.5
		if t {
			a++
		}
		if p {
			b++
		}
		if t && p {
			inter++
		}
	}
	return inter, a, b, nil
}
