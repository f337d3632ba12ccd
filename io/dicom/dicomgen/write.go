// Package dicomgen writes synthetic DICOM files and study sets with the
// github.com/suyashkumar/dicom writer, for tests, examples and benchmarks: single files in
// any pixel layout io/dicom decodes (native 8/16/32-bit, signed or not, little- or
// big-endian, planar RGB, multi-frame, RLE Lossless, baseline JPEG), and CT-like studies
// of several patients with two classes of lesion shape.
package dicomgen

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"image"
	"image/jpeg"
	"os"
	"path/filepath"
	"strconv"

	dcm "github.com/suyashkumar/dicom"
	"github.com/suyashkumar/dicom/pkg/frame"
	"github.com/suyashkumar/dicom/pkg/tag"

	biodicom "github.com/biopipe/biopipe/io/dicom"
)

// CTImageStorage is the SOP class of CT images.
const CTImageStorage = "1.2.840.10008.5.1.4.1.1.2"

// Instance describes one DICOM file to write.
type Instance struct {
	PatientName, PatientID, PatientBirthDate string
	StudyInstanceUID, SeriesInstanceUID      string
	SOPInstanceUID, SOPClassUID              string
	StudyDate, AccessionNumber               string
	InstitutionName, ReferringPhysician      string
	Modality                                 string
	InstanceNumber                           int
	ImagePositionPatient                     []float64 // 3 values
	ImageOrientationPatient                  []float64 // 6 values
	PixelSpacing                             []float64 // 2 values
	SliceThickness                           float64

	Rows, Columns, Frames      int
	SamplesPerPixel            int    // 1 or 3
	BitsAllocated, BitsStored  int    // BitsStored 0 = BitsAllocated
	Signed                     bool   // PixelRepresentation 1
	Photometric                string // "" = MONOCHROME2 (1 sample) or RGB (3 samples)
	Planar                     bool   // PlanarConfiguration 1 (native RGB only)
	RescaleSlope               float64
	RescaleIntercept           float64
	WindowCenter, WindowWidth  float64 // written when WindowWidth > 0
	TransferSyntaxUID          string  // "" = Explicit VR Little Endian
	Values                     []int64 // Frames*Rows*Columns*SamplesPerPixel stored values, interleaved per frame
	PixelDataBytesOverride     []byte  // when set, written as the native pixel data instead of Values
	SkipPixelDataLengthPadding bool
}

// Encode returns the file's bytes.
func (in *Instance) Encode() ([]byte, error) {
	ds, err := in.dataset()
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	if err := dcm.Write(&buf, ds, dcm.SkipVRVerification()); err != nil {
		return nil, fmt.Errorf("dicomgen: write: %w", err)
	}
	return buf.Bytes(), nil
}

// WriteFile writes the instance to path (creating folders).
func (in *Instance) WriteFile(path string) error {
	b, err := in.Encode()
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	return os.WriteFile(path, b, 0o644)
}

func (in *Instance) defaults() {
	if in.Frames == 0 {
		in.Frames = 1
	}
	if in.SamplesPerPixel == 0 {
		in.SamplesPerPixel = 1
	}
	if in.BitsAllocated == 0 {
		in.BitsAllocated = 16
	}
	if in.BitsStored == 0 {
		in.BitsStored = in.BitsAllocated
	}
	if in.Photometric == "" {
		in.Photometric = "MONOCHROME2"
		if in.SamplesPerPixel == 3 {
			in.Photometric = "RGB"
		}
	}
	if in.TransferSyntaxUID == "" {
		in.TransferSyntaxUID = biodicom.ExplicitVRLittleEndian
	}
	if in.SOPClassUID == "" {
		in.SOPClassUID = CTImageStorage
	}
	if in.Modality == "" {
		in.Modality = "OT"
	}
}

