package seq_test

import (
	"fmt"
	"math"
	"math/rand/v2"
	"sort"
	"strings"
	"testing"

	"github.com/gomlx/compute/shapes"
	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/layers"
	"github.com/gomlx/gomlx/ml/layers/norm"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/gomlx/gomlx/ml/model/initializer"
	"github.com/stretchr/testify/require"

	"github.com/biopipe/biopipe/models"
	"github.com/biopipe/biopipe/models/internal/seq"
	"github.com/biopipe/biopipe/models/layers/fastconv"
)

// The channels-last implementation of ConvBlock that the channels-first one replaced, kept
// as the reference: channels-last fastconv convolutions and pooling, autodiff layer norm.

func refApply(c seq.ConvBlock, scope *model.Scope, h *graph.Node) *graph.Node {
	in := h
	convs := max(c.Convs, 1)
	for j := range convs {
		cs := scope.In("conv_%d", j)
		b := fastconv.New(cs, h, c.Channels).KernelSize(c.KernelSize).PadSame().CurrentScope()
		if j == 0 && c.Stride > 1 {
			b = b.Strides(c.Stride)
		}
		if c.Dilation > 1 {
			b = b.Dilations(c.Dilation)
		}
		h = b.Done()
		h = refNormalize(cs, c.Normalization, h)
		last := j == convs-1
		if last && !c.Residual && c.Pool == "max" && c.Activation.IsRelu() &&
			c.PoolSize > 1 && h.Shape().Dimensions[1] >= c.PoolSize {
			h = fastconv.MaxPoolRelu(h, []int{c.PoolSize}, fastconv.Config{})
			return layers.DropoutStatic(scope, h, c.Dropout)
		}
		h = seq.Activate(c.Activation, h)
	}
	if c.Residual {
		res := in
		if in.Shape().Dimensions[2] != c.Channels || c.Stride > 1 {
			b := fastconv.New(scope.In("residual"), in, c.Channels).KernelSize(1).CurrentScope()
			if c.Stride > 1 {
				b = b.Strides(c.Stride)
			}
			res = b.Done()
		}
		h = graph.Add(h, res)
	}
	h = refPool(h, c.Pool, c.PoolSize)
	return layers.DropoutStatic(scope, h, c.Dropout)
}

func refNormalize(scope *model.Scope, kind string, h *graph.Node) *graph.Node {
	switch kind {
	case "batch":
		return norm.BatchNorm(scope, h, -1).UseBackendInference(false).Done()
	case "layer":
		return refLayerNorm(scope.In("layer_norm"), h)
	}
	return h
}

func refLayerNorm(scope *model.Scope, h *graph.Node) *graph.Node {
	g := h.Graph()
	axes := make([]int, h.Rank()-1)
	for i := range axes {
		axes[i] = i + 1
	}
	ch := h.Shape().Dimensions[h.Rank()-1]
	mean := graph.ReduceAndKeep(h, graph.ReduceMean, axes...)
	centred := graph.Sub(h, mean)
	variance := graph.ReduceAndKeep(graph.Square(centred), graph.ReduceMean, axes...)
	normed := graph.Div(centred, graph.Sqrt(graph.AddScalar(variance, 1e-5)))
	vs := shapes.Make(h.DType(), ch)
	bcast := make([]int, h.Rank())
	for i := range bcast {
		bcast[i] = 1
	}
	bcast[h.Rank()-1] = ch
	gain := graph.Reshape(scope.WithInitializer(initializer.One).VariableWithShape("gain", vs).NodeValue(g), bcast...)
	offset := graph.Reshape(scope.WithInitializer(initializer.Zero).VariableWithShape("offset", vs).NodeValue(g), bcast...)
	return graph.Add(graph.Mul(normed, gain), offset)
}

func refPool(h *graph.Node, kind string, size int) *graph.Node {
	if kind == "none" || size <= 1 || h.Shape().Dimensions[1] < size {
		return h
	}
	k := fastconv.Max
	if kind == "avg" {
		k = fastconv.Mean
	}
	return fastconv.Pool(h, k, []int{size}, fastconv.Config{})
}

