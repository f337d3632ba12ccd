// Command edfbench measures EDF read throughput of io/edf against MNE-Python's
// read_raw_edf(preload=True) on the same file, and prints the ratio.
//
//	go run ./bench/edf -file /tmp/bench.edf -mb 200        (or bench/edf/run.sh)
//
// Throughput is megabytes of signal data (the file's data records, 16-bit samples) decoded
// to physical values per second of wall time — float32 for io/edf, float64 for MNE — best
// of -runs after one untimed warm-up read of each (so both read from the page cache).
package main

import (
	"context"
	"flag"
	"fmt"
	"math"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/biopipe/biopipe/io/edf"
)

const mneScript = `
import sys, time, mne
mne.set_log_level("ERROR")
path, runs = sys.argv[1], int(sys.argv[2])
mne.io.read_raw_edf(path, preload=True)  # warm-up
best = 1e9
for _ in range(runs):
    t = time.perf_counter()
    raw = mne.io.read_raw_edf(path, preload=True)
    best = min(best, time.perf_counter() - t)
    n = raw.get_data().size
print(best, n)
`

func main() {
	path := flag.String("file", os.TempDir()+"/biopipe-edfbench.edf", "EDF file (written when absent)")
	mb := flag.Int("mb", 200, "size of the generated file in MB")
	runs := flag.Int("runs", 3, "timed runs (best is reported)")
	python := flag.String("python", "/usr/bin/python3", "Python with MNE (Debian python3-mne)")
	flag.Parse()
	if _, err := os.Stat(*path); err != nil {
		if err := generate(*path, *mb); err != nil {
			fail(err)
		}
	}
	st, err := os.Stat(*path)
	if err != nil {
		fail(err)
	}
	r, err := edf.Open(*path)
	if err != nil {
		fail(err)
	}
	h := r.Header()
	dataMB := float64(h.NumRecords*h.RecordSize()) / 1e6
	r.Close()
	fmt.Printf("file: %s (%.1f MB, %d signals, %d records, %.1f MB of samples), GOMAXPROCS=%d\n",
		*path, float64(st.Size())/1e6, len(h.Signals), h.NumRecords, dataMB, runtime.GOMAXPROCS(0))

	read := func() (time.Duration, int) {
		t := time.Now()
		rec, err := edf.ReadFile(context.Background(), *path)
		if err != nil {
			fail(err)
		}
		n := 0
		for _, s := range rec.Samples {
			n += len(s)
		}
		return time.Since(t), n
	}
	read() // warm-up
	best := time.Duration(math.MaxInt64)
	var n int
	for range *runs {
		d, k := read()
		best, n = min(best, d), k
	}
	ours := dataMB / best.Seconds()
	fmt.Printf("io/edf ReadAll:                 %8.3f s  %8.1f MB/s  (%d samples -> float32)\n", best.Seconds(), ours, n)

	out, err := exec.Command(*python, "-c", mneScript, *path, strconv.Itoa(*runs)).Output()
	if err != nil {
		fmt.Printf("MNE read_raw_edf: not available (%v); install python3-mne\n", err)
		return
	}
	f := strings.Fields(string(out))
	sec, _ := strconv.ParseFloat(f[0], 64)
	theirs := dataMB / sec
	fmt.Printf("MNE read_raw_edf(preload=True): %8.3f s  %8.1f MB/s  (%s samples -> float64)\n", sec, theirs, f[1])
	fmt.Printf("ratio io/edf / MNE: %.1fx (target >= 5x)\n", ours/theirs)
}

// generate writes an EDF+ file of about mb megabytes: 64 EEG channels at 512 Hz, 1 s records.
func generate(path string, mb int) error {
	const nch, rate = 64, 512
	recs := int(math.Ceil(float64(mb) * 1e6 / (nch * rate * 2)))
	h := edf.Header{Format: edf.EDFPlus, Patient: "X X X X", Recording: "Startdate X X X edfbench", RecordDuration: 1}
	for c := range nch {
		h.Signals = append(h.Signals, edf.SignalHeader{Label: fmt.Sprintf("EEG%02d", c+1), PhysicalDimension: "uV",
			PhysicalMin: -3276.8, PhysicalMax: 3276.7, DigitalMin: -32768, DigitalMax: 32767, SamplesPerRecord: rate})
	}
	h.AddAnnotationSignal(60)
	w, err := edf.Create(path, h)
	if err != nil {
		return err
	}
	rec := make([][]float64, len(h.Signals))
	for c := range nch {
		rec[c] = make([]float64, rate)
	}
	for i := range recs {
		for c := range nch {
			for k := range rate {
				t := float64(i) + float64(k)/rate
				rec[c][k] = 50*math.Sin(2*math.Pi*(5+float64(c)/8)*t) + 10*math.Sin(2*math.Pi*50*t)
			}
		}
		var ann []edf.Annotation
		if i%10 == 0 {
			ann = []edf.Annotation{{Onset: float64(i), Duration: -1, Text: "tick"}}
		}
		if err := w.WriteRecord(rec, float64(i), ann); err != nil {
			w.Close()
			return err
		}
	}
	return w.Close()
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "edfbench:", err)
	os.Exit(1)
}
