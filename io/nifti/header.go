// Package nifti reads and writes NIfTI-1 and NIfTI-2 images (.nii, .nii.gz): the header
// (dimensions, voxel sizes, datatype, scaling, qform and sform), the voxel data as float32
// with scl_slope/scl_inter applied, the voxel-to-world affine, and reorientation to the
// closest canonical RAS+ orientation. It knows nothing of pipelines.
package nifti

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math"
	"strings"
)

// Header sizes.
const (
	Size1 = 348
	Size2 = 540
)

// Datatype codes (nifti1.h).
const (
	Uint8   = 2
	Int16   = 4
	Int32   = 8
	Float32 = 16
	Float64 = 64
	Int8    = 256
	Uint16  = 512
	Uint32  = 768
	Int64   = 1024
	Uint64  = 1280
)

// datatypes maps a supported code to its name and bytes per voxel.
var datatypes = map[int]struct {
	name  string
	bytes int
}{
	Uint8: {"uint8", 1}, Int16: {"int16", 2}, Int32: {"int32", 4}, Float32: {"float32", 4}, Float64: {"float64", 8},
	Int8: {"int8", 1}, Uint16: {"uint16", 2}, Uint32: {"uint32", 4}, Int64: {"int64", 8}, Uint64: {"uint64", 8},
}

// DatatypeName names a datatype code ("code N" when unsupported).
func DatatypeName(code int) string {
	if d, ok := datatypes[code]; ok {
		return d.name
	}
	return fmt.Sprintf("code %d", code)
}

// Header is a NIfTI-1 or NIfTI-2 header, with NIfTI-1's narrower fields widened.
type Header struct {
	Version       int // 1 or 2
	ByteOrder     binary.ByteOrder
	Dim           [8]int64 // Dim[0] = number of dimensions
	Datatype      int
	Bitpix        int
	Pixdim        [8]float64 // Pixdim[0] = qfac
	VoxOffset     int64
	SclSlope      float64
	SclInter      float64
	CalMin        float64
	CalMax        float64
	SliceCode     int
	SliceStart    int64
	SliceEnd      int64
	SliceDuration float64
	Toffset       float64
	XYZTUnits     int
	IntentCode    int
	IntentName    string
	Descrip       string
	AuxFile       string
	QformCode     int
	SformCode     int
	Quatern       [3]float64 // b, c, d
	QOffset       [3]float64
	Srow          [3][4]float64
	DimInfo       int
	Magic         string
}

// Shape returns dim[1..dim[0]].
func (h *Header) Shape() []int {
	n := int(h.Dim[0])
	out := make([]int, n)
	for i := range n {
		out[i] = int(h.Dim[i+1])
	}
	return out
}

// Voxels is the number of voxels.
func (h *Header) Voxels() int64 {
	n := int64(1)
	for i := 1; i <= int(h.Dim[0]); i++ {
		n *= h.Dim[i]
	}
	return n
}

// Units returns the spatial and temporal unit names of xyzt_units.
func (h *Header) Units() (space, time string) {
	spaces := map[int]string{0: "unknown", 1: "m", 2: "mm", 3: "um"}
	times := map[int]string{0: "unknown", 8: "s", 16: "ms", 24: "us", 32: "Hz", 40: "ppm", 48: "rad/s"}
	space, time = spaces[h.XYZTUnits&7], times[h.XYZTUnits&0x38]
	if space == "" {
		space = "unknown"
	}
	if time == "" {
		time = "unknown"
	}
	return space, time
}

func cstring(b []byte) string {
	if i := bytes.IndexByte(b, 0); i >= 0 {
		b = b[:i]
	}
	return strings.TrimRight(string(b), " ")
}

