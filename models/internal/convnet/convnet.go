// Package convnet holds the convolutional building blocks the generative families share
// (conv autoencoders, GAN, diffusion): channels-first fastconv convolutions, pooling
// down and upsample+conv up, per-example channel biases for conditioning, sinusoidal
// step embeddings, and the spatial plan of an encoder/decoder pair.
//
// Activations are channels-first, [C, B, spatial...] (fastconv's fast layout); images
// [B, H, W, C] and volumes [B, D, H, W, C] are converted once at each end.
package convnet

import (
	"fmt"
	"math"
	"slices"

	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/ml/layers/activation"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/gomlx/gomlx/ml/model/initializer"

	"github.com/biopipe/biopipe/models/layers/fastconv"
)

// CheckImageShape checks a per-example input shape is an image [H, W, C] or a volume
// [D, H, W, C].
func CheckImageShape(family string, shape []int) error {
	if r := len(shape); r != 3 && r != 4 {
		return fmt.Errorf("%s: input shape %v: want an image [H, W, C] or a volume [D, H, W, C] (build one with transform.tensor)", family, shape)
	}
	for _, d := range shape {
		if d < 1 {
			return fmt.Errorf("%s: input shape %v has an empty axis", family, shape)
		}
	}
	return nil
}

// Plan returns the spatial size at each level of an encoder with the given number of
// 2x downsamplings: level 0 is the input's; an axis shorter than 2 is not pooled.
func Plan(spatial []int, levels int) [][]int {
	out := [][]int{slices.Clone(spatial)}
	for range levels {
		prev := out[len(out)-1]
		next := make([]int, len(prev))
		for a, n := range prev {
			next[a] = n
			if n >= 2 {
				next[a] = n / 2
			}
		}
		out = append(out, next)
	}
	return out
}

// Conv is a "same" convolution of h [C, B, spatial...] with filters outputs and a bias,
// its variables directly in scope (weights, biases).
func Conv(scope *model.Scope, h *graph.Node, filters, kernel int) *graph.Node {
	return fastconv.New(scope, h, filters).ChannelsFirst().KernelSize(kernel).PadSame().CurrentScope().Done()
}

// Act applies the activation ("leaky_relu" is LeakyReLU with slope 0.2, the DCGAN one).
func Act(h *graph.Node, name string) *graph.Node {
	switch name {
	case "relu":
		return fastconv.Relu(h)
	case "leaky_relu":
		return activation.LeakyReluWith(h, 0.2)
	}
	return activation.Apply(activation.FromName(name), h)
}

// Down halves every spatial axis of h [C, B, spatial...] that is at least 2 long by
// average pooling.
func Down(h *graph.Node) *graph.Node {
	dims := h.Shape().Dimensions[2:]
	w := make([]int, len(dims))
	pool := false
	for a, n := range dims {
		w[a] = 1
		if n >= 2 {
			w[a], pool = 2, true
		}
	}
	if !pool {
		return h
	}
	return fastconv.PoolCF(h, fastconv.Mean, w, fastconv.Config{}, false)
}

// Up doubles (at most triples) the spatial axes of h [C, B, spatial...] by nearest-neighbour upsampling and
// crops to target (the size the matching encoder level had; an odd size was floored on
// the way down).
func Up(h *graph.Node, target []int) *graph.Node {
	dims := h.Shape().Dimensions
	f := make([]int, len(target))
	crop := false
	for a, n := range target {
		f[a] = (n + dims[a+2] - 1) / dims[a+2] // 2, or 3 above a floored odd size of 1
		if dims[a+2]*f[a] != n {
			crop = true
		}
	}
	h = fastconv.UpsampleCF(h, f...)
	if !crop {
		return h
	}
	spec := []graph.SliceAxisSpec{graph.AxisRange(), graph.AxisRange()}
	for _, n := range target {
		spec = append(spec, graph.AxisRange(0, n))
	}
	return graph.Slice(h, spec...)
}

