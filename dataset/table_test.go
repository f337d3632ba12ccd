package dataset

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// mixedFrame has every column kind: two numeric features (one with a missing value in a
// role-free row), a tensor, a string label, a group with nulls and a split.
func mixedFrame(n int, tensor bool, seed uint64) *Frame {
	r := rand.New(rand.NewPCG(seed, 1))
	f := New()
	label := &Column{Name: "dx", Kind: String}
	group := &Column{Name: "patient", Kind: String, Valid: make([]bool, n)}
	split := &Column{Name: ColSplit, Kind: String}
	a := &Column{Name: "age", Kind: Float}
	b := &Column{Name: "count", Kind: Int}
	x := &Column{Name: "img", Kind: Tensor, Shape: []int{2, 3}}
	for i := range n {
		label.S = append(label.S, []string{"no", "yes"}[i%2])
		group.S = append(group.S, fmt.Sprintf("p%d", i/3))
		group.Valid[i] = i%7 != 0
		split.S = append(split.S, []string{"train", "val", "test"}[i%3])
		a.F = append(a.F, r.NormFloat64())
		b.I = append(b.I, int64(r.IntN(100)))
		for range 6 {
			x.T = append(x.T, r.Float32())
		}
	}
	if tensor {
		f.Columns = []*Column{x, label, group, split}
	} else {
		f.Columns = []*Column{a, b, label, group, split}
	}
	f.Meta[MetaLabel], f.Meta[MetaGroup], f.Meta[MetaTask] = "dx", "patient", "classification"
	f.SetClasses([]string{"no", "yes"})
	return f
}

func TestWriteFileBatchedRoundTrips(t *testing.T) {
	for _, tc := range []struct {
		name          string
		n, perBatch   int
		tensor        bool
		wantBatches   int
		wantFeatShape []int
	}{
		{"numeric, 3 rows per batch", 10, 3, false, 4, []int{2}},
		{"tensor, 4 rows per batch", 13, 4, true, 4, []int{2, 3}},
		{"one batch", 5, 100, true, 1, []int{2, 3}},
		{"no rows", 0, 3, false, 1, []int{2}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := mixedFrame(tc.n, tc.tensor, 1)
			path := filepath.Join(t.TempDir(), "data.arrow")
			require.NoError(t, f.WriteFileBatched(path, tc.perBatch))
			back, err := ReadFile(path)
			require.NoError(t, err)
			assert.Equal(t, f.Meta, back.Meta)
			require.Len(t, back.Columns, len(f.Columns))
			for i, c := range f.Columns {
				for r := range tc.n {
					assert.Equal(t, c.Text(r), back.Columns[i].Text(r), "column %s row %d", c.Name, r)
				}
			}

			tbl, err := OpenTable(path)
			require.NoError(t, err)
			defer tbl.Close()
			assert.Equal(t, tc.n, tbl.NumRows())
			assert.Equal(t, tc.wantBatches, tbl.NumBatches())
			roles := tbl.Roles()
			assert.Equal(t, []string{"dx", "patient", ColSplit}, roles.Names(), "only the role columns")
			assert.Equal(t, f.SplitRows("train"), roles.SplitRows("train"))
			for r := range tc.n {
				assert.Equal(t, f.Col("patient").Text(r), roles.Col("patient").Text(r))
			}
			wantCls, _, err := f.Labels(nil)
			require.NoError(t, err)
			gotCls, _, err := roles.Labels(nil)
			require.NoError(t, err)
			assert.Equal(t, wantCls, gotCls)

			rows := f.SplitRows("train")
			fs, err := tbl.Features(rows)
			require.NoError(t, err)
			want, err := f.Features(rows)
			require.NoError(t, err)
			assert.Equal(t, want.Shape, fs.M.Shape)
			assert.Equal(t, tc.wantFeatShape, fs.M.Shape)
			assert.Equal(t, want.Names, fs.M.Names)
			assert.Equal(t, want.Columns, fs.M.Columns)
			assert.Equal(t, len(rows), fs.M.N)
			total := 0
			for _, c := range fs.ChunkSizes() {
				total += c
			}
			assert.Equal(t, len(rows), total)

			// Any rows in any order read what Features gives.
			idx := rand.New(rand.NewPCG(2, 3)).Perm(len(rows))
			size := TensorSize(fs.M.Shape)
			got := make([]float32, len(idx)*size)
			require.NoError(t, fs.ReadRows(idx, got))
			for i, k := range idx {
				assert.Equal(t, want.X[k*size:(k+1)*size], got[i*size:(i+1)*size], "row %d", k)
			}
		})
	}
}

