package fastconv

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/gomlx/compute"
	"github.com/gomlx/compute/dtypes"
	_ "github.com/gomlx/compute/gobackend"
	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/stretchr/testify/require"
)

func goBackend(t testing.TB) compute.Backend {
	t.Helper()
	b, err := compute.NewWithConfig("go")
	require.NoError(t, err)
	return b
}

// randTensor returns a tensor of the given dimensions with values in [-1, 1).
func randTensor(rng *rand.Rand, dims ...int) *tensors.Tensor {
	n := 1
	for _, d := range dims {
		n *= d
	}
	v := make([]float32, n)
	for i := range v {
		v[i] = 2*rng.Float32() - 1
	}
	return tensors.FromFlatDataAndDimensions(v, dims...)
}

func flat(t testing.TB, x *tensors.Tensor) []float32 {
	t.Helper()
	v, err := tensors.CopyFlatData[float32](x)
	require.NoError(t, err)
	return v
}

// requireClose checks |got-want| <= tol*(1+|want|) element-wise.
func requireClose(t *testing.T, what string, want, got *tensors.Tensor, tol float64) {
	t.Helper()
	require.Equal(t, want.Shape().Dimensions, got.Shape().Dimensions, "%s: shape", what)
	w, g := flat(t, want), flat(t, got)
	worst, at := 0.0, -1
	for i := range w {
		d := math.Abs(float64(w[i]-g[i])) / (1 + math.Abs(float64(w[i])))
		if d > worst {
			worst, at = d, i
		}
	}
	if worst > tol {
		t.Fatalf("%s: element %d differs: want %g, got %g (relative error %.3g > %.3g)", what, at, w[at], g[at], worst, tol)
	}
}

// weights returns a fixed random tensor shaped like y, so loss = sum(y * weights) has
// a non-uniform adjoint.
func lossOf(y *graph.Node, seed uint64) *graph.Node {
	rng := rand.New(rand.NewPCG(seed, 7))
	w := randTensor(rng, y.Shape().Dimensions...)
	return graph.ReduceAllSum(graph.Mul(y, graph.Const(y.Graph(), w)))
}

// convCFAsCL is ConvCF between ToChannelsFirst and ToChannelsLast: a channels-last
// convolution to compare with the reference.
func convCFAsCL(x, k, b *graph.Node, cfg Config) *graph.Node {
	return ToChannelsLast(ConvCF(ToChannelsFirst(x), k, b, cfg))
}

// reference builds graph.Convolve with the same configuration (channels-last).
func reference(x, kernel *graph.Node, cfg Config) *graph.Node {
	nsp := x.Rank() - 2
	c := graph.Convolve(x, kernel).StridePerAxis(perAxis("strides", cfg.Strides, nsp, 1)...)
	if len(cfg.Dilations) > 0 {
		c = c.DilationPerAxis(perAxis("dilations", cfg.Dilations, nsp, 1)...)
	}
	if cfg.Padding == Same {
		c = c.PadSame()
	} else {
		c = c.NoPadding()
	}
	return c.Done()
}

