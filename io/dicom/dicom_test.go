package dicom_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/biopipe/biopipe/io/dicom"
	"github.com/biopipe/biopipe/io/dicom/dicomgen"
)

// TestInspectGolden compares the inspector with the values pydicom 2.3.1 printed for the
// files in testdata (testdata/pydicom_expected.jsonl), so it runs without pydicom.
func TestInspectGolden(t *testing.T) {
	f, err := os.Open("testdata/pydicom_expected.jsonl")
	require.NoError(t, err)
	defer f.Close()
	sc := bufio.NewScanner(f)
	n := 0
	for sc.Scan() {
		var want map[string]any
		require.NoError(t, json.Unmarshal(sc.Bytes(), &want))
		path := want["path"].(string)
		if want["skip"] != nil {
			continue
		}
		n++
		t.Run(filepath.Base(path), func(t *testing.T) {
			s, err := dicom.Inspect(path)
			require.NoError(t, err)
			b, _ := json.Marshal(s)
			var got map[string]any
			require.NoError(t, json.Unmarshal(b, &got))
			for k, v := range want {
				if k == "path" {
					continue
				}
				if fv, ok := v.(float64); ok {
					assert.InDelta(t, fv, got[k], 1e-9*math.Max(1, math.Abs(fv)), k)
				} else {
					assert.Equal(t, v, got[k], k)
				}
			}
		})
	}
	require.GreaterOrEqual(t, n, 6)
}

func randomValues(rng *rand.Rand, n, bits int, signed bool) []int64 {
	out := make([]int64, n)
	for i := range out {
		if bits == 1 {
			out[i] = int64(rng.IntN(2))
			continue
		}
		if signed {
			out[i] = rng.Int64N(1<<bits) - 1<<(bits-1)
		} else {
			out[i] = rng.Int64N(1 << bits)
		}
	}
	return out
}

// TestDecodeLayouts writes files in every pixel layout with the dicomgen writer and checks
// that every frame decodes to the values written.
func TestDecodeLayouts(t *testing.T) {
	cases := []struct {
		name                      string
		bits, stored, spp, frames int
		signed, planar            bool
		syntax, photometric       string
		rows, cols                int
	}{
		{name: "u8", bits: 8, spp: 1, frames: 1},
		{name: "s8", bits: 8, spp: 1, frames: 1, signed: true},
		{name: "u16", bits: 16, spp: 1, frames: 1},
		{name: "s16 implicit", bits: 16, spp: 1, frames: 1, signed: true, syntax: dicom.ImplicitVRLittleEndian},
		{name: "s12 of 16", bits: 16, stored: 12, spp: 1, frames: 1, signed: true},
		{name: "u16 big endian", bits: 16, spp: 1, frames: 2, syntax: dicom.ExplicitVRBigEndian},
		{name: "s16 big endian", bits: 16, spp: 1, frames: 1, signed: true, syntax: dicom.ExplicitVRBigEndian},
		{name: "u32", bits: 32, spp: 1, frames: 1},
		{name: "s32 big endian", bits: 32, spp: 1, frames: 2, signed: true, syntax: dicom.ExplicitVRBigEndian},
		{name: "rgb interleaved", bits: 8, spp: 3, frames: 1},
		{name: "rgb planar multi-frame", bits: 8, spp: 3, frames: 3, planar: true},
		{name: "rgb16 planar", bits: 16, spp: 3, frames: 1, planar: true},
		{name: "monochrome1", bits: 16, spp: 1, frames: 1, photometric: "MONOCHROME1"},
		{name: "1 bit", bits: 1, spp: 1, frames: 2, rows: 5, cols: 8},
		{name: "rle u8", bits: 8, spp: 1, frames: 2, syntax: dicom.RLELossless},
		{name: "rle s16", bits: 16, spp: 1, frames: 1, signed: true, syntax: dicom.RLELossless},
		{name: "rle rgb", bits: 8, spp: 3, frames: 2, syntax: dicom.RLELossless},
		{name: "rle u32", bits: 32, spp: 1, frames: 1, syntax: dicom.RLELossless},
		{name: "odd size", bits: 8, spp: 1, frames: 1, rows: 7, cols: 5},
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			rows, cols := c.rows, c.cols
			if rows == 0 {
				rows, cols = 9, 11
			}
			stored := c.stored
			if stored == 0 {
				stored = c.bits
			}
			in := &dicomgen.Instance{
				PatientID: "X", SOPInstanceUID: "1.2.3", SeriesInstanceUID: "1.2", StudyInstanceUID: "1",
				Rows: rows, Columns: cols, Frames: c.frames, SamplesPerPixel: c.spp, BitsAllocated: c.bits,
				BitsStored: stored, Signed: c.signed, Planar: c.planar, TransferSyntaxUID: c.syntax,
				Photometric: c.photometric, RescaleSlope: 2, RescaleIntercept: -5,
			}
			n := rows * cols * c.spp
			in.Values = randomValues(rng, n*c.frames, stored, c.signed)
			b, err := in.Encode()
			require.NoError(t, err)
			im, err := dicom.ReadBytes(c.name, b)
			require.NoError(t, err)
			require.Equal(t, c.frames, im.NumFrames())
			lo, hi, sum := math.Inf(1), math.Inf(-1), 0.0
			for f := 0; f < c.frames; f++ {
				got, err := im.Frame(f, nil)
				require.NoError(t, err)
				resc, err := im.FrameRescaled(f, nil)
				require.NoError(t, err)
				for k, v := range in.Values[f*n : (f+1)*n] {
					require.Equal(t, float32(v), got[k], "frame %d sample %d", f, k)
					require.Equal(t, float32(v)*2-5, resc[k])
					lo, hi, sum = math.Min(lo, float64(v)), math.Max(hi, float64(v)), sum+float64(v)
				}
			}
			st, err := im.Stats()
			require.NoError(t, err)
			assert.Equal(t, lo, st.Min)
			assert.Equal(t, hi, st.Max)
			assert.InDelta(t, sum/float64(n*c.frames), st.Mean, 1e-9)
		})
	}
}

