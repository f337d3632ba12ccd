// Package unet registers the "unet" model family: a U-Net (Ronneberger et al. 2015; 3-D:
// Çiçek et al. 2016) that labels every pixel of an image [H, W, C] or every voxel of a
// volume [D, H, W, C] (task segmentation: the target is the dataset's mask column).
//
// The encoder has depth levels; level l has convs_per_level convolutions of
// base_channels·2^l filters (kernel_size, "same" padding), each followed by the
// normalization and the activation, then dropout, and a 2x max pooling down. A bottom
// block of base_channels·2^depth filters follows. The decoder goes back up level by level:
// upsampling (transpose: a learned 2x2(x2) stride-2 transposed convolution; nearest:
// nearest-neighbour repetition then a convolution) to the level's channels, concatenation
// with the encoder's feature map of that level (the skip connection), and a block like the
// encoder's. A 1x1 convolution gives the logits: one channel (sigmoid) for a binary mask,
// K channels (softmax) for masks of K classes (background included).
//
// dims 2 on a volume runs the 2-D network on every slice along D (slice-wise segmentation,
// a common choice for anisotropic scans); dims 3 needs a volume. The loss is the per-voxel
// cross-entropy plus dice_weight times the soft Dice loss (models.SegmentationLoss).
//
// Convolutions and pooling are models/layers/fastconv (im2col + one matmul, reshape
// pooling, channels-first activations [C, B, spatial...]); the transposed convolution is
// one matmul and a pixel shuffle (kernel = stride = 2 means no window overlaps). The 3-D
// im2col buffer is 27x the activation for 3x3x3 kernels: keep volumes small on the go
// backend.
//
// Variables live under /model/down_<l>/conv_<j>/, /model/bottom/conv_<j>/,
// /model/up_<l>/upsample/ and /model/up_<l>/conv_<j>/, and /model/output/.
package unet

import (
	"fmt"
	"slices"

	"github.com/gomlx/compute/shapes"
	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/ml/layers"
	"github.com/gomlx/gomlx/ml/model"

	"github.com/biopipe/biopipe/contract"
	"github.com/biopipe/biopipe/models"
	"github.com/biopipe/biopipe/models/internal/convnet"
	"github.com/biopipe/biopipe/models/layers/fastconv"
)

// Family is the registered family name.
const Family = "unet"

// Hyper-parameter names (kernel_size, normalization, activation and dropout are shared
// with other families, with the same types).
const (
	ParamDims          = "dims"
	ParamBaseChannels  = "base_channels"
	ParamDepth         = "depth"
	ParamConvsPerLevel = "convs_per_level"
	ParamKernelSize    = "kernel_size"
	ParamNormalization = "normalization"
	ParamDropout       = "dropout"
	ParamUpsampling    = "upsampling"
	ParamDiceWeight    = "dice_weight"
)

// Upsampling choices.
const (
	UpTranspose = "transpose"
	UpNearest   = "nearest"
)

// Params are the family's hyper-parameters.
var Params = append([]contract.Field{
	{Name: ParamDims, Type: contract.Int, Default: 0, Min: contract.Bound(0), Max: contract.Bound(3),
		Doc: "2 or 3 spatial dimensions; 0 = from the input ([H, W, C]: 2, [D, H, W, C]: 3); 2 on a volume segments each slice along D with a 2-D network"},
	{Name: ParamBaseChannels, Type: contract.Int, Default: 8, Min: contract.Bound(1),
		Doc: "filters of the first level; level l has base_channels x 2^l"},
	{Name: ParamDepth, Type: contract.Int, Default: 2, Min: contract.Bound(1), Max: contract.Bound(6),
		Doc: "levels of 2x downsampling (every spatial axis must be at least 2^depth long)"},
	{Name: ParamConvsPerLevel, Type: contract.Int, Default: 2, Min: contract.Bound(1),
		Doc: "convolutions per level, in the encoder, the bottom and the decoder"},
	{Name: ParamKernelSize, Type: contract.Int, Default: 3, Min: contract.Bound(1),
		Doc: "convolution kernel size along every spatial axis (\"same\" padding)"},
	{Name: ParamNormalization, Type: contract.String, Default: "layer", Enum: models.Normalizations,
		Doc: "normalization after each convolution: layer (per example over all positions and channels), batch or none"},
	{Name: ParamDropout, Type: contract.Float, Default: 0.0, Min: contract.Bound(0), Max: contract.Bound(0.95),
		Doc: "dropout rate after each level's convolutions (training only)"},
	{Name: ParamUpsampling, Type: contract.String, Default: UpTranspose, Enum: []string{UpTranspose, UpNearest},
		Doc: "decoder upsampling: transpose (learned 2x transposed convolution) or nearest (nearest-neighbour repetition, then a convolution)"},
	{Name: ParamDiceWeight, Type: contract.Float, Default: 1.0, Min: contract.Bound(0),
		Doc: "weight of the soft Dice loss added to the per-voxel cross-entropy (0 = cross-entropy only)"},
}, models.ActivationFields("relu", "activation after each convolution", false)...)

