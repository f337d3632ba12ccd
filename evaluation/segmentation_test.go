package evaluation

import (
	"context"
	"encoding/json"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/biopipe/biopipe/metrics"
)

func mustCounts(t *testing.T, truth, pred []int, k int) SegCase {
	t.Helper()
	c, err := SegCounts(truth, pred, k)
	require.NoError(t, err)
	return c
}

func TestSegCountsDiceIoU(t *testing.T) {
	// Foreground: truth {1,2,3}, prediction {1,2,4}: TP 2, FP 1, FN 1.
	a := mustCounts(t, []int{0, 1, 1, 1, 0, 0}, []int{0, 1, 1, 0, 1, 0}, 2)
	assert.Equal(t, []int{2, 2}, a.TP) // background: voxels 0 and 5
	assert.Equal(t, []int{1, 1}, a.FP)
	assert.Equal(t, []int{1, 1}, a.FN)
	assert.Equal(t, 4, a.Correct)
	assert.InDelta(t, 4.0/6, metrics.DiceCounts(a.TP[1], a.FP[1], a.FN[1]), 1e-12)
	assert.InDelta(t, 2.0/4, metrics.IoUCounts(a.TP[1], a.FP[1], a.FN[1]), 1e-12)
	assert.True(t, math.IsNaN(metrics.DiceCounts(0, 0, 0)))
	assert.True(t, math.IsNaN(metrics.IoUCounts(0, 0, 0)))

	_, err := SegCounts([]int{0, 1}, []int{0}, 2)
	assert.ErrorContains(t, err, "true mask has 2 voxels, predicted mask 1")
	_, err = SegCounts([]int{0, 3}, []int{0, 1}, 2)
	assert.ErrorContains(t, err, "voxel 1: class 3")
}

func TestSegmentationScores(t *testing.T) {
	classes := []string{"background", "foreground"}
	a := mustCounts(t, []int{0, 1, 1, 1, 0, 0}, []int{0, 1, 1, 0, 1, 0}, 2) // Dice 2/3, IoU 1/2
	empty := mustCounts(t, []int{0, 0, 0, 0}, []int{0, 0, 0, 0}, 2)         // no foreground: left out
	missed := mustCounts(t, []int{1, 1, 0, 0}, []int{0, 0, 0, 0}, 2)        // Dice 0, IoU 0
	tests := []struct {
		name  string
		cases []SegCase
		dice  float64
		iou   float64
		acc   float64
	}{
		{"one case", []SegCase{a}, 2.0 / 3, 0.5, 4.0 / 6},
		{"empty case left out", []SegCase{a, empty, missed}, (2.0/3 + 0) / 2, (0.5 + 0) / 2, 10.0 / 14},
		{"only empty", []SegCase{empty}, math.NaN(), math.NaN(), 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := SegmentationScores(tc.cases, classes)
			for _, m := range []struct {
				name string
				want float64
			}{{NameDice, tc.dice}, {"dice_foreground", tc.dice}, {NameIoU, tc.iou}, {"iou_foreground", tc.iou}, {NameVoxelAccuracy, tc.acc}} {
				if math.IsNaN(m.want) {
					assert.True(t, math.IsNaN(s[m.name]), "%s = %v, want NaN", m.name, s[m.name])
					continue
				}
				assert.InDelta(t, m.want, s[m.name], 1e-12, m.name)
			}
		})
	}
	// Three classes: truth [0 1 2 2], prediction [0 1 1 2]. Class 1: TP 1, FP 1, FN 0 (Dice
	// 2/3, IoU 1/2); class 2: TP 1, FP 0, FN 1 (Dice 2/3, IoU 1/2).
	three := []string{"background", "label_1", "label_2"}
	c := mustCounts(t, []int{0, 1, 2, 2}, []int{0, 1, 1, 2}, 3)
	s := SegmentationScores([]SegCase{c}, three)
	assert.InDelta(t, 2.0/3, s["dice_label_1"], 1e-12)
	assert.InDelta(t, 2.0/3, s["dice_label_2"], 1e-12)
	assert.InDelta(t, 0.5, s["iou_label_2"], 1e-12)
	assert.InDelta(t, 2.0/3, s[NameDice], 1e-12)
	assert.InDelta(t, 0.75, s[NameVoxelAccuracy], 1e-12)
	assert.InDelta(t, 2.0/3, c.CaseDice(), 1e-12)
	assert.InDelta(t, 0.5, c.CaseIoU(), 1e-12)
	// Class 2 absent from truth and prediction: undefined, the mean is class 1's alone.
	d := mustCounts(t, []int{0, 1, 1, 0}, []int{0, 1, 0, 0}, 3)
	s = SegmentationScores([]SegCase{d}, three)
	assert.True(t, math.IsNaN(s["dice_label_2"]))
	assert.InDelta(t, 2.0/3, s["dice_label_1"], 1e-12)
	assert.InDelta(t, 2.0/3, s[NameDice], 1e-12)
}

