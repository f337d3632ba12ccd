// Command expr benchmarks reading a dense expression matrix into the dataset: io/expr's
// parallel TSV parser plus the tensor-column frame that ingest.expression writes, against
// pandas.read_csv (Debian python3-pandas, /usr/bin/python3) on the same file in the same run.
//
//	GOEXPERIMENT=simd go run ./bench/expr [-genes 20000 -samples 2000 -reps 3]
package main

import (
	"bufio"
	"flag"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"time"

	"github.com/biopipe/biopipe/dataset"
	"github.com/biopipe/biopipe/io/expr"
)

func main() {
	genes := flag.Int("genes", 20000, "genes (rows of the file)")
	samples := flag.Int("samples", 2000, "samples (columns of the file)")
	reps := flag.Int("reps", 3, "repetitions; the best time counts")
	dir := flag.String("dir", os.TempDir(), "where to write the matrix")
	keep := flag.Bool("keep", false, "keep the generated file")
	python := flag.String("python", "/usr/bin/python3", "python with pandas")
	cpuprofile := flag.String("cpuprofile", "", "write a CPU profile of the biopipe reads here")
	flag.Parse()

	path := filepath.Join(*dir, fmt.Sprintf("bench-expr-%dx%d.tsv", *genes, *samples))
	if _, err := os.Stat(path); err != nil {
		if err := generate(path, *genes, *samples); err != nil {
			fail(err)
		}
	}
	if !*keep {
		defer os.Remove(path)
	}
	st, _ := os.Stat(path)
	fmt.Printf("file: %s, %d genes x %d samples, %.0f MB, GOMAXPROCS=%d\n", path, *genes, *samples, float64(st.Size())/1e6, runtime.GOMAXPROCS(0))

	if *cpuprofile != "" {
		pf, err := os.Create(*cpuprofile)
		if err != nil {
			fail(err)
		}
		if err := pprof.StartCPUProfile(pf); err != nil {
			fail(err)
		}
	}
	goBest := math.Inf(1)
	var shape string
	for range *reps {
		runtime.GC()
		t0 := time.Now()
		m, err := expr.ReadDense(path, expr.DenseOptions{Orientation: expr.GenesBySamples})
		if err != nil {
			fail(err)
		}
		f := toFrame(m)
		el := time.Since(t0).Seconds()
		goBest = min(goBest, el)
		shape = fmt.Sprintf("%d rows, tensor %v", f.NumRows(), f.Col("x").Shape)
	}
	if *cpuprofile != "" {
		pprof.StopCPUProfile()
	}
	fmt.Printf("biopipe io/expr -> dataset.Frame: %.2f s (best of %d; %s)\n", goBest, *reps, shape)

	script := `
import sys, time, pandas as pd
best = float("inf")
for _ in range(int(sys.argv[2])):
    t0 = time.perf_counter()
    df = pd.read_csv(sys.argv[1], sep="\t", index_col=0)
    best = min(best, time.perf_counter() - t0)
print(f"{best:.4f} {df.shape[0]} {df.shape[1]} {pd.__version__}")
`
	out, err := exec.Command(*python, "-c", script, path, strconv.Itoa(*reps)).CombinedOutput()
	if err != nil {
		fmt.Printf("pandas: not measured (%v): %s\n", err, strings.TrimSpace(string(out)))
		return
	}
	var pdBest float64
	var rows, cols int
	var ver string
	if _, err := fmt.Sscanf(strings.TrimSpace(string(out)), "%f %d %d %s", &pdBest, &rows, &cols, &ver); err != nil {
		fail(fmt.Errorf("pandas output %q: %w", out, err))
	}
	fmt.Printf("pandas %s read_csv(sep=\"\\t\", index_col=0): %.2f s (best of %d; %d x %d)\n", ver, pdBest, *reps, rows, cols)
	fmt.Printf("ratio (pandas / biopipe): %.1fx\n", pdBest/goBest)
}

// toFrame builds the frame ingest.expression writes: sample ids and one tensor column.
func toFrame(m *expr.Matrix) *dataset.Frame {
	f := dataset.New()
	f.Meta[dataset.MetaID] = "sample"
	f.Set(&dataset.Column{Name: "sample", Kind: dataset.String, S: m.Samples})
	f.Set(&dataset.Column{Name: dataset.ColTensor, Kind: dataset.Tensor, Shape: []int{m.NumGenes()}, T: m.Dense(),
		Meta: expr.SetFeatureNames(nil, m.Genes)})
	return f
}

// generate writes a TPM-like matrix: log-normal gene levels, per-sample noise, ~35% zeros,
// values with up to three decimals.
func generate(path string, genes, samples int) error {
	fh, err := os.Create(path)
	if err != nil {
		return err
	}
	w := bufio.NewWriterSize(fh, 1<<20)
	rng := rand.New(rand.NewPCG(1, 2))
	w.WriteString("gene_id")
	for s := range samples {
		fmt.Fprintf(w, "\tSAMPLE_%04d", s+1)
	}
	w.WriteByte('\n')
	buf := make([]byte, 0, 32)
	for g := range genes {
		fmt.Fprintf(w, "ENSG%011d", g+1)
		level := math.Exp(rng.NormFloat64()*2 + 1)
		for range samples {
			w.WriteByte('\t')
			if rng.Float64() < 0.35 {
				w.WriteByte('0')
				continue
			}
			v := level * math.Exp(rng.NormFloat64()*0.5)
			buf = strconv.AppendFloat(buf[:0], math.Round(v*1000)/1000, 'f', -1, 64)
			w.Write(buf)
		}
		w.WriteByte('\n')
	}
	if err := w.Flush(); err != nil {
		return err
	}
	return fh.Close()
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "bench/expr:", err)
	os.Exit(1)
}