func (in *Instance) dataset() (dcm.Dataset, error) {
	in.defaults()
	var elems []*dcm.Element
	var firstErr error
	add := func(t tag.Tag, v any) {
		e, err := dcm.NewElement(t, v)
		if err != nil && firstErr == nil {
			firstErr = fmt.Errorf("dicomgen: tag %v: %w", t, err)
		}
		if e != nil {
			elems = append(elems, e)
		}
	}
	ds := func(vs ...float64) []string {
		out := make([]string, len(vs))
		for i, v := range vs {
			out[i] = strconv.FormatFloat(v, 'g', 10, 64) // DS holds at most 16 characters
		}
		return out
	}
	add(tag.FileMetaInformationVersion, []byte{0, 1})
	add(tag.MediaStorageSOPClassUID, []string{in.SOPClassUID})
	add(tag.MediaStorageSOPInstanceUID, []string{in.SOPInstanceUID})
	add(tag.TransferSyntaxUID, []string{in.TransferSyntaxUID})
	add(tag.SpecificCharacterSet, []string{"ISO_IR 100"})
	add(tag.SOPClassUID, []string{in.SOPClassUID})
	add(tag.SOPInstanceUID, []string{in.SOPInstanceUID})
	if in.StudyDate != "" {
		add(tag.StudyDate, []string{in.StudyDate})
	}
	if in.AccessionNumber != "" {
		add(tag.AccessionNumber, []string{in.AccessionNumber})
	}
	add(tag.Modality, []string{in.Modality})
	if in.InstitutionName != "" {
		add(tag.InstitutionName, []string{in.InstitutionName})
	}
	if in.ReferringPhysician != "" {
		add(tag.ReferringPhysicianName, []string{in.ReferringPhysician})
	}
	add(tag.PatientName, []string{in.PatientName})
	add(tag.PatientID, []string{in.PatientID})
	add(tag.PatientBirthDate, []string{in.PatientBirthDate})
	if in.SliceThickness > 0 {
		add(tag.SliceThickness, ds(in.SliceThickness))
	}
	add(tag.StudyInstanceUID, []string{in.StudyInstanceUID})
	add(tag.SeriesInstanceUID, []string{in.SeriesInstanceUID})
	add(tag.InstanceNumber, []string{strconv.Itoa(in.InstanceNumber)})
	if len(in.ImagePositionPatient) == 3 {
		add(tag.ImagePositionPatient, ds(in.ImagePositionPatient...))
	}
	if len(in.ImageOrientationPatient) == 6 {
		add(tag.ImageOrientationPatient, ds(in.ImageOrientationPatient...))
	}
	add(tag.SamplesPerPixel, []int{in.SamplesPerPixel})
	add(tag.PhotometricInterpretation, []string{in.Photometric})
	if in.SamplesPerPixel > 1 {
		planar := 0
		if in.Planar {
			planar = 1
		}
		add(tag.PlanarConfiguration, []int{planar})
	}
	if in.Frames > 1 {
		add(tag.NumberOfFrames, []string{strconv.Itoa(in.Frames)})
	}
	add(tag.Rows, []int{in.Rows})
	add(tag.Columns, []int{in.Columns})
	if len(in.PixelSpacing) == 2 {
		add(tag.PixelSpacing, ds(in.PixelSpacing...))
	}
	add(tag.BitsAllocated, []int{in.BitsAllocated})
	add(tag.BitsStored, []int{in.BitsStored})
	add(tag.HighBit, []int{in.BitsStored - 1})
	rep := 0
	if in.Signed {
		rep = 1
	}
	add(tag.PixelRepresentation, []int{rep})
	if in.WindowWidth > 0 {
		add(tag.WindowCenter, ds(in.WindowCenter))
		add(tag.WindowWidth, ds(in.WindowWidth))
	}
	if in.RescaleSlope != 0 || in.RescaleIntercept != 0 {
		slope := in.RescaleSlope
		if slope == 0 {
			slope = 1
		}
		add(tag.RescaleIntercept, ds(in.RescaleIntercept))
		add(tag.RescaleSlope, ds(slope))
	}
	if firstErr != nil {
		return dcm.Dataset{}, firstErr
	}
	px, err := in.pixelData()
	if err != nil {
		return dcm.Dataset{}, err
	}
	elems = append(elems, px)
	return dcm.Dataset{Elements: elems}, nil
}

func (in *Instance) pixelData() (*dcm.Element, error) {
	n := in.Rows * in.Columns * in.SamplesPerPixel
	if in.PixelDataBytesOverride == nil && len(in.Values) != n*in.Frames {
		return nil, fmt.Errorf("dicomgen: %d values for %d frames of %dx%dx%d", len(in.Values), in.Frames, in.Rows, in.Columns, in.SamplesPerPixel)
	}
	vr := "OW"
	if in.BitsAllocated == 8 {
		vr = "OB"
	}
	switch in.TransferSyntaxUID {
	case biodicom.RLELossless, biodicom.JPEGBaseline:
		info := dcm.PixelDataInfo{IsEncapsulated: true}
		for f := 0; f < in.Frames; f++ {
			vals := in.Values[f*n : (f+1)*n]
			var data []byte
			var err error
			if in.TransferSyntaxUID == biodicom.RLELossless {
				data, err = biodicom.EncodeRLE(sampleBytes(vals, in.BitsAllocated, binary.BigEndian), in.Rows*in.Columns, in.SamplesPerPixel, in.BitsAllocated/8)
			} else {
				data, err = in.encodeJPEG(vals)
			}
			if err != nil {
				return nil, err
			}
			if len(data)%2 == 1 {
				data = append(data, 0)
			}
			info.Frames = append(info.Frames, &frame.Frame{Encapsulated: true, EncapsulatedData: frame.EncapsulatedFrame{Data: data}})
		}
		e, err := dcm.NewElement(tag.PixelData, info)
		if err != nil {
			return nil, err
		}
		e.RawValueRepresentation = "OB"
		e.ValueLength = tag.VLUndefinedLength
		return e, nil
	}
	raw := in.PixelDataBytesOverride
	if raw == nil {
		var bo binary.ByteOrder = binary.LittleEndian
		if in.TransferSyntaxUID == biodicom.ExplicitVRBigEndian {
			bo = binary.BigEndian
		}
		vals := in.Values
		if in.Planar && in.SamplesPerPixel > 1 {
			vals = toPlanar(vals, in.Frames, in.Rows*in.Columns, in.SamplesPerPixel)
		}
		raw = sampleBytes(vals, in.BitsAllocated, bo)
	}
	if len(raw)%2 == 1 && !in.SkipPixelDataLengthPadding {
		raw = append(raw, 0)
	}
	e, err := dcm.NewElement(tag.PixelData, dcm.PixelDataInfo{IntentionallyUnprocessed: true, UnprocessedValueData: raw})
	if err != nil {
		return nil, err
	}
	e.RawValueRepresentation = vr
	return e, nil
}

