// Command all is `make bench`: every training benchmark of bench/internal/workloads, biopipe
// (bench/train: the model families through models.Train, the train stage's loop) against the
// same network in PyTorch (bench/train/torch_train.py), then prediction throughput
// (models.Load + Trained.Predict against eval() + no_grad()), then CSV ingest against pandas
// (bench/table), in one run on this machine with the same thread count. Go and PyTorch runs
// alternate, round after round, and each side keeps its best round, which damps the noise of
// a shared machine. The output ends with one line per benchmark:
//
//	mlp  <biopipe per s>  <pytorch per s>  <ratio>x
//
// (examples or rows per second of wall time; ratio = biopipe / peer), and the same figures,
// with peak RSS, thread count, batch, steps and the machine, go to -out (bench/results.json).
//
//	GOEXPERIMENT=simd go run ./bench/all [-models mlp,cnn] [-predict mlp] [-rounds 3] [-threads N]
//
// BENCH_THREADS, BENCH_ROUNDS and BENCH_STEPS (timed training steps for every model) override
// the defaults. bench/gpu/run.sh runs the same program, prebuilt with -tags xla, with
// -backend xla:cuda -device cuda.
package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/biopipe/biopipe/bench/internal/workloads"
)

type options struct {
	models, predict    []string
	threads, rounds    int
	steps              int
	backend, device    string
	python, script     string
	trainBin, tableBin string
	csv                bool
	out                string
	ompWait            string
}

// childTimeout bounds every benchmark process, so that a hang (a deadlocked backend) fails
// that benchmark, naming it, instead of stalling `make bench`.
var childTimeout = 10 * time.Minute

func main() {
	var o options
	models := flag.String("models", strings.Join(workloads.Names(), ","), "training benchmarks to run (comma-separated; empty: none)")
	predict := flag.String("predict", strings.Join(workloads.Predictable(), ","), "prediction benchmarks to run (comma-separated; empty: none)")
	flag.IntVar(&o.threads, "threads", envInt("BENCH_THREADS", runtime.NumCPU()), "threads of both sides: GOMAXPROCS and torch.set_num_threads (env BENCH_THREADS; default: the number of CPUs)")
	flag.IntVar(&o.rounds, "rounds", envInt("BENCH_ROUNDS", 3), "alternating rounds per benchmark; each side keeps its best (env BENCH_ROUNDS)")
	flag.IntVar(&o.steps, "steps", envInt("BENCH_STEPS", 0), "timed training steps of every model (env BENCH_STEPS; 0: each workload's default)")
	flag.StringVar(&o.backend, "backend", "go", "biopipe's backend: go, or xla:cuda / xla:cpu with a -tags xla build of bench/train")
	flag.StringVar(&o.device, "device", "cpu", "PyTorch's device: cpu or cuda")
	flag.StringVar(&o.python, "python", envStr("BENCH_PYTHON", "/usr/bin/python3"), "Python with PyTorch (env BENCH_PYTHON)")
	flag.StringVar(&o.script, "torch-script", "bench/train/torch_train.py", "the PyTorch peer")
	flag.StringVar(&o.trainBin, "train-bin", "", "a built bench/train (empty: go build it)")
	flag.StringVar(&o.tableBin, "table-bin", "", "a built bench/table (empty: go build it)")
	flag.BoolVar(&o.csv, "csv", true, "run bench/table (CSV ingest vs pandas.read_csv)")
	flag.StringVar(&o.out, "out", "bench/results.json", "write the results as JSON here (empty: don't)")
	flag.StringVar(&o.ompWait, "omp-wait", envStr("BENCH_OMP_WAIT", "default"), "OMP_WAIT_POLICY of the PyTorch process (env BENCH_OMP_WAIT): default (leave it unset: PyTorch as users run it), "+
		"PASSIVE (idle OpenMP threads sleep: fairer to PyTorch on an oversubscribed machine, where its spinning made it up to 50x slower; on a quiet one it cost it up to 1.8x), or ACTIVE")
	flag.DurationVar(&childTimeout, "child-timeout", childTimeout, "kill a benchmark process that runs longer than this (a hang fails its benchmark)")
	flag.Parse()
	o.models, o.predict = split(*models), split(*predict)
	if err := run(o); err != nil {
		fmt.Fprintln(os.Stderr, "bench/all:", err)
		os.Exit(1)
	}
}

