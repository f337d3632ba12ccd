// Package dicom reads DICOM files into headers and decoded pixel frames. Parsing uses
// github.com/suyashkumar/dicom; pixel data is read as raw bytes and decoded here: native
// (8/16/32-bit, signed or unsigned, little- or big-endian, multi-frame, MONOCHROME1/2,
// RGB interleaved or planar), RLE Lossless (PS3.5 Annex G) and baseline JPEG. Any other
// transfer syntax is an error naming the file and the syntax.
//
// The package knows nothing of pipelines; stages/ingest/dicom builds datasets from it.
package dicom

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	dcm "github.com/suyashkumar/dicom"
	"github.com/suyashkumar/dicom/pkg/tag"
	"github.com/suyashkumar/dicom/pkg/uid"
)

// Transfer syntax UIDs this package decodes.
const (
	ImplicitVRLittleEndian = "1.2.840.10008.1.2"
	ExplicitVRLittleEndian = "1.2.840.10008.1.2.1"
	DeflatedExplicitVRLE   = "1.2.840.10008.1.2.1.99"
	ExplicitVRBigEndian    = "1.2.840.10008.1.2.2"
	RLELossless            = "1.2.840.10008.1.2.5"
	JPEGBaseline           = "1.2.840.10008.1.2.4.50"
)

// ErrUnsupportedSyntax is returned (wrapped, naming the file and syntax) for pixel data in a
// transfer syntax this package cannot decode.
var ErrUnsupportedSyntax = errors.New("unsupported transfer syntax")

// SyntaxName returns the DICOM name of a transfer syntax UID ("" when unknown).
func SyntaxName(ts string) string {
	if info, err := uid.Lookup(ts); err == nil {
		return info.Name
	}
	return ""
}

// Header holds the attributes biopipe uses. Patient-identifying fields (PatientID,
// PatientName, PatientBirthDate and PHI) must not leave ingest: de-identify before writing.
type Header struct {
	TransferSyntaxUID string
	SOPClassUID       string
	SOPInstanceUID    string
	StudyInstanceUID  string
	SeriesInstanceUID string
	Modality          string

	PatientID        string
	PatientName      string
	PatientBirthDate string

	Rows, Columns             int
	Frames                    int // NumberOfFrames (1 when absent)
	SamplesPerPixel           int
	BitsAllocated, BitsStored int
	HighBit                   int
	PixelRepresentation       int // 0 unsigned, 1 two's complement
	PlanarConfiguration       int // 0 interleaved, 1 planar
	PhotometricInterpretation string

	InstanceNumber          int
	HasInstanceNumber       bool
	ImagePositionPatient    []float64 // 3 values, or nil
	ImageOrientationPatient []float64 // 6 values, or nil
	PixelSpacing            []float64
	SliceThickness          float64

	RescaleSlope     float64 // 1 when absent
	RescaleIntercept float64
	HasRescale       bool
	WindowCenter     []float64
	WindowWidth      []float64

	// HasPixelData reports whether the file holds a Pixel Data element.
	HasPixelData bool
	// PHI lists the values of identifying attributes found anywhere in the file (PS3.15
	// Basic Profile: names, IDs, dates, addresses...), for hashing; never write them out.
	PHI []string
	// ReferencedFiles lists the ReferencedFileID paths of a DICOMDIR (slash-separated).
	ReferencedFiles []string
}

// Image is a parsed DICOM file: its header and its (still encoded) pixel data.
type Image struct {
	Path   string
	Header Header
	native []byte   // native pixel data, all frames, in the file's byte order
	frames [][]byte // encapsulated data, one entry per frame
}

// headerPrefix is how much of a file ReadHeader reads first, hoping to find every
// attribute before the pixel data.
const headerPrefix = 64 << 10

// ReadHeader parses a file without reading its pixel data. It reads only the part before
// the pixel data when the file's structure allows (checking that the pixel data fits in
// the file), else the whole file.
func ReadHeader(path string) (*Header, error) {
	if h, ok, err := readHeaderPrefix(path); ok || err != nil {
		return h, err
	}
	im, err := read(path, false)
	if err != nil {
		return nil, err
	}
	return &im.Header, nil
}