func (in *Instance) encodeJPEG(vals []int64) ([]byte, error) {
	if in.BitsAllocated != 8 {
		return nil, fmt.Errorf("dicomgen: JPEG Baseline needs 8-bit samples")
	}
	var img image.Image
	r := image.Rect(0, 0, in.Columns, in.Rows)
	if in.SamplesPerPixel == 1 {
		g := image.NewGray(r)
		for i, v := range vals {
			g.Pix[i] = byte(v)
		}
		img = g
	} else {
		c := image.NewRGBA(r)
		for p := 0; p < in.Rows*in.Columns; p++ {
			c.Pix[4*p], c.Pix[4*p+1], c.Pix[4*p+2], c.Pix[4*p+3] = byte(vals[3*p]), byte(vals[3*p+1]), byte(vals[3*p+2]), 255
		}
		img = c
	}
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, img, &jpeg.Options{Quality: 95}); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

func toPlanar(vals []int64, frames, npix, spp int) []int64 {
	out := make([]int64, len(vals))
	for f := 0; f < frames; f++ {
		base := f * npix * spp
		for p := 0; p < npix; p++ {
			for s := 0; s < spp; s++ {
				out[base+s*npix+p] = vals[base+p*spp+s]
			}
		}
	}
	return out
}

// sampleBytes packs values into bits-wide samples (1, 8, 16 or 32) in byte order bo.
func sampleBytes(vals []int64, bits int, bo binary.ByteOrder) []byte {
	switch bits {
	case 1:
		out := make([]byte, (len(vals)+7)/8)
		for i, v := range vals {
			if v&1 != 0 {
				out[i/8] |= 1 << (i % 8)
			}
		}
		return out
	case 8:
		out := make([]byte, len(vals))
		for i, v := range vals {
			out[i] = byte(v)
		}
		return out
	case 16:
		out := make([]byte, 2*len(vals))
		for i, v := range vals {
			bo.PutUint16(out[2*i:], uint16(v))
		}
		return out
	default:
		out := make([]byte, 4*len(vals))
		for i, v := range vals {
			bo.PutUint32(out[4*i:], uint32(v))
		}
		return out
	}
}

// MediaStorageDirectoryStorage is the SOP class of a DICOMDIR.
const MediaStorageDirectoryStorage = "1.2.840.10008.1.3.10"

// WriteDICOMDIR writes dir/DICOMDIR referencing the given files (slash-separated paths
// relative to dir) with one IMAGE directory record each.
func WriteDICOMDIR(dir string, files []string) error {
	var items [][]*dcm.Element
	for _, f := range files {
		parts := splitSlash(f)
		typ, err := dcm.NewElement(tag.DirectoryRecordType, []string{"IMAGE"})
		if err != nil {
			return err
		}
		ref, err := dcm.NewElement(tag.ReferencedFileID, parts)
		if err != nil {
			return err
		}
		items = append(items, []*dcm.Element{typ, ref})
	}
	var elems []*dcm.Element
	for _, kv := range []struct {
		t tag.Tag
		v any
	}{
		{tag.FileMetaInformationVersion, []byte{0, 1}},
		{tag.MediaStorageSOPClassUID, []string{MediaStorageDirectoryStorage}},
		{tag.MediaStorageSOPInstanceUID, []string{"2.25.1"}},
		{tag.TransferSyntaxUID, []string{biodicom.ExplicitVRLittleEndian}},
		{tag.FileSetID, []string{"BIOPIPE"}},
		{tag.DirectoryRecordSequence, items},
	} {
		e, err := dcm.NewElement(kv.t, kv.v)
		if err != nil {
			return fmt.Errorf("dicomgen: DICOMDIR tag %v: %w", kv.t, err)
		}
		elems = append(elems, e)
	}
	var buf bytes.Buffer
	if err := dcm.Write(&buf, dcm.Dataset{Elements: elems}, dcm.SkipVRVerification()); err != nil {
		return fmt.Errorf("dicomgen: write DICOMDIR: %w", err)
	}
	return os.WriteFile(filepath.Join(dir, "DICOMDIR"), buf.Bytes(), 0o644)
}

func splitSlash(p string) []string {
	var out []string
	start := 0
	for i := 0; i <= len(p); i++ {
		if i == len(p) || p[i] == '/' {
			if i > start {
				out = append(out, p[start:i])
			}
			start = i + 1
		}
	}
	return out
}
