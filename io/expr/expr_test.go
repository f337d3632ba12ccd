package expr

import (
	"bytes"
	"compress/gzip"
	"context"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/biopipe/biopipe/dataset"
	"github.com/biopipe/biopipe/io/arrowio"
	"github.com/biopipe/biopipe/io/inspect"
)

func write(t *testing.T, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if strings.HasSuffix(name, ".gz") {
		var b bytes.Buffer
		zw := gzip.NewWriter(&b)
		_, _ = zw.Write([]byte(content))
		require.NoError(t, zw.Close())
		content = b.String()
	}
	require.NoError(t, os.WriteFile(p, []byte(content), 0o644))
	return p
}

// at returns the value of (sample, gene) by id.
func at(t *testing.T, m *Matrix, sample, gene string) float32 {
	t.Helper()
	si, gi := -1, -1
	for i, s := range m.Samples {
		if s == sample {
			si = i
		}
	}
	for i, g := range m.Genes {
		if g == gene {
			gi = i
		}
	}
	require.True(t, si >= 0 && gi >= 0, "sample %q gene %q", sample, gene)
	return m.Row(si, nil)[gi]
}

func TestReadDense(t *testing.T) {
	dir := t.TempDir()
	genesBySamples := "gene\tS1\tS2\tS3\nG1\t1\t0\t2.5\nG2\t0\t4\t-1e-2\n"
	tests := []struct {
		name    string
		file    string
		content string
		opt     DenseOptions
		samples []string
		genes   []string
		check   map[[2]string]float32
		info    map[string][]string
	}{
		{name: "tsv genes x samples", file: "a.tsv", content: genesBySamples,
			samples: []string{"S1", "S2", "S3"}, genes: []string{"G1", "G2"},
			check: map[[2]string]float32{{"S3", "G1"}: 2.5, {"S2", "G2"}: 4, {"S3", "G2"}: -0.01}},
		{name: "gzipped, CRLF, trailing blank line", file: "b.tsv.gz", content: strings.ReplaceAll(genesBySamples, "\n", "\r\n") + "\r\n",
			samples: []string{"S1", "S2", "S3"}, genes: []string{"G1", "G2"},
			check: map[[2]string]float32{{"S1", "G1"}: 1, {"S2", "G2"}: 4}},
		{name: "csv samples x genes", file: "c.csv", content: ",G1,G2\nS1,1,2\nS2,3,4\n", opt: DenseOptions{Orientation: SamplesByGenes},
			samples: []string{"S1", "S2"}, genes: []string{"G1", "G2"},
			check: map[[2]string]float32{{"S1", "G2"}: 2, {"S2", "G1"}: 3}},
		{name: "R write.csv quoting and header without id name", file: "d.csv", content: "\"S1\",\"S2\"\n\"G1\",1,2\n\"G,2\",3,4\n",
			samples: []string{"S1", "S2"}, genes: []string{"G1", "G,2"},
			check: map[[2]string]float32{{"S2", "G,2"}: 4}},
		{name: "info column", file: "e.txt", content: "id\tsymbol\tS1\nENSG1\tTP53\t7\nENSG2\tBRCA1\t8\n", opt: DenseOptions{InfoColumns: 1},
			samples: []string{"S1"}, genes: []string{"ENSG1", "ENSG2"},
			check: map[[2]string]float32{{"S1", "ENSG2"}: 8}, info: map[string][]string{"symbol": {"TP53", "BRCA1"}}},
		{name: "sniffed comma", file: "f.dat", content: "g,S1,S2\nG1,1,2\n",
			samples: []string{"S1", "S2"}, genes: []string{"G1"}, check: map[[2]string]float32{{"S2", "G1"}: 2}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m, err := ReadDense(write(t, dir, tc.file, tc.content), tc.opt)
			require.NoError(t, err)
			assert.Equal(t, tc.samples, m.Samples)
			assert.Equal(t, tc.genes, m.Genes)
			for k, v := range tc.check {
				assert.InDelta(t, v, at(t, m, k[0], k[1]), 1e-7, "%v", k)
			}
			if tc.info != nil {
				assert.Equal(t, tc.info, m.GeneInfo)
			}
		})
	}
}

