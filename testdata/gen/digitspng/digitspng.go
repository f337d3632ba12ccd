// Package digitspng renders scikit-learn's digits (testdata/digits/digits.csv.gz) as a folder
// of PNG files, one folder per class, for ingest.images:
//
//	<out>/<digit>/<row>.png    8x8 8-bit gray, pixel value = count * 15 (0..240)
//
// row is the 0-based line of the CSV, zero-padded to four digits, so that sorting the files
// by name gives the CSV's order. With range: [0, 240], ingest.images reads back exactly the
// CSV's count / 16.
package digitspng

import (
	"bufio"
	"compress/gzip"
	"encoding/csv"
	"fmt"
	"image"
	"image/png"
	"os"
	"path/filepath"
	"strconv"
)

// Scale is the gray value of one count.
const Scale = 15

// Render writes the PNG folder tree under out and returns the number of images.
func Render(csvGz, out string) (int, error) {
	f, err := os.Open(csvGz)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	zr, err := gzip.NewReader(bufio.NewReader(f))
	if err != nil {
		return 0, fmt.Errorf("%s: %w", csvGz, err)
	}
	rows, err := csv.NewReader(zr).ReadAll()
	if err != nil {
		return 0, fmt.Errorf("%s: %w", csvGz, err)
	}
	enc := png.Encoder{CompressionLevel: png.BestCompression}
	for i, row := range rows {
		if len(row) != 65 {
			return 0, fmt.Errorf("%s:%d: %d fields, want 65", csvGz, i+1, len(row))
		}
		im := image.NewGray(image.Rect(0, 0, 8, 8))
		for j := range 64 {
			v, err := strconv.Atoi(row[j])
			if err != nil || v < 0 || v > 16 {
				return 0, fmt.Errorf("%s:%d: pixel %d is %q, want 0..16", csvGz, i+1, j+1, row[j])
			}
			im.Pix[j] = uint8(v * Scale)
		}
		dir := filepath.Join(out, row[64])
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return 0, err
		}
		w, err := os.Create(filepath.Join(dir, fmt.Sprintf("%04d.png", i)))
		if err != nil {
			return 0, err
		}
		if err := enc.Encode(w, im); err != nil {
			w.Close()
			return 0, err
		}
		if err := w.Close(); err != nil {
			return 0, err
		}
	}
	return len(rows), nil
}