// TestConvBlockMatchesChannelsLast builds each block both ways on the same variables (random
// values, so gains and offsets are not the trivial 1 and 0) and compares the outputs and the
// gradients of a weighted sum of them with respect to the input and every variable.
func TestConvBlockMatchesChannelsLast(t *testing.T) {
	backend, err := models.NewBackend("")
	require.NoError(t, err)
	relu := models.Activation{Name: models.ActRelu}
	tanh := models.Activation{Name: models.ActTanh}
	cases := []struct {
		block        seq.ConvBlock
		batch, steps int
		channels     int
		training     bool
	}{
		{seq.ConvBlock{Channels: 5, KernelSize: 7, Normalization: "layer", Activation: relu, Pool: "max", PoolSize: 4}, 3, 37, 4, true},
		{seq.ConvBlock{Channels: 3, KernelSize: 4, Stride: 3, Dilation: 2, Normalization: "layer", Activation: tanh, Pool: "avg", PoolSize: 2}, 2, 31, 2, true},
		{seq.ConvBlock{Channels: 2, KernelSize: 3, Stride: 2, Residual: true, Normalization: "layer", Activation: relu, Pool: "none", PoolSize: 2}, 4, 9, 3, true},
		{seq.ConvBlock{Channels: 4, KernelSize: 2, Convs: 2, Normalization: "batch", Activation: relu, Pool: "max", PoolSize: 3}, 3, 20, 1, true},
		{seq.ConvBlock{Channels: 4, KernelSize: 5, Convs: 2, Residual: true, Normalization: "none", Activation: relu, Pool: "max", PoolSize: 5}, 2, 23, 4, false},
		{seq.ConvBlock{Channels: 6, KernelSize: 1, Normalization: "layer", Activation: relu, Pool: "max", PoolSize: 8}, 1, 5, 2, true}, // shorter than the pool
		{seq.ConvBlock{Channels: 3, KernelSize: 3, Dilation: 3, Normalization: "layer", Activation: relu, Pool: "max", PoolSize: 2}, 5, 16, 3, true},
	}
	for ci, c := range cases {
		t.Run(fmt.Sprintf("%d %+v", ci, c.block), func(t *testing.T) {
			store := model.NewStore()
			require.NoError(t, store.SetRNGStateFromSeed(int64(ci+1)))
			rng := rand.New(rand.NewPCG(uint64(ci), 3))
			var names []string
			exec, err := model.NewExec(backend, store, func(scope *model.Scope, x *graph.Node) []*graph.Node {
				g := x.Graph()
				store.SetTraining(g, c.training)
				want := refApply(c.block, scope.In("b"), x)
				got := c.block.Apply(scope.Shared("b"), x)
				w := graph.Const(g, randTensor(rng, want.Shape().Dimensions...))
				lossWant := graph.ReduceAllSum(graph.Mul(want, w))
				lossGot := graph.ReduceAllSum(graph.Mul(got, w))
				var vars []*model.Variable
				for v := range store.IterVariables() {
					if v.Trainable && !strings.HasPrefix(v.Path(), "/#") {
						vars = append(vars, v)
					}
				}
				sort.Slice(vars, func(i, j int) bool { return vars[i].Path() < vars[j].Path() })
				wrt := []*graph.Node{x}
				names = []string{"x"}
				for _, v := range vars {
					wrt = append(wrt, v.NodeValue(g))
					names = append(names, v.Path())
				}
				outs := []*graph.Node{want, got}
				outs = append(outs, graph.Gradient(lossWant, wrt...)...)
				return append(outs, graph.Gradient(lossGot, wrt...)...)
			})
			require.NoError(t, err)
			// Random gains and offsets (and kernels, from the initializer).
			x := randTensor(rng, c.batch, c.steps, c.channels)
			_, err = exec.Call(x) // creates the variables
			require.NoError(t, err)
			for v := range store.IterVariables() {
				if strings.Contains(v.Path(), "layer_norm") || strings.HasSuffix(v.Path(), "/scale") || strings.HasSuffix(v.Path(), "/offset") {
					require.NoError(t, v.SetValue(randTensor(rng, v.Shape().Dimensions...)))
				}
			}
			outs, err := exec.Call(x)
			require.NoError(t, err)
			requireClose(t, "output", outs[0], outs[1], 1e-5)
			n := len(names)
			require.Len(t, outs, 2+2*n)
			for i, name := range names {
				requireClose(t, "gradient of "+name, outs[2+i], outs[2+n+i], 1e-4)
			}
		})
	}
}

// randTensor returns a tensor of the given dimensions with values in [-1, 1).
func randTensor(rng *rand.Rand, dims ...int) *tensors.Tensor {
	n := 1
	for _, d := range dims {
		n *= d
	}
	v := make([]float32, n)
	for i := range v {
		v[i] = 2*rng.Float32() - 1
	}
	return tensors.FromFlatDataAndDimensions(v, dims...)
}

// requireClose checks |got-want| <= tol*(1+|want|) element-wise.
func requireClose(t *testing.T, what string, want, got *tensors.Tensor, tol float64) {
	t.Helper()
	require.Equal(t, want.Shape().Dimensions, got.Shape().Dimensions, "%s: shape", what)
	w, g := tensors.MustCopyFlatData[float32](want), tensors.MustCopyFlatData[float32](got)
	worst, at := 0.0, -1
	for i := range w {
		d := math.Abs(float64(w[i]-g[i])) / (1 + math.Abs(float64(w[i])))
		if d > worst {
			worst, at = d, i
		}
	}
	if worst > tol {
		t.Fatalf("%s: element %d differs: want %g, got %g (relative error %.3g > %.3g)", what, at, w[at], g[at], worst, tol)
	}
}
