// Package lstm registers the "lstm" model family: a (stacked, optionally bidirectional)
// LSTM over sequences [T, C], with an optional temporal-convolution front end that shortens
// the sequence first, for classification and regression.
//
// The network: optional average pooling of the input in time by downsample; optional front
// end blocks (channels: one temporal convolution of kernel_size per entry, normalization,
// activation, max pooling by pool_size); layers stacked LSTM layers of units units each
// (bidirectional: a forward and a backward pass whose outputs are concatenated), with
// dropout between layers; the readout (last: the final state of each direction; mean: the
// mean output over time); the dense head (hidden, activation, dropout) and the output layer.
//
// GoMLX has no loop construct, so an LSTM is unrolled: its graph grows with the number of
// steps. The unrolled cell here is kept small so that the pure-Go backend runs it fast
// (bench/seq: ~4.7x the training throughput of GoMLX's ml/layers/lstm on 32 steps): each step is one matmul of
// [x_t, h] by the stacked input and recurrent weights, batched over both directions, one
// sigmoid over the i, f, o gates, one tanh and the state update; the matmul's gradients are
// given explicitly in the layout the Go backend multiplies fast (autodiff's transposed
// layouts ran 10-20x slower there); and the sequence is handled as a list of per-step nodes,
// since slicing step t out of a [T, ...] tensor has a full-size zero-padded gradient per step.
// The equations are those of ml/layers/lstm, against which the layer is tested.
// Keep the sequence the LSTM sees to a few dozen to a few hundred steps with downsample or the
// front end; long raw signals are the cnn1d family's job.
//
// Variables: /model/downsample has none; /model/front_<i>/conv_0/ (front end),
// /model/lstm_<l>/{input_weights [D, F, 4H], recurrent_weights [D, H, 4H], biases [D, 4H]}
// with D directions and gates in the order i, f, o, g (forget-gate biases start at 1),
// /model/hidden_<i>/ and /model/output/.
package lstm

import (
	"fmt"
	"math"

	"github.com/gomlx/compute/shapes"
	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/ml/layers"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/gomlx/gomlx/ml/model/initializer"
	"github.com/gomlx/gomlx/support/exceptions"

	"github.com/biopipe/biopipe/contract"
	"github.com/biopipe/biopipe/models"
	"github.com/biopipe/biopipe/models/internal/seq"
	"github.com/biopipe/biopipe/models/layers/fastconv"
)

// Family is the registered family name.
const Family = "lstm"

// MaxSteps is the longest sequence (after downsample and the front end) that Build accepts:
// the graph is unrolled one cell per step.
const MaxSteps = 2048

// Hyper-parameter names. channels, kernel_size, pool_size, normalization, activation,
// dropout and hidden are shared with the cnn and cnn1d families (same types).
const (
	ParamUnits         = "units"
	ParamLayers        = "layers"
	ParamBidirectional = "bidirectional"
	ParamReadout       = "readout"
	ParamDownsample    = "downsample"
	ParamChannels      = "channels"
	ParamKernelSize    = "kernel_size"
	ParamPoolSize      = "pool_size"
	ParamNormalization = "normalization"
	ParamActivation    = models.ParamActivation
	ParamDropout       = "dropout"
	ParamHidden        = "hidden"
)

// Choices of the enumerated params.
var (
	Readouts = []string{"last", "mean"}
)

