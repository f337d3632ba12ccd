// Command table times arrowio.ReadCSV against pandas.read_csv (Debian python3-pandas in
// /usr/bin/python3, its default C engine, every column with type inference) on the same
// generated file, and prints the ratio.
//
//	GOEXPERIMENT=simd go run ./bench/table [-rows 100000] [-cols 20] [-reps 5] [-rounds 3]
//
// Each reader runs in a fresh process of its own, so its peak RSS is its own; the two
// alternate for -rounds rounds of -reps reads each, and the best read of all counts (on a
// shared machine the best is the least disturbed). Besides wall time it reports CPU time
// (user+system of all threads) per read: pandas reads on one core, biopipe on all of them.
// The last line is, for `make bench`:
//
//	csv <biopipe rows/s> <pandas rows/s> <ratio>x
//
// rows per second from the best wall time, ratio = biopipe/pandas; above it a line
// "peak RSS: biopipe X MiB, pandas Y MiB".
package main

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/biopipe/biopipe/io/arrowio"
)

const pandasTimer = `
import sys, time, json, resource
import pandas as pd
best, cpu = 1e9, 1e9
for _ in range(int(sys.argv[2])):
    t, c = time.perf_counter(), time.process_time()
    df = pd.read_csv(sys.argv[1], engine="c")
    best = min(best, time.perf_counter() - t)
    cpu = min(cpu, time.process_time() - c)
json.dump({"wall": best, "cpu": cpu, "rows": df.shape[0], "cols": df.shape[1],
           "maxrss_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
           "version": pd.__version__}, sys.stdout)
`

// result is one process's best read.
type result struct {
	Wall     float64 `json:"wall"` // seconds
	CPU      float64 `json:"cpu"`  // seconds, all threads
	Rows     int     `json:"rows"`
	Cols     int     `json:"cols"`
	MaxRSSKB int64   `json:"maxrss_kb"`
	Version  string  `json:"version"`
}

