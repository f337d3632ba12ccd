package plots

import (
	"bytes"
	"fmt"
	"image/color"
	"math"
	"sort"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/text"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
)

// Motif is one position weight matrix: PWM[p][c] is the probability of letter c at
// position p (each row sums to 1).
type Motif struct {
	Name string
	PWM  [][]float64
}

// InformationContent returns the bits at each position: log2(letters) minus the entropy.
func (m Motif) InformationContent() []float64 {
	out := make([]float64, len(m.PWM))
	for p, row := range m.PWM {
		h := 0.0
		for _, q := range row {
			if q > 0 {
				h -= q * math.Log2(q)
			}
		}
		out[p] = math.Log2(float64(len(row))) - h
	}
	return out
}

// FilterMotif turns the weights of one first-layer convolution filter, w[p][c] for kernel
// position p and input channel (letter) c, into a PWM: at each position a softmax of the
// weights divided by their standard deviation over the whole filter, so that a letter the
// filter strongly prefers dominates its position and a flat position stays near uniform,
// whatever the overall scale of the weights (which a normalization layer makes arbitrary).
func FilterMotif(name string, w [][]float64) Motif {
	var s, ss, n float64
	for _, row := range w {
		for _, v := range row {
			s += v
			ss += v * v
			n++
		}
	}
	sd := math.Sqrt(max(ss/n-(s/n)*(s/n), 1e-12))
	m := Motif{Name: name, PWM: make([][]float64, len(w))}
	for p, row := range w {
		hi := math.Inf(-1)
		for _, v := range row {
			hi = max(hi, v/sd)
		}
		q := make([]float64, len(row))
		sum := 0.0
		for c, v := range row {
			q[c] = math.Exp(v/sd - hi)
			sum += q[c]
		}
		for c := range q {
			q[c] /= sum
		}
		m.PWM[p] = q
	}
	return m
}

// letterColors are the usual logo colours for nucleotides; other letters cycle the palette.
var letterColors = map[byte]color.Color{
	'A': color.RGBA{0x10, 0x96, 0x48, 0xff}, // green
	'C': color.RGBA{0x25, 0x5c, 0x99, 0xff}, // blue
	'G': color.RGBA{0xf7, 0xb3, 0x2b, 0xff}, // orange
	'T': color.RGBA{0xd6, 0x28, 0x39, 0xff}, // red
	'U': color.RGBA{0xd6, 0x28, 0x39, 0xff},
}

func letterColor(c byte, i int) color.Color {
	if col, ok := letterColors[c]; ok {
		return col
	}
	return palette[i%len(palette)]
}

// logoPlotter draws one motif as a sequence logo: at each position the letters stacked by
// increasing probability, each as tall as probability x information content (bits).
type logoPlotter struct {
	m       Motif
	letters string
	font    text.Style
}

func (l *logoPlotter) Plot(c draw.Canvas, p *plot.Plot) {
	tx, ty := p.Transforms(&c)
	ic := l.m.InformationContent()
	fnt := l.font.Font
	face := l.font.Handler.Cache().Lookup(fnt, fnt.Size)
	ext := face.Extents()
	for pos, row := range l.m.PWM {
		order := make([]int, len(row))
		for i := range order {
			order[i] = i
		}
		sort.SliceStable(order, func(a, b int) bool { return row[order[a]] < row[order[b]] })
		y := 0.0
		for _, ci := range order {
			h := row[ci] * ic[pos]
			if h < 1e-3 {
				y += h
				continue
			}
			x0, x1 := tx(float64(pos)+0.05), tx(float64(pos)+0.95)
			y0, y1 := ty(y), ty(y+h)
			y += h
			letter := l.letters[ci : ci+1]
			w := face.Width(letter)
			if w <= 0 || ext.Ascent <= 0 {
				continue
			}
			c.Push()
			c.Translate(vg.Point{X: x0, Y: y0})
			// Capital letters fill about 0.72 of the ascent; scale the glyph to the box.
			c.Scale(float64((x1-x0)/w), float64((y1-y0)/(ext.Ascent*0.72)))
			c.SetColor(letterColor(l.letters[ci], ci))
			c.FillString(face, vg.Point{}, letter)
			c.Pop()
		}
	}
}

