// Package cnn1d registers the "cnn1d" model family: a temporal convolutional network for
// sequences [T, C] (EEG epochs, physiological signals), for classification and regression.
//
// The network is a stack of blocks followed by a head. Block i has convs_per_block temporal
// convolutions of channels[i] filters (kernel_size, dilation dilations[i], "same" padding;
// the first conv of a block has the given stride), each followed by the normalization and
// the activation; with residual, the block's input (through a 1x1 convolution when its
// channels or length change) is added to the block's output, TCN style. Each block ends with
// pooling in time (pool: max, avg or none, non-overlapping windows of pool_size) and
// dropout. The head pools over time (global_pool: avg or max) or flattens, then has dense hidden layers
// (hidden) and the output layer.
//
// Convolutions are im2col + one matmul (models/layers/fastconv), which the pure-Go backend
// runs fast and differentiates exactly; the blocks run channels-first ([C, B, T], see
// seq.ConvBlock), the variables keep the channels-last layout. Variables live under /model/block_<i>/conv_<j>/
// (and residual/), /model/hidden_<i>/ and /model/output/.
package cnn1d

import (
	"fmt"

	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/ml/model"

	"github.com/biopipe/biopipe/contract"
	"github.com/biopipe/biopipe/models"
	"github.com/biopipe/biopipe/models/internal/seq"
	"github.com/biopipe/biopipe/models/layers/fastconv"
)

// Family is the registered family name.
const Family = "cnn1d"

// Hyper-parameter names. channels, kernel_size, stride, convs_per_block, pool, pool_size,
// normalization, activation, dropout, global_pool and hidden are shared with the cnn family
// (same types); hidden, activation, dropout and normalization also with mlp.
const (
	ParamChannels      = "channels"
	ParamKernelSize    = "kernel_size"
	ParamStride        = "stride"
	ParamDilations     = "dilations"
	ParamConvsPerBlock = "convs_per_block"
	ParamResidual      = "residual"
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
	{Name: ParamChannels, Type: contract.Ints, Default: []any{16, 32, 64}, Min: contract.Bound(1),
		Doc: "output channels of each temporal convolution block, input to output (one block per entry)"},
	{Name: ParamKernelSize, Type: contract.Int, Default: 7, Min: contract.Bound(1),
		Doc: "temporal kernel size in samples (\"same\" padding)"},
	{Name: ParamStride, Type: contract.Int, Default: 1, Min: contract.Bound(1),
		Doc: "stride of the first convolution of each block"},
	{Name: ParamDilations, Type: contract.Ints, Default: []any{}, Min: contract.Bound(1),
		Doc: "kernel dilation of each block's convolutions: [] is 1 everywhere, one value applies to every block, else one per block (e.g. [1, 2, 4])"},
	{Name: ParamConvsPerBlock, Type: contract.Int, Default: 1, Min: contract.Bound(1),
		Doc: "convolutions per block (each followed by normalization and activation)"},
	{Name: ParamResidual, Type: contract.Bool, Default: false,
		Doc: "add each block's input to its output (1x1 convolution when the channels or length change)"},
	{Name: ParamPool, Type: contract.String, Default: "max", Enum: Pools,
		Doc: "pooling in time at the end of each block: max, avg or none"},
	{Name: ParamPoolSize, Type: contract.Int, Default: 2, Min: contract.Bound(1),
		Doc: "pooling window and stride in samples (a sequence shorter than it is not pooled)"},
	{Name: ParamNormalization, Type: contract.String, Default: "layer", Enum: models.Normalizations,
		Doc: "normalization after each convolution: none, batch (per channel) or layer (per example over time and channels)"},
	{Name: ParamDropout, Type: contract.Float, Default: 0.0, Min: contract.Bound(0), Max: contract.Bound(0.95),
		Doc: "dropout rate after each block and hidden dense layer (training only)"},
	{Name: ParamGlobalPool, Type: contract.String, Default: "avg", Enum: GlobalPools,
		Doc: "how the last block's feature sequence becomes a vector: avg or max over time, or flatten (keeps where along the sequence a feature fired: aligned inputs such as splice sites)"},
	{Name: ParamHidden, Type: contract.Ints, Default: []any{}, Min: contract.Bound(1),
		Doc: "hidden dense layer widths of the head, after global pooling; [] goes straight to the output"},
}, models.ActivationFields("relu", "activation after each convolution and hidden dense layer", false)...)

