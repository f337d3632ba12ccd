package volumes

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/biopipe/biopipe/io/dicom/dicomgen"
	"github.com/biopipe/biopipe/io/nifti"
	"github.com/biopipe/biopipe/stages/ingest/internal/files"
)

// A sagittal series: rows run posterior (+y in DICOM's LPS), columns inferior (-z), slices
// step 3 mm to the patient's right (-x in LPS), 0.6 mm between columns, 0.8 mm between rows.
const (
	seriesCols, seriesRows, seriesSlices = 5, 4, 6
	colSpacing, rowSpacing, sliceStep    = 0.6, 0.8, 3.0
	rescaleSlope, rescaleIntercept       = 2.0, -1000.0
)

// storedValue is the stored (pre-rescale) value of voxel (column i, row j, slice k).
func storedValue(i, j, k int) int64 { return int64(1 + i + 10*j + 100*k) }

// writeSeries writes the series' slices into dir under names and InstanceNumbers that do not
// follow the slice order, leaving out the slices in skip; edit may change a slice's instance.
func writeSeries(t *testing.T, dir string, skip map[int]bool, edit func(k int, in *dicomgen.Instance)) {
	t.Helper()
	order := []int{3, 0, 5, 1, 4, 2} // file i holds slice order[i]
	for file, k := range order {
		if skip[k] {
			continue
		}
		vals := make([]int64, seriesCols*seriesRows)
		for j := range seriesRows {
			for i := range seriesCols {
				vals[j*seriesCols+i] = storedValue(i, j, k)
			}
		}
		in := &dicomgen.Instance{
			PatientName: "Doe^Jane", PatientID: "MRN0000001", StudyInstanceUID: "2.25.1", SeriesInstanceUID: "2.25.1.2",
			SOPInstanceUID: fmt.Sprintf("2.25.1.2.%d", k+1), Modality: "MR", InstanceNumber: seriesSlices - k,
			ImagePositionPatient:    []float64{10 - sliceStep*float64(k), -20, 30},
			ImageOrientationPatient: []float64{0, 1, 0, 0, 0, -1},
			PixelSpacing:            []float64{rowSpacing, colSpacing}, SliceThickness: sliceStep,
			Rows: seriesRows, Columns: seriesCols, BitsAllocated: 16, BitsStored: 12,
			RescaleSlope: rescaleSlope, RescaleIntercept: rescaleIntercept, Values: vals,
		}
		if edit != nil {
			edit(k, in)
		}
		require.NoError(t, in.WriteFile(filepath.Join(dir, fmt.Sprintf("IM%04d.dcm", file+1))))
	}
}