func TestConvMatchesConvGeneral(t *testing.T) {
	backend := goBackend(t)
	cases := []struct {
		name   string
		x, k   []int
		cfg    Config
		bias   bool
		gradIn bool
		// refBroken marks configurations where graph.ConvGeneral's gradient w.r.t. x is
		// wrong in GoMLX v0.28.2 (even kernel sizes, and strides that do not divide the
		// padded input); there d/dx is checked against exact directional derivatives only.
		refBroken bool
	}{
		{"2d 3x3 same c1", []int{2, 7, 6, 1}, []int{3, 3, 1, 4}, Config{Padding: Same}, true, true, false},
		{"2d 3x3 same c1 f16 (narrow patches)", []int{2, 7, 6, 1}, []int{3, 3, 1, 16}, Config{Padding: Same}, true, false, false},
		{"2d 3x3 same c3", []int{2, 6, 5, 3}, []int{3, 3, 3, 5}, Config{Padding: Same}, false, true, false},
		{"2d 3x3 valid", []int{2, 6, 7, 2}, []int{3, 3, 2, 3}, Config{}, true, true, false},
		{"2d 3x2 stride 2 same", []int{2, 9, 8, 2}, []int{3, 2, 2, 3}, Config{Strides: []int{2}, Padding: Same}, true, true, true},
		{"2d 5x5 stride 2x3 valid", []int{1, 11, 13, 2}, []int{5, 5, 2, 2}, Config{Strides: []int{2, 3}}, false, true, false},
		{"2d 4x4 even same", []int{2, 8, 8, 2}, []int{4, 4, 2, 3}, Config{Padding: Same}, true, true, true},
		{"2d 3x3 dilation 2 same", []int{2, 9, 9, 2}, []int{3, 3, 2, 2}, Config{Dilations: []int{2}, Padding: Same}, true, true, false},
		{"2d 1x1", []int{2, 4, 4, 3}, []int{1, 1, 3, 4}, Config{}, true, true, false},
		{"2d data input (no dx)", []int{2, 6, 6, 1}, []int{3, 3, 1, 2}, Config{Padding: Same}, true, false, false},
		{"1d k5 same", []int{3, 20, 4}, []int{5, 4, 6}, Config{Padding: Same}, true, true, false},
		{"1d k7 stride 2 valid", []int{2, 31, 3}, []int{7, 3, 4}, Config{Strides: []int{2}}, true, true, false},
		{"1d k3 dilation 4 same", []int{2, 25, 2}, []int{3, 2, 3}, Config{Dilations: []int{4}, Padding: Same}, false, true, false},
		{"3d 3x3x3 same", []int{2, 5, 6, 4, 2}, []int{3, 3, 3, 2, 3}, Config{Padding: Same}, true, true, false},
		{"3d 2x3x3 stride 2 valid", []int{1, 6, 7, 7, 2}, []int{2, 3, 3, 2, 2}, Config{Strides: []int{2}}, true, true, true},
		{"2d 3x3 same one filter (output layer)", []int{2, 6, 5, 8}, []int{3, 3, 8, 1}, Config{Padding: Same}, true, true, false},
		{"2d 3x2 valid dilation 2 few filters", []int{2, 9, 8, 8}, []int{3, 2, 8, 2}, Config{Dilations: []int{2}}, true, true, false},
		{"1d k4 same few filters", []int{2, 11, 9}, []int{4, 9, 2}, Config{Padding: Same}, false, true, true},
	}
	for ci, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(uint64(ci), 1))
			x := randTensor(rng, tc.x...)
			k := randTensor(rng, tc.k...)
			b := randTensor(rng, tc.k[len(tc.k)-1])
			build := func(impl string) func(x, k, b *graph.Node) []*graph.Node {
				return func(x, k, b *graph.Node) []*graph.Node {
					var y *graph.Node
					bb := b
					if !tc.bias {
						bb = nil
					}
					switch impl {
					case "fastconv":
						y = ConvWithBias(x, k, bb, tc.cfg)
					case "channels-first", "channels-first col2im", "channels-first dx conv", "channels-first kernel first":
						y = convCFAsCL(x, k, bb, tc.cfg)
					default:
						y = reference(x, k, tc.cfg)
						if tc.bias {
							bd := make([]int, y.Rank())
							for i := range bd {
								bd[i] = 1
							}
							bd[len(bd)-1] = b.Shape().Dimensions[0]
							y = graph.Add(y, graph.Reshape(b, bd...))
						}
					}
					loss := lossOf(y, uint64(ci))
					wrt := []*graph.Node{k}
					if tc.bias {
						wrt = append(wrt, b)
					}
					if tc.gradIn {
						wrt = append(wrt, x)
					}
					return append([]*graph.Node{y, loss}, graph.Gradient(loss, wrt...)...)
				}
			}
			want, err := graph.MustNewExec(backend, build("reference")).Call(x, k, b)
			require.NoError(t, err)
			// ConvCF's input gradient has two forms (see dxByConvolution): the default
			// choice, and each one forced.
			// and the kernel-first form (useKernelFirst) forced on and off.
			for _, impl := range []string{"fastconv", "channels-first", "channels-first col2im", "channels-first dx conv", "channels-first kernel first"} {
				dxMode = map[string]int{"channels-first col2im": 1, "channels-first dx conv": 2}[impl]
				kernelFirstMode = map[string]int{"channels-first col2im": 1, "channels-first dx conv": 1, "channels-first kernel first": 2}[impl]
				got, err := graph.MustNewExec(backend, build(impl)).Call(x, k, b)
				dxMode, kernelFirstMode = 0, 0
				require.NoError(t, err)
				require.Len(t, got, len(want))
				names := []string{"output", "loss", "d/dkernel", "d/dbias", "d/dx"}
				if !tc.bias {
					names = []string{"output", "loss", "d/dkernel", "d/dx"}
				}
				for i := range want {
					if tc.refBroken && names[i] == "d/dx" {
						continue
					}
					requireClose(t, fmt.Sprintf("%s %s %s", impl, tc.name, names[i]), want[i], got[i], 1e-4)
				}
			}
			checkDirectional(t, backend, tc.name, x, k, b, tc.bias, tc.cfg, uint64(ci), ConvWithBias)
			for mode, form := range []string{"", " col2im", " dx conv", " kernel first"} {
				dxMode = min(mode, 2)
				kernelFirstMode = map[int]int{1: 1, 2: 1, 3: 2}[mode]
				checkDirectional(t, backend, tc.name+" channels-first"+form, x, k, b, tc.bias, tc.cfg, uint64(ci), convCFAsCL)
			}
			dxMode, kernelFirstMode = 0, 0
		})
	}
}

