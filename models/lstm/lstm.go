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
// steps. It is built the way cuDNN and PyTorch run it, so that the pure-Go backend, whose
// cost per op matters at these sizes, runs few ops per step: the input projections of all
// steps are one matmul before the recurrence (both directions batched; the backward one
// reads the sequence reversed); each step is one batched matmul h·Wr, one sigmoid over the
// i, f, o gates, one tanh and the state update; and the recurrence's gradient is a
// hand-written backward pass through time (per step the gate gradients as one tensor and
// one matmul by Wrᵀ; the recurrent weights' gradient is one matmul over all steps) instead
// of what autodiff derives from the unrolled steps (zero-padded gradients of every gate
// slice, per-step transposes). bench/seq: the recurrence alone (lstm-raw, 32 steps) runs
// about 1.6x faster than the unrolled cell with autodiff gradients, which is kept in the
// tests as the reference (per-op CPU time summed over a step, 8.1 -> 4.9 ms).
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
		// The recurrence runs for as many steps as the batch has (bucketed sequences).
		VariableLength: true,
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
	// The LSTM layers run on the time-major sequence [T, B, F].
	xt := graph.TransposeAllAxes(h, 1, 0, 2)
	var hs *graph.Node // [T, D, B, H]
	for l := range c.layers {
		ls := scope.In("lstm_%d", l)
		if l > 0 {
			xt = layerOutputs(hs)
			if c.dropout > 0 {
				xt = layers.DropoutStatic(ls, xt, c.dropout)
			}
		}
		hs = layerStates(ls, xt, c.units, c.directions == 2)
	}
	var feat *graph.Node // [D, B, H]
	if c.readout == "mean" {
		// The mean over time does not depend on the order the backward direction ran in.
		feat = graph.ReduceMean(hs, 0)
	} else {
		feat = lastStates(hs)
	}
	feat = graph.Reshape(graph.TransposeAllAxes(feat, 1, 0, 2), feat.Shape().Dimensions[1], c.directions*c.units)
	feat = layers.DropoutStatic(scope.In("readout"), feat, c.dropout)
	return seq.Head(scope, feat, c.hidden, c.act, c.dropout, outDim)
}

// Layer creates one LSTM layer's variables in scope (input_weights [D, F, 4H],
// recurrent_weights [D, H, 4H], biases [D, 4H]; uniform(±1/sqrt(H)) weights, zero biases
// but 1 for the forget gate) and applies it to the time-major sequence x [T, B, F]; see
// Apply for the outputs.
func Layer(scope *model.Scope, x *graph.Node, units int, bidirectional bool) (outputs, last *graph.Node) {
	hs := layerStates(scope, x, units, bidirectional)
	return layerOutputs(hs), graph.Reshape(graph.TransposeAllAxes(lastStates(hs), 1, 0, 2), x.Shape().Dimensions[1], hs.Shape().Dimensions[1]*units)
}

// layerStates creates the layer's variables and returns its states [T, D, B, H] (see
// states) for x [T, B, F].
func layerStates(scope *model.Scope, x *graph.Node, units int, bidirectional bool) *graph.Node {
	g := x.Graph()
	d := 1
	if bidirectional {
		d = 2
	}
	f := x.Shape().Dimensions[2]
	dtype := x.DType()
	limit := 1 / math.Sqrt(float64(units))
	ws := scope.WithInitializer(initializer.RandomUniformFn(scope, -limit, limit))
	wi := ws.VariableWithShape("input_weights", shapes.Make(dtype, d, f, 4*units)).NodeValue(g)
	wr := ws.VariableWithShape("recurrent_weights", shapes.Make(dtype, d, units, 4*units)).NodeValue(g)
	b := scope.WithInitializer(forgetBias(units)).VariableWithShape("biases", shapes.Make(dtype, d, 4*units)).NodeValue(g)
	return states(x, wi, wr, b)
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
	hs := states(x, wi, wr, b)
	d, units := wi.Shape().Dimensions[0], wr.Shape().Dimensions[1]
	return layerOutputs(hs), graph.Reshape(graph.TransposeAllAxes(lastStates(hs), 1, 0, 2), x.Shape().Dimensions[1], d*units)
}