func TestDecodeJPEGBaseline(t *testing.T) {
	t.Run("generated gray", func(t *testing.T) {
		vals := make([]int64, 32*32)
		for i := range vals {
			vals[i] = int64((i%32)*8 + 2)
		}
		in := &dicomgen.Instance{SOPInstanceUID: "1.2", Rows: 32, Columns: 32, BitsAllocated: 8,
			TransferSyntaxUID: dicom.JPEGBaseline, Values: vals}
		b, err := in.Encode()
		require.NoError(t, err)
		im, err := dicom.ReadBytes("gray.dcm", b)
		require.NoError(t, err)
		got, err := im.Frame(0, nil)
		require.NoError(t, err)
		for k, v := range vals {
			require.InDelta(t, float64(v), float64(got[k]), 4, "sample %d", k)
		}
	})
	t.Run("dcmtk rgb", func(t *testing.T) {
		// pydicom + Pillow report YCbCr (76,85,255) at (0,0) and (143,192,115) at (50,50);
		// io/dicom converts baseline JPEG colour to RGB.
		im, err := dicom.Read("testdata/SC_rgb_jpeg_dcmtk.dcm")
		require.NoError(t, err)
		got, err := im.Frame(0, nil)
		require.NoError(t, err)
		rgb := func(y, cb, cr float64) [3]float64 {
			return [3]float64{y + 1.402*(cr-128), y - 0.344136*(cb-128) - 0.714136*(cr-128), y + 1.772*(cb-128)}
		}
		for _, p := range []struct {
			x, y int
			ycc  [3]float64
		}{{0, 0, [3]float64{76, 85, 255}}, {50, 50, [3]float64{143, 192, 115}}} {
			want := rgb(p.ycc[0], p.ycc[1], p.ycc[2])
			for c := 0; c < 3; c++ {
				w := math.Max(0, math.Min(255, want[c]))
				assert.InDelta(t, w, float64(got[(p.y*100+p.x)*3+c]), 3, "pixel (%d,%d) channel %d", p.x, p.y, c)
			}
		}
	})
}

