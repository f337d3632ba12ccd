// Command train is the biopipe side of `make bench`: it trains one benchmark network
// (bench/internal/workloads) with models.Train, the loop the train stage runs, on synthetic
// data, and prints one line of key=value figures; with -mode predict it loads the model
// artifact a training run wrote (models.Load, as the evaluate and predict stages do) and
// times Trained.Predict. bench/all runs it beside bench/train/torch_train.py (the same
// networks in PyTorch) and prints the ratios.
//
//	GOEXPERIMENT=simd go run ./bench/train -model cnn [-steps 40] [-backend go] [-dir DIR]
//	GOEXPERIMENT=simd go run ./bench/train -model cnn -mode predict -dir DIR [-rows 2048]
//
// Training runs 3 epochs of ceil(steps/2) batches each; the first epoch (graph compilation,
// first allocations) is not timed, the other two are: throughput = examples of epochs 2-3 /
// their wall time, and per CPU-second of the process. Threads: GOMAXPROCS.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"runtime"
	"runtime/pprof"
	"syscall"
	"time"

	"github.com/biopipe/biopipe/bench/internal/measure"
	"github.com/biopipe/biopipe/bench/internal/workloads"
	"github.com/biopipe/biopipe/dataset"
	"github.com/biopipe/biopipe/models"
	_ "github.com/biopipe/biopipe/models/all"
)

func main() {
	name := flag.String("model", "mlp", "benchmark: "+fmt.Sprint(workloads.Names()))
	mode := flag.String("mode", "train", "train, or predict (needs -dir from a train run)")
	backend := flag.String("backend", models.DefaultBackend, "compute backend: go, xla:cuda, xla:cpu (xla needs a -tags xla build)")
	steps := flag.Int("steps", 0, "timed training steps (0: the workload's default)")
	batch := flag.Int("batch", 0, "batch size (0: the workload's)")
	dir := flag.String("dir", "", "model artifact folder: train writes it (when set), predict reads it")
	rows := flag.Int("rows", 0, "predict: examples per timed pass (0: the workload's default)")
	reps := flag.Int("reps", 2, "predict: timed passes (the best is reported)")
	cpuprofile := flag.String("cpuprofile", "", "write a CPU profile of the timed part to this file")
	flag.Parse()
	w, err := workloads.Get(*name)
	if err == nil {
		if *batch > 0 {
			w.Batch = *batch
		}
		if *steps > 0 {
			w.Steps = *steps
		}
		if *rows > 0 {
			w.PredictRows = *rows
		}
		switch *mode {
		case "train":
			err = train(w, *backend, *dir, *cpuprofile)
		case "predict":
			err = predict(w, *backend, *dir, *reps, *cpuprofile)
		default:
			err = fmt.Errorf("-mode %q: want train or predict", *mode)
		}
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "bench/train: -model %s -mode %s: %v\n", *name, *mode, err)
		os.Exit(1)
	}
}

// synthetic returns n examples of w's input shape with random labels.
func synthetic(w workloads.Workload, n int, seed uint64) *models.Data {
	rng := rand.New(rand.NewPCG(seed, 2))
	x := make([]float32, n*w.InputSize())
	for i := range x {
		if w.Uniform {
			x[i] = rng.Float32()
		} else {
			x[i] = float32(rng.NormFloat64())
		}
	}
	d := &models.Data{X: &dataset.Matrix{X: x, N: n, Shape: w.Input}}
	if w.Classes > 0 {
		d.Classes = make([]int, n)
		for i := range d.Classes {
			d.Classes[i] = rng.IntN(w.Classes)
		}
	}
	return d
}

func classNames(k int) []string {
	out := make([]string, k)
	for i := range out {
		out[i] = fmt.Sprintf("c%d", i)
	}
	return out
}

