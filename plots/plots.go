// Package plots draws biopipe's evaluation figures with gonum/plot and returns them as PNG
// bytes: line charts (loss and metric curves per epoch), ROC and precision-recall curves
// with the operating point, a confusion-matrix heat map and a reliability diagram.
// The output for the same input is the same, byte for byte.
package plots

import (
	"bytes"
	"fmt"
	"image"
	"image/color"
	"math"
	"strconv"

	"github.com/biopipe/biopipe/metrics"
	"gonum.org/v1/plot"
	"gonum.org/v1/plot/font"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/text"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// Size of every figure.
var (
	Width  = 5 * vg.Inch
	Height = 3.75 * vg.Inch
)

// palette is a colour-blind-safe set (Okabe-Ito).
var palette = []color.Color{
	color.RGBA{0, 114, 178, 255},   // blue
	color.RGBA{213, 94, 0, 255},    // vermillion
	color.RGBA{0, 158, 115, 255},   // green
	color.RGBA{204, 121, 167, 255}, // purple
	color.RGBA{230, 159, 0, 255},   // orange
	color.RGBA{86, 180, 233, 255},  // sky
	color.RGBA{0, 0, 0, 255},       // black
}

// Series is one named line.
type Series struct {
	Name string
	X, Y []float64
}

// Point is a marked point with a label.
type Point struct {
	X, Y  float64
	Label string
}

// Lines draws one line per series (NaN values are left out) and returns the PNG.
func Lines(title, xlabel, ylabel string, series []Series) ([]byte, error) {
	p := newPlot(title, xlabel, ylabel)
	for i, s := range series {
		xy := points(s.X, s.Y)
		if len(xy) == 0 {
			continue
		}
		l, sc, err := plotter.NewLinePoints(xy)
		if err != nil {
			return nil, fmt.Errorf("plot %q: series %q: %w", title, s.Name, err)
		}
		c := palette[i%len(palette)]
		l.Color = c
		l.Width = vg.Points(1.5)
		sc.Color = c
		sc.Radius = vg.Points(1.5)
		if len(xy) > 60 {
			sc.Radius = 0
		}
		p.Add(l, sc)
		p.Legend.Add(s.Name, l)
	}
	return render(p)
}

// ROC draws a ROC curve with its AUROC in the legend, the chance diagonal and the
// operating point (nil for none).
func ROC(c metrics.Curve, auroc float64, op *Point) ([]byte, error) {
	p := newPlot("ROC curve", "False positive rate (1 - specificity)", "True positive rate (sensitivity)")
	square(p)
	if err := diagonal(p); err != nil {
		return nil, err
	}
	if err := curve(p, c, fmt.Sprintf("AUROC = %.3f", auroc), op); err != nil {
		return nil, err
	}
	p.Legend.Left = false
	p.Legend.Top = false
	return render(p)
}

// PR draws a precision-recall curve with its average precision, the prevalence baseline
// and the operating point (nil for none).
func PR(c metrics.Curve, ap, prevalence float64, op *Point) ([]byte, error) {
	p := newPlot("Precision-recall curve", "Recall (sensitivity)", "Precision (PPV)")
	square(p)
	if !math.IsNaN(prevalence) {
		base, err := plotter.NewLine(plotter.XYs{{X: 0, Y: prevalence}, {X: 1, Y: prevalence}})
		if err != nil {
			return nil, err
		}
		base.Dashes = []vg.Length{vg.Points(4), vg.Points(3)}
		base.Color = color.Gray{150}
		p.Add(base)
		p.Legend.Add(fmt.Sprintf("prevalence = %.3f", prevalence), base)
	}
	if err := curve(p, c, fmt.Sprintf("AP = %.3f", ap), op); err != nil {
		return nil, err
	}
	p.Legend.Left = true
	p.Legend.Top = false
	return render(p)
}

// Confusion draws the confusion matrix as a heat map with the count in each cell and the
// row-normalised share shading it. Rows are true classes, columns predictions.
func Confusion(cm metrics.Confusion, classes []string) ([]byte, error) {
	k := len(cm)
	if k == 0 {
		return nil, fmt.Errorf("confusion heat map: empty matrix")
	}
	p := newPlot("Confusion matrix", "Predicted class", "True class")
	var labels plotter.XYLabels
	var styles []text.Style
	for t := 0; t < k; t++ {
		row := 0
		for _, v := range cm[t] {
			row += v
		}
		for q := 0; q < k; q++ {
			share := 0.0
			if row > 0 {
				share = float64(cm[t][q]) / float64(row)
			}
			y := float64(k - 1 - t)
			x := float64(q)
			poly, err := plotter.NewPolygon(plotter.XYs{{X: x - 0.5, Y: y - 0.5}, {X: x + 0.5, Y: y - 0.5}, {X: x + 0.5, Y: y + 0.5}, {X: x - 0.5, Y: y + 0.5}})
			if err != nil {
				return nil, err
			}
			poly.Color = blend(share)
			poly.LineStyle.Color = color.White
			p.Add(poly)
			labels.XYs = append(labels.XYs, plotter.XY{X: x, Y: y})
			labels.Labels = append(labels.Labels, fmt.Sprintf("%d\n%.0f%%", cm[t][q], 100*share))
			fg := color.Color(color.Black)
			if share > 0.55 {
				fg = color.White
			}
			styles = append(styles, text.Style{
				Color: fg, Font: font.From(plot.DefaultFont, vg.Points(11)), Handler: plot.DefaultTextHandler,
				XAlign: draw.XCenter, YAlign: draw.YCenter,
			})
		}
	}
	lab, err := plotter.NewLabels(labels)
	if err != nil {
		return nil, err
	}
	lab.TextStyle = styles
	p.Add(lab)
	names := classNames(classes, k)
	var xt, yt []plot.Tick
	for i := 0; i < k; i++ {
		xt = append(xt, plot.Tick{Value: float64(i), Label: names[i]})
		yt = append(yt, plot.Tick{Value: float64(k - 1 - i), Label: names[i]})
	}
	p.X.Tick.Marker = plot.ConstantTicks(xt)
	p.Y.Tick.Marker = plot.ConstantTicks(yt)
	p.X.Min, p.X.Max = -0.5, float64(k)-0.5
	p.Y.Min, p.Y.Max = -0.5, float64(k)-0.5
	p.X.Tick.Length = 0
	p.Y.Tick.Length = 0
	p.X.LineStyle.Width = 0
	p.Y.LineStyle.Width = 0
	p.X.Padding = 0
	p.Y.Padding = 0
	return render(p)
}

// Reliability draws a reliability diagram: observed frequency against mean predicted
// probability per bin (marker area grows with the bin count), with the diagonal of perfect
// calibration; ece is shown in the title.
func Reliability(bins []metrics.Bin, ece float64) ([]byte, error) {
	p := newPlot(fmt.Sprintf("Reliability diagram (ECE = %.3f)", ece), "Mean predicted probability", "Observed frequency")
	square(p)
	if err := diagonal(p); err != nil {
		return nil, err
	}
	var xy plotter.XYs
	maxN := 1
	for _, b := range bins {
		xy = append(xy, plotter.XY{X: b.Confidence, Y: b.Accuracy})
		maxN = max(maxN, b.Count)
	}
	if len(xy) > 0 {
		l, sc, err := plotter.NewLinePoints(xy)
		if err != nil {
			return nil, err
		}
		l.Color = palette[0]
		l.Width = vg.Points(1.5)
		sc.Color = palette[0]
		sc.GlyphStyleFunc = func(i int) draw.GlyphStyle {
			r := 2 + 4*math.Sqrt(float64(bins[i].Count)/float64(maxN))
			return draw.GlyphStyle{Color: palette[0], Radius: vg.Points(r), Shape: draw.CircleGlyph{}}
		}
		p.Add(l, sc)
		p.Legend.Add("model", l)
	}
	p.Legend.Left = true
	return render(p)
}

func newPlot(title, xlabel, ylabel string) *plot.Plot {
	p := plot.New()
	p.Title.Text = title
	p.X.Label.Text = xlabel
	p.Y.Label.Text = ylabel
	p.Add(plotter.NewGrid())
	p.Legend.Top = true
	p.Legend.XOffs = -vg.Points(8)
	p.Legend.YOffs = vg.Points(8)
	p.Legend.Padding = vg.Points(2)
	return p
}

func square(p *plot.Plot) {
	p.X.Min, p.X.Max = 0, 1
	p.Y.Min, p.Y.Max = 0, 1.02
}

func diagonal(p *plot.Plot) error {
	d, err := plotter.NewLine(plotter.XYs{{X: 0, Y: 0}, {X: 1, Y: 1}})
	if err != nil {
		return err
	}
	d.Dashes = []vg.Length{vg.Points(4), vg.Points(3)}
	d.Color = color.Gray{150}
	p.Add(d)
	return nil
}

func curve(p *plot.Plot, c metrics.Curve, name string, op *Point) error {
	xy := points(c.X, c.Y)
	if len(xy) > 0 {
		l, err := plotter.NewLine(xy)
		if err != nil {
			return err
		}
		l.Color = palette[0]
		l.Width = vg.Points(2)
		p.Add(l)
		p.Legend.Add(name, l)
	}
	if op != nil && !math.IsNaN(op.X) && !math.IsNaN(op.Y) {
		sc, err := plotter.NewScatter(plotter.XYs{{X: op.X, Y: op.Y}})
		if err != nil {
			return err
		}
		sc.Color = palette[1]
		sc.Radius = vg.Points(4)
		sc.Shape = draw.CircleGlyph{}
		p.Add(sc)
		p.Legend.Add(op.Label, sc)
	}
	return nil
}

func points(x, y []float64) plotter.XYs {
	var xy plotter.XYs
	for i := range x {
		if i < len(y) && !math.IsNaN(x[i]) && !math.IsNaN(y[i]) && !math.IsInf(x[i], 0) && !math.IsInf(y[i], 0) {
			xy = append(xy, plotter.XY{X: x[i], Y: y[i]})
		}
	}
	return xy
}

func blend(share float64) color.Color {
	// white -> blue
	lerp := func(a, b uint8) uint8 { return uint8(float64(a) + (float64(b)-float64(a))*share) }
	return color.RGBA{lerp(247, 8), lerp(251, 69), lerp(255, 148), 255}
}

func classNames(classes []string, k int) []string {
	out := make([]string, k)
	for i := range out {
		if i < len(classes) && classes[i] != "" {
			out[i] = classes[i]
		} else {
			out[i] = strconv.Itoa(i)
		}
	}
	return out
}

func render(p *plot.Plot) ([]byte, error) {
	wt, err := p.WriterTo(Width, Height, "png")
	if err != nil {
		return nil, fmt.Errorf("render %q: %w", p.Title.Text, err)
	}
	var buf bytes.Buffer
	if _, err := wt.WriteTo(&buf); err != nil {
		return nil, fmt.Errorf("render %q: %w", p.Title.Text, err)
	}
	return buf.Bytes(), nil
}

// Scatter draws predicted against true values with the identity line (regression).
func Scatter(title string, truth, pred []float64) ([]byte, error) {
	p := newPlot(title, "True value", "Predicted value")
	xy := points(truth, pred)
	if len(xy) == 0 {
		return nil, fmt.Errorf("plot %q: no finite points", title)
	}
	lo, hi := math.Inf(1), math.Inf(-1)
	for _, q := range xy {
		lo = math.Min(lo, math.Min(q.X, q.Y))
		hi = math.Max(hi, math.Max(q.X, q.Y))
	}
	id, err := plotter.NewLine(plotter.XYs{{X: lo, Y: lo}, {X: hi, Y: hi}})
	if err != nil {
		return nil, err
	}
	id.Dashes = []vg.Length{vg.Points(4), vg.Points(3)}
	id.Color = color.Gray{150}
	sc, err := plotter.NewScatter(xy)
	if err != nil {
		return nil, err
	}
	sc.Color = palette[0]
	sc.Radius = vg.Points(2)
	p.Add(id, sc)
	p.Legend.Add("y = x", id)
	p.Legend.Left = true
	return render(p)
}

// Histogram draws the distribution of values in bins equal-width bins.
func Histogram(title, xlabel string, values []float64, bins int) ([]byte, error) {
	p := newPlot(title, xlabel, "Count")
	var v plotter.Values
	for _, x := range values {
		if !math.IsNaN(x) && !math.IsInf(x, 0) {
			v = append(v, x)
		}
	}
	if len(v) == 0 {
		return nil, fmt.Errorf("plot %q: no finite values", title)
	}
	h, err := plotter.NewHist(v, bins)
	if err != nil {
		return nil, fmt.Errorf("plot %q: %w", title, err)
	}
	h.FillColor = palette[0]
	h.LineStyle.Color = color.White
	p.Add(h)
	return render(p)
}

// glyphs tell groups apart beyond the palette's length.
var glyphs = []draw.GlyphDrawer{draw.CircleGlyph{}, draw.TriangleGlyph{}, draw.SquareGlyph{}, draw.PlusGlyph{}, draw.CrossGlyph{}}

// Group is one set of points of a scatter plot, drawn in one colour.
type Group struct {
	Name string
	X, Y []float64
}

// maxLegend is how many groups a scatter plot names in its legend; past it the legend
// would hide the points.
const maxLegend = 12

// GroupScatter draws each group in its own colour (and, past the palette, its own glyph),
// e.g. a 2-D embedding coloured by class, and returns the PNG. Groups without points are
// left out; named groups are listed in the legend when there are at most 12 of them.
func GroupScatter(title, xlabel, ylabel string, groups []Group, radius vg.Length) ([]byte, error) {
	p := newPlot(title, xlabel, ylabel)
	for k, g := range groups {
		xy := points(g.X, g.Y)
		if len(xy) == 0 {
			continue
		}
		sc, err := plotter.NewScatter(xy)
		if err != nil {
			return nil, fmt.Errorf("plot %q: group %q: %w", title, g.Name, err)
		}
		sc.Color = palette[k%len(palette)]
		sc.Shape = glyphs[(k/len(palette))%len(glyphs)]
		sc.Radius = radius
		p.Add(sc)
		if g.Name != "" && len(groups) <= maxLegend {
			p.Legend.Add(g.Name, sc)
		}
	}
	return render(p)
}

// Regions are a classifier's decisions on a grid over a 2-D input plane: Class[j*NX+i] is
// the class predicted at x = X0 + (i+0.5)(X1−X0)/NX, y = Y0 + (j+0.5)(Y1−Y0)/NY.
type Regions struct {
	X0, X1, Y0, Y1 float64
	NX, NY         int
	Class          []int
}

// DecisionBoundary draws the regions in light class colours with the points of each group
// (one group per class, in class order) on top, and returns the PNG: the decision
// boundaries of a two-feature classifier.
func DecisionBoundary(title, xlabel, ylabel string, r Regions, groups []Group) ([]byte, error) {
	if r.NX < 1 || r.NY < 1 || len(r.Class) != r.NX*r.NY || !(r.X1 > r.X0) || !(r.Y1 > r.Y0) {
		return nil, fmt.Errorf("plot %q: bad region grid %dx%d with %d classes over [%v,%v]x[%v,%v]", title, r.NX, r.NY, len(r.Class), r.X0, r.X1, r.Y0, r.Y1)
	}
	img := image.NewRGBA(image.Rect(0, 0, r.NX, r.NY))
	for j := range r.NY {
		for i := range r.NX {
			c := r.Class[j*r.NX+i]
			img.Set(i, r.NY-1-j, tint(palette[((c%len(palette))+len(palette))%len(palette)], 0.25)) // image row 0 is the top
		}
	}
	p := newPlot(title, xlabel, ylabel)
	p.Add(plotter.NewImage(img, r.X0, r.Y0, r.X1, r.Y1))
	for k, g := range groups {
		xy := points(g.X, g.Y)
		if len(xy) == 0 {
			continue
		}
		sc, err := plotter.NewScatter(xy)
		if err != nil {
			return nil, fmt.Errorf("plot %q: group %q: %w", title, g.Name, err)
		}
		sc.Color = palette[k%len(palette)]
		sc.Shape = glyphs[(k/len(palette))%len(glyphs)]
		sc.Radius = vg.Points(3)
		p.Add(sc)
		if g.Name != "" && len(groups) <= maxLegend {
			p.Legend.Add(g.Name, sc)
		}
	}
	p.X.Min, p.X.Max, p.Y.Min, p.Y.Max = r.X0, r.X1, r.Y0, r.Y1
	p.Legend.Top = true
	return render(p)
}

// tint mixes c with white, keeping share of c.
func tint(c color.Color, share float64) color.Color {
	r, g, b, _ := c.RGBA()
	mix := func(v uint32) uint8 { return uint8(255 - (255-float64(v>>8))*share) }
	return color.RGBA{mix(r), mix(g), mix(b), 255}
}

// LRFinder draws a learning-rate range test: the loss and its smoothed curve against the
// learning rate on a log axis, with the suggested rate marked, and returns the PNG.
func LRFinder(lr, loss, smoothed []float64, suggested float64) ([]byte, error) {
	if len(lr) == 0 || len(lr) != len(loss) || len(lr) != len(smoothed) {
		return nil, fmt.Errorf("plot \"Learning-rate finder\": %d rates, %d losses, %d smoothed", len(lr), len(loss), len(smoothed))
	}
	p := newPlot("Learning-rate finder", "Learning rate (log scale)", "Training loss")
	p.X.Scale = plot.LogScale{}
	p.X.Tick.Marker = plot.LogTicks{Prec: 1}
	raw, err := plotter.NewLine(points(lr, loss))
	if err != nil {
		return nil, err
	}
	raw.Color = color.Gray{180}
	sm, err := plotter.NewLine(points(lr, smoothed))
	if err != nil {
		return nil, err
	}
	sm.Color = palette[0]
	sm.Width = vg.Points(1.5)
	p.Add(raw, sm)
	p.Legend.Add("loss", raw)
	p.Legend.Add("smoothed", sm)
	if suggested > 0 {
		lo, hi := math.Inf(1), math.Inf(-1)
		for _, v := range smoothed {
			if !math.IsNaN(v) && !math.IsInf(v, 0) {
				lo, hi = math.Min(lo, v), math.Max(hi, v)
			}
		}
		mark, err := plotter.NewLine(plotter.XYs{{X: suggested, Y: lo}, {X: suggested, Y: hi}})
		if err != nil {
			return nil, err
		}
		mark.Color = palette[1]
		mark.Dashes = []vg.Length{vg.Points(4), vg.Points(3)}
		p.Add(mark)
		p.Legend.Add(fmt.Sprintf("suggested %.2g", suggested), mark)
	}
	// The loss explodes at the end of the range: keep the axis on the smoothed curve.
	ylo, yhi := math.Inf(1), math.Inf(-1)
	for i := range smoothed {
		for _, v := range []float64{loss[i], smoothed[i]} {
			if !math.IsNaN(v) && !math.IsInf(v, 0) {
				ylo = math.Min(ylo, v)
			}
		}
		if v := smoothed[i]; !math.IsNaN(v) && !math.IsInf(v, 0) {
			yhi = math.Max(yhi, v)
		}
	}
	if yhi > ylo {
		p.Y.Min, p.Y.Max = ylo, yhi+0.1*(yhi-ylo)
	}
	p.Legend.Top = true
	return render(p)
}
