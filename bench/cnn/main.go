// Command cnn measures CNN training throughput (images/s) of GoMLX's pure-Go backend for
// the small network, conv3x3(16)-relu-maxpool2-conv3x3(32)-relu-maxpool2-dense(10),
// on 28x28x1 inputs, batch 64, Adam. -impl selects how the network is built: "family" (the
// default: biopipe's models/cnn family from the registry, channels [16, 32], global_pool
// flatten, the code the train stage runs), "fastconv" (the same layers written directly with
// models/layers/fastconv: im2col + matmul, reshape pooling) or "convgeneral"
// (layers.Convolution + graph.MaxPool). run.sh runs it beside PyTorch and prints the ratio.
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
	"github.com/gomlx/gomlx/ml/layers/activation"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/gomlx/gomlx/ml/train"
	"github.com/gomlx/gomlx/ml/train/loss"
	"github.com/gomlx/gomlx/ml/train/optimizer"

	"github.com/biopipe/biopipe/bench/internal/measure"
	"github.com/biopipe/biopipe/models"
	_ "github.com/biopipe/biopipe/models/all"
	"github.com/biopipe/biopipe/models/layers/fastconv"
)

var profileFile *os.File

func main() {
	impl := flag.String("impl", "family", "family (models/cnn), fastconv or convgeneral")
	backendName := flag.String("backend", "go", `compute backend: "go", "go:ops_sequential", or xla:cuda / xla:cpu in a -tags xla build`)
	batch := flag.Int("batch", 64, "batch size")
	steps := flag.Int("steps", 100, "timed training steps")
	warmup := flag.Int("warmup", 5, "untimed warm-up steps (include graph compilation)")
	cpuprofile := flag.String("cpuprofile", "", "write a CPU profile of the timed steps to this file")
	flag.Parse()
	if *cpuprofile != "" {
		f, err := os.Create(*cpuprofile)
		if err != nil {
			fmt.Fprintln(os.Stderr, "bench/cnn:", err)
			os.Exit(1)
		}
		defer f.Close()
		profileFile = f
	}
	if err := run(*backendName, *impl, *batch, *steps, *warmup); err != nil {
		fmt.Fprintln(os.Stderr, "bench/cnn:", err)
		os.Exit(1)
	}
}

// Net builds the benchmark network's logits [batch, 10] from x [batch, 28, 28, 1].
func Net(scope *model.Scope, x *graph.Node, impl string) *graph.Node {
	conv := func(s *model.Scope, x *graph.Node, f int) *graph.Node {
		if impl == "fastconv" {
			return fastconv.New(s, x, f).KernelSize(3).PadSame().Done()
		}
		return layers.Convolution(s, x).Channels(f).KernelSize(3).PadSame().Done()
	}
	// relu then 2x2 max pool; fastconv fuses them as pool then relu (the same function,
	// since relu is monotonic) into one op with a one-mask gradient.
	reluPool := func(x *graph.Node) *graph.Node {
		if impl == "fastconv" {
			return fastconv.MaxPoolRelu(x, []int{2, 2}, fastconv.Config{})
		}
		return graph.MaxPool(activation.Relu(x)).Window(2).Done()
	}
	if impl == "fastconv" {
		// Channels-first between the layers: the Go backend's matmuls run faster in that
		// layout, and with one input channel ToChannelsFirst is a free reshape.
		h := fastconv.ToChannelsFirst(x)
		for i, f := range []int{16, 32} {
			h = fastconv.New(scope.In("c%d", i+1), h, f).ChannelsFirst().KernelSize(3).PadSame().Done()
			h = fastconv.PoolCF(h, fastconv.Max, []int{2, 2}, fastconv.Config{}, true)
		}
		h = fastconv.ToChannelsLast(h)
		h = graph.Reshape(h, h.Shape().Dimensions[0], -1)
		return layers.DenseWithBias(scope.In("out"), h, 10)
	}
	h := reluPool(conv(scope.In("c1"), x, 16))
	h = reluPool(conv(scope.In("c2"), h, 32))
	h = graph.Reshape(h, h.Shape().Dimensions[0], -1)
	return layers.DenseWithBias(scope.In("out"), h, 10)
}

// familyNet returns the logits function of biopipe's cnn family for the benchmark shape.
func familyNet() (func(*model.Scope, *graph.Node) *graph.Node, error) {
	fam, err := models.Get("cnn")
	if err != nil {
		return nil, err
	}
	params, err := fam.ResolveParams(map[string]any{"channels": []any{16, 32}, "kernel_size": 3, "pool": "max", "pool_size": 2, "global_pool": "flatten"})
	if err != nil {
		return nil, err
	}
	net, err := fam.Build(models.Spec{InputShape: []int{28, 28, 1}, Task: models.Classification, NumClasses: 10}, params)
	if err != nil {
		return nil, err
	}
	return func(scope *model.Scope, x *graph.Node) *graph.Node { return net.Forward(scope, x)[0] }, nil
}

func run(backendName, impl string, batch, steps, warmup int) error {
	var forward func(*model.Scope, *graph.Node) *graph.Node
	switch impl {
	case "family":
		f, err := familyNet()
		if err != nil {
			return err
		}
		forward = f
	case "fastconv", "convgeneral":
		forward = func(scope *model.Scope, x *graph.Node) *graph.Node { return Net(scope, x, impl) }
	default:
		return fmt.Errorf("-impl %q: want family, fastconv or convgeneral", impl)
	}
	backend, err := models.NewBackend(backendName)
	if err != nil {
		return err
	}
	store := model.NewStore()
	if err := store.SetRNGStateFromSeed(1); err != nil {
		return err
	}
	opt := optimizer.Adam().LearningRate(1e-3).Done()
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
	// A fixed pool of synthetic batches: throughput does not depend on pixel values.
	rng := rand.New(rand.NewPCG(1, 2))
	const nb = 8
	xs := make([]*tensors.Tensor, nb)
	ys := make([]*tensors.Tensor, nb)
	for i := range nb {
		px := make([]float32, batch*28*28)
		for j := range px {
			px[j] = rng.Float32()
		}
		lb := make([]int32, batch)
		for j := range lb {
			lb[j] = int32(rng.IntN(10))
		}
		xs[i] = tensors.FromFlatDataAndDimensions(px, batch, 28, 28, 1)
		ys[i] = tensors.FromFlatDataAndDimensions(lb, batch, 1)
	}
	var profile io.Writer
	if profileFile != nil {
		profile = profileFile
	}
	res, err := measure.TrainSteps(step, xs, ys, warmup, steps, profile)
	if err != nil {
		return err
	}
	el, cpu, last := res.Wall, res.CPU, res.Loss
	// images_per_cpu_s (images per second of process CPU time) is steadier than the wall
	// figure on a shared machine.
	fmt.Printf("gomlx-%s impl=%s threads=%d batch=%d steps=%d loss=%.4f step_ms=%.3f images_per_s=%.1f images_per_cpu_s=%.1f\n",
		backendName, impl, runtime.GOMAXPROCS(0), batch, steps, last, el.Seconds()*1000/float64(steps), float64(steps*batch)/el.Seconds(),
		float64(steps*batch)/cpu.Seconds())
	return nil
}
