package expression

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
	"github.com/biopipe/biopipe/plots"
)

// Figure is an entry of summary.json's "figures" list, which reports pick up.
type Figure struct {
	File    string `json:"file"`
	Title   string `json:"title"`
	Caption string `json:"caption"`
}

// Okabe-Ito colours, as package plots uses.
var palette = []color.Color{
	color.RGBA{0, 114, 178, 255}, color.RGBA{213, 94, 0, 255}, color.RGBA{0, 158, 115, 255},
	color.RGBA{204, 121, 167, 255}, color.RGBA{230, 159, 0, 255}, color.RGBA{86, 180, 233, 255},
	color.RGBA{0, 0, 0, 255},
}

var glyphs = []draw.GlyphDrawer{draw.CircleGlyph{}, draw.TriangleGlyph{}, draw.SquareGlyph{}, draw.CrossGlyph{}, draw.PlusGlyph{}}

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
	p := plot.New()
	p.Title.Text = "PCA"
	p.X.Label.Text = fmt.Sprintf("PC1 (%.1f%%)", 100*s.ExplainedRatio[0])
	p.Y.Label.Text = fmt.Sprintf("PC2 (%.1f%%)", 100*s.ExplainedRatio[1])
	p.Legend.Top = true
	for i, name := range names {
		xy := make(plotter.XYs, len(groups[name]))
		for j, r := range groups[name] {
			xy[j].X, xy[j].Y = float64(scores[r*k]), float64(scores[r*k+1])
		}
		sc, err := plotter.NewScatter(xy)
		if err != nil {
			return nil, "", err
		}
		sc.GlyphStyle.Color = palette[i%len(palette)]
		sc.GlyphStyle.Shape = glyphs[(i/len(palette))%len(glyphs)]
		sc.GlyphStyle.Radius = vg.Points(1.8)
		p.Add(sc)
		if len(names) <= 12 {
			p.Legend.Add(name, sc)
		}
	}
	wt, err := p.WriterTo(plots.Width, plots.Height, "png")
	if err != nil {
		return nil, "", err
	}
	var b bytes.Buffer
	if _, err := wt.WriteTo(&b); err != nil {
		return nil, "", err
	}
	caption := fmt.Sprintf("Every sample on the first two principal components (fitted on the %s rows)", s.FitOn)
	if what != "" {
		caption += ", coloured by " + what
	}
	return b.Bytes(), caption + ".", nil
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