// states runs the layer on x [T, B, F] and returns the states [T, D, B, H] in the order each
// direction computed them: states[t, 1] is the backward direction's state after reading
// x[T-1-t].
//
// As cuDNN and PyTorch do, the input projections of all steps (and the bias) are one
// matmul before the recurrence, [D, T·B, F]·[D, F, 4H] (the backward direction reads x
// reversed in time); the recurrence is then one fused op (recurrence) with a hand-written
// backward pass.
func states(x, wi, wr, b *graph.Node) *graph.Node {
	dims := x.Shape().Dimensions
	steps, batch, feat := dims[0], dims[1], dims[2]
	d := wi.Shape().Dimensions[0]
	units := wr.Shape().Dimensions[1]
	if wi.Shape().Dimensions[1] != feat || wi.Shape().Dimensions[2] != 4*units || wr.Shape().Dimensions[0] != d ||
		b.Shape().Dimensions[0] != d || b.Shape().Dimensions[1] != 4*units {
		exceptions.Panicf("lstm: input weights %s, recurrent weights %s and biases %s do not match x %s and %d units",
			wi.Shape(), wr.Shape(), b.Shape(), x.Shape(), units)
	}
	xs := graph.Reshape(x, 1, steps*batch, feat)
	if d == 2 {
		xs = graph.Concatenate([]*graph.Node{xs, graph.Reshape(graph.Reverse(x, 0), 1, steps*batch, feat)}, 0)
	}
	p := graph.Add(fastMatmul(xs, wi), graph.Reshape(b, d, 1, 4*units)) // [D, T·B, 4H]
	return recurrence(graph.Reshape(p, d, steps, batch, 4*units), wr)
}

// layerOutputs turns states [T, D, B, H] into the layer's outputs in time order, [T, B, D*H]:
// the backward direction's states reversed in time next to the forward ones.
func layerOutputs(hs *graph.Node) *graph.Node {
	dims := hs.Shape().Dimensions
	steps, d, batch, units := dims[0], dims[1], dims[2], dims[3]
	if d == 1 {
		return graph.Reshape(hs, steps, batch, units)
	}
	fwd := graph.Slice(hs, graph.AxisRange(), graph.AxisElem(0))
	bwd := graph.Reverse(graph.Slice(hs, graph.AxisRange(), graph.AxisElem(1)), 0)
	return graph.Reshape(graph.Concatenate([]*graph.Node{fwd, bwd}, 3), steps, batch, d*units)
}

// lastStates returns the final state of each direction, [D, B, H].
func lastStates(hs *graph.Node) *graph.Node {
	dims := hs.Shape().Dimensions
	return graph.Reshape(graph.Slice(hs, graph.AxisElem(dims[0]-1)), dims[1:]...)
}

// recurrence runs the LSTM recurrence over the input projections p [D, T, B, 4H] (bias
// included; step t of direction k reads p[k, t]) with recurrent weights wr [D, H, 4H] from
// zero states, and returns the states h [T, D, B, H].
//
// Each step is one batched matmul h·Wr [D, B, H]·[D, H, 4H] for both directions, the add
// of p[t], one sigmoid over the i, f, o gates, one tanh over the candidate and the state
// update. Its gradient is given explicitly (fastconv.CustomOp) as the usual backward pass
// through time: per step the gate gradients dz [D, B, 4H] (one concatenation) and
// dh_{t-1} = dz·Wrᵀ; after the loop the gradient of p is the stacked dz and that of Wr
// one matmul, Σ_t h_{t-1}ᵀ·dz_t as [D, H, (T-1)·B]·[D, (T-1)·B, 4H]. Autodiff of the
// unrolled steps builds several times as many ops (a zero-padded gradient for every gate
// slice, transposes of Wr per step), and a step's ops are small enough here that their
// number, not their size, sets the time.
func recurrence(p, wr *graph.Node) *graph.Node {
	dims := p.Shape().Dimensions
	d, steps, batch := dims[0], dims[1], dims[2]
	units := wr.Shape().Dimensions[1]
	st := make([]stepState, steps)
	gate := func(z *graph.Node, from, to int) *graph.Node {
		return graph.Slice(z, graph.AxisRange(), graph.AxisRange(), graph.AxisRange(from*units, to*units))
	}
	forward := func(in []*graph.Node, link *graph.Node) *graph.Node {
		w := graph.Add(in[1], link) // link: the zero scalar joining the op's inputs
		var h, c *graph.Node
		hs := make([]*graph.Node, steps)
		for t := range steps {
			z := graph.Reshape(graph.Slice(in[0], graph.AxisRange(), graph.AxisElem(t)), d, batch, 4*units)
			switch {
			case h != nil:
				z = graph.Add(z, graph.DotGeneral(h, []int{2}, []int{0}, w, []int{1}, []int{0}))
			case steps == 1:
				z = graph.Add(z, link) // no step reads w
			}
			s := graph.Sigmoid(gate(z, 0, 3)) // i, f, o
			g := graph.Tanh(gate(z, 3, 4))
			i, f, o := gate(s, 0, 1), gate(s, 1, 2), gate(s, 2, 3)
			if c == nil {
				c = graph.Mul(i, g)
			} else {
				c = graph.Add(graph.Mul(f, c), graph.Mul(i, g))
			}
			tc := graph.Tanh(c)
			h = graph.Mul(o, tc)
			st[t] = stepState{s: s, i: i, f: f, o: o, g: g, c: c, tc: tc, h: h}
			hs[t] = h
		}
		return graph.Stack(hs, 0)
	}
	var dp, dw, gradFor *graph.Node
	backward := func(k int, v *graph.Node) *graph.Node {
		if gradFor != v {
			gradFor = v
			dp, dw = recurrenceGrad(v, wr, st)
		}
		if k == 0 {
			return dp
		}
		return dw
	}
	return fastconv.CustomOp([]*graph.Node{p, wr}, forward, backward)
}

