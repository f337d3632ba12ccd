// Command seq measures sequence-model training throughput (examples/s) of biopipe's lstm and
// cnn1d families on GoMLX's pure-Go backend, on the shapes of configs/eeg-lstm.yaml:
// epochs [128 samples, 4 channels], 2 classes, batch 32, Adam. run.sh runs it beside
// torch_seq.py (the same networks in PyTorch) and prints the ratio.
//
// Models (-model):
//
//	lstm      the config's network: conv front end (16, 32 channels, kernel 7, layer norm,
//	          relu, max pool 4) -> 8 steps -> bidirectional LSTM(32) -> dense(2)
//	cnn1d     the same front end as cnn1d blocks -> global average pool -> dense(2)
//	lstm-raw  no front end: average 128 samples by 4 -> 32 steps -> LSTM(32) -> dense(2)
//	          (the unrolled recurrence alone)
//	gomlx-lstm-raw  lstm-raw with GoMLX's own ml/layers/lstm in place of biopipe's cell
package main

import (
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"runtime"

	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/layers"
	gomlxlstm "github.com/gomlx/gomlx/ml/layers/lstm"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/gomlx/gomlx/ml/train"
	"github.com/gomlx/gomlx/ml/train/loss"
	"github.com/gomlx/gomlx/ml/train/optimizer"

	"github.com/biopipe/biopipe/bench/internal/measure"
	"github.com/biopipe/biopipe/models"
	_ "github.com/biopipe/biopipe/models/all"
	"github.com/biopipe/biopipe/models/layers/fastconv"
)

// Networks are the family and params of each -model, as configs/eeg-lstm.yaml writes them.
var Networks = map[string]struct {
	Family string
	Params map[string]any
}{
	"lstm":     {"lstm", map[string]any{"channels": []any{16, 32}, "kernel_size": 7, "pool_size": 4, "units": 32, "bidirectional": true}},
	"cnn1d":    {"cnn1d", map[string]any{"channels": []any{16, 32}, "kernel_size": 7, "pool_size": 4}},
	"lstm-raw": {"lstm", map[string]any{"downsample": 4, "units": 32}},
}

func main() {
	name := flag.String("model", "lstm", "lstm, cnn1d or lstm-raw")
	backendName := flag.String("backend", models.DefaultBackend, "compute backend: go, or xla:cuda / xla:cpu in a -tags xla build")
	batch := flag.Int("batch", 32, "batch size")
	steps := flag.Int("steps", 100, "timed training steps")
	warmup := flag.Int("warmup", 5, "untimed warm-up steps (include graph compilation)")
	cpuprofile := flag.String("cpuprofile", "", "write a CPU profile of the timed steps to this file")
	flag.Parse()
	if err := run(*name, *backendName, *batch, *steps, *warmup, *cpuprofile); err != nil {
		fmt.Fprintln(os.Stderr, "bench/seq:", err)
		os.Exit(1)
	}
}

// network returns the logits function of -model name.
func network(name string, seqLen, channels, classes int) (func(*model.Scope, *graph.Node) *graph.Node, error) {
	if name == "gomlx-lstm-raw" {
		return func(scope *model.Scope, x *graph.Node) *graph.Node {
			h := fastconv.AvgPool1D(x, 4, 4)
			_, last, _ := gomlxlstm.New(scope.In("lstm"), h, 32).Done() // [1, B, H]
			b := x.Shape().Dimensions[0]
			return layers.DenseWithBias(scope.In("output"), graph.Reshape(last, b, 32), classes)
		}, nil
	}
	n, ok := Networks[name]
	if !ok {
		return nil, fmt.Errorf("-model %q: want lstm, cnn1d, lstm-raw or gomlx-lstm-raw", name)
	}
	fam, err := models.Get(n.Family)
	if err != nil {
		return nil, err
	}
	params, err := fam.ResolveParams(n.Params)
	if err != nil {
		return nil, err
	}
	net, err := fam.Build(models.Spec{InputShape: []int{seqLen, channels}, Task: models.Classification, NumClasses: classes}, params)
	if err != nil {
		return nil, err
	}
	return func(scope *model.Scope, x *graph.Node) *graph.Node { return net.Forward(scope, x)[0] }, nil
}

func run(name, backendName string, batch, steps, warmup int, cpuprofile string) error {
	const seqLen, channels, classes = 128, 4, 2
	forward, err := network(name, seqLen, channels, classes)
	if err != nil {
		return err
	}
	backend, err := models.NewBackend(backendName)
	if err != nil {
		return err
	}
	store := model.NewStore()
	if err := store.SetRNGStateFromSeed(1); err != nil {
		return err
	}
	opt := optimizer.Adam().LearningRate(3e-3).Done()
	step, err := model.NewExec(backend, store, func(scope *model.Scope, x, y *graph.Node) *graph.Node {
		g := x.Graph()
		store.SetTraining(g, true)
		logits := forward(scope.In("model"), x)
		l := loss.SparseCategoricalCrossEntropyLogits([]*graph.Node{y}, []*graph.Node{logits})
		train.AddMainLoss(l)
		opt.UpdateGraph(scope, g, train.TotalLoss(g))
		train.ExecPerStepUpdateGraphFn(g)
		return l
	})
	if err != nil {
		return err
	}
	rng := rand.New(rand.NewPCG(1, 2))
	const nb = 8
	xs := make([]*tensors.Tensor, nb)
	ys := make([]*tensors.Tensor, nb)
	for i := range nb {
		v := make([]float32, batch*seqLen*channels)
		for j := range v {
			v[j] = float32(rng.NormFloat64())
		}
		lb := make([]int32, batch)
		for j := range lb {
			lb[j] = int32(rng.IntN(classes))
		}
		xs[i] = tensors.FromFlatDataAndDimensions(v, batch, seqLen, channels)
		ys[i] = tensors.FromFlatDataAndDimensions(lb, batch, 1)
	}
	var profile io.Writer
	if cpuprofile != "" {
		f, err := os.Create(cpuprofile)
		if err != nil {
			return err
		}
		defer f.Close()
		profile = f
	}
	res, err := measure.TrainSteps(step, xs, ys, warmup, steps, profile)
	if err != nil {
		return err
	}
	el, cpu, last := res.Wall, res.CPU, res.Loss
	fmt.Printf("gomlx-%s model=%s threads=%d batch=%d steps=%d loss=%.4f step_ms=%.3f examples_per_s=%.1f examples_per_cpu_s=%.1f\n",
		backendName, name, runtime.GOMAXPROCS(0), batch, steps, last, el.Seconds()*1000/float64(steps),
		float64(steps*batch)/el.Seconds(), float64(steps*batch)/cpu.Seconds())
	return nil
}
