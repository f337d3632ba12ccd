// Package cnn registers the "cnn" model family: a convolutional network for images
// [H, W, C], volumes [D, H, W, C] and sequences [T, C], for classification and regression.
//
// The network is a stack of blocks followed by a head. Block i has convs_per_block
// convolutions of channels[i] filters (kernel_size, "same" padding; the first conv of a
// block has the given stride), each followed by the normalization and the activation, then
// pooling (pool: max, avg or none; pool_size x pool_size windows, axes shorter than the
// window are left alone) and dropout. The head pools globally (global_pool: avg, max, or
// flatten to keep the spatial layout), then has dense hidden layers (hidden, each with the
// activation and dropout) and the output layer.
//
// Convolutions and pooling are built with models/layers/fastconv (im2col + one matmul,
// reshape-based pooling) on every input rank: the pure-Go backend runs these fast and
// differentiates them exactly, while graph.ConvGeneral is a slow direct loop there. For
// volumes ([D, H, W, C] input, 3-D kernels) the im2col buffer is prod(kernel) times the
// activation (27x for 3x3x3), so keep volumes small or use a GPU backend.
//
// Variables live under /model/block_<i>/conv_<j>/{weights,biases} (plus
// batch_normalization/ or layer_norm/), /model/hidden_<i>/ and /model/output/, so init_from
// can transfer the convolutional blocks between models of different heads.
package cnn

import (
	"fmt"

	"github.com/gomlx/compute/shapes"
	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/ml/layers"
	"github.com/gomlx/gomlx/ml/layers/norm"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/gomlx/gomlx/ml/model/initializer"

	"github.com/biopipe/biopipe/contract"
	"github.com/biopipe/biopipe/models"
	"github.com/biopipe/biopipe/models/layers/fastconv"
)

// Family is the registered family name.
const Family = "cnn"

// Hyper-parameter names. hidden, activation, dropout and normalization are shared with the
// mlp family (same types).
const (
	ParamChannels      = "channels"
	ParamKernelSize    = "kernel_size"
	ParamStride        = "stride"
	ParamConvsPerBlock = "convs_per_block"
	ParamPool          = "pool"
	ParamPoolSize      = "pool_size"
	ParamNormalization = "normalization"
	ParamActivation    = models.ParamActivation
	ParamDropout       = "dropout"
	ParamGlobalPool    = "global_pool"
	ParamHidden        = "hidden"
)

// Choices of the enumerated params.
var (
	Pools       = []string{"max", "avg", "none"}
	GlobalPools = []string{"avg", "max", "flatten"}
)

// Params are the family's hyper-parameters.
var Params = append([]contract.Field{
	{Name: ParamChannels, Type: contract.Ints, Default: []any{16, 32}, Min: contract.Bound(1),
		Doc: "output channels of each convolutional block, input to output (one block per entry)"},
	{Name: ParamKernelSize, Type: contract.Int, Default: 3, Min: contract.Bound(1),
		Doc: "convolution kernel size along every spatial axis (\"same\" padding)"},
	{Name: ParamStride, Type: contract.Int, Default: 1, Min: contract.Bound(1),
		Doc: "stride of the first convolution of each block"},
	{Name: ParamConvsPerBlock, Type: contract.Int, Default: 1, Min: contract.Bound(1),
		Doc: "convolutions per block (each followed by normalization and activation)"},
	{Name: ParamPool, Type: contract.String, Default: "max", Enum: Pools,
		Doc: "pooling at the end of each block: max, avg or none"},
	{Name: ParamPoolSize, Type: contract.Int, Default: 2, Min: contract.Bound(1),
		Doc: "pooling window and stride along every spatial axis (axes shorter than it are not pooled)"},
	{Name: ParamNormalization, Type: contract.String, Default: "none", Enum: models.Normalizations,
		Doc: "normalization after each convolution (and hidden dense layer): none, batch or layer (per example over all positions and channels)"},
	{Name: ParamDropout, Type: contract.Float, Default: 0.0, Min: contract.Bound(0), Max: contract.Bound(0.95),
		Doc: "dropout rate after each block and hidden dense layer (training only)"},
	{Name: ParamGlobalPool, Type: contract.String, Default: "avg", Enum: GlobalPools,
		Doc: "how the last block's feature map becomes a vector: avg or max over all positions, or flatten"},
	{Name: ParamHidden, Type: contract.Ints, Default: []any{}, Min: contract.Bound(1),
		Doc: "hidden dense layer widths of the head, after global pooling; [] goes straight to the output"},
}, models.ActivationFields("relu", "activation after each convolution and hidden dense layer", false)...)

func init() {
	models.Register(&models.Family{
		Name: Family,
		// freeze: [encoder] freezes the convolutional blocks; the dense head trains.
		Encoder:  []string{"block_"},
		Doc:      "convolutional network for images [H,W,C], volumes [D,H,W,C] and sequences [T,C] (tensor inputs)",
		Params:   Params,
		Build:    Build,
		Features: Features,
	})
}

