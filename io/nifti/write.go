package nifti

import (
	"bufio"
	"compress/gzip"
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"
)

// WriteOptions say how Write stores an image.
type WriteOptions struct {
	Datatype    int     // Uint8, Int16 or Float32 (default)
	SclSlope    float64 // stored in the header; 0 = none. Values are divided by it before storing.
	SclInter    float64
	Description string
	Units       int // xyzt_units; 0 = mm and seconds (10)
}

// Write stores an image (shape up to 7 axes, data in NIfTI order) as a NIfTI-1 single file,
// gzip-compressed when path ends in .gz. The affine is written as both sform and qform (code
// 2, aligned), as nibabel does for a new image; the qform keeps the rotation and voxel sizes
// of an affine without shear. Integer datatypes round to the nearest value and fail on
// values out of range. The file is written to a temporary name and renamed.
func Write(path string, shape []int, data []float32, affine Affine, o WriteOptions) error {
	if o.Datatype == 0 {
		o.Datatype = Float32
	}
	if len(shape) < 1 || len(shape) > 7 {
		return fmt.Errorf("%s: %d axes; NIfTI holds 1 to 7", path, len(shape))
	}
	n := 1
	for _, d := range shape {
		if d < 1 || d > math.MaxInt16 {
			return fmt.Errorf("%s: axis length %d is outside 1..32767 (NIfTI-1)", path, d)
		}
		n *= d
	}
	if n != len(data) {
		return fmt.Errorf("%s: shape %v holds %d voxels, data has %d", path, shape, n, len(data))
	}
	dt, ok := datatypes[o.Datatype]
	if !ok || (o.Datatype != Uint8 && o.Datatype != Int16 && o.Datatype != Float32) {
		return fmt.Errorf("%s: write datatype %s: use uint8 (2), int16 (4) or float32 (16)", path, DatatypeName(o.Datatype))
	}
	le := binary.LittleEndian
	h := make([]byte, Size1+4) // header + the 4-byte "no extension" flag
	le.PutUint32(h[0:], Size1)
	h[38] = 'r' // regular
	put16 := func(off int, v int) { le.PutUint16(h[off:], uint16(int16(v))) }
	put32f := func(off int, v float64) { le.PutUint32(h[off:], math.Float32bits(float32(v))) }
	put16(40, len(shape))
	for i, d := range shape {
		put16(42+2*i, d)
	}
	for i := len(shape); i < 7; i++ {
		put16(42+2*i, 1)
	}
	put16(70, o.Datatype)
	put16(72, 8*dt.bytes)
	zooms := affine.Zooms()
	b, c, d, qfac := quaternion(affine)
	put32f(76, qfac)
	for i := range 7 {
		z := 1.0
		if i < 3 {
			z = zooms[i]
		}
		put32f(80+4*i, z)
	}
	put32f(108, float64(Size1+4))
	put32f(112, o.SclSlope)
	put32f(116, o.SclInter)
	units := o.Units
	if units == 0 {
		units = 2 | 8 // mm, s
	}
	h[123] = byte(units)
	copy(h[148:227], o.Description)
	put16(252, 2)
	put16(254, 2)
	put32f(256, b)
	put32f(260, c)
	put32f(264, d)
	for i := range 3 {
		put32f(268+4*i, affine[i][3])
		for j := range 4 {
			put32f(280+16*i+4*j, affine[i][j])
		}
	}
	copy(h[344:], "n+1\x00")

	dir, base := filepath.Split(path)
	tmp, err := os.CreateTemp(dir, "."+base+".tmp*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	bw := bufio.NewWriterSize(tmp, 1<<16)
	var w io.Writer = bw
	var zw *gzip.Writer
	if strings.HasSuffix(strings.ToLower(path), ".gz") {
		zw = gzip.NewWriter(bw)
		w = zw
	}
	if _, err := w.Write(h); err != nil {
		tmp.Close()
		return err
	}
	slope, inter := 1.0, 0.0
	if o.SclSlope != 0 {
		slope, inter = o.SclSlope, o.SclInter
	}
	buf := make([]byte, 0, 1<<16)
	for i, v := range data {
		s := (float64(v) - inter) / slope
		switch o.Datatype {
		case Uint8, Int16:
			r := math.Round(s)
			lo, hi := 0.0, 255.0
			if o.Datatype == Int16 {
				lo, hi = math.MinInt16, math.MaxInt16
			}
			if math.IsNaN(r) || r < lo || r > hi {
				tmp.Close()
				return fmt.Errorf("%s: voxel %d is %g, outside the %s range", path, i, v, dt.name)
			}
			if o.Datatype == Uint8 {
				buf = append(buf, uint8(r))
			} else {
				buf = le.AppendUint16(buf, uint16(int16(r)))
			}
		default:
			buf = le.AppendUint32(buf, math.Float32bits(float32(s)))
		}
		if len(buf) >= 1<<16-8 {
			if _, err := w.Write(buf); err != nil {
				tmp.Close()
				return err
			}
			buf = buf[:0]
		}
	}
	if _, err := w.Write(buf); err != nil {
		tmp.Close()
		return err
	}
	if zw != nil {
		if err := zw.Close(); err != nil {
			tmp.Close()
			return err
		}
	}
	if err := bw.Flush(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

// quaternion returns the qform quaternion (b, c, d) and qfac of an affine whose 3x3 part is
// a rotation times voxel sizes (nifti1_io's mat44_to_quatern without the polar step).
func quaternion(a Affine) (b, c, d, qfac float64) {
	z := a.Zooms()
	var r [3][3]float64
	for i := range 3 {
		for j := range 3 {
			if z[j] > 0 {
				r[i][j] = a[i][j] / z[j]
			}
		}
	}
	det := r[0][0]*(r[1][1]*r[2][2]-r[1][2]*r[2][1]) - r[0][1]*(r[1][0]*r[2][2]-r[1][2]*r[2][0]) + r[0][2]*(r[1][0]*r[2][1]-r[1][1]*r[2][0])
	qfac = 1
	if det < 0 {
		qfac = -1
		for i := range 3 {
			r[i][2] = -r[i][2]
		}
	}
	var qa float64
	if t := r[0][0] + r[1][1] + r[2][2] + 1; t > 0.5 {
		qa = 0.5 * math.Sqrt(t)
		b = 0.25 * (r[2][1] - r[1][2]) / qa
		c = 0.25 * (r[0][2] - r[2][0]) / qa
		d = 0.25 * (r[1][0] - r[0][1]) / qa
	} else {
		xd := 1 + r[0][0] - (r[1][1] + r[2][2])
		yd := 1 + r[1][1] - (r[0][0] + r[2][2])
		zd := 1 + r[2][2] - (r[0][0] + r[1][1])
		switch {
		case xd > 1:
			b = 0.5 * math.Sqrt(xd)
			c = 0.25 * (r[0][1] + r[1][0]) / b
			d = 0.25 * (r[0][2] + r[2][0]) / b
			qa = 0.25 * (r[2][1] - r[1][2]) / b
		case yd > 1:
			c = 0.5 * math.Sqrt(yd)
			b = 0.25 * (r[0][1] + r[1][0]) / c
			d = 0.25 * (r[1][2] + r[2][1]) / c
			qa = 0.25 * (r[0][2] - r[2][0]) / c
		default:
			d = 0.5 * math.Sqrt(zd)
			b = 0.25 * (r[0][2] + r[2][0]) / d
			c = 0.25 * (r[1][2] + r[2][1]) / d
			qa = 0.25 * (r[1][0] - r[0][1]) / d
		}
		if qa < 0 {
			b, c, d = -b, -c, -d
		}
	}
	return b, c, d, qfac
}
