package dicom

import (
	"context"
	"fmt"
	"io"
	"text/tabwriter"

	"github.com/biopipe/biopipe/io/inspect"
)

// Summary is what `biopipe inspect FILE.dcm` prints. It carries no patient identifiers.
// Pixel statistics are over the stored values of all frames, before rescale.
type Summary struct {
	Path                      string   `json:"path"`
	Rows                      int      `json:"rows"`
	Columns                   int      `json:"columns"`
	Frames                    int      `json:"frames"`
	SamplesPerPixel           int      `json:"samples_per_pixel"`
	BitsAllocated             int      `json:"bits_allocated"`
	BitsStored                int      `json:"bits_stored"`
	PixelRepresentation       int      `json:"pixel_representation"`
	PhotometricInterpretation string   `json:"photometric_interpretation"`
	TransferSyntaxUID         string   `json:"transfer_syntax_uid"`
	TransferSyntax            string   `json:"transfer_syntax"`
	Modality                  string   `json:"modality"`
	SeriesInstanceUID         string   `json:"series_instance_uid"`
	InstanceNumber            *int     `json:"instance_number"`
	RescaleSlope              float64  `json:"rescale_slope"`
	RescaleIntercept          float64  `json:"rescale_intercept"`
	ReferencedFiles           int      `json:"referenced_files,omitempty"` // a DICOMDIR's file references
	PixelData                 bool     `json:"pixel_data"`
	PixelMin                  *float64 `json:"pixel_min"`
	PixelMax                  *float64 `json:"pixel_max"`
	PixelMean                 *float64 `json:"pixel_mean"`
}

// Inspect reads a file and summarises it. A file without pixel data (a DICOMDIR, a
// structured report) is summarised with null pixel statistics.
func Inspect(path string) (*Summary, error) {
	im, err := Read(path)
	if err != nil {
		return nil, err
	}
	h := &im.Header
	s := &Summary{
		Path: path, Rows: h.Rows, Columns: h.Columns, Frames: h.Frames,
		SamplesPerPixel: h.SamplesPerPixel, BitsAllocated: h.BitsAllocated, BitsStored: h.BitsStored,
		PixelRepresentation: h.PixelRepresentation, PhotometricInterpretation: h.PhotometricInterpretation,
		TransferSyntaxUID: h.TransferSyntaxUID, TransferSyntax: SyntaxName(h.TransferSyntaxUID),
		Modality: h.Modality, SeriesInstanceUID: h.SeriesInstanceUID,
		RescaleSlope: h.RescaleSlope, RescaleIntercept: h.RescaleIntercept,
	}
	if h.HasInstanceNumber {
		n := h.InstanceNumber
		s.InstanceNumber = &n
	}
	s.ReferencedFiles = len(h.ReferencedFiles)
	if !h.HasPixelData {
		return s, nil
	}
	st, err := im.Stats()
	if err != nil {
		return nil, err
	}
	s.PixelData = true
	s.PixelMin, s.PixelMax, s.PixelMean = &st.Min, &st.Max, &st.Mean
	return s, nil
}

// IsDICOM reports whether head (the first bytes of a file) carries the DICM magic, or path
// has a DICOM extension.
func IsDICOM(path string, head []byte) bool {
	if len(head) >= 132 && string(head[128:132]) == "DICM" {
		return true
	}
	return inspect.Ext(path, ".dcm", ".dicom", ".dic")
}

func init() {
	inspect.Register(&inspect.Inspector{
		Name:  "dicom",
		Match: IsDICOM,
		Inspect: func(_ context.Context, path string) (any, error) {
			return Inspect(path)
		},
		Text: func(w io.Writer, v any) error {
			s, ok := v.(*Summary)
			if !ok {
				return inspect.WriteJSON(w, v)
			}
			tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
			inst := "-"
			if s.InstanceNumber != nil {
				inst = fmt.Sprint(*s.InstanceNumber)
			}
			fmt.Fprintf(tw, "file\t%s\n", s.Path)
			if s.ReferencedFiles > 0 {
				fmt.Fprintf(tw, "DICOMDIR\t%d referenced files\n", s.ReferencedFiles)
				return tw.Flush()
			}
			fmt.Fprintf(tw, "modality\t%s\n", s.Modality)
			fmt.Fprintf(tw, "size\t%d x %d x %d samples, %d frame(s)\n", s.Rows, s.Columns, s.SamplesPerPixel, s.Frames)
			fmt.Fprintf(tw, "pixels\t%d bits allocated, %d stored, %s, %s\n", s.BitsAllocated, s.BitsStored,
				map[int]string{0: "unsigned", 1: "signed"}[s.PixelRepresentation], s.PhotometricInterpretation)
			fmt.Fprintf(tw, "transfer syntax\t%s (%s)\n", s.TransferSyntax, s.TransferSyntaxUID)
			fmt.Fprintf(tw, "series\t%s, instance %s\n", s.SeriesInstanceUID, inst)
			fmt.Fprintf(tw, "rescale\tslope %g, intercept %g\n", s.RescaleSlope, s.RescaleIntercept)
			if s.PixelData {
				fmt.Fprintf(tw, "stored values\tmin %g, max %g, mean %.6g\n", *s.PixelMin, *s.PixelMax, *s.PixelMean)
			} else {
				fmt.Fprintf(tw, "pixel data\tnone\n")
			}
			return tw.Flush()
		},
	})
}
