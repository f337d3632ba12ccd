package dicom

import (
	"bufio"
	"bytes"
	"encoding/json"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const (
	debianPython   = "/usr/bin/python3"
	pydicomTestDir = "/usr/lib/python3/dist-packages/pydicom/data/test_files"
)

// pydicomRecord is one line printed by testdata/pydicom_summary.py.
type pydicomRecord struct {
	Path                      string  `json:"path"`
	Skip                      string  `json:"skip"`
	Rows                      int     `json:"rows"`
	Columns                   int     `json:"columns"`
	Frames                    int     `json:"frames"`
	SamplesPerPixel           int     `json:"samples_per_pixel"`
	BitsAllocated             int     `json:"bits_allocated"`
	PixelRepresentation       int     `json:"pixel_representation"`
	PhotometricInterpretation string  `json:"photometric_interpretation"`
	TransferSyntaxUID         string  `json:"transfer_syntax_uid"`
	Modality                  string  `json:"modality"`
	SeriesInstanceUID         string  `json:"series_instance_uid"`
	InstanceNumber            *int    `json:"instance_number"`
	RescaleSlope              float64 `json:"rescale_slope"`
	RescaleIntercept          float64 `json:"rescale_intercept"`
	PixelMin                  float64 `json:"pixel_min"`
	PixelMax                  float64 `json:"pixel_max"`
	PixelMean                 float64 `json:"pixel_mean"`
}

// runPydicom returns pydicom's summary of each file, skipping the test when the Debian
// python3-pydicom package is not installed.
func runPydicom(t *testing.T, files []string) []pydicomRecord {
	t.Helper()
	if err := exec.Command(debianPython, "-c", "import pydicom, numpy").Run(); err != nil {
		t.Skipf("pydicom not available (apt-get install python3-pydicom): %v", err)
	}
	args := append([]string{"testdata/pydicom_summary.py"}, files...)
	var stderr bytes.Buffer
	cmd := exec.Command(debianPython, args...)
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	require.NoError(t, err, stderr.String())
	var recs []pydicomRecord
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var r pydicomRecord
		require.NoError(t, json.Unmarshal(sc.Bytes(), &r), sc.Text())
		recs = append(recs, r)
	}
	require.Len(t, recs, len(files))
	return recs
}

func compareWithPydicom(t *testing.T, files []string) (compared int) {
	for _, r := range runPydicom(t, files) {
		name := filepath.Base(r.Path)
		if r.Skip != "" {
			t.Logf("%s: pydicom cannot decode it without plugins (%s)", name, r.Skip)
			continue
		}
		compared++
		t.Run(name, func(t *testing.T) {
			s, err := Inspect(r.Path)
			require.NoError(t, err)
			assert.Equal(t, r.Rows, s.Rows, "rows")
			assert.Equal(t, r.Columns, s.Columns, "columns")
			assert.Equal(t, r.Frames, s.Frames, "frames")
			assert.Equal(t, r.SamplesPerPixel, s.SamplesPerPixel, "samples_per_pixel")
			assert.Equal(t, r.BitsAllocated, s.BitsAllocated, "bits_allocated")
			assert.Equal(t, r.PixelRepresentation, s.PixelRepresentation, "pixel_representation")
			assert.Equal(t, r.PhotometricInterpretation, s.PhotometricInterpretation, "photometric_interpretation")
			if r.TransferSyntaxUID != "" {
				assert.Equal(t, r.TransferSyntaxUID, s.TransferSyntaxUID, "transfer_syntax_uid")
			}
			assert.Equal(t, r.Modality, s.Modality, "modality")
			assert.Equal(t, r.SeriesInstanceUID, s.SeriesInstanceUID, "series_instance_uid")
			assert.Equal(t, r.InstanceNumber, s.InstanceNumber, "instance_number")
			assert.InDelta(t, r.RescaleSlope, s.RescaleSlope, 1e-9, "rescale_slope")
			assert.InDelta(t, r.RescaleIntercept, s.RescaleIntercept, 1e-9, "rescale_intercept")
			require.True(t, s.PixelData)
			assert.Equal(t, r.PixelMin, *s.PixelMin, "pixel_min")
			assert.Equal(t, r.PixelMax, *s.PixelMax, "pixel_max")
			assert.InDelta(t, r.PixelMean, *s.PixelMean, 1e-9*math.Max(1, math.Abs(r.PixelMean)), "pixel_mean")
		})
	}
	return compared
}

// TestInspectMatchesPydicom compares the inspector with pydicom on every file of pydicom's
// own test set that pydicom decodes with its built-in handlers (native and RLE).
func TestInspectMatchesPydicom(t *testing.T) {
	var files []string
	err := filepath.WalkDir(pydicomTestDir, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.HasSuffix(strings.ToLower(p), ".dcm") {
			files = append(files, p)
		}
		return err
	})
	if err != nil {
		t.Skipf("pydicom test files not available: %v", err)
	}
	n := compareWithPydicom(t, files)
	require.Greater(t, n, 20, "too few pydicom test files compared")
}

// TestInspectMatchesPydicomOnTestdata runs the same comparison on the files copied into
// testdata/ (so it also guards the copies).
func TestInspectMatchesPydicomOnTestdata(t *testing.T) {
	files, _ := filepath.Glob("testdata/*.dcm")
	require.NotEmpty(t, files)
	compareWithPydicom(t, files)
}
