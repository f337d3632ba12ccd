package arrowio

import (
	"bufio"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"testing"
)

// writeBenchCSV writes rows x cols of ints, floats and short text with ~1% missing cells.
func writeBenchCSV(b *testing.B, rows, cols int) string {
	b.Helper()
	path := filepath.Join(b.TempDir(), "bench.csv")
	fh, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	w := bufio.NewWriter(fh)
	rng := rand.New(rand.NewPCG(1, 2))
	for j := range cols {
		if j > 0 {
			w.WriteByte(',')
		}
		fmt.Fprintf(w, "c%d", j)
	}
	w.WriteByte('\n')
	for range rows {
		for j := range cols {
			if j > 0 {
				w.WriteByte(',')
			}
			if rng.IntN(100) == 0 {
				continue
			}
			switch j % 5 {
			case 0:
				w.WriteString(strconv.FormatInt(rng.Int64N(1000), 10))
			case 4:
				w.WriteString([]string{"F", "M", "unknown"}[rng.IntN(3)])
			default:
				w.WriteString(strconv.FormatFloat(rng.NormFloat64()*100, 'g', 6, 64))
			}
		}
		w.WriteByte('\n')
	}
	if err := w.Flush(); err != nil {
		b.Fatal(err)
	}
	fh.Close()
	return path
}

// BenchmarkReadCSV reads a generated 100k x 20 CSV (13 MB); bench/table compares it with pandas.
func BenchmarkReadCSV(b *testing.B) {
	path := writeBenchCSV(b, 100_000, 20)
	st, _ := os.Stat(path)
	b.SetBytes(st.Size())
	b.ResetTimer()
	for b.Loop() {
		f, _, err := ReadCSV(path, CSVOptions{})
		if err != nil || f.NumRows() != 100_000 {
			b.Fatal(err)
		}
	}
}

// BenchmarkReadCSVSequential reads the same file with the sequential (encoding/csv) reader,
// the one the parallel reader replaced and still falls back to.
func BenchmarkReadCSVSequential(b *testing.B) {
	path := writeBenchCSV(b, 100_000, 20)
	st, _ := os.Stat(path)
	b.SetBytes(st.Size())
	b.ResetTimer()
	for b.Loop() {
		fh, err := os.Open(path)
		if err != nil {
			b.Fatal(err)
		}
		f, _, err := decodeSequential(fh, path, CSVOptions{Delimiter: ','})
		fh.Close()
		if err != nil || f.NumRows() != 100_000 {
			b.Fatal(err)
		}
	}
}
