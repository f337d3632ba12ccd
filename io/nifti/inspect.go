package nifti

import (
	"context"
	"fmt"
	"io"
	"math"
	"strings"

	"github.com/biopipe/biopipe/io/inspect"
)

// Summary is what `biopipe inspect FILE.nii[.gz]` shows: the header fields and simple
// statistics of the scaled voxel values.
type Summary struct {
	File        string        `json:"file"`
	Version     int           `json:"version"`
	Shape       []int         `json:"shape"`
	Datatype    string        `json:"datatype"`
	Bitpix      int           `json:"bitpix"`
	Pixdim      []float64     `json:"pixdim"`
	SpaceUnits  string        `json:"space_units"`
	TimeUnits   string        `json:"time_units"`
	SclSlope    float64       `json:"scl_slope"`
	SclInter    float64       `json:"scl_inter"`
	QformCode   int           `json:"qform_code"`
	SformCode   int           `json:"sform_code"`
	Affine      [4][4]float64 `json:"affine"`
	Axcodes     string        `json:"orientation"`
	VoxOffset   int64         `json:"vox_offset"`
	IntentCode  int           `json:"intent_code"`
	IntentName  string        `json:"intent_name,omitempty"`
	Description string        `json:"description,omitempty"`
	CalMin      float64       `json:"cal_min"`
	CalMax      float64       `json:"cal_max"`
	Min         float64       `json:"min"`
	Max         float64       `json:"max"`
	Mean        float64       `json:"mean"`
	NaNs        int           `json:"nans"`
}

// Summarize reads a file and returns its summary.
func Summarize(path string) (*Summary, error) {
	im, err := Read(path)
	if err != nil {
		return nil, err
	}
	h := im.Header
	s := &Summary{File: path, Version: h.Version, Shape: im.Shape, Datatype: DatatypeName(h.Datatype), Bitpix: h.Bitpix,
		SclSlope: h.SclSlope, SclInter: h.SclInter, QformCode: h.QformCode, SformCode: h.SformCode, Affine: im.Affine,
		Axcodes: im.Affine.Axcodes(), VoxOffset: h.VoxOffset, IntentCode: h.IntentCode, IntentName: h.IntentName,
		Description: h.Descrip, CalMin: h.CalMin, CalMax: h.CalMax, Min: math.Inf(1), Max: math.Inf(-1)}
	s.SpaceUnits, s.TimeUnits = h.Units()
	for i := 1; i <= int(h.Dim[0]); i++ {
		s.Pixdim = append(s.Pixdim, h.Pixdim[i])
	}
	n := 0
	for _, v := range im.Data {
		f := float64(v)
		if math.IsNaN(f) {
			s.NaNs++
			continue
		}
		s.Min, s.Max = math.Min(s.Min, f), math.Max(s.Max, f)
		s.Mean += f
		n++
	}
	if n > 0 {
		s.Mean /= float64(n)
	} else {
		s.Min, s.Max, s.Mean = 0, 0, 0
	}
	return s, nil
}

// WriteText prints the summary for a terminal.
func (s *Summary) WriteText(w io.Writer) error {
	dims := make([]string, len(s.Shape))
	for i, d := range s.Shape {
		dims[i] = fmt.Sprint(d)
	}
	fmt.Fprintf(w, "%s: NIfTI-%d, %s (%d bits), %s voxels\n", s.File, s.Version, s.Datatype, s.Bitpix, strings.Join(dims, " x "))
	fmt.Fprintf(w, "  voxel size:  %v (%s, time %s)\n", s.Pixdim, s.SpaceUnits, s.TimeUnits)
	fmt.Fprintf(w, "  orientation: %s (qform_code %d, sform_code %d)\n", s.Axcodes, s.QformCode, s.SformCode)
	for i := range 3 {
		fmt.Fprintf(w, "  affine:      [%9.4f %9.4f %9.4f %9.4f]\n", s.Affine[i][0], s.Affine[i][1], s.Affine[i][2], s.Affine[i][3])
	}
	fmt.Fprintf(w, "  scaling:     scl_slope %g, scl_inter %g\n", s.SclSlope, s.SclInter)
	fmt.Fprintf(w, "  values:      min %g, mean %.6g, max %g", s.Min, s.Mean, s.Max)
	if s.NaNs > 0 {
		fmt.Fprintf(w, ", %d NaN", s.NaNs)
	}
	fmt.Fprintln(w)
	if s.Description != "" {
		fmt.Fprintf(w, "  description: %s\n", s.Description)
	}
	if s.IntentCode != 0 || s.IntentName != "" {
		fmt.Fprintf(w, "  intent:      %d %s\n", s.IntentCode, s.IntentName)
	}
	return nil
}

func init() {
	inspect.Register(&inspect.Inspector{
		Name: "nifti",
		Match: func(path string, head []byte) bool {
			return head != nil && inspect.Ext(path, ".nii", ".nii.gz", ".hdr")
		},
		Inspect: func(ctx context.Context, path string) (any, error) {
			return Summarize(path)
		},
		Text: func(w io.Writer, v any) error {
			s, ok := v.(*Summary)
			if !ok {
				return inspect.WriteJSON(w, v)
			}
			return s.WriteText(w)
		},
	})
}
