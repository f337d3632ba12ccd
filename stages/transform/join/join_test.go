package join

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/biopipe/biopipe/contract"
	"github.com/biopipe/biopipe/dataset"
)

// images: 5 image rows of 3 patients (P3 twice, P4 unknown to the clinic), a 2-value tensor,
// split by patient.
func images() *dataset.Frame {
	f := dataset.New()
	f.Meta[dataset.MetaID], f.Meta[dataset.MetaGroup] = "file", "patient"
	f.Columns = []*dataset.Column{
		{Name: "file", Kind: dataset.String, S: []string{"a.png", "b.png", "c.png", "d.png", "e.png"}},
		{Name: "patient", Kind: dataset.String, S: []string{"P1", "P2", "P3", "P3", "P4"}},
		{Name: "x", Kind: dataset.Tensor, Shape: []int{2}, T: []float32{1, 1, 2, 2, 3, 3, 4, 4, 5, 5}},
		{Name: dataset.ColSplit, Kind: dataset.String, S: []string{"train", "train", "test", "test", "val"}},
	}
	return f
}

// clinic: per-visit rows (P1 twice), the outcome label, an age and a text column.
func clinic() *dataset.Frame {
	f := dataset.New()
	f.Meta[dataset.MetaLabel], f.Meta[dataset.MetaTask], f.Meta[dataset.MetaID] = "outcome", "classification", "visit"
	f.SetClasses([]string{"no", "yes"})
	f.Columns = []*dataset.Column{
		{Name: "visit", Kind: dataset.String, S: []string{"v1", "v2", "v3", "v4", "v5"}},
		{Name: "patient", Kind: dataset.String, S: []string{"P1", "P1", "P2", "P3", "P9"}},
		{Name: "age", Kind: dataset.Int, I: []int64{60, 62, 50, 70, 30}},
		{Name: "bmi", Kind: dataset.Float, F: []float64{20, 30, 25, 22, 19}, Valid: []bool{true, true, true, false, true}},
		{Name: "outcome", Kind: dataset.String, S: []string{"yes", "yes", "no", "yes", "no"}},
	}
	return f
}

func TestJoinVariants(t *testing.T) {
	tests := []struct {
		name    string
		o       Options
		files   []string
		age     any
		bmiNull []bool
	}{
		{"inner first", Options{On: "patient", How: Inner, Many: First}, []string{"a.png", "b.png", "c.png", "d.png"}, []int64{60, 50, 70, 70}, []bool{true, true, false, false}},
		{"inner mean", Options{On: "patient", How: Inner, Many: Mean}, []string{"a.png", "b.png", "c.png", "d.png"}, []float64{61, 50, 70, 70}, []bool{true, true, false, false}},
		{"inner all", Options{On: "patient", How: Inner, Many: All}, []string{"a.png", "a.png", "b.png", "c.png", "d.png"}, []int64{60, 62, 50, 70, 70}, []bool{true, true, true, false, false}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, sum, err := Join(images(), clinic(), tt.o)
			require.NoError(t, err)
			assert.Equal(t, tt.files, out.Col("file").S)
			switch want := tt.age.(type) {
			case []int64:
				assert.Equal(t, want, out.Col("age").I)
			case []float64:
				assert.Equal(t, want, out.Col("age").F)
			}
			bmi := out.Col("bmi")
			for i, ok := range tt.bmiNull {
				assert.Equal(t, ok, bmi.IsValid(i), "bmi row %d", i)
			}
			assert.Equal(t, "outcome", out.Meta[dataset.MetaLabel], "the right's label comes along: the left has none")
			assert.Equal(t, []string{"no", "yes"}, out.Classes())
			assert.Equal(t, "patient", out.Meta[dataset.MetaGroup])
			assert.Nil(t, out.Col("visit"), "the right's id is left out")
			assert.Equal(t, 1, sum.LeftUnmatched, "P4")
			assert.Equal(t, 1, sum.RightKeysUnused, "P9")
			assert.Equal(t, 1, sum.KeysWithMany, "P1")
			assert.Equal(t, "left", sum.SplitFrom)
			_, err = out.FeatureColumns()
			require.NoError(t, err)
		})
	}
	if out, _, err := Join(images(), clinic(), Options{On: "patient", How: Inner, Many: Mean}); assert.NoError(t, err) {
		assert.InDelta(t, 25.0, out.Col("bmi").F[0], 1e-12, "mean of P1's 20 and 30")
	}
}