func main() {
	rows := flag.Int("rows", 100000, "rows")
	cols := flag.Int("cols", 20, "columns")
	reps := flag.Int("reps", 5, "reads per process")
	rounds := flag.Int("rounds", 3, "alternating rounds of biopipe and pandas processes")
	file := flag.String("file", "", "time this CSV file instead of a generated one (-rows and -cols are then ignored)")
	keep := flag.String("keep", "", "also write the generated file here")
	cpuprofile := flag.String("cpuprofile", "", "write a CPU profile of biopipe's reads (all rounds) to this file prefix: PREFIX.N per round")
	read := flag.String("read", "", "internal: time ReadCSV on this file in this process and print JSON")
	flag.Parse()
	if *read != "" {
		if *cpuprofile != "" {
			fh, err := os.Create(*cpuprofile)
			check(err)
			check(pprof.StartCPUProfile(fh))
			defer fh.Close()
			defer pprof.StopCPUProfile()
		}
		check(json.NewEncoder(os.Stdout).Encode(timeReadCSV(*read, *reps)))
		return
	}
	dir, err := os.MkdirTemp("", "biopipe-bench-table")
	check(err)
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "gen.csv")
	if *file != "" {
		path = *file
	} else {
		check(Generate(path, *rows, *cols))
		if *keep != "" {
			check(Generate(*keep, *rows, *cols))
		}
	}
	st, err := os.Stat(path)
	check(err)

	load0 := loadAvg()
	self, err := os.Executable()
	check(err)
	var bp, pd *result
	pandasOK := true
	for round := range *rounds {
		args := []string{"-read", path, "-reps", strconv.Itoa(*reps)}
		if *cpuprofile != "" {
			args = append(args, "-cpuprofile", fmt.Sprintf("%s.%d", *cpuprofile, round))
		}
		out, err := exec.Command(self, args...).Output()
		check(err)
		bp = best(bp, decode(out))
		if !pandasOK {
			continue
		}
		out, err = exec.Command("/usr/bin/python3", "-c", pandasTimer, path, strconv.Itoa(*reps)).Output()
		if err != nil {
			fmt.Println("pandas: not available (apt-get install python3-pandas):", err)
			pandasOK = false
			continue
		}
		pd = best(pd, decode(out))
	}
	if *file != "" {
		*rows, *cols = bp.Rows, bp.Cols
	}
	fmt.Printf("file: %s, %d rows x %d columns, %.1f MB; GOMAXPROCS %d\n",
		map[bool]string{true: *file, false: "generated"}[*file != ""], *rows, *cols, float64(st.Size())/1e6, runtime.GOMAXPROCS(0))
	if bp.Rows != *rows || bp.Cols != *cols {
		check(fmt.Errorf("biopipe read %d x %d, want %d x %d", bp.Rows, bp.Cols, *rows, *cols))
	}
	fmt.Printf("biopipe arrowio.ReadCSV: %.3f s wall, %.3f s CPU\n", bp.Wall, bp.CPU)
	if pd == nil {
		return
	}
	if pd.Rows != *rows || pd.Cols != *cols {
		check(fmt.Errorf("pandas read %d x %d, want %d x %d", pd.Rows, pd.Cols, *rows, *cols))
	}
	fmt.Printf("pandas %s read_csv:   %.3f s wall, %.3f s CPU\n", pd.Version, pd.Wall, pd.CPU)
	fmt.Printf("speed-up: %.2fx wall, %.2fx CPU time; load average %s (at the start: %s)\n", pd.Wall/bp.Wall, pd.CPU/bp.CPU, loadAvg(), load0)
	// Each in its own process; pandas's includes the interpreter and pandas itself.
	fmt.Printf("peak RSS: biopipe %.1f MiB, pandas %.1f MiB\n", float64(bp.MaxRSSKB)/1024, float64(pd.MaxRSSKB)/1024)
	// The last line, read by bench/all (make bench): rows per second of each, and the ratio.
	bpRate, pdRate := float64(*rows)/bp.Wall, float64(*rows)/pd.Wall
	fmt.Printf("csv %.1f %.1f %.2fx\n", bpRate, pdRate, bpRate/pdRate)
}

// timeReadCSV reads path reps times and returns the best wall and CPU times.
func timeReadCSV(path string, reps int) *result {
	res := &result{Wall: 1e9, CPU: 1e9}
	for range reps {
		c0, t0 := cpuTime(), time.Now()
		f, _, err := arrowio.ReadCSV(path, arrowio.CSVOptions{})
		wall, cpu := time.Since(t0).Seconds(), cpuTime()-c0
		check(err)
		res.Wall, res.CPU = min(res.Wall, wall), min(res.CPU, cpu)
		res.Rows, res.Cols = f.NumRows(), len(f.Columns)
	}
	var ru syscall.Rusage
	check(syscall.Getrusage(syscall.RUSAGE_SELF, &ru))
	res.MaxRSSKB = ru.Maxrss
	return res
}

// cpuTime is the user+system time of this process (all threads) in seconds.
func cpuTime() float64 {
	var ru syscall.Rusage
	check(syscall.Getrusage(syscall.RUSAGE_SELF, &ru))
	return float64(ru.Utime.Nano()+ru.Stime.Nano()) / 1e9
}

func decode(out []byte) *result {
	var r result
	check(json.Unmarshal(out, &r))
	return &r
}

// best keeps the best wall time, CPU time and (smallest) peak RSS seen.
func best(a, b *result) *result {
	if a == nil {
		return b
	}
	a.Wall, a.CPU, a.MaxRSSKB = min(a.Wall, b.Wall), min(a.CPU, b.CPU), min(a.MaxRSSKB, b.MaxRSSKB)
	return a
}

func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	return strings.Join(strings.Fields(string(b))[:3], " ")
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
