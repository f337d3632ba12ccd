package dicom

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"math"
	"sync"

	biodicom "github.com/biopipe/biopipe/io/dicom"
)

// processor turns examples into tensors.
type processor struct {
	o     *Options
	shape []int     // output shape: [H,W,C] or [D,H,W,C]
	bufs  sync.Pool // *[]byte file buffers, reused across files
}

type result struct {
	x      []float32
	digest string
	file   string // the file that failed, on error
	err    error
}

func newProcessor(o *Options, shape []int) *processor { return &processor{o: o, shape: shape} }

func (p *processor) run(e *example) result {
	h, w, c := p.shape[len(p.shape)-3], p.shape[len(p.shape)-2], p.shape[len(p.shape)-1]
	bp, _ := p.bufs.Get().(*[]byte)
	if bp == nil {
		bp = new([]byte)
	}
	defer p.bufs.Put(bp) // the tensors below never alias the file buffer
	if p.o.Mode != ModeVolume {
		s := e.files[0]
		im, b, err := biodicom.ReadReuse(s.abs, *bp)
		*bp = b
		if err != nil {
			return result{file: s.rel, err: err}
		}
		x, err := p.slice(im, e.frame, h, w, c)
		if err != nil {
			return result{file: s.rel, err: err}
		}
		p.normalize(x, im.Header.PhotometricInterpretation)
		d := sha256.Sum256(b)
		return result{x: x, digest: hex.EncodeToString(d[:])}
	}
	var slicesOut [][]float32
	series := sha256.New()
	photometric := ""
	for _, s := range e.files {
		im, b, err := biodicom.ReadReuse(s.abs, *bp)
		*bp = b
		if err != nil {
			return result{file: s.rel, err: err}
		}
		d := sha256.Sum256(b)
		series.Write(d[:])
		photometric = im.Header.PhotometricInterpretation
		for fr := 0; fr < im.NumFrames(); fr++ {
			x, err := p.slice(im, fr, h, w, c)
			if err != nil {
				return result{file: s.rel, err: err}
			}
			slicesOut = append(slicesOut, x)
		}
	}
	x := resampleDepth(slicesOut, p.shape[0])
	p.normalize(x, photometric)
	return result{x: x, digest: hex.EncodeToString(series.Sum(nil))}
}

// slice decodes one frame: rescale, window, channel conversion and resize.
func (p *processor) slice(im *biodicom.Image, frame, h, w, c int) ([]float32, error) {
	v, err := im.FrameRescaled(frame, nil)
	if err != nil {
		return nil, err
	}
	hd := &im.Header
	if center, width, ok, err := p.window(hd, im.Path); err != nil {
		return nil, err
	} else if ok {
		lo := float32(center - width/2)
		inv := float32(1 / width)
		for i, x := range v {
			y := (x - lo) * inv
			v[i] = min(max(y, 0), 1)
		}
	}
	sc := hd.SamplesPerPixel
	if c != sc {
		v = convertChannels(v, hd.Rows*hd.Columns, sc, c)
	}
	if hd.Rows != h || hd.Columns != w {
		v = resizeBilinear(v, hd.Rows, hd.Columns, c, h, w)
	}
	return v, nil
}

// window returns the window to apply, if any.
func (p *processor) window(h *biodicom.Header, path string) (center, width float64, ok bool, err error) {
	switch {
	case p.o.WindowWidth > 0:
		return p.o.WindowCenter, p.o.WindowWidth, true, nil
	case p.o.Window == "none" || p.o.Window == "":
		return 0, 0, false, nil
	case p.o.Window == "file":
		if len(h.WindowCenter) == 0 || len(h.WindowWidth) == 0 || h.WindowWidth[0] <= 0 {
			return 0, 0, false, fmt.Errorf("%s: tag (0028,1050) WindowCenter / (0028,1051) WindowWidth: missing (window: file); choose a preset or window_center/window_width", path)
		}
		return h.WindowCenter[0], h.WindowWidth[0], true, nil
	}
	pr := Presets[p.o.Window]
	return pr[0], pr[1], true, nil
}

func (p *processor) windowed() bool {
	return p.o.WindowWidth > 0 || (p.o.Window != "none" && p.o.Window != "")
}

