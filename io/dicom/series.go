package dicom

import (
	"fmt"
	"math"
	"path/filepath"
	"sort"
)

// Volume is a DICOM series assembled into one 3-D volume: voxel values with Rescale
// Slope/Intercept applied, x (the column index) varying fastest, then y (the row index),
// then the slice, as in NIfTI, and the voxel-to-world affine in RAS+ millimetres (NIfTI's
// convention: DICOM's LPS patient axes with x and y negated).
type Volume struct {
	Shape  [3]int // columns, rows, slices
	Data   []float32
	Affine [4][4]float64
	// Spacing is the voxel size in mm: column spacing, row spacing (PixelSpacing), and the
	// distance between slices along their normal.
	Spacing [3]float64
	Files   []string // the slices' files, in volume order
	// SeriesInstanceUID of the series (an identifier: not for artifacts without
	// de-identification).
	SeriesInstanceUID string
}

// SpacingTolerance is how far (relative) the distance between neighbouring slices may
// differ from the series' mean before ReadSeries refuses the series as not uniformly spaced.
const SpacingTolerance = 0.01

// seriesSlice is one file of a series with its position along the slice normal.
type seriesSlice struct {
	im  *Image
	pos float64
}

// ReadSeries reads the single-frame slices of one series (files, typically one folder) into
// a volume. Slices are ordered by ImagePositionPatient along the slice normal (the cross
// product of the ImageOrientationPatient row and column directions), not by file name or
// InstanceNumber; the slice spacing is the distance between neighbouring positions and
// must be uniform (within SpacingTolerance); every slice must share the orientation, pixel
// spacing, size and series. Errors name the file and the DICOM tag.
func ReadSeries(files []string) (*Volume, error) {
	if len(files) == 0 {
		return nil, fmt.Errorf("dicom series: no files")
	}
	var slices []seriesSlice
	var first *Image
	var normal [3]float64
	for _, f := range files {
		im, err := Read(f)
		if err != nil {
			return nil, err
		}
		h := &im.Header
		switch {
		case len(h.ImageOrientationPatient) != 6:
			return nil, fmt.Errorf("%s: tag (0020,0037) ImageOrientationPatient missing or not 6 values: a slice needs its orientation to be placed in a volume", f)
		case len(h.ImagePositionPatient) != 3:
			return nil, fmt.Errorf("%s: tag (0020,0032) ImagePositionPatient missing or not 3 values: a slice needs its position to be placed in a volume", f)
		case len(h.PixelSpacing) != 2 || h.PixelSpacing[0] <= 0 || h.PixelSpacing[1] <= 0:
			return nil, fmt.Errorf("%s: tag (0028,0030) PixelSpacing missing or not two positive values (%v)", f, h.PixelSpacing)
		case h.Frames != 1:
			return nil, fmt.Errorf("%s: tag (0028,0008) NumberOfFrames is %d: a series of single-frame slices is read here", f, h.Frames)
		case h.SamplesPerPixel != 1:
			return nil, fmt.Errorf("%s: tag (0028,0002) SamplesPerPixel is %d: volumes are grayscale", f, h.SamplesPerPixel)
		}
		if first == nil {
			first = im
			o := h.ImageOrientationPatient
			normal = cross([3]float64{o[0], o[1], o[2]}, [3]float64{o[3], o[4], o[5]})
			n := norm(normal)
			if n < 1e-6 {
				return nil, fmt.Errorf("%s: tag (0020,0037) ImageOrientationPatient %v: row and column directions are parallel", f, o)
			}
			normal = scale(normal, 1/n)
		} else {
			fh := &first.Header
			switch {
			case h.SeriesInstanceUID != fh.SeriesInstanceUID:
				return nil, fmt.Errorf("%s: tag (0020,000E) SeriesInstanceUID differs from %s's: one series per folder", f, first.Path)
			case h.Rows != fh.Rows || h.Columns != fh.Columns:
				return nil, fmt.Errorf("%s: tags (0028,0010) Rows, (0028,0011) Columns: %dx%d, but %s is %dx%d", f, h.Rows, h.Columns, first.Path, fh.Rows, fh.Columns)
			case !near(h.ImageOrientationPatient, fh.ImageOrientationPatient, 1e-4):
				return nil, fmt.Errorf("%s: tag (0020,0037) ImageOrientationPatient %v differs from %s's %v", f, h.ImageOrientationPatient, first.Path, fh.ImageOrientationPatient)
			case !near(h.PixelSpacing, fh.PixelSpacing, 1e-4*fh.PixelSpacing[0]):
				return nil, fmt.Errorf("%s: tag (0028,0030) PixelSpacing %v differs from %s's %v", f, h.PixelSpacing, first.Path, fh.PixelSpacing)
			}
		}
		p := h.ImagePositionPatient
		slices = append(slices, seriesSlice{im: im, pos: dot([3]float64{p[0], p[1], p[2]}, normal)})
	}
	sort.SliceStable(slices, func(i, j int) bool { return slices[i].pos < slices[j].pos })
	fh := &first.Header
	v := &Volume{Shape: [3]int{fh.Columns, fh.Rows, len(slices)}, SeriesInstanceUID: fh.SeriesInstanceUID}
	v.Spacing[0], v.Spacing[1] = fh.PixelSpacing[1], fh.PixelSpacing[0]
	if len(slices) == 1 {
		if fh.SliceThickness <= 0 {
			return nil, fmt.Errorf("%s: one slice and no tag (0018,0050) SliceThickness: the slice spacing is unknown", first.Path)
		}
		v.Spacing[2] = fh.SliceThickness
	} else {
		gaps := make([]float64, len(slices)-1)
		for i := 1; i < len(slices); i++ {
			gaps[i-1] = slices[i].pos - slices[i-1].pos
		}
		sorted := append([]float64(nil), gaps...)
		sort.Float64s(sorted)
		median := sorted[len(sorted)/2]
		for i, d := range gaps {
			a, b := slices[i].im.Path, slices[i+1].im.Path
			if d < 1e-6 {
				return nil, fmt.Errorf("%s and %s: tag (0020,0032) ImagePositionPatient: both slices at %.4g mm along the slice normal (a duplicate slice, or two series in one folder)",
					a, b, slices[i].pos)
			}
			if math.Abs(d-median) > SpacingTolerance*median {
				return nil, fmt.Errorf("%s: tag (0020,0032) ImagePositionPatient: slice spacing is not uniform: %.4g mm from %s, but %.4g mm between most slices (a missing slice?)",
					b, d, filepath.Base(a), median)
			}
		}
		mean := (slices[len(slices)-1].pos - slices[0].pos) / float64(len(slices)-1)
		v.Spacing[2] = mean
	}
	// Affine in LPS: column i steps along the row direction by the column spacing, row j
	// along the column direction by the row spacing, slice k from the first slice's position
	// to the last's in equal steps; then LPS -> RAS.
	o := fh.ImageOrientationPatient
	p0 := slices[0].im.Header.ImagePositionPatient
	var step [3]float64
	if len(slices) > 1 {
		pn := slices[len(slices)-1].im.Header.ImagePositionPatient
		for a := range 3 {
			step[a] = (pn[a] - p0[a]) / float64(len(slices)-1)
		}
	} else {
		step = scale(normal, v.Spacing[2])
	}
	for a := range 3 {
		flip := 1.0
		if a < 2 {
			flip = -1
		}
		v.Affine[a][0] = flip * o[a] * v.Spacing[0]
		v.Affine[a][1] = flip * o[3+a] * v.Spacing[1]
		v.Affine[a][2] = flip * step[a]
		v.Affine[a][3] = flip * p0[a]
	}
	v.Affine[3][3] = 1
	n := fh.Rows * fh.Columns
	v.Data = make([]float32, 0, n*len(slices))
	buf := make([]float32, n)
	for _, s := range slices {
		vals, err := s.im.FrameRescaled(0, buf)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", s.im.Path, err)
		}
		v.Data = append(v.Data, vals...)
		v.Files = append(v.Files, s.im.Path)
	}
	return v, nil
}

func cross(a, b [3]float64) [3]float64 {
	return [3]float64{a[1]*b[2] - a[2]*b[1], a[2]*b[0] - a[0]*b[2], a[0]*b[1] - a[1]*b[0]}
}

func dot(a, b [3]float64) float64 { return a[0]*b[0] + a[1]*b[1] + a[2]*b[2] }

func norm(a [3]float64) float64 { return math.Sqrt(dot(a, a)) }

func scale(a [3]float64, s float64) [3]float64 { return [3]float64{a[0] * s, a[1] * s, a[2] * s} }

func near(a, b []float64, tol float64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if math.Abs(a[i]-b[i]) > tol {
			return false
		}
	}
	return true
}