func TestInspectWithoutPixelData(t *testing.T) {
	dir := t.TempDir()
	require.NoError(t, dicomgen.WriteDICOMDIR(dir, []string{"A/B/IM1"}))
	s, err := dicom.Inspect(filepath.Join(dir, "DICOMDIR"))
	require.NoError(t, err)
	assert.False(t, s.PixelData)
	assert.Nil(t, s.PixelMean)
	h, err := dicom.ReadHeader(filepath.Join(dir, "DICOMDIR"))
	require.NoError(t, err)
	assert.Equal(t, []string{"A/B/IM1"}, h.ReferencedFiles)
}

func TestUnsupportedSyntaxNamesFileAndSyntax(t *testing.T) {
	_, err := dicom.Inspect("testdata/JPEG2000.dcm")
	require.Error(t, err)
	assert.True(t, errors.Is(err, dicom.ErrUnsupportedSyntax))
	assert.Contains(t, err.Error(), "testdata/JPEG2000.dcm")
	assert.Contains(t, err.Error(), "JPEG 2000")
	assert.Contains(t, err.Error(), "1.2.840.10008.1.2.4.91")
}

func TestTruncatedAndCorruptFiles(t *testing.T) {
	full, err := os.ReadFile("testdata/CT_small.dcm")
	require.NoError(t, err)
	for _, cut := range []int{10, 140, 400, len(full) / 2, len(full) - 100} {
		im, err := dicom.ReadBytes("cut.dcm", full[:cut])
		if err == nil {
			_, err = im.Frame(0, nil)
		}
		require.Error(t, err, "cut at %d", cut)
		assert.Contains(t, err.Error(), "cut.dcm")
	}
	_, err = dicom.ReadBytes("text.dcm", []byte("this is not a DICOM file at all, just text ......................................................................................................."))
	require.Error(t, err)
	assert.Contains(t, err.Error(), "text.dcm")
}

func TestRLERoundTrip(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for _, tc := range []struct{ npix, spp, bps int }{{1, 1, 1}, {100, 1, 2}, {257, 3, 1}, {64, 1, 4}, {1000, 3, 2}} {
		src := make([]byte, tc.npix*tc.spp*tc.bps)
		for i := range src {
			if rng.IntN(3) == 0 {
				src[i] = byte(rng.IntN(256))
			} else if i > 0 {
				src[i] = src[i-1]
			}
		}
		enc, err := dicom.EncodeRLE(src, tc.npix, tc.spp, tc.bps)
		require.NoError(t, err)
		dec, err := dicom.DecodeRLE(enc, tc.npix, tc.spp, tc.bps, nil)
		require.NoError(t, err)
		require.Equal(t, src, dec)
	}
	_, err := dicom.DecodeRLE(make([]byte, 10), 4, 1, 1, nil)
	assert.ErrorContains(t, err, "64-byte header")
}

// FuzzDecodeRLE checks that the RLE decoder never panics and round-trips what it encodes.
func FuzzDecodeRLE(f *testing.F) {
	enc, _ := dicom.EncodeRLE([]byte{1, 1, 1, 2, 3, 4, 4, 4, 4, 9}, 5, 1, 2)
	f.Add(enc, 5, 1, 2)
	f.Add(make([]byte, 64), 1, 1, 1)
	f.Fuzz(func(t *testing.T, data []byte, npix, spp, bps int) {
		if npix < 0 || npix > 1<<16 || spp < 1 || spp > 3 || bps < 1 || bps > 4 {
			return
		}
		out, err := dicom.DecodeRLE(data, npix, spp, bps, nil)
		if err == nil && len(out) != npix*spp*bps {
			t.Fatalf("decoded %d bytes, want %d", len(out), npix*spp*bps)
		}
		src := data
		if len(src) > npix*spp*bps {
			src = src[:npix*spp*bps]
		}
		if len(src) == npix*spp*bps {
			enc, err := dicom.EncodeRLE(src, npix, spp, bps)
			if err == nil {
				dec, err := dicom.DecodeRLE(enc, npix, spp, bps, nil)
				if err != nil || string(dec) != string(src) {
					t.Fatalf("round trip failed: %v", err)
				}
			}
		}
	})
}

