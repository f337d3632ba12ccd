package train

import (
	"context"
	"encoding/json"
	"os"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/biopipe/biopipe/contract"
	"github.com/biopipe/biopipe/io/weights"
	"github.com/biopipe/biopipe/models"
)

// TestStagePretrained: an MLP trained in PyTorch (testdata/transfer) initialises the hidden
// layers of a binary classifier (its 3-class head excluded); hidden_0 is frozen, so after
// training it still holds PyTorch's weights, transposed to [in, out].
func TestStagePretrained(t *testing.T) {
	const file = "../../testdata/transfer/mlp.safetensors"
	env, st := newEnv(t, map[string]any{
		"model": "mlp", "hidden": []any{16, 8}, "epochs": 3,
		"pretrained": map[string]any{"path": file, "exclude": []any{"4."}},
		"freeze":     []any{"hidden_0"},
		"layer_lr":   map[string]any{"hidden_1": 0.5},
	}, blobFrame(100, 10, 3))
	require.NoError(t, st.Run(context.Background(), env))

	b, err := os.ReadFile(env.Out(contract.ModelCardFile))
	require.NoError(t, err)
	var card models.Card
	require.NoError(t, json.Unmarshal(b, &card))
	require.NotNil(t, card.InitFrom)
	assert.Equal(t, "safetensors", card.InitFrom.Format)
	assert.Equal(t, []string{"/model/hidden_0/dense/biases", "/model/hidden_0/dense/weights", "/model/hidden_1/dense/biases", "/model/hidden_1/dense/weights"}, card.InitFrom.Loaded)
	assert.Equal(t, []string{"/model/output/dense/biases", "/model/output/dense/weights"}, card.InitFrom.Fresh)
	require.NotNil(t, card.FineTune)
	assert.Equal(t, []string{"/model/hidden_0/dense/biases", "/model/hidden_0/dense/weights"}, card.FineTune.Frozen)
	assert.Equal(t, map[string]float64{"hidden_1": 0.5}, card.FineTune.LayerLR)

	m, err := models.Load(env.OutDir, "go")
	require.NoError(t, err)
	vars, err := m.Variables()
	require.NoError(t, err)
	f, err := weights.Read(file)
	require.NoError(t, err)
	src := f.Get("0.weight") // [16, 10]
	got := vars["hidden_0/dense/weights"]
	require.Equal(t, []int{10, 16}, got.Shape)
	for o := range 16 {
		for i := range 10 {
			assert.Equal(t, src.Data[o*10+i], got.Data[i*16+o], "hidden_0 weight [in %d, out %d] kept", i, o)
		}
	}
	assert.NotEqual(t, f.Get("2.bias").Data, vars["hidden_1/dense/biases"].Data, "hidden_1 trained")

	_, err = fineTuningErr(map[string]any{"pretrained": map[string]any{"exclude": []any{"x"}}})
	assert.ErrorContains(t, err, `field "pretrained": map and exclude need a path`)
}

func fineTuningErr(raw map[string]any) (*models.Pretrained, error) {
	cfg, _ := contract.Check(Fields, raw)
	p, _, err := fineTuning(cfg)
	return p, err
}