func TestReadDenseErrors(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name, content string
		opt           DenseOptions
		want          []string
	}{
		{"non-numeric cell", "g\tS1\tS2\nG1\t1\t2\nG2\t3\tabc\n", DenseOptions{}, []string{"x.tsv:3:", "column 3", `sample "S2"`, `"abc" is not a number`}},
		{"missing value", "g\tS1\tS2\nG1\tNA\t2\n", DenseOptions{}, []string{"x.tsv:2:", "column 2", `sample "S1"`, "missing value"}},
		{"short row", "g\tS1\tS2\nG1\t1\t2\nG2\t3\n", DenseOptions{}, []string{"x.tsv:3:", "2 cells, want 3"}},
		{"long row", "g\tS1\tS2\nG1\t1\t2\t5\t6\n", DenseOptions{}, []string{"x.tsv:2:", "5 cells, but the header (line 1) has 3"}},
		{"long later row", "g\tS1\tS2\nG1\t1\t2\nG2\t1\t2\t3\n", DenseOptions{}, []string{"x.tsv:3:", "more than 3 cells"}},
		{"duplicated gene", "g\tS1\nG1\t1\nG2\t2\nG1\t3\n", DenseOptions{}, []string{"x.tsv:4:", `duplicated gene id "G1"`, "x.tsv:2"}},
		{"duplicated sample", "g\tS1\tS1\nG1\t1\t2\n", DenseOptions{}, []string{"x.tsv:1:", `duplicated sample id "S1"`}},
		{"duplicated sample rows", "g\tG1\nS1\t1\nS1\t2\n", DenseOptions{Orientation: SamplesByGenes}, []string{"x.tsv:3:", `duplicated sample id "S1"`}},
		{"infinite", "g\tS1\nG1\tInf\n", DenseOptions{}, []string{"x.tsv:2:", "not a finite number"}},
		{"empty", "", DenseOptions{}, []string{"x.tsv", "no header"}},
		{"header only", "g\tS1\n", DenseOptions{}, []string{"x.tsv", "no data rows"}},
		{"bad orientation", "g\tS1\nG1\t1\n", DenseOptions{Orientation: "rows"}, []string{"unknown orientation"}},
		{"unterminated quote", "g\tS1\n\"G1\t1\n", DenseOptions{}, []string{"x.tsv:2:", "unterminated"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ReadDense(write(t, dir, "x.tsv", tc.content), tc.opt)
			require.Error(t, err)
			for _, w := range tc.want {
				assert.Contains(t, err.Error(), w)
			}
		})
	}
}

// TestReadDenseParallel checks that chunked parsing (files over 1 MiB) keeps row order,
// line numbers and values.
func TestReadDenseParallel(t *testing.T) {
	const genes, samples = 3000, 60
	var b strings.Builder
	b.WriteString("gene")
	for s := range samples {
		b.WriteString("\tS" + strconv.Itoa(s))
	}
	b.WriteByte('\n')
	val := func(g, s int) float64 { return float64((g*31+s*7)%1000) / 8 }
	for g := range genes {
		b.WriteString("G" + strconv.Itoa(g))
		for s := range samples {
			b.WriteString("\t" + strconv.FormatFloat(val(g, s), 'g', -1, 64))
		}
		b.WriteByte('\n')
	}
	require.Greater(t, b.Len(), 1<<20)
	dir := t.TempDir()
	m, err := ReadDense(write(t, dir, "big.tsv", b.String()), DenseOptions{Workers: 3})
	require.NoError(t, err)
	require.Equal(t, samples, m.NumSamples())
	require.Equal(t, genes, m.NumGenes())
	for _, gs := range [][2]int{{0, 0}, {1234, 17}, {genes - 1, samples - 1}, {2999, 3}} {
		assert.Equal(t, float32(val(gs[0], gs[1])), m.X[gs[1]*genes+gs[0]])
		assert.Equal(t, "G"+strconv.Itoa(gs[0]), m.Genes[gs[0]])
	}
	// an error deep in the file names its true line
	bad := strings.Replace(b.String(), "G2500\t", "G2500\tx", 1)
	_, err = ReadDense(write(t, dir, "bad.tsv", bad), DenseOptions{Workers: 3})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "bad.tsv:2502:")
	assert.Contains(t, err.Error(), `sample "S0"`)
}