// ParseHeader decodes a header from its first bytes (at least 348 for NIfTI-1, 540 for
// NIfTI-2), detecting the version and byte order from sizeof_hdr.
func ParseHeader(b []byte) (*Header, error) {
	if len(b) < 4 {
		return nil, fmt.Errorf("too short for a NIfTI header (%d bytes)", len(b))
	}
	var order binary.ByteOrder
	var version int
	for _, o := range []binary.ByteOrder{binary.LittleEndian, binary.BigEndian} {
		switch o.Uint32(b) {
		case Size1:
			order, version = o, 1
		case Size2:
			order, version = o, 2
		}
		if order != nil {
			break
		}
	}
	if order == nil {
		return nil, fmt.Errorf("sizeof_hdr is %d, not 348 (NIfTI-1) or 540 (NIfTI-2) in either byte order", binary.LittleEndian.Uint32(b))
	}
	need := Size1
	if version == 2 {
		need = Size2
	}
	if len(b) < need {
		return nil, fmt.Errorf("NIfTI-%d header truncated: %d of %d bytes", version, len(b), need)
	}
	h := &Header{Version: version, ByteOrder: order}
	i16 := func(off int) int64 { return int64(int16(order.Uint16(b[off:]))) }
	i32 := func(off int) int64 { return int64(int32(order.Uint32(b[off:]))) }
	i64 := func(off int) int64 { return int64(order.Uint64(b[off:])) }
	f32 := func(off int) float64 { return float64(math.Float32frombits(order.Uint32(b[off:]))) }
	f64 := func(off int) float64 { return math.Float64frombits(order.Uint64(b[off:])) }
	if version == 1 {
		h.Magic = cstring(b[344:348])
		if h.Magic != "n+1" && h.Magic != "ni1" {
			return nil, fmt.Errorf("magic is %q, not \"n+1\" or \"ni1\" (an Analyze 7.5 file?)", h.Magic)
		}
		h.DimInfo = int(b[39])
		for i := range 8 {
			h.Dim[i] = i16(40 + 2*i)
			h.Pixdim[i] = f32(76 + 4*i)
		}
		h.IntentCode, h.Datatype, h.Bitpix = int(i16(68)), int(i16(70)), int(i16(72))
		h.SliceStart = i16(74)
		h.VoxOffset = int64(f32(108))
		h.SclSlope, h.SclInter = f32(112), f32(116)
		h.SliceEnd, h.SliceCode, h.XYZTUnits = i16(120), int(b[122]), int(b[123])
		h.CalMax, h.CalMin, h.SliceDuration, h.Toffset = f32(124), f32(128), f32(132), f32(136)
		h.Descrip, h.AuxFile = cstring(b[148:228]), cstring(b[228:252])
		h.QformCode, h.SformCode = int(i16(252)), int(i16(254))
		for i := range 3 {
			h.Quatern[i] = f32(256 + 4*i)
			h.QOffset[i] = f32(268 + 4*i)
			for j := range 4 {
				h.Srow[i][j] = f32(280 + 16*i + 4*j)
			}
		}
		h.IntentName = cstring(b[328:344])
	} else {
		h.Magic = cstring(b[4:12])
		if !bytes.HasPrefix(b[4:12], []byte("n+2\x00")) && !bytes.HasPrefix(b[4:12], []byte("ni2\x00")) {
			return nil, fmt.Errorf("magic is %q, not \"n+2\" or \"ni2\"", cstring(b[4:12]))
		}
		h.Datatype, h.Bitpix = int(i16(12)), int(i16(14))
		for i := range 8 {
			h.Dim[i] = i64(16 + 8*i)
			h.Pixdim[i] = f64(104 + 8*i)
		}
		h.VoxOffset = i64(168)
		h.SclSlope, h.SclInter = f64(176), f64(184)
		h.CalMax, h.CalMin, h.SliceDuration, h.Toffset = f64(192), f64(200), f64(208), f64(216)
		h.SliceStart, h.SliceEnd = i64(224), i64(232)
		h.Descrip, h.AuxFile = cstring(b[240:320]), cstring(b[320:344])
		h.QformCode, h.SformCode = int(i32(344)), int(i32(348))
		for i := range 3 {
			h.Quatern[i] = f64(352 + 8*i)
			h.QOffset[i] = f64(376 + 8*i)
			for j := range 4 {
				h.Srow[i][j] = f64(400 + 32*i + 8*j)
			}
		}
		h.SliceCode, h.XYZTUnits, h.IntentCode = int(i32(496)), int(i32(500)), int(i32(504))
		h.IntentName = cstring(b[508:524])
		h.DimInfo = int(b[524])
	}
	if h.Dim[0] < 1 || h.Dim[0] > 7 {
		return nil, fmt.Errorf("dim[0] is %d, not 1..7", h.Dim[0])
	}
	for i := 1; i <= int(h.Dim[0]); i++ {
		if h.Dim[i] < 1 {
			return nil, fmt.Errorf("dim[%d] is %d", i, h.Dim[i])
		}
		if h.Dim[i] > 1<<31 {
			return nil, fmt.Errorf("dim[%d] is %d: too large", i, h.Dim[i])
		}
	}
	return h, nil
}

