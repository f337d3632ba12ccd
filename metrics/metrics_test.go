package metrics

import (
	"encoding/json"
	"math"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestBinaryCounts(t *testing.T) {
	cm, err := ConfusionMatrix([]int{0, 0, 1, 1, 1}, []int{0, 1, 1, 1, 0}, 2)
	require.NoError(t, err)
	b := cm.Binary()
	assert.Equal(t, Binary{TP: 2, FP: 1, TN: 1, FN: 1}, b)
	tests := []struct {
		name string
		got  float64
		want float64
	}{
		{"accuracy", cm.Accuracy(), 3.0 / 5},
		{"sensitivity", b.Sensitivity(), 2.0 / 3},
		{"specificity", b.Specificity(), 1.0 / 2},
		{"ppv", b.PPV(), 2.0 / 3},
		{"npv", b.NPV(), 1.0 / 2},
		{"f1", b.F1(), 2.0 / 3},
		{"balanced", cm.BalancedAccuracy(), (2.0/3 + 0.5) / 2},
		{"f1 macro", cm.F1Macro(), (2.0/3 + 0.5) / 2},
		{"f1 micro", cm.F1Micro(), 3.0 / 5},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { assert.InDelta(t, tc.want, tc.got, 1e-12) })
	}
	_, err = ConfusionMatrix([]int{0, 3}, []int{0, 1}, 2)
	assert.ErrorContains(t, err, "row 1")
}

func TestRankingMetrics(t *testing.T) {
	tests := []struct {
		name       string
		truth      []int
		score      []float64
		auroc, ap  float64
		youden     float64
		sensThr100 float64
	}{
		{"distinct", []int{0, 0, 1, 1}, []float64{0.1, 0.4, 0.35, 0.8}, 0.75, 0.5 + 0.5*2.0/3, 0.8, 0.35},
		{"ties", []int{0, 1, 0, 1}, []float64{0.5, 0.5, 0.2, 0.9}, 0.875, 0.5*1 + 0.5*2.0/3, 0.9, 0.5},
		{"perfect", []int{0, 0, 1}, []float64{0.1, 0.2, 0.3}, 1, 1, 0.3, 0.3},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			assert.InDelta(t, tc.auroc, AUROC(tc.truth, tc.score), 1e-12)
			assert.InDelta(t, tc.ap, AveragePrecision(tc.truth, tc.score), 1e-12)
			assert.InDelta(t, tc.youden, YoudenThreshold(tc.truth, tc.score), 1e-12)
			assert.InDelta(t, tc.sensThr100, SensitivityThreshold(tc.truth, tc.score, 1), 1e-12)
		})
	}
	assert.True(t, math.IsNaN(AUROC([]int{1, 1}, []float64{0.2, 0.3})), "one class: undefined")
}

func TestCalibration(t *testing.T) {
	bins := Reliability([]int{0, 1, 1}, []float64{0.05, 0.95, 0.55}, 10)
	require.Len(t, bins, 3)
	assert.InDelta(t, (0.05+0.05+0.45)/3, ECE(bins), 1e-12)
	// 0.1 lies on an inner edge: it belongs to the lower bin, as numpy's searchsorted(left).
	bins = Reliability([]int{1}, []float64{0.1}, 10)
	assert.Equal(t, 0.0, bins[0].Low)
	assert.InDelta(t, 0.25*0.25+0.0, Brier([]int{0}, [][]float64{{0.75, 0.25}}), 1e-12)
}

func TestRegressionAndMasks(t *testing.T) {
	truth, pred := []float64{3, -0.5, 2, 7}, []float64{2.5, 0, 2, 8}
	assert.InDelta(t, 0.375, MSE(truth, pred), 1e-12)
	assert.InDelta(t, math.Sqrt(0.375), RMSE(truth, pred), 1e-12)
	assert.InDelta(t, 0.5, MAE(truth, pred), 1e-12)
	assert.InDelta(t, 0.9486081370449679, R2(truth, pred), 1e-12)
	d, err := Dice([]float32{1, 1, 0, 0}, []float32{1, 0, 1, 0})
	require.NoError(t, err)
	assert.InDelta(t, 0.5, d, 1e-12)
	iou, err := IoU([]float32{1, 1, 0, 0}, []float32{1, 0, 1, 0})
	require.NoError(t, err)
	assert.InDelta(t, 1.0/3, iou, 1e-12)
	_, err = Dice([]float32{1}, []float32{1, 0})
	assert.ErrorContains(t, err, "sizes differ")
}