func TestParseNumber(t *testing.T) {
	for _, s := range []string{"0", "1", "-1", "+2", "3.25", ".5", "5.", "1e3", "1E-3", "-0.000125", "123456789012345",
		"1234567890123456789", "0.1", "2.2250738585072014e-308", "1e400", "007", "1.5e+10", "9007199254740993", "NaN", "inf"} {
		want, werr := strconv.ParseFloat(s, 64)
		got, ok := parseNumber([]byte(s))
		if werr != nil && !strings.Contains(werr.Error(), "range") {
			assert.False(t, ok, s)
			continue
		}
		require.True(t, ok, s)
		if math.IsNaN(want) {
			assert.True(t, math.IsNaN(got), s)
			continue
		}
		assert.Equal(t, want, got, s)
	}
	for _, s := range []string{"", "-", "e5", "1e", "1.2.3", "abc", "1,5", " 1"} {
		_, ok := parseNumber([]byte(s))
		assert.False(t, ok, "%q", s)
	}
}

func FuzzParseNumber(f *testing.F) {
	for _, s := range []string{"1", "-2.5e3", ".1", "1e-22", "99999999999999999999", "abc"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if v, n, ok := fastCell([]byte(s), '\t'); ok {
			want, err := strconv.ParseFloat(s[:n], 64)
			if err != nil || float32(want) != v || (n < len(s) && s[n] != '\t') {
				t.Fatalf("fastCell(%q) = %v, %d; strconv: %v, %v", s, v, n, want, err)
			}
		}
		got, ok := parseNumber([]byte(s))
		want, err := strconv.ParseFloat(s, 64)
		if err != nil && !strings.Contains(err.Error(), "range") {
			if ok && strings.ContainsAny(s, "_xXpP") {
				t.Fatalf("%q accepted as %v", s, got)
			}
			return
		}
		if !ok {
			if !strings.ContainsAny(s, "_xXpP") {
				t.Fatalf("%q rejected, strconv gives %v", s, want)
			}
			return
		}
		if !(math.IsNaN(want) && math.IsNaN(got)) && want != got {
			t.Fatalf("%q: got %v, want %v", s, got, want)
		}
	})
}

func TestReadGCT(t *testing.T) {
	dir := t.TempDir()
	v12 := "#1.2\n2\t3\nName\tDescription\tA\tB\tC\nG1\tgene one\t1\t2\t3\nG2\tna\t4\t5\t6\n"
	m, err := ReadGCT(write(t, dir, "a.gct", v12))
	require.NoError(t, err)
	assert.Equal(t, []string{"A", "B", "C"}, m.Samples)
	assert.Equal(t, []string{"G1", "G2"}, m.Genes)
	assert.Equal(t, []string{"gene one", "na"}, m.GeneInfo["Description"])
	assert.Equal(t, float32(6), at(t, m, "C", "G2"))
	assert.Equal(t, "gct", m.Format)

	v13 := "#1.3\n2\t2\t2\t2\nid\tsymbol\tchr\tS1\tS2\ntype\tna\tna\ttumor\tnormal\nbatch\tna\tna\tb1\tb2\n" +
		"G1\tTP53\t17\t1.5\t2\nG2\tEGFR\t7\t3\t4\n"
	m, err = ReadGCT(write(t, dir, "b.gct.gz", v13))
	require.NoError(t, err)
	assert.Equal(t, []string{"S1", "S2"}, m.Samples)
	assert.Equal(t, map[string][]string{"type": {"tumor", "normal"}, "batch": {"b1", "b2"}}, m.SampleInfo)
	assert.Equal(t, []string{"TP53", "EGFR"}, m.GeneInfo["symbol"])
	assert.Equal(t, float32(1.5), at(t, m, "S1", "G1"))

	errs := []struct{ name, content, want string }{
		{"version", "#1.4\n", "a.gct:1: want the GCT version"},
		{"dims", "#1.2\nx\t3\n", "a.gct:2: dimension 1"},
		{"header width", "#1.2\n1\t3\nName\tDescription\tA\tB\n", "a.gct:3: header has 4 columns, want 5"},
		{"row count", "#1.2\n3\t1\nName\tDescription\tA\nG1\td\t1\n", "1 gene rows, but line 2 declares 3"},
		{"cell", "#1.2\n1\t2\nName\tDescription\tA\tB\nG1\td\t1\tx\n", `a.gct:4: column 4 (sample "B")`},
		{"dup gene", "#1.2\n2\t1\nName\tDescription\tA\nG1\td\t1\nG1\td\t2\n", `a.gct:5: column 1: duplicated gene id "G1"`},
		{"colmeta", "#1.3\n1\t1\t0\t1\nid\tA\nlabel\n", "a.gct:4: column-metadata line 1 has 1 cells, want 2"},
	}
	for _, tc := range errs {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ReadGCT(write(t, dir, "a.gct", tc.content))
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.want)
		})
	}
}

