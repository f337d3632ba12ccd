package fastconv

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/stretchr/testify/require"
)

// poolRef is graph.MaxPool/MeanPool with the same window, strides and padding.
func poolRef(x *graph.Node, kind PoolKind, window []int, cfg Config) *graph.Node {
	var b *graph.PoolBuilder
	if kind == Mean {
		b = graph.MeanPool(x)
	} else {
		b = graph.MaxPool(x)
	}
	b = b.WindowPerAxis(window...)
	if len(cfg.Strides) > 0 {
		b = b.StridePerAxis(perAxis("strides", cfg.Strides, len(window), 1)...)
	} else {
		b = b.StridePerAxis(window...)
	}
	if cfg.Padding == Same {
		b = b.PadSame()
	}
	return b.Done()
}

func TestPoolMatchesGraphPool(t *testing.T) {
	backend := goBackend(t)
	cases := []struct {
		name   string
		x      []int
		kind   PoolKind
		window []int
		cfg    Config
	}{
		{"max 2x2", []int{2, 8, 6, 3}, Max, []int{2, 2}, Config{}},
		{"mean 2x2", []int{2, 8, 6, 3}, Mean, []int{2, 2}, Config{}},
		{"max 2x2 odd sizes (crop)", []int{2, 7, 5, 2}, Max, []int{2, 2}, Config{}},
		{"mean 3x3 odd sizes (crop)", []int{2, 10, 7, 2}, Mean, []int{3, 3}, Config{}},
		{"max 2x2 same, divisible", []int{2, 6, 4, 2}, Max, []int{2, 2}, Config{Padding: Same}},
		{"max 3x3 stride 2 (fallback)", []int{2, 9, 9, 2}, Max, []int{3, 3}, Config{Strides: []int{2}}},
		{"max 3x3 same stride 3 (fallback)", []int{2, 9, 9, 2}, Max, []int{3, 3}, Config{Strides: []int{3}, Padding: Same}},
		{"mean 2x1", []int{2, 6, 5, 2}, Mean, []int{2, 1}, Config{}},
		{"max 1d 4", []int{3, 17, 4}, Max, []int{4}, Config{}},
		{"mean 1d 2", []int{3, 16, 4}, Mean, []int{2}, Config{}},
		{"max 3d 2x2x2", []int{2, 4, 6, 4, 2}, Max, []int{2, 2, 2}, Config{}},
		{"max 2x2 one channel", []int{3, 8, 6, 1}, Max, []int{2, 2}, Config{}},
		{"mean 2x3 one channel (crop)", []int{3, 9, 7, 1}, Mean, []int{2, 3}, Config{}},
		{"max 1d 3 one channel (crop)", []int{2, 10, 1}, Max, []int{3}, Config{}},
	}
	for ci, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(uint64(ci), 3))
			x := randTensor(rng, tc.x...)
			build := func(impl string) func(x *graph.Node) []*graph.Node {
				return func(x *graph.Node) []*graph.Node {
					var y *graph.Node
					switch impl {
					case "fastconv":
						y = Pool(x, tc.kind, tc.window, tc.cfg)
					case "channels-first":
						y = ToChannelsLast(PoolCF(ToChannelsFirst(x), tc.kind, tc.window, tc.cfg, false))
					default:
						y = poolRef(x, tc.kind, tc.window, tc.cfg)
					}
					loss := lossOf(y, uint64(ci))
					return []*graph.Node{y, graph.Gradient(loss, x)[0]}
				}
			}
			want, err := graph.MustNewExec(backend, build("reference")).Call(x)
			require.NoError(t, err)
			for _, impl := range []string{"fastconv", "channels-first"} {
				got, err := graph.MustNewExec(backend, build(impl)).Call(x)
				require.NoError(t, err)
				requireClose(t, impl+" "+tc.name+" output", want[0], got[0], 1e-6)
				requireClose(t, impl+" "+tc.name+" d/dx", want[1], got[1], 1e-6)
			}
		})
	}
}

