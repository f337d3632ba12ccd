package fastconv

import (
	"github.com/gomlx/compute"
	"github.com/gomlx/compute/shapes"
	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/support/exceptions"
)

// PoolKind selects the reduction of a pooling window.
type PoolKind int

const (
	// Max takes the maximum of the window.
	Max PoolKind = iota
	// Mean takes the average of the window (with padding, of the elements inside the input).
	Mean
)

// String returns "max" or "mean".
func (k PoolKind) String() string {
	if k == Mean {
		return "mean"
	}
	return "max"
}

// Pool pools x [batch, spatial..., C] over windows of the given spatial size. cfg.Strides
// default to the window (non-overlapping pooling); cfg.Dilations must be empty or all 1.
// The output equals graph.MaxPool/MeanPool with the same window, strides and padding.
//
// Max pooling without padding (valid, or same where no padding is needed) is one
// graph.BackendReduceWindow, whose gradient is one SelectAndScatter (the value goes to the first
// maximum of each window, as in graph.MaxPool and PyTorch): the Go backend runs both as
// single passes over unpadded windows (patch 0030 of third_party/compute).
// Mean pooling whose windows tile the input (stride == window, no padding needed before the
// first window) is a Slice that drops the remainder (if any), a Reshape to
// [batch, n0/w0, w0, n1/w1, w1, ..., C] and one ReduceMean. Other configurations use
// graph.MaxPool/MeanPool.
func Pool(x *graph.Node, kind PoolKind, window []int, cfg Config) *graph.Node {
	return pool(x, kind, window, cfg, false)
}

// MaxPoolRelu is Relu(Pool(x, Max, window, cfg)), which equals Pool(Relu(x), ...) since
// Relu is monotonic: applying it after pooling touches 1/prod(window) of the values (and its
// gradient mask is as small).
func MaxPoolRelu(x *graph.Node, window []int, cfg Config) *graph.Node {
	return pool(x, Max, window, cfg, true)
}

func pool(x *graph.Node, kind PoolKind, window []int, cfg Config, relu bool) *graph.Node {
	nsp := x.Rank() - 2
	if nsp < 1 {
		exceptions.Panicf("fastconv: pooling needs x shaped [batch, spatial..., channels], got shape %s", x.Shape())
	}
	if len(window) == 1 && nsp > 1 {
		window = perAxis("window", window, nsp, 1)
	}
	if len(window) != nsp {
		exceptions.Panicf("fastconv: pooling window %v does not match the %d spatial axes of x of shape %s", window, nsp, x.Shape())
	}
	strides := cfg.Strides
	if len(strides) == 0 {
		strides = window
	}
	strides = perAxis("strides", strides, nsp, 1)
	for _, d := range perAxis("dilations", cfg.Dilations, nsp, 1) {
		if d != 1 {
			exceptions.Panicf("fastconv: pooling does not support dilations %v", cfg.Dilations)
		}
	}
	dims := x.Shape().Dimensions
	tiles := true
	for i, w := range window {
		if w < 1 || strides[i] < 1 {
			exceptions.Panicf("fastconv: pooling window %v and strides %v must be >= 1", window, strides)
		}
		n := dims[i+1]
		switch {
		case strides[i] != w, n < w:
			tiles = false
		case cfg.Padding == Same && ((w-1)/2 != 0 || n%w != 0):
			// Same padding shifts the windows (or adds a partial last window).
			tiles = false
		}
	}
	if kind == Max && (tiles || cfg.Padding == Valid) {
		// One ReduceWindow: the Go backend runs unpadded windows row by row, and its gradient is
		// one SelectAndScatter (the value goes to the first maximum of each window, as in
		// graph.MaxPool and PyTorch), both single passes without intermediate tensors.
		win := make([]int, x.Rank())
		str := make([]int, x.Rank())
		win[0], str[0], win[x.Rank()-1], str[x.Rank()-1] = 1, 1, 1, 1
		for i, w := range window {
			win[i+1], str[i+1] = w, strides[i]
		}
		y := graph.BackendReduceWindow(x, compute.ReduceOpMax, win, str, nil, nil, nil)
		if relu {
			return Relu(y)
		}
		return y
	}
	if !tiles {
		var b *graph.PoolBuilder
		if kind == Mean {
			b = graph.MeanPool(x)
		} else {
			b = graph.MaxPool(x)
		}
		b = b.WindowPerAxis(window...).StridePerAxis(strides...)
		if cfg.Padding == Same {
			b = b.PadSame()
		} else {
			b = b.NoPadding()
		}
		if relu {
			return Relu(b.Done())
		}
		return b.Done()
	}

	// Drop the remainder that no window covers.
	crop := false
	spec := make([]graph.SliceAxisSpec, x.Rank())
	spec[0], spec[x.Rank()-1] = graph.AxisRange(), graph.AxisRange()
	for i, w := range window {
		n := dims[i+1]
		spec[i+1] = graph.AxisRange(0, n/w*w)
		if n%w != 0 {
			crop = true
		}
	}
	split := make([]int, 0, 2+2*nsp) // [batch, n0/w0, w0, ..., C]
	outDims := make([]int, 0, 2+nsp) // [batch, n0/w0, ..., C]
	split = append(split, dims[0])
	outDims = append(outDims, dims[0])
	axes := make([]int, 0, nsp)
	for i, w := range window {
		split = append(split, dims[i+1]/w, w)
		outDims = append(outDims, dims[i+1]/w)
		axes = append(axes, len(split)-1)
	}
	c := dims[len(dims)-1]
	outDims = append(outDims, c)
	if c == 1 {
		// No channel axis, and the batch merged into the first window-count axis: the
		// backend's reductions and broadcasts walk fewer axes per element (PoolCF pools
		// channels-first activations through this one-channel view).
		split = append([]int{split[0] * split[1]}, split[2:]...)
		for i := range axes {
			axes[i]--
		}
	} else {
		split = append(split, c)
	}
	// Mean (Max returned above). ReduceMean's gradient is a broadcast and a scale: already cheap.
	if crop {
		x = graph.Slice(x, spec...)
	}
	return graph.Reshape(graph.ReduceMean(graph.Reshape(x, split...), axes...), outDims...)
}