func train(w workloads.Workload, backend, dir, cpuprofile string) error {
	perEpoch := (w.Steps + 1) / 2
	const epochs = 3
	opts := models.TrainOptions{
		Family: w.Family, Params: w.Params,
		Train: synthetic(w, perEpoch*w.Batch, 1),
		Task:  models.Classification, Classes: classNames(w.Classes),
		Epochs: epochs, BatchSize: w.Batch, Seed: 1, Backend: backend, OutDir: dir,
		Optimizer: models.OptimizerConfig{Name: models.OptAdam, LearningRate: w.LearningRate},
		Log:       slog.New(slog.NewTextHandler(io.Discard, nil)),
	}
	if w.Classes == 0 {
		opts.Task, opts.Classes = models.Reconstruction, nil
	}
	var (
		t0, t1     time.Time
		cpu0, cpu1 time.Duration
		loss       float64
		stopProf   func()
		profErr    error
	)
	opts.OnEpoch = func(rec models.EpochRecord) {
		switch rec.Epoch {
		case 1:
			if cpuprofile != "" {
				stopProf, profErr = startProfile(cpuprofile)
			}
			cpu0, t0 = measure.CPUTime(), time.Now()
		case epochs:
			t1, cpu1 = time.Now(), measure.CPUTime()
			if stopProf != nil {
				stopProf()
			}
		}
		loss = rec.TrainLoss
	}
	res, err := models.Train(context.Background(), opts)
	if err != nil {
		return err
	}
	if profErr != nil {
		return profErr
	}
	n := float64((epochs - 1) * perEpoch * w.Batch)
	wall, cpu := t1.Sub(t0).Seconds(), (cpu1 - cpu0).Seconds()
	fmt.Printf("biopipe model=%s mode=train backend=%s threads=%d batch=%d steps=%d params=%d loss=%.4f seconds=%.3f cpu_seconds=%.3f per_s=%.1f per_cpu_s=%.1f peak_rss_mib=%.1f\n",
		w.Name, backend, runtime.GOMAXPROCS(0), w.Batch, (epochs-1)*perEpoch, res.Card.NumParameters, loss,
		wall, cpu, n/wall, n/cpu, peakRSS())
	return nil
}

func predict(w workloads.Workload, backend, dir string, reps int, cpuprofile string) error {
	if dir == "" {
		return fmt.Errorf("-dir: give the model artifact folder a -mode train run wrote")
	}
	ctx := context.Background()
	tm, err := models.Load(dir, backend)
	if err != nil {
		return err
	}
	data := synthetic(w, max(w.PredictRows, 1), 3)
	// Warm-up: the first call compiles the inference graph for the predict chunk size.
	warm := *data.X
	warm.N = min(warm.N, 256)
	warm.X = warm.X[:warm.N*w.InputSize()]
	if _, err := tm.Predict(ctx, &warm); err != nil {
		return err
	}
	var stop func()
	if cpuprofile != "" {
		if stop, err = startProfile(cpuprofile); err != nil {
			return err
		}
	}
	best, bestCPU := time.Duration(1<<62), time.Duration(0)
	for range max(reps, 1) {
		c0, t0 := measure.CPUTime(), time.Now()
		out, err := tm.Predict(ctx, data.X)
		if err != nil {
			return err
		}
		if el := time.Since(t0); el < best {
			best, bestCPU = el, measure.CPUTime()-c0
		}
		if len(out) != data.X.N {
			return fmt.Errorf("predict returned %d rows for %d", len(out), data.X.N)
		}
	}
	if stop != nil {
		stop()
	}
	n := float64(data.X.N)
	fmt.Printf("biopipe model=%s mode=predict backend=%s threads=%d batch=%d rows=%d params=%d seconds=%.3f cpu_seconds=%.3f per_s=%.1f per_cpu_s=%.1f peak_rss_mib=%.1f\n",
		w.Name, backend, runtime.GOMAXPROCS(0), models.PredictBatch, data.X.N, tm.Card().NumParameters,
		best.Seconds(), bestCPU.Seconds(), n/best.Seconds(), n/bestCPU.Seconds(), peakRSS())
	return nil
}

func startProfile(path string) (func(), error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, err
	}
	return func() { pprof.StopCPUProfile(); f.Close() }, nil
}

// peakRSS is this process's peak resident set size in MiB.
func peakRSS() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return float64(ru.Maxrss) / 1024 // KiB on Linux
}