// stepState holds one step's forward values that the backward pass reads: the gate
// activations s = σ([z_i, z_f, z_o]) and its parts i, f, o, the candidate g, the cell state
// c, tanh(c) and the state h, each [D, B, H] (s [D, B, 3H]).
type stepState struct{ s, i, f, o, g, c, tc, h *graph.Node }

// recurrenceGrad is the backward pass through time of recurrence for the adjoint v
// [T, D, B, H] of the states: the gradients of p [D, T, B, 4H] and of wr [D, H, 4H].
func recurrenceGrad(v, wr *graph.Node, st []stepState) (dp, dw *graph.Node) {
	steps := len(st)
	d, batch, units := v.Shape().Dimensions[1], v.Shape().Dimensions[2], v.Shape().Dimensions[3]
	wrT := graph.TransposeAllAxes(wr, 0, 2, 1) // [D, 4H, H]: the matmul's fast layout
	dz := make([]*graph.Node, steps)
	var dhNext, dcNext *graph.Node
	for t := steps - 1; t >= 0; t-- {
		s := st[t]
		dh := graph.Reshape(graph.Slice(v, graph.AxisElem(t)), d, batch, units)
		if dhNext != nil {
			dh = graph.Add(dh, dhNext)
		}
		do := graph.Mul(dh, s.tc)
		dc := graph.Mul(graph.Mul(dh, s.o), graph.OneMinus(graph.Square(s.tc)))
		if dcNext != nil {
			dc = graph.Add(dc, dcNext)
		}
		df := graph.ZerosLike(dc) // c_{-1} = 0
		if t > 0 {
			df = graph.Mul(dc, st[t-1].c)
			dcNext = graph.Mul(dc, s.f)
		}
		dzIFO := graph.Mul(graph.Concatenate([]*graph.Node{graph.Mul(dc, s.g), df, do}, 2), graph.Mul(s.s, graph.OneMinus(s.s)))
		dzG := graph.Mul(graph.Mul(dc, s.i), graph.OneMinus(graph.Square(s.g)))
		dz[t] = graph.Concatenate([]*graph.Node{dzIFO, dzG}, 2)
		if t > 0 {
			dhNext = graph.DotGeneral(dz[t], []int{2}, []int{0}, wrT, []int{1}, []int{0})
		}
	}
	dp = graph.Stack(dz, 1)
	if steps == 1 {
		return dp, graph.ZerosLike(wr)
	}
	// dWr = Σ_{t>=1} h_{t-1}ᵀ·dz_t, one matmul contracting (T-1)·B.
	prev := make([]*graph.Node, steps-1)
	for t := range prev {
		prev[t] = st[t].h
	}
	hPrev := graph.Reshape(graph.Stack(prev, 1), d, (steps-1)*batch, units)
	dzAfter := graph.Reshape(graph.Stack(dz[1:], 1), d, (steps-1)*batch, 4*units)
	dw = graph.DotGeneral(graph.TransposeAllAxes(hPrev, 0, 2, 1), []int{2}, []int{0}, dzAfter, []int{1}, []int{0})
	return dp, dw
}
