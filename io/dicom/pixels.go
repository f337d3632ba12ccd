package dicom

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"image"
	"image/jpeg"
	"math"
)

// FrameLen returns the number of samples of one frame: Rows*Columns*SamplesPerPixel.
func (h *Header) FrameLen() int { return h.Rows * h.Columns * h.SamplesPerPixel }

// NumFrames returns the number of frames in the file.
func (im *Image) NumFrames() int { return im.Header.Frames }

// check validates the pixel description before decoding.
func (im *Image) check() error {
	h := &im.Header
	if !h.HasPixelData {
		return fmt.Errorf("%s: tag (7FE0,0010) PixelData: missing", im.Path)
	}
	switch {
	case h.Rows <= 0:
		return fmt.Errorf("%s: tag (0028,0010) Rows: missing or zero", im.Path)
	case h.Columns <= 0:
		return fmt.Errorf("%s: tag (0028,0011) Columns: missing or zero", im.Path)
	case h.SamplesPerPixel != 1 && h.SamplesPerPixel != 3:
		return fmt.Errorf("%s: tag (0028,0002) SamplesPerPixel: %d not supported (want 1 or 3)", im.Path, h.SamplesPerPixel)
	}
	switch h.BitsAllocated {
	case 1, 8, 16, 32:
	default:
		return fmt.Errorf("%s: tag (0028,0100) BitsAllocated: %d not supported (want 1, 8, 16 or 32)", im.Path, h.BitsAllocated)
	}
	if h.BitsStored <= 0 || h.BitsStored > h.BitsAllocated {
		h.BitsStored = h.BitsAllocated
	}
	switch h.TransferSyntaxUID {
	case ImplicitVRLittleEndian, ExplicitVRLittleEndian, DeflatedExplicitVRLE, ExplicitVRBigEndian:
		want := (int64(h.nativeFrameBits())*int64(h.Frames) + 7) / 8
		if int64(len(im.native)) < want {
			if im.frames != nil {
				return fmt.Errorf("%s: tag (7FE0,0010) PixelData: encapsulated data in native transfer syntax %s", im.Path, h.TransferSyntaxUID)
			}
			return fmt.Errorf("%s: tag (7FE0,0010) PixelData: %d bytes, want %d (%d frames of %dx%dx%d at %d bits): file truncated?",
				im.Path, len(im.native), want, h.Frames, h.Rows, h.Columns, h.SamplesPerPixel, h.BitsAllocated)
		}
	case RLELossless:
		if h.BitsAllocated == 1 {
			return fmt.Errorf("%s: RLE Lossless with BitsAllocated 1 not supported", im.Path)
		}
		if len(im.frames) != h.Frames {
			return fmt.Errorf("%s: tag (7FE0,0010) PixelData: %d RLE frames, want %d", im.Path, len(im.frames), h.Frames)
		}
	case JPEGBaseline:
		if h.BitsAllocated != 8 {
			return fmt.Errorf("%s: JPEG Baseline with BitsAllocated %d (want 8)", im.Path, h.BitsAllocated)
		}
		if len(im.frames) != h.Frames {
			return fmt.Errorf("%s: tag (7FE0,0010) PixelData: %d JPEG frames, want %d", im.Path, len(im.frames), h.Frames)
		}
	default:
		name := SyntaxName(h.TransferSyntaxUID)
		if name == "" {
			name = "unknown"
		}
		return fmt.Errorf("%s: %w %q (%s): biopipe decodes native, RLE Lossless and JPEG Baseline pixel data; convert the file first (for example: dcmdjpeg, gdcmconv --raw)",
			im.Path, ErrUnsupportedSyntax, name, h.TransferSyntaxUID)
	}
	return nil
}

// layout describes raw frame bytes handed to the sample converters.
type layout struct {
	bo     binary.ByteOrder
	planar bool
	bitOff int // for BitsAllocated 1: index of the frame's first bit
}

// frameBytes returns the bytes of frame i in a form the converters read, decoding
// RLE and JPEG frames.
func (im *Image) frameBytes(i int) ([]byte, layout, error) {
	h := &im.Header
	if err := im.check(); err != nil {
		return nil, layout{}, err
	}
	if i < 0 || i >= h.Frames {
		return nil, layout{}, fmt.Errorf("%s: frame %d out of range (%d frames)", im.Path, i, h.Frames)
	}
	n := h.FrameLen()
	switch h.TransferSyntaxUID {
	case RLELossless:
		out, err := DecodeRLE(im.frames[i], h.Rows*h.Columns, h.SamplesPerPixel, h.BitsAllocated/8, nil)
		if err != nil {
			return nil, layout{}, fmt.Errorf("%s: frame %d: %w", im.Path, i, err)
		}
		return out, layout{bo: binary.BigEndian}, nil
	case JPEGBaseline:
		out, err := decodeJPEG(im.frames[i], h)
		if err != nil {
			return nil, layout{}, fmt.Errorf("%s: frame %d: %w", im.Path, i, err)
		}
		return out, layout{bo: binary.LittleEndian}, nil
	}
	lay := layout{bo: binary.LittleEndian, planar: h.PlanarConfiguration == 1 && h.SamplesPerPixel > 1}
	if h.TransferSyntaxUID == ExplicitVRBigEndian {
		lay.bo = binary.BigEndian
	}
	if h.BitsAllocated == 1 {
		lay.bitOff = i * n
		return im.native, lay, nil
	}
	size := h.nativeFrameBits() / 8
	src := im.native[i*size : (i+1)*size]
	if h.subsampled422() {
		return expand422(src, n), lay, nil
	}
	return src, lay, nil
}

