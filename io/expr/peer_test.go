package expr

import (
	"encoding/binary"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// These tests read files written by independent tools: R's Matrix::writeMM and
// write.table/write.csv (Debian r-base-core + r-cran-matrix) and pandas' DataFrame.to_csv
// (Debian python3-pandas). They skip when the tool is not installed.

func needR(t *testing.T) string {
	t.Helper()
	r, err := exec.LookPath("Rscript")
	if err != nil {
		t.Skip("Rscript not installed (apt-get install r-base-core r-cran-matrix)")
	}
	if out, err := exec.Command(r, "-e", "library(Matrix)").CombinedOutput(); err != nil {
		t.Skipf("R package Matrix not installed (apt-get install r-cran-matrix): %s", out)
	}
	return r
}

func needPandas(t *testing.T) string {
	t.Helper()
	const py = "/usr/bin/python3"
	if out, err := exec.Command(py, "-c", "import pandas, numpy").CombinedOutput(); err != nil {
		t.Skipf("pandas not available in %s (apt-get install python3-pandas): %s", py, out)
	}
	return py
}

// readF64 reads a little-endian float64 file (R writeBin / numpy tofile).
func readF64(t *testing.T, path string) []float64 {
	t.Helper()
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	out := make([]float64, len(b)/8)
	for i := range out {
		out[i] = math.Float64frombits(binary.LittleEndian.Uint64(b[i*8:]))
	}
	return out
}

func TestPeerRWriteMM(t *testing.T) {
	r := needR(t)
	dir := t.TempDir()
	script := `
suppressMessages(library(Matrix))
set.seed(42)
m <- rsparsematrix(60, 25, density = 0.15, rand.x = function(n) round(rexp(n, 0.1), 3))
rownames(m) <- sprintf("ENSG%05d", 1:60); colnames(m) <- sprintf("cell_%d", 1:25)
writeMM(m, file.path(d, "general.mtx"))
s <- forceSymmetric(crossprod(m[, 1:10]))
writeMM(s, file.path(d, "symmetric.mtx"))
p <- as(m != 0, "nMatrix")
writeMM(p, file.path(d, "pattern.mtx"))
writeBin(as.vector(as.matrix(m)), file.path(d, "general.bin"), endian = "little")
writeBin(as.vector(as.matrix(s)), file.path(d, "symmetric.bin"), endian = "little")
# dense exports: write.table (header without the id column) and write.csv (quoted)
write.table(as.matrix(m), file.path(d, "dense.tsv"), sep = "\t", quote = FALSE)
write.csv(as.matrix(m), file.path(d, "dense.csv"))
# a 10x folder, as DropletUtils-style tools lay it out
dir.create(file.path(d, "tenx"))
writeMM(m, file.path(d, "tenx", "matrix.mtx"))
writeLines(paste(rownames(m), paste0("SYM", 1:60), "Gene Expression", sep = "\t"), file.path(d, "tenx", "features.tsv"))
writeLines(colnames(m), file.path(d, "tenx", "barcodes.tsv"))
system2("gzip", file.path(d, "tenx", c("matrix.mtx", "features.tsv", "barcodes.tsv")))
`
	rfile := filepath.Join(dir, "write.R")
	require.NoError(t, os.WriteFile(rfile, []byte("d <- commandArgs(TRUE)[1]\n"+script), 0o644))
	cmd := exec.Command(r, rfile, dir)
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "%s", out)

	check := func(s *CSR, ref []float64) { // ref is column-major (R's as.vector)
		t.Helper()
		d := s.Dense()
		require.Len(t, d, len(ref))
		for j := range s.Cols {
			for i := range s.Rows {
				require.InDelta(t, ref[j*s.Rows+i], d[i*s.Cols+j], 1e-3, "(%d,%d)", i, j)
			}
		}
	}
	gen, h, err := ReadMTX(filepath.Join(dir, "general.mtx"))
	require.NoError(t, err)
	assert.Equal(t, "coordinate", h.Format)
	assert.Equal(t, 60, gen.Rows)
	assert.Equal(t, 25, gen.Cols)
	ref := readF64(t, filepath.Join(dir, "general.bin"))
	check(gen, ref)

	sym, h, err := ReadMTX(filepath.Join(dir, "symmetric.mtx"))
	require.NoError(t, err)
	assert.Equal(t, "symmetric", h.Symmetry)
	check(sym, readF64(t, filepath.Join(dir, "symmetric.bin")))

	pat, h, err := ReadMTX(filepath.Join(dir, "pattern.mtx"))
	require.NoError(t, err)
	assert.Equal(t, "pattern", h.Field)
	assert.Equal(t, gen.Indptr, pat.Indptr)
	assert.Equal(t, gen.Indices, pat.Indices)

	// dense files of the same matrix (genes x cells)
	for _, name := range []string{"dense.tsv", "dense.csv"} {
		m, err := ReadDense(filepath.Join(dir, name), DenseOptions{})
		require.NoError(t, err, name)
		assert.Equal(t, "ENSG00001", m.Genes[0], name)
		assert.Equal(t, "cell_25", m.Samples[24], name)
		for j := range 25 {
			for i := range 60 {
				require.InDelta(t, ref[j*60+i], m.X[j*60+i], 1e-3, "%s (%d,%d)", name, i, j)
			}
		}
	}

	tenx, err := Read10x(filepath.Join(dir, "tenx"), TenXOptions{})
	require.NoError(t, err)
	assert.Equal(t, 25, tenx.NumSamples())
	assert.Equal(t, "SYM3", tenx.GeneInfo["name"][2])
	for j := range 25 {
		row := tenx.Row(j, nil)
		for i := range 60 {
			require.InDelta(t, ref[j*60+i], row[i], 1e-3)
		}
	}
}

