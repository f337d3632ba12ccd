package volumes

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/biopipe/biopipe/contract"
	"github.com/biopipe/biopipe/io/nifti"
	"github.com/biopipe/biopipe/stages/ingest/internal/files"
)

var volumes = filepath.Join("..", "..", "..", "testdata", "volumes")

func opts(path string) Options {
	return Options{Path: path, Canonical: true, Normalize: NormZScore, MissingLabel: "error",
		Labels: files.Labels{From: files.LabelFolder, Key: "file", Column: "label"}}
}

// The committed synthetic set: every volume lands on one grid whatever its stored spacing and
// orientation, and its mask covers the bright object.
func TestSyntheticSetWithMasks(t *testing.T) {
	o := opts(filepath.Join(volumes, "images"))
	o.Masks = filepath.Join(volumes, "masks")
	o.Spacing, o.Shape = []float64{2, 2, 2}, []int{16, 16, 16}
	f, sum, err := Read(context.Background(), o)
	require.NoError(t, err)
	assert.Equal(t, 80, sum.Volumes)
	assert.Equal(t, 80, sum.Masks)
	assert.Equal(t, []int{16, 16, 16, 1}, sum.Shape)
	assert.Equal(t, []string{"cube", "sphere"}, f.Classes())
	assert.Len(t, sum.Orientations, 3, "RAS, LAS and LPS files")
	assert.Equal(t, []float64{0, 1}, sum.MaskLabels)
	assert.Contains(t, f.RoleColumns(), ColMask)
	feats, err := f.FeatureColumns()
	require.NoError(t, err)
	require.Len(t, feats, 1, "the mask is not a feature")
	x, m := f.Col("x"), f.Col(ColMask)
	for r := range f.NumRows() {
		var in, out, nin, nout float64
		for i, v := range x.Row(r) {
			if m.Row(r)[i] == 1 {
				in += float64(v)
				nin++
			} else {
				out += float64(v)
				nout++
			}
		}
		require.Greater(t, nin, 10.0, "row %d: the object survives resampling", r)
		assert.Greater(t, in/nin-out/nout, 2.0, "row %d (%s): the mask covers the bright object", r, f.Col(ColFile).S[r])
	}
}

// A marker written at the file's first x voxel of an LAS volume (the right-most one) ends at
// the last x index after reorientation to RAS; resampling halves the grid; crop/pad centres.
func TestCanonicalResampleCropPad(t *testing.T) {
	dir := t.TempDir()
	n := 8
	data := make([]float32, n*n*n)
	data[0+n*(3+n*5)] = 100 // i=0, j=3, k=5
	las := nifti.Affine{{-1, 0, 0, 0}, {0, 1, 0, 0}, {0, 0, 1, 0}, {0, 0, 0, 1}}
	require.NoError(t, os.MkdirAll(filepath.Join(dir, "a"), 0o755))
	require.NoError(t, nifti.Write(filepath.Join(dir, "a", "v.nii"), []int{n, n, n}, data, las, nifti.WriteOptions{}))
	o := opts(dir)
	o.Normalize = NormNone
	f, _, err := Read(context.Background(), o)
	require.NoError(t, err)
	x := f.Col("x")
	assert.Equal(t, []int{8, 8, 8, 1}, x.Shape)
	// Row-major [z][y][x]: z=5, y=3, x=7.
	assert.Equal(t, float32(100), x.T[(5*8+3)*8+7])

	o.Canonical = false
	f, _, err = Read(context.Background(), o)
	require.NoError(t, err)
	assert.Equal(t, float32(100), f.Col("x").T[(5*8+3)*8+0], "without canonical: the file's order")

	o.Canonical, o.Spacing, o.Shape = true, []float64{2, 2, 2}, []int{6, 4, 4}
	o.Normalize = NormMinMax
	f, _, err = Read(context.Background(), o)
	require.NoError(t, err)
	assert.Equal(t, []int{4, 4, 6, 1}, f.Col("x").Shape, "[z, y, x, 1] after 2 mm resampling (4^3) and padding x to 6")
	v := f.Col("x").T
	assert.Equal(t, float32(1), maxOf(v))
	assert.Equal(t, float32(0), minOf(v))
}

func maxOf(v []float32) float32 {
	m := v[0]
	for _, x := range v {
		m = max(m, x)
	}
	return m
}

func minOf(v []float32) float32 {
	m := v[0]
	for _, x := range v {
		m = min(m, x)
	}
	return m
}

func TestErrors(t *testing.T) {
	dir := t.TempDir()
	aff := nifti.Affine{{1, 0, 0, 0}, {0, 1, 0, 0}, {0, 0, 1, 0}, {0, 0, 0, 1}}
	require.NoError(t, os.MkdirAll(filepath.Join(dir, "a"), 0o755))
	require.NoError(t, nifti.Write(filepath.Join(dir, "a", "small.nii"), []int{4, 4, 4}, make([]float32, 64), aff, nifti.WriteOptions{}))
	require.NoError(t, nifti.Write(filepath.Join(dir, "a", "big.nii"), []int{5, 4, 4}, make([]float32, 80), aff, nifti.WriteOptions{}))
	require.NoError(t, nifti.Write(filepath.Join(dir, "loose.nii"), []int{4, 4, 4}, make([]float32, 64), aff, nifti.WriteOptions{}))
	_, _, err := Read(context.Background(), opts(dir))
	assert.ErrorContains(t, err, "loose.nii: no label (it is not inside a class_name/ folder under path")
	o := opts(dir)
	o.MissingLabel = "drop"
	_, _, err = Read(context.Background(), o)
	assert.ErrorContains(t, err, "small.nii: volume is [4 4 4] voxels (x, y, z) after resampling, but a/big.nii is [5 4 4]; set shape: to crop/pad")
	o.Shape = []int{4, 4, 4}
	f, sum, err := Read(context.Background(), o)
	require.NoError(t, err)
	assert.Equal(t, 2, f.NumRows())
	assert.Equal(t, 1, sum.MissingDropped)

	k, err := contract.Default.Get(KindName)
	require.NoError(t, err)
	for _, tt := range []struct {
		raw  map[string]any
		want string
	}{
		{map[string]any{"path": "x", "spacing": []any{1, 1}}, "give [x, y, z]"},
		{map[string]any{"path": "x", "clip": []any{5, 1}}, "lo < hi"},
		{map[string]any{"path": "x", "label_from": "csv"}, "needs the labels file"},
	} {
		cfg, issues := contract.Check(k.Fields, tt.raw)
		require.Empty(t, issues)
		_, err := k.New(cfg)
		assert.ErrorContains(t, err, tt.want)
	}
}
