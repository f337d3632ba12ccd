package embed

import (
	"fmt"
	"sort"

	"gonum.org/v1/plot/vg"

	"github.com/biopipe/biopipe/dataset"
	"github.com/biopipe/biopipe/plots"
)

// scatter draws the 2-D view of the embedding coloured by label and fills the plot fields
// of sum.
func (s *Stage) scatter(f *dataset.Frame, sum *Summary) ([]byte, error) {
	mode := s.Plot
	if mode == PlotAuto {
		mode = PlotLatent
		if sum.Dims > 2 {
			mode = PlotPCA
		}
	}
	z := matrix(f, sum.Columns)
	fit := f.SplitRows(dataset.Train)
	fitOn := "the train split"
	if f.Split() == nil || len(fit) < 2 {
		fit = fit[:0]
		for i := 0; i < f.NumRows(); i++ {
			fit = append(fit, i)
		}
		fitOn = "all rows"
	}
	x, y, explained, err := project(z, mode, fit)
	if err != nil {
		return nil, err
	}
	rows := subsample(f.NumRows(), s.MaxPoints)
	groups, names := colourGroups(f, rows)

	var title, xl, yl string
	switch {
	case mode == PlotPCA:
		title = fmt.Sprintf("PCA of the %s (%s, %d dims)", sum.Output, sum.Model, sum.Dims)
		xl, yl = "PC1", "PC2"
		if len(explained) == 2 {
			xl = fmt.Sprintf("PC1 (%.1f%%)", 100*explained[0])
			yl = fmt.Sprintf("PC2 (%.1f%%)", 100*explained[1])
		}
	default:
		title = fmt.Sprintf("%s of the %s model", sum.Output, sum.Model)
		xl, yl = sum.Columns[0]+" [0]", "[1]"
		if len(sum.Columns) >= 2 {
			xl, yl = sum.Columns[0], sum.Columns[1]
		}
	}
	radius := vg.Points(2)
	if len(rows) > 2000 {
		radius = vg.Points(1.2)
	}
	pg := make([]plots.Group, len(groups))
	for k, idx := range groups {
		pg[k].Name = names[k]
		for _, r := range idx {
			pg[k].X = append(pg[k].X, x[r])
			pg[k].Y = append(pg[k].Y, y[r])
		}
	}
	png, err := plots.GroupScatter(title, xl, yl, pg, radius)
	if err != nil {
		return nil, fmt.Errorf("scatter: %w", err)
	}

	sum.Plot, sum.Plotted, sum.Explained = mode, len(rows), explained
	caption := fmt.Sprintf("Each point is one of %d rows", len(rows))
	if len(rows) < f.NumRows() {
		caption = fmt.Sprintf("An even subsample of %d of the %d rows", len(rows), f.NumRows())
	}
	if lc := f.Label(); lc != nil {
		caption += fmt.Sprintf(", coloured by %s", lc.Name)
	}
	switch mode {
	case PlotPCA:
		caption += fmt.Sprintf("; axes: the first two principal components of the %d-dimensional %s, fitted on %s", sum.Dims, sum.Output, fitOn)
		if len(explained) == 2 {
			caption += fmt.Sprintf(" (%.1f%% and %.1f%% of its variance)", 100*explained[0], 100*explained[1])
		}
	default:
		caption += fmt.Sprintf("; axes: the first two dimensions of the %s", sum.Output)
	}
	caption += "; train, val and test rows alike."
	sum.Figures = []Figure{{File: FigureFile, Title: fmt.Sprintf("Latent space (%s)", sum.Model), Caption: caption}}
	return png, nil
}

// subsample returns every row, or an even, deterministic subsample of max rows.
func subsample(n, max int) []int {
	out := make([]int, 0, min(n, max))
	if n <= max {
		for i := range n {
			out = append(out, i)
		}
		return out
	}
	for k := range max {
		out = append(out, int(int64(k)*int64(n)/int64(max)))
	}
	return out
}

// colourGroups splits rows by class (classification labels in class order, else the
// distinct label texts sorted); regression or unlabelled data is one unnamed group.
func colourGroups(f *dataset.Frame, rows []int) ([][]int, []string) {
	lc := f.Label()
	if lc == nil || f.Meta[dataset.MetaTask] == "regression" {
		return [][]int{rows}, []string{""}
	}
	names := f.Classes()
	index := map[string]int{}
	for i, c := range names {
		index[c] = i
	}
	var extra []string
	for _, r := range rows {
		t := lc.Text(r)
		if !lc.IsValid(r) {
			t = "(missing)"
		}
		if _, ok := index[t]; !ok {
			index[t] = -1
			extra = append(extra, t)
		}
	}
	sort.Strings(extra)
	for _, t := range extra {
		index[t] = len(names)
		names = append(names, t)
	}
	groups := make([][]int, len(names))
	for _, r := range rows {
		t := lc.Text(r)
		if !lc.IsValid(r) {
			t = "(missing)"
		}
		groups[index[t]] = append(groups[index[t]], r)
	}
	return groups, names
}
