package evaluation

import (
	"context"
	"encoding/json"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/biopipe/biopipe/metrics"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// synthetic returns binary predictions whose positive scores are shifted up by shift.
func synthetic(n int, seed uint64, shift float64, groups bool) *Predictions {
	rng := rand.New(rand.NewPCG(seed, 9))
	p := &Predictions{}
	for i := 0; i < n; i++ {
		y := rng.IntN(2)
		s := 1 / (1 + math.Exp(-(rng.NormFloat64() + shift*float64(2*y-1))))
		p.Rows = append(p.Rows, i)
		p.Truth = append(p.Truth, y)
		p.Probs = append(p.Probs, []float64{1 - s, s})
		if groups {
			p.Groups = append(p.Groups, string(rune('A'+i%7)))
		}
	}
	return p
}

func TestEvaluateBinary(t *testing.T) {
	preds := map[string]*Predictions{"val": synthetic(80, 1, 1.2, false), "test": synthetic(120, 2, 1.2, true)}
	tests := []struct {
		rule     string
		fittedOn string
		want     func(v *Predictions) float64
	}{
		{metrics.ThresholdFixed, "", func(*Predictions) float64 { return 0.5 }},
		{metrics.ThresholdYouden, "val", func(v *Predictions) float64 { return metrics.YoudenThreshold(v.Truth, metrics.Column(v.Probs, 1)) }},
		{metrics.ThresholdSensitivity, "val", func(v *Predictions) float64 {
			return metrics.SensitivityThreshold(v.Truth, metrics.Column(v.Probs, 1), 0.9)
		}},
	}
	for _, tc := range tests {
		t.Run(tc.rule, func(t *testing.T) {
			opt := Options{Task: "classification", Classes: []string{"benign", "malignant"}, Threshold: tc.rule,
				TargetSensitivity: 0.9, Resamples: 200, Seed: 42, Order: []string{"train", "val", "test"}}
			out, err := Evaluate(context.Background(), preds, opt)
			require.NoError(t, err)
			res := out.Result
			assert.Equal(t, []string{"val", "test"}, res.Splits, "absent splits are skipped")
			assert.Equal(t, "test", res.Primary)
			assert.Equal(t, tc.fittedOn, res.Threshold.FittedOn)
			assert.InDelta(t, tc.want(preds["val"]), res.Threshold.Value, 1e-12, "threshold from val only")
			test := res.PerSplit["test"]
			assert.True(t, res.Bootstrap.Grouped)
			for _, name := range []string{"auroc", "auprc", "accuracy", "balanced_accuracy", "sensitivity", "specificity", "ppv", "npv", "f1", "f1_macro", "f1_micro", "ece", "brier"} {
				iv, ok := test.Metrics[name]
				require.True(t, ok, name)
				assert.LessOrEqual(t, iv.Low, iv.High, name)
			}
			p := preds["test"]
			assert.InDelta(t, metrics.AUROC(p.Truth, metrics.Column(p.Probs, 1)), test.Metrics["auroc"].Value, 1e-12)
			assert.Equal(t, 120, test.Confusion.Total())
			for _, f := range []string{"roc.png", "pr.png", "confusion.png", "reliability.png"} {
				assert.NotEmpty(t, out.Figures[f], f)
			}

			// metrics.json round trip, with the split's metrics as keys of the split object
			b, err := json.Marshal(res)
			require.NoError(t, err)
			var raw map[string]map[string]any
			_ = json.Unmarshal(b, &raw)
			assert.Contains(t, raw["test"], "auroc")
			assert.Contains(t, raw["test"]["auroc"], "ci_low")
			back := &Result{}
			require.NoError(t, json.Unmarshal(b, back))
			assert.Equal(t, test.Metrics["auroc"], back.PerSplit["test"].Metrics["auroc"])
			assert.Equal(t, test.Confusion, back.PerSplit["test"].Confusion)
		})
	}
}

func TestEvaluateDeterministic(t *testing.T) {
	preds := map[string]*Predictions{"test": synthetic(100, 3, 1, false)}
	opt := Options{Task: "classification", Classes: []string{"0", "1"}, Resamples: 100, Seed: 7, Order: []string{"test"}}
	a, err := Evaluate(context.Background(), preds, opt)
	require.NoError(t, err)
	b, err := Evaluate(context.Background(), preds, opt)
	require.NoError(t, err)
	ja, _ := json.Marshal(a.Result)
	jb, _ := json.Marshal(b.Result)
	assert.Equal(t, string(ja), string(jb))
	assert.Equal(t, a.Figures, b.Figures)
	assert.Contains(t, a.Result.Threshold.Note+a.Result.Threshold.Rule, "fixed")
}

func TestEvaluateMulticlassAndRegression(t *testing.T) {
	mc := &Predictions{Rows: []int{0, 1, 2, 3, 4, 5}, Truth: []int{0, 1, 2, 2, 1, 0},
		Probs: [][]float64{{.7, .2, .1}, {.2, .5, .3}, {.1, .2, .7}, {.3, .4, .3}, {.1, .8, .1}, {.5, .3, .2}}}
	out, err := Evaluate(context.Background(), map[string]*Predictions{"test": mc},
		Options{Task: "classification", Classes: []string{"a", "b", "c"}, Resamples: 50, Order: []string{"test"}})
	require.NoError(t, err)
	assert.Nil(t, out.Result.Threshold)
	assert.NotContains(t, out.Result.PerSplit["test"].Metrics, "sensitivity")
	assert.InDelta(t, 5.0/6, out.Result.PerSplit["test"].Metrics["accuracy"].Value, 1e-12)
	assert.NotEmpty(t, out.Figures["roc.png"])

	reg := &Predictions{Rows: []int{0, 1, 2, 3}, Target: []float64{3, -0.5, 2, 7}, Value: []float64{2.5, 0, 2, 8}}
	out, err = Evaluate(context.Background(), map[string]*Predictions{"test": reg},
		Options{Task: "regression", Resamples: 50, Order: []string{"test"}})
	require.NoError(t, err)
	assert.InDelta(t, 0.375, out.Result.PerSplit["test"].Metrics["mse"].Value, 1e-12)
	assert.NotEmpty(t, out.Figures["pred_vs_true.png"])

	_, err = Evaluate(context.Background(), map[string]*Predictions{}, Options{Task: "regression", Order: []string{"test"}})
	assert.ErrorContains(t, err, "no predictions")
	bad := &Predictions{Rows: []int{0}, Truth: []int{0}, Probs: [][]float64{{1}}}
	_, err = Evaluate(context.Background(), map[string]*Predictions{"test": bad},
		Options{Task: "classification", Classes: []string{"a", "b", "c"}, Order: []string{"test"}})
	assert.ErrorContains(t, err, "row 0")
}
