package fastconv

import (
	"math/rand/v2"
	"sort"
	"strings"
	"testing"

	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/layers"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/gomlx/gomlx/ml/train"
	"github.com/gomlx/gomlx/ml/train/loss"
	"github.com/gomlx/gomlx/ml/train/optimizer"
	"github.com/stretchr/testify/require"
)

func TestBuilderVariables(t *testing.T) {
	backend := goBackend(t)
	cases := []struct {
		name  string
		x     []int
		build func(s *model.Scope, x *graph.Node) *graph.Node
		vars  map[string][]int
		out   []int
	}{
		{"2d same", []int{2, 8, 8, 3}, func(s *model.Scope, x *graph.Node) *graph.Node {
			return New(s.In("c"), x, 5).KernelSize(3).PadSame().Done()
		}, map[string][]int{"/c/conv/weights": {3, 3, 3, 5}, "/c/conv/biases": {5}}, []int{2, 8, 8, 5}},
		{"2d stride 2 valid no bias", []int{2, 9, 9, 1}, func(s *model.Scope, x *graph.Node) *graph.Node {
			return New(s.In("c"), x, 4).KernelSizePerAxis(3, 2).Strides(2).UseBias(false).Done()
		}, map[string][]int{"/c/conv/weights": {3, 2, 1, 4}}, []int{2, 4, 4, 4}},
		{"1d dilated current scope", []int{2, 30, 2}, func(s *model.Scope, x *graph.Node) *graph.Node {
			return New(s.In("t"), x, 6).KernelSize(5).Dilations(2).Padding(Same).CurrentScope().Done()
		}, map[string][]int{"/t/weights": {5, 2, 6}, "/t/biases": {6}}, []int{2, 30, 6}},
		{"3d", []int{1, 4, 6, 6, 2}, func(s *model.Scope, x *graph.Node) *graph.Node {
			return New(s.In("v"), x, 3).KernelSize(3).PadSame().Done()
		}, map[string][]int{"/v/conv/weights": {3, 3, 3, 2, 3}, "/v/conv/biases": {3}}, []int{1, 4, 6, 6, 3}},
		{"2d channels-first", []int{3, 2, 8, 8}, func(s *model.Scope, x *graph.Node) *graph.Node {
			return New(s.In("c"), x, 5).ChannelsFirst().KernelSize(3).Strides(2).PadSame().Done()
		}, map[string][]int{"/c/conv/weights": {3, 3, 3, 5}, "/c/conv/biases": {5}}, []int{5, 2, 4, 4}},
		{"2d channels-first upsampled (UpConvCF)", []int{3, 2, 4, 5}, func(s *model.Scope, x *graph.Node) *graph.Node {
			return New(s.In("u"), x, 4).ChannelsFirst().UpsampledBy2().KernelSize(3).PadSame().CurrentScope().Done()
		}, map[string][]int{"/u/weights": {3, 3, 3, 4}, "/u/biases": {4}}, []int{4, 2, 8, 10}},
		{"2d channels-last upsampled valid (upsample first)", []int{2, 4, 4, 3}, func(s *model.Scope, x *graph.Node) *graph.Node {
			return New(s.In("u"), x, 5).UpsampledBy2().KernelSize(3).Done()
		}, map[string][]int{"/u/conv/weights": {3, 3, 3, 5}, "/u/conv/biases": {5}}, []int{2, 6, 6, 5}},
	}
	for ci, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			store := model.NewStore()
			require.NoError(t, store.SetRNGStateFromSeed(1))
			e, err := model.NewExec(backend, store, func(s *model.Scope, x *graph.Node) *graph.Node { return tc.build(s, x) })
			require.NoError(t, err)
			out, err := e.Call(randTensor(rand.New(rand.NewPCG(uint64(ci), 0)), tc.x...))
			require.NoError(t, err)
			require.Equal(t, tc.out, out[0].Shape().Dimensions)
			got := map[string][]int{}
			for v := range store.IterVariables() {
				if !strings.HasPrefix(v.Path(), "/#") { // skip the store's RNG state
					got[v.Path()] = v.Shape().Dimensions
				}
			}
			require.Equal(t, tc.vars, got)
		})
	}
}

