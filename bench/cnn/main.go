// Command cnn measures CNN training throughput (images/s) of GoMLX's pure-Go backend for
// the small network, conv3x3(16)-relu-maxpool2-conv3x3(32)-relu-maxpool2-dense(10),
// on 28x28x1 inputs, batch 64, Adam. -impl selects how convolution and pooling are built:
// "fastconv" (models/layers/fastconv: im2col + matmul, reshape pooling) or "convgeneral"
// (layers.Convolution + graph.MaxPool). run.sh runs it beside PyTorch and prints the ratio.
package main

import (
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"runtime"

	"github.com/gomlx/compute"
	_ "github.com/gomlx/compute/gobackend"
	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/layers"
	"github.com/gomlx/gomlx/ml/layers/activation"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/gomlx/gomlx/ml/train"
	"github.com/gomlx/gomlx/ml/train/loss"
	"github.com/gomlx/gomlx/ml/train/optimizer"

	"github.com/biopipe/biopipe/bench/internal/measure"
	"github.com/biopipe/biopipe/models/layers/fastconv"
)

var profileFile *os.File

func main() {
	impl := flag.String("impl", "fastconv", "fastconv or convgeneral")
	backendName := flag.String("backend", "go", `compute backend configuration, e.g. "go" or "go:ops_sequential"`)
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

func run(backendName, impl string, batch, steps, warmup int) error {
	if impl != "fastconv" && impl != "convgeneral" {
		return fmt.Errorf("-impl %q: want fastconv or convgeneral", impl)
	}
	backend, err := compute.NewWithConfig(backendName)
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
		logits := Net(scope.In("model"), x, impl)
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
	fmt.Printf("gomlx-go impl=%s threads=%d batch=%d steps=%d loss=%.4f step_ms=%.3f images_per_s=%.1f images_per_cpu_s=%.1f\n",
		impl, runtime.GOMAXPROCS(0), batch, steps, last, el.Seconds()*1000/float64(steps), float64(steps*batch)/el.Seconds(),
		float64(steps*batch)/cpu.Seconds())
	return nil
}
