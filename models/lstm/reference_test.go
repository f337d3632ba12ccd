package lstm

import (
	"fmt"
	"math"
	"math/rand/v2"
	"sort"
	"strings"
	"testing"

	"github.com/gomlx/compute/shapes"
	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/layers"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/gomlx/gomlx/ml/model/initializer"
	"github.com/stretchr/testify/require"

	"github.com/biopipe/biopipe/models"
	"github.com/biopipe/biopipe/models/internal/seq"
	"github.com/biopipe/biopipe/models/layers/fastconv"
)

// The unrolled implementation that the fused recurrence replaced, kept as the reference:
// per-step [x_t, h]·[Wi; Wr] matmuls on a list of per-step inputs, gradients by autodiff.

func refApplySteps(xs []*graph.Node, wi, wr, b *graph.Node) (outputs []*graph.Node, last *graph.Node) {
	matmul := func(a, b *graph.Node) *graph.Node {
		return graph.DotGeneral(a, []int{2}, []int{0}, b, []int{1}, []int{0})
	}
	steps := len(xs)
	batch, feat := xs[0].Shape().Dimensions[0], xs[0].Shape().Dimensions[1]
	d := wi.Shape().Dimensions[0]
	units := wr.Shape().Dimensions[1]
	w := graph.Concatenate([]*graph.Node{wi, wr}, 1)
	bias := graph.Reshape(b, d, 1, 4*units)
	input := func(t int) *graph.Node {
		if d == 1 {
			return graph.Reshape(xs[t], 1, batch, feat)
		}
		return graph.Stack([]*graph.Node{xs[t], xs[steps-1-t]}, 0)
	}
	var h, c *graph.Node
	hs := make([]*graph.Node, steps)
	for t := range steps {
		var z *graph.Node
		if h == nil {
			z = matmul(input(t), wi)
		} else {
			z = matmul(graph.Concatenate([]*graph.Node{input(t), h}, 2), w)
		}
		z = graph.Add(z, bias)
		s := graph.Sigmoid(graph.Slice(z, graph.AxisRange(), graph.AxisRange(), graph.AxisRange(0, 3*units)))
		cand := graph.Tanh(graph.Slice(z, graph.AxisRange(), graph.AxisRange(), graph.AxisRange(3*units, 4*units)))
		gate := func(k int) *graph.Node {
			return graph.Slice(s, graph.AxisRange(), graph.AxisRange(), graph.AxisRange(k*units, (k+1)*units))
		}
		if c == nil {
			c = graph.Mul(gate(0), cand)
		} else {
			c = graph.Add(graph.Mul(gate(1), c), graph.Mul(gate(0), cand))
		}
		h = graph.Mul(gate(2), graph.Tanh(c))
		hs[t] = h
	}
	outputs = make([]*graph.Node, steps)
	if d == 1 {
		for t, v := range hs {
			outputs[t] = graph.Reshape(v, batch, units)
		}
		return outputs, outputs[steps-1]
	}
	dir := func(v *graph.Node, k int) *graph.Node {
		return graph.Reshape(graph.Slice(v, graph.AxisElem(k)), batch, units)
	}
	for t := range steps {
		outputs[t] = graph.Concatenate([]*graph.Node{dir(hs[t], 0), dir(hs[steps-1-t], 1)}, -1)
	}
	return outputs, graph.Reshape(graph.TransposeAllAxes(h, 1, 0, 2), batch, 2*units)
}

func refApply(x, wi, wr, b *graph.Node) (outputs, last *graph.Node) {
	dims := x.Shape().Dimensions
	steps := make([]*graph.Node, dims[0])
	for t := range steps {
		steps[t] = graph.Reshape(graph.Slice(x, graph.AxisElem(t)), dims[1], dims[2])
	}
	outs, last := refApplySteps(steps, wi, wr, b)
	return graph.Stack(outs, 0), last
}

