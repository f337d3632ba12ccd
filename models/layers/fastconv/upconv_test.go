package fastconv

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/gomlx/gomlx/core/graph"
	"github.com/stretchr/testify/require"
)

// TestUpConvCFMatchesUpsampleThenConv checks UpConvCF's output and its gradients w.r.t. x,
// the kernel and the bias against UpsampleCF followed by ConvCF (same padding), and against
// the plain ops: nearest upsampling by broadcast and graph.ConvGeneral, channels-last.
func TestUpConvCFMatchesUpsampleThenConv(t *testing.T) {
	backend := goBackend(t)
	cases := []struct {
		name string
		x, k []int // x channels-first [C, B, spatial...]; kernel [k..., C, F]
		bias bool
	}{
		{"2d 3x3", []int{3, 2, 4, 5}, []int{3, 3, 3, 2}, true},
		{"2d 3x3 no bias", []int{2, 2, 3, 3}, []int{3, 3, 2, 4}, false},
		{"2d 3x3 one channel one filter", []int{1, 3, 4, 4}, []int{3, 3, 1, 1}, true},
		{"2d 1x1", []int{2, 2, 3, 2}, []int{1, 1, 2, 3}, true},
		{"2d 2x2 even", []int{2, 2, 3, 4}, []int{2, 2, 2, 3}, true},
		{"2d 5x3", []int{2, 1, 4, 3}, []int{5, 3, 2, 2}, true},
		{"1d k3", []int{2, 3, 6}, []int{3, 2, 3}, true},
		{"1d k4", []int{3, 2, 5}, []int{4, 3, 2}, false},
		{"3d 3x3x3", []int{2, 2, 2, 3, 2}, []int{3, 3, 3, 2, 2}, true},
		{"size-1 spatial axis", []int{2, 2, 1, 4}, []int{3, 3, 2, 2}, true},
	}
	for ci, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(uint64(ci), 31))
			x := randTensor(rng, tc.x...)
			k := randTensor(rng, tc.k...)
			b := randTensor(rng, tc.k[len(tc.k)-1])
			nsp := len(tc.x) - 2
			build := func(impl string) func(x, k, b *graph.Node) []*graph.Node {
				return func(x, k, b *graph.Node) []*graph.Node {
					bb := b
					if !tc.bias {
						bb = nil
					}
					var y *graph.Node
					switch impl {
					case "upconv":
						y = UpConvCF(x, k, bb)
					case "upsample+conv":
						y = ConvCF(UpsampleCF(x, 2), k, bb, Config{Padding: Same})
					default: // plain ops, channels-last
						up := upsampleRef(x, perAxis("factor", []int{2}, nsp, 1))
						y = ToChannelsFirst(reference(ToChannelsLast(up), k, Config{Padding: Same}))
						if tc.bias {
							bd := make([]int, y.Rank())
							for i := range bd {
								bd[i] = 1
							}
							bd[0] = tc.k[len(tc.k)-1]
							y = graph.Add(y, graph.Reshape(b, bd...))
						}
					}
					wrt := []*graph.Node{x, k}
					if tc.bias {
						wrt = append(wrt, b)
					}
					return append([]*graph.Node{y}, graph.Gradient(lossOf(y, uint64(ci)), wrt...)...)
				}
			}
			got, err := graph.MustNewExec(backend, build("upconv")).Call(x, k, b)
			require.NoError(t, err)
			names := []string{"output", "d/dx", "d/dkernel", "d/dbias"}
			for _, ref := range []string{"upsample+conv", "plain ops"} {
				want, err := graph.MustNewExec(backend, build(ref)).Call(x, k, b)
				require.NoError(t, err)
				require.Len(t, got, len(want))
				for i := range want {
					if ref == "plain ops" && names[i] == "d/dx" && tc.k[0]%2 == 0 {
						continue // graph.ConvGeneral's d/dx is wrong for even kernels (see TestConvMatchesConvGeneral)
					}
					requireClose(t, fmt.Sprintf("%s vs %s: %s", tc.name, ref, names[i]), want[i], got[i], 1e-4)
				}
			}
		})
	}
	require.Error(t, tryGraph(func() {
		g := graph.NewGraph(backend, "mismatch")
		UpConvCF(graph.Zeros(g, shapesOf(3, 2, 4, 4)), graph.Zeros(g, shapesOf(3, 3, 2, 4)), nil)
	}), "kernel expecting 2 channels on x with 3")
}
