package nifti

import (
	"fmt"
	"math"
)

// Resample returns a 3-D image resampled to the given voxel sizes (mm, per voxel axis) by
// trilinear interpolation, or nearest neighbour with nearest (label masks). Voxel centres
// keep their physical extent: new voxel i samples the old position (i + 0.5) * s/z - 0.5,
// clamped to the volume; the new shape is round(n * z / s). The affine's columns are
// rescaled and its origin moved to the new first voxel's centre.
func (im *Image) Resample(spacing [3]float64, nearest bool) (*Image, error) {
	if len(im.Shape) != 3 {
		return nil, fmt.Errorf("resample: image has %d axes (shape %v); resample handles 3-D volumes", len(im.Shape), im.Shape)
	}
	zoom := im.Affine.Zooms()
	var n, m [3]int
	var step [3]float64
	same := true
	for d := range 3 {
		if spacing[d] <= 0 || zoom[d] <= 0 {
			return nil, fmt.Errorf("resample: spacing %v and voxel size %v must be positive", spacing, zoom)
		}
		n[d] = im.Shape[d]
		m[d] = max(1, int(math.Round(float64(n[d])*zoom[d]/spacing[d])))
		step[d] = spacing[d] / zoom[d]
		if m[d] != n[d] || math.Abs(step[d]-1) > 1e-9 {
			same = false
		}
	}
	if same {
		return im, nil
	}
	out := &Image{Header: im.Header, Shape: []int{m[0], m[1], m[2]}, Data: make([]float32, m[0]*m[1]*m[2])}
	pos := func(d, i int) float64 {
		return math.Min(math.Max((float64(i)+0.5)*step[d]-0.5, 0), float64(n[d]-1))
	}
	a := im.Affine
	var o [3]float64
	for d := range 3 {
		o[d] = pos(d, 0)
	}
	for r := range 3 {
		for c := range 3 {
			out.Affine[r][c] = a[r][c] * step[c]
		}
		out.Affine[r][3] = a[r][3] + a[r][0]*o[0] + a[r][1]*o[1] + a[r][2]*o[2]
	}
	out.Affine[3][3] = 1
	at := func(i, j, k int) float64 { return float64(im.Data[i+n[0]*(j+n[1]*k)]) }
	for k := range m[2] {
		z := pos(2, k)
		k0 := int(z)
		k1, fz := min(k0+1, n[2]-1), z-float64(k0)
		for j := range m[1] {
			y := pos(1, j)
			j0 := int(y)
			j1, fy := min(j0+1, n[1]-1), y-float64(j0)
			for i := range m[0] {
				x := pos(0, i)
				i0 := int(x)
				i1, fx := min(i0+1, n[0]-1), x-float64(i0)
				var v float64
				if nearest {
					v = at(int(math.Round(x)), int(math.Round(y)), int(math.Round(z)))
				} else {
					c00 := at(i0, j0, k0)*(1-fx) + at(i1, j0, k0)*fx
					c10 := at(i0, j1, k0)*(1-fx) + at(i1, j1, k0)*fx
					c01 := at(i0, j0, k1)*(1-fx) + at(i1, j0, k1)*fx
					c11 := at(i0, j1, k1)*(1-fx) + at(i1, j1, k1)*fx
					v = (c00*(1-fy)+c10*fy)*(1-fz) + (c01*(1-fy)+c11*fy)*fz
				}
				out.Data[i+m[0]*(j+m[1]*k)] = float32(v)
			}
		}
	}
	return out, nil
}

// CropOrPad returns the 3-D image cut or padded (with fill) to shape, centred: a longer axis
// loses (n - m) / 2 voxels at its start (rounded down) and the rest at its end; a shorter
// one is padded the same way. The affine's origin follows the first voxel.
func (im *Image) CropOrPad(shape [3]int, fill float32) (*Image, error) {
	if len(im.Shape) != 3 {
		return nil, fmt.Errorf("crop/pad: image has %d axes (shape %v); 3-D volumes only", len(im.Shape), im.Shape)
	}
	var off [3]int // source index of output voxel 0
	for d := range 3 {
		if shape[d] < 1 {
			return nil, fmt.Errorf("crop/pad: shape %v must be positive", shape)
		}
		off[d] = (im.Shape[d] - shape[d]) / 2
		if im.Shape[d] < shape[d] {
			off[d] = -((shape[d] - im.Shape[d]) / 2)
		}
	}
	out := &Image{Header: im.Header, Shape: []int{shape[0], shape[1], shape[2]}, Data: make([]float32, shape[0]*shape[1]*shape[2]), Affine: im.Affine}
	for r := range 3 {
		out.Affine[r][3] = im.Affine[r][3] + im.Affine[r][0]*float64(off[0]) + im.Affine[r][1]*float64(off[1]) + im.Affine[r][2]*float64(off[2])
	}
	n := im.Shape
	for k := range shape[2] {
		for j := range shape[1] {
			for i := range shape[0] {
				si, sj, sk := i+off[0], j+off[1], k+off[2]
				v := fill
				if si >= 0 && si < n[0] && sj >= 0 && sj < n[1] && sk >= 0 && sk < n[2] {
					v = im.Data[si+n[0]*(sj+n[1]*sk)]
				}
				out.Data[i+shape[0]*(j+shape[1]*k)] = v
			}
		}
	}
	return out, nil
}