func TestMaxPoolReluAndRelu(t *testing.T) {
	backend := goBackend(t)
	rng := rand.New(rand.NewPCG(5, 5))
	for _, dims := range [][]int{{2, 8, 6, 3}, {2, 7, 5, 2}} {
		x := randTensor(rng, dims...)
		t.Run(fmt.Sprint(dims), func(t *testing.T) {
			ref := func(x *graph.Node) []*graph.Node {
				// relu as Where(x > 0): its gradient at 0 is 0, like PyTorch's and Relu's here.
				r := graph.Where(graph.GreaterThan(x, graph.ScalarZero(x.Graph(), x.DType())), x, graph.ZerosLike(x))
				y := graph.MaxPool(r).Window(2).Done()
				return []*graph.Node{y, graph.Gradient(lossOf(y, 1), x)[0]}
			}
			fused := func(x *graph.Node) []*graph.Node {
				y := MaxPoolRelu(x, []int{2, 2}, Config{})
				return []*graph.Node{y, graph.Gradient(lossOf(y, 1), x)[0]}
			}
			channelsFirst := func(x *graph.Node) []*graph.Node {
				y := ToChannelsLast(PoolCF(ToChannelsFirst(x), Max, []int{2, 2}, Config{}, true))
				return []*graph.Node{y, graph.Gradient(lossOf(y, 1), x)[0]}
			}
			separate := func(x *graph.Node) []*graph.Node {
				y := MaxPool2D(Relu(x), 2, 0)
				return []*graph.Node{y, graph.Gradient(lossOf(y, 1), x)[0]}
			}
			want, err := graph.MustNewExec(backend, ref).Call(x)
			require.NoError(t, err)
			for name, fn := range map[string]func(*graph.Node) []*graph.Node{"fused": fused, "separate": separate, "channels-first": channelsFirst} {
				got, err := graph.MustNewExec(backend, fn).Call(x)
				require.NoError(t, err)
				requireClose(t, name+" output", want[0], got[0], 1e-6)
				requireClose(t, name+" d/dx", want[1], got[1], 1e-6)
			}
		})
	}
}

func TestGlobalPooling(t *testing.T) {
	backend := goBackend(t)
	v := []float32{1, -2, 3, 4, 5, -6, 7, 8} // [1, 2, 2, 2]
	out, err := graph.MustNewExec(backend, func(x *graph.Node) []*graph.Node {
		return []*graph.Node{GlobalAvgPool(x), GlobalMaxPool(x)}
	}).Call(tensors.FromFlatDataAndDimensions(v, 1, 2, 2, 2))
	require.NoError(t, err)
	require.Equal(t, []int{1, 2}, out[0].Shape().Dimensions)
	require.Equal(t, []float32{4, 1}, flat(t, out[0]))
	require.Equal(t, []float32{7, 8}, flat(t, out[1]))
}

func TestPoolErrors(t *testing.T) {
	backend := goBackend(t)
	cases := []struct {
		name string
		fn   func(g *graph.Graph)
		msg  string
	}{
		{"window axes", func(g *graph.Graph) { Pool(graph.Zeros(g, shapesOf(2, 4, 4, 1)), Max, []int{2, 2, 2}, Config{}) }, "does not match the 2 spatial axes"},
		{"dilations", func(g *graph.Graph) {
			Pool(graph.Zeros(g, shapesOf(2, 4, 4, 1)), Max, []int{2}, Config{Dilations: []int{2}})
		}, "dilations"},
		{"1d rank", func(g *graph.Graph) { MaxPool1D(graph.Zeros(g, shapesOf(2, 4, 4, 1)), 2, 0) }, "[batch, time, channels]"},
		{"global rank", func(g *graph.Graph) { GlobalAvgPool(graph.Zeros(g, shapesOf(2, 4))) }, "global pooling"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := tryGraph(func() { tc.fn(graph.NewGraph(backend, tc.name)) })
			require.Error(t, err)
			require.Contains(t, err.Error(), tc.msg)
		})
	}
}