// readHeaderPrefix parses the attributes before a top-level Pixel Data element found in
// the first headerPrefix bytes; ok is false when the caller should read the whole file.
func readHeaderPrefix(path string) (h *Header, ok bool, err error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, false, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, false, err
	}
	if st.Size() <= headerPrefix {
		return nil, false, nil
	}
	buf := make([]byte, headerPrefix)
	if _, err := io.ReadFull(f, buf); err != nil {
		return nil, false, nil
	}
	loc, err := scanWith(buf, &pixelLoc{stop: true})
	if err != nil || loc == nil || !loc.found {
		return nil, false, nil
	}
	if loc.vl != undefined && int64(loc.valueStart)+int64(loc.vl) > st.Size() {
		return nil, true, fmt.Errorf("%s: not a readable DICOM file: element (7FE0,0010) at byte %d: length %d runs past the end (%d bytes): file truncated or corrupt",
			path, loc.elemStart, loc.vl, st.Size())
	}
	im, err := parse(path, bytes.NewReader(buf[:loc.elemStart]), int64(loc.elemStart), false, nil)
	if err != nil {
		return nil, true, err
	}
	im.Header.HasPixelData = true
	return &im.Header, true, nil
}

// Read parses a file and keeps its pixel data for decoding.
func Read(path string) (*Image, error) {
	return read(path, true)
}

// ReadReuse is Read with a caller-owned buffer: the file is read into buf (grown as
// needed) and the returned image refers to it, so buf must not be reused until the image
// is no longer needed. It returns the buffer for the next call; a worker decoding many
// files so allocates no per-file pixel memory.
func ReadReuse(path string, buf []byte) (*Image, []byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, buf, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, buf, err
	}
	n := int(st.Size())
	if cap(buf) < n {
		buf = make([]byte, n)
	}
	buf = buf[:n]
	if _, err := io.ReadFull(f, buf); err != nil {
		return nil, buf, fmt.Errorf("%s: %w", path, err)
	}
	im, err := parseBytes(path, buf, true)
	return im, buf, err
}

// ReadBytes parses an in-memory file; name is used in errors.
func ReadBytes(name string, data []byte) (*Image, error) {
	return parseBytes(name, data, true)
}

func parseBytes(name string, data []byte, pixels bool) (*Image, error) {
	loc, err := scan(data)
	if err != nil {
		return nil, fmt.Errorf("%s: not a readable DICOM file: %w", name, err)
	}
	if !pixels || loc == nil || !loc.found {
		return parse(name, bytes.NewReader(data), int64(len(data)), pixels, nil)
	}
	// the pixel data was located by scan: parse the rest and take the pixels from data
	// without copying them
	return parse(name, bytes.NewReader(data), int64(len(data)), false, loc)
}

func read(path string, pixels bool) (*Image, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return parseBytes(path, b, pixels)
}

func parse(name string, r io.Reader, size int64, pixels bool, loc *pixelLoc) (im *Image, err error) {
	defer func() {
		if p := recover(); p != nil {
			// the panic value may quote attribute values: do not pass it on
			im, err = nil, fmt.Errorf("%s: corrupt DICOM file (the parser failed on its structure)", name)
		}
	}()
	opts := []dcm.ParseOption{dcm.AllowUnknownSpecificCharacterSet(), dcm.AllowMissingMetaElementGroupLength()}
	if pixels {
		opts = append(opts, dcm.SkipProcessingPixelDataValue())
	} else {
		opts = append(opts, dcm.SkipPixelData())
	}
	ds, err := dcm.Parse(r, size, nil, opts...)
	if err != nil {
		return nil, fmt.Errorf("%s: not a readable DICOM file: %w", name, redact(err))
	}
	im = &Image{Path: name}
	if err := im.fill(&ds, pixels); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if loc != nil {
		if loc.fragments != nil || loc.native == nil {
			frames, err := assembleFrames(loc.fragments, im.Header.Frames, im.Header.TransferSyntaxUID)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", name, err)
			}
			im.frames = frames
		} else {
			im.native = loc.native
		}
	}
	return im, nil
}