// normalize applies the per-example normalisation and MONOCHROME1 inversion.
func (p *processor) normalize(x []float32, photometric string) {
	mode := p.o.Normalize
	if mode == "auto" {
		mode = "minmax"
		if p.windowed() {
			mode = "none"
		}
	}
	invert := photometric == "MONOCHROME1"
	switch mode {
	case "minmax":
		lo, hi := float32(math.Inf(1)), float32(math.Inf(-1))
		for _, v := range x {
			lo, hi = min(lo, v), max(hi, v)
		}
		scale := float32(0)
		if hi > lo {
			scale = 1 / (hi - lo)
		}
		for i, v := range x {
			x[i] = (v - lo) * scale
		}
	case "zscore":
		var s, ss float64
		for _, v := range x {
			s += float64(v)
			ss += float64(v) * float64(v)
		}
		n := float64(len(x))
		mean := s / n
		sd := math.Sqrt(math.Max(ss/n-mean*mean, 0))
		inv := float32(0)
		if sd > 0 {
			inv = float32(1 / sd)
		}
		for i, v := range x {
			x[i] = (v - float32(mean)) * inv
		}
		if invert {
			for i := range x {
				x[i] = -x[i]
			}
		}
		return
	}
	if invert && (mode == "minmax" || p.windowed()) {
		for i, v := range x {
			x[i] = 1 - v
		}
	}
}

// convertChannels converts npix pixels of from samples to to samples (RGB -> grey with
// ITU-R BT.601 luma weights; grey -> repeated).
func convertChannels(v []float32, npix, from, to int) []float32 {
	out := make([]float32, npix*to)
	for p := 0; p < npix; p++ {
		switch {
		case from == 3 && to == 1:
			out[p] = 0.299*v[3*p] + 0.587*v[3*p+1] + 0.114*v[3*p+2]
		case from == 1 && to == 3:
			out[3*p], out[3*p+1], out[3*p+2] = v[p], v[p], v[p]
		}
	}
	return out
}

// resizeBilinear resizes an HxWxC image with half-pixel centres (no anti-aliasing).
func resizeBilinear(src []float32, h, w, c, oh, ow int) []float32 {
	out := make([]float32, oh*ow*c)
	sy, sx := float64(h)/float64(oh), float64(w)/float64(ow)
	x0s, x1s, fxs := make([]int, ow), make([]int, ow), make([]float32, ow)
	for x := 0; x < ow; x++ {
		x0s[x], x1s[x], fxs[x] = coord(x, sx, w)
	}
	for y := 0; y < oh; y++ {
		y0, y1, fy := coord(y, sy, h)
		for x := 0; x < ow; x++ {
			x0, x1, fx := x0s[x], x1s[x], fxs[x]
			for ch := 0; ch < c; ch++ {
				a := src[(y0*w+x0)*c+ch]
				b := src[(y0*w+x1)*c+ch]
				cc := src[(y1*w+x0)*c+ch]
				d := src[(y1*w+x1)*c+ch]
				top := a + (b-a)*fx
				bot := cc + (d-cc)*fx
				out[(y*ow+x)*c+ch] = top + (bot-top)*fy
			}
		}
	}
	return out
}

func coord(i int, scale float64, n int) (int, int, float32) {
	f := (float64(i)+0.5)*scale - 0.5
	if f < 0 {
		f = 0
	}
	i0 := int(f)
	if i0 > n-1 {
		i0 = n - 1
	}
	i1 := min(i0+1, n-1)
	return i0, i1, float32(f - float64(i0))
}

// resampleDepth stacks slices into [D,...] with linear interpolation along D.
func resampleDepth(slices [][]float32, d int) []float32 {
	n := len(slices[0])
	out := make([]float32, 0, d*n)
	if len(slices) == d {
		for _, s := range slices {
			out = append(out, s...)
		}
		return out
	}
	z0s := make([]float32, n)
	for k := 0; k < d; k++ {
		i0, i1, f := coord(k, float64(len(slices))/float64(d), len(slices))
		a, b := slices[i0], slices[i1]
		for j := range z0s {
			z0s[j] = a[j] + (b[j]-a[j])*f
		}
		out = append(out, z0s...)
	}
	return out
}