func TestFeatureStreamDecodesEachBatchOncePerPass(t *testing.T) {
	f := mixedFrame(40, true, 2)
	path := filepath.Join(t.TempDir(), "data.arrow")
	require.NoError(t, f.WriteFileBatched(path, 5)) // 8 batches
	tbl, err := OpenTable(path)
	require.NoError(t, err)
	defer tbl.Close()
	fs, err := tbl.Features(nil)
	require.NoError(t, err)
	assert.Equal(t, 0, fs.M.N, "no rows")
	all := make([]int, 40)
	for i := range all {
		all[i] = i
	}
	fs, err = tbl.Features(all)
	require.NoError(t, err)
	fs.CacheBatches = 1
	dst := make([]float32, 6)
	for pass := 1; pass <= 2; pass++ {
		for r := range all {
			require.NoError(t, fs.ReadRows([]int{r}, dst))
		}
		assert.Equal(t, 8*pass, fs.Decoded(), "in order, every batch is decoded once per pass")
	}
	assert.ErrorContains(t, fs.ReadRows([]int{40}, dst), "row 40 out of range")
	assert.ErrorContains(t, fs.ReadRows([]int{0, 1}, dst), "6 values to fill for 2 rows of 6")
	_, err = tbl.Features([]int{3, 1})
	assert.ErrorContains(t, err, "ascending")
}

func TestFeatureStreamNamesAMissingValue(t *testing.T) {
	f := mixedFrame(12, false, 3)
	f.Col("age").Valid = make([]bool, 12)
	for i := range 12 {
		f.Col("age").Valid[i] = i != 9
	}
	path := filepath.Join(t.TempDir(), "data.arrow")
	require.NoError(t, f.WriteFileBatched(path, 4))
	tbl, err := OpenTable(path)
	require.NoError(t, err)
	defer tbl.Close()
	fs, err := tbl.Features([]int{0, 9})
	require.NoError(t, err)
	err = fs.ReadRows([]int{1}, make([]float32, 2))
	assert.ErrorContains(t, err, "data.arrow: record batch 2 (rows 8-11)")
	assert.ErrorContains(t, err, `feature "age" is missing in row 1`)
}

func TestTableWriter(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "data.arrow")
	w, err := CreateTable(path)
	require.NoError(t, err)
	require.NoError(t, w.Write(mixedFrame(6, true, 1)))
	require.NoError(t, w.Write(mixedFrame(4, true, 2)))
	other := mixedFrame(3, false, 3)
	assert.ErrorContains(t, w.Write(other), "schema differs from the first batch's")
	_, err = os.Stat(path)
	assert.True(t, os.IsNotExist(err), "nothing at the path before Close")
	require.NoError(t, w.Close())
	tbl, err := OpenTable(path)
	require.NoError(t, err)
	defer tbl.Close()
	assert.Equal(t, 10, tbl.NumRows())
	assert.Equal(t, 2, tbl.NumBatches())

	empty := filepath.Join(dir, "empty.arrow")
	w, err = CreateTable(empty)
	require.NoError(t, err)
	assert.ErrorContains(t, w.Close(), "no rows written")
	ents, err := os.ReadDir(dir)
	require.NoError(t, err)
	assert.Len(t, ents, 1, "the aborted temporary is removed")
}

// A frame up to MaxRecordBatchBytes is one record batch, as before streaming existed.
func TestWriteFileOneBatchWhenSmall(t *testing.T) {
	f := mixedFrame(100, true, 4)
	assert.Greater(t, MaxRecordBatchBytes/f.rowBytes(), 100)
	path := filepath.Join(t.TempDir(), "data.arrow")
	require.NoError(t, f.WriteFile(path))
	tbl, err := OpenTable(path)
	require.NoError(t, err)
	defer tbl.Close()
	assert.Equal(t, 1, tbl.NumBatches())
}
