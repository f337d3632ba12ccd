package workflows

import (
	"fmt"
	"math"
	"path/filepath"
	"strings"

	"github.com/biopipe/biopipe/contract"
	"github.com/biopipe/biopipe/dataset"
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
		path := filepath.Join(d, contract.PredictionsFile)
		f, err := dataset.ReadFile(path)
		if err != nil {
			return nil, err
		}
		split, label, pred := f.Col(dataset.ColSplit), f.Col("label"), f.Col("prediction")
		if split == nil || label == nil || pred == nil {
			return nil, fmt.Errorf("%s: want columns split, label and prediction", path)
		}
		index := map[string]int{}
		var pcols []*dataset.Column
		for i, c := range r.Classes {
			index[c] = i
			pcols = append(pcols, f.Col("prob_"+c))
		}
		for i := 0; i < f.NumRows(); i++ {
			if split.S[i] != r.Primary {
				continue
			}
			strata = append(strata, ri)
			if r.Task == "regression" {
				target = append(target, label.Float64(i))
				value = append(value, pred.Float64(i))
				continue
			}
			k, ok := index[label.Text(i)]
			if !ok {
				return nil, fmt.Errorf("%s: row %d: label %q is not a class", path, i, label.Text(i))
			}
			row := make([]float64, len(pcols))
			for c, col := range pcols {
				if col == nil {
					return nil, fmt.Errorf("%s: no column prob_%s", path, r.Classes[c])
				}
				row[c] = col.F[i]
			}
			truth, probs = append(truth, k), append(probs, row)
		}
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
