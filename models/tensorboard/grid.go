package tensorboard

import (
	"bytes"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"math"
)

// Grid draws up to n examples of a batch x (row-major, per-example shape [H, W], [H, W, 1]
// or [H, W, 3]) side by side in a square-ish grid with a 2-pixel gap, each scaled to its
// own min..max, and returns the PNG (grayscale, or RGB for 3 channels). It returns an error
// for other shapes.
func Grid(x []float32, shape []int, n int) ([]byte, error) {
	if len(shape) < 2 || len(shape) > 3 || (len(shape) == 3 && shape[2] != 1 && shape[2] != 3) {
		return nil, fmt.Errorf("tensorboard: shape %v is not an image ([H, W], [H, W, 1] or [H, W, 3])", shape)
	}
	h, w, c := shape[0], shape[1], 1
	if len(shape) == 3 {
		c = shape[2]
	}
	size := h * w * c
	if size == 0 || len(x) < size {
		return nil, fmt.Errorf("tensorboard: no %v example in %d values", shape, len(x))
	}
	n = min(n, len(x)/size)
	cols := int(math.Ceil(math.Sqrt(float64(n))))
	rows := (n + cols - 1) / cols
	const gap = 2
	W, H := cols*(w+gap)-gap, rows*(h+gap)-gap
	var img draw
	if c == 1 {
		img = image.NewGray(image.Rect(0, 0, W, H))
	} else {
		img = image.NewRGBA(image.Rect(0, 0, W, H))
	}
	for k := range n {
		ex := x[k*size : (k+1)*size]
		lo, hi := math.Inf(1), math.Inf(-1)
		for _, v := range ex {
			if !math.IsNaN(float64(v)) && !math.IsInf(float64(v), 0) {
				lo, hi = math.Min(lo, float64(v)), math.Max(hi, float64(v))
			}
		}
		scale := 0.0
		if hi > lo {
			scale = 255 / (hi - lo)
		}
		level := func(v float32) uint8 {
			if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
				return 0
			}
			return uint8(math.Round((float64(v) - lo) * scale))
		}
		ox, oy := (k%cols)*(w+gap), (k/cols)*(h+gap)
		for i := range h {
			for j := range w {
				p := ex[(i*w+j)*c:]
				if c == 1 {
					img.Set(ox+j, oy+i, color.Gray{level(p[0])})
				} else {
					img.Set(ox+j, oy+i, color.RGBA{level(p[0]), level(p[1]), level(p[2]), 255})
				}
			}
		}
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		return nil, fmt.Errorf("tensorboard: %w", err)
	}
	return buf.Bytes(), nil
}

type draw interface {
	image.Image
	Set(x, y int, c color.Color)
}
