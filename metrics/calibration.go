package metrics

import "math"

// Bin is one bin of a reliability curve: the mean predicted probability (Confidence), the
// observed frequency of the event (Accuracy) and the number of examples.
type Bin struct {
	Low, High  float64
	Confidence float64
	Accuracy   float64
	Count      int
}

// Reliability bins predicted probabilities of a binary event into n equal-width bins of
// [0, 1] (bin i holds (i/n, (i+1)/n], the first also 0, as scikit-learn's calibration_curve
// with strategy="uniform") and returns the non-empty bins.
func Reliability(event []int, prob []float64, n int) []Bin {
	if n < 1 {
		n = 10
	}
	step := 1.0 / float64(n)
	sumP := make([]float64, n)
	sumY := make([]float64, n)
	cnt := make([]int, n)
	for i, p := range prob {
		b := 0
		// first edge >= p among the inner edges (numpy searchsorted, side="left")
		for b < n-1 && float64(b+1)*step < p {
			b++
		}
		sumP[b] += p
		sumY[b] += float64(event[i])
		cnt[b]++
	}
	var out []Bin
	for b := 0; b < n; b++ {
		if cnt[b] == 0 {
			continue
		}
		out = append(out, Bin{
			Low: float64(b) * step, High: float64(b+1) * step,
			Confidence: sumP[b] / float64(cnt[b]), Accuracy: sumY[b] / float64(cnt[b]), Count: cnt[b],
		})
	}
	return out
}

// ECE is the expected calibration error over reliability bins: the count-weighted mean of
// |accuracy - confidence|.
func ECE(bins []Bin) float64 {
	total, sum := 0, 0.0
	for _, b := range bins {
		total += b.Count
		sum += float64(b.Count) * math.Abs(b.Accuracy-b.Confidence)
	}
	return ratio(sum, float64(total))
}

// Calibration returns the reliability bins of a classifier: for two classes, the
// probability of class 1 against the truth; for more, the top-label confidence against
// whether the top label was right.
func Calibration(truth []int, probs [][]float64, n int) []Bin {
	ev := make([]int, len(probs))
	p := make([]float64, len(probs))
	for i, row := range probs {
		if len(row) == 2 {
			p[i] = row[1]
			ev[i] = truth[i]
			continue
		}
		k := Argmax(row)
		p[i] = row[k]
		if k == truth[i] {
			ev[i] = 1
		}
	}
	return Reliability(ev, p, n)
}

// Brier is the mean squared difference between the one-hot truth and the probabilities,
// summed over classes for more than two classes; for two classes it is scikit-learn's
// brier_score_loss on the probability of class 1.
func Brier(truth []int, probs [][]float64) float64 {
	if len(probs) == 0 {
		return math.NaN()
	}
	sum := 0.0
	for i, row := range probs {
		if len(row) == 2 {
			d := row[1] - float64(truth[i])
			sum += d * d
			continue
		}
		for k, p := range row {
			y := 0.0
			if k == truth[i] {
				y = 1
			}
			sum += (p - y) * (p - y)
		}
	}
	return sum / float64(len(probs))
}