func TestEvaluateSegmentation(t *testing.T) {
	classes := []string{"background", "label_1", "label_2"}
	var test Predictions
	for i := range 12 {
		// Class 2 never appears; class 1 is found with one voxel missed in every case.
		truth := []int{0, 0, 1, 1, 1, 0, 0, 0}
		pred := []int{0, 0, 1, 1, 0, 0, 0, 0}
		test.Rows = append(test.Rows, i)
		test.Seg = append(test.Seg, mustCounts(t, truth, pred, 3))
	}
	out, err := Evaluate(context.Background(), map[string]*Predictions{"test": &test},
		Options{Task: "segmentation", Classes: classes, Resamples: 50, Seed: 1, Order: []string{"test"}})
	require.NoError(t, err)
	s := out.Result.PerSplit["test"]
	assert.InDelta(t, 0.8, s.Metrics["dice_label_1"].Value, 1e-12) // 2·2 / (2·2 + 0 + 1)
	assert.InDelta(t, 0.8, s.Metrics[NameDice].Value, 1e-12)
	assert.InDelta(t, 2.0/3, s.Metrics[NameIoU].Value, 1e-12)
	assert.InDelta(t, 0.8, s.Metrics[NameDice].Low, 1e-12) // every case is the same
	assert.Contains(t, s.Metrics["dice_label_2"].Reason, `class "label_2" is absent`)
	assert.Equal(t, 12, s.ClassCounts["label_1"])
	assert.Equal(t, 0, s.ClassCounts["label_2"])
	assert.Contains(t, out.Figures, "dice_per_case.png")
	b, err := json.Marshal(out.Result)
	require.NoError(t, err)
	assert.Contains(t, string(b), `"dice_label_2":{"value":null`)
}

// TestDiceAgreesWithMetrics ties the per-class counts to metrics.Dice and metrics.IoU (which
// metrics' scikit-learn cross-check compares with f1_score and jaccard_score on masks) on
// non-empty binary masks; on two empty masks metrics scores 1 where evaluation says undefined.
func TestDiceAgreesWithMetrics(t *testing.T) {
	r := rand.New(rand.NewPCG(4, 4))
	for range 20 {
		n := 50 + r.IntN(200)
		truth, pred := make([]int, n), make([]int, n)
		tf, pf := make([]float32, n), make([]float32, n)
		for i := range n {
			truth[i], pred[i] = r.IntN(2), r.IntN(2)
			tf[i], pf[i] = float32(truth[i]), float32(pred[i])
		}
		c := mustCounts(t, truth, pred, 2)
		d, err := metrics.Dice(tf, pf)
		require.NoError(t, err)
		j, err := metrics.IoU(tf, pf)
		require.NoError(t, err)
		assert.InDelta(t, d, metrics.DiceCounts(c.TP[1], c.FP[1], c.FN[1]), 1e-12)
		assert.InDelta(t, j, metrics.IoUCounts(c.TP[1], c.FP[1], c.FN[1]), 1e-12)
	}
}
