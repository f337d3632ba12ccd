package models_test

import (
	"context"
	"encoding/json"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/biopipe/biopipe/dataset"
	"github.com/biopipe/biopipe/models"
	_ "github.com/biopipe/biopipe/models/cnn"
	"github.com/biopipe/biopipe/models/internal/synth"
)

type expected struct {
	InputShape []int            `json:"input_shape"`
	X          []float32        `json:"x"`
	Probs      []float64        `json:"probs"`
	Classes    int              `json:"classes"`
	Tensors    map[string][]int `json:"tensors"`
}

// committed is testdata/transfer: a CNN and an MLP trained in PyTorch 1.13 by export.py,
// exported to ONNX and safetensors, with inputs and PyTorch's probabilities.
const committed = "../testdata/transfer"

func readExpected(t *testing.T, dir string) map[string]expected {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "expected.json"))
	require.NoError(t, err)
	var exp map[string]expected
	require.NoError(t, json.Unmarshal(b, &exp))
	return exp
}

// freshExport runs export.py with this machine's PyTorch (Debian python3-torch) into a
// temporary folder; it skips when PyTorch is absent.
func freshExport(t *testing.T) string {
	t.Helper()
	if out, err := exec.Command("/usr/bin/python3", "-c", "import torch").CombinedOutput(); err != nil {
		t.Skipf("PyTorch is not installed (Debian python3-torch; .ci/run installs it): %v: %s", err, strings.TrimSpace(string(out)))
	}
	dir := t.TempDir()
	out, err := exec.Command("/usr/bin/python3", filepath.Join(committed, "export.py"), dir).CombinedOutput()
	require.NoError(t, err, string(out))
	return dir
}

var torchParams = map[string]map[string]any{
	"cnn":     {"channels": []any{4, 8}, "kernel_size": 3, "pool": "max", "pool_size": 2, "global_pool": "avg", "hidden": []any{16}},
	"mlp":     {"hidden": []any{16, 8}},
	"cnnflat": {"channels": []any{4, 8}, "kernel_size": 3, "pool": "max", "pool_size": 2, "global_pool": "flatten", "hidden": []any{}},
}

var torchFamily = map[string]string{"cnn": "cnn", "mlp": "mlp", "cnnflat": "cnn"}

// TestImportMatchesPyTorch: a CNN and an MLP trained in PyTorch, imported from safetensors
// and from ONNX, predict what PyTorch predicts to 1e-5: the committed files, and files
// exported now by this machine's PyTorch when it is installed.
func TestImportMatchesPyTorch(t *testing.T) {
	t.Run("committed", func(t *testing.T) { checkImports(t, committed) })
	t.Run("fresh", func(t *testing.T) { checkImports(t, freshExport(t)) })
}

func checkImports(t *testing.T, dir string) {
	exp := readExpected(t, dir)
	for _, fam := range []string{"cnn", "mlp", "cnnflat"} {
		for _, ext := range []string{"safetensors", "onnx"} {
			t.Run(fam+"/"+ext, func(t *testing.T) {
				e := exp[fam]
				path := filepath.Join(dir, fam+"."+ext)
				m, rep, err := models.Prepare(models.TrainOptions{
					Family: torchFamily[fam], Params: torchParams[fam], Task: models.Classification, Classes: []string{"a", "b", "c"},
					Seed: 1, Pretrained: &models.Pretrained{Path: path},
				}, e.InputShape)
				require.NoError(t, err)
				assert.Empty(t, rep.Fresh, "every variable comes from the file")
				assert.Len(t, rep.Mapping, len(e.Tensors))
				for _, mp := range rep.Mapping {
					if len(mp.SourceShape) >= 2 {
						assert.NotEmpty(t, mp.Convert, "%s: a layout conversion", mp.Source)
					}
				}
				n := len(e.X) / dataset.TensorSize(e.InputShape)
				probs, err := m.Predict(context.Background(), &dataset.Matrix{X: e.X, N: n, Shape: e.InputShape})
				require.NoError(t, err)
				worst := 0.0
				for i, row := range probs {
					for j, p := range row {
						worst = math.Max(worst, math.Abs(float64(p)-e.Probs[i*e.Classes+j]))
					}
				}
				t.Logf("%s from %s: max |biopipe - PyTorch| = %.2g over %d x %d probabilities", fam, ext, worst, n, e.Classes)
				assert.Less(t, worst, 1e-5)
			})
		}
	}
}

