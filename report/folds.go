package report

import (
	"fmt"
	"math"
	"sort"
	"strings"

	"github.com/biopipe/biopipe/contract"
	"github.com/biopipe/biopipe/evaluation"
	"github.com/biopipe/biopipe/metrics"
)

// Across summarises several evaluations of the same task (k-fold runs: one evaluate stage
// per fold): per metric of their primary split, the per-evaluation values, mean ± sd, and
// the pooled estimate over all their predictions together.
type Across struct {
	KFold     bool
	Splits    []string // the primary split of each evaluation
	Metrics   map[string]metrics.FoldSummary
	Threshold float64
	Note      string
}

// across aggregates src.Evaluations; nil when there are fewer than two or their tasks or
// classes differ.
func across(src *Source) (*Across, error) {
	evs := src.Evaluations
	if len(evs) < 2 {
		return nil, nil
	}
	first := evs[0].Result
	a := &Across{KFold: kfold(src)}
	var per []metrics.Scalars
	var thresholds []float64
	for _, ev := range evs {
		r := ev.Result
		if r.Task != first.Task || strings.Join(r.Classes, "\x00") != strings.Join(first.Classes, "\x00") {
			return nil, nil
		}
		s := metrics.Scalars{}
		for name, iv := range r.PerSplit[r.Primary].Metrics {
			s[name] = iv.Value
		}
		per = append(per, s)
		a.Splits = append(a.Splits, r.Primary)
		if r.Threshold != nil {
			thresholds = append(thresholds, r.Threshold.Value)
		}
	}
	a.Threshold = 0.5
	if len(thresholds) > 0 {
		a.Threshold = thresholds[0]
		for _, t := range thresholds {
			if t != thresholds[0] {
				sum := 0.0
				for _, x := range thresholds {
					sum += x
				}
				a.Threshold = sum / float64(len(thresholds))
				a.Note = fmt.Sprintf("the evaluations chose different thresholds; the pooled threshold metrics use their mean, %s", f3(a.Threshold))
				break
			}
		}
	}
	pooled, err := pool(src, a.Threshold)
	if err != nil {
		return nil, err
	}
	a.Metrics = metrics.AggregateFolds(per, pooled)
	return a, nil
}

// kfold reports whether every evaluation's data comes from a kfold split stage.
func kfold(src *Source) bool {
	byID := map[string]contract.StageInfo{}
	for _, s := range src.Pipeline.Stages {
		byID[s.ID] = s
	}
	var upFromSplit func(id string, seen map[string]bool) bool
	upFromSplit = func(id string, seen map[string]bool) bool {
		if seen[id] {
			return false
		}
		seen[id] = true
		s, ok := byID[id]
		if !ok {
			return false
		}
		if s.Kind == "transform.split" && s.Config.String("strategy") == "kfold" {
			return true
		}
		for _, in := range s.Inputs {
			if upFromSplit(in, seen) {
				return true
			}
		}
		return false
	}
	for _, ev := range src.Evaluations {
		if !upFromSplit(ev.StageID, map[string]bool{}) {
			return false
		}
	}
	return len(src.Evaluations) > 0
}

// pool computes the metrics of all evaluations' primary-split predictions together.
// Tasks other than classification and regression have no pooled metrics.
func pool(src *Source, threshold float64) (metrics.Scalars, error) {
	first := src.Evaluations[0].Result
	if first.Task != "classification" && first.Task != "regression" {
		return nil, nil
	}
	var truth []int
	var probs [][]float64
	var target, value []float64
	for _, ev := range src.Evaluations {
		p, err := evaluation.ReadSplitPredictions(ev.Dir, ev.Result.Primary, first.Task, first.Classes)
		if err != nil {
			return nil, fmt.Errorf("stage %q: %w", ev.StageID, err)
		}
		truth, probs = append(truth, p.Truth...), append(probs, p.Probs...)
		target, value = append(target, p.Target...), append(value, p.Value...)
	}
	if first.Task == "regression" {
		return metrics.RegressionScores(target, value), nil
	}
	bins := 10
	if n := len(first.PerSplit[first.Primary].Calibration); n > 0 {
		bins = int(math.Round(1 / (first.PerSplit[first.Primary].Calibration[0].High - first.PerSplit[first.Primary].Calibration[0].Low)))
	}
	return metrics.ClassificationScores(truth, probs, threshold, bins), nil
}

// acrossBlocks renders the aggregate as a table.
func acrossBlocks(a *Across, src *Source) []Block {
	title := fmt.Sprintf("Summary across %d evaluations", len(a.Splits))
	if a.KFold {
		title = fmt.Sprintf("Cross-validation summary (%d folds)", len(a.Splits))
	}
	var names []string
	for n := range a.Metrics {
		names = append(names, n)
	}
	order := map[string]int{}
	for i, n := range []string{metrics.NameAUROC, metrics.NameAUPRC, metrics.NameAccuracy, metrics.NameBalancedAccuracy,
		metrics.NameSensitivity, metrics.NameSpecificity, metrics.NamePPV, metrics.NameNPV, metrics.NameF1,
		metrics.NameF1Macro, metrics.NameF1Micro, metrics.NameECE, metrics.NameBrier,
		metrics.NameRMSE, metrics.NameMSE, metrics.NameMAE, metrics.NameR2} {
		order[n] = i + 1
	}
	sort.Slice(names, func(i, j int) bool {
		oi, oj := order[names[i]], order[names[j]]
		if oi == 0 {
			oi = 1000
		}
		if oj == 0 {
			oj = 1000
		}
		if oi != oj {
			return oi < oj
		}
		return names[i] < names[j]
	})
	t := &Table{Caption: "Per-evaluation values, mean ± sd, and the pooled estimate over all their predictions",
		Header: []string{"Metric", "mean ± sd", "pooled"}}
	for _, ev := range src.Evaluations {
		t.Header = append(t.Header, ev.StageID)
	}
	for _, n := range names {
		fs := a.Metrics[n]
		row := []string{metricLabel(n), fmt.Sprintf("%s ± %s", f3(fs.Mean), f3(fs.SD)), f3(fs.Pooled)}
		for _, v := range fs.Folds {
			row = append(row, f3(v))
		}
		t.Rows = append(t.Rows, row)
	}
	out := []Block{&Heading{Text: title}, t}
	if a.Note != "" {
		out = append(out, &Note{Text: strings.ToUpper(a.Note[:1]) + a.Note[1:] + "."})
	}
	return out
}
