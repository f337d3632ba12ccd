package nifti

import (
	"bufio"
	"bytes"
	"encoding/json"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const (
	debianPython   = "/usr/bin/python3"
	nibabelTestDir = "/usr/lib/python3/dist-packages/nibabel/tests/data"
)

// nibabelRecord is one line of nibabel_summary.py.
type nibabelRecord struct {
	File              string        `json:"file"`
	Version           int           `json:"version"`
	Shape             []int         `json:"shape"`
	Datatype          int           `json:"datatype"`
	QformCode         int           `json:"qform_code"`
	SformCode         int           `json:"sform_code"`
	Affine            [4][4]float64 `json:"affine"`
	Axcodes           string        `json:"axcodes"`
	NaNs              int           `json:"nans"`
	Sum               float64       `json:"sum"`
	Min               float64       `json:"min"`
	Max               float64       `json:"max"`
	Checksum          float64       `json:"checksum"`
	CanonicalShape    []int         `json:"canonical_shape"`
	CanonicalAffine   [4][4]float64 `json:"canonical_affine"`
	CanonicalChecksum float64       `json:"canonical_checksum"`
}

func parseRecords(t *testing.T, b []byte) []nibabelRecord {
	t.Helper()
	var out []nibabelRecord
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var r nibabelRecord
		require.NoError(t, json.Unmarshal(sc.Bytes(), &r), sc.Text())
		out = append(out, r)
	}
	return out
}

type stats struct {
	nans                    int
	sum, min, max, checksum float64
}

func summarize(data []float32) stats {
	s := stats{min: math.Inf(1), max: math.Inf(-1)}
	for i, v := range data {
		f := float64(v)
		if math.IsNaN(f) {
			s.nans++
			continue
		}
		s.sum += f
		s.min, s.max = math.Min(s.min, f), math.Max(s.max, f)
		s.checksum += f * float64(i%97+1)
	}
	return s
}

func rel(a, b float64) float64 { return math.Abs(a-b) / math.Max(1, math.Abs(b)) }

// compare checks the Go reading of r.File against nibabel's.
func compare(t *testing.T, path string, r nibabelRecord) {
	t.Helper()
	im, err := Read(path)
	require.NoError(t, err, path)
	assert.Equal(t, r.Version, im.Header.Version, "%s version", path)
	assert.Equal(t, r.Shape, im.Shape, "%s shape", path)
	assert.Equal(t, r.Datatype, im.Header.Datatype, "%s datatype", path)
	assert.Equal(t, r.QformCode, im.Header.QformCode, path)
	assert.Equal(t, r.SformCode, im.Header.SformCode, path)
	for i := range 4 {
		for j := range 4 {
			assert.InDelta(t, r.Affine[i][j], im.Affine[i][j], 1e-4, "%s affine[%d][%d]", path, i, j)
		}
	}
	assert.Equal(t, r.Axcodes, im.Affine.Axcodes(), "%s axcodes", path)
	s := summarize(im.Data)
	assert.Equal(t, r.NaNs, s.nans, "%s NaNs", path)
	assert.Less(t, rel(s.sum, r.Sum), 1e-5, "%s sum %g vs %g", path, s.sum, r.Sum)
	assert.Less(t, rel(s.min, r.Min), 1e-6, "%s min", path)
	assert.Less(t, rel(s.max, r.Max), 1e-6, "%s max", path)
	assert.Less(t, rel(s.checksum, r.Checksum), 1e-5, "%s checksum (voxel order)", path)
	can := im.Canonical()
	assert.Equal(t, r.CanonicalShape, can.Shape, "%s canonical shape", path)
	for i := range 4 {
		for j := range 4 {
			assert.InDelta(t, r.CanonicalAffine[i][j], can.Affine[i][j], 1e-4, "%s canonical affine[%d][%d]", path, i, j)
		}
	}
	assert.Equal(t, "RAS", can.Affine.Axcodes())
	assert.Less(t, rel(summarize(can.Data).checksum, r.CanonicalChecksum), 1e-5, "%s canonical checksum (voxel order)", path)
}

func TestAgreesWithCommittedNibabelReading(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("testdata", "nibabel.jsonl"))
	require.NoError(t, err)
	recs := parseRecords(t, b)
	require.Len(t, recs, 3)
	for _, r := range recs {
		compare(t, filepath.Join("testdata", r.File), r)
	}
}