func TestBuilderErrors(t *testing.T) {
	backend := goBackend(t)
	for _, tc := range []struct {
		name string
		fn   func(s *model.Scope, g *graph.Graph)
		msg  string
	}{
		{"no kernel", func(s *model.Scope, g *graph.Graph) { New(s, graph.Zeros(g, shapesOf(2, 4, 4, 1)), 3).Done() }, "KernelSize must be set"},
		{"filters", func(s *model.Scope, g *graph.Graph) { New(s, graph.Zeros(g, shapesOf(2, 4, 4, 1)), 0) }, "filters must be >= 1"},
		{"kernel axes", func(s *model.Scope, g *graph.Graph) {
			New(s, graph.Zeros(g, shapesOf(2, 4, 4, 1)), 2).KernelSizePerAxis(3)
		}, "1 kernel sizes"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e, err := model.NewExec(backend, model.NewStore(), func(s *model.Scope, x *graph.Node) *graph.Node {
				tc.fn(s, x.Graph())
				return x
			})
			if err == nil { // graphs are built on the first call
				_, err = e.Call(tensors.FromScalar(float32(0)))
			}
			require.Error(t, err)
			require.Contains(t, err.Error(), tc.msg)
		})
	}
}

// TestTrainsLikeConvolution trains the same small CNN twice from the same initial weights,
// once with fastconv and once with layers.Convolution + graph.MaxPool, and checks that the
// loss curves agree: the gradients (hence every Adam step) are the same up to rounding.
func TestTrainsLikeConvolution(t *testing.T) {
	backend := goBackend(t)
	rng := rand.New(rand.NewPCG(11, 12))
	x := randTensor(rng, 16, 8, 8, 1)
	lb := make([]int32, 16)
	for i := range lb {
		lb[i] = int32(rng.IntN(3))
	}
	y := tensors.FromFlatDataAndDimensions(lb, 16, 1)
	run := func(fast bool) []float32 {
		store := model.NewStore()
		require.NoError(t, store.SetRNGStateFromSeed(3))
		opt := optimizer.Adam().LearningRate(0.01).Done()
		step, err := model.NewExec(backend, store, func(s *model.Scope, x, y *graph.Node) *graph.Node {
			g := x.Graph()
			store.SetTraining(g, true)
			var h *graph.Node
			if fast {
				h = New(s.In("c1"), x, 4).KernelSize(3).PadSame().Done()
				h = MaxPoolRelu(h, []int{2, 2}, Config{})
			} else {
				h = layers.Convolution(s.In("c1"), x).Channels(4).KernelSize(3).PadSame().Done()
				h = graph.MaxPool(Relu(h)).Window(2).Done()
			}
			logits := layers.DenseWithBias(s.In("out"), graph.Reshape(h, 16, -1), 3)
			l := loss.SparseCategoricalCrossEntropyLogits([]*graph.Node{y}, []*graph.Node{logits})
			train.AddMainLoss(l)
			opt.UpdateGraph(s, g, train.TotalLoss(g))
			train.ExecPerStepUpdateGraphFn(g)
			return l
		})
		require.NoError(t, err)
		var losses []float32
		for range 15 {
			out, err := step.Call(x, y)
			require.NoError(t, err)
			losses = append(losses, flat(t, out[0])[0])
		}
		names := []string{}
		for v := range store.IterVariables() {
			names = append(names, v.Path())
		}
		sort.Strings(names)
		require.Contains(t, names, "/c1/conv/weights")
		return losses
	}
	fast, ref := run(true), run(false)
	require.Less(t, fast[len(fast)-1], fast[0], "training must reduce the loss")
	require.InDeltaSlice(t, ref, fast, 1e-4)
}
