package tensorboard

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// writeSample writes one of each kind of summary and returns the file.
func writeSample(t *testing.T) (string, []byte) {
	t.Helper()
	clock := time.Unix(1_700_000_000, 500_000_000)
	w, err := create(t.TempDir(), func() time.Time { clock = clock.Add(time.Second); return clock })
	require.NoError(t, err)
	require.NoError(t, w.Scalar("loss/train", 1, 0.5))
	require.NoError(t, w.Scalar("loss/train", 2, 0.25))
	require.NoError(t, w.Histogram("weights/dense", 2, []float64{0, 1, 1, 2, 3, 4}, 4))
	grid, err := Grid([]float32{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17}, []int{3, 3}, 2)
	require.NoError(t, err)
	require.NoError(t, w.Image("samples", 0, grid))
	require.NoError(t, w.Close())
	assert.True(t, strings.HasPrefix(filepath.Base(w.Path()), "events.out.tfevents.1700000001.biopipe"), w.Path())
	return w.Path(), grid
}

func TestWriteRead(t *testing.T) {
	path, grid := writeSample(t)
	evs, err := ReadFile(path)
	require.NoError(t, err)
	require.Len(t, evs, 5)
	assert.Equal(t, FileVersion, evs[0].FileVersion) // the clock ticked once for the file name
	assert.Equal(t, 1700000002.5, evs[0].WallTime)
	assert.Equal(t, int64(2), evs[2].Step)
	require.Len(t, evs[2].Values, 1)
	assert.Equal(t, "loss/train", evs[2].Values[0].Tag)
	assert.Equal(t, float32(0.25), *evs[2].Values[0].Simple)

	h := evs[3].Values[0].Histo
	require.NotNil(t, h)
	assert.Equal(t, Histogram{Min: 0, Max: 4, Num: 6, Sum: 11, SumSquares: 31,
		BucketLimit: []float64{1, 2, 3, 4}, Bucket: []float64{3, 1, 1, 1}}, *h)

	img := evs[4].Values[0].Image
	require.NotNil(t, img)
	assert.Equal(t, grid, img.PNG)
	assert.Equal(t, Image{Height: 3, Width: 8, Colorspace: 1, PNG: grid}, *img) // two 3x3 examples, 2-pixel gap
	dec, err := png.Decode(bytes.NewReader(img.PNG))
	require.NoError(t, err)
	assert.Equal(t, 8, dec.Bounds().Dx())
}

// TestCorruptFile: a flipped byte fails the CRC, a cut file is a truncated record.
func TestCorruptFile(t *testing.T) {
	path, _ := writeSample(t)
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	bad := bytes.Clone(b)
	bad[len(bad)-10] ^= 0xff
	_, err = Read(bytes.NewReader(bad))
	assert.ErrorContains(t, err, "data CRC")
	bad = bytes.Clone(b)
	bad[3] ^= 1
	_, err = Read(bytes.NewReader(bad))
	assert.ErrorContains(t, err, "length CRC")
	_, err = Read(bytes.NewReader(b[:len(b)-3]))
	assert.ErrorContains(t, err, "truncated")
}

// TestMaskedCRC: CRC32C of "123456789" is 0xe3069283 (the standard check value); the mask is
// TFRecord's.
func TestMaskedCRC(t *testing.T) {
	c := uint32(0xe3069283)
	assert.Equal(t, ((c>>15)|(c<<17))+0xa282ead8, MaskedCRC([]byte("123456789")))
	// An empty record's length field as TensorFlow frames it.
	var hdr [8]byte
	binary.LittleEndian.PutUint64(hdr[:], 0)
	assert.NotZero(t, MaskedCRC(hdr[:]))
}

func TestHistogramEdges(t *testing.T) {
	assert.Equal(t, Histogram{Min: 2, Max: 2, Num: 3, Sum: 6, SumSquares: 12, BucketLimit: []float64{2}, Bucket: []float64{3}},
		NewHistogram([]float64{2, 2, 2}, 10))
	assert.Equal(t, Histogram{}, NewHistogram(nil, 10))
}

func TestGridShapes(t *testing.T) {
	_, err := Grid(make([]float32, 8), []int{8}, 1)
	assert.ErrorContains(t, err, "not an image")
	rgb, err := Grid(make([]float32, 2*2*3*5), []int{2, 2, 3}, 4)
	require.NoError(t, err)
	img, err := png.Decode(bytes.NewReader(rgb))
	require.NoError(t, err)
	assert.Equal(t, 6, img.Bounds().Dx()) // 2x2 grid of 2x2 examples
}

// TestPythonProtobuf decodes the file with Python's protobuf runtime against the event and
// summary messages of TensorFlow's published protos, compiled by protoc at test time
// (Debian protobuf-compiler and python3-protobuf); it skips when either is missing.
func TestPythonProtobuf(t *testing.T) {
	protoc, err := exec.LookPath("protoc")
	if err != nil {
		t.Skip("protoc not installed (Debian protobuf-compiler)")
	}
	const py = "/usr/bin/python3"
	if exec.Command(py, "-c", "import google.protobuf").Run() != nil {
		t.Skip("python3-protobuf not installed in /usr/bin/python3")
	}
	gen := t.TempDir()
	out, err := exec.Command(protoc, "--proto_path=testdata", "--python_out="+gen, "testdata/tfevents.proto").CombinedOutput()
	require.NoError(t, err, string(out))
	path, grid := writeSample(t)
	out, err = exec.Command(py, "testdata/decode_events.py", gen, path).Output()
	require.NoError(t, err, string(out))
	var got []map[string]any
	require.NoError(t, json.Unmarshal(out, &got))
	require.Len(t, got, 5)
	assert.Equal(t, FileVersion, got[0]["file_version"])
	assert.Equal(t, 1700000002.5, got[0]["wall_time"])
	v := func(i int) map[string]any { return got[i]["values"].([]any)[0].(map[string]any) }
	assert.Equal(t, map[string]any{"tag": "loss/train", "kind": "simple_value", "value": 0.5}, v(1))
	assert.Equal(t, 2.0, got[2]["step"])
	assert.Equal(t, map[string]any{"tag": "weights/dense", "kind": "histo", "num": 6.0, "min": 0.0, "max": 4.0,
		"bucket": []any{3.0, 1.0, 1.0, 1.0}, "bucket_limit": []any{1.0, 2.0, 3.0, 4.0}}, v(3))
	assert.Equal(t, map[string]any{"tag": "samples", "kind": "image", "height": 3.0, "width": 8.0, "png_bytes": float64(len(grid))}, v(4))
}