// config is the validated hyper-parameters.
type config struct {
	channels      []int
	kernel        int
	stride        int
	convs         int
	pool          string
	poolSize      int
	normalization string
	act           models.Activation
	dropout       float64
	globalPool    string
	hidden        []int
}

// Build returns the CNN network for the spec and params.
func Build(spec models.Spec, p contract.Config) (*models.Network, error) {
	if spec.Task != models.Classification && spec.Task != models.Regression {
		return nil, fmt.Errorf("cnn: unsupported task %q (classification or regression)", spec.Task)
	}
	c, err := newConfig(spec, p)
	if err != nil {
		return nil, err
	}
	outDim := spec.OutputDim()
	forward := func(scope *model.Scope, x *graph.Node) []*graph.Node {
		features := c.features(scope, x)
		return []*graph.Node{layers.DenseWithBias(scope.In("output"), features, outDim), features}
	}
	name := "prediction"
	if spec.Task == models.Classification {
		name = "probabilities"
	}
	net := &models.Network{Forward: forward, OutputNames: []string{name, OutFeatures}}
	if c.globalPool == "flatten" {
		net.Flatten, net.FlattenInto = OutputShape(spec.InputShape, p), "output"
		if len(c.hidden) > 0 {
			net.FlattenInto = "hidden_0"
		}
	}
	return net, nil
}

// Features returns the CNN without its output layer: blocks, global pooling and hidden
// layers, [B, F] (F: the last hidden width, else the last block's channels, or the flattened
// feature map with global_pool flatten). Variables are named as in Build's network.
func Features(spec models.Spec, p contract.Config) (models.FeatureFunc, error) {
	c, err := newConfig(spec, p)
	if err != nil {
		return nil, err
	}
	return c.features, nil
}

// newConfig checks the input shape and reads the params.
func newConfig(spec models.Spec, p contract.Config) (*config, error) {
	if r := len(spec.InputShape); r < 2 || r > 4 {
		return nil, fmt.Errorf("cnn: input shape %v: want a tensor column shaped [T, C], [H, W, C] or [D, H, W, C] "+
			"(build one from numeric columns with transform.tensor)", spec.InputShape)
	}
	for _, d := range spec.InputShape {
		if d < 1 {
			return nil, fmt.Errorf("cnn: input shape %v has an empty axis", spec.InputShape)
		}
	}
	c := config{
		channels:      p.Ints(ParamChannels),
		kernel:        p.Int(ParamKernelSize),
		stride:        p.Int(ParamStride),
		convs:         p.Int(ParamConvsPerBlock),
		pool:          p.String(ParamPool),
		poolSize:      p.Int(ParamPoolSize),
		normalization: p.String(ParamNormalization),
		act:           models.ActivationOf(p),
		dropout:       p.Float(ParamDropout),
		globalPool:    p.String(ParamGlobalPool),
		hidden:        p.Ints(ParamHidden),
	}
	if len(c.channels) == 0 {
		return nil, fmt.Errorf("cnn: %s: give at least one block", ParamChannels)
	}
	return &c, nil
}

// OutFeatures names the extra output: the penultimate features [B, F] (the input of the
// output layer, after global pooling and the hidden layers), e.g. for a Fréchet distance
// between real and generated images on this classifier.
const OutFeatures = "features"

// OutputShape returns the per-example shape of the last block's feature map for an input
// of the given per-example shape [spatial..., C] (before global pooling).
func OutputShape(input []int, p contract.Config) []int {
	sp := append([]int{}, input[:len(input)-1]...)
	stride, poolSize := p.Int(ParamStride), p.Int(ParamPoolSize)
	channels := p.Ints(ParamChannels)
	for range channels {
		for a := range sp {
			sp[a] = (sp[a] + stride - 1) / stride // same padding: ceil(n / stride)
			if p.String(ParamPool) != "none" && sp[a] >= poolSize {
				sp[a] /= poolSize
			}
		}
	}
	return append(sp, channels[len(channels)-1])
}