// checkDirectional verifies the custom gradients without trusting any other gradient:
// loss = Σ y·w is linear in x, in the kernel and in the bias, so for any direction d,
// loss(p + d) - loss(p) = <∇loss, d> exactly (up to float rounding).
func checkDirectional(t *testing.T, backend compute.Backend, name string, x, k, b *tensors.Tensor, useBias bool, cfg Config, seed uint64,
	conv func(x, k, b *graph.Node, cfg Config) *graph.Node) {
	t.Helper()
	rng := rand.New(rand.NewPCG(seed, 99))
	dx := randTensor(rng, x.Shape().Dimensions...)
	dk := randTensor(rng, k.Shape().Dimensions...)
	db := randTensor(rng, b.Shape().Dimensions...)
	outs, err := graph.MustNewExec(backend, func(x, k, b, dx, dk, db *graph.Node) []*graph.Node {
		bias := func(b *graph.Node) *graph.Node {
			if useBias {
				return b
			}
			return nil
		}
		loss := func(x, k, b *graph.Node) *graph.Node { return lossOf(conv(x, k, bias(b), cfg), seed) }
		l0 := loss(x, k, b)
		wrt := []*graph.Node{x, k}
		if useBias {
			wrt = append(wrt, b)
		}
		grads := graph.Gradient(l0, wrt...)
		dot := func(a, b *graph.Node) *graph.Node { return graph.ReduceAllSum(graph.Mul(a, b)) }
		res := []*graph.Node{
			graph.Sub(loss(graph.Add(x, dx), k, b), l0), dot(grads[0], dx),
			graph.Sub(loss(x, graph.Add(k, dk), b), l0), dot(grads[1], dk),
		}
		if useBias {
			res = append(res, graph.Sub(loss(x, k, graph.Add(b, db)), l0), dot(grads[2], db))
		} else {
			res = append(res, graph.ScalarZero(x.Graph(), dtypes.Float32), graph.ScalarZero(x.Graph(), dtypes.Float32))
		}
		return res
	}).Call(x, k, b, dx, dk, db)
	require.NoError(t, err)
	for i, what := range []string{"x", "kernel", "bias"} {
		delta, pred := flat(t, outs[2*i])[0], flat(t, outs[2*i+1])[0]
		require.InDeltaf(t, float64(delta), float64(pred), 1e-3*(1+math.Abs(float64(delta))),
			"%s: directional derivative along %s: loss difference %g, <grad, d> %g", name, what, delta, pred)
	}
}

