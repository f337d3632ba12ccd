// Package seq holds the building blocks that the sequence model families (cnn1d, lstm,
// transformer) share: input checks for [T, C] sequences, temporal convolution blocks built
// on models/layers/fastconv, per-example layer normalization and the dense head.
package seq

import (
	"fmt"

	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/ml/layers"
	"github.com/gomlx/gomlx/ml/layers/norm"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/gomlx/gomlx/ml/model/initializer"

	"github.com/biopipe/biopipe/models"
	"github.com/biopipe/biopipe/models/layers/fastconv"
)

// CheckSpec checks that spec describes a classification or regression task on sequences
// [T, C] (or [T], one channel) and returns T and C. family names the caller in errors.
func CheckSpec(family string, spec models.Spec) (steps, channels int, err error) {
	if spec.Task != models.Classification && spec.Task != models.Regression {
		return 0, 0, fmt.Errorf("%s: unsupported task %q (classification or regression)", family, spec.Task)
	}
	switch len(spec.InputShape) {
	case 1:
		steps, channels = spec.InputShape[0], 1
	case 2:
		steps, channels = spec.InputShape[0], spec.InputShape[1]
	default:
		return 0, 0, fmt.Errorf("%s: input shape %v: want a sequence tensor column shaped [T, C] (time, channels) or [T] "+
			"(transform.epoch writes [samples, channels]; build one from numeric columns with transform.tensor)", family, spec.InputShape)
	}
	if steps < 1 || channels < 1 {
		return 0, 0, fmt.Errorf("%s: input shape %v has an empty axis", family, spec.InputShape)
	}
	return steps, channels, nil
}

// AsSequence reshapes a batch x [B, T] to [B, T, 1]; [B, T, C] is returned as is.
func AsSequence(x *graph.Node) *graph.Node {
	if x.Rank() == 2 {
		d := x.Shape().Dimensions
		return graph.Reshape(x, d[0], d[1], 1)
	}
	return x
}

// OutputName is the name of the main output for the task.
func OutputName(t models.Task) string {
	if t == models.Classification {
		return "probabilities"
	}
	return "prediction"
}

// Activate applies the activation (relu through fastconv.Relu, whose gradient is one Where).
func Activate(act models.Activation, h *graph.Node) *graph.Node {
	if act.IsRelu() {
		return fastconv.Relu(h)
	}
	return act.Apply(h)
}