func FuzzParseGCT(f *testing.F) {
	f.Add([]byte("#1.2\n2\t3\nName\tDescription\tA\tB\tC\nG1\tx\t1\t2\t3\nG2\ty\t4\t5\t6\n"))
	f.Add([]byte("#1.3\n1\t2\t1\t1\nid\tsym\tS1\tS2\nlab\tna\ta\tb\nG1\tT\t1\t2\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := parseGCT("f.gct", data, 2)
		if err != nil {
			return
		}
		if len(m.X) != len(m.Samples)*len(m.Genes) {
			t.Fatalf("%d values for %d x %d", len(m.X), len(m.Samples), len(m.Genes))
		}
	})
}

func TestReadMTX(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name, content string
		rows, cols    int
		dense         []float32
	}{
		{"coordinate real", "%%MatrixMarket matrix coordinate real general\n% comment\n2 3 3\n1 1 1.5\n2 3 -2\n1 2 4\n", 2, 3,
			[]float32{1.5, 4, 0, 0, 0, -2}},
		{"integer gz", "%%MatrixMarket matrix coordinate integer general\n2 2 2\n2 1 7\n1 2 3\n", 2, 2, []float32{0, 3, 7, 0}},
		{"pattern", "%%MatrixMarket matrix coordinate pattern general\n2 2 2\n1 1\n2 2\n", 2, 2, []float32{1, 0, 0, 1}},
		{"symmetric", "%%MatrixMarket matrix coordinate real symmetric\n2 2 2\n1 1 1\n2 1 5\n", 2, 2, []float32{1, 5, 5, 0}},
		{"array", "%%MatrixMarket matrix array real general\n2 2\n1\n2\n0\n4\n", 2, 2, []float32{1, 0, 2, 4}},
		{"array symmetric", "%%MatrixMarket matrix array real symmetric\n2 2\n1\n2\n3\n", 2, 2, []float32{1, 2, 2, 3}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			name := "m.mtx"
			if strings.Contains(tc.name, "gz") {
				name += ".gz"
			}
			s, _, err := ReadMTX(write(t, dir, name, tc.content))
			require.NoError(t, err)
			assert.Equal(t, tc.rows, s.Rows)
			assert.Equal(t, tc.cols, s.Cols)
			assert.Equal(t, tc.dense, s.Dense())
		})
	}
	errs := []struct{ name, content, want string }{
		{"banner", "%%MatrixMarket vector coordinate real general\n", "m.mtx:1: want a banner"},
		{"complex", "%%MatrixMarket matrix coordinate complex general\n", `field "complex" not supported`},
		{"size", "%%MatrixMarket matrix coordinate real general\n2 x 1\n", "m.mtx:2: size line"},
		{"out of range", "%%MatrixMarket matrix coordinate real general\n2 2 1\n3 1 1\n", "m.mtx:3: row index: 3 out of range 1..2"},
		{"bad value", "%%MatrixMarket matrix coordinate real general\n2 2 1\n1 1 x\n", `m.mtx:3: value: "x" is not a number`},
		{"not integer", "%%MatrixMarket matrix coordinate integer general\n2 2 1\n1 1 1.5\n", "m.mtx:3: value \"1.5\" is not an integer"},
		{"truncated", "%%MatrixMarket matrix coordinate real general\n2 2 3\n1 1 1\n", "1 entries, but the size line declares 3"},
		{"too many", "%%MatrixMarket matrix coordinate real general\n2 2 1\n1 1 1\n2 2 2\n", "m.mtx:4: more entries than the 1 declared"},
		{"duplicate", "%%MatrixMarket matrix coordinate real general\n2 2 2\n1 2 1\n1 2 2\n", "m.mtx:4: entry (1, 2) repeats the entry on line 3"},
		{"fields", "%%MatrixMarket matrix coordinate real general\n2 2 1\n1 2\n", "m.mtx:3: want 3 fields"},
		{"upper symmetric", "%%MatrixMarket matrix coordinate real symmetric\n2 2 1\n1 2 1\n", "above the diagonal"},
	}
	for _, tc := range errs {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := ReadMTX(write(t, dir, "m.mtx", tc.content))
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.want)
		})
	}
}

