package encode

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/biopipe/biopipe/contract"
	"github.com/biopipe/biopipe/dataset"
	"github.com/biopipe/biopipe/stages/transform/internal/tab"
)

// sample: rows 0-3 train, 4-5 test. "never" smoking appears only in the test split.
func sample() *dataset.Frame {
	f := dataset.New()
	f.Meta[dataset.MetaLabel] = "y"
	f.Meta[dataset.MetaID] = "pid"
	f.Columns = []*dataset.Column{
		{Name: "pid", Kind: dataset.String, S: []string{"a", "b", "c", "d", "e", "f"}},
		{Name: "smoking", Kind: dataset.String, S: []string{"yes", "former", "", "yes", "never", "former"}, Valid: []bool{true, true, false, true, true, true}},
		{Name: "age", Kind: dataset.Float, F: []float64{30, 40, 50, 60, 70, 80}},
		{Name: "stage", Kind: dataset.Int, I: []int64{10, 2, 2, 1, 3, 1}},
		{Name: "y", Kind: dataset.String, S: []string{"x", "z", "x", "z", "x", "z"}},
		{Name: dataset.ColSplit, Kind: dataset.String, S: []string{"train", "train", "train", "train", "test", "test"}},
	}
	return f
}

func TestOneHot(t *testing.T) {
	f := sample()
	p, err := Apply(f, Options{Method: OneHot})
	require.NoError(t, err)
	assert.Equal(t, []string{"pid", "smoking=former", "smoking=yes", "age", "stage", "y", "split"}, f.Names())
	enc := p.Columns["smoking"]
	assert.Equal(t, []string{"former", "yes"}, enc.Categories)
	assert.Equal(t, 1, enc.Unknown)
	former, yes := f.Col("smoking=former"), f.Col("smoking=yes")
	assert.Equal(t, []float64{0, 1, 0, 0, 0, 1}, former.F)
	assert.Equal(t, []float64{1, 0, 0, 1, 0, 0}, yes.F)
	assert.False(t, former.IsValid(2), "missing stays missing")
	assert.True(t, yes.IsValid(4), "unknown category is all zeros")
	assert.Len(t, p.Columns, 1, "id and label are not encoded")
}

func TestOrdinalNumericColumn(t *testing.T) {
	f := sample()
	p, err := Apply(f, Options{Method: Ordinal, Columns: []string{"smoking", "stage"}})
	require.NoError(t, err)
	assert.Equal(t, []string{"1", "2", "10"}, p.Columns["stage"].Categories) // numeric order
	assert.Equal(t, []int64{2, 1, 1, 0, -1, 0}, f.Col("stage").I)
	s := f.Col("smoking")
	assert.Equal(t, dataset.Int, s.Kind)
	assert.Equal(t, []int64{1, 0, 0, 1, -1, 0}, s.I)
	assert.Equal(t, []bool{true, true, false, true, true, true}, s.Valid)
}

func TestErrors(t *testing.T) {
	_, err := Apply(sample(), Options{Method: OneHot, Unknown: Error})
	assert.ErrorContains(t, err, `column "smoking" row 4: category "never" does not occur in the train rows`)
	_, err = Apply(sample(), Options{Method: OneHot, Columns: []string{"age"}, MaxCategories: 3})
	assert.ErrorContains(t, err, `column "age" has 4 categories in the train rows (max_categories 3)`)
	_, err = Apply(sample(), Options{Method: OneHot, Columns: []string{"pid"}})
	assert.ErrorContains(t, err, "role column")
}

func TestStageRun(t *testing.T) {
	in := t.TempDir()
	require.NoError(t, sample().WriteFile(filepath.Join(in, contract.DataFile)))
	cfg, issues := contract.Check(Fields, map[string]any{})
	require.Empty(t, issues)
	st, err := New(cfg)
	require.NoError(t, err)
	env := contract.NewEnv(nil)
	env.StageID, env.OutDir = "encode", t.TempDir()
	env.Inputs = []contract.Input{{StageID: "impute", Type: contract.Table, Port: "data", Dir: in}}
	require.NoError(t, st.Run(context.Background(), env))
	out, err := dataset.ReadFile(env.Out(contract.DataFile))
	require.NoError(t, err)
	assert.NotNil(t, out.Col("smoking=yes"))
	var p Params
	b, err := os.ReadFile(env.Out(tab.ParamsFile))
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(b, &p))
	assert.Equal(t, []string{"smoking=former", "smoking=yes"}, p.Columns["smoking"].Outputs)
}
