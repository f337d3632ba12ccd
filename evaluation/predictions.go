package evaluation

import (
	"fmt"
	"path/filepath"

	"github.com/biopipe/biopipe/contract"
	"github.com/biopipe/biopipe/dataset"
)

// SplitPredictions are the rows of one split of an evaluation's predictions.arrow, in file
// order: for classification the class index of each label (in classes' order) and each
// row's class probabilities (the prob_<class> columns); for regression the target and the
// predicted value.
type SplitPredictions struct {
	Truth  []int
	Probs  [][]float64
	Target []float64
	Value  []float64
}

// Len is the number of rows.
func (p *SplitPredictions) Len() int { return len(p.Truth) + len(p.Target) }

// ReadSplitPredictions reads the rows of split from dir/predictions.arrow (an evaluate
// artifact) for a task ("classification" or "regression") and its classes. Errors name the
// file, and the row for a label that is not one of classes.
func ReadSplitPredictions(dir, split, task string, classes []string) (*SplitPredictions, error) {
	path := filepath.Join(dir, contract.PredictionsFile)
	f, err := dataset.ReadFile(path)
	if err != nil {
		return nil, err
	}
	sc, label, pred := f.Col(dataset.ColSplit), f.Col("label"), f.Col("prediction")
	if sc == nil || label == nil || pred == nil {
		return nil, fmt.Errorf("%s: want columns split, label and prediction", path)
	}
	out := &SplitPredictions{}
	index := map[string]int{}
	var pcols []*dataset.Column
	if task == "classification" {
		for i, c := range classes {
			index[c] = i
			col := f.Col("prob_" + c)
			if col == nil {
				return nil, fmt.Errorf("%s: no column prob_%s", path, c)
			}
			pcols = append(pcols, col)
		}
	}
	for i := 0; i < f.NumRows(); i++ {
		if sc.S[i] != split {
			continue
		}
		switch task {
		case "regression":
			out.Target = append(out.Target, label.Float64(i))
			out.Value = append(out.Value, pred.Float64(i))
		case "classification":
			k, ok := index[label.Text(i)]
			if !ok {
				return nil, fmt.Errorf("%s: row %d: label %q is not a class", path, i, label.Text(i))
			}
			row := make([]float64, len(pcols))
			for c, col := range pcols {
				row[c] = col.F[i]
			}
			out.Truth, out.Probs = append(out.Truth, k), append(out.Probs, row)
		default:
			return nil, fmt.Errorf("%s: task %q has no pooled predictions", path, task)
		}
	}
	return out, nil
}