// UpConv is Conv(scope, Up(h, target), filters, kernel): the decoder's upsample + "same"
// convolution, with its variables directly in scope. When every axis doubles exactly it
// runs as fastconv.UpConvCF (the convolution computed per output phase on h itself, never
// building the upsampled tensor: 4/9 of the multiply-adds for a 3x3 kernel).
func UpConv(scope *model.Scope, h *graph.Node, target []int, filters, kernel int) *graph.Node {
	dims := h.Shape().Dimensions
	for a, n := range target {
		if n != 2*dims[a+2] {
			return Conv(scope, Up(h, target), filters, kernel)
		}
	}
	return fastconv.New(scope, h, filters).ChannelsFirst().UpsampledBy2().KernelSize(kernel).PadSame().CurrentScope().Done()
}

// ChannelBias adds v [B, C] to h [C, B, spatial...]: a per-example, per-channel bias (how a
// step embedding or a class embedding conditions a conv block).
func ChannelBias(h, v *graph.Node) *graph.Node {
	dims := h.Shape().Dimensions
	shape := []int{dims[0], dims[1]}
	for range dims[2:] {
		shape = append(shape, 1)
	}
	return graph.Add(h, graph.Reshape(graph.TransposeAllAxes(v, 1, 0), shape...))
}

// Flatten turns h [C, B, spatial...] into [B, prod(spatial)*C] in channels-last order.
func Flatten(h *graph.Node) *graph.Node {
	h = fastconv.ToChannelsLast(h)
	b := h.Shape().Dimensions[0]
	return graph.Reshape(h, b, h.Shape().Size()/b)
}

// Unflatten turns v [B, prod(spatial)*C] (channels-last order) into [C, B, spatial...].
func Unflatten(v *graph.Node, spatial []int, channels int) *graph.Node {
	b := v.Shape().Dimensions[0]
	return fastconv.ToChannelsFirst(graph.Reshape(v, append(append([]int{b}, spatial...), channels)...))
}

// StepEmbedding is the sinusoidal embedding of integer steps t [B] (int32) of width dim
// (even), as in the Transformer and DDPM: sin and cos of t / 10000^(2i/dim).
func StepEmbedding(t *graph.Node, dim int) *graph.Node {
	g := t.Graph()
	half := dim / 2
	freqs := make([]float32, half)
	for i := range freqs {
		freqs[i] = float32(math.Exp(-math.Log(10000) * float64(i) / float64(max(half-1, 1))))
	}
	tf := graph.Reshape(graph.ConvertDType(t, dtypes.Float32), -1, 1)
	arg := graph.Mul(tf, graph.Reshape(graph.Const(g, freqs), 1, half))
	return graph.Concatenate([]*graph.Node{graph.Sin(arg), graph.Cos(arg)}, -1)
}

// OneHot is the float32 one-hot encoding [B, depth] of class indices labels [B] or [B, 1].
func OneHot(labels *graph.Node, depth int) *graph.Node {
	b := labels.Shape().Dimensions[0]
	return graph.OneHot(graph.Reshape(labels, b), depth, dtypes.Float32)
}

// ToCF converts x [B, spatial..., C] to channels-first [C, B, spatial...].
func ToCF(x *graph.Node) *graph.Node { return fastconv.ToChannelsFirst(x) }

// ToCL converts h [C, B, spatial...] to channels-last [B, spatial..., C].
func ToCL(h *graph.Node) *graph.Node { return fastconv.ToChannelsLast(h) }

// Normalize applies a family's "normalization" choice to a conv output h [C, B, spatial...]:
// "batch" (BatchNormCF), "layer" (per example over all positions and channels, with a
// learned per-channel gain and offset: GroupNorm with one group), or "none".
func Normalize(scope *model.Scope, h *graph.Node, kind string) *graph.Node {
	switch kind {
	case "batch":
		return BatchNormCF(scope, h)
	case "layer":
		return layerNormCF(scope.In("layer_norm"), h)
	}
	return h
}