// Result is one line of the report and of results.json.
type Result struct {
	Model    string  `json:"model"`
	Kind     string  `json:"kind"` // train, predict or csv
	Peer     string  `json:"peer"`
	Unit     string  `json:"unit"` // what per_s counts
	Biopipe  float64 `json:"biopipe_per_s"`
	Pytorch  float64 `json:"pytorch_per_s"` // the peer's figure (pandas for csv)
	Ratio    float64 `json:"ratio"`
	GoCPU    float64 `json:"biopipe_per_cpu_s,omitempty"`
	PeerCPU  float64 `json:"pytorch_per_cpu_s,omitempty"`
	CPURatio float64 `json:"cpu_ratio,omitempty"`
	Threads  int     `json:"threads"`
	Batch    int     `json:"batch,omitempty"`
	Steps    int     `json:"steps,omitempty"`
	Rows     int     `json:"rows,omitempty"`
	Rounds   int     `json:"rounds"`
	GoRSS    float64 `json:"biopipe_peak_rss_mib"`
	PeerRSS  float64 `json:"pytorch_peak_rss_mib"`
	GoParams int     `json:"biopipe_params,omitempty"`
	PtParams int     `json:"pytorch_params,omitempty"`
	Backend  string  `json:"backend,omitempty"`
	Device   string  `json:"device,omitempty"`
	Source   string  `json:"source,omitempty"`
	Note     string  `json:"note,omitempty"`
}

// Machine describes where the figures were measured.
type Machine struct {
	CPUModel     string `json:"cpu_model"`
	NProc        int    `json:"nproc"`
	GoVersion    string `json:"go_version"`
	TorchVersion string `json:"torch_version"`
	GPU          string `json:"gpu,omitempty"`
	Date         string `json:"date"`
	LoadStart    string `json:"load_average_start"`
	LoadEnd      string `json:"load_average_end"`
	Seconds      int    `json:"seconds"`
}

// Report is results.json.
type Report struct {
	Machine Machine  `json:"machine"`
	Threads int      `json:"threads"`
	Rounds  int      `json:"rounds"`
	OMPWait string   `json:"torch_omp_wait_policy"`
	Results []Result `json:"results"`
}

// sample is one child run: its key=value line and peak RSS.
type sample struct {
	kv  map[string]string
	rss float64 // MiB, from the child's rusage
}

func (s sample) f(key string) float64 {
	v, _ := strconv.ParseFloat(s.kv[key], 64)
	return v
}

func (s sample) i(key string) int {
	v, _ := strconv.Atoi(s.kv[key])
	return v
}