// FuzzRead checks that parsing and decoding arbitrary bytes returns errors, not panics.
func FuzzRead(f *testing.F) {
	for _, name := range []string{"testdata/SC_rgb_small_odd.dcm", "testdata/rtdose_rle_1frame.dcm", "testdata/SC_rgb_jpeg_dcmtk.dcm"} {
		if b, err := os.ReadFile(name); err == nil {
			f.Add(b)
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		st := time.Now()
		defer func() {
			if d := time.Since(st); d > 10*time.Second { // generous: CI machines are small and shared
				t.Fatalf("slow input: %v", d)
			}
		}()
		im, err := dicom.ReadBytes("fuzz.dcm", data)
		if err != nil {
			return
		}
		if im.Header.FrameLen()*im.NumFrames() > 1<<16 {
			return
		}
		_, _ = im.Stats()
	})
}

// TestReadHeaderPrefix checks that reading the header from a prefix of a large file gives
// the same header as a full read, and still reports truncated pixel data.
func TestReadHeaderPrefix(t *testing.T) {
	in := &dicomgen.Instance{PatientID: "PID-PREFIX", PatientName: "Prefix^Test", SOPInstanceUID: "1.2.3", SeriesInstanceUID: "1.2",
		Rows: 256, Columns: 256, BitsAllocated: 16, RescaleIntercept: -1024, RescaleSlope: 1, InstanceNumber: 7,
		Values: make([]int64, 256*256)}
	b, err := in.Encode()
	require.NoError(t, err)
	path := filepath.Join(t.TempDir(), "big.dcm")
	require.NoError(t, os.WriteFile(path, b, 0o644))
	h, err := dicom.ReadHeader(path)
	require.NoError(t, err)
	full, err := dicom.Read(path)
	require.NoError(t, err)
	assert.Equal(t, full.Header, *h)
	assert.True(t, h.HasPixelData)
	assert.Contains(t, h.PHI, "Prefix^Test")

	require.NoError(t, os.WriteFile(path, b[:len(b)-1000], 0o644))
	_, err = dicom.ReadHeader(path)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "big.dcm")
}

// TestParserErrorsQuoteNoValues builds a sequence holding a patient name where an item
// belongs: the parser's complaint must not quote the name.
func TestParserErrorsQuoteNoValues(t *testing.T) {
	in := &dicomgen.Instance{PatientID: "PID-SQ", SOPInstanceUID: "1.2", Rows: 2, Columns: 2, BitsAllocated: 8, Values: make([]int64, 4)}
	b, err := in.Encode()
	require.NoError(t, err)
	// an explicit-VR sequence of undefined length whose first "item" is PatientName
	name := []byte("Secret^Person")
	if len(name)%2 == 1 {
		name = append(name, ' ')
	}
	seq := []byte{0x08, 0x00, 0x15, 0x11, 'S', 'Q', 0, 0, 0xFF, 0xFF, 0xFF, 0xFF}
	pn := append([]byte{0x10, 0x00, 0x10, 0x00, 'P', 'N', byte(len(name)), 0}, name...)
	pos := bytes.Index(b, []byte{0x08, 0x00, 0x60, 0x00}) // insert before Modality
	require.Positive(t, pos)
	bad := append(append(append(append([]byte{}, b[:pos]...), seq...), pn...), b[pos:]...)
	_, err = dicom.ReadBytes("sq.dcm", bad)
	require.Error(t, err)
	assert.NotContains(t, err.Error(), "Secret")
	t.Log(err)
	assert.Contains(t, err.Error(), "sq.dcm")
}

func TestReadReuseMatchesRead(t *testing.T) {
	var buf []byte
	for _, name := range []string{"testdata/CT_small.dcm", "testdata/SC_rgb_small_odd.dcm", "testdata/MR_small_RLE.dcm"} {
		var im *dicom.Image
		var err error
		im, buf, err = dicom.ReadReuse(name, buf)
		require.NoError(t, err)
		got, err := im.Frame(0, nil)
		require.NoError(t, err)
		ref, err := dicom.Read(name)
		require.NoError(t, err)
		want, err := ref.Frame(0, nil)
		require.NoError(t, err)
		require.Equal(t, want, got, name)
		require.Equal(t, ref.Header, im.Header)
	}
}