// upsample repeats t, shaped like split with 1 on the window axes, to split: the max-pool
// gradient's values at full resolution. The Go backend's BroadcastInDim (and binary ops
// with an implicit broadcast) walk an index per element over all axes, while Concatenate
// copies blocks; so the window axes are repeated by concatenation, except a window axis
// that is last (one-channel pooling, whose blocks would be single elements), which is a
// rank-3 broadcast. Then Equal and Where run on same-shaped operands, their fast path.
func upsample(t *graph.Node, split []int) *graph.Node {
	dims := t.Shape().Dimensions
	last := len(split) - 1
	if dims[last] != split[last] {
		n, w := dims[last-1], split[last] // [..., n, 1] -> [..., n, w]
		rows := t.Shape().Size() / n
		t = graph.BroadcastToShape(graph.Reshape(t, rows, n, 1), shapes.Make(t.DType(), rows, n, w))
		t = graph.Reshape(t, append(append([]int{}, dims[:last]...), w)...)
		dims = t.Shape().Dimensions
	}
	for a := last; a >= 0; a-- {
		if dims[a] == split[a] {
			continue
		}
		parts := make([]*graph.Node, split[a])
		for i := range parts {
			parts[i] = t
		}
		t = graph.Concatenate(parts, a)
		dims = t.Shape().Dimensions
	}
	return t
}

// Relu returns max(x, 0) with the gradient v·[x > 0] given as one Where (autodiff of
// graph.Max would build several Sign-based indicator ops). At x == 0 the gradient is 0.
func Relu(x *graph.Node) *graph.Node {
	var out *graph.Node
	return customOp([]*graph.Node{x}, func(st []*graph.Node, link *graph.Node) *graph.Node {
		out = graph.Max(st[0], link)
		return out
	}, func(_ int, v *graph.Node) *graph.Node {
		zero := graph.ScalarZero(x.Graph(), x.DType())
		return graph.Where(graph.GreaterThan(out, zero), v, zero)
	})
}

// MaxPool2D max-pools images x [batch, height, width, C] over size x size windows with the
// given stride (0 = size) and no padding.
func MaxPool2D(x *graph.Node, size, stride int) *graph.Node {
	return pool2D(x, Max, size, stride)
}

// AvgPool2D average-pools images x [batch, height, width, C] over size x size windows with
// the given stride (0 = size) and no padding.
func AvgPool2D(x *graph.Node, size, stride int) *graph.Node {
	return pool2D(x, Mean, size, stride)
}

func pool2D(x *graph.Node, kind PoolKind, size, stride int) *graph.Node {
	if x.Rank() != 4 {
		exceptions.Panicf("fastconv: 2-D pooling needs x shaped [batch, height, width, channels], got shape %s", x.Shape())
	}
	if stride == 0 {
		stride = size
	}
	return Pool(x, kind, []int{size, size}, Config{Strides: []int{stride}})
}

// MaxPool1D max-pools sequences x [batch, time, C] over windows of size steps with the given
// stride (0 = size) and no padding.
func MaxPool1D(x *graph.Node, size, stride int) *graph.Node {
	return pool1D(x, Max, size, stride)
}

// AvgPool1D average-pools sequences x [batch, time, C] over windows of size steps with the
// given stride (0 = size) and no padding.
func AvgPool1D(x *graph.Node, size, stride int) *graph.Node {
	return pool1D(x, Mean, size, stride)
}

func pool1D(x *graph.Node, kind PoolKind, size, stride int) *graph.Node {
	if x.Rank() != 3 {
		exceptions.Panicf("fastconv: 1-D pooling needs x shaped [batch, time, channels], got shape %s", x.Shape())
	}
	if stride == 0 {
		stride = size
	}
	return Pool(x, kind, []int{size}, Config{Strides: []int{stride}})
}

// GlobalAvgPool averages x [batch, spatial..., C] over all spatial axes: [batch, C].
func GlobalAvgPool(x *graph.Node) *graph.Node {
	return graph.ReduceMean(x, spatialAxes(x)...)
}

// GlobalMaxPool takes the maximum of x [batch, spatial..., C] over all spatial axes: [batch, C].
func GlobalMaxPool(x *graph.Node) *graph.Node {
	return graph.ReduceMax(x, spatialAxes(x)...)
}

func spatialAxes(x *graph.Node) []int {
	if x.Rank() < 3 {
		exceptions.Panicf("fastconv: global pooling needs x shaped [batch, spatial..., channels], got shape %s", x.Shape())
	}
	axes := make([]int, x.Rank()-2)
	for i := range axes {
		axes[i] = i + 1
	}
	return axes
}
