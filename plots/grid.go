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

// SegSlice is one 2-D slice of a segmentation case: the image values and the true and
// predicted class per pixel, H x W in row-major order.
type SegSlice struct {
	H, W        int
	Image       []float32
	Truth, Pred []int
}

// segColours colour the foreground classes 1, 2, ... (background 0 is not drawn).
var segColours = []color.RGBA{{0, 200, 0, 255}, {230, 40, 40, 255}, {40, 120, 255, 255}, {240, 200, 0, 255}, {200, 0, 200, 255}, {0, 200, 200, 255}}

// SegmentationSlices renders one row per slice: the image in grey, the image with the true
// mask overlaid, and the image with the predicted mask overlaid (class k in the k-th
// colour at 50% opacity: green, red, blue, ...). Values map [lo, hi] to black..white.
// Tiles are magnified to about 96 pixels and separated by a 2-pixel grey gap.
func SegmentationSlices(slices []SegSlice, lo, hi float64) ([]byte, error) {
	if len(slices) == 0 {
		return nil, fmt.Errorf("segmentation slices: no slices")
	}
	if hi <= lo {
		return nil, fmt.Errorf("segmentation slices: value range [%v, %v] is empty", lo, hi)
	}
	h, w := slices[0].H, slices[0].W
	for i, s := range slices {
		if s.H != h || s.W != w || len(s.Image) != h*w || len(s.Truth) != h*w || len(s.Pred) != h*w {
			return nil, fmt.Errorf("segmentation slices: slice %d is not %dx%d image, truth and prediction", i, h, w)
		}
	}
	zoom := max(1, 96/max(h, w))
	const gap = 2
	img := image.NewRGBA(image.Rect(0, 0, 3*(w*zoom+gap)+gap, len(slices)*(h*zoom+gap)+gap))
	for i := range img.Pix {
		img.Pix[i] = 128
	}
	for r, s := range slices {
		for panel := range 3 {
			x0, y0 := gap+panel*(w*zoom+gap), gap+r*(h*zoom+gap)
			for y := range h {
				for x := range w {
					p := y*w + x
					f := (float64(s.Image[p]) - lo) / (hi - lo)
					if math.IsNaN(f) {
						f = 0
					}
					g := math.Round(255 * math.Min(1, math.Max(0, f)))
					col := color.RGBA{uint8(g), uint8(g), uint8(g), 255}
					k := 0
					switch panel {
					case 1:
						k = s.Truth[p]
					case 2:
						k = s.Pred[p]
					}
					if k > 0 {
						c := segColours[(k-1)%len(segColours)]
						col = color.RGBA{uint8((g + float64(c.R)) / 2), uint8((g + float64(c.G)) / 2), uint8((g + float64(c.B)) / 2), 255}
					}
					for dy := range zoom {
						for dx := range zoom {
							img.SetRGBA(x0+x*zoom+dx, y0+y*zoom+dy, col)
						}
					}
				}
			}
		}
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		return nil, fmt.Errorf("segmentation slices: %w", err)
	}
	return buf.Bytes(), nil
}