func run(o options) error {
	start := time.Now()
	if err := workloads.Validate(o.models); err != nil {
		return fmt.Errorf("-models: %w", err)
	}
	if err := workloads.Validate(o.predict); err != nil {
		return fmt.Errorf("-predict: %w", err)
	}
	if o.threads < 1 || o.rounds < 1 {
		return fmt.Errorf("-threads %d, -rounds %d: both must be at least 1", o.threads, o.rounds)
	}
	if len(o.models)+len(o.predict) > 0 {
		if out, err := exec.Command(o.python, "-c", "import torch").CombinedOutput(); err != nil {
			return fmt.Errorf("PyTorch not importable by %s (Debian: apt-get install python3-torch; or -python / BENCH_PYTHON): %v: %s", o.python, err, lastLine(out))
		}
		if _, err := os.Stat(o.script); err != nil {
			return fmt.Errorf("-torch-script: %w (run from the repository root)", err)
		}
	}
	tmp, err := os.MkdirTemp("", "biopipe-bench")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	if o.trainBin == "" && len(o.models)+len(o.predict) > 0 {
		if o.trainBin, err = build(tmp, "./bench/train"); err != nil {
			return err
		}
	}
	if o.tableBin == "" && o.csv {
		if o.tableBin, err = build(tmp, "./bench/table"); err != nil {
			return err
		}
	}
	rep := Report{Threads: o.threads, Rounds: o.rounds, OMPWait: o.ompWait, Machine: machine()}
	peer := "pytorch-" + o.device
	fmt.Printf("biopipe (%s backend) vs %s (OMP_WAIT_POLICY %s), %d threads each, best of %d alternating rounds; %s, %d CPUs, load average %s\n",
		o.backend, peer, o.ompWait, o.threads, o.rounds, rep.Machine.CPUModel, rep.Machine.NProc, rep.Machine.LoadStart)
	var failed []string
	goEnv := append(os.Environ(), fmt.Sprintf("GOMAXPROCS=%d", o.threads))
	pyEnv := append(os.Environ(), fmt.Sprintf("OMP_NUM_THREADS=%d", o.threads))
	if o.ompWait != "default" {
		pyEnv = append(pyEnv, "OMP_WAIT_POLICY="+o.ompWait)
	}
	artifacts := map[string][2]string{} // model -> go artifact dir, torch state file

	trainOne := func(w workloads.Workload, steps int, round int) (g, p sample, err error) {
		dir := filepath.Join(tmp, fmt.Sprintf("go-%s-%d", w.Name, round))
		state := filepath.Join(tmp, fmt.Sprintf("pt-%s.pt", w.Name))
		g, err = runChild(goEnv, o.trainBin, "-model", w.Name, "-steps", strconv.Itoa(steps), "-backend", o.backend, "-dir", dir)
		if err != nil {
			return g, p, fmt.Errorf("biopipe: %w", err)
		}
		p, err = runChild(pyEnv, o.python, o.script, "--model", w.Name, "--threads", strconv.Itoa(o.threads),
			"--steps", strconv.Itoa(steps), "--device", o.device, "--state", state)
		if err != nil {
			return g, p, fmt.Errorf("pytorch: %w", err)
		}
		if old, ok := artifacts[w.Name]; ok && old[0] != dir {
			os.RemoveAll(old[0])
		}
		artifacts[w.Name] = [2]string{dir, state}
		return g, p, nil
	}

	for _, name := range o.models {
		w, _ := workloads.Get(name)
		steps := w.Steps
		if o.steps > 0 {
			steps = o.steps
		}
		fmt.Printf("\n== %s: %s input %s, batch %d, Adam(%g), %d timed steps per round\n   shapes: %s\n",
			w.Name, w.Family, w.Shape(), w.Batch, w.LearningRate, steps, w.Source)
		var gs, ps []sample
		var err error
		for r := 1; r <= o.rounds && err == nil; r++ {
			var g, p sample
			if g, p, err = trainOne(w, steps, r); err == nil {
				gs, ps = append(gs, g), append(ps, p)
				fmt.Printf("   round %d: biopipe %9.1f %s/s (%9.1f per CPU-s, %6.1f MiB, loss %s) | %s %9.1f %s/s (%9.1f per CPU-s, %6.1f MiB, loss %s)\n",
					r, g.f("per_s"), w.Unit(), g.f("per_cpu_s"), g.rss, g.kv["loss"], peer, p.f("per_s"), w.Unit(), p.f("per_cpu_s"), p.rss, p.kv["loss"])
			}
		}
		if err != nil {
			fmt.Printf("   FAILED: %v\n", err)
			failed = append(failed, w.Name)
			continue
		}
		res := summarize(w.Name, "train", peer, w.Unit(), gs, ps)
		res.Batch, res.Steps, res.Source = w.Batch, gs[0].i("steps"), w.Source
		finish(&res, o, gs, ps)
		fmt.Printf("   parameters: biopipe %d, pytorch %d (%s)\n", res.GoParams, res.PtParams, paramsVerdict(res))
		rep.Results = append(rep.Results, res)
		rep.Machine.TorchVersion, rep.Machine.GPU = ps[0].kv["torch"], strings.ReplaceAll(ps[0].kv["gpu"], "_", " ")
	}

	for _, name := range o.predict {
		w, _ := workloads.Get(name)
		rows := w.PredictRows
		fmt.Printf("\n== predict-%s: inference throughput, %d rows per pass in chunks of 256 (biopipe: models.Load + Trained.Predict; %s: eval() + no_grad())\n",
			w.Name, rows, peer)
		if _, ok := artifacts[w.Name]; !ok { // a model to load: train one briefly (not timed)
			if _, _, err := trainOne(w, 2, 0); err != nil {
				fmt.Printf("   FAILED (training the model to load): %v\n", err)
				failed = append(failed, "predict-"+w.Name)
				continue
			}
		}
		art := artifacts[w.Name]
		var gs, ps []sample
		var err error
		for r := 1; r <= o.rounds && err == nil; r++ {
			var g, p sample
			g, err = runChild(goEnv, o.trainBin, "-model", w.Name, "-mode", "predict", "-backend", o.backend, "-dir", art[0], "-rows", strconv.Itoa(rows))
			if err != nil {
				err = fmt.Errorf("biopipe: %w", err)
				break
			}
			p, err = runChild(pyEnv, o.python, o.script, "--model", w.Name, "--mode", "predict", "--threads", strconv.Itoa(o.threads),
				"--device", o.device, "--state", art[1], "--rows", strconv.Itoa(rows))
			if err != nil {
				err = fmt.Errorf("pytorch: %w", err)
				break
			}
			gs, ps = append(gs, g), append(ps, p)
			fmt.Printf("   round %d: biopipe %10.1f %s/s (%10.1f per CPU-s, %6.1f MiB) | %s %10.1f %s/s (%10.1f per CPU-s, %6.1f MiB)\n",
				r, g.f("per_s"), w.Unit(), g.f("per_cpu_s"), g.rss, peer, p.f("per_s"), w.Unit(), p.f("per_cpu_s"), p.rss)
		}
		if err != nil {
			fmt.Printf("   FAILED: %v\n", err)
			failed = append(failed, "predict-"+w.Name)
			continue
		}
		res := summarize("predict-"+w.Name, "predict", peer, w.Unit(), gs, ps)
		res.Batch, res.Rows = gs[0].i("batch"), rows
		finish(&res, o, gs, ps)
		rep.Results = append(rep.Results, res)
	}

	if o.csv {
		fmt.Printf("\n== csv: bench/table (100,000 rows x 20 columns), biopipe arrowio.ReadCSV vs pandas.read_csv, best of its repetitions\n")
		res, err := runTable(goEnv, o.tableBin)
		if err != nil {
			fmt.Printf("   FAILED: %v\n", err)
			failed = append(failed, "csv")
		} else {
			res.Threads, res.Rounds = o.threads, 1
			rep.Results = append(rep.Results, res)
		}
	}

	for _, n := range []string{"/proc/loadavg"} {
		if b, err := os.ReadFile(n); err == nil {
			rep.Machine.LoadEnd = loadAvg(b)
		}
	}
	rep.Machine.Seconds = int(time.Since(start).Seconds())
	fmt.Printf("\n== summary: %d threads, best of %d rounds, load average %s at the start and %s at the end, %d s in all\n",
		o.threads, o.rounds, rep.Machine.LoadStart, rep.Machine.LoadEnd, rep.Machine.Seconds)
	fmt.Printf("   %-18s %12s %12s %8s %10s %12s %12s\n", "benchmark", "biopipe/s", peer+"/s", "ratio", "CPU-ratio", "biopipe MiB", "peer MiB")
	for _, r := range rep.Results {
		cpu := "-"
		if r.CPURatio > 0 {
			cpu = fmt.Sprintf("%.2fx", r.CPURatio)
		}
		fmt.Printf("   %-18s %12.1f %12.1f %7.2fx %10s %12.1f %12.1f\n", r.Model, r.Biopipe, r.Pytorch, r.Ratio, cpu, r.GoRSS, r.PeerRSS)
		if r.Note != "" {
			fmt.Printf("   %-18s note: %s\n", "", r.Note)
		}
	}
	fmt.Println("   (per second of wall time; CPU-ratio compares examples per CPU-second, steadier on a busy machine; MiB: peak RSS)")
	if o.out != "" {
		b, err := json.MarshalIndent(rep, "", "  ")
		if err != nil {
			return err
		}
		if err := os.WriteFile(o.out, append(b, '\n'), 0o644); err != nil {
			return err
		}
		fmt.Printf("   wrote %s\n", o.out)
	}
	fmt.Println()
	for _, r := range rep.Results {
		fmt.Printf("%-18s %10.1f %10.1f %6.2fx\n", r.Model, r.Biopipe, r.Pytorch, r.Ratio)
	}
	if len(failed) > 0 {
		return fmt.Errorf("failed: %s", strings.Join(failed, ", "))
	}
	return nil
}

