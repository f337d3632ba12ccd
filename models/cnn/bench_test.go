package cnn_test

import (
	"math/rand/v2"
	"syscall"
	"testing"
	"time"

	"github.com/gomlx/compute"
	_ "github.com/gomlx/compute/gobackend"
	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/layers"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/gomlx/gomlx/ml/train"
	"github.com/gomlx/gomlx/ml/train/loss"
	"github.com/gomlx/gomlx/ml/train/optimizer"

	"github.com/biopipe/biopipe/models"
	"github.com/biopipe/biopipe/models/cnn"
	"github.com/biopipe/biopipe/models/layers/fastconv"
)

// BenchmarkTrainStep times one Adam step of the benchmark network,
// conv3x3(16)-relu-maxpool2-conv3x3(32)-relu-maxpool2-dense(10) on 64 28x28x1 images, on the
// Go backend, built several ways in one run: "fastconv" by hand, channels-first (as bench/cnn
// does) and "fastconv-channels-last" (the previous layout), "cnn" by
// this family (channels [16, 32], global_pool flatten: the same network), and the family
// with batch or layer normalization, to show what the family and its norm layers cost.
// Reported: images/s and images per CPU-second (robust to a loaded machine).
//
//	GOEXPERIMENT=simd go test -run - -bench TrainStep ./models/cnn/
func BenchmarkTrainStep(b *testing.B) {
	backend, err := compute.NewWithConfig("go")
	if err != nil {
		b.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	px := make([]float32, 64*28*28)
	for i := range px {
		px[i] = rng.Float32()
	}
	lb := make([]int32, 64)
	for i := range lb {
		lb[i] = int32(rng.IntN(10))
	}
	x := tensors.FromFlatDataAndDimensions(px, 64, 28, 28, 1)
	y := tensors.FromFlatDataAndDimensions(lb, 64, 1)
	fam, err := models.Get(cnn.Family)
	if err != nil {
		b.Fatal(err)
	}
	spec := models.Spec{InputShape: []int{28, 28, 1}, Task: models.Classification, NumClasses: 10}
	family := func(norm string) func(s *model.Scope, x *graph.Node) *graph.Node {
		p, err := fam.ResolveParams(map[string]any{"channels": []any{16, 32}, "global_pool": "flatten", "normalization": norm})
		if err != nil {
			b.Fatal(err)
		}
		net, err := cnn.Build(spec, p)
		if err != nil {
			b.Fatal(err)
		}
		return func(s *model.Scope, x *graph.Node) *graph.Node { return net.Forward(s, x)[0] }
	}
	impls := []struct {
		name string
		net  func(s *model.Scope, x *graph.Node) *graph.Node
	}{
		{"fastconv", func(s *model.Scope, x *graph.Node) *graph.Node {
			h := fastconv.ToChannelsFirst(x)
			h = fastconv.PoolCF(fastconv.New(s.In("c1"), h, 16).ChannelsFirst().KernelSize(3).PadSame().Done(), fastconv.Max, []int{2, 2}, fastconv.Config{}, true)
			h = fastconv.PoolCF(fastconv.New(s.In("c2"), h, 32).ChannelsFirst().KernelSize(3).PadSame().Done(), fastconv.Max, []int{2, 2}, fastconv.Config{}, true)
			return layers.DenseWithBias(s.In("out"), graph.Reshape(fastconv.ToChannelsLast(h), 64, -1), 10)
		}},
		{"fastconv-channels-last", func(s *model.Scope, x *graph.Node) *graph.Node {
			h := fastconv.MaxPoolRelu(fastconv.New(s.In("c1"), x, 16).KernelSize(3).PadSame().Done(), []int{2, 2}, fastconv.Config{})
			h = fastconv.MaxPoolRelu(fastconv.New(s.In("c2"), h, 32).KernelSize(3).PadSame().Done(), []int{2, 2}, fastconv.Config{})
			return layers.DenseWithBias(s.In("out"), graph.Reshape(h, 64, -1), 10)
		}},
		{"cnn", family("none")},
		{"cnn-batchnorm", family("batch")},
		{"cnn-layernorm", family("layer")},
	}
	for _, impl := range impls {
		b.Run(impl.name, func(b *testing.B) {
			store := model.NewStore()
			if err := store.SetRNGStateFromSeed(1); err != nil {
				b.Fatal(err)
			}
			opt := optimizer.Adam().LearningRate(1e-3).Done()
			step, err := model.NewExec(backend, store, func(s *model.Scope, x, y *graph.Node) *graph.Node {
				g := x.Graph()
				store.SetTraining(g, true)
				l := loss.SparseCategoricalCrossEntropyLogits([]*graph.Node{y}, []*graph.Node{impl.net(s.In("model"), x)})
				train.AddMainLoss(l)
				opt.UpdateGraph(s, g, train.TotalLoss(g))
				train.ExecPerStepUpdateGraphFn(g)
				return l
			})
			if err != nil {
				b.Fatal(err)
			}
			call := func() {
				out, err := step.Call(x, y)
				if err != nil {
					b.Fatal(err)
				}
				_ = out[0].FinalizeAll()
			}
			call() // compile
			call()
			cpu0 := cpuTime()
			b.ResetTimer()
			for range b.N {
				call()
			}
			b.StopTimer()
			b.ReportMetric(float64(64*b.N)/b.Elapsed().Seconds(), "images/s")
			if cpu := (cpuTime() - cpu0).Seconds(); cpu > 0 {
				b.ReportMetric(float64(64*b.N)/cpu, "images/cpu-s")
			}
		})
	}
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