// Params are the family's hyper-parameters.
var Params = append([]contract.Field{
	{Name: ParamUnits, Type: contract.Int, Default: 32, Min: contract.Bound(1),
		Doc: "hidden units (state size) of each LSTM layer, per direction"},
	{Name: ParamLayers, Type: contract.Int, Default: 1, Min: contract.Bound(1),
		Doc: "stacked LSTM layers"},
	{Name: ParamBidirectional, Type: contract.Bool, Default: false,
		Doc: "run each layer forward and backward in time and concatenate the two"},
	{Name: ParamReadout, Type: contract.String, Default: "last", Enum: Readouts,
		Doc: "what the head sees: last (final state of each direction) or mean (mean output over time)"},
	{Name: ParamDownsample, Type: contract.Int, Default: 1, Min: contract.Bound(1),
		Doc: "average the input over non-overlapping windows of this many samples first (shortens the sequence)"},
	{Name: ParamChannels, Type: contract.Ints, Default: []any{}, Min: contract.Bound(1),
		Doc: "convolutional front end: output channels of each temporal conv block (conv, normalization, activation, max pooling by pool_size); [] feeds the LSTM directly"},
	{Name: ParamKernelSize, Type: contract.Int, Default: 5, Min: contract.Bound(1),
		Doc: "front end convolution kernel size in samples (\"same\" padding)"},
	{Name: ParamPoolSize, Type: contract.Int, Default: 2, Min: contract.Bound(1),
		Doc: "front end max pooling window and stride in samples"},
	{Name: ParamNormalization, Type: contract.String, Default: "layer", Enum: models.Normalizations,
		Doc: "normalization after each front end convolution: none, batch or layer"},
	{Name: ParamDropout, Type: contract.Float, Default: 0.0, Min: contract.Bound(0), Max: contract.Bound(0.95),
		Doc: "dropout rate between LSTM layers, on the readout and after hidden dense layers (training only)"},
	{Name: ParamHidden, Type: contract.Ints, Default: []any{}, Min: contract.Bound(1),
		Doc: "hidden dense layer widths of the head; [] goes straight to the output"},
}, models.ActivationFields("relu", "activation of the front end convolutions and hidden dense layers", false)...)

func init() {
	models.Register(&models.Family{
		Name:   Family,
		Doc:    "LSTM for sequences [T,C]: stacked, bidirectional, optional conv front end to shorten T",
		Params: Params,
		Build:  Build,
	})
}

type config struct {
	units, layers int
	directions    int
	readout       string
	downsample    int
	front         []seq.ConvBlock
	act           models.Activation
	dropout       float64
	hidden        []int
}

func newConfig(p contract.Config) config {
	c := config{
		units: p.Int(ParamUnits), layers: p.Int(ParamLayers), directions: 1,
		readout: p.String(ParamReadout), downsample: p.Int(ParamDownsample),
		act: models.ActivationOf(p), dropout: p.Float(ParamDropout),
		hidden: p.Ints(ParamHidden),
	}
	if p.Bool(ParamBidirectional) {
		c.directions = 2
	}
	for _, ch := range p.Ints(ParamChannels) {
		c.front = append(c.front, seq.ConvBlock{
			Channels: ch, KernelSize: p.Int(ParamKernelSize), Convs: 1,
			Normalization: p.String(ParamNormalization), Activation: c.act,
			Pool: "max", PoolSize: p.Int(ParamPoolSize),
		})
	}
	return c
}

// Steps is the number of steps the LSTM runs for an input of steps samples: after
// downsample and the front end's pooling.
func Steps(steps int, p contract.Config) int {
	c := newConfig(p)
	return c.steps(steps)
}

func (c config) steps(n int) int {
	n = seq.PooledLength(n, "avg", c.downsample)
	for _, b := range c.front {
		n = b.OutLength(n)
	}
	return n
}

// Build returns the network for the spec and params.
func Build(spec models.Spec, p contract.Config) (*models.Network, error) {
	steps, _, err := seq.CheckSpec(Family, spec)
	if err != nil {
		return nil, err
	}
	c := newConfig(p)
	if n := c.steps(steps); n > MaxSteps {
		return nil, fmt.Errorf("lstm: the LSTM would run %d steps (input %d samples, %s %d, %d front end blocks); at most %d: "+
			"shorten the sequence with %s or a front end (%s, %s), or use the cnn1d family",
			n, steps, ParamDownsample, c.downsample, len(c.front), MaxSteps, ParamDownsample, ParamChannels, ParamPoolSize)
	}
	outDim := spec.OutputDim()
	forward := func(scope *model.Scope, x *graph.Node) []*graph.Node {
		return []*graph.Node{c.forward(scope, x, outDim)}
	}
	return &models.Network{Forward: forward, OutputNames: []string{seq.OutputName(spec.Task)}}, nil
}