func FuzzParseMTX(f *testing.F) {
	f.Add([]byte("%%MatrixMarket matrix coordinate real general\n2 3 2\n1 1 1.5\n2 3 -2\n"))
	f.Add([]byte("%%MatrixMarket matrix coordinate pattern symmetric\n3 3 2\n1 1\n3 2\n"))
	f.Add([]byte("%%MatrixMarket matrix array real general\n2 1\n1\n2\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		m, _, err := parseMTX("f.mtx", data)
		if err != nil || m.rows+m.cols > 1<<20 {
			return
		}
		s, err := m.csr("f.mtx", false)
		if err != nil {
			return
		}
		if len(s.Indptr) != s.Rows+1 || s.Indptr[s.Rows] != int64(len(s.Data)) {
			t.Fatalf("bad indptr")
		}
		tt := s.T().T()
		if !assert.ObjectsAreEqual(s, tt) {
			t.Fatalf("transpose twice differs")
		}
	})
}

func TestTenX(t *testing.T) {
	dir := t.TempDir()
	src := &Matrix{Samples: []string{"AAAC-1", "AAAG-1", "AACT-1"}, Genes: []string{"ENSG1", "ENSG2", "ENSG3", "ENSG4"},
		GeneInfo: map[string][]string{"name": {"CD3E", "MS4A1", "CD3E", "LYZ"}},
		X:        []float32{0, 1, 0, 5, 2, 0, 0, 0, 0, 0, 3, 1}}
	require.NoError(t, Write10x(dir, src))
	m, err := Read10x(dir, TenXOptions{})
	require.NoError(t, err)
	require.True(t, m.IsSparse())
	assert.Equal(t, src.Samples, m.Samples)
	assert.Equal(t, src.Genes, m.Genes)
	assert.Equal(t, src.X, m.Dense())
	assert.Equal(t, []string{"Gene Expression", "Gene Expression", "Gene Expression", "Gene Expression"}, m.GeneInfo["type"])

	m, err = Read10x(dir, TenXOptions{GeneIDs: "name", FeatureType: "Gene Expression"})
	require.NoError(t, err)
	assert.Equal(t, []string{"CD3E", "MS4A1", "CD3E-1", "LYZ"}, m.Genes)

	// via Read with a path to the matrix file, and auto-detection of the folder
	m2, err := Read(context.Background(), filepath.Join(dir, "matrix.mtx.gz"), Options{})
	require.NoError(t, err)
	assert.Equal(t, "10x", m2.Format)
	st := m2.Summary(2)
	assert.Equal(t, []float64{6, 2}, st.FirstSums)
	assert.InDelta(t, 1-5.0/12, st.ZeroFraction, 1e-9)

	// legacy layout with a count mismatch
	legacy := t.TempDir()
	write(t, legacy, "matrix.mtx", "%%MatrixMarket matrix coordinate integer general\n3 2 1\n1 1 4\n")
	write(t, legacy, "genes.tsv", "E1\tA\nE2\tB\n")
	write(t, legacy, "barcodes.tsv", "c1\nc2\n")
	_, err = Read10x(legacy, TenXOptions{})
	require.ErrorContains(t, err, "matrix has 3 rows but genes.tsv lists 2 features")
	write(t, legacy, "genes.tsv", "E1\tA\nE2\tB\nE1\tC\n")
	_, err = Read10x(legacy, TenXOptions{})
	require.ErrorContains(t, err, `genes.tsv:3: duplicated feature id "E1"`)
	write(t, legacy, "genes.tsv", "E1\tA\nE2\tB\nE3\tC\n")
	m, err = Read10x(legacy, TenXOptions{})
	require.NoError(t, err)
	assert.Equal(t, float32(4), at(t, m, "c1", "E1"))

	_, err = Read10x(t.TempDir(), TenXOptions{})
	require.ErrorContains(t, err, "not a 10x matrix folder: missing matrix.mtx[.gz]")
}