// TestImportErrors: a shape mismatch names both tensors and their shapes; a map to a missing
// layer lists the model's layers.
func TestImportErrors(t *testing.T) {
	exp := readExpected(t, committed)
	path := filepath.Join(committed, "cnn.safetensors")
	opts := models.TrainOptions{Family: "cnn", Params: map[string]any{"channels": []any{4, 16}, "hidden": []any{16}},
		Task: models.Classification, Classes: []string{"a", "b", "c", "d", "e"}, Seed: 1, Pretrained: &models.Pretrained{Path: path}}
	_, _, err := models.Prepare(opts, exp["cnn"].InputShape)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "shape mismatch(es)")
	assert.Contains(t, err.Error(), "3.weight [8 4 3 3] (OIHW -> spatial,in,out: [3 3 4 8]) does not fit /model/block_1/conv_0/weights [3 3 4 16]")
	assert.Contains(t, err.Error(), "/model/output/dense/weights [16 5]")

	// Excluding the head and the second block loads the first block only.
	opts.Pretrained.Exclude = []string{"3.", "8.", "10."}
	_, rep, err := models.Prepare(opts, exp["cnn"].InputShape)
	require.NoError(t, err)
	assert.Equal(t, []string{"/model/block_0/conv_0/biases", "/model/block_0/conv_0/weights"}, rep.Loaded)
	assert.Contains(t, rep.Fresh, "/model/output/dense/weights")

	opts.Pretrained = &models.Pretrained{Path: path, Map: map[string]string{"0": "block_9/conv_0"}}
	_, _, err = models.Prepare(opts, exp["cnn"].InputShape)
	assert.ErrorContains(t, err, `the model has no layer "block_9/conv_0" (layers: block_0/conv_0, block_1/conv_0, hidden_0, output)`)
}

// variables trains an mlp one full-batch SGD step with ft and returns its variables.
func variables(t *testing.T, ft models.FineTune) map[string][]float32 {
	t.Helper()
	res, err := models.Train(context.Background(), models.TrainOptions{
		Family: "mlp", Params: map[string]any{"hidden": []any{8, 4}}, Train: synth.Blobs(64, 3, 2, 1),
		Task: models.Classification, Classes: []string{"a", "b"}, Epochs: 1, BatchSize: 64, Seed: 5,
		Optimizer: models.OptimizerConfig{Name: models.OptSGD, LearningRate: 0.5}, FineTune: ft,
	})
	require.NoError(t, err)
	vars, err := res.Trained.Variables()
	require.NoError(t, err)
	out := map[string][]float32{}
	for k, v := range vars {
		out[k] = v.Data
	}
	return out
}

// TestFineTune: frozen layers keep their values, other layers train; a learning-rate
// multiplier scales a layer's step exactly.
func TestFineTune(t *testing.T) {
	full := variables(t, models.FineTune{})
	init := variables(t, models.FineTune{LayerLR: map[string]float64{"": 0}})
	half := variables(t, models.FineTune{LayerLR: map[string]float64{"hidden_0": 0.5, "hidden_0/dense/b": 0.25}})
	frozen := variables(t, models.FineTune{Freeze: []string{models.FreezeEncoder}})

	require.Contains(t, full, "hidden_0/dense/weights")
	for name, w := range full {
		assert.NotEqual(t, init[name], w, "%s trains", name)
		for i := range w {
			step := float64(w[i] - init[name][i])
			want := step
			switch {
			case name == "hidden_0/dense/biases":
				want = 0.25 * step
			case strings.HasPrefix(name, "hidden_0/"):
				want = 0.5 * step
			}
			assert.InDelta(t, float64(init[name][i])+want, float64(half[name][i]), 1e-6, "%s[%d]", name, i)
		}
		if strings.HasPrefix(name, "hidden_") {
			assert.Equal(t, init[name], frozen[name], "%s is frozen", name)
		} else {
			assert.Equal(t, full[name], frozen[name], "%s trains as without freezing (its gradient does not depend on the frozen weights' updates)", name)
		}
	}

	_, err := models.Train(context.Background(), models.TrainOptions{
		Family: "mlp", Params: map[string]any{"hidden": []any{8}}, Train: synth.Blobs(16, 3, 2, 1),
		Task: models.Classification, Classes: []string{"a", "b"}, Epochs: 1, BatchSize: 16, Seed: 5,
		Optimizer: models.OptimizerConfig{Name: models.OptSGD, LearningRate: 0.5}, FineTune: models.FineTune{Freeze: []string{"block_0"}},
	})
	assert.ErrorContains(t, err, `freeze: "block_0" matches no variable of this mlp (layers: hidden_0/dense, output/dense)`)
}