func TestPeerPandasToCSV(t *testing.T) {
	py := needPandas(t)
	dir := t.TempDir()
	script := `
import sys, numpy as np, pandas as pd
d = sys.argv[1]
rng = np.random.default_rng(7)
x = rng.negative_binomial(2, 0.3, size=(40, 15)).astype(np.float64)
x[:, 3] = rng.normal(0, 1e-3, size=40)        # small reals, printed with exponents
x[:, 4] = rng.lognormal(8, 2, size=40)         # large values
df = pd.DataFrame(x, index=[f"S{i}" for i in range(40)], columns=[f"gene,{j}" if j == 0 else f"G{j}" for j in range(15)])
df.index.name = "sample"
df.to_csv(f"{d}/samples.csv")
df.to_csv(f"{d}/samples.tsv.gz", sep="\t", compression="gzip")
df.T.to_csv(f"{d}/genes.tsv", sep="\t", float_format="%.6g")
x.astype("<f8").tofile(f"{d}/ref.bin")
`
	out, err := exec.Command(py, "-c", script, dir).CombinedOutput()
	require.NoError(t, err, "%s", out)
	ref := readF64(t, filepath.Join(dir, "ref.bin"))
	for _, tc := range []struct {
		file   string
		orient Orientation
		rel    float64
	}{{"samples.csv", SamplesByGenes, 1e-7}, {"samples.tsv.gz", SamplesByGenes, 1e-7}, {"genes.tsv", GenesBySamples, 1e-5}} {
		t.Run(tc.file, func(t *testing.T) {
			m, err := ReadDense(filepath.Join(dir, tc.file), DenseOptions{Orientation: tc.orient})
			require.NoError(t, err)
			require.Equal(t, 40, m.NumSamples())
			require.Equal(t, 15, m.NumGenes())
			assert.Equal(t, "gene,0", m.Genes[0])
			assert.Equal(t, "S39", m.Samples[39])
			for i, v := range ref {
				require.InDelta(t, v, m.X[i], tc.rel*math.Max(1, math.Abs(v)), "cell %d", i)
			}
		})
	}
}