// features runs the blocks, the global pooling and the hidden layers: [B, F].
func (c *config) features(scope *model.Scope, x *graph.Node) *graph.Node {
	// The blocks run channels-first, [C, B, spatial...]: fastconv's ConvCF layout, whose
	// matmuls the Go backend runs faster. Variables keep the channels-last layout.
	h := fastconv.ToChannelsFirst(x)
	for i, ch := range c.channels {
		bs := scope.In("block_%d", i)
		for j := 0; j < c.convs; j++ {
			cs := bs.In("conv_%d", j)
			b := fastconv.New(cs, h, ch).ChannelsFirst().KernelSize(c.kernel).PadSame().CurrentScope()
			if j == 0 && c.stride > 1 {
				b = b.Strides(c.stride)
			}
			h = b.Done()
			h = c.normalize(cs, h)
			last := j == c.convs-1
			if last && c.pool == "max" && c.act.IsRelu() && !allOnes(c.window(h)) {
				// Relu commutes with max-pooling: pool first, activate the 1/prod(window) survivors.
				h = fastconv.PoolCF(h, fastconv.Max, c.window(h), fastconv.Config{}, true)
				continue
			}
			h = c.activate(h)
			if last {
				h = c.poolBlock(h)
			}
		}
		h = layers.DropoutStatic(bs, h, c.dropout)
	}
	b := h.Shape().Dimensions[1]
	switch c.globalPool {
	case "avg":
		h = graph.TransposeAllAxes(graph.ReduceMean(h, spatialAxesCF(h)...), 1, 0)
	case "max":
		h = graph.TransposeAllAxes(graph.ReduceMax(h, spatialAxesCF(h)...), 1, 0)
	default:
		// Channels-last order, so the dense weights match the features' [spatial..., C] layout.
		h = fastconv.ToChannelsLast(h)
		h = graph.Reshape(h, b, h.Shape().Size()/b)
	}
	for i, width := range c.hidden {
		ls := scope.In("hidden_%d", i)
		h = layers.DenseWithBias(ls, h, width)
		switch c.normalization {
		case "batch":
			h = batchNorm(ls, h, -1)
		case "layer":
			h = norm.LayerNorm(ls, h, -1).Done()
		}
		h = c.activate(h)
		h = layers.DropoutStatic(ls, h, c.dropout)
	}
	return h
}

// spatialAxesCF are the spatial axes of a channels-first h [C, B, spatial...].
func spatialAxesCF(h *graph.Node) []int {
	axes := make([]int, h.Rank()-2)
	for i := range axes {
		axes[i] = i + 2
	}
	return axes
}

// window is the pooling window of h [C, B, spatial...]: pool_size on each axis long enough.
func (c *config) window(h *graph.Node) []int {
	dims := h.Shape().Dimensions
	w := make([]int, len(dims)-2)
	for a := range w {
		w[a] = 1
		if dims[a+2] >= c.poolSize {
			w[a] = c.poolSize
		}
	}
	return w
}

func (c *config) poolBlock(h *graph.Node) *graph.Node {
	w := c.window(h)
	if c.pool == "none" || allOnes(w) {
		return h
	}
	kind := fastconv.Max
	if c.pool == "avg" {
		kind = fastconv.Mean
	}
	return fastconv.PoolCF(h, kind, w, fastconv.Config{}, false)
}

func (c *config) activate(h *graph.Node) *graph.Node {
	if c.act.IsRelu() {
		return fastconv.Relu(h)
	}
	return c.act.Apply(h)
}

// normalize applies the block normalization to a conv output h [C, B, spatial...].
func (c *config) normalize(scope *model.Scope, h *graph.Node) *graph.Node {
	switch c.normalization {
	case "batch":
		return batchNorm(scope, h, 0)
	case "layer":
		return layerNorm(scope.In("layer_norm"), h)
	}
	return h
}

// batchNormMomentum weighs the running mean/variance used at inference: 0.9 (PyTorch's
// momentum 0.1) follows the weights of a short training run; GoMLX's 0.99 averages over
// ~100 steps, longer than many small biomedical runs, and its inference statistics then lag.
const batchNormMomentum = 0.9

// batchNorm normalizes h per feature with batch statistics over the batch and all
// positions, in the direct formulation (the Go backend has no BatchNormForInference).
// The features are axis 0 of a channels-first conv output [C, B, spatial...] and the last
// axis of a dense layer's [B, width].
func batchNorm(scope *model.Scope, h *graph.Node, featureAxis int) *graph.Node {
	return norm.BatchNorm(scope, h, featureAxis).Momentum(batchNormMomentum).UseBackendInference(false).Done()
}

// layerNorm normalizes each example of a channels-first h [C, B, spatial...] over all its
// positions and channels, with a learned per-channel gain and offset (GroupNorm with one
// group).
func layerNorm(scope *model.Scope, h *graph.Node) *graph.Node {
	g := h.Graph()
	axes := append([]int{0}, spatialAxesCF(h)...)
	ch := h.Shape().Dimensions[0]
	mean := graph.ReduceAndKeep(h, graph.ReduceMean, axes...)
	centred := graph.Sub(h, mean)
	variance := graph.ReduceAndKeep(graph.Square(centred), graph.ReduceMean, axes...)
	normed := graph.Div(centred, graph.Sqrt(graph.AddScalar(variance, 1e-5))) // Rsqrt has no gradient
	vs := shapes.Make(h.DType(), ch)
	bcast := make([]int, h.Rank())
	for i := range bcast {
		bcast[i] = 1
	}
	bcast[0] = ch
	gain := graph.Reshape(scope.WithInitializer(initializer.One).VariableWithShape("gain", vs).NodeValue(g), bcast...)
	offset := graph.Reshape(scope.WithInitializer(initializer.Zero).VariableWithShape("offset", vs).NodeValue(g), bcast...)
	return graph.Add(graph.Mul(normed, gain), offset)
}

func allOnes(w []int) bool {
	for _, v := range w {
		if v != 1 {
			return false
		}
	}
	return true
}
