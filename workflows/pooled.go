package workflows

import (
	"fmt"
	"math"
	"strings"

	"github.com/biopipe/biopipe/evaluation"
	"github.com/biopipe/biopipe/metrics"
)

// pooledBootstrap pools the primary-split predictions of a row's runs (each run's
// predictions.arrow) and returns, per metric (split_name, e.g. test_auroc), the pooled estimate
// and its bootstrap interval: resamples draw rows within each run (the run is the stratum),
// so every resample keeps each run's size. Metrics of another split, or runs without
// predictions, have no pooled interval.
func pooledBootstrap(dirs []string, names []string, level float64) (map[string]metrics.Interval, error) {
	var results []*evaluation.Result
	for _, d := range dirs {
		r, err := evaluation.ReadResult(d)
		if err != nil {
			return nil, err
		}
		results = append(results, r)
	}
	if len(results) == 0 {
		return nil, nil
	}
	first := results[0]
	var truth, strata []int
	var probs [][]float64
	var target, value []float64
	thr := 0.0
	for ri, d := range dirs {
		r := results[ri]
		if r.Task != first.Task || r.Primary != first.Primary || strings.Join(r.Classes, "\x00") != strings.Join(first.Classes, "\x00") {
			return nil, fmt.Errorf("%s: task, primary split or classes differ from %s", d, dirs[0])
		}
		if r.Threshold != nil {
			thr += r.Threshold.Value / float64(len(dirs))
		}
		if r.Task != "classification" && r.Task != "regression" {
			return nil, nil
		}
		p, err := evaluation.ReadSplitPredictions(d, r.Primary, r.Task, r.Classes)
		if err != nil {
			return nil, err
		}
		for range p.Len() {
			strata = append(strata, ri)
		}
		truth, probs = append(truth, p.Truth...), append(probs, p.Probs...)
		target, value = append(target, p.Target...), append(value, p.Value...)
	}
	var fn func(idx []int) metrics.Scalars
	switch first.Task {
	case "regression":
		fn = func(idx []int) metrics.Scalars {
			t, v := make([]float64, len(idx)), make([]float64, len(idx))
			for j, i := range idx {
				t[j], v[j] = target[i], value[i]
			}
			return metrics.RegressionScores(t, v)
		}
	case "classification":
		fn = func(idx []int) metrics.Scalars {
			t, p := make([]int, len(idx)), make([][]float64, len(idx))
			for j, i := range idx {
				t[j], p[j] = truth[i], probs[i]
			}
			return metrics.ClassificationScores(t, p, thr, 10)
		}
	default:
		return nil, nil
	}
	resamples := first.Bootstrap.Resamples
	if resamples <= 0 {
		resamples = 1000
	}
	iv := metrics.Bootstrap(len(strata), metrics.BootstrapOptions{Resamples: resamples, Level: level, Seed: uint64(first.Bootstrap.Seed), Strata: strata}, fn)
	out := map[string]metrics.Interval{}
	for _, n := range names {
		split, m, ok := strings.Cut(n, "_")
		if !ok || split != first.Primary {
			continue
		}
		if v, ok := iv[m]; ok && !math.IsNaN(v.Low) {
			out[n] = v
		}
	}
	return out, nil
}
