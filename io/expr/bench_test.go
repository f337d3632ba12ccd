package expr

import (
	"bufio"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"testing"
)

// BenchmarkReadDense parses a 4,000 genes x 500 samples TSV of TPM-like values.
func BenchmarkReadDense(b *testing.B) {
	path := filepath.Join(b.TempDir(), "m.tsv")
	fh, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	w := bufio.NewWriter(fh)
	rng := rand.New(rand.NewPCG(1, 2))
	w.WriteString("gene")
	for s := range 500 {
		w.WriteString("\tS" + strconv.Itoa(s))
	}
	w.WriteByte('\n')
	for g := range 4000 {
		w.WriteString("G" + strconv.Itoa(g))
		for range 500 {
			w.WriteByte('\t')
			if rng.Float64() < 0.35 {
				w.WriteByte('0')
				continue
			}
			w.WriteString(strconv.FormatFloat(math.Round(math.Exp(rng.NormFloat64()*2+1)*1000)/1000, 'f', -1, 64))
		}
		w.WriteByte('\n')
	}
	w.Flush()
	fh.Close()
	st, _ := os.Stat(path)
	b.SetBytes(st.Size())
	b.ResetTimer()
	for b.Loop() {
		if _, err := ReadDense(path, DenseOptions{}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkRead10x reads the committed example 10x folder (800 cells x 5,000 genes, 820k
// non-zeros, gzipped).
func BenchmarkRead10x(b *testing.B) {
	dir := filepath.Join("..", "..", "testdata", "expr", "sim10x")
	for b.Loop() {
		if _, err := Read10x(dir, TenXOptions{}); err != nil {
			b.Fatal(err)
		}
	}
}
