package plots

import (
	"fmt"
	"math"

	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
)

// Interval is one estimate with its confidence interval, drawn at a named setting.
type Interval struct {
	Label         string
	Value, Lo, Hi float64 // Lo/Hi NaN: no interval
}

// errPoints adapts intervals to gonum's XYer and YErrorer.
type errPoints []Interval

func (e errPoints) Len() int                    { return len(e) }
func (e errPoints) XY(i int) (float64, float64) { return float64(i), e[i].Value }
func (e errPoints) YError(i int) (float64, float64) {
	if math.IsNaN(e[i].Lo) || math.IsNaN(e[i].Hi) {
		return 0, 0
	}
	return e[i].Value - e[i].Lo, e[i].Hi - e[i].Value
}

// Intervals draws one point per setting with its confidence interval as an error bar (a
// results-table figure: a metric by sweep setting) and returns the PNG.
func Intervals(title, xlabel, ylabel string, points []Interval) ([]byte, error) {
	if len(points) == 0 {
		return nil, fmt.Errorf("plot %q: no points", title)
	}
	p := newPlot(title, xlabel, ylabel)
	sc, err := plotter.NewScatter(errPoints(points))
	if err != nil {
		return nil, fmt.Errorf("plot %q: %w", title, err)
	}
	sc.Color = palette[0]
	sc.Radius = vg.Points(3)
	eb, err := plotter.NewYErrorBars(errPoints(points))
	if err != nil {
		return nil, fmt.Errorf("plot %q: %w", title, err)
	}
	eb.Color = palette[0]
	eb.Width = vg.Points(1.2)
	eb.CapWidth = vg.Points(8)
	p.Add(eb, sc)
	names := make([]string, len(points))
	for i, pt := range points {
		names[i] = pt.Label
	}
	p.NominalX(names...)
	p.X.Min, p.X.Max = -0.5, float64(len(points))-0.5
	return render(p)
}
