// Command dicom benchmarks DICOM ingest (parse + decode + rescale) in biopipe's io/dicom
// and, through the ingest.dicom stage, the whole ingest (plus windowing, resizing and the
// Arrow write). run.sh compares it with pydicom on the same corpus.
//
//	go run ./bench/dicom -gen 1000 -dir /tmp/dicom-bench   # write the corpus
//	go run ./bench/dicom -dir /tmp/dicom-bench -workers 0  # time biopipe
package main

import (
	"context"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"sync"
	"time"

	"github.com/biopipe/biopipe/bench/internal/measure"
	"github.com/biopipe/biopipe/contract"
	biodicom "github.com/biopipe/biopipe/io/dicom"
	"github.com/biopipe/biopipe/io/dicom/dicomgen"
	ingest "github.com/biopipe/biopipe/stages/ingest/dicom"
)

func main() {
	dir := flag.String("dir", "/tmp/biopipe-dicom-bench", "corpus folder")
	gen := flag.Int("gen", 0, "write a corpus of this many files first")
	size := flag.Int("size", 512, "rows and columns of generated images")
	workers := flag.Int("workers", 0, "parallel decoders (0 = one per CPU)")
	stage := flag.Bool("stage", false, "also time the whole ingest.dicom stage")
	repeat := flag.Int("repeat", 3, "timed passes (the best is reported)")
	flag.Parse()
	if *gen > 0 {
		if err := generate(*dir, *gen, *size); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
	}
	files, _ := filepath.Glob(filepath.Join(*dir, "*.dcm"))
	sort.Strings(files)
	if len(files) == 0 {
		fmt.Fprintln(os.Stderr, "no files in", *dir)
		os.Exit(1)
	}
	w := *workers
	if w <= 0 {
		w = runtime.GOMAXPROCS(0)
	}
	best, bestCPU := time.Duration(1<<62), time.Duration(1<<62)
	var checksum float64
	for r := 0; r < *repeat; r++ {
		start, cpu0 := time.Now(), measure.CPUTime()
		s, err := decodeAll(files, w)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		best, bestCPU, checksum = min(best, time.Since(start)), min(bestCPU, measure.CPUTime()-cpu0), s
	}
	fmt.Printf("biopipe io/dicom: %d files, %d workers, %.3fs, %.1f files/s, cpu %.3f ms/file (checksum %.6g)\n",
		len(files), w, best.Seconds(), float64(len(files))/best.Seconds(), bestCPU.Seconds()*1000/float64(len(files)), checksum)
	if *stage {
		d, err := runStage(*dir, w)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		fmt.Printf("biopipe ingest.dicom stage (+window, resize 128x128, Arrow write): %d files, %d workers, %.3fs, %.1f files/s\n",
			len(files), w, d.Seconds(), float64(len(files))/d.Seconds())
	}
}

// decodeAll parses, decodes and rescales every file; it returns the sum over files of the
// mean of the middle row of the rescaled image (a checksum to compare with pydicom).
func decodeAll(files []string, workers int) (float64, error) {
	means := make([]float64, len(files))
	errs := make([]error, len(files))
	var wg sync.WaitGroup
	next := make(chan int)
	for k := 0; k < workers; k++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var buf []float32
			var raw []byte
			for i := range next {
				var im *biodicom.Image
				var err error
				im, raw, err = biodicom.ReadReuse(files[i], raw)
				if err != nil {
					errs[i] = err
					continue
				}
				h := &im.Header
				buf, err = im.FrameRescaled(0, buf)
				if err != nil {
					errs[i] = err
					continue
				}
				// checksum: the mean of the middle row (the whole frame was decoded)
				row := h.Columns * h.SamplesPerPixel
				mid := buf[h.Rows/2*row : (h.Rows/2+1)*row]
				means[i] = sum32(mid) / float64(len(mid))
			}
		}()
	}
	for i := range files {
		next <- i
	}
	close(next)
	wg.Wait()
	total := 0.0
	for i, e := range errs {
		if e != nil {
			return 0, e
		}
		total += means[i]
	}
	return total, nil
}

func runStage(dir string, workers int) (time.Duration, error) {
	k, err := contract.Default.Get(ingest.Kind)
	if err != nil {
		return 0, err
	}
	cfg, issues := contract.Check(k.Fields, map[string]any{"path": dir, "window": "soft_tissue", "size": []any{128, 128}, "salt": "bench", "workers": workers})
	if len(issues) > 0 {
		return 0, fmt.Errorf("%v", issues)
	}
	st, err := k.New(cfg)
	if err != nil {
		return 0, err
	}
	out, err := os.MkdirTemp("", "dicom-bench-out")
	if err != nil {
		return 0, err
	}
	defer os.RemoveAll(out)
	env := contract.NewEnv(nil)
	env.StageID, env.Config, env.OutDir = "bench", cfg, out
	start := time.Now()
	err = st.Run(context.Background(), env)
	return time.Since(start), err
}

// generate writes n CT-like slices (signed 16-bit, rescale intercept -1024) of size x size,
// 25 slices per series, 10 series per patient.
func generate(dir string, n, size int) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	rng := rand.New(rand.NewPCG(1, 2))
	vals := make([]int64, size*size)
	for i := 0; i < n; i++ {
		series, patient := i/25, i/250
		c := float64(size) / 2
		for y := 0; y < size; y++ {
			for x := 0; x < size; x++ {
				dx, dy := (float64(x)-c)/(0.45*float64(size)), (float64(y)-c)/(0.35*float64(size))
				hu := -1000.0
				if dx*dx+dy*dy < 1 {
					hu = 40 + 20*rng.NormFloat64()
				}
				vals[y*size+x] = int64(hu + 1024)
			}
		}
		in := &dicomgen.Instance{
			PatientName: fmt.Sprintf("Bench^Patient%d", patient), PatientID: fmt.Sprintf("B%05d", patient), PatientBirthDate: "19700101",
			StudyInstanceUID: fmt.Sprintf("2.25.9.%d", patient), SeriesInstanceUID: fmt.Sprintf("2.25.9.%d.%d", patient, series),
			SOPInstanceUID: fmt.Sprintf("2.25.9.%d.%d.%d", patient, series, i), Modality: "CT", InstanceNumber: i%25 + 1,
			ImagePositionPatient: []float64{0, 0, float64(i % 25)}, ImageOrientationPatient: []float64{1, 0, 0, 0, 1, 0},
			PixelSpacing: []float64{0.7, 0.7}, Rows: size, Columns: size, BitsAllocated: 16, Signed: true,
			RescaleSlope: 1, RescaleIntercept: -1024, Values: vals,
		}
		if err := in.WriteFile(filepath.Join(dir, fmt.Sprintf("IM%05d.dcm", i))); err != nil {
			return err
		}
	}
	return nil
}

// sum32 adds float32 values in float64 with four independent accumulators.
func sum32(v []float32) float64 {
	var a, b, c, d float64
	i := 0
	for ; i+4 <= len(v); i += 4 {
		a += float64(v[i])
		b += float64(v[i+1])
		c += float64(v[i+2])
		d += float64(v[i+3])
	}
	for ; i < len(v); i++ {
		a += float64(v[i])
	}
	return a + b + c + d
}

// cpuTime is the process's user + system CPU time.