// phiTags are the attributes whose values the PS3.15 Basic Application Level
// Confidentiality Profile removes or replaces and that are free text, names, IDs or dates.
var phiTags = map[tag.Tag]bool{
	{Group: 0x0008, Element: 0x0020}: true, // StudyDate
	{Group: 0x0008, Element: 0x0021}: true, // SeriesDate
	{Group: 0x0008, Element: 0x0022}: true, // AcquisitionDate
	{Group: 0x0008, Element: 0x0023}: true, // ContentDate
	{Group: 0x0008, Element: 0x0050}: true, // AccessionNumber
	{Group: 0x0008, Element: 0x0080}: true, // InstitutionName
	{Group: 0x0008, Element: 0x0081}: true, // InstitutionAddress
	{Group: 0x0008, Element: 0x0090}: true, // ReferringPhysicianName
	{Group: 0x0008, Element: 0x0092}: true, // ReferringPhysicianAddress
	{Group: 0x0008, Element: 0x0094}: true, // ReferringPhysicianTelephoneNumbers
	{Group: 0x0008, Element: 0x1010}: true, // StationName
	{Group: 0x0008, Element: 0x1040}: true, // InstitutionalDepartmentName
	{Group: 0x0008, Element: 0x1048}: true, // PhysiciansOfRecord
	{Group: 0x0008, Element: 0x1050}: true, // PerformingPhysicianName
	{Group: 0x0008, Element: 0x1060}: true, // NameOfPhysiciansReadingStudy
	{Group: 0x0008, Element: 0x1070}: true, // OperatorsName
	{Group: 0x0010, Element: 0x0010}: true, // PatientName
	{Group: 0x0010, Element: 0x0020}: true, // PatientID
	{Group: 0x0010, Element: 0x0021}: true, // IssuerOfPatientID
	{Group: 0x0010, Element: 0x0030}: true, // PatientBirthDate
	{Group: 0x0010, Element: 0x0032}: true, // PatientBirthTime
	{Group: 0x0010, Element: 0x1000}: true, // OtherPatientIDs
	{Group: 0x0010, Element: 0x1001}: true, // OtherPatientNames
	{Group: 0x0010, Element: 0x1005}: true, // PatientBirthName
	{Group: 0x0010, Element: 0x1040}: true, // PatientAddress
	{Group: 0x0010, Element: 0x1060}: true, // PatientMotherBirthName
	{Group: 0x0010, Element: 0x2154}: true, // PatientTelephoneNumbers
	{Group: 0x0010, Element: 0x21B0}: true, // AdditionalPatientHistory
	{Group: 0x0010, Element: 0x4000}: true, // PatientComments
	{Group: 0x0020, Element: 0x0010}: true, // StudyID
	{Group: 0x0032, Element: 0x1032}: true, // RequestingPhysician
	{Group: 0x0040, Element: 0x0006}: true, // ScheduledPerformingPhysicianName
	{Group: 0x0040, Element: 0xA123}: true, // PersonName
}

// IsPHITag reports whether values of the attribute are identifying (see Header.PHI).
func IsPHITag(group, element uint16) bool { return phiTags[tag.Tag{Group: group, Element: element}] }

