package evaluate

import (
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/biopipe/biopipe/dataset"
	"github.com/biopipe/biopipe/evaluation"
	"github.com/biopipe/biopipe/io/nifti"
)

func TestWriteMaskVolumes(t *testing.T) {
	// Two rows on a [z=2, y=3, x=4] grid with 2 mm voxels, LPS-flipped x, shifted origin.
	aff := nifti.Affine{{-2, 0, 0, 10}, {0, 2, 0, -3}, {0, 0, 2, 5}, {0, 0, 0, 1}}
	f := dataset.New()
	f.Meta[dataset.MetaID] = "file"
	ids := &dataset.Column{Name: "file", Kind: dataset.String, S: []string{"sphere/case00.nii.gz", "cube/case01.nii"}}
	ac := &dataset.Column{Name: "affine", Kind: dataset.Tensor, Shape: []int{4, 4}, Meta: map[string]string{dataset.MetaRole: dataset.RoleAffine}}
	for range 2 {
		for r := range 4 {
			for c := range 4 {
				ac.T = append(ac.T, float32(aff[r][c]))
			}
		}
	}
	f.Columns = []*dataset.Column{ids, ac}
	labels := make([]float32, 24)
	for v := range labels {
		labels[v] = float32(v % 3)
	}
	res := &evaluation.Result{Splits: []string{"test"}}
	preds := map[string]*evaluation.Predictions{"test": {Rows: []int{1}}}
	segs := map[string]*segPrediction{"test": {spatial: []int{2, 3, 4}, labels: [][]float32{labels}}}
	dir := t.TempDir()
	n, why, err := writeMaskVolumes(dir, f, res, preds, segs)
	require.NoError(t, err)
	require.Empty(t, why)
	assert.Equal(t, 1, n)
	im, err := nifti.Read(filepath.Join(dir, MaskDir, "test", "cube", "case01.nii.gz"))
	require.NoError(t, err)
	assert.Equal(t, []int{4, 3, 2}, im.Shape) // x, y, z
	assert.Equal(t, labels, im.Data)
	for r := range 3 {
		for c := range 4 {
			assert.InDelta(t, aff[r][c], im.Affine[r][c], 1e-5)
		}
	}

	// Without an affine column: nothing written, and why.
	f.Columns = []*dataset.Column{ids}
	n, why, err = writeMaskVolumes(t.TempDir(), f, res, preds, segs)
	require.NoError(t, err)
	assert.Zero(t, n)
	assert.Contains(t, why, "no affine column")

	// An id escaping the folder is refused.
	ids.S[1] = "../../etc/x.nii"
	f.Columns = []*dataset.Column{ids, ac}
	_, _, err = writeMaskVolumes(t.TempDir(), f, res, preds, segs)
	assert.ErrorContains(t, err, `id "../../etc/x.nii" is not a relative file path`)
}
