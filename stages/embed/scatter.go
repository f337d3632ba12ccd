package embed

import (
	"bytes"
	"fmt"
	"image/color"
	"sort"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"

	"github.com/biopipe/biopipe/dataset"
)

// palette is the colour-blind-safe Okabe-Ito set (as in package plots), then greys.
var palette = []color.Color{
	color.RGBA{0, 114, 178, 255},   // blue
	color.RGBA{213, 94, 0, 255},    // vermillion
	color.RGBA{0, 158, 115, 255},   // green
	color.RGBA{204, 121, 167, 255}, // purple
	color.RGBA{230, 159, 0, 255},   // orange
	color.RGBA{86, 180, 233, 255},  // sky
	color.RGBA{240, 228, 66, 255},  // yellow
	color.RGBA{0, 0, 0, 255},       // black
}

// glyphs tell classes apart beyond the palette's length.
var glyphs = []draw.GlyphDrawer{draw.CircleGlyph{}, draw.TriangleGlyph{}, draw.SquareGlyph{}, draw.PlusGlyph{}, draw.CrossGlyph{}}

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

	p := plot.New()
	var xl, yl string
	switch {
	case mode == PlotPCA:
		p.Title.Text = fmt.Sprintf("PCA of the %s (%s, %d dims)", sum.Output, sum.Model, sum.Dims)
		xl, yl = "PC1", "PC2"
		if len(explained) == 2 {
			xl = fmt.Sprintf("PC1 (%.1f%%)", 100*explained[0])
			yl = fmt.Sprintf("PC2 (%.1f%%)", 100*explained[1])
		}
	default:
		p.Title.Text = fmt.Sprintf("%s of the %s model", sum.Output, sum.Model)
		xl, yl = sum.Columns[0]+" [0]", "[1]"
		if len(sum.Columns) >= 2 {
			xl, yl = sum.Columns[0], sum.Columns[1]
		}
	}
	p.X.Label.Text, p.Y.Label.Text = xl, yl
	p.Add(plotter.NewGrid())
	p.Legend.Top = true
	p.Legend.Padding = vg.Points(2)
	radius := vg.Points(2)
	if len(rows) > 2000 {
		radius = vg.Points(1.2)
	}
	for k, idx := range groups {
		xy := make(plotter.XYs, 0, len(idx))
		for _, r := range idx {
			xy = append(xy, plotter.XY{X: x[r], Y: y[r]})
		}
		if len(xy) == 0 {
			continue
		}
		sc, err := plotter.NewScatter(xy)
		if err != nil {
			return nil, fmt.Errorf("scatter of %q: %w", names[k], err)
		}
		sc.Color = palette[k%len(palette)]
		sc.Shape = glyphs[(k/len(palette))%len(glyphs)]
		sc.Radius = radius
		p.Add(sc)
		if names[k] != "" {
			p.Legend.Add(names[k], sc)
		}
	}
	wt, err := p.WriterTo(6*vg.Inch, 4.5*vg.Inch, "png")
	if err != nil {
		return nil, fmt.Errorf("scatter: %w", err)
	}
	var buf bytes.Buffer
	if _, err := wt.WriteTo(&buf); err != nil {
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
	return buf.Bytes(), nil
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