func (c config) forward(scope *model.Scope, x *graph.Node, outDim int) *graph.Node {
	h := seq.AsSequence(x)
	if len(c.front) > 0 || c.downsample > 1 {
		hcf := seq.PoolCF(fastconv.ToChannelsFirst(h), "avg", c.downsample)
		h = fastconv.ToChannelsLast(seq.ApplyBlocks(scope, "front_%d", c.front, hcf))
	}
	// The LSTM works on a list of per-step [B, F] inputs: slicing a step out of a [T, B, F]
	// tensor costs a full-size zero-padded gradient per step (O(T²) work), a list does not.
	steps := splitTime(h)
	var last *graph.Node
	for l := range c.layers {
		ls := scope.In("lstm_%d", l)
		if l > 0 && c.dropout > 0 {
			for t := range steps {
				steps[t] = layers.DropoutStatic(ls, steps[t], c.dropout)
			}
		}
		steps, last = layerSteps(ls, steps, c.units, c.directions == 2)
	}
	feat := last
	if c.readout == "mean" {
		feat = graph.ReduceMean(graph.Stack(steps, 0), 0)
	}
	feat = layers.DropoutStatic(scope.In("readout"), feat, c.dropout)
	return seq.Head(scope, feat, c.hidden, c.act, c.dropout, outDim)
}

// splitTime returns the steps of h [B, T, F] as T nodes [B, F].
func splitTime(h *graph.Node) []*graph.Node {
	dims := h.Shape().Dimensions
	out := make([]*graph.Node, dims[1])
	for t := range out {
		out[t] = graph.Reshape(graph.Slice(h, graph.AxisRange(), graph.AxisElem(t)), dims[0], dims[2])
	}
	return out
}

// Layer creates one LSTM layer's variables in scope (input_weights [D, F, 4H],
// recurrent_weights [D, H, 4H], biases [D, 4H]; uniform(±1/sqrt(H)) weights, zero biases
// but 1 for the forget gate) and applies it to the time-major sequence x [T, B, F]; see
// Apply for the outputs.
func Layer(scope *model.Scope, x *graph.Node, units int, bidirectional bool) (outputs, last *graph.Node) {
	steps := make([]*graph.Node, x.Shape().Dimensions[0])
	for t := range steps {
		steps[t] = graph.Reshape(graph.Slice(x, graph.AxisElem(t)), x.Shape().Dimensions[1:]...)
	}
	outs, last := layerSteps(scope, steps, units, bidirectional)
	return graph.Stack(outs, 0), last
}

// layerSteps is Layer on a list of per-step inputs [B, F]; it returns per-step outputs
// [B, D*H] and the last state [B, D*H].
func layerSteps(scope *model.Scope, steps []*graph.Node, units int, bidirectional bool) (outputs []*graph.Node, last *graph.Node) {
	g := steps[0].Graph()
	d := 1
	if bidirectional {
		d = 2
	}
	f := steps[0].Shape().Dimensions[1]
	dtype := steps[0].DType()
	limit := 1 / math.Sqrt(float64(units))
	ws := scope.WithInitializer(initializer.RandomUniformFn(scope, -limit, limit))
	wi := ws.VariableWithShape("input_weights", shapes.Make(dtype, d, f, 4*units)).NodeValue(g)
	wr := ws.VariableWithShape("recurrent_weights", shapes.Make(dtype, d, units, 4*units)).NodeValue(g)
	b := scope.WithInitializer(forgetBias(units)).VariableWithShape("biases", shapes.Make(dtype, d, 4*units)).NodeValue(g)
	return applySteps(steps, wi, wr, b, fastMatmul)
}

// forgetBias initializes biases [D, 4H] to 0, with 1 for the forget gate (the second H).
func forgetBias(units int) initializer.VariableInitializer {
	return func(g *graph.Graph, shape shapes.Shape) *graph.Node {
		gate := graph.Iota(g, shapes.Make(shape.DType, shape.Dimensions...), shape.Rank()-1) // column index
		lo := graph.GreaterOrEqual(gate, graph.Scalar(g, shape.DType, units))
		hi := graph.LessThan(gate, graph.Scalar(g, shape.DType, 2*units))
		return graph.ConvertDType(graph.LogicalAnd(lo, hi), shape.DType)
	}
}

