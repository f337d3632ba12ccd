package nifti

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"
)

// MaxVoxels bounds the voxels Read accepts (4 GiB of float32), so a corrupt dim cannot ask
// for unbounded memory.
const MaxVoxels = 1 << 30

// Image is a NIfTI image: its header, shape (dim[1..]) and voxel values as float32 with the
// scaling applied, in the file's order (the first axis varies fastest: i + nx*(j + ny*k)).
type Image struct {
	Header *Header
	Shape  []int
	Data   []float32
	Affine Affine // BestAffine of the header (updated by Canonical)
}

// open returns the (decompressed when gzip) content reader of a file.
func open(path string) (io.ReadCloser, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	br := bufio.NewReaderSize(f, 1<<16)
	if m, _ := br.Peek(2); len(m) == 2 && m[0] == 0x1f && m[1] == 0x8b {
		zr, err := gzip.NewReader(br)
		if err != nil {
			f.Close()
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		return struct {
			io.Reader
			io.Closer
		}{zr, f}, nil
	}
	return struct {
		io.Reader
		io.Closer
	}{br, f}, nil
}

// ReadHeader reads only the header of a .nii, .nii.gz or .hdr file.
func ReadHeader(path string) (*Header, error) {
	r, err := open(path)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	h, _, err := readHeader(r, path)
	return h, err
}

// readHeader reads and parses the header at the start of r. It returns the bytes it read too:
// in a single-file image they may run past the header into extensions and voxel data.
func readHeader(r io.Reader, path string) (*Header, []byte, error) {
	b := make([]byte, Size2)
	n, err := io.ReadFull(r, b)
	if err != nil && err != io.ErrUnexpectedEOF {
		return nil, nil, fmt.Errorf("%s: %w", path, err)
	}
	h, err := ParseHeader(b[:n])
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", path, err)
	}
	return h, b[:n], nil
}

// Read reads a NIfTI-1 or NIfTI-2 image: a single .nii/.nii.gz file, or a .hdr/.img pair
// (either name).
func Read(path string) (*Image, error) {
	hdrPath, imgPath := path, path
	lower := strings.ToLower(path)
	switch {
	case strings.HasSuffix(lower, ".img"), strings.HasSuffix(lower, ".img.gz"):
		hdrPath = pairName(path, ".hdr")
	}
	r, err := open(hdrPath)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	h, b, err := readHeader(r, hdrPath)
	if err != nil {
		return nil, err
	}
	dt, ok := datatypes[h.Datatype]
	if !ok {
		return nil, fmt.Errorf("%s: datatype %d is not supported (supported: uint8, int8, int16, uint16, int32, uint32, int64, uint64, float32, float64)", hdrPath, h.Datatype)
	}
	nvox := h.Voxels()
	if nvox > MaxVoxels {
		return nil, fmt.Errorf("%s: %d voxels (dim %v) exceed the limit of %d", hdrPath, nvox, h.Shape(), MaxVoxels)
	}
	var data io.Reader
	single := h.Magic == "n+1" || h.Magic == "n+2"
	if single {
		hs := int64(Size1)
		if h.Version == 2 {
			hs = Size2
		}
		if h.VoxOffset < hs {
			if h.VoxOffset != 0 {
				return nil, fmt.Errorf("%s: vox_offset %d lies inside the %d-byte header", path, h.VoxOffset, hs)
			}
			h.VoxOffset = hs + 4
		}
		// Skip what follows the header (extensions) up to vox_offset.
		skip := h.VoxOffset - int64(len(b))
		if skip < 0 {
			data = io.MultiReader(bytes.NewReader(b[h.VoxOffset:]), r)
		} else {
			if _, err := io.CopyN(io.Discard, r, skip); err != nil {
				return nil, fmt.Errorf("%s: extensions up to vox_offset %d: %w", path, h.VoxOffset, err)
			}
			data = r
		}
	} else {
		if imgPath == hdrPath {
			imgPath = pairName(path, ".img")
		}
		ir, err := open(imgPath)
		if err != nil {
			return nil, fmt.Errorf("%s: header names a separate image file: %w", hdrPath, err)
		}
		defer ir.Close()
		if _, err := io.CopyN(io.Discard, ir, h.VoxOffset); err != nil {
			return nil, fmt.Errorf("%s: vox_offset %d: %w", imgPath, h.VoxOffset, err)
		}
		data = ir
	}
	raw := make([]byte, nvox*int64(dt.bytes))
	if _, err := io.ReadFull(data, raw); err != nil {
		return nil, fmt.Errorf("%s: voxel data: want %d bytes (%d voxels of %s): %w", path, len(raw), nvox, dt.name, err)
	}
	im := &Image{Header: h, Shape: h.Shape(), Data: make([]float32, nvox), Affine: h.BestAffine()}
	slope, inter := h.Scaling()
	decode(raw, h.Datatype, h.ByteOrder, slope, inter, im.Data)
	return im, nil
}

func pairName(path, ext string) string {
	p := path
	gz := strings.HasSuffix(strings.ToLower(p), ".gz")
	if gz {
		p = p[:len(p)-3]
	}
	p = strings.TrimSuffix(p, filepath.Ext(p)) + ext
	if gz {
		if _, err := os.Stat(p + ".gz"); err == nil {
			return p + ".gz"
		}
	}
	return p
}

