package images

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/csv"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/image/bmp"
	"golang.org/x/image/tiff"

	"github.com/biopipe/biopipe/contract"
	"github.com/biopipe/biopipe/dataset"
	"github.com/biopipe/biopipe/io/img"
	"github.com/biopipe/biopipe/testdata/gen/digitspng"
)

var repo = filepath.Join("..", "..", "..")

func save(t *testing.T, path string, m image.Image) {
	t.Helper()
	require.NoError(t, os.MkdirAll(filepath.Dir(path), 0o755))
	var buf bytes.Buffer
	var err error
	switch filepath.Ext(path) {
	case ".png":
		err = png.Encode(&buf, m)
	case ".jpg":
		err = jpeg.Encode(&buf, m, &jpeg.Options{Quality: 100})
	case ".tif":
		err = tiff.Encode(&buf, m, nil)
	case ".bmp":
		err = bmp.Encode(&buf, m)
	}
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(path, buf.Bytes(), 0o644))
}

// ramp is a 4x6 8-bit gray image with pixel (x, y) = 10*(x + 6*y).
func ramp() *image.Gray {
	g := image.NewGray(image.Rect(0, 0, 6, 4))
	for i := range g.Pix {
		g.Pix[i] = uint8(10 * i)
	}
	return g
}

func read(t *testing.T, o Options) (*dataset.Frame, *Summary) {
	t.Helper()
	if o.LabelFrom == "" {
		o.LabelFrom = LabelFolder
	}
	if o.LabelColumn == "" {
		o.LabelColumn = "label"
	}
	if o.KeyColumn == "" {
		o.KeyColumn = "file"
	}
	if o.Image.Color == "" {
		o.Image.Color = img.Gray
	}
	f, sum, err := Read(context.Background(), o, nil)
	require.NoError(t, err)
	return f, sum
}

// Every format decodes to the same values (JPEG within its loss), 16-bit files at their
// full precision, and the folder names become the classes.
func TestFormatsAndDepths(t *testing.T) {
	dir := t.TempDir()
	g := ramp()
	g16 := image.NewGray16(g.Rect)
	for i, v := range g.Pix {
		g16.SetGray16(i%6, i/6, color.Gray16{Y: uint16(v)*257 + 1})
	}
	save(t, filepath.Join(dir, "a", "png8.png"), g)
	save(t, filepath.Join(dir, "a", "png16.png"), g16)
	save(t, filepath.Join(dir, "b", "tiff8.tif"), g)
	save(t, filepath.Join(dir, "b", "tiff16.tif"), g16)
	save(t, filepath.Join(dir, "b", "bmp.bmp"), g)
	save(t, filepath.Join(dir, "c", "jpeg.jpg"), g)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "c", "notes.txt"), []byte("not an image"), 0o644))
	require.NoError(t, os.MkdirAll(filepath.Join(dir, ".cache"), 0o755))
	save(t, filepath.Join(dir, ".cache", "x.png"), g)

	f, sum := read(t, Options{Path: dir})
	assert.Equal(t, []string{"a/png16.png", "a/png8.png", "b/bmp.bmp", "b/tiff16.tif", "b/tiff8.tif", "c/jpeg.jpg"}, f.Col(ColFile).S)
	assert.Equal(t, []string{"a", "b", "c"}, f.Classes())
	assert.Equal(t, []string{"a", "a", "b", "b", "b", "c"}, f.Col("label").S)
	assert.Equal(t, map[string]int{"png": 2, "tiff": 2, "bmp": 1, "jpeg": 1}, sum.Formats)
	assert.Equal(t, map[string]int{"8": 4, "16": 2}, sum.Depths)
	x := f.Col("x")
	assert.Equal(t, []int{4, 6, 1}, x.Shape)
	for r, name := range f.Col(ColFile).S {
		for i, v := range x.Row(r) {
			want := float64(g.Pix[i]) / 255
			switch name {
			case "a/png16.png", "b/tiff16.tif":
				want = float64(uint16(g.Pix[i])*257+1) / 65535
				assert.InDelta(t, want, v, 1e-7, "%s pixel %d", name, i)
			case "c/jpeg.jpg":
				assert.InDelta(t, want, v, 3.0/255, "%s pixel %d", name, i)
			default:
				assert.InDelta(t, want, v, 1e-7, "%s pixel %d", name, i)
			}
		}
	}
}