// Apply runs an LSTM layer with the given weights over the time-major sequence x [T, B, F]:
// wi [D, F, 4H], wr [D, H, 4H], b [D, 4H] for D = 1 (forward) or 2 (forward and backward)
// directions, gates in the order input, forget, output, cell candidate:
//
//	z = x_t·Wi + h·Wr + b;  i, f, o = σ(z_i), σ(z_f), σ(z_o);  g = tanh(z_g)
//	c' = f⊙c + i⊙g;  h' = o⊙tanh(c')
//
// from zero initial states. outputs is [T, B, D*H] (at each time, the forward state, then
// the backward state at that same time); last is [B, D*H], the final state of each
// direction (the backward direction's final state is at time 0).
func Apply(x, wi, wr, b *graph.Node) (outputs, last *graph.Node) {
	return apply(x, wi, wr, b, fastMatmul)
}

func apply(x, wi, wr, b *graph.Node, matmul matmulFn) (outputs, last *graph.Node) {
	dims := x.Shape().Dimensions
	steps := make([]*graph.Node, dims[0])
	for t := range steps {
		steps[t] = graph.Reshape(graph.Slice(x, graph.AxisElem(t)), dims[1], dims[2])
	}
	outs, last := applySteps(steps, wi, wr, b, matmul)
	return graph.Stack(outs, 0), last
}

// applySteps runs the layer on per-step inputs [B, F]. Each step is one matmul of
// [x_t, h] [D, B, F+H] by the stacked weights [D, F+H, 4H] (both directions batched; the
// backward direction reads x_{T-1-t}), the bias, one sigmoid over the i, f, o gates, one
// tanh over the candidate, and the state update.
func applySteps(xs []*graph.Node, wi, wr, b *graph.Node, matmul matmulFn) (outputs []*graph.Node, last *graph.Node) {
	steps := len(xs)
	batch, feat := xs[0].Shape().Dimensions[0], xs[0].Shape().Dimensions[1]
	d := wi.Shape().Dimensions[0]
	units := wr.Shape().Dimensions[1]
	if wi.Shape().Dimensions[1] != feat || wi.Shape().Dimensions[2] != 4*units {
		exceptions.Panicf("lstm: input weights %s do not match steps %s and %d units", wi.Shape(), xs[0].Shape(), units)
	}
	w := graph.Concatenate([]*graph.Node{wi, wr}, 1) // [D, F+H, 4H]
	bias := graph.Reshape(b, d, 1, 4*units)
	input := func(t int) *graph.Node {
		if d == 1 {
			return graph.Reshape(xs[t], 1, batch, feat)
		}
		return graph.Stack([]*graph.Node{xs[t], xs[steps-1-t]}, 0)
	}
	var h, c *graph.Node
	hs := make([]*graph.Node, steps)
	for t := range steps {
		var z *graph.Node
		if h == nil {
			z = matmul(input(t), wi)
		} else {
			z = matmul(graph.Concatenate([]*graph.Node{input(t), h}, 2), w)
		}
		z = graph.Add(z, bias)
		s := graph.Sigmoid(graph.Slice(z, graph.AxisRange(), graph.AxisRange(), graph.AxisRange(0, 3*units)))
		cand := graph.Tanh(graph.Slice(z, graph.AxisRange(), graph.AxisRange(), graph.AxisRange(3*units, 4*units)))
		gate := func(k int) *graph.Node {
			return graph.Slice(s, graph.AxisRange(), graph.AxisRange(), graph.AxisRange(k*units, (k+1)*units))
		}
		if c == nil {
			c = graph.Mul(gate(0), cand)
		} else {
			c = graph.Add(graph.Mul(gate(1), c), graph.Mul(gate(0), cand))
		}
		h = graph.Mul(gate(2), graph.Tanh(c))
		hs[t] = h
	}
	outputs = make([]*graph.Node, steps)
	if d == 1 {
		for t, v := range hs {
			outputs[t] = graph.Reshape(v, batch, units)
		}
		return outputs, outputs[steps-1]
	}
	dir := func(v *graph.Node, k int) *graph.Node {
		return graph.Reshape(graph.Slice(v, graph.AxisElem(k)), batch, units)
	}
	for t := range steps {
		outputs[t] = graph.Concatenate([]*graph.Node{dir(hs[t], 0), dir(hs[steps-1-t], 1)}, -1)
	}
	last = graph.Reshape(graph.TransposeAllAxes(h, 1, 0, 2), batch, 2*units)
	return outputs, last
}
