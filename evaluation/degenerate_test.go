package evaluation

import (
	"context"
	"encoding/json"
	"math"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/biopipe/biopipe/metrics"
)

// binaryPreds builds binary predictions with the given truths and positive-class scores.
func binaryPreds(truth []int, score []float64, groups []string) *Predictions {
	p := &Predictions{Truth: truth, Groups: groups}
	for i, s := range score {
		p.Rows = append(p.Rows, i)
		p.Probs = append(p.Probs, []float64{1 - s, s})
	}
	return p
}

// TestEvaluateDegenerate covers valid but degenerate data: one class in a split, constant
// predictions, a single example, one patient per split. Every undefined metric is null in
// metrics.json with its reason, and the file holds no NaN.
func TestEvaluateDegenerate(t *testing.T) {
	classes := []string{"benign", "malignant"}
	tests := []struct {
		name  string
		task  string
		preds map[string]*Predictions
		// undefined maps split -> metric -> a fragment of the reason
		undefined map[string]map[string]string
	}{
		{"one class in val", "classification", map[string]*Predictions{
			"val":  binaryPreds([]int{0, 0, 0}, []float64{0.2, 0.7, 0.4}, nil),
			"test": binaryPreds([]int{0, 1, 1, 0}, []float64{0.2, 0.7, 0.6, 0.3}, nil),
		}, map[string]map[string]string{"val": {
			metrics.NameAUROC: `only class "benign"`, metrics.NameAUPRC: `only class "benign"`,
			metrics.NameSensitivity: `no positive ("malignant") examples`,
		}}},
		{"constant predictions", "classification", map[string]*Predictions{
			"test": binaryPreds([]int{0, 1, 1, 0}, []float64{0.1, 0.1, 0.1, 0.1}, nil),
		}, map[string]map[string]string{"test": {
			metrics.NamePPV: "constant predictions",
		}}},
		{"one patient per split, one class each", "classification", map[string]*Predictions{
			"train": binaryPreds([]int{1, 1}, []float64{0.9, 0.8}, []string{"p1", "p1"}),
			"test":  binaryPreds([]int{0, 0}, []float64{0.3, 0.2}, []string{"p2", "p2"}),
		}, map[string]map[string]string{"test": {
			metrics.NameAUROC: `only class "benign"`, metrics.NamePPV: "never predicts the positive class",
		}, "train": {
			metrics.NameSpecificity: `no negative ("benign") examples`, metrics.NameNPV: "never predicts the negative class",
		}}},
		{"single-example regression split", "regression", map[string]*Predictions{
			"test": {Rows: []int{0}, Target: []float64{3}, Value: []float64{2.5}},
		}, map[string]map[string]string{"test": {metrics.NameR2: "fewer than 2 examples"}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			opt := Options{Task: tc.task, Resamples: 50, Seed: 1, Order: []string{"train", "val", "test"}, Threshold: metrics.ThresholdYouden}
			if tc.task == "classification" {
				opt.Classes = classes
			}
			out, err := Evaluate(context.Background(), tc.preds, opt)
			require.NoError(t, err)
			b, err := json.Marshal(out.Result)
			require.NoError(t, err, "metrics.json must be writable")
			assert.NotContains(t, string(b), "NaN")
			back := &Result{}
			require.NoError(t, json.Unmarshal(b, back))
			for split, want := range tc.undefined {
				s := back.PerSplit[split]
				require.NotNil(t, s, split)
				for name, reason := range want {
					iv := s.Metrics[name]
					assert.True(t, math.IsNaN(iv.Value), "%s %s = %v, want undefined", split, name, iv.Value)
					assert.NotEmpty(t, iv.Reason, "%s %s has no reason", split, name)
					assert.Contains(t, iv.Reason, reason, "%s %s", split, name)
				}
			}
			// every undefined metric, listed or not, says why; defined ones carry no reason
			for split, s := range back.PerSplit {
				for name, iv := range s.Metrics {
					if math.IsNaN(iv.Value) {
						assert.NotEmpty(t, iv.Reason, "%s %s", split, name)
					} else {
						assert.Empty(t, iv.Reason, "%s %s", split, name)
					}
				}
			}
			assert.False(t, strings.Contains(string(b), `"reason":""`))
		})
	}
}
