// Package img reads image files (PNG, JPEG, TIFF 8/16-bit, BMP, GIF) into float tensors
// [H, W, C], grayscale or RGB, optionally resized with a declared interpolation. It uses Go's
// image packages and golang.org/x/image (tiff, bmp, draw) and knows nothing of pipelines.
package img

import (
	"bufio"
	"fmt"
	"image"
	_ "image/gif" // register the GIF decoder
	_ "image/jpeg"
	_ "image/png"
	"os"
	"path/filepath"
	"strings"

	_ "golang.org/x/image/bmp" // register BMP and TIFF decoders
	"golang.org/x/image/draw"
	_ "golang.org/x/image/tiff"
)

// Extensions are the file name endings read as images (lower case).
var Extensions = []string{".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".gif"}

// IsImage reports whether the path has an image extension.
func IsImage(path string) bool {
	ext := strings.ToLower(filepath.Ext(path))
	for _, e := range Extensions {
		if ext == e {
			return true
		}
	}
	return false
}

// Color modes.
const (
	Gray = "gray"
	RGB  = "rgb"
)

// Interpolations for resizing.
const (
	Nearest    = "nearest"
	Bilinear   = "bilinear"
	CatmullRom = "catmullrom"
)

// Interpolations lists the names, for config enums.
var Interpolations = []string{Nearest, Bilinear, CatmullRom}

// Image is a decoded file.
type Image struct {
	Image  image.Image
	Format string // png, jpeg, tiff, bmp, gif
	Depth  int    // bits per sample of the file: 8 or 16
}

// Decode reads an image file.
func Decode(path string) (*Image, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	im, format, err := image.Decode(bufio.NewReader(f))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	depth := 8
	switch im.(type) {
	case *image.Gray16, *image.RGBA64, *image.NRGBA64:
		depth = 16
	}
	return &Image{Image: im, Format: format, Depth: depth}, nil
}

// Options say how an image becomes a tensor.
type Options struct {
	Color         string // gray (default) or rgb
	Height, Width int    // 0: keep the file's size
	Interpolation string // nearest, bilinear (default), catmullrom
	// Lo and Hi map sample values to [0, 1]: x = (v - Lo) / (Hi - Lo), v on the file's own
	// scale (0..255 for 8-bit, 0..65535 for 16-bit files). Hi = 0 means the full range of
	// the file's depth.
	Lo, Hi float64
}

// Channels is 1 for gray, 3 for RGB.
func (o Options) Channels() int {
	if o.Color == RGB {
		return 3
	}
	return 1
}

func kernel(name string) draw.Interpolator {
	switch name {
	case Nearest:
		return draw.NearestNeighbor
	case CatmullRom:
		return draw.CatmullRom
	}
	return draw.BiLinear
}

// Tensor writes the image into dst ([H, W, C] row-major, C = o.Channels()) and returns its
// size before resizing. Gray is ITU-R BT.601 luma (Go's color.Gray16Model); alpha is dropped
// (colours are taken premultiplied, i.e. over black). Without Height/Width the image must
// fill dst exactly.
func (im *Image) Tensor(dst []float32, o Options) (h, w int, err error) {
	b := im.Image.Bounds()
	h, w = b.Dy(), b.Dx()
	th, tw := o.Height, o.Width
	if th == 0 || tw == 0 {
		th, tw = h, w
	}
	c := o.Channels()
	if len(dst) != th*tw*c {
		return h, w, fmt.Errorf("image is %dx%d (height x width); the table's images are %dx%d (set size: to resize)", h, w, th, tw)
	}
	lo, hi := o.Lo, o.Hi
	if hi == 0 {
		lo, hi = 0, 255
		if im.Depth == 16 {
			hi = 65535
		}
	}
	div := 257.0 // 16-bit samples -> the file's 8-bit scale
	if im.Depth == 16 {
		div = 1
	}
	inv := 1 / (hi - lo)
	conv := func(v uint16) float32 { return float32((float64(v)/div - lo) * inv) }
	rect := image.Rect(0, 0, tw, th)
	if c == 1 {
		g := image.NewGray16(b)
		draw.Draw(g, b, im.Image, b.Min, draw.Src)
		if th != h || tw != w {
			r := image.NewGray16(rect)
			kernel(o.Interpolation).Scale(r, rect, g, b, draw.Src, nil)
			g = r
		}
		for y := range th {
			for x := range tw {
				dst[y*tw+x] = conv(g.Gray16At(g.Rect.Min.X+x, g.Rect.Min.Y+y).Y)
			}
		}
		return h, w, nil
	}
	rgba := image.NewRGBA64(b)
	draw.Draw(rgba, b, im.Image, b.Min, draw.Src)
	if th != h || tw != w {
		r := image.NewRGBA64(rect)
		kernel(o.Interpolation).Scale(r, rect, rgba, b, draw.Src, nil)
		rgba = r
	}
	for y := range th {
		for x := range tw {
			p := rgba.RGBA64At(rgba.Rect.Min.X+x, rgba.Rect.Min.Y+y)
			i := (y*tw + x) * 3
			dst[i], dst[i+1], dst[i+2] = conv(p.R), conv(p.G), conv(p.B)
		}
	}
	return h, w, nil
}
