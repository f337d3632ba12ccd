package fastconv

import (
	"math/rand/v2"
	"testing"

	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/layers"
	"github.com/gomlx/gomlx/ml/layers/activation"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/gomlx/gomlx/ml/train"
	"github.com/gomlx/gomlx/ml/train/loss"
	"github.com/gomlx/gomlx/ml/train/optimizer"
)

// BenchmarkTrainStep times one Adam training step of the CNN,
// conv3x3(16)-relu-maxpool2-conv3x3(32)-relu-maxpool2-dense(10) on 64 28x28x1 images,
// built with fastconv and with layers.Convolution + graph.MaxPool (ConvGeneral), on the Go
// backend. Run with GOEXPERIMENT=simd:
//
//	GOEXPERIMENT=simd go test -run - -bench TrainStep ./models/layers/fastconv/
//
// bench/cnn/run.sh compares the same step with PyTorch.
func BenchmarkTrainStep(b *testing.B) {
	backend := goBackend(b)
	rng := rand.New(rand.NewPCG(1, 2))
	x := randTensor(rng, 64, 28, 28, 1)
	lb := make([]int32, 64)
	for i := range lb {
		lb[i] = int32(rng.IntN(10))
	}
	y := tensors.FromFlatDataAndDimensions(lb, 64, 1)
	for _, impl := range []string{"fastconv", "convgeneral"} {
		b.Run(impl, func(b *testing.B) {
			store := model.NewStore()
			if err := store.SetRNGStateFromSeed(1); err != nil {
				b.Fatal(err)
			}
			opt := optimizer.Adam().LearningRate(1e-3).Done()
			step, err := model.NewExec(backend, store, func(s *model.Scope, x, y *graph.Node) *graph.Node {
				g := x.Graph()
				store.SetTraining(g, true)
				h := x
				for i, f := range []int{16, 32} {
					sc := s.In("c%d", i)
					if impl == "fastconv" {
						h = MaxPoolRelu(New(sc, h, f).KernelSize(3).PadSame().Done(), []int{2, 2}, Config{})
					} else {
						h = layers.Convolution(sc, h).Channels(f).KernelSize(3).PadSame().Done()
						h = graph.MaxPool(activation.Relu(h)).Window(2).Done()
					}
				}
				logits := layers.DenseWithBias(s.In("out"), graph.Reshape(h, 64, -1), 10)
				l := loss.SparseCategoricalCrossEntropyLogits([]*graph.Node{y}, []*graph.Node{logits})
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
			b.ResetTimer()
			for range b.N {
				call()
			}
			b.ReportMetric(float64(64*b.N)/b.Elapsed().Seconds(), "images/s")
		})
	}
}