// subsampled422 reports native YBR_FULL_422 data: two luma samples share one chroma pair.
func (h *Header) subsampled422() bool {
	return h.PhotometricInterpretation == "YBR_FULL_422" && h.SamplesPerPixel == 3 && h.BitsAllocated == 8
}

// nativeFrameBits is the size of one native frame in bits.
func (h *Header) nativeFrameBits() int {
	if h.subsampled422() {
		return h.Rows * h.Columns * 2 * 8
	}
	return h.FrameLen() * h.BitsAllocated
}

// expand422 turns Y1 Y2 Cb Cr groups into two full Y Cb Cr pixels.
func expand422(src []byte, n int) []byte {
	out := make([]byte, n)
	for i, o := 0, 0; i+3 < len(src) && o+5 < n; i, o = i+4, o+6 {
		cb, cr := src[i+2], src[i+3]
		out[o], out[o+1], out[o+2] = src[i], cb, cr
		out[o+3], out[o+4], out[o+5] = src[i+1], cb, cr
	}
	return out
}

// Frame decodes frame i into dst (grown as needed) as stored values, interleaved
// (row-major, samples last: HxWxC), before Rescale Slope/Intercept.
func (im *Image) Frame(i int, dst []float32) ([]float32, error) {
	return im.frame(i, dst, 1, 0)
}

// FrameRescaled decodes frame i and applies Rescale Slope/Intercept (CT: Hounsfield units).
func (im *Image) FrameRescaled(i int, dst []float32) ([]float32, error) {
	return im.frame(i, dst, float32(im.Header.RescaleSlope), float32(im.Header.RescaleIntercept))
}

func (im *Image) frame(i int, dst []float32, slope, intercept float32) ([]float32, error) {
	src, lay, err := im.frameBytes(i)
	if err != nil {
		return nil, err
	}
	n := im.Header.FrameLen()
	if cap(dst) < n {
		dst = make([]float32, n)
	}
	dst = dst[:n]
	if !fast16(src, lay, &im.Header, dst, slope, intercept) {
		convert(src, lay, &im.Header, func(k int, v int64) { dst[k] = float32(v) }, dst)
		if slope != 1 || intercept != 0 {
			for k, v := range dst {
				dst[k] = v*slope + intercept
			}
		}
	}
	return dst, nil
}

// fast16 decodes the common case, interleaved 16-bit samples using all 16 bits, with the
// rescale fused into the loop; it reports whether it handled the frame.
func fast16(src []byte, lay layout, h *Header, dst []float32, s, b float32) bool {
	if h.BitsAllocated != 16 || h.BitsStored != 16 || lay.planar {
		return false
	}
	src = src[:2*len(dst)]
	signed := h.PixelRepresentation == 1
	if lay.bo == binary.LittleEndian && convert16LE(src, dst, signed, s, b) {
		return true
	}
	switch {
	case lay.bo == binary.LittleEndian && signed:
		for k := range dst {
			dst[k] = float32(int16(binary.LittleEndian.Uint16(src[2*k:])))*s + b
		}
	case lay.bo == binary.LittleEndian:
		for k := range dst {
			dst[k] = float32(binary.LittleEndian.Uint16(src[2*k:]))*s + b
		}
	case signed:
		for k := range dst {
			dst[k] = float32(int16(binary.BigEndian.Uint16(src[2*k:])))*s + b
		}
	default:
		for k := range dst {
			dst[k] = float32(binary.BigEndian.Uint16(src[2*k:]))*s + b
		}
	}
	return true
}

// Stats holds the minimum, maximum and mean of the stored values of all frames.
type Stats struct {
	Min, Max, Mean float64
	Count          int
}