// FeatureNorm normalizes h [..., C] over its last axis (LayerNorm per position), with a
// learned gain and offset.
func FeatureNorm(scope *model.Scope, h *graph.Node) *graph.Node {
	g := h.Graph()
	ch := h.Shape().Dimensions[h.Rank()-1]
	mean := graph.ReduceAndKeep(h, graph.ReduceMean, -1)
	centred := graph.Sub(h, mean)
	variance := graph.ReduceAndKeep(graph.Square(centred), graph.ReduceMean, -1)
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

// PooledLength is the length of a sequence of n steps after PoolCF with this window.
func PooledLength(n int, kind string, size int) int {
	if kind == "none" || size <= 1 || n < size {
		return n
	}
	return n / size
}

// ConvBlock is a temporal convolution block: Convs convolutions of Channels filters
// (KernelSize, Dilation, "same" padding; the first with Stride), each followed by the
// normalization and the activation; with Residual, the block's input (through a 1x1
// convolution with the same stride when the shape changes) is added to its output; then
// pooling (Pool, PoolSize) and dropout.
//
// Blocks run channels-first ([C, B, T], fastconv's fast layout: ConvCF, PoolCF with the
// fused relu, LayerNormCF); ApplyBlocks converts a [B, T, C] sequence once at each end. The
// variables are those of the channels-last layout (conv kernel [k, C, F], per-channel norm
// parameters), so checkpoints of either layout load into the other. Families convert a
// [B, T, C] batch once (fastconv.ToChannelsFirst) and run ApplyBlocks.
type ConvBlock struct {
	Channels, KernelSize, Stride, Dilation, Convs int
	Normalization                                 string
	Activation                                    models.Activation
	Residual                                      bool
	Pool                                          string
	PoolSize                                      int
	Dropout                                       float64
}

// ApplyBlocks runs blocks on the channels-first sequence h [C, B, T] (fastconv.ToChannelsFirst
// of a [B, T, C] batch), block i's variables in scope.In(prefix, i) (e.g.
// "block_%d"), and returns [C', B, T'].
func ApplyBlocks(scope *model.Scope, prefix string, blocks []ConvBlock, h *graph.Node) *graph.Node {
	for i, b := range blocks {
		h = b.ApplyCF(scope.In(prefix, i), h)
	}
	return h
}

// Apply builds the block on h [B, T, C] in scope (variables under conv_<j>/ and residual/)
// and returns [B, T', C']: ApplyCF between two transposes.
func (c ConvBlock) Apply(scope *model.Scope, h *graph.Node) *graph.Node {
	return fastconv.ToChannelsLast(c.ApplyCF(scope, fastconv.ToChannelsFirst(h)))
}

// ApplyCF builds the block on channels-first h [C, B, T] in scope (variables under conv_<j>/
// and residual/) and returns [C', B, T'].
func (c ConvBlock) ApplyCF(scope *model.Scope, h *graph.Node) *graph.Node {
	in := h
	convs := max(c.Convs, 1)
	for j := range convs {
		cs := scope.In("conv_%d", j)
		b := fastconv.New(cs, h, c.Channels).ChannelsFirst().KernelSize(c.KernelSize).PadSame().CurrentScope()
		if j == 0 && c.Stride > 1 {
			b = b.Strides(c.Stride)
		}
		if c.Dilation > 1 {
			b = b.Dilations(c.Dilation)
		}
		h = b.Done()
		h = NormalizeCF(cs, c.Normalization, h)
		last := j == convs-1
		if last && !c.Residual && c.Pool == "max" && c.Activation.IsRelu() &&
			c.PoolSize > 1 && h.Shape().Dimensions[2] >= c.PoolSize {
			// Relu commutes with max pooling: pool first, activate the survivors (one op).
			h = fastconv.PoolCF(h, fastconv.Max, []int{c.PoolSize}, fastconv.Config{}, true)
			return layers.DropoutStatic(scope, h, c.Dropout)
		}
		h = Activate(c.Activation, h)
	}
	if c.Residual {
		res := in
		if in.Shape().Dimensions[0] != c.Channels || c.Stride > 1 {
			b := fastconv.New(scope.In("residual"), in, c.Channels).ChannelsFirst().KernelSize(1).CurrentScope()
			if c.Stride > 1 {
				b = b.Strides(c.Stride)
			}
			res = b.Done()
		}
		h = graph.Add(h, res)
	}
	h = PoolCF(h, c.Pool, c.PoolSize)
	return layers.DropoutStatic(scope, h, c.Dropout)
}

// NormalizeCF normalizes channels-first h [C, B, T]: "batch" (per channel over batch
// and time), "layer" (per example over time and channels, fastconv.LayerNormCF) or "none".
// Variables: batch norm's in scope; layer_norm/{gain, offset} [C].
func NormalizeCF(scope *model.Scope, kind string, h *graph.Node) *graph.Node {
	switch kind {
	case "batch":
		return norm.BatchNorm(scope, h, 0).UseBackendInference(false).Done()
	case "layer":
		gain, offset := normParams(scope.In("layer_norm"), h.Graph(), h.DType(), h.Shape().Dimensions[0])
		return fastconv.LayerNormCF(h, gain, offset, 1e-5)
	}
	return h
}

// normParams returns LayerNorm's per-channel gain (initially 1) and offset (0), [ch].
func normParams(scope *model.Scope, g *graph.Graph, dtype dtypes.DType, ch int) (gain, offset *graph.Node) {
	vs := shapes.Make(dtype, ch)
	gain = scope.WithInitializer(initializer.One).VariableWithShape("gain", vs).NodeValue(g)
	offset = scope.WithInitializer(initializer.Zero).VariableWithShape("offset", vs).NodeValue(g)
	return gain, offset
}

// PoolCF pools channels-first h [C, B, T] in time with non-overlapping windows of size (kind
// "max", "avg" or "none"); a sequence shorter than the window, or size 1, is left alone.
func PoolCF(h *graph.Node, kind string, size int) *graph.Node {
	if kind == "none" || size <= 1 || h.Shape().Dimensions[2] < size {
		return h
	}
	k := fastconv.Max
	if kind == "avg" {
		k = fastconv.Mean
	}
	return fastconv.PoolCF(h, k, []int{size}, fastconv.Config{}, false)
}

// OutLength is the sequence length after the block for an input of n steps.
func (c ConvBlock) OutLength(n int) int {
	if c.Stride > 1 {
		n = (n + c.Stride - 1) / c.Stride
	}
	return PooledLength(n, c.Pool, c.PoolSize)
}

// Head builds the dense head on features h [B, F]: hidden layers (scope hidden_<i>, each
// with the activation and dropout) and the output layer (scope output) of outDim units.
func Head(scope *model.Scope, h *graph.Node, hidden []int, act models.Activation, dropout float64, outDim int) *graph.Node {
	for i, width := range hidden {
		ls := scope.In("hidden_%d", i)
		h = layers.DenseWithBias(ls, h, width)
		h = Activate(act, h)
		h = layers.DropoutStatic(ls, h, dropout)
	}
	return layers.DenseWithBias(scope.In("output"), h, outDim)
}