func layerNormCF(scope *model.Scope, h *graph.Node) *graph.Node {
	g := h.Graph()
	axes := []int{0}
	for a := 2; a < h.Rank(); a++ {
		axes = append(axes, a)
	}
	ch := h.Shape().Dimensions[0]
	mean := graph.ReduceAndKeep(h, graph.ReduceMean, axes...)
	centred := graph.Sub(h, mean)
	variance := graph.ReduceAndKeep(graph.Square(centred), graph.ReduceMean, axes...)
	normed := graph.Div(centred, graph.Sqrt(graph.AddScalar(variance, 1e-5))) // Rsqrt has no gradient on the Go backend
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

// BatchNormMomentum weighs the running mean and variance used at inference (PyTorch's
// momentum 0.1): short biomedical runs have few steps, and a longer average lags the weights.
const BatchNormMomentum = 0.9

// BatchNormCF is batch normalization of a channels-first h [C, B, spatial...] per channel,
// over the batch and all positions, with a learned scale and offset (Ioffe & Szegedy 2015).
// Training graphs (scope.IsTraining) normalise with the batch statistics and differentiate
// through them, as the method defines and PyTorch does (GoMLX v0.28's norm.BatchNorm stops
// the gradient at the batch mean and variance, which on a U-Net let the feature means
// drift until the running statistics no longer matched: validation loss in the 100s); they
// also update the running mean and variance (debiased average, BatchNormMomentum), which
// inference graphs use. The variables are norm.BatchNorm's: batch_normalization/{scale,
// offset, mean, variance, avg_weight}.
func BatchNormCF(scope *model.Scope, h *graph.Node) *graph.Node {
	g := h.Graph()
	scope = scope.In("batch_normalization")
	ch := h.Shape().Dimensions[0]
	vs := shapes.Make(h.DType(), ch)
	scale := scope.WithInitializer(initializer.One).VariableWithShape("scale", vs)
	offset := scope.WithInitializer(initializer.Zero).VariableWithShape("offset", vs)
	meanVar := scope.WithInitializer(initializer.Zero).VariableWithShape("mean", vs).SetTrainable(false)
	varianceVar := scope.WithInitializer(initializer.One).VariableWithShape("variance", vs).SetTrainable(false)
	weightVar := scope.WithInitializer(initializer.Zero).VariableWithShape("avg_weight", vs).SetTrainable(false)
	bcast := make([]int, h.Rank())
	axes := make([]int, 0, h.Rank()-1)
	for i := range bcast {
		bcast[i] = 1
		if i > 0 {
			axes = append(axes, i)
		}
	}
	bcast[0] = ch
	var mean, variance *graph.Node
	if scope.IsTraining(g) {
		mean = graph.ReduceAndKeep(h, graph.ReduceMean, axes...)
		variance = graph.ReduceAndKeep(graph.Square(graph.Sub(h, mean)), graph.ReduceMean, axes...)
		w := graph.OnePlus(weightVar.NodeValue(g))
		weightVar.SetNodeValue(w)
		m := graph.Min(graph.Scalar(g, h.DType(), BatchNormMomentum), graph.OneMinus(graph.Reciprocal(w)))
		update := func(v *model.Variable, batch *graph.Node) {
			v.SetNodeValue(graph.Add(graph.Mul(m, v.NodeValue(g)), graph.Mul(graph.OneMinus(m), graph.StopGradient(graph.Reshape(batch, ch)))))
		}
		update(meanVar, mean)
		update(varianceVar, variance)
	} else {
		mean = graph.Reshape(meanVar.NodeValue(g), bcast...)
		variance = graph.Reshape(varianceVar.NodeValue(g), bcast...)
	}
	normed := graph.Div(graph.Sub(h, mean), graph.Sqrt(graph.AddScalar(variance, 1e-3)))
	return graph.Add(graph.Mul(normed, graph.Reshape(scale.NodeValue(g), bcast...)), graph.Reshape(offset.NodeValue(g), bcast...))
}
