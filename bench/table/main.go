// Command table times arrowio.ReadCSV against pandas.read_csv (Debian python3-pandas in
// /usr/bin/python3) on the same generated file and prints the ratio.
//
//	GOEXPERIMENT=simd go run ./bench/table [-rows 100000] [-cols 20] [-reps 3]
package main

import (
	"bufio"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/biopipe/biopipe/io/arrowio"
)

const pandasTimer = `
import sys, time
import pandas as pd
best = 1e9
for _ in range(int(sys.argv[2])):
    t = time.perf_counter()
    df = pd.read_csv(sys.argv[1])
    best = min(best, time.perf_counter() - t)
import resource
print(best, df.shape[0], df.shape[1], resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
`

func main() {
	rows := flag.Int("rows", 100000, "rows")
	cols := flag.Int("cols", 20, "columns")
	reps := flag.Int("reps", 3, "repetitions (best is reported)")
	flag.Parse()
	dir, err := os.MkdirTemp("", "biopipe-bench-table")
	check(err)
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "gen.csv")
	check(Generate(path, *rows, *cols))
	st, _ := os.Stat(path)
	fmt.Printf("file: %d rows x %d columns, %.1f MB\n", *rows, *cols, float64(st.Size())/1e6)

	best := time.Duration(1 << 62)
	for range *reps {
		t := time.Now()
		f, _, err := arrowio.ReadCSV(path, arrowio.CSVOptions{})
		check(err)
		if f.NumRows() != *rows {
			check(fmt.Errorf("read %d rows", f.NumRows()))
		}
		best = min(best, time.Since(t))
	}
	fmt.Printf("biopipe arrowio.ReadCSV: %.3f s\n", best.Seconds())
	goRSS := peakRSSMiB() // before pandas runs (as a child: not counted in RUSAGE_SELF)
	out, err := exec.Command("/usr/bin/python3", "-c", pandasTimer, path, strconv.Itoa(*reps)).Output()
	if err != nil {
		fmt.Println("pandas: not available (apt-get install python3-pandas):", err)
		return
	}
	fields := strings.Fields(string(out))
	pd, err := strconv.ParseFloat(fields[0], 64)
	check(err)
	fmt.Printf("pandas.read_csv:         %.3f s\n", pd)
	fmt.Printf("time biopipe/pandas:     %.2f\n", best.Seconds()/pd)
	if len(fields) > 3 {
		if kib, err := strconv.ParseFloat(fields[3], 64); err == nil {
			fmt.Printf("peak RSS: biopipe %.1f MiB, pandas %.1f MiB\n", goRSS, kib/1024)
		}
	}
	// The last line, read by bench/all (make bench): rows per second of each, and the ratio.
	fmt.Printf("csv %.1f %.1f %.2fx\n", float64(*rows)/best.Seconds(), float64(*rows)/pd, pd/best.Seconds())
}

// peakRSSMiB is this process's peak resident set size in MiB.
func peakRSSMiB() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return float64(ru.Maxrss) / 1024 // KiB on Linux
}

// Generate writes a CSV of mixed columns: ints, floats with 6 significant digits, a
// low-cardinality text column and about 1% missing cells.
func Generate(path string, rows, cols int) error {
	fh, err := os.Create(path)
	if err != nil {
		return err
	}
	w := bufio.NewWriterSize(fh, 1<<20)
	rng := rand.New(rand.NewPCG(1, 2))
	for j := range cols {
		if j > 0 {
			w.WriteByte(',')
		}
		fmt.Fprintf(w, "c%d", j)
	}
	w.WriteByte('\n')
	cats := []string{"F", "M", "unknown"}
	buf := make([]byte, 0, 32)
	for range rows {
		for j := range cols {
			if j > 0 {
				w.WriteByte(',')
			}
			if rng.IntN(100) == 0 {
				continue // missing
			}
			buf = buf[:0]
			switch j % 5 {
			case 0:
				buf = strconv.AppendInt(buf, rng.Int64N(1000), 10)
			case 4:
				buf = append(buf, cats[rng.IntN(len(cats))]...)
			default:
				buf = strconv.AppendFloat(buf, rng.NormFloat64()*100, 'g', 6, 64)
			}
			w.Write(buf)
		}
		w.WriteByte('\n')
	}
	if err := w.Flush(); err != nil {
		return err
	}
	return fh.Close()
}

func check(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