func init() {
	models.Register(&models.Family{
		Name:    Family,
		Doc:     "U-Net for 2-D/3-D segmentation of images [H,W,C] or volumes [D,H,W,C] against the mask column",
		Params:  Params,
		Task:    models.Segmentation,
		Encoder: []string{"down_", "bottom"},
		Build:   Build,
	})
}

type config struct {
	dims, base, depth, convs, kernel int
	normalization, upsampling        string
	act                              models.Activation
	dropout                          float64
	outCh                            int
	slicewise                        bool
}

// Build returns the U-Net for the spec and params.
func Build(spec models.Spec, p contract.Config) (*models.Network, error) {
	if spec.Task != models.Segmentation {
		return nil, fmt.Errorf("unet: task %q: the unet segments (task segmentation: a dataset with a mask column, as ingest.volumes writes with masks:)", spec.Task)
	}
	if err := convnet.CheckImageShape(Family, spec.InputShape); err != nil {
		return nil, err
	}
	rank := len(spec.InputShape) - 1
	c := &config{
		dims: p.Int(ParamDims), base: p.Int(ParamBaseChannels), depth: p.Int(ParamDepth), convs: p.Int(ParamConvsPerLevel),
		kernel: p.Int(ParamKernelSize), normalization: p.String(ParamNormalization), upsampling: p.String(ParamUpsampling),
		act: models.ActivationOf(p), dropout: p.Float(ParamDropout), outCh: models.SegChannels(spec.NumClasses),
	}
	switch {
	case c.dims == 0:
		c.dims = rank
	case c.dims == 1:
		return nil, fmt.Errorf("unet: %s: 1 is not supported (give 2 or 3, or 0 to follow the input)", ParamDims)
	case c.dims == 3 && rank == 2:
		return nil, fmt.Errorf("unet: %s: 3 needs a volume [D, H, W, C]; the input is an image %v", ParamDims, spec.InputShape)
	case c.dims == 2 && rank == 3:
		c.slicewise = true
	}
	spatial := spec.InputShape[rank-c.dims : rank]
	for a, n := range spatial {
		if n < 1<<c.depth {
			return nil, fmt.Errorf("unet: %s %d halves every spatial axis %d times, but axis %d of the input %v is %d long (< %d): lower %s or pad the input",
				ParamDepth, c.depth, c.depth, a+rank-c.dims, spec.InputShape, n, 1<<c.depth, ParamDepth)
		}
	}
	if err := (models.SegmentationLoss{DiceWeight: p.Float(ParamDiceWeight)}).Check(); err != nil {
		return nil, fmt.Errorf("unet: %s: %w", ParamDiceWeight, err)
	}
	return &models.Network{
		Forward:     func(scope *model.Scope, x *graph.Node) []*graph.Node { return []*graph.Node{c.forward(scope, x)} },
		OutputNames: []string{"probabilities"},
		Loss:        models.SegmentationLoss{DiceWeight: p.Float(ParamDiceWeight)}.Func(),
	}, nil
}

// forward maps x [B, spatial..., C] to logits [B, spatial..., outCh].
func (c *config) forward(scope *model.Scope, x *graph.Node) *graph.Node {
	dims := x.Shape().Dimensions
	if c.slicewise { // [B, D, H, W, C] -> [B·D, H, W, C]
		x = graph.Reshape(x, dims[0]*dims[1], dims[2], dims[3], dims[4])
	}
	h := fastconv.ToChannelsFirst(x)
	var skips []*graph.Node
	for l := range c.depth {
		h = c.block(scope.In("down_%d", l), h, c.base<<l)
		skips = append(skips, h)
		h = fastconv.PoolCF(h, fastconv.Max, window(h), fastconv.Config{}, false)
	}
	h = c.block(scope.In("bottom"), h, c.base<<c.depth)
	for l := c.depth - 1; l >= 0; l-- {
		ls := scope.In("up_%d", l)
		skip := skips[l]
		h = c.up(ls.In("upsample"), h, skip.Shape().Dimensions[2:], c.base<<l)
		h = graph.Concatenate([]*graph.Node{h, skip}, 0)
		h = c.block(ls, h, c.base<<l)
	}
	h = fastconv.New(scope.In("output"), h, c.outCh).ChannelsFirst().KernelSize(1).CurrentScope().Done()
	out := fastconv.ToChannelsLast(h)
	if c.slicewise {
		out = graph.Reshape(out, dims[0], dims[1], dims[2], dims[3], c.outCh)
	}
	return out
}