func (l *logoPlotter) DataRange() (xmin, xmax, ymin, ymax float64) {
	return 0, float64(len(l.m.PWM)), 0, math.Log2(float64(len(l.letters)))
}

// Logos draws motifs as sequence logos, one panel per motif in a column, over the letters of
// the alphabet (in the PWM's channel order). The y axis is information content in bits.
func Logos(title, letters string, motifs []Motif) ([]byte, error) {
	if len(motifs) == 0 {
		return nil, fmt.Errorf("logos: no motifs")
	}
	for _, m := range motifs {
		for p, row := range m.PWM {
			if len(row) != len(letters) {
				return nil, fmt.Errorf("logos: motif %q position %d has %d letters, the alphabet %d", m.Name, p, len(row), len(letters))
			}
		}
	}
	cols := 2
	rows := (len(motifs) + cols - 1) / cols
	width := Width
	height := vg.Length(rows)*vg.Points(95) + vg.Points(30)
	img := vgimg.New(width, height)
	dc := draw.New(img)
	dc.SetColor(color.White)
	dc.Fill(dc.Rectangle.Path())
	// Title on top.
	head := draw.Canvas{Canvas: dc.Canvas, Rectangle: vg.Rectangle{Min: vg.Point{X: 0, Y: height - vg.Points(26)}, Max: vg.Point{X: width, Y: height}}}
	ts := plot.New().Title.TextStyle
	ts.XAlign, ts.YAlign = draw.XCenter, draw.YCenter
	head.FillText(ts, vg.Point{X: width / 2, Y: height - vg.Points(13)}, title)
	body := draw.Canvas{Canvas: dc.Canvas, Rectangle: vg.Rectangle{Min: vg.Point{}, Max: vg.Point{X: width, Y: height - vg.Points(28)}}}
	plots := make([][]*plot.Plot, rows)
	for r := range rows {
		plots[r] = make([]*plot.Plot, cols)
		for c := range cols {
			i := r*cols + c
			p := plot.New()
			if i >= len(motifs) {
				p.HideAxes()
				plots[r][c] = p
				continue
			}
			m := motifs[i]
			p.Title.Text = m.Name
			p.Title.TextStyle.Font.Size = vg.Points(9)
			p.Y.Label.Text = "bits"
			p.X.Label.Text = "position"
			p.X.Tick.Marker = positionTicks{n: len(m.PWM)}
			lp := &logoPlotter{m: m, letters: letters, font: p.Title.TextStyle}
			lp.font.Font.Size = vg.Points(48)
			p.Add(lp)
			p.X.Min, p.X.Max = 0, float64(len(m.PWM))
			p.Y.Min, p.Y.Max = 0, math.Log2(float64(len(letters)))
			plots[r][c] = p
		}
	}
	tiles := draw.Tiles{Rows: rows, Cols: cols, PadX: vg.Points(10), PadY: vg.Points(6), PadTop: vg.Points(2), PadBottom: vg.Points(2), PadLeft: vg.Points(4), PadRight: vg.Points(8)}
	canvases := plot.Align(plots, tiles, body)
	for r := range rows {
		for c := range cols {
			plots[r][c].Draw(canvases[r][c])
		}
	}
	var buf bytes.Buffer
	if _, err := (vgimg.PngCanvas{Canvas: img}).WriteTo(&buf); err != nil {
		return nil, fmt.Errorf("render %q: %w", title, err)
	}
	return buf.Bytes(), nil
}

// positionTicks labels positions 1..n at their centres.
type positionTicks struct{ n int }

func (t positionTicks) Ticks(min, max float64) []plot.Tick {
	step := 1
	if t.n > 12 {
		step = 2
	}
	var out []plot.Tick
	for p := 0; p < t.n; p += step {
		out = append(out, plot.Tick{Value: float64(p) + 0.5, Label: fmt.Sprint(p + 1)})
	}
	return out
}
