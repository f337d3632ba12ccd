package impute

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

// sample: rows 0-4 are train, 5-6 test. The test rows hold extreme values that must not
// influence the fitted values.
func sample() *dataset.Frame {
	nan := math.NaN()
	f := dataset.New()
	f.Meta[dataset.MetaLabel] = "y"
	f.Columns = []*dataset.Column{
		// train values 1, 2, 4, (missing), 2 -> mean 2.25, median 2, mode 2
		{Name: "age", Kind: dataset.Float, F: []float64{1, 2, 4, nan, 2, 1000, nan}},
		// ints: train 3, (missing), 4, 4, 6 -> mean 4.25, median 4, mode 4
		{Name: "n", Kind: dataset.Int, I: []int64{3, 0, 4, 4, 6, 0, 9}, Valid: []bool{true, false, true, true, true, false, true}},
		// text: train F, M, M, (missing), F -> tie, smallest "F"
		{Name: "sex", Kind: dataset.String, S: []string{"F", "M", "M", "", "F", "M", ""}, Valid: []bool{true, true, true, false, true, true, false}},
		{Name: "y", Kind: dataset.Int, I: []int64{0, 1, 0, 1, 0, 1, 1}, Valid: []bool{true, true, true, true, true, true, false}},
		{Name: dataset.ColSplit, Kind: dataset.String, S: []string{"train", "train", "train", "train", "train", "test", "test"}},
	}
	return f
}

func TestStrategies(t *testing.T) {
	tests := []struct {
		strategy string
		age      float64
		n        any // int64 stays int, float64 makes the column float
		sex      string
	}{
		{Mean, 2.25, 4.25, "F"},
		{Median, 2, int64(4), "F"},
		{MostFrequent, 2, int64(4), "F"},
		{Constant, -1, int64(-1), "unknown"},
	}
	for _, tc := range tests {
		t.Run(tc.strategy, func(t *testing.T) {
			f := sample()
			p, err := Apply(f, Options{Strategy: tc.strategy, FillValue: -1, FillText: "unknown"})
			require.NoError(t, err)
			assert.Equal(t, "train", p.FittedOn)
			age := f.Col("age")
			assert.Nil(t, age.Valid)
			assert.Equal(t, tc.age, age.F[3])
			assert.Equal(t, tc.age, age.F[6])
			assert.Equal(t, 1000.0, age.F[5])
			assert.Equal(t, Filled{Strategy: tc.strategy, Value: tc.age, Filled: 2}, p.Columns["age"])

			n := f.Col("n")
			assert.Nil(t, n.Valid)
			switch want := tc.n.(type) {
			case int64:
				assert.Equal(t, dataset.Int, n.Kind)
				assert.Equal(t, []int64{3, want, 4, 4, 6, want, 9}, n.I)
			case float64:
				assert.Equal(t, dataset.Float, n.Kind)
				assert.Equal(t, []float64{3, want, 4, 4, 6, want, 9}, n.F)
			}
			assert.Equal(t, 2, p.Columns["n"].Filled)

			sex := f.Col("sex")
			assert.Nil(t, sex.Valid)
			assert.Equal(t, tc.sex, sex.S[3])
			assert.Equal(t, tc.sex, sex.S[6])
			if tc.strategy != Constant {
				assert.Equal(t, MostFrequent, p.Columns["sex"].Strategy)
			}
			// The label is a role column and keeps its missing value.
			assert.False(t, f.Col("y").IsValid(6))
			f.Drop("sex") // text would need encoding; every numeric feature is now complete
			_, err = f.Features(nil)
			assert.NoError(t, err)
		})
	}
}

func TestErrorsAndColumns(t *testing.T) {
	f := sample()
	_, err := Apply(f, Options{Strategy: Mean, Columns: []string{"age"}})
	require.NoError(t, err)
	assert.False(t, f.Col("n").IsValid(1), "unlisted column untouched")

	f = sample()
	f.Col("age").F = []float64{math.NaN(), math.NaN(), math.NaN(), math.NaN(), math.NaN(), 1, 2}
	_, err = Apply(f, Options{Strategy: Median})
	assert.ErrorContains(t, err, `column "age" has no values in the 5 train rows`)

	_, err = Apply(sample(), Options{Strategy: Mean, Columns: []string{"y"}})
	assert.ErrorContains(t, err, "role column")
}

func TestHelpers(t *testing.T) {
	assert.Equal(t, 2.5, median([]float64{4, 1, 2, 3}))
	assert.Equal(t, 3.0, median([]float64{5, 3, 1}))
	assert.Equal(t, 1.0, modeFloat([]float64{3, 1, 3, 1, 2}))
	assert.Equal(t, "9", modeText([]string{"10", "9", "10", "9"}))
	assert.Equal(t, "a", modeText([]string{"b", "a"}))
}

func TestStageRun(t *testing.T) {
	in := t.TempDir()
	f := sample()
	f.Drop("sex")
	require.NoError(t, f.WriteFile(filepath.Join(in, contract.DataFile)))
	cfg, issues := contract.Check(Fields, map[string]any{"strategy": "median"})
	require.Empty(t, issues)
	st, err := New(cfg)
	require.NoError(t, err)
	env := contract.NewEnv(nil)
	env.StageID, env.OutDir = "impute", t.TempDir()
	env.Inputs = []contract.Input{{StageID: "split", Type: contract.Table, Port: "data", Dir: in}}
	require.NoError(t, st.Run(context.Background(), env))
	out, err := dataset.ReadFile(env.Out(contract.DataFile))
	require.NoError(t, err)
	m, err := out.Features(nil)
	require.NoError(t, err)
	assert.Equal(t, 7, m.N)
	var p Params
	b, err := os.ReadFile(env.Out(tab.ParamsFile))
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(b, &p))
	assert.Equal(t, 2.0, p.Columns["age"].Value)
	assert.Equal(t, 4, env.Metrics()["imputed_cells"])
}
