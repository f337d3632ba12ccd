package fastconv

import (
	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/support/exceptions"
)

// LayerNormCF normalizes channels-first activations x [C, batch, spatial...] per example
// over all its channels and positions, then applies a per-channel gain and offset [C]:
//
//	y[c,b,s] = (x[c,b,s] - mean_b) / sqrt(var_b + eps) * gain[c] + offset[c]
//
// with mean_b and var_b (biased) over c and s. It equals the channels-last layer norm of the
// seq and cnn families (per example over time/space and channels, per-channel affine) on the
// transposed tensor.
//
// The channels-first layout puts the batch axis between the normalized ones, so the
// statistics are reduced in two stages: over the contiguous spatial axis into [C, batch]
// (one reduction over the last axis), then over the channels (a small [C, batch] tensor).
// The gradient is given explicitly (customOp): with xc = x - mean, S_dy and S_dyxc the
// sums over space of dy and dy·xc per [c, b],
//
//	dgain[c]   = Σ_b rstd_b·S_dyxc[c,b]         doffset[c] = Σ_b S_dy[c,b]
//	m1_b = (1/N) Σ_c gain_c·S_dy[c,b]           m2_b = (1/N) Σ_c gain_c·rstd_b·S_dyxc[c,b]
//	dx = dy·(gain_c·rstd_b) - xc·(rstd_b²·m2_b) - rstd_b·m1_b
//
// which is 7 full-size passes (2 of them reductions over the last axis) where autodiff of the
// plain formulation builds about twice as many, with reductions over interleaved axes.
func LayerNormCF(x, gain, offset *graph.Node, eps float64) *graph.Node {
	if x.Rank() < 3 {
		exceptions.Panicf("fastconv.LayerNormCF: x must be channels-first [C, batch, spatial...], got shape %s", x.Shape())
	}
	dims := x.Shape().Dimensions
	if x.Shape().Size() == 0 {
		exceptions.Panicf("fastconv.LayerNormCF: x of shape %s has an empty axis", x.Shape())
	}
	c, b := dims[0], dims[1]
	s := x.Shape().Size() / (c * b)
	for _, v := range []*graph.Node{gain, offset} {
		if v.Rank() != 1 || v.Shape().Dimensions[0] != c || v.DType() != x.DType() {
			exceptions.Panicf("fastconv.LayerNormCF: gain and offset must be [%d] of dtype %s (x %s), got %s", c, x.DType(), x.Shape(), v.Shape())
		}
	}
	n := float64(c * s)
	var xc, rstd *graph.Node // [C, B, S] and [B], reused by the gradient
	forward := func(st []*graph.Node, link *graph.Node) *graph.Node {
		x3 := graph.Reshape(st[0], c, b, s)
		mean := graph.MulScalar(graph.ReduceSum(graph.ReduceSum(x3, 2), 0), 1/n) // [B]
		xc = graph.Sub(x3, graph.Reshape(mean, 1, b, 1))
		variance := graph.MulScalar(graph.ReduceSum(graph.ReduceSum(graph.Square(xc), 2), 0), 1/n)
		// Not Rsqrt: autodiff walks these stopped nodes too and Rsqrt has no gradient.
		rstd = graph.Inverse(graph.Sqrt(graph.AddScalar(variance, eps)))
		// link (a zero scalar) joins the small per-channel scale.
		scale := graph.Add(graph.Mul(graph.Reshape(st[1], c, 1), graph.Reshape(rstd, 1, b)), link) // [C, B]
		y := graph.Add(graph.Mul(xc, graph.Reshape(scale, c, b, 1)), graph.Reshape(st[2], c, 1, 1))
		return graph.Reshape(y, dims...)
	}
	var sdy, sdyxc, sdyFor *graph.Node // [C, B], shared by the three gradients of one adjoint
	backward := func(i int, v *graph.Node) *graph.Node {
		v3 := graph.Reshape(v, c, b, s)
		if sdy == nil || sdyFor != v {
			sdyFor = v
			sdy = graph.ReduceSum(v3, 2)
			sdyxc = graph.ReduceSum(graph.Mul(v3, xc), 2)
		}
		switch i {
		case 2:
			return graph.ReduceSum(sdy, 1)
		case 1:
			return graph.ReduceSum(graph.Mul(sdyxc, graph.Reshape(rstd, 1, b)), 1)
		}
		g := graph.Reshape(gain, c, 1)
		m1 := graph.MulScalar(graph.ReduceSum(graph.Mul(sdy, g), 0), 1/n)                                        // [B]
		m2 := graph.Mul(graph.MulScalar(graph.ReduceSum(graph.Mul(sdyxc, g), 0), 1/n), rstd)                     // [B]
		scale := graph.Mul(g, graph.Reshape(rstd, 1, b))                                                         // [C, B]
		k1 := graph.Neg(graph.Mul(graph.Mul(rstd, rstd), m2))                                                    // [B]
		k2 := graph.Neg(graph.Mul(rstd, m1))                                                                     // [B]
		dx := graph.Add(graph.Mul(v3, graph.Reshape(scale, c, b, 1)), graph.Mul(xc, graph.Reshape(k1, 1, b, 1))) // full
		dx = graph.Add(dx, graph.Reshape(k2, 1, b, 1))
		return graph.Reshape(dx, dims...)
	}
	return customOp([]*graph.Node{x, gain, offset}, forward, backward)
}
