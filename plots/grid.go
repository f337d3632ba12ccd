package plots

import (
	"bytes"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"math"
)

// ImageGrid renders examples as a grid of images, cols per row, and returns the PNG.
// Each example holds prod(shape) values of an image [H, W, C] (C = 1: grey, C = 3: RGB;
// other channel counts show channel 0) or a volume [D, H, W, C] (its middle slice). Values
// are mapped from [lo, hi] to black..white (clipped). Tiles are magnified by an integer
// factor to about 48 pixels and separated by a 2-pixel grey gap.
func ImageGrid(examples [][]float32, shape []int, cols int, lo, hi float64) ([]byte, error) {
	if len(shape) != 3 && len(shape) != 4 {
		return nil, fmt.Errorf("image grid: shape %v is not [H, W, C] or [D, H, W, C]", shape)
	}
	if len(examples) == 0 || cols < 1 {
		return nil, fmt.Errorf("image grid: no examples")
	}
	if hi <= lo {
		return nil, fmt.Errorf("image grid: value range [%v, %v] is empty", lo, hi)
	}
	s := shape
	offset := 0
	if len(s) == 4 { // middle slice of a volume
		offset = s[0] / 2 * s[1] * s[2] * s[3]
		s = s[1:]
	}
	h, w, c := s[0], s[1], s[2]
	size := h * w * c
	if len(shape) == 4 {
		size *= shape[0]
	}
	zoom := max(1, 48/max(h, w))
	const gap = 2
	rows := (len(examples) + cols - 1) / cols
	ncols := min(cols, len(examples))
	img := image.NewRGBA(image.Rect(0, 0, ncols*(w*zoom+gap)+gap, rows*(h*zoom+gap)+gap))
	for i := range img.Pix {
		img.Pix[i] = 128
	}
	level := func(v float32) uint8 {
		f := (float64(v) - lo) / (hi - lo)
		if math.IsNaN(f) {
			f = 0
		}
		return uint8(math.Round(255 * math.Min(1, math.Max(0, f))))
	}
	for k, ex := range examples {
		if len(ex) != size {
			return nil, fmt.Errorf("image grid: example %d has %d values, want %d for shape %v", k, len(ex), size, shape)
		}
		x0 := gap + (k%cols)*(w*zoom+gap)
		y0 := gap + (k/cols)*(h*zoom+gap)
		for y := range h {
			for x := range w {
				p := offset + (y*w+x)*c
				var col color.RGBA
				if c == 3 {
					col = color.RGBA{level(ex[p]), level(ex[p+1]), level(ex[p+2]), 255}
				} else {
					g := level(ex[p])
					col = color.RGBA{g, g, g, 255}
				}
				for dy := range zoom {
					for dx := range zoom {
						img.SetRGBA(x0+x*zoom+dx, y0+y*zoom+dy, col)
					}
				}
			}
		}
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		return nil, fmt.Errorf("image grid: %w", err)
	}
	return buf.Bytes(), nil
}