// summarize keeps each side's best round (wall and CPU figures separately).
func summarize(name, kind, peer, unit string, gs, ps []sample) Result {
	best := func(ss []sample, key string) (float64, sample) {
		var b float64
		var at sample
		for _, s := range ss {
			if v := s.f(key); v > b {
				b, at = v, s
			}
		}
		return b, at
	}
	res := Result{Model: name, Kind: kind, Peer: peer, Unit: unit, Rounds: len(gs)}
	var g, p sample
	res.Biopipe, g = best(gs, "per_s")
	res.Pytorch, p = best(ps, "per_s")
	res.GoCPU, _ = best(gs, "per_cpu_s")
	res.PeerCPU, _ = best(ps, "per_cpu_s")
	res.Ratio, res.CPURatio = ratio(res.Biopipe, res.Pytorch), ratio(res.GoCPU, res.PeerCPU)
	for _, s := range gs {
		res.GoRSS = math.Max(res.GoRSS, s.rss)
	}
	for _, s := range ps {
		res.PeerRSS = math.Max(res.PeerRSS, s.rss)
	}
	res.GoParams, res.PtParams = g.i("params"), p.i("params")
	return res
}

func paramsVerdict(r Result) string {
	if r.GoParams == r.PtParams {
		return "equal"
	}
	return r.Note
}