func TestMulticlass(t *testing.T) {
	truth := []int{0, 1, 2, 2}
	probs := [][]float64{{0.7, 0.2, 0.1}, {0.2, 0.5, 0.3}, {0.1, 0.2, 0.7}, {0.3, 0.4, 0.3}}
	s := ClassificationScores(truth, probs, 0.5, 10)
	assert.InDelta(t, 0.75, s[NameAccuracy], 1e-12)
	// per-class recall 1, 1, 0.5
	assert.InDelta(t, 2.5/3, s[NameBalancedAccuracy], 1e-12)
	// class AUROCs: c0 1.0; c1: pos 0.5 vs neg {0.2,0.2,0.4} = 1.0; c2: pos {0.7,0.3} vs neg {0.1,0.3} = (2+1.5)/4
	assert.InDelta(t, (1+1+3.5/4)/3, s[NameAUROC], 1e-12)
	_, hasSens := s[NameSensitivity]
	assert.False(t, hasSens, "sensitivity is binary only")
}

func TestBootstrap(t *testing.T) {
	n := 200
	truth := make([]int, n)
	score := make([]float64, n)
	for i := range truth {
		truth[i] = i % 2
		score[i] = float64((i*37)%101)/101 + 0.3*float64(truth[i])
	}
	fn := func(idx []int) Scalars {
		tt := make([]int, len(idx))
		ss := make([]float64, len(idx))
		pos := 0
		for j, i := range idx {
			tt[j], ss[j] = truth[i], score[i]
			pos += truth[i]
		}
		return Scalars{"auroc": AUROC(tt, ss), "pos": float64(pos)}
	}
	opt := BootstrapOptions{Resamples: 300, Level: 0.95, Seed: 7, Strata: truth}
	a := Bootstrap(n, opt, fn)
	opt.Workers = 1
	b := Bootstrap(n, opt, fn)
	assert.Equal(t, a, b, "same seed gives the same intervals, whatever the parallelism")
	iv := a["auroc"]
	assert.Less(t, iv.Low, iv.Value)
	assert.Greater(t, iv.High, iv.Value)
	assert.Equal(t, Interval{Value: 100, Low: 100, High: 100}, a["pos"], "stratified: class counts fixed")
	opt.Seed = 8
	assert.NotEqual(t, a["auroc"], Bootstrap(n, opt, fn)["auroc"])

	// group bootstrap: rows of a group are drawn together
	groups := make([]string, n)
	for i := range groups {
		groups[i] = string(rune('a' + i/10))
	}
	units := bootstrapUnits(n, BootstrapOptions{Groups: groups})
	require.Len(t, units.strata, 1)
	assert.Len(t, units.strata[0], 20)
	for _, u := range units.strata[0] {
		assert.Len(t, u, 10)
	}

	js, err := json.Marshal(Interval{Value: 0.5, Low: math.NaN(), High: 1})
	require.NoError(t, err)
	assert.JSONEq(t, `{"value":0.5,"ci_low":null,"ci_high":1}`, string(js))
	var back Interval
	require.NoError(t, json.Unmarshal(js, &back))
	assert.True(t, math.IsNaN(back.Low))
}

func TestAggregateFolds(t *testing.T) {
	agg := AggregateFolds([]Scalars{{"auroc": 0.8}, {"auroc": 0.9}, {"auroc": 1.0}}, Scalars{"auroc": 0.88})
	fs := agg["auroc"]
	assert.InDelta(t, 0.9, fs.Mean, 1e-12)
	assert.InDelta(t, 0.1, fs.SD, 1e-12)
	assert.InDelta(t, 0.88, fs.Pooled, 1e-12)
	assert.Len(t, fs.Folds, 3)
}