// refForward is the family's network with the reference layers (the same variables).
func (c config) refForward(scope *model.Scope, x *graph.Node, outDim int) *graph.Node {
	h := seq.AsSequence(x)
	if len(c.front) > 0 || c.downsample > 1 {
		hcf := seq.PoolCF(fastconv.ToChannelsFirst(h), "avg", c.downsample)
		h = fastconv.ToChannelsLast(seq.ApplyBlocks(scope, "front_%d", c.front, hcf))
	}
	dims := h.Shape().Dimensions
	steps := make([]*graph.Node, dims[1])
	for t := range steps {
		steps[t] = graph.Reshape(graph.Slice(h, graph.AxisRange(), graph.AxisElem(t)), dims[0], dims[2])
	}
	var last *graph.Node
	for l := range c.layers {
		ls := scope.In("lstm_%d", l)
		if l > 0 && c.dropout > 0 {
			for t := range steps {
				steps[t] = layers.DropoutStatic(ls, steps[t], c.dropout)
			}
		}
		g := ls.WithInitializer(initializer.Zero)
		f := steps[0].Shape().Dimensions[1]
		wi := g.VariableWithShape("input_weights", shapes.Make(x.DType(), c.directions, f, 4*c.units)).NodeValue(x.Graph())
		wr := g.VariableWithShape("recurrent_weights", shapes.Make(x.DType(), c.directions, c.units, 4*c.units)).NodeValue(x.Graph())
		b := g.VariableWithShape("biases", shapes.Make(x.DType(), c.directions, 4*c.units)).NodeValue(x.Graph())
		steps, last = refApplySteps(steps, wi, wr, b)
	}
	feat := last
	if c.readout == "mean" {
		feat = graph.ReduceMean(graph.Stack(steps, 0), 0)
	}
	feat = layers.DropoutStatic(scope.In("readout"), feat, c.dropout)
	return seq.Head(scope, feat, c.hidden, c.act, c.dropout, outDim)
}

// TestApplyMatchesReference compares Apply (input projection for all steps, fused
// recurrence with the hand-written backward pass) with the unrolled autodiff reference:
// both outputs and the gradients of a weighted sum of them w.r.t. x and every weight, on
// one and two directions and several lengths (one step included).
func TestApplyMatchesReference(t *testing.T) {
	backend, err := models.NewBackend("")
	require.NoError(t, err)
	for _, tc := range []struct{ d, steps, batch, feat, units int }{
		{1, 5, 3, 4, 6}, {2, 5, 3, 4, 6}, {1, 1, 2, 3, 5}, {2, 1, 2, 3, 5}, {2, 2, 1, 1, 1}, {2, 7, 4, 9, 3}, {1, 13, 2, 2, 8},
	} {
		t.Run(fmt.Sprintf("%+v", tc), func(t *testing.T) {
			r := rand.New(rand.NewPCG(uint64(tc.steps), uint64(tc.d)))
			rnd := func(dims ...int) *tensors.Tensor { return randTensor(r, 0.7, dims...) }
			args := []any{rnd(tc.steps, tc.batch, tc.feat), rnd(tc.d, tc.feat, 4*tc.units), rnd(tc.d, tc.units, 4*tc.units), rnd(tc.d, 4*tc.units),
				rnd(tc.steps, tc.batch, tc.d*tc.units), rnd(tc.batch, tc.d*tc.units)}
			run := func(apply func(x, wi, wr, b *graph.Node) (*graph.Node, *graph.Node)) []*tensors.Tensor {
				outs, err := graph.ExecOnceN(backend, func(in []*graph.Node) []*graph.Node {
					o, last := apply(in[0], in[1], in[2], in[3])
					loss := graph.Add(graph.ReduceAllSum(graph.Mul(o, in[4])), graph.ReduceAllSum(graph.Mul(last, in[5])))
					return append([]*graph.Node{o, last}, graph.Gradient(loss, in[0], in[1], in[2], in[3])...)
				}, args...)
				require.NoError(t, err)
				return outs
			}
			want, got := run(refApply), run(Apply)
			for i, name := range []string{"outputs", "last", "d/dx", "d/dinput_weights", "d/drecurrent_weights", "d/dbiases"} {
				requireClose(t, name, want[i], got[i], 2e-5, tc.steps == 1 && name == "d/drecurrent_weights")
			}
		})
	}
}