// writeExamples writes files with the Go writer: an oblique float32 volume, an int16 volume
// with scaling, a uint8 4-D volume.
func writeExamples(t *testing.T, dir string) []string {
	t.Helper()
	c, s := math.Cos(0.3), math.Sin(0.3)
	oblique := Affine{{-1.5 * c, 0, 2 * s, 90}, {0, 1.2, 0, -120}, {1.5 * s, 0, 2 * c, -60}, {0, 0, 0, 1}}
	lps := Affine{{-1, 0, 0, 10}, {0, -1, 0, 20}, {0, 0, 2, -5}, {0, 0, 0, 1}}
	pir := Affine{{0, 0, 3, 0}, {-2, 0, 0, 5}, {0, -1, 0, 7}, {0, 0, 0, 1}} // x->P? axes permuted
	vol := func(n int, f func(i int) float32) []float32 {
		out := make([]float32, n)
		for i := range out {
			out[i] = f(i)
		}
		return out
	}
	files := []struct {
		name  string
		shape []int
		data  []float32
		aff   Affine
		o     WriteOptions
	}{
		{"oblique.nii.gz", []int{5, 6, 7}, vol(210, func(i int) float32 { return float32(math.Sin(float64(i))) * 100 }), oblique, WriteOptions{}},
		{"scaled.nii", []int{4, 3, 5}, vol(60, func(i int) float32 { return 10 + 0.5*float32(i*7%61) }), lps, WriteOptions{Datatype: Int16, SclSlope: 0.5, SclInter: 10}},
		{"permuted.nii.gz", []int{3, 4, 2, 2}, vol(48, func(i int) float32 { return float32(i % 200) }), pir, WriteOptions{Datatype: Uint8}},
	}
	var out []string
	for _, f := range files {
		p := filepath.Join(dir, f.name)
		require.NoError(t, Write(p, f.shape, f.data, f.aff, f.o))
		im, err := Read(p)
		require.NoError(t, err)
		assert.Equal(t, f.shape, im.Shape)
		assert.InDeltaSlice(t, f.data, im.Data, 1e-3, f.name)
		for i := range 3 {
			for j := range 4 {
				assert.InDelta(t, f.aff[i][j], im.Header.SformAffine()[i][j], 1e-5, "%s sform", f.name)
				assert.InDelta(t, f.aff[i][j], im.Header.QformAffine()[i][j], 1e-5, "%s qform", f.name)
			}
		}
		out = append(out, p)
	}
	return out
}

// The reader agrees with nibabel on every NIfTI file nibabel ships with its tests and on the
// Go writer's files (so nibabel also checks the writer).
func TestAgreesWithNibabel(t *testing.T) {
	if err := exec.Command(debianPython, "-c", "import nibabel, numpy").Run(); err != nil {
		t.Skipf("nibabel not available (apt-get install python3-nibabel): %v", err)
	}
	files := writeExamples(t, t.TempDir())
	for _, name := range []string{"anatomical.nii", "example4d.nii.gz", "example_nifti2.nii.gz", "functional.nii",
		"reoriented_anat_moved.nii", "resampled_anat_moved.nii", "standard.nii.gz"} {
		p := filepath.Join(nibabelTestDir, name)
		if _, err := os.Stat(p); err == nil {
			files = append(files, p)
		}
	}
	var stderr bytes.Buffer
	cmd := exec.Command(debianPython, append([]string{filepath.Join("testdata", "nibabel_summary.py")}, files...)...)
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	require.NoError(t, err, stderr.String())
	recs := parseRecords(t, out)
	require.Len(t, recs, len(files))
	for i, r := range recs {
		compare(t, files[i], r)
	}
}

func TestHeaderFieldsAndErrors(t *testing.T) {
	h, err := ReadHeader(filepath.Join("testdata", "functional.nii"))
	require.NoError(t, err)
	assert.Equal(t, 1, h.Version)
	assert.Equal(t, []int{17, 21, 3, 20}, h.Shape())
	assert.Equal(t, "int16", DatatypeName(h.Datatype))
	sp, tm := h.Units()
	assert.Equal(t, "mm", sp)
	assert.Contains(t, []string{"s", "ms", "unknown"}, tm)

	_, err = ParseHeader(make([]byte, 348))
	assert.ErrorContains(t, err, "sizeof_hdr is 0")
	b, err := os.ReadFile(filepath.Join("testdata", "functional.nii"))
	require.NoError(t, err)
	bad := bytes.Clone(b)
	copy(bad[344:], "xx1\x00")
	_, err = ParseHeader(bad)
	assert.ErrorContains(t, err, `magic is "xx1"`)
	trunc := filepath.Join(t.TempDir(), "t.nii")
	require.NoError(t, os.WriteFile(trunc, b[:len(b)-100], 0o644))
	_, err = Read(trunc)
	assert.ErrorContains(t, err, "t.nii: voxel data: want 42840 bytes (21420 voxels of int16)")
	err = Write(filepath.Join(t.TempDir(), "x.nii"), []int{2, 2}, []float32{1, 2, 3, 300}, Affine{{1, 0, 0, 0}, {0, 1, 0, 0}, {0, 0, 1, 0}, {0, 0, 0, 1}}, WriteOptions{Datatype: Uint8})
	assert.ErrorContains(t, err, "voxel 3 is 300, outside the uint8 range")
}

// FuzzParseHeader: any bytes give a header or an error, never a panic, and a parsed
// header's dimensions are in range.
func FuzzParseHeader(f *testing.F) {
	for _, name := range []string{"functional.nii"} {
		b, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b[:Size2])
	}
	f.Add(make([]byte, Size1))
	f.Fuzz(func(t *testing.T, b []byte) {
		h, err := ParseHeader(b)
		if err != nil {
			return
		}
		if h.Dim[0] < 1 || h.Dim[0] > 7 {
			t.Fatalf("dim[0] %d accepted", h.Dim[0])
		}
		_ = h.BestAffine().Axcodes()
	})
}

func TestSummary(t *testing.T) {
	s, err := Summarize(filepath.Join("testdata", "functional.nii"))
	require.NoError(t, err)
	assert.Equal(t, "LAS", s.Axcodes)
	assert.Equal(t, []float64{4, 4, 8}, s.Pixdim[:3])
	var buf bytes.Buffer
	require.NoError(t, s.WriteText(&buf))
	assert.Contains(t, buf.String(), "NIfTI-1, int16 (16 bits), 17 x 21 x 3 x 20 voxels")
	assert.Contains(t, buf.String(), "orientation: LAS (qform_code 2, sform_code 2)")
}