func TestColorRangeAndResize(t *testing.T) {
	dir := t.TempDir()
	rgb := image.NewRGBA(image.Rect(0, 0, 2, 2))
	rgb.Set(0, 0, color.RGBA{255, 0, 0, 255})
	rgb.Set(1, 0, color.RGBA{0, 255, 0, 255})
	rgb.Set(0, 1, color.RGBA{0, 0, 255, 255})
	rgb.Set(1, 1, color.RGBA{100, 100, 100, 255})
	save(t, filepath.Join(dir, "k", "rgb.png"), rgb)

	f, _ := read(t, Options{Path: dir, Image: img.Options{Color: img.RGB}})
	x := f.Col("x")
	assert.Equal(t, []int{2, 2, 3}, x.Shape)
	assert.InDeltaSlice(t, []float32{1, 0, 0, 0, 1, 0, 0, 0, 1, 100. / 255, 100. / 255, 100. / 255}, x.Row(0), 1e-6)

	f, _ = read(t, Options{Path: dir})
	// BT.601 luma of pure red, green, blue.
	assert.InDeltaSlice(t, []float32{0.299, 0.587, 0.114, 100. / 255}, f.Col("x").Row(0), 2e-3)

	f, _ = read(t, Options{Path: dir, Image: img.Options{Color: img.RGB, Lo: 0, Hi: 100}})
	assert.InDelta(t, 2.55, f.Col("x").Row(0)[0], 1e-6, "range: [0, 100] maps 255 to 2.55")

	// Nearest-neighbour upsampling by 2 repeats each pixel; bilinear interpolates between them.
	g := ramp()
	save(t, filepath.Join(dir, "k", "rgb.png"), g)
	f, sum := read(t, Options{Path: dir, Image: img.Options{Height: 8, Width: 12, Interpolation: img.Nearest}})
	assert.Equal(t, 1, sum.Resized)
	assert.Equal(t, map[string]int{"4x6": 1}, sum.StoredSizes)
	x = f.Col("x")
	assert.Equal(t, []int{8, 12, 1}, x.Shape)
	for y := range 8 {
		for xx := range 12 {
			assert.InDelta(t, float64(g.GrayAt(xx/2, y/2).Y)/255, x.T[y*12+xx], 1e-6)
		}
	}
	f, _ = read(t, Options{Path: dir, Image: img.Options{Height: 2, Width: 3, Interpolation: img.Bilinear}})
	row := f.Col("x").Row(0)
	for _, v := range row {
		assert.Greater(t, v, float32(0))
		assert.Less(t, v, float32(230.0/255))
	}
	assert.Less(t, row[0], row[5], "the ramp still rises")
}

func TestLabelsCSVGroupsAndErrors(t *testing.T) {
	dir := t.TempDir()
	g := ramp()
	for _, n := range []string{"scans/P01_a.png", "scans/P01_b.png", "scans/P02_a.png", "scans/P03_a.png"} {
		save(t, filepath.Join(dir, n), g)
	}
	labels := filepath.Join(t.TempDir(), "y.csv")
	require.NoError(t, os.WriteFile(labels, []byte("path,score\nscans/P01_a.png,1.5\n./scans/P01_b.png,2.5\nscans/P02_a.png,3\nother.png,9\n"), 0o644))
	f, sum := read(t, Options{Path: dir, Labels: labels, LabelFrom: LabelCSV, KeyColumn: "path", LabelColumn: "score",
		MissingLabel: "drop", Task: "regression", GroupPattern: regexp.MustCompile(`/(P\d+)_`)})
	assert.Equal(t, []string{"scans/P01_a.png", "scans/P01_b.png", "scans/P02_a.png"}, f.Col(ColFile).S)
	assert.Equal(t, []float64{1.5, 2.5, 3}, f.Col("score").F)
	assert.Equal(t, []string{"P01", "P01", "P02"}, f.Col(ColGroup).S)
	assert.Equal(t, ColGroup, f.Meta[dataset.MetaGroup])
	assert.Equal(t, 1, sum.MissingDropped)
	assert.Equal(t, 1, sum.LabelsUnmatched)
	assert.Equal(t, "regression", sum.Task)

	_, _, err := Read(context.Background(), Options{Path: dir, Labels: labels, LabelFrom: LabelCSV, KeyColumn: "path", LabelColumn: "score", MissingLabel: "error", Image: img.Options{Color: img.Gray}}, nil)
	assert.ErrorContains(t, err, "P03_a.png: no label (no row of y.csv has it in column \"path\"")
	_, _, err = Read(context.Background(), Options{Path: dir, Labels: labels, LabelFrom: LabelCSV, KeyColumn: "file", LabelColumn: "score", Image: img.Options{Color: img.Gray}}, nil)
	assert.ErrorContains(t, err, `column "file", which the file does not have (columns: path, score)`)

	// Sizes differ without size: -> an error naming both files.
	save(t, filepath.Join(dir, "scans", "P04_big.png"), image.NewGray(image.Rect(0, 0, 7, 7)))
	_, _, err = Read(context.Background(), Options{Path: dir, LabelFrom: LabelNone, Image: img.Options{Color: img.Gray}}, nil)
	assert.ErrorContains(t, err, "P04_big.png: image is 7x7 (height x width) but scans/P01_a.png is 4x6; set size: to resize")

	// A corrupt file fails naming it, or is quarantined with keep-going.
	require.NoError(t, os.WriteFile(filepath.Join(dir, "scans", "P05_bad.png"), []byte("\x89PNG\r\n\x1a\nbroken"), 0o644))
	o := Options{Path: dir, LabelFrom: LabelNone, Image: img.Options{Color: img.Gray, Height: 4, Width: 6}}
	_, _, err = Read(context.Background(), o, nil)
	assert.ErrorContains(t, err, "P05_bad.png")
	assert.ErrorContains(t, err, "--keep-going")
	o.KeepGoing = true
	var quarantined []string
	f, sum, err = Read(context.Background(), o, func(file, reason string) { quarantined = append(quarantined, file) })
	require.NoError(t, err)
	assert.Equal(t, []string{"scans/P05_bad.png"}, quarantined)
	assert.Equal(t, 5, sum.Images)
	assert.Equal(t, 1, sum.Resized)
}