// TestForwardMatchesReference builds the family's network and the reference on the same
// (random) variables and compares the output and the gradients w.r.t. every variable.
func TestForwardMatchesReference(t *testing.T) {
	backend, err := models.NewBackend("")
	require.NoError(t, err)
	f, err := models.Get(Family)
	require.NoError(t, err)
	for ci, tc := range []struct {
		params map[string]any
		shape  []int
	}{
		{map[string]any{"units": 5, "layers": 2, "bidirectional": true, "readout": "mean"}, []int{7, 3}},
		{map[string]any{"units": 4, "layers": 3}, []int{5, 2}},
		{map[string]any{"units": 3, "bidirectional": true, "channels": []any{4}, "pool_size": 3, "downsample": 2, "hidden": []any{3}}, []int{23, 2}},
		{map[string]any{"units": 6, "bidirectional": true}, []int{1}},
	} {
		t.Run(fmt.Sprint(tc.params), func(t *testing.T) {
			p, err := f.ResolveParams(tc.params)
			require.NoError(t, err)
			c := newConfig(p)
			store := model.NewStore()
			require.NoError(t, store.SetRNGStateFromSeed(int64(ci+1)))
			r := rand.New(rand.NewPCG(uint64(ci), 1))
			var names []string
			exec, err := model.NewExec(backend, store, func(scope *model.Scope, x *graph.Node) []*graph.Node {
				g := x.Graph()
				store.SetTraining(g, true)
				got := c.forward(scope.In("m"), x, 3)
				want := c.refForward(scope.Shared("m"), x, 3)
				w := graph.Const(g, randTensor(r, 1, want.Shape().Dimensions...))
				var vars []*model.Variable
				for v := range store.IterVariables() {
					if v.Trainable && !strings.HasPrefix(v.Path(), "/#") {
						vars = append(vars, v)
					}
				}
				sort.Slice(vars, func(i, j int) bool { return vars[i].Path() < vars[j].Path() })
				var wrt []*graph.Node
				names = nil
				for _, v := range vars {
					wrt = append(wrt, v.NodeValue(g))
					names = append(names, v.Path())
				}
				outs := []*graph.Node{want, got}
				outs = append(outs, graph.Gradient(graph.ReduceAllSum(graph.Mul(want, w)), wrt...)...)
				return append(outs, graph.Gradient(graph.ReduceAllSum(graph.Mul(got, w)), wrt...)...)
			})
			require.NoError(t, err)
			x := randTensor(r, 1, append([]int{4}, tc.shape...)...)
			_, err = exec.Call(x) // creates the variables
			require.NoError(t, err)
			for v := range store.IterVariables() {
				if v.Trainable && !strings.HasPrefix(v.Path(), "/#") {
					require.NoError(t, v.SetValue(randTensor(r, 0.5, v.Shape().Dimensions...)))
				}
			}
			outs, err := exec.Call(x)
			require.NoError(t, err)
			requireClose(t, "output", outs[0], outs[1], 2e-5)
			n := len(names)
			require.Greater(t, n, 3)
			for i, name := range names {
				requireClose(t, "gradient of "+name, outs[2+i], outs[2+n+i], 1e-4, tc.shape[0] == 1 && strings.HasSuffix(name, "recurrent_weights"))
			}
		})
	}
}

// randTensor returns a tensor of the given dimensions with values uniform in [-scale, scale).
func randTensor(r *rand.Rand, scale float32, dims ...int) *tensors.Tensor {
	n := 1
	for _, d := range dims {
		n *= d
	}
	v := make([]float32, n)
	for i := range v {
		v[i] = scale * (2*r.Float32() - 1)
	}
	return tensors.FromFlatDataAndDimensions(v, dims...)
}

// requireClose checks |got-want| <= tol*(1+|want|) element-wise, and, unless zero is
// allowed (a recurrent weight's gradient over one step), that want is not all zeros (a
// vacuous check).
func requireClose(t *testing.T, what string, want, got *tensors.Tensor, tol float64, zeroAllowed ...bool) {
	t.Helper()
	require.Equal(t, want.Shape().Dimensions, got.Shape().Dimensions, "%s: shape", what)
	w, g := tensors.MustCopyFlatData[float32](want), tensors.MustCopyFlatData[float32](got)
	worst, at, norm := 0.0, -1, 0.0
	for i := range w {
		norm += math.Abs(float64(w[i]))
		d := math.Abs(float64(w[i]-g[i])) / (1 + math.Abs(float64(w[i])))
		if d > worst {
			worst, at = d, i
		}
	}
	if len(zeroAllowed) == 0 || !zeroAllowed[0] {
		require.Greater(t, norm, 1e-6, "%s: the reference is zero, the check would be vacuous", what)
	}
	if worst > tol {
		t.Fatalf("%s: element %d differs: want %g, got %g (relative error %.3g > %.3g)", what, at, w[at], g[at], worst, tol)
	}
}