func (im *Image) fill(ds *dcm.Dataset, pixels bool) error {
	h := &im.Header
	h.Frames, h.SamplesPerPixel, h.RescaleSlope = 1, 1, 1
	var pixelInfo *dcm.PixelDataInfo
	for _, e := range ds.Elements {
		switch e.Tag {
		case tag.TransferSyntaxUID:
			h.TransferSyntaxUID = str(e)
		case tag.SOPClassUID:
			h.SOPClassUID = str(e)
		case tag.SOPInstanceUID:
			h.SOPInstanceUID = str(e)
		case tag.StudyInstanceUID:
			h.StudyInstanceUID = str(e)
		case tag.SeriesInstanceUID:
			h.SeriesInstanceUID = str(e)
		case tag.Modality:
			h.Modality = str(e)
		case tag.PatientID:
			h.PatientID = str(e)
		case tag.PatientName:
			h.PatientName = str(e)
		case tag.PatientBirthDate:
			h.PatientBirthDate = str(e)
		case tag.Rows:
			h.Rows = integer(e)
		case tag.Columns:
			h.Columns = integer(e)
		case tag.NumberOfFrames:
			h.Frames = integer(e)
		case tag.SamplesPerPixel:
			h.SamplesPerPixel = integer(e)
		case tag.BitsAllocated:
			h.BitsAllocated = integer(e)
		case tag.BitsStored:
			h.BitsStored = integer(e)
		case tag.HighBit:
			h.HighBit = integer(e)
		case tag.PixelRepresentation:
			h.PixelRepresentation = integer(e)
		case tag.PlanarConfiguration:
			h.PlanarConfiguration = integer(e)
		case tag.PhotometricInterpretation:
			h.PhotometricInterpretation = str(e)
		case tag.InstanceNumber:
			if s := str(e); s != "" {
				if n, err := strconv.Atoi(s); err == nil {
					h.InstanceNumber, h.HasInstanceNumber = n, true
				}
			}
		case tag.ImagePositionPatient:
			h.ImagePositionPatient = floats(e)
		case tag.ImageOrientationPatient:
			h.ImageOrientationPatient = floats(e)
		case tag.PixelSpacing:
			h.PixelSpacing = floats(e)
		case tag.SliceThickness:
			if v := floats(e); len(v) > 0 {
				h.SliceThickness = v[0]
			}
		case tag.RescaleSlope:
			if v := floats(e); len(v) > 0 {
				h.RescaleSlope, h.HasRescale = v[0], true
			}
		case tag.RescaleIntercept:
			if v := floats(e); len(v) > 0 {
				h.RescaleIntercept, h.HasRescale = v[0], true
			}
		case tag.WindowCenter:
			h.WindowCenter = floats(e)
		case tag.WindowWidth:
			h.WindowWidth = floats(e)
		case tag.PixelData:
			h.HasPixelData = true
			if info, ok := e.Value.GetValue().(dcm.PixelDataInfo); ok {
				pixelInfo = &info
			}
		case tag.DirectoryRecordSequence:
			collectReferencedFiles(e, h)
		}
	}
	collectPHI(ds.Elements, h)
	if h.TransferSyntaxUID == "" {
		h.TransferSyntaxUID = ImplicitVRLittleEndian
	}
	if h.Frames < 1 {
		h.Frames = 1
	}
	if !pixels || pixelInfo == nil {
		return nil
	}
	if pixelInfo.IntentionallyUnprocessed {
		im.native = pixelInfo.UnprocessedValueData
		return nil
	}
	if pixelInfo.IsEncapsulated {
		frags := make([][]byte, 0, len(pixelInfo.Frames))
		for _, fr := range pixelInfo.Frames {
			frags = append(frags, fr.EncapsulatedData.Data)
		}
		frames, err := assembleFrames(frags, h.Frames, h.TransferSyntaxUID)
		if err != nil {
			return err
		}
		im.frames = frames
	}
	return nil
}

// assembleFrames groups encapsulated fragments into frames: one fragment per frame, all
// fragments into one frame, or (JPEG) a new frame at each fragment starting with SOI.
func assembleFrames(frags [][]byte, nFrames int, ts string) ([][]byte, error) {
	switch {
	case len(frags) == nFrames:
		return frags, nil
	case nFrames == 1:
		return [][]byte{bytes.Join(frags, nil)}, nil
	case len(frags) < nFrames:
		return nil, fmt.Errorf("tag (7FE0,0010) PixelData: %d encapsulated fragments for %d frames", len(frags), nFrames)
	}
	if ts == RLELossless {
		return nil, fmt.Errorf("tag (7FE0,0010) PixelData: RLE needs one fragment per frame, got %d fragments for %d frames", len(frags), nFrames)
	}
	var out [][]byte
	for _, f := range frags {
		if len(f) >= 2 && f[0] == 0xFF && f[1] == 0xD8 || len(out) == 0 {
			out = append(out, append([]byte(nil), f...))
			continue
		}
		out[len(out)-1] = append(out[len(out)-1], f...)
	}
	if len(out) != nFrames {
		return nil, fmt.Errorf("tag (7FE0,0010) PixelData: found %d JPEG frames in %d fragments, want %d", len(out), len(frags), nFrames)
	}
	return out, nil
}

func collectPHI(elems []*dcm.Element, h *Header) {
	for _, e := range elems {
		if e == nil || e.Value == nil {
			continue
		}
		if phiTags[e.Tag] {
			for _, s := range texts(e) {
				if s = strings.TrimSpace(s); s != "" {
					h.PHI = append(h.PHI, s)
				}
			}
			continue
		}
		switch v := e.Value.GetValue().(type) {
		case []*dcm.SequenceItemValue:
			for _, item := range v {
				if sub, ok := item.GetValue().([]*dcm.Element); ok {
					collectPHI(sub, h)
				}
			}
		case []*dcm.Element:
			collectPHI(v, h)
		}
	}
}