func TestSelectGenes(t *testing.T) {
	d := &Matrix{Samples: []string{"a", "b"}, Genes: []string{"g1", "g2", "g3"}, X: []float32{1, 2, 3, 4, 5, 6}}
	s := &Matrix{Samples: d.Samples, Genes: d.Genes, Sparse: denseToCSR(d.X, 2, 3)}
	for _, m := range []*Matrix{d, s} {
		out := m.SelectGenes([]int{2, 0})
		assert.Equal(t, []string{"g3", "g1"}, out.Genes)
		assert.Equal(t, []float32{3, 1, 6, 4}, out.Dense())
	}
}

func TestReadTables(t *testing.T) {
	dir := t.TempDir()
	f := dataset.New()
	f.Set(&dataset.Column{Name: "gene", Kind: dataset.String, S: []string{"G1", "G2"}})
	f.Set(&dataset.Column{Name: "symbol", Kind: dataset.String, S: []string{"A", "B"}})
	f.Set(&dataset.Column{Name: "S1", Kind: dataset.Float, F: []float64{1, 2}})
	f.Set(&dataset.Column{Name: "S2", Kind: dataset.Int, I: []int64{3, 4}})
	p := filepath.Join(dir, "m.arrow")
	require.NoError(t, f.WriteFile(p))
	m, err := Read(context.Background(), p, Options{})
	require.NoError(t, err)
	assert.Equal(t, []string{"S1", "S2"}, m.Samples)
	assert.Equal(t, []string{"G1", "G2"}, m.Genes)
	assert.Equal(t, []float32{1, 2, 3, 4}, m.X)
	assert.Equal(t, []string{"A", "B"}, m.GeneInfo["symbol"])

	m, err = Read(context.Background(), p, Options{Orientation: SamplesByGenes, IDColumn: "symbol"})
	require.NoError(t, err)
	assert.Equal(t, []string{"A", "B"}, m.Samples)
	assert.Equal(t, []float32{1, 3, 2, 4}, m.X)

	// the same table as Parquet (written by io/arrowio through arrow-go's pqarrow)
	pq := filepath.Join(dir, "m.parquet")
	require.NoError(t, arrowio.WriteParquet(f, pq))
	m, err = Read(context.Background(), pq, Options{})
	require.NoError(t, err)
	assert.Equal(t, "parquet", m.Format)
	assert.Equal(t, []string{"G1", "G2"}, m.Genes)
	assert.Equal(t, []float32{1, 2, 3, 4}, m.X)

	f.Col("S1").Valid = []bool{true, false}
	require.NoError(t, f.WriteFile(p))
	_, err = Read(context.Background(), p, Options{})
	require.ErrorContains(t, err, `m.arrow: row 2 (gene "G2"), column "S1": missing value`)
	_, err = Read(context.Background(), p, Options{IDColumn: "nope"})
	require.ErrorContains(t, err, `no id column "nope"`)
}

