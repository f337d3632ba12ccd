package expression

import (
	"fmt"
	"sort"

	"gonum.org/v1/plot/vg"

	"github.com/biopipe/biopipe/contract"
	"github.com/biopipe/biopipe/dataset"
	"github.com/biopipe/biopipe/plots"
)

// Figure is an entry of summary.json's "figures" list, which reports pick up.
type Figure = contract.SummaryFigure

// pcaScatter draws PC1 against PC2 coloured by the label (or the split when there is no
// categorical label).
func pcaScatter(f *dataset.Frame, scores []float32, k int, s *ReduceSummary) ([]byte, string, error) {
	n := f.NumRows()
	var key *dataset.Column
	what := ""
	if lc := f.Label(); lc != nil && f.Meta[dataset.MetaTask] != "regression" {
		key, what = lc, lc.Name
	} else if sc := f.Split(); sc != nil {
		key, what = sc, "split"
	}
	groups := map[string][]int{}
	var names []string
	for r := range n {
		g := "all"
		if key != nil {
			g = key.Text(r)
		}
		if _, ok := groups[g]; !ok {
			names = append(names, g)
		}
		groups[g] = append(groups[g], r)
	}
	sort.Strings(names)
	pg := make([]plots.Group, len(names))
	for i, name := range names {
		pg[i].Name = name
		for _, r := range groups[name] {
			pg[i].X = append(pg[i].X, float64(scores[r*k]))
			pg[i].Y = append(pg[i].Y, float64(scores[r*k+1]))
		}
	}
	b, err := plots.GroupScatter("PCA", fmt.Sprintf("PC1 (%.1f%%)", 100*s.ExplainedRatio[0]),
		fmt.Sprintf("PC2 (%.1f%%)", 100*s.ExplainedRatio[1]), pg, vg.Points(1.8))
	if err != nil {
		return nil, "", err
	}
	caption := fmt.Sprintf("Every sample on the first two principal components (fitted on the %s rows)", s.FitOn)
	if what != "" {
		caption += ", coloured by " + what
	}
	return b, caption + ".", nil
}

// scree draws the explained variance ratio per component and its cumulative sum.
func scree(s *ReduceSummary) ([]byte, error) {
	x := make([]float64, len(s.ExplainedRatio))
	for i := range x {
		x[i] = float64(i + 1)
	}
	return plots.Lines("Explained variance", "component", "share of variance", []plots.Series{
		{Name: "per component", X: x, Y: s.ExplainedRatio},
		{Name: "cumulative", X: x, Y: s.Cumulative},
	})
}