// Scaling returns the slope and intercept applied to stored values: scl_slope and
// scl_inter, or 1 and 0 when scl_slope is 0 or not finite (as nibabel does).
func (h *Header) Scaling() (slope, inter float64) {
	if h.SclSlope == 0 || math.IsNaN(h.SclSlope) || math.IsInf(h.SclSlope, 0) {
		return 1, 0
	}
	inter = h.SclInter
	if math.IsNaN(inter) || math.IsInf(inter, 0) {
		inter = 0
	}
	return h.SclSlope, inter
}

// Affine is a voxel-to-world (mm, RAS+) transform: world = A[:3,:3] * ijk + A[:3,3].
type Affine [4][4]float64

// QformAffine is the affine of the quaternion fields (NIfTI method 2).
func (h *Header) QformAffine() Affine {
	b, c, d := h.Quatern[0], h.Quatern[1], h.Quatern[2]
	a := 1 - (b*b + c*c + d*d)
	if a < 1e-7 {
		a = 1 / math.Sqrt(b*b+c*c+d*d)
		b, c, d = b*a, c*a, d*a
		a = 0
	} else {
		a = math.Sqrt(a)
	}
	r := [3][3]float64{
		{a*a + b*b - c*c - d*d, 2 * (b*c - a*d), 2 * (b*d + a*c)},
		{2 * (b*c + a*d), a*a + c*c - b*b - d*d, 2 * (c*d - a*b)},
		{2 * (b*d - a*c), 2 * (c*d + a*b), a*a + d*d - c*c - b*b},
	}
	zoom := [3]float64{h.Pixdim[1], h.Pixdim[2], h.Pixdim[3]}
	for i := range zoom {
		if zoom[i] <= 0 {
			zoom[i] = 1
		}
	}
	if h.Pixdim[0] < 0 {
		zoom[2] = -zoom[2]
	}
	var m Affine
	for i := range 3 {
		for j := range 3 {
			m[i][j] = r[i][j] * zoom[j]
		}
		m[i][3] = h.QOffset[i]
	}
	m[3][3] = 1
	return m
}

// SformAffine is the affine of the srow fields (NIfTI method 3).
func (h *Header) SformAffine() Affine {
	var m Affine
	for i := range 3 {
		m[i] = h.Srow[i]
	}
	m[3][3] = 1
	return m
}

// BaseAffine is the affine used when neither form is set: voxel sizes on the diagonal,
// x flipped and the origin at the volume's centre (nibabel's get_base_affine, from Analyze).
func (h *Header) BaseAffine() Affine {
	var m Affine
	sign := [3]float64{-1, 1, 1}
	for i := range 3 {
		z := 1.0
		n := 1.0
		if int(h.Dim[0]) > i {
			z, n = h.Pixdim[i+1], float64(h.Dim[i+1])
		}
		m[i][i] = sign[i] * z
		m[i][3] = -sign[i] * z * (n - 1) / 2
	}
	m[3][3] = 1
	return m
}

// BestAffine is the sform when sform_code > 0, else the qform when qform_code > 0, else
// BaseAffine (nibabel's get_best_affine).
func (h *Header) BestAffine() Affine {
	switch {
	case h.SformCode > 0:
		return h.SformAffine()
	case h.QformCode > 0:
		return h.QformAffine()
	}
	return h.BaseAffine()
}
