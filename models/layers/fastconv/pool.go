package fastconv

import (
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
// When the windows tile the input (stride == window, no padding needed before the first
// window), pooling is a Slice that drops the remainder (if any), a Reshape to
// [batch, n0/w0, w0, n1/w1, w1, ..., C] and one ReduceMax/ReduceMean: cheap on every
// backend and differentiable. Max-pool gradients then go to every position that attains the
// window's maximum (graph.MaxPool's select-and-scatter picks one); they differ only on ties.
// Other configurations use graph.MaxPool/MeanPool.
func Pool(x *graph.Node, kind PoolKind, window []int, cfg Config) *graph.Node {
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
	if crop {
		x = graph.Slice(x, spec...)
	}
	split := make([]int, 0, 2+2*nsp)
	split = append(split, dims[0])
	axes := make([]int, 0, nsp)
	for i, w := range window {
		if w == 1 {
			split = append(split, dims[i+1])
			continue
		}
		split = append(split, dims[i+1]/w, w)
		axes = append(axes, len(split)-1)
	}
	split = append(split, dims[len(dims)-1])
	if len(axes) == 0 {
		return x
	}
	x = graph.Reshape(x, split...)
	if kind == Mean {
		return graph.ReduceMean(x, axes...)
	}
	return graph.ReduceMax(x, axes...)
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