// The same voxels and geometry written as NIfTI (affine worked out by hand from the DICOM
// attributes: LPS -> RAS negates x and y) and as a DICOM series read through ingest.volumes
// give the same tensor, before and after canonical reorientation and resampling.
func TestDICOMSeriesMatchesNIfTI(t *testing.T) {
	root := t.TempDir()
	writeSeries(t, filepath.Join(root, "dcm", "sag", "series1"), nil, nil)
	data := make([]float32, 0, seriesCols*seriesRows*seriesSlices)
	for k := range seriesSlices {
		for j := range seriesRows {
			for i := range seriesCols {
				data = append(data, float32(rescaleSlope*float64(storedValue(i, j, k))+rescaleIntercept))
			}
		}
	}
	affine := nifti.Affine{
		{0, 0, sliceStep, -10},  // R: slices step 3 mm to the right; origin x = -(10)
		{-colSpacing, 0, 0, 20}, // A: columns run posterior
		{0, -rowSpacing, 0, 30}, // S: rows run inferior
		{0, 0, 0, 1},
	}
	niiDir := filepath.Join(root, "nii", "sag")
	require.NoError(t, os.MkdirAll(niiDir, 0o755))
	require.NoError(t, nifti.Write(filepath.Join(niiDir, "series1.nii.gz"), []int{seriesCols, seriesRows, seriesSlices}, data, affine, nifti.WriteOptions{}))

	for _, tc := range []struct {
		name    string
		spacing []float64
		shape   []int
	}{
		{"canonical only", nil, nil},
		{"resampled and cropped", []float64{1, 1, 1}, []int{12, 4, 4}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			read := func(dir string) ([]float32, []int, *Summary) {
				o := opts(filepath.Join(root, dir))
				o.Normalize = NormNone
				o.Spacing, o.Shape = tc.spacing, tc.shape
				f, sum, err := Read(context.Background(), o)
				require.NoError(t, err)
				require.Equal(t, 1, f.NumRows())
				assert.Equal(t, []string{"sag"}, f.Classes(), "the folder above the series is its class")
				return f.Col("x").T, f.Col("x").Shape, sum
			}
			dx, dshape, dsum := read("dcm")
			nx, nshape, nsum := read("nii")
			assert.Equal(t, 1, dsum.DICOMSeries)
			assert.Equal(t, 0, nsum.DICOMSeries)
			assert.Equal(t, map[string]int{"PIR": 1}, dsum.Orientations, "stored axes run posterior, inferior, right")
			assert.Equal(t, nsum.Orientations, dsum.Orientations)
			assert.Equal(t, nsum.Spacings, dsum.Spacings)
			assert.Equal(t, nshape, dshape)
			assert.InDeltaSlice(t, toF64(nx), toF64(dx), 1e-3)
			if tc.spacing == nil {
				// RAS+: x (right) = slice index, y (anterior) = columns reversed, z (superior)
				// = rows reversed; the tensor is [z, y, x, 1].
				assert.Equal(t, []int{seriesRows, seriesCols, seriesSlices, 1}, dshape)
				at := func(z, y, x int) float32 { return dx[(z*seriesCols+y)*seriesSlices+x] }
				want := func(i, j, k int) float32 {
					return float32(rescaleSlope*float64(storedValue(i, j, k)) + rescaleIntercept)
				}
				assert.Equal(t, want(seriesCols-1, seriesRows-1, 0), at(0, 0, 0))
				assert.Equal(t, want(0, 0, seriesSlices-1), at(seriesRows-1, seriesCols-1, seriesSlices-1))
				assert.Equal(t, want(2, 1, 4), at(seriesRows-2, seriesCols-3, 4))
			}
		})
	}
}

func toF64(v []float32) []float64 {
	out := make([]float64, len(v))
	for i, x := range v {
		out[i] = float64(x)
	}
	return out
}

// A broken series fails naming the file and the DICOM tag.
func TestDICOMSeriesErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		skip map[int]bool
		edit func(k int, in *dicomgen.Instance)
		want string
	}{
		{"missing slice", map[int]bool{2: true}, nil,
			"IM0001.dcm: tag (0020,0032) ImagePositionPatient: slice spacing is not uniform: 6 mm from IM0004.dcm, but 3 mm between most slices (a missing slice?)"},
		{"no position", nil, func(k int, in *dicomgen.Instance) {
			if k == 4 {
				in.ImagePositionPatient = nil
			}
		}, "IM0005.dcm: tag (0020,0032) ImagePositionPatient missing"},
		{"no orientation", nil, func(k int, in *dicomgen.Instance) { in.ImageOrientationPatient = nil },
			"IM0001.dcm: tag (0020,0037) ImageOrientationPatient missing"},
		{"no pixel spacing", nil, func(k int, in *dicomgen.Instance) { in.PixelSpacing = nil },
			"IM0001.dcm: tag (0028,0030) PixelSpacing missing"},
		{"tilted slice", nil, func(k int, in *dicomgen.Instance) {
			if k == 1 {
				in.ImageOrientationPatient = []float64{0, 1, 0, 0, 0.1, -0.995}
			}
		}, "IM0004.dcm: tag (0020,0037) ImageOrientationPatient [0 1 0 0 0.1 -0.995] differs"},
		{"two series", nil, func(k int, in *dicomgen.Instance) {
			if k == 5 {
				in.SeriesInstanceUID = "2.25.1.3"
			}
		}, "IM0003.dcm: tag (0020,000E) SeriesInstanceUID differs"},
		{"duplicate position", nil, func(k int, in *dicomgen.Instance) {
			if k == 1 {
				in.ImagePositionPatient = []float64{10, -20, 30}
			}
		}, "both slices at -10 mm along the slice normal"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			root := t.TempDir()
			writeSeries(t, filepath.Join(root, "series1"), tc.skip, tc.edit)
			o := opts(root)
			o.Labels = files.Labels{From: files.LabelNone}
			_, _, err := Read(context.Background(), o)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.want)
		})
	}
}
