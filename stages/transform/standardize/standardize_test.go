package standardize

import (
	"context"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/biopipe/biopipe/contract"
	"github.com/biopipe/biopipe/dataset"
	"github.com/biopipe/biopipe/stages/transform/internal/tab"
)

func sample() *dataset.Frame {
	f := dataset.New()
	f.Meta[dataset.MetaLabel] = "y"
	f.Columns = []*dataset.Column{
		// train rows 0..3: a = 1,2,3,6 (mean 3, population sd sqrt(3.5))
		{Name: "a", Kind: dataset.Float, F: []float64{1, 2, 3, 6, 10}},
		// b is an int; row 1 missing; train values 4, 4, 8 -> mean 16/3
		{Name: "b", Kind: dataset.Int, I: []int64{4, 0, 4, 8, 2}, Valid: []bool{true, false, true, true, true}},
		{Name: "const", Kind: dataset.Float, F: []float64{5, 5, 5, 5, 7}},
		// tensor with 2 elements per row
		{Name: "x", Kind: dataset.Tensor, Shape: []int{2}, T: []float32{0, 10, 2, 10, 4, 20, 6, 20, 100, 100}},
		{Name: "y", Kind: dataset.Int, I: []int64{0, 1, 0, 1, 1}},
		{Name: dataset.ColSplit, Kind: dataset.String, S: []string{"train", "train", "train", "train", "test"}},
	}
	return f
}

func TestApply(t *testing.T) {
	f := sample()
	p, err := Apply(f, nil, Element)
	require.NoError(t, err)
	assert.Equal(t, "train", p.FittedOn)
	assert.Equal(t, 4, p.FitRows)

	sdA := math.Sqrt(3.5)
	assert.InDelta(t, 3, p.Columns["a"].Mean, 1e-12)
	assert.InDelta(t, sdA, p.Columns["a"].SD, 1e-12)
	a := f.Col("a").F
	assert.InDelta(t, -2/sdA, a[0], 1e-12)
	assert.InDelta(t, 7/sdA, a[4], 1e-12) // the test row uses the train mean/sd

	b := f.Col("b")
	assert.Equal(t, dataset.Float, b.Kind)
	meanB := 16.0 / 3
	sdB := math.Sqrt(((4-meanB)*(4-meanB)*2 + (8-meanB)*(8-meanB)) / 3)
	assert.InDelta(t, meanB, p.Columns["b"].Mean, 1e-12)
	assert.InDelta(t, sdB, p.Columns["b"].SD, 1e-12)
	assert.False(t, b.IsValid(1))
	assert.InDelta(t, (2-meanB)/sdB, b.F[4], 1e-12)

	assert.Equal(t, Scale{Mean: 5, SD: 1}, p.Columns["const"])
	assert.Equal(t, []float64{0, 0, 0, 0, 2}, f.Col("const").F)

	// element 0: 0,2,4,6 -> mean 3, sd sqrt(5); element 1: 10,10,20,20 -> mean 15, sd 5
	ts := p.Tensors["x"]
	assert.InDeltaSlice(t, []float64{3, 15}, ts.Mean, 1e-12)
	assert.InDeltaSlice(t, []float64{math.Sqrt(5), 5}, ts.SD, 1e-12)
	x := f.Col("x").T
	assert.InDelta(t, -3/math.Sqrt(5), x[0], 1e-6)
	assert.InDelta(t, -1, x[1], 1e-6)
	assert.InDelta(t, 17, x[9], 1e-6)

	// Role columns are untouched.
	assert.Equal(t, []int64{0, 1, 0, 1, 1}, f.Col("y").I)
}

func TestGlobalTensorAndColumns(t *testing.T) {
	f := sample()
	p, err := Apply(f, []string{"x"}, Global)
	require.NoError(t, err)
	// all 8 train values: 0,10,2,10,4,20,6,20 -> mean 9
	ts := p.Tensors["x"]
	require.Len(t, ts.Mean, 1)
	assert.InDelta(t, 9, ts.Mean[0], 1e-12)
	var ss float64
	for _, v := range []float64{0, 10, 2, 10, 4, 20, 6, 20} {
		ss += (v - 9) * (v - 9)
	}
	assert.InDelta(t, math.Sqrt(ss/8), ts.SD[0], 1e-12)
	assert.Equal(t, []float64{1, 2, 3, 6, 10}, f.Col("a").F) // not listed, not touched

	_, err = Apply(sample(), []string{"y"}, Element)
	assert.ErrorContains(t, err, `"y" is a role column`)
	_, err = Apply(sample(), []string{"aa"}, Element)
	assert.ErrorContains(t, err, `"aa" not found (did you mean "a"?)`)
}

func TestNoSplitFitsAll(t *testing.T) {
	f := sample()
	f.Drop(dataset.ColSplit)
	p, err := Apply(f, []string{"a"}, None)
	require.NoError(t, err)
	assert.Equal(t, "all", p.FittedOn)
	assert.InDelta(t, 4.4, p.Columns["a"].Mean, 1e-12)
}

func TestStageRun(t *testing.T) {
	in := t.TempDir()
	require.NoError(t, sample().WriteFile(filepath.Join(in, contract.DataFile)))
	cfg, issues := contract.Check(Fields, map[string]any{})
	require.Empty(t, issues)
	st, err := New(cfg)
	require.NoError(t, err)
	env := contract.NewEnv(nil)
	env.StageID, env.OutDir = "scale", t.TempDir()
	env.Inputs = []contract.Input{{StageID: "split", Type: contract.Table, Port: "data", Dir: in}}
	require.NoError(t, st.Run(context.Background(), env))
	out, err := dataset.ReadFile(env.Out(contract.DataFile))
	require.NoError(t, err)
	assert.InDelta(t, 0, out.Col("const").F[0], 0)
	var p Params
	b, err := os.ReadFile(env.Out(tab.ParamsFile))
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(b, &p))
	assert.InDelta(t, 3, p.Columns["a"].Mean, 1e-12)
	assert.Len(t, p.Tensors["x"].Mean, 2)
}