func TestLeftJoinAndSplits(t *testing.T) {
	// Left join with a label from the right: P4 has no outcome -> an error.
	_, _, err := Join(images(), clinic(), Options{On: "patient", How: Left})
	assert.ErrorContains(t, err, "use how: inner")
	// Left join keeps unmatched rows with missing right values when the label is the left's.
	cl := clinic()
	cl.Meta[dataset.MetaLabel] = ""
	im := images()
	im.Meta[dataset.MetaLabel] = "file" // any left label
	out, _, err := Join(im, cl, Options{On: "patient", How: Left})
	require.NoError(t, err)
	assert.Equal(t, 5, out.NumRows())
	assert.False(t, out.Col("age").IsValid(4))
	assert.Equal(t, "no", out.Col("outcome").S[1], "a plain column now")

	// A split that puts one patient on both sides is an error.
	bad := images()
	bad.Col(dataset.ColSplit).S[3] = "train"
	_, _, err = Join(bad, clinic(), Options{On: "patient"})
	assert.ErrorContains(t, err, `patient "P3" is in both "test" and "train" after the join`)

	// Only the right table is split: each key takes the right's split.
	noSplit := images()
	noSplit.Drop(dataset.ColSplit)
	right := clinic()
	right.Columns = append(right.Columns, &dataset.Column{Name: dataset.ColSplit, Kind: dataset.String, S: []string{"train", "train", "val", "test", "test"}})
	out, sum, err := Join(noSplit, right, Options{On: "patient", Many: First})
	require.NoError(t, err)
	assert.Equal(t, "right", sum.SplitFrom)
	assert.Equal(t, []string{"train", "val", "test", "test"}, out.Col(dataset.ColSplit).S)
	right.Col(dataset.ColSplit).S[1] = "test"
	_, _, err = Join(noSplit, right, Options{On: "patient", Many: All})
	assert.ErrorContains(t, err, `patient "P1" is in both`)

	_, _, err = Join(images(), clinic(), Options{On: "patiant"})
	assert.ErrorContains(t, err, `on: the left table has no column "patiant" (did you mean "patient"?)`)
}

func TestStageRunsWithTwoPorts(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, f *dataset.Frame) string {
		d := filepath.Join(dir, name)
		require.NoError(t, mkdir(d))
		require.NoError(t, f.WriteFile(filepath.Join(d, contract.DataFile)))
		return d
	}
	l, r := write("l", images()), write("r", clinic())
	k, err := contract.Default.Get(KindName)
	require.NoError(t, err)
	cfg, issues := contract.Check(k.Fields, map[string]any{"on": "patient", "many": "mean"})
	require.Empty(t, issues)
	st, err := k.New(cfg)
	require.NoError(t, err)
	env := contract.NewEnv(nil)
	env.StageID, env.OutDir = "join", t.TempDir()
	env.Inputs = []contract.Input{{StageID: "images", Port: PortLeft, Type: contract.Table, Dir: l}, {StageID: "clinic", Port: PortRight, Type: contract.Table, Dir: r}}
	require.NoError(t, st.Run(context.Background(), env))
	out, err := dataset.ReadFile(filepath.Join(env.OutDir, contract.DataFile))
	require.NoError(t, err)
	assert.Equal(t, 4, out.NumRows())
	assert.Equal(t, []float64{61, 50, 70, 70}, out.Col("age").F)
	assert.Equal(t, []float32{1, 1, 2, 2, 3, 3, 4, 4}, out.Col("x").T)
}

func mkdir(d string) error { return os.MkdirAll(d, 0o755) }
