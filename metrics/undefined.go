package metrics

import (
	"fmt"
	"strings"
)

// Reasons a metric is undefined, written beside its null value in metrics.json and shown in
// reports as "n/a (reason)".
const (
	ReasonEmpty = "empty split"
)

// ClassificationUndefined explains, for each classification metric that is undefined on
// these labels and predictions, why: one class in the split, a class never predicted
// (constant predictions), an empty split. classes names the classes (index = class id;
// class 1 is the positive class of a binary problem). Metrics that are defined are absent.
func ClassificationUndefined(truth, pred []int, classes []string) map[string]string {
	out := map[string]string{}
	all := []string{NameAccuracy, NameBalancedAccuracy, NameF1Macro, NameF1Micro, NameECE, NameBrier,
		NameAUROC, NameAUPRC, NameF1, NameSensitivity, NameSpecificity, NamePPV, NameNPV}
	if len(truth) == 0 {
		for _, n := range all {
			out[n] = ReasonEmpty
		}
		return out
	}
	k := len(classes)
	seen, predicted := make([]int, k), make([]int, k)
	for i, t := range truth {
		if t >= 0 && t < k {
			seen[t]++
		}
		if i < len(pred) && pred[i] >= 0 && pred[i] < k {
			predicted[pred[i]]++
		}
	}
	var absent []string
	for c, n := range seen {
		if n == 0 {
			absent = append(absent, classes[c])
		}
	}
	if k == 2 {
		neg, pos := classes[0], classes[1]
		if len(absent) > 0 {
			only := neg
			if seen[0] == 0 {
				only = pos
			}
			one := fmt.Sprintf("only class %q in the split", only)
			out[NameAUROC] = one
			if seen[1] == 0 {
				out[NameAUPRC] = one
				out[NameSensitivity] = fmt.Sprintf("no positive (%q) examples in the split", pos)
			} else {
				out[NameSpecificity] = fmt.Sprintf("no negative (%q) examples in the split", neg)
			}
		}
		if predicted[1] == 0 {
			out[NamePPV] = fmt.Sprintf("constant predictions: the model never predicts the positive class %q", pos)
		}
		if predicted[0] == 0 {
			out[NameNPV] = fmt.Sprintf("constant predictions: the model never predicts the negative class %q", neg)
		}
		return out
	}
	if len(absent) > 0 {
		r := fmt.Sprintf("class %s absent from the split, so one-vs-rest is undefined", quoteJoin(absent))
		out[NameAUROC], out[NameAUPRC] = r, r
	}
	return out
}

// RegressionUndefined explains, for each regression metric undefined on n examples, why.
func RegressionUndefined(n int) map[string]string {
	out := map[string]string{}
	if n == 0 {
		for _, m := range []string{NameMSE, NameRMSE, NameMAE, NameR2} {
			out[m] = ReasonEmpty
		}
	} else if n < 2 {
		out[NameR2] = "fewer than 2 examples in the split"
	}
	return out
}

func quoteJoin(names []string) string {
	q := make([]string, len(names))
	for i, n := range names {
		q[i] = fmt.Sprintf("%q", n)
	}
	return strings.Join(q, ", ")
}