func collectReferencedFiles(e *dcm.Element, h *Header) {
	items, ok := e.Value.GetValue().([]*dcm.SequenceItemValue)
	if !ok {
		return
	}
	for _, item := range items {
		elems, _ := item.GetValue().([]*dcm.Element)
		for _, sub := range elems {
			if sub.Tag == tag.ReferencedFileID {
				if ss := texts(sub); len(ss) > 0 {
					var parts []string
					for _, s := range ss {
						if s = strings.TrimSpace(s); s != "" {
							parts = append(parts, s)
						}
					}
					h.ReferencedFiles = append(h.ReferencedFiles, strings.Join(parts, "/"))
				}
			}
		}
	}
}

// unknownText returns the value of an element read with VR UN (some writers store every
// attribute so) as text, split on backslashes, when the dictionary VR is textual.
func unknownText(e *dcm.Element) ([]string, bool) {
	b, ok := e.Value.GetValue().([]byte)
	if !ok || e.RawValueRepresentation != "UN" {
		return nil, false
	}
	info, err := tag.Find(e.Tag)
	if err != nil || len(info.VRs) == 0 {
		return nil, false
	}
	switch info.VRs[0] {
	case "US", "SS", "UL", "SL", "FL", "FD", "OB", "OW", "OF", "OD", "OL", "SQ", "AT", "UN":
		return nil, false
	}
	s := strings.Trim(string(b), " \x00")
	return strings.Split(s, "\\"), true
}

// texts returns the string values of an element (including UN-encoded text).
func texts(e *dcm.Element) []string {
	if e.Value == nil {
		return nil
	}
	if ss, ok := unknownText(e); ok {
		return ss
	}
	ss, _ := e.Value.GetValue().([]string)
	return ss
}

func str(e *dcm.Element) string {
	if e.Value == nil {
		return ""
	}
	if ss, ok := unknownText(e); ok {
		return strings.TrimSpace(ss[0])
	}
	switch v := e.Value.GetValue().(type) {
	case []string:
		if len(v) > 0 {
			return strings.TrimSpace(strings.TrimRight(v[0], "\x00"))
		}
	case []int:
		if len(v) > 0 {
			return strconv.Itoa(v[0])
		}
	}
	return ""
}

func integer(e *dcm.Element) int {
	if e.Value == nil {
		return 0
	}
	switch v := e.Value.GetValue().(type) {
	case []int:
		if len(v) > 0 {
			return v[0]
		}
	case []string:
		if len(v) > 0 {
			n, _ := strconv.Atoi(strings.TrimSpace(v[0]))
			return n
		}
	case []byte: // an attribute of unknown VR in implicit syntax: a little-endian US
		if len(v) >= 2 {
			return int(v[0]) | int(v[1])<<8
		}
	}
	return 0
}

func floats(e *dcm.Element) []float64 {
	if e.Value == nil {
		return nil
	}
	if ss, ok := unknownText(e); ok {
		return parseFloats(ss)
	}
	switch v := e.Value.GetValue().(type) {
	case []float64:
		return v
	case []string:
		return parseFloats(v)
	case []int:
		out := make([]float64, len(v))
		for i, n := range v {
			out[i] = float64(n)
		}
		return out
	}
	return nil
}

func parseFloats(ss []string) []float64 {
	var out []float64
	for _, s := range ss {
		s = strings.TrimSpace(strings.TrimRight(s, "\x00"))
		if s == "" {
			continue
		}
		f, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return out
		}
		out = append(out, f)
	}
	return out
}

// redacted is a parser error whose message had attribute values cut out.
type redacted struct {
	msg string
	err error
}

func (r *redacted) Error() string { return r.msg }
func (r *redacted) Unwrap() error { return r.err }

// redact drops the part of a parser error message that quotes an element (with its
// value, which may identify a patient) and bounds its length.
func redact(err error) error {
	msg := err.Error()
	cut := false
	if i := strings.Index(msg, "got: ["); i >= 0 {
		msg, cut = msg[:i]+"got: an element that is not an item", true
	}
	if len(msg) > 300 {
		msg, cut = msg[:300]+"...", true
	}
	if !cut {
		return err
	}
	return &redacted{msg: msg, err: err}
}
