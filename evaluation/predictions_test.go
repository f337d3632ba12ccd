package evaluation

import (
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/biopipe/biopipe/contract"
	"github.com/biopipe/biopipe/dataset"
)

func TestReadSplitPredictions(t *testing.T) {
	dir := t.TempDir()
	f := dataset.New()
	f.Set(&dataset.Column{Name: dataset.ColSplit, Kind: dataset.String, S: []string{"train", "test", "test", "val"}})
	f.Set(&dataset.Column{Name: "label", Kind: dataset.String, S: []string{"a", "b", "a", "b"}})
	f.Set(&dataset.Column{Name: "prediction", Kind: dataset.String, S: []string{"a", "b", "b", "b"}})
	f.Set(&dataset.Column{Name: "prob_a", Kind: dataset.Float, F: []float64{0.9, 0.2, 0.4, 0.1}})
	f.Set(&dataset.Column{Name: "prob_b", Kind: dataset.Float, F: []float64{0.1, 0.8, 0.6, 0.9}})
	require.NoError(t, f.WriteFile(filepath.Join(dir, contract.PredictionsFile)))

	p, err := ReadSplitPredictions(dir, "test", "classification", []string{"a", "b"})
	require.NoError(t, err)
	assert.Equal(t, []int{1, 0}, p.Truth)
	assert.Equal(t, [][]float64{{0.2, 0.8}, {0.4, 0.6}}, p.Probs)
	assert.Equal(t, 2, p.Len())

	_, err = ReadSplitPredictions(dir, "test", "classification", []string{"a", "c"})
	assert.ErrorContains(t, err, "predictions.arrow: no column prob_c")
	_, err = ReadSplitPredictions(dir, "test", "classification", []string{"b"})
	assert.ErrorContains(t, err, `predictions.arrow: row 2: label "a" is not a class`)

	r := dataset.New()
	r.Set(&dataset.Column{Name: dataset.ColSplit, Kind: dataset.String, S: []string{"test", "train", "test"}})
	r.Set(&dataset.Column{Name: "label", Kind: dataset.Float, F: []float64{1.5, 2, 3}})
	r.Set(&dataset.Column{Name: "prediction", Kind: dataset.Float, F: []float64{1, 2, 2.5}})
	rdir := t.TempDir()
	require.NoError(t, r.WriteFile(filepath.Join(rdir, contract.PredictionsFile)))
	p, err = ReadSplitPredictions(rdir, "test", "regression", nil)
	require.NoError(t, err)
	assert.Equal(t, []float64{1.5, 3}, p.Target)
	assert.Equal(t, []float64{1, 2.5}, p.Value)
}