// Stats computes exact statistics of the stored values of all frames (before rescale).
func (im *Image) Stats() (Stats, error) {
	st := Stats{Min: math.Inf(1), Max: math.Inf(-1)}
	var sum float64
	lo, hi := int64(math.MaxInt64), int64(math.MinInt64)
	for i := 0; i < im.Header.Frames; i++ {
		src, lay, err := im.frameBytes(i)
		if err != nil {
			return Stats{}, err
		}
		var fsum int64
		convert(src, lay, &im.Header, func(_ int, v int64) {
			lo, hi = min(lo, v), max(hi, v)
			fsum += v
		}, nil)
		sum += float64(fsum)
		st.Count += im.Header.FrameLen()
	}
	if st.Count > 0 {
		st.Min, st.Max, st.Mean = float64(lo), float64(hi), sum/float64(st.Count)
	}
	return st, nil
}

// convert walks the samples of one frame. When dst is non-nil and the layout allows, it
// uses tight loops writing dst directly; otherwise it calls put(k, value) per sample with
// k the interleaved index.
func convert(src []byte, lay layout, h *Header, put func(k int, v int64), dst []float32) {
	n := h.FrameLen()
	spp := h.SamplesPerPixel
	npix := h.Rows * h.Columns
	signed := h.PixelRepresentation == 1
	bits := h.BitsStored
	mask := uint64(1)<<uint(bits) - 1
	sign := uint64(1) << uint(bits-1)
	fix := func(u uint64) int64 {
		u &= mask
		if signed && u&sign != 0 {
			return int64(u) - int64(mask) - 1
		}
		return int64(u)
	}
	// index maps the k-th sample in storage order to its interleaved position.
	index := func(k int) int { return k }
	if lay.planar {
		index = func(k int) int { return (k%npix)*spp + k/npix }
	}
	switch h.BitsAllocated {
	case 1:
		for k := 0; k < n; k++ {
			b := lay.bitOff + k
			put(index(k), int64(src[b>>3]>>(uint(b)&7)&1))
		}
	case 8:
		if dst != nil && !lay.planar && bits == 8 {
			if signed {
				for k, b := range src[:n] {
					dst[k] = float32(int8(b))
				}
			} else {
				for k, b := range src[:n] {
					dst[k] = float32(b)
				}
			}
			return
		}
		for k := 0; k < n; k++ {
			put(index(k), fix(uint64(src[k])))
		}
	case 16:
		src = src[:2*n]
		if dst != nil && !lay.planar && bits == 16 {
			le := lay.bo == binary.LittleEndian
			for k := range dst[:n] {
				var u uint16
				if le {
					u = uint16(src[2*k]) | uint16(src[2*k+1])<<8
				} else {
					u = uint16(src[2*k+1]) | uint16(src[2*k])<<8
				}
				if signed {
					dst[k] = float32(int16(u))
				} else {
					dst[k] = float32(u)
				}
			}
			return
		}
		for k := 0; k < n; k++ {
			put(index(k), fix(uint64(lay.bo.Uint16(src[2*k:]))))
		}
	case 32:
		for k := 0; k < n; k++ {
			put(index(k), fix(uint64(lay.bo.Uint32(src[4*k:]))))
		}
	}
}

// decodeJPEG decodes a baseline JPEG frame into 8-bit interleaved samples.
func decodeJPEG(data []byte, h *Header) ([]byte, error) {
	cfg, err := jpeg.DecodeConfig(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("JPEG Baseline: %w", err)
	}
	if cfg.Width != h.Columns || cfg.Height != h.Rows {
		return nil, fmt.Errorf("JPEG Baseline: image is %dx%d, header says %dx%d", cfg.Width, cfg.Height, h.Columns, h.Rows)
	}
	img, err := jpeg.Decode(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("JPEG Baseline: %w", err)
	}
	b := img.Bounds()
	if b.Dx() != h.Columns || b.Dy() != h.Rows {
		return nil, fmt.Errorf("JPEG Baseline: image is %dx%d, header says %dx%d", b.Dx(), b.Dy(), h.Columns, h.Rows)
	}
	out := make([]byte, h.FrameLen())
	switch m := img.(type) {
	case *image.Gray:
		if h.SamplesPerPixel != 1 {
			return nil, fmt.Errorf("JPEG Baseline: 1 component, header says %d samples per pixel", h.SamplesPerPixel)
		}
		for y := 0; y < h.Rows; y++ {
			copy(out[y*h.Columns:(y+1)*h.Columns], m.Pix[y*m.Stride:])
		}
	default:
		if h.SamplesPerPixel != 3 {
			return nil, fmt.Errorf("JPEG Baseline: colour image, header says %d samples per pixel", h.SamplesPerPixel)
		}
		k := 0
		for y := b.Min.Y; y < b.Max.Y; y++ {
			for x := b.Min.X; x < b.Max.X; x++ {
				r, g, bl, _ := img.At(x, y).RGBA()
				out[k], out[k+1], out[k+2] = byte(r>>8), byte(g>>8), byte(bl>>8)
				k += 3
			}
		}
	}
	return out, nil
}