func TestPatchesLayout(t *testing.T) {
	// x[0, h, w, c] = 100h + 10w + c; a 2x2 valid window at (0,0) lists (0,0),(0,1),(1,0),(1,1).
	backend := goBackend(t)
	v := make([]float32, 3*3*2)
	for h := range 3 {
		for w := range 3 {
			for c := range 2 {
				v[(h*3+w)*2+c] = float32(100*h + 10*w + c)
			}
		}
	}
	out, err := graph.MustNewExec(backend, func(x *graph.Node) *graph.Node {
		return Patches(x, []int{2, 2}, Config{})
	}).Call(tensors.FromFlatDataAndDimensions(v, 1, 3, 3, 2))
	require.NoError(t, err)
	require.Equal(t, []int{1, 2, 2, 8}, out[0].Shape().Dimensions)
	require.Equal(t, []float32{0, 1, 10, 11, 100, 101, 110, 111}, flat(t, out[0])[:8])
}

func TestConvErrors(t *testing.T) {
	backend := goBackend(t)
	cases := []struct {
		name string
		fn   func(g *graph.Graph)
		msg  string
	}{
		{"channel mismatch", func(g *graph.Graph) {
			Conv2D(graph.Zeros(g, shapesOf(2, 5, 5, 3)), graph.Zeros(g, shapesOf(3, 3, 2, 4)), 1, Same)
		}, "expects 2 input channels"},
		{"kernel too big", func(g *graph.Graph) {
			Conv2D(graph.Zeros(g, shapesOf(2, 2, 2, 1)), graph.Zeros(g, shapesOf(3, 3, 1, 4)), 1, Valid)
		}, "does not fit"},
		{"rank", func(g *graph.Graph) {
			Conv1D(graph.Zeros(g, shapesOf(2, 5, 5, 3)), graph.Zeros(g, shapesOf(3, 3, 4)), 1, 1, Same)
		}, "[batch, time, channels]"},
		{"strides count", func(g *graph.Graph) {
			Conv(graph.Zeros(g, shapesOf(2, 5, 5, 1)), graph.Zeros(g, shapesOf(3, 3, 1, 4)), Config{Strides: []int{1, 2, 3}})
		}, "strides has 3 values"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			g := graph.NewGraph(backend, tc.name)
			err := tryGraph(func() { tc.fn(g) })
			require.Error(t, err)
			require.Contains(t, err.Error(), tc.msg)
		})
	}
}

// TestSeveralGradients takes two gradients of different losses in one graph (as GAN or
// multi-loss training does): each must use its own adjoint.
func TestSeveralGradients(t *testing.T) {
	backend := goBackend(t)
	rng := rand.New(rand.NewPCG(21, 22))
	x, k, b := randTensor(rng, 2, 6, 6, 2), randTensor(rng, 3, 3, 2, 3), randTensor(rng, 3)
	build := func(fast bool) func(x, k, b *graph.Node) []*graph.Node {
		return func(x, k, b *graph.Node) []*graph.Node {
			var y *graph.Node
			if fast {
				y = ConvWithBias(x, k, b, Config{Padding: Same})
			} else {
				y = graph.Add(reference(x, k, Config{Padding: Same}), graph.Reshape(b, 1, 1, 1, 3))
			}
			g1 := graph.Gradient(lossOf(y, 1), x, k, b)
			g2 := graph.Gradient(lossOf(y, 2), x, k, b)
			return append(g1, g2...)
		}
	}
	want, err := graph.MustNewExec(backend, build(false)).Call(x, k, b)
	require.NoError(t, err)
	got, err := graph.MustNewExec(backend, build(true)).Call(x, k, b)
	require.NoError(t, err)
	for i, name := range []string{"dx1", "dk1", "db1", "dx2", "dk2", "db2"} {
		requireClose(t, name, want[i], got[i], 1e-4)
	}
}