// The committed digits PNG folder is what the generator renders from the CSV, and
// ingest.images reads it back as exactly the CSV's count / 16, in the CSV's order.
func TestDigitsFolderEqualsCSV(t *testing.T) {
	csvGz := filepath.Join(repo, "testdata", "digits", "digits.csv.gz")
	committed := filepath.Join(repo, "testdata", "digits", "png")
	fresh := t.TempDir()
	n, err := digitspng.Render(csvGz, fresh)
	require.NoError(t, err)
	assert.Equal(t, 1797, n)
	files, err := List(fresh)
	require.NoError(t, err)
	committedFiles, err := List(committed)
	require.NoError(t, err)
	require.Equal(t, files, committedFiles)
	for _, name := range files {
		a, err := os.ReadFile(filepath.Join(fresh, name))
		require.NoError(t, err)
		b, err := os.ReadFile(filepath.Join(committed, name))
		require.NoError(t, err)
		require.Equal(t, a, b, "%s differs from a fresh render (go run ./testdata/gen/digitspng/cmd)", name)
	}

	f, sum := read(t, Options{Path: committed, Order: OrderName, Image: img.Options{Lo: 0, Hi: 240}})
	assert.Equal(t, 1797, sum.Images)
	assert.Equal(t, []string{"0", "1", "2", "3", "4", "5", "6", "7", "8", "9"}, f.Classes())
	fh, err := os.Open(csvGz)
	require.NoError(t, err)
	defer fh.Close()
	zr, err := gzip.NewReader(fh)
	require.NoError(t, err)
	rows, err := csv.NewReader(zr).ReadAll()
	require.NoError(t, err)
	x := f.Col("x")
	for r, row := range rows {
		require.Equal(t, row[64], f.Col("label").S[r], "row %d", r)
		for j := range 64 {
			v, _ := strconv.Atoi(row[j])
			require.Equal(t, float32(float64(v)*0.0625), x.Row(r)[j], "row %d pixel %d", r, j)
		}
	}
}

func TestConfigErrors(t *testing.T) {
	k, err := contract.Default.Get(KindName)
	require.NoError(t, err)
	for _, tt := range []struct {
		raw  map[string]any
		want string
	}{
		{map[string]any{"path": "x", "size": []any{8}}, "give [height, width]"},
		{map[string]any{"path": "x", "range": []any{5, 1}}, "lo < hi"},
		{map[string]any{"path": "x", "group_pattern": "P\\d+"}, "needs a capture group"},
		{map[string]any{"path": "x", "label_from": "csv"}, "needs the labels file"},
	} {
		cfg, issues := contract.Check(k.Fields, tt.raw)
		require.Empty(t, issues)
		_, err := k.New(cfg)
		assert.ErrorContains(t, err, tt.want)
	}
}
