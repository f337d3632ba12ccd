package metrics

import (
	"encoding/json"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// sklearnScript reads predictions from the JSON file named by argv[1] and prints the
// scikit-learn values of the same metrics as JSON.
const sklearnScript = `
import json, sys
import numpy as np
from sklearn import metrics as M
from sklearn.calibration import calibration_curve
d = json.load(open(sys.argv[1]))
out = {}
yb, sb = np.array(d["binary_truth"]), np.array(d["binary_score"])
pb = (sb >= d["threshold"]).astype(int)
out["binary"] = {
  "auroc": M.roc_auc_score(yb, sb),
  "auprc": M.average_precision_score(yb, sb),
  "accuracy": M.accuracy_score(yb, pb),
  "balanced_accuracy": M.balanced_accuracy_score(yb, pb),
  "f1": M.f1_score(yb, pb),
  "f1_macro": M.f1_score(yb, pb, average="macro"),
  "f1_micro": M.f1_score(yb, pb, average="micro"),
  "sensitivity": M.recall_score(yb, pb),
  "specificity": M.recall_score(yb, pb, pos_label=0),
  "ppv": M.precision_score(yb, pb),
  "npv": M.precision_score(yb, pb, pos_label=0),
  "brier": M.brier_score_loss(yb, sb),
}
pt, pp = calibration_curve(yb, sb, n_bins=10, strategy="uniform")
out["calibration"] = {"prob_true": pt.tolist(), "prob_pred": pp.tolist()}
ym, pm = np.array(d["multi_truth"]), np.array(d["multi_probs"])
am = pm.argmax(axis=1)
out["multi"] = {
  "auroc": M.roc_auc_score(ym, pm, multi_class="ovr", average="macro"),
  "accuracy": M.accuracy_score(ym, am),
  "balanced_accuracy": M.balanced_accuracy_score(ym, am),
  "f1_macro": M.f1_score(ym, am, average="macro"),
  "f1_micro": M.f1_score(ym, am, average="micro"),
  "confusion": M.confusion_matrix(ym, am).tolist(),
}
yr, pr = np.array(d["reg_truth"]), np.array(d["reg_pred"])
mt, mp = np.array(d["mask_truth"]) > 0.5, np.array(d["mask_pred"]) > 0.5
out["masks"] = {"dice": M.f1_score(mt, mp), "iou": M.jaccard_score(mt, mp)}
out["regression"] = {"mse": M.mean_squared_error(yr, pr), "mae": M.mean_absolute_error(yr, pr), "r2": M.r2_score(yr, pr)}
print(json.dumps(out))
`

// TestAgainstScikitLearn computes every metric here and with scikit-learn on the same
// predictions, whose scores are rounded to one decimal so that many tie.
func TestAgainstScikitLearn(t *testing.T) {
	py := "/usr/bin/python3"
	if _, err := os.Stat(py); err != nil {
		t.Skip("no /usr/bin/python3")
	}
	if err := exec.Command(py, "-c", "import sklearn").Run(); err != nil {
		t.Skip("scikit-learn not installed (Debian python3-sklearn)")
	}
	rng := rand.New(rand.NewPCG(1, 2))
	n := 300
	in := map[string]any{"threshold": 0.5}
	yb := make([]int, n)
	sb := make([]float64, n)
	for i := range yb {
		yb[i] = rng.IntN(2)
		sb[i] = math.Round(math.Min(1, math.Max(0, 0.35+0.3*float64(yb[i])+rng.NormFloat64()*0.25))*10) / 10
	}
	ym := make([]int, n)
	pm := make([][]float64, n)
	for i := range ym {
		ym[i] = rng.IntN(3)
		row := make([]float64, 3)
		sum := 0.0
		for k := range row {
			row[k] = math.Round((rng.Float64()+boolf(k == ym[i])*0.8)*10) / 10
			sum += row[k]
		}
		for k := range row {
			row[k] /= sum
		}
		pm[i] = row
	}
	yr := make([]float64, n)
	pr := make([]float64, n)
	for i := range yr {
		yr[i] = rng.NormFloat64() * 3
		pr[i] = yr[i] + rng.NormFloat64()
	}
	in["binary_truth"], in["binary_score"] = yb, sb
	in["multi_truth"], in["multi_probs"] = ym, pm
	in["reg_truth"], in["reg_pred"] = yr, pr
	mt := make([]float32, 64*64)
	mp := make([]float32, 64*64)
	for i := range mt {
		x, y := i%64-32, i/64-32
		if x*x+y*y < 300 {
			mt[i] = 1
		}
		if (x-4)*(x-4)+y*y < 280 && rng.Float64() > 0.05 {
			mp[i] = 1
		}
	}
	in["mask_truth"], in["mask_pred"] = mt, mp
	path := filepath.Join(t.TempDir(), "preds.json")
	b, err := json.Marshal(in)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(path, b, 0o644))
	cmd := exec.Command(py, "-c", sklearnScript, path)
	cmd.Stderr = os.Stderr
	raw, err := cmd.Output()
	require.NoError(t, err)
	var want struct {
		Binary      map[string]float64
		Calibration struct {
			ProbTrue []float64 `json:"prob_true"`
			ProbPred []float64 `json:"prob_pred"`
		}
		Multi      map[string]any
		Masks      map[string]float64
		Regression map[string]float64
	}
	require.NoError(t, json.Unmarshal(raw, &want))

	probs := make([][]float64, n)
	for i := range sb {
		probs[i] = []float64{1 - sb[i], sb[i]}
	}
	got := ClassificationScores(yb, probs, 0.5, 10)
	for name, v := range want.Binary {
		assert.InDelta(t, v, got[name], 1e-9, "binary %s", name)
	}
	bins := Reliability(yb, sb, 10)
	require.Len(t, bins, len(want.Calibration.ProbTrue))
	for i, bin := range bins {
		assert.InDelta(t, want.Calibration.ProbTrue[i], bin.Accuracy, 1e-9, "calibration bin %d", i)
		assert.InDelta(t, want.Calibration.ProbPred[i], bin.Confidence, 1e-9, "calibration bin %d", i)
	}

	gm := ClassificationScores(ym, pm, 0.5, 10)
	for _, name := range []string{NameAUROC, NameAccuracy, NameBalancedAccuracy, NameF1Macro, NameF1Micro} {
		assert.InDelta(t, want.Multi[name].(float64), gm[name], 1e-9, "multiclass %s", name)
	}
	cm, err := ConfusionMatrix(ym, Predict(pm, 0.5), 3)
	require.NoError(t, err)
	for i, row := range want.Multi["confusion"].([]any) {
		for j, v := range row.([]any) {
			assert.Equal(t, int(v.(float64)), cm[i][j], "confusion[%d][%d]", i, j)
		}
	}

	dice, err := Dice(mt, mp)
	require.NoError(t, err)
	iou, err := IoU(mt, mp)
	require.NoError(t, err)
	assert.InDelta(t, want.Masks["dice"], dice, 1e-9, "Dice = F1 of the mask pixels")
	assert.InDelta(t, want.Masks["iou"], iou, 1e-9, "IoU = Jaccard of the mask pixels")

	gr := RegressionScores(yr, pr)
	for name, v := range want.Regression {
		assert.InDelta(t, v, gr[name], 1e-9, "regression %s", name)
	}
}

func boolf(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