// finish fills the run-wide fields and checks that both sides trained the same network
// (parameter counts, allowing the difference the peer declares and explains).
func finish(r *Result, o options, gs, ps []sample) {
	r.Threads, r.Backend, r.Device = o.threads, o.backend, o.device
	extra := ps[0].i("params_extra")
	switch {
	case r.GoParams == r.PtParams:
	case r.GoParams == r.PtParams-extra:
		r.Note = fmt.Sprintf("parameters differ as declared: torch.nn.LSTM keeps two bias vectors per gate (b_ih, b_hh), biopipe one (%d more in PyTorch)", extra)
	default:
		r.Note = fmt.Sprintf("PARAMETER COUNTS DIFFER (biopipe %d, PyTorch %d): not the same network", r.GoParams, r.PtParams)
	}
}

func ratio(a, b float64) float64 {
	if b <= 0 {
		return 0
	}
	return a / b
}

// runChild runs a benchmark process and parses its last line of key=value pairs.
func runChild(env []string, bin string, args ...string) (sample, error) {
	ctx, cancel := context.WithTimeout(context.Background(), childTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = env
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	s := sample{kv: map[string]string{}}
	if cmd.ProcessState != nil {
		if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
			s.rss = float64(ru.Maxrss) / 1024 // KiB on Linux
		}
	}
	if ctx.Err() != nil {
		return s, fmt.Errorf("%s %s: killed after %s (hung?)", filepath.Base(bin), strings.Join(args, " "), childTimeout)
	}
	if err != nil {
		return s, fmt.Errorf("%s %s: %v: %s", filepath.Base(bin), strings.Join(args, " "), err, lastLine(stderr.Bytes()))
	}
	line := lastLine(stdout.Bytes())
	for _, f := range strings.Fields(line) {
		if k, v, ok := strings.Cut(f, "="); ok {
			s.kv[k] = v
		}
	}
	if s.f("per_s") <= 0 {
		return s, fmt.Errorf("%s %s: no per_s figure in its output %q", filepath.Base(bin), strings.Join(args, " "), line)
	}
	return s, nil
}

