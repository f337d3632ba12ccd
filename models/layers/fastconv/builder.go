package fastconv

import (
	"slices"

	"github.com/gomlx/compute/shapes"
	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/ml/layers/regularizer"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/gomlx/gomlx/support/exceptions"
)

// Builder configures a convolution layer with trainable kernel and bias. Create it with
// New, configure it, and call Done. It mirrors layers.Convolution (channels-last) and
// creates the same variables: "conv/weights" [kernel..., C, F] and "conv/biases" [F].
type Builder struct {
	scope     *model.Scope
	x         *graph.Node
	filters   int
	kernel    []int
	strides   []int
	dilations []int
	padding   Padding
	bias      bool
	newScope  bool
	reg       regularizer.Regularizer
	cf        bool
	up2       bool
}

// New starts a convolution of x [batch, spatial..., C] with filters output channels; the
// number of spatial axes (1, 2, 3, ...) comes from x's rank. Defaults: kernel size must be
// set, stride 1, dilation 1, valid padding (no padding), with bias, variables in
// scope.In("conv"), regularizer from the scope's hyper-parameters (regularizer.FromScope).
func New(scope *model.Scope, x *graph.Node, filters int) *Builder {
	if x.Rank() < 3 {
		exceptions.Panicf("fastconv.New: x must be [batch, spatial..., channels], got shape %s", x.Shape())
	}
	if filters < 1 {
		exceptions.Panicf("fastconv.New: filters must be >= 1, got %d", filters)
	}
	return &Builder{scope: scope, x: x, filters: filters, bias: true, newScope: true, reg: regularizer.FromScope(scope)}
}

func (b *Builder) spatial() int { return b.x.Rank() - 2 }

// KernelSize sets the same kernel size on every spatial axis.
func (b *Builder) KernelSize(k int) *Builder {
	b.kernel = perAxis("kernel size", []int{k}, b.spatial(), 1)
	return b
}

// KernelSizePerAxis sets the kernel size of each spatial axis.
func (b *Builder) KernelSizePerAxis(k ...int) *Builder {
	if len(k) != b.spatial() {
		exceptions.Panicf("fastconv: %d kernel sizes for x of shape %s with %d spatial axes", len(k), b.x.Shape(), b.spatial())
	}
	b.kernel = k
	return b
}

// Strides sets the same stride on every spatial axis (default 1).
func (b *Builder) Strides(s int) *Builder {
	b.strides = []int{s}
	return b
}

// StridePerAxis sets the stride of each spatial axis.
func (b *Builder) StridePerAxis(s ...int) *Builder {
	b.strides = s
	return b
}

// Dilations sets the same kernel dilation on every spatial axis (default 1).
func (b *Builder) Dilations(d int) *Builder {
	b.dilations = []int{d}
	return b
}

// DilationPerAxis sets the kernel dilation of each spatial axis.
func (b *Builder) DilationPerAxis(d ...int) *Builder {
	b.dilations = d
	return b
}

// PadSame pads with zeros so that, with stride 1, the output keeps the input's spatial size.
func (b *Builder) PadSame() *Builder {
	b.padding = Same
	return b
}

// NoPadding uses valid convolution (the default).
func (b *Builder) NoPadding() *Builder {
	b.padding = Valid
	return b
}

// Padding sets the padding mode.
func (b *Builder) Padding(p Padding) *Builder {
	b.padding = p
	return b
}

// UseBias sets whether a trainable bias is added (default true).
func (b *Builder) UseBias(use bool) *Builder {
	b.bias = use
	return b
}

// CurrentScope creates the variables directly in the given scope instead of scope.In("conv").
func (b *Builder) CurrentScope() *Builder {
	b.newScope = false
	return b
}

// ChannelsFirst declares x channels-first, [C, batch, spatial...]: the layer then uses
// ConvCF and returns [filters, batch, out spatial...]. The variables are the same as
// channels-last (kernel [kernel spatial..., C, filters]).
func (b *Builder) ChannelsFirst() *Builder {
	b.cf = true
	return b
}

// UpsampledBy2 makes the layer convolve x upsampled by 2 along every spatial axis
// (nearest neighbour, as UpsampleCF(x, 2)): the upsample + conv layer of a decoder. With
// ChannelsFirst, stride 1, no dilation and same padding it runs as UpConvCF, which never
// builds the upsampled tensor; otherwise x is upsampled first.
func (b *Builder) UpsampledBy2() *Builder {
	b.up2 = true
	return b
}

// Regularizer sets the regularizer applied to the kernel (not the bias); nil disables it.
func (b *Builder) Regularizer(r regularizer.Regularizer) *Builder {
	b.reg = r
	return b
}

// Done creates the variables and returns the convolution of x: [batch, out spatial..., F].
func (b *Builder) Done() *graph.Node {
	if len(b.kernel) == 0 {
		exceptions.Panicf("fastconv: KernelSize must be set before Done")
	}
	scope := b.scope
	if b.newScope {
		scope = scope.In("conv")
	}
	g := b.x.Graph()
	dtype := b.x.DType()
	c := b.x.Shape().Dimensions[b.x.Rank()-1]
	if b.cf {
		c = b.x.Shape().Dimensions[0]
	}
	kdims := append(append([]int{}, b.kernel...), c, b.filters)
	kv := scope.VariableWithShape("weights", shapes.Make(dtype, kdims...))
	if b.reg != nil {
		b.reg(g, kv)
	}
	var bias *graph.Node
	if b.bias {
		bias = scope.VariableWithShape("biases", shapes.Make(dtype, b.filters)).NodeValue(g)
	}
	cfg := Config{Strides: b.strides, Dilations: b.dilations, Padding: b.padding}
	x := b.x
	if b.up2 {
		ones := func(v []int) bool { return !slices.ContainsFunc(v, func(s int) bool { return s != 1 }) }
		if b.cf && b.padding == Same && ones(b.strides) && ones(b.dilations) {
			return UpConvCF(x, kv.NodeValue(g), bias)
		}
		if b.cf {
			x = UpsampleCF(x, 2)
		} else {
			x = ToChannelsLast(UpsampleCF(ToChannelsFirst(x), 2))
		}
	}
	if b.cf {
		return ConvCF(x, kv.NodeValue(g), bias, cfg)
	}
	return ConvWithBias(x, kv.NodeValue(g), bias, cfg)
}