func init() {
	models.Register(&models.Family{
		Name: Family,
		// freeze: [encoder] freezes the convolutional blocks; the dense head trains.
		Encoder: []string{"block_"},
		Doc:     "temporal (1-D) convolutional network for sequences [T,C]: dilations, residual blocks, pooling in time",
		Params:  Params,
		Build:   Build,
		// Convolutions and global pooling take any length; flatten does not (Build).
		VariableLength: true,
	})
}

// Blocks returns the convolution blocks that the params describe, or an error naming the
// field.
func Blocks(p contract.Config) ([]seq.ConvBlock, error) {
	channels := p.Ints(ParamChannels)
	if len(channels) == 0 {
		return nil, fmt.Errorf("cnn1d: %s: give at least one block", ParamChannels)
	}
	dil := p.Ints(ParamDilations)
	if len(dil) > 1 && len(dil) != len(channels) {
		return nil, fmt.Errorf("cnn1d: %s: %d values for %d blocks (give none, one, or one per entry of %s)",
			ParamDilations, len(dil), len(channels), ParamChannels)
	}
	out := make([]seq.ConvBlock, len(channels))
	for i, ch := range channels {
		d := 1
		switch len(dil) {
		case 1:
			d = dil[0]
		case len(channels):
			d = dil[i]
		}
		out[i] = seq.ConvBlock{
			Channels: ch, KernelSize: p.Int(ParamKernelSize), Stride: p.Int(ParamStride), Dilation: d,
			Convs: p.Int(ParamConvsPerBlock), Normalization: p.String(ParamNormalization),
			Activation: models.ActivationOf(p), Residual: p.Bool(ParamResidual),
			Pool: p.String(ParamPool), PoolSize: p.Int(ParamPoolSize), Dropout: p.Float(ParamDropout),
		}
	}
	return out, nil
}

// OutputLength is the length in time of the last block's output for an input of steps
// samples (before global pooling).
func OutputLength(steps int, p contract.Config) (int, error) {
	blocks, err := Blocks(p)
	if err != nil {
		return 0, err
	}
	for _, b := range blocks {
		steps = b.OutLength(steps)
	}
	return steps, nil
}

// Build returns the network for the spec and params.
func Build(spec models.Spec, p contract.Config) (*models.Network, error) {
	if _, _, err := seq.CheckSpec(Family, spec); err != nil {
		return nil, err
	}
	blocks, err := Blocks(p)
	if err != nil {
		return nil, err
	}
	hidden := p.Ints(ParamHidden)
	act := models.ActivationOf(p)
	dropout := p.Float(ParamDropout)
	globalPool := p.String(ParamGlobalPool)
	if globalPool == "flatten" && spec.Lengths != nil {
		return nil, fmt.Errorf("cnn1d: %s: flatten needs one sequence length, but the data is bucketed by length (lengths %v, transform.encode_sequence buckets:); use avg or max, or encode with length: instead", ParamGlobalPool, spec.Lengths)
	}
	outDim := spec.OutputDim()
	forward := func(scope *model.Scope, x *graph.Node) []*graph.Node {
		h := seq.ApplyBlocks(scope, "block_%d", blocks, fastconv.ToChannelsFirst(seq.AsSequence(x))) // [C, B, T]
		switch globalPool {
		case "max":
			h = graph.TransposeAllAxes(graph.ReduceMax(h, 2), 1, 0)
		case "flatten":
			// [B, T, C] order, as the channels-last layout flattened it (the head's weights).
			h = fastconv.ToChannelsLast(h)
			b := h.Shape().Dimensions[0]
			h = graph.Reshape(h, b, h.Shape().Size()/b)
		default:
			h = graph.TransposeAllAxes(graph.ReduceMean(h, 2), 1, 0)
		}
		return []*graph.Node{seq.Head(scope, h, hidden, act, dropout, outDim)}
	}
	return &models.Network{Forward: forward, OutputNames: []string{seq.OutputName(spec.Task)}}, nil
}