var (
	csvLine = regexp.MustCompile(`^csv\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)x?\s*$`)
	rssLine = regexp.MustCompile(`peak RSS: biopipe ([\d.]+) MiB, pandas ([\d.]+) MiB`)
)

// runTable runs bench/table and takes its final `csv <biopipe rows/s> <pandas rows/s>
// <ratio>` line and its peak RSS line.
func runTable(env []string, bin string) (Result, error) {
	ctx, cancel := context.WithTimeout(context.Background(), childTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin)
	cmd.Env = env
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return Result{}, fmt.Errorf("bench/table: %v: %s", err, lastLine(stderr.Bytes()))
	}
	res := Result{Model: "csv", Kind: "csv", Peer: "pandas.read_csv", Unit: "rows", Rows: 100000}
	sc := bufio.NewScanner(&stdout)
	var last string
	for sc.Scan() {
		l := sc.Text()
		fmt.Printf("   | %s\n", l)
		if m := rssLine.FindStringSubmatch(l); m != nil {
			res.GoRSS, _ = strconv.ParseFloat(m[1], 64)
			res.PeerRSS, _ = strconv.ParseFloat(m[2], 64)
		}
		if strings.TrimSpace(l) != "" {
			last = l
		}
	}
	m := csvLine.FindStringSubmatch(last)
	if m == nil {
		return res, fmt.Errorf("bench/table: its last line %q is not `csv <biopipe rows/s> <pandas rows/s> <ratio>`", last)
	}
	res.Biopipe, _ = strconv.ParseFloat(m[1], 64)
	res.Pytorch, _ = strconv.ParseFloat(m[2], 64)
	res.Ratio = ratio(res.Biopipe, res.Pytorch)
	if res.GoRSS == 0 { // an older bench/table: the whole process (pandas ran as its child)
		if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
			res.GoRSS = float64(ru.Maxrss) / 1024
		}
		res.Note = "peak RSS of bench/table and its pandas child together"
	}
	return res, nil
}

// build compiles a bench program into dir with GOEXPERIMENT=simd (unless set otherwise).
func build(dir, pkg string) (string, error) {
	out := filepath.Join(dir, filepath.Base(pkg))
	cmd := exec.Command("go", "build", "-o", out, pkg)
	cmd.Env = os.Environ()
	if os.Getenv("GOEXPERIMENT") == "" {
		cmd.Env = append(cmd.Env, "GOEXPERIMENT=simd")
	}
	if b, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build %s: %v\n%s", pkg, err, b)
	}
	return out, nil
}

func machine() Machine {
	m := Machine{NProc: runtime.NumCPU(), GoVersion: runtime.Version(), Date: time.Now().UTC().Format(time.RFC3339)}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(l, ":"); ok && strings.TrimSpace(k) == "model name" {
				m.CPUModel = strings.TrimSpace(v)
				break
			}
		}
	}
	if b, err := os.ReadFile("/proc/loadavg"); err == nil {
		m.LoadStart = loadAvg(b)
	}
	return m
}

func loadAvg(b []byte) string {
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return ""
	}
	return strings.Join(f[:3], " ")
}

func lastLine(b []byte) string {
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	return strings.TrimSpace(lines[len(lines)-1])
}

func split(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

func envInt(name string, def int) int {
	if v := os.Getenv(name); v != "" {
		if n, err := strconv.Atoi(v); err == nil {
			return n
		}
		fmt.Fprintf(os.Stderr, "bench/all: %s=%q is not a number; using %d\n", name, v, def)
	}
	return def
}

func envStr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}