func TestInspect(t *testing.T) {
	dir := t.TempDir()
	p := write(t, dir, "x.gct", "#1.2\n2\t2\nName\tDescription\tA\tB\nG1\td\t1\t0\nG2\td\t3\t0\n")
	ins, err := inspect.Find(p)
	require.NoError(t, err)
	require.Equal(t, "expression", ins.Name)
	v, err := ins.Inspect(context.Background(), p)
	require.NoError(t, err)
	s := v.(Summary)
	assert.Equal(t, 2, s.Samples)
	assert.Equal(t, []float64{4, 0}, s.FirstSums)
	assert.InDelta(t, 0.5, s.ZeroFraction, 1e-9)
	var b bytes.Buffer
	require.NoError(t, ins.Text(&b, v))
	assert.Contains(t, b.String(), "2 samples x 2 genes")
	assert.Contains(t, b.String(), "A=4, B=0")

	bare := write(t, dir, "m.mtx", "%%MatrixMarket matrix coordinate integer general\n3 2 2\n1 1 5\n3 2 7\n")
	ins, err = inspect.Find(bare)
	require.NoError(t, err)
	v, err = ins.Inspect(context.Background(), bare)
	require.NoError(t, err)
	s = v.(Summary)
	assert.Equal(t, 2, s.Samples, "a bare .mtx is read as genes x samples")
	assert.Equal(t, []string{"gene1", "gene2", "gene3"}, s.FirstGenes)
	assert.Equal(t, []float64{5, 7}, s.FirstSums)
	assert.Contains(t, s.Note, "numbered")

	tenx := t.TempDir()
	require.NoError(t, Write10x(tenx, &Matrix{Samples: []string{"c1"}, Genes: []string{"g"}, X: []float32{2}}))
	ins, err = inspect.Find(tenx)
	require.NoError(t, err)
	assert.Equal(t, "expression", ins.Name)
}

func FuzzParseDense(f *testing.F) {
	f.Add([]byte("gene\tS1\tS2\nG1\t1\t2.5\nG2\t-3e2\t0\n"), false, uint8(0))
	f.Add([]byte("\"S1\",\"S2\"\n\"G1\",1,2\n"), true, uint8(0))
	f.Add([]byte("id\tsym\tS1\nE1\tA\t7\r\n"), false, uint8(1))
	f.Fuzz(func(t *testing.T, data []byte, comma bool, info uint8) {
		delim := byte('\t')
		if comma {
			delim = ','
		}
		m, err := parseDense("f.tsv", data, 0, 1, delim, DenseOptions{InfoColumns: int(info % 3), Workers: 2})
		if err != nil {
			return
		}
		if len(m.X) != len(m.Samples)*len(m.Genes) {
			t.Fatalf("%d values for %d x %d", len(m.X), len(m.Samples), len(m.Genes))
		}
	})
}

// FuzzRead10x checks that a corrupt 10x folder (matrix, features, barcodes) is an error
// naming a file, never a panic, and that what it reads has consistent dimensions.
func FuzzRead10x(f *testing.F) {
	f.Add([]byte("%%MatrixMarket matrix coordinate integer general\n3 2 3\n1 1 5\n3 1 2\n2 2 7\n"),
		[]byte("ENSG1\tA\tGene Expression\nENSG2\tB\tGene Expression\nENSG3\tC\tGene Expression\n"),
		[]byte("AAAC-1\nAAAG-1\n"))
	f.Add([]byte("%%MatrixMarket matrix coordinate integer general\n3 2 1\n4 1 5\n"),
		[]byte("ENSG1\tA\nENSG2\tB\nENSG3\tC\n"), []byte("AAAC-1\nAAAC-1\n"))
	f.Add([]byte("%%MatrixMarket matrix coordinate real general\n2 2 2000000000\n1 1 1\n"),
		[]byte("g1\ng2\n"), []byte("c1\nc2\n"))
	f.Fuzz(func(t *testing.T, mtx, features, barcodes []byte) {
		dir := t.TempDir()
		for name, b := range map[string][]byte{"matrix.mtx": mtx, "features.tsv": features, "barcodes.tsv": barcodes} {
			if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		m, err := Read10x(dir, TenXOptions{})
		if err != nil {
			if !strings.Contains(err.Error(), dir) {
				t.Fatalf("error does not name the folder or a file in it: %v", err)
			}
			return
		}
		if m.Sparse == nil || len(m.Samples) != m.Sparse.Rows || len(m.Genes) != m.Sparse.Cols {
			t.Fatalf("inconsistent matrix: %d samples, %d genes", len(m.Samples), len(m.Genes))
		}
	})
}
