package subset

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/biopipe/biopipe/dataset"
)

func frame() *dataset.Frame {
	f := dataset.New()
	y := &dataset.Column{Name: "y", Kind: dataset.Int}
	s := &dataset.Column{Name: dataset.ColSplit, Kind: dataset.String}
	id := &dataset.Column{Name: "id", Kind: dataset.String}
	for i := range 200 {
		y.I = append(y.I, int64(i%4))
		s.S = append(s.S, []string{"train", "train", "train", "val", "test"}[i%5])
		id.S = append(id.S, fmt.Sprint(i))
	}
	f.Columns = []*dataset.Column{y, s, id}
	f.Meta[dataset.MetaLabel] = "y"
	f.SetClasses([]string{"0", "1", "2", "3"})
	return f
}

func TestSubset(t *testing.T) {
	out, p, err := Apply(frame(), []string{"3", "1"}, 0.1, []string{"train"}, 7)
	require.NoError(t, err)
	assert.Equal(t, []string{"3", "1"}, out.Classes(), "the given classes, in their order")
	// Per class: 30 train rows -> 3 kept; 10 val and 10 test rows all kept.
	assert.Equal(t, map[string]map[string]int{"train": {"1": 3, "3": 3}, "val": {"1": 10, "3": 10}, "test": {"1": 10, "3": 10}}, p.Kept)
	assert.Equal(t, 46, out.NumRows())
	cls, _, err := out.Labels(nil)
	require.NoError(t, err)
	for i, c := range cls {
		assert.Equal(t, map[int64]int{3: 0, 1: 1}[out.Col("y").I[i]], c)
	}
	again, _, err := Apply(frame(), []string{"3", "1"}, 0.1, []string{"train"}, 7)
	require.NoError(t, err)
	assert.Equal(t, out.Col("id").S, again.Col("id").S, "the same seed keeps the same rows")
	other, _, err := Apply(frame(), []string{"3", "1"}, 0.1, []string{"train"}, 8)
	require.NoError(t, err)
	assert.NotEqual(t, out.Col("id").S, other.Col("id").S)

	_, _, err = Apply(frame(), []string{"7"}, 1, nil, 1)
	assert.ErrorContains(t, err, `class "7" is not one of the table's classes 0, 1, 2, 3`)
}

func TestKeepColumns(t *testing.T) {
	withFeatures := func() *dataset.Frame {
		f := frame()
		f.Meta[dataset.MetaID] = "id"
		n := f.NumRows()
		f.Set(&dataset.Column{Name: "image", Kind: dataset.Tensor, Shape: []int{2, 2, 1}, T: make([]float32, 4*n)})
		f.Set(&dataset.Column{Name: "age", Kind: dataset.Float, F: make([]float64, n)})
		f.Set(&dataset.Column{Name: "marker", Kind: dataset.Float, F: make([]float64, n)})
		return f
	}
	for _, tc := range []struct {
		keep []string
		want []string
		err  string
	}{
		{keep: []string{"image"}, want: []string{"y", "split", "id", "image"}},
		{keep: []string{"marker", "age"}, want: []string{"y", "split", "id", "age", "marker"}},
		{keep: []string{"imgae"}, err: `"imgae" is not a feature column of the table (feature columns: image, age, marker) (did you mean "image"?)`},
		{keep: []string{"id"}, err: `"id" is a role column`},
	} {
		f := withFeatures()
		err := KeepColumns(f, tc.keep)
		if tc.err != "" {
			assert.ErrorContains(t, err, tc.err)
			continue
		}
		require.NoError(t, err)
		assert.Equal(t, tc.want, f.Names())
		cols, err := f.FeatureColumns()
		require.NoError(t, err)
		assert.Len(t, cols, len(tc.keep))
	}
}
