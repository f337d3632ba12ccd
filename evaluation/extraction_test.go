package evaluation

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/biopipe/biopipe/dataset"
)

// TestEvaluateExtraction scores a hand-made table whose figures are worked out below.
func TestEvaluateExtraction(t *testing.T) {
	f := dataset.New()
	f.Columns = []*dataset.Column{
		{Name: "smoker", Kind: dataset.String, S: []string{"never", "former", "", "current", "Former"}, Valid: []bool{true, true, false, true, true},
			Meta: map[string]string{MetaExtractType: "enum", MetaExtractLabel: "smoker_true"}},
		{Name: "smoker_true", Kind: dataset.String, S: []string{"never", "current", "", "current", "former"}},
		{Name: "pack", Kind: dataset.Float, F: []float64{10, 20.4, 0, 5, 0}, Valid: []bool{true, true, false, true, false},
			Meta: map[string]string{MetaExtractType: "float", MetaExtractLabel: "pack_true", MetaExtractTol: "0.5"}},
		{Name: "pack_true", Kind: dataset.String, S: []string{"10", "20", "", "7", "3"}},
		{Name: "meta", Kind: dataset.Int, I: []int64{1, 0, 1, 0, 0}, Valid: []bool{true, true, true, true, false},
			Meta: map[string]string{MetaExtractType: "bool", MetaExtractLabel: "meta_true"}},
		{Name: "meta_true", Kind: dataset.String, S: []string{"true", "false", "false", "true", "false"}},
		{Name: "note_len", Kind: dataset.Int, I: []int64{1, 2, 3, 4, 5}, Meta: map[string]string{MetaExtractType: "int"}},
	}
	res, err := EvaluateExtraction(f)
	require.NoError(t, err)
	assert.Equal(t, TaskExtraction, res.Task)
	assert.Equal(t, []string{"note_len"}, res.Unlabelled)

	// smoker: rows 0, 2 (both null), 3, 4 (case) agree: 4/5. Classes of the label: "", current,
	// former, never: F1 = 1 (""), 2/3 (current: tp 1, fp 0, fn 1), 2/3 (former: tp 1, fp 1, fn 0), 1 (never).
	s := res.Fields["smoker"]
	assert.InDelta(t, 0.8, s.Accuracy, 1e-12)
	assert.InDelta(t, (1+2.0/3+2.0/3+1)/4, *s.F1, 1e-12)
	assert.Equal(t, 4, s.Stated)
	assert.Equal(t, 4, s.Labelled)
	// pack: row 0 exact, row 1 within 0.5, row 2 both null, row 3 off by 2, row 4 not extracted: 3/5.
	p := res.Fields["pack"]
	assert.InDelta(t, 0.6, p.Accuracy, 1e-12)
	assert.InDelta(t, (0+0.4+2)/3, *p.MAE, 1e-9)
	assert.Nil(t, p.F1)
	// meta: rows 0 and 1 agree; row 4 is null against false, a miss: 2/5.
	m := res.Fields["meta"]
	assert.InDelta(t, 0.4, m.Accuracy, 1e-12)
	// F1 of true: tp 1 (row 0), fp 1 (row 2), fn 1 (row 3) -> 2/4.
	assert.InDelta(t, 0.5, *m.F1, 1e-12)
	assert.InDelta(t, (0.8+0.6+0.4)/3, res.MeanAccuracy, 1e-12)

	f.Columns = f.Columns[6:]
	_, err = EvaluateExtraction(f)
	assert.ErrorContains(t, err, "no extracted column has a labelled column")
}