// decode converts raw voxels to float32 values with the scaling applied (in float64).
func decode(raw []byte, datatype int, order binary.ByteOrder, slope, inter float64, out []float32) {
	scale := func(v float64) float32 { return float32(v*slope + inter) }
	for i := range out {
		var v float64
		switch datatype {
		case Uint8:
			v = float64(raw[i])
		case Int8:
			v = float64(int8(raw[i]))
		case Int16:
			v = float64(int16(order.Uint16(raw[2*i:])))
		case Uint16:
			v = float64(order.Uint16(raw[2*i:]))
		case Int32:
			v = float64(int32(order.Uint32(raw[4*i:])))
		case Uint32:
			v = float64(order.Uint32(raw[4*i:]))
		case Int64:
			v = float64(int64(order.Uint64(raw[8*i:])))
		case Uint64:
			v = float64(order.Uint64(raw[8*i:]))
		case Float32:
			v = float64(math.Float32frombits(order.Uint32(raw[4*i:])))
		case Float64:
			v = math.Float64frombits(order.Uint64(raw[8*i:]))
		}
		out[i] = scale(v)
	}
}

// Orientation returns, for each of the first three voxel axes, the world axis it runs
// closest to (0 = x, 1 = y, 2 = z) and its direction (+1 or -1), found greedily on the
// affine's direction cosines (largest cosine first), as nibabel's io_orientation does for
// affines without large shears.
func (a Affine) Orientation() (axis [3]int, sign [3]float64) {
	var cos [3][3]float64
	for j := range 3 {
		n := math.Sqrt(a[0][j]*a[0][j] + a[1][j]*a[1][j] + a[2][j]*a[2][j])
		for i := range 3 {
			if n > 0 {
				cos[i][j] = a[i][j] / n
			}
		}
	}
	usedRow, usedCol := [3]bool{}, [3]bool{}
	for range 3 {
		bi, bj, best := -1, -1, -1.0
		for i := range 3 {
			for j := range 3 {
				if !usedRow[i] && !usedCol[j] && math.Abs(cos[i][j]) > best {
					bi, bj, best = i, j, math.Abs(cos[i][j])
				}
			}
		}
		usedRow[bi], usedCol[bj] = true, true
		axis[bj] = bi
		sign[bj] = 1
		if cos[bi][bj] < 0 {
			sign[bj] = -1
		}
	}
	return axis, sign
}

// Axcodes names the orientation, e.g. "RAS" or "LPS": the direction in which each voxel
// axis increases.
func (a Affine) Axcodes() string {
	axis, sign := a.Orientation()
	pos, neg := "RAS", "LPI"
	out := make([]byte, 3)
	for j := range 3 {
		if sign[j] > 0 {
			out[j] = pos[axis[j]]
		} else {
			out[j] = neg[axis[j]]
		}
	}
	return string(out)
}

// Canonical returns the image reoriented to the closest RAS+ orientation: voxel axes
// permuted and flipped so that they increase to the right, anterior and superior, and the
// affine changed to match (the world position of every voxel stays the same). Axes beyond
// the third (time, ...) are kept. An image already in RAS+ is returned as it is.
func (im *Image) Canonical() *Image {
	if im.Affine.Axcodes() == "RAS" {
		return im
	}
	axis, sign := im.Affine.Orientation()
	shape := make([]int, max(len(im.Shape), 3))
	for i := range shape {
		shape[i] = 1
	}
	copy(shape, im.Shape)
	// src axis j becomes output axis axis[j].
	var newShape [3]int
	for j := range 3 {
		newShape[axis[j]] = shape[j]
	}
	out := &Image{Header: im.Header, Data: make([]float32, len(im.Data))}
	out.Shape = append([]int{newShape[0], newShape[1], newShape[2]}, shape[3:]...)
	out.Shape = out.Shape[:max(len(im.Shape), 3)]
	// Affine: output column axis[j] = sign[j] * source column j; a flipped axis moves the
	// origin to the source's last voxel along it.
	var a Affine
	a[3][3] = 1
	for i := range 3 {
		a[i][3] = im.Affine[i][3]
	}
	for j := range 3 {
		for i := range 3 {
			a[i][axis[j]] = sign[j] * im.Affine[i][j]
			if sign[j] < 0 {
				a[i][3] += im.Affine[i][j] * float64(shape[j]-1)
			}
		}
	}
	out.Affine = a
	nx, ny, nz := shape[0], shape[1], shape[2]
	vol := nx * ny * nz
	ostride := [3]int{1, newShape[0], newShape[0] * newShape[1]}
	for t := 0; t < len(im.Data)/vol; t++ {
		base := t * vol
		for k := range nz {
			for jj := range ny {
				for i := range nx {
					src := [3]int{i, jj, k}
					o := 0
					for d := range 3 {
						idx := src[d]
						if sign[d] < 0 {
							idx = shape[d] - 1 - idx
						}
						o += idx * ostride[axis[d]]
					}
					out.Data[base+o] = im.Data[base+i+nx*(jj+ny*k)]
				}
			}
		}
	}
	return out
}

// Zooms returns the voxel sizes along the first three axes (the affine's column norms).
func (a Affine) Zooms() [3]float64 {
	var z [3]float64
	for j := range 3 {
		z[j] = math.Sqrt(a[0][j]*a[0][j] + a[1][j]*a[1][j] + a[2][j]*a[2][j])
	}
	return z
}