// block is convs_per_level convolutions, each with normalization and activation, then
// dropout.
func (c *config) block(scope *model.Scope, h *graph.Node, filters int) *graph.Node {
	for j := range c.convs {
		cs := scope.In("conv_%d", j)
		h = convnet.Conv(cs, h, filters, c.kernel)
		h = convnet.Normalize(cs, h, c.normalization)
		if c.act.IsRelu() {
			h = fastconv.Relu(h)
		} else {
			h = c.act.Apply(h)
		}
	}
	return layers.DropoutStatic(scope, h, c.dropout)
}

// window is the 2x pooling window of a channels-first h.
func window(h *graph.Node) []int {
	w := make([]int, h.Rank()-2)
	for a := range w {
		w[a] = 2
	}
	return w
}

// up upsamples h [C, B, spatial...] to the target spatial size with filters channels.
func (c *config) up(scope *model.Scope, h *graph.Node, target []int, filters int) *graph.Node {
	if c.upsampling == UpNearest {
		return convnet.UpConv(scope, h, target, filters, c.kernel)
	}
	return fitTo(transposeConv2(scope, h, filters), target)
}

// transposeConv2 is a transposed convolution with kernel 2 and stride 2 on every spatial
// axis of h [C, B, spatial...]: each input position writes its own 2x2(x2) output block,
// so it is one matmul [2^d·F, C]·[C, B·positions] and a pixel shuffle. Variables: weights
// [2, ..., 2, C, F] (a conv kernel's layout) and biases [F].
func transposeConv2(scope *model.Scope, h *graph.Node, filters int) *graph.Node {
	g := h.Graph()
	dims := h.Shape().Dimensions
	ch, d := dims[0], len(dims)-2
	kdims := make([]int, d, d+2)
	for a := range kdims {
		kdims[a] = 2
	}
	kdims = append(kdims, ch, filters)
	w := scope.VariableWithShape("weights", shapes.Make(h.DType(), kdims...)).NodeValue(g)
	bias := scope.VariableWithShape("biases", shapes.Make(h.DType(), filters)).NodeValue(g)
	blocks := 1 << d
	wt := graph.Reshape(graph.TransposeAllAxes(graph.Reshape(w, blocks, ch, filters), 0, 2, 1), blocks*filters, ch)
	y := graph.MatMul(wt, graph.Reshape(h, ch, h.Shape().Size()/ch)) // [2^d·F, B·positions]
	split := append(append(slices.Clone(kdims[:d]), filters), dims[1:]...)
	y = graph.Reshape(y, split...) // [2 (d times), F, B, spatial...]
	perm := []int{d, d + 1}        // F, B, then each spatial axis followed by its block offset
	out := []int{filters, dims[1]}
	for a := range d {
		perm = append(perm, d+2+a, a)
		out = append(out, 2*dims[2+a])
	}
	y = graph.Reshape(graph.TransposeAllAxes(y, perm...), out...)
	bshape := make([]int, len(out))
	for i := range bshape {
		bshape[i] = 1
	}
	bshape[0] = filters
	return graph.Add(y, graph.Reshape(bias, bshape...))
}

// fitTo crops or zero-pads (at the end) the spatial axes of h [C, B, spatial...] to target:
// a level whose size was odd was floored on the way down.
func fitTo(h *graph.Node, target []int) *graph.Node {
	for a, n := range target {
		axis := a + 2
		have := h.Shape().Dimensions[axis]
		switch {
		case have > n:
			spec := make([]graph.SliceAxisSpec, h.Rank())
			for i := range spec {
				spec[i] = graph.AxisRange()
			}
			spec[axis] = graph.AxisRange(0, n)
			h = graph.Slice(h, spec...)
		case have < n:
			zdims := slices.Clone(h.Shape().Dimensions)
			zdims[axis] = n - have
			h = graph.Concatenate([]*graph.Node{h, graph.Zeros(h.Graph(), shapes.Make(h.DType(), zdims...))}, axis)
		}
	}
	return h
}
