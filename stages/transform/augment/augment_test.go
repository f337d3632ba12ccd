package augment

import (
	"context"
	"encoding/json"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gopkg.in/yaml.v3"

	"github.com/biopipe/biopipe/contract"
	"github.com/biopipe/biopipe/dataset"
)

// images returns n random [h, w, c] images with label, group, id and split columns
// (rows 0,1,2,... cycle through train, train, val, test).
func images(n int, shape []int) *dataset.Frame {
	r := rand.New(rand.NewPCG(9, 9))
	size := dataset.TensorSize(shape)
	x := &dataset.Column{Name: "x", Kind: dataset.Tensor, Shape: shape, T: make([]float32, n*size)}
	for i := range x.T {
		x.T[i] = float32(r.NormFloat64())
	}
	f := dataset.New()
	f.Meta[dataset.MetaLabel], f.Meta[dataset.MetaGroup], f.Meta[dataset.MetaID] = "y", "patient", "id"
	f.SetClasses([]string{"a", "b", "c"})
	y := &dataset.Column{Name: "y", Kind: dataset.String}
	g := &dataset.Column{Name: "patient", Kind: dataset.String}
	id := &dataset.Column{Name: "id", Kind: dataset.String}
	sp := &dataset.Column{Name: dataset.ColSplit, Kind: dataset.String}
	for i := range n {
		y.S = append(y.S, []string{"a", "b", "c"}[i%3])
		g.S = append(g.S, "P"+string(rune('A'+i%5)))
		id.S = append(id.S, "img"+string(rune('a'+i)))
		sp.S = append(sp.S, []string{"train", "train", "val", "test"}[i%4])
	}
	f.Columns = []*dataset.Column{id, x, y, g, sp}
	return f
}

var all = Options{Copies: 3, FlipH: true, FlipV: true, Rotate: 15, Shift: 0.1, Contrast: 0.1, Brightness: 0.1, Noise: 0.05}

func TestDeterministicForSeed(t *testing.T) {
	f := images(12, []int{6, 6, 2})
	a, _, err := Apply(context.Background(), f, all, 42)
	require.NoError(t, err)
	b, _, err := Apply(context.Background(), f, all, 42)
	require.NoError(t, err)
	assert.Equal(t, a.Col("x").T, b.Col("x").T, "same seed: same copies bit for bit")
	c, _, err := Apply(context.Background(), f, all, 43)
	require.NoError(t, err)
	assert.NotEqual(t, a.Col("x").T, c.Col("x").T, "another seed: other copies")
}

func TestOnlyTrainRowsAreCopiedAndOriginalsUnchanged(t *testing.T) {
	f := images(12, []int{6, 6, 2})
	orig := f.Clone()
	out, sum, err := Apply(context.Background(), f, all, 1)
	require.NoError(t, err)
	train := orig.SplitRows(dataset.Train)
	require.Len(t, train, 6)
	assert.Equal(t, 12+3*6, out.NumRows())
	assert.Equal(t, &Summary{Column: "x", Shape: []int{6, 6, 2}, TrainRows: 6, Copies: 3, AddedRows: 18, OutputRows: 30}, sum)
	assert.Equal(t, orig, f, "the input frame is not modified")

	// The original rows, val and test included, are unchanged and in place.
	size := 6 * 6 * 2
	assert.Equal(t, orig.Col("x").T, out.Col("x").T[:12*size])
	for _, name := range []string{"id", "y", "patient", "split"} {
		assert.Equal(t, orig.Col(name).S, out.Col(name).S[:12], name)
	}
	// Every copy is a train row with its source's label and group.
	for k := 1; k <= 3; k++ {
		for j, r := range train {
			at := 12 + (k-1)*6 + j
			assert.Equal(t, dataset.Train, out.Col("split").S[at])
			assert.Equal(t, orig.Col("y").S[r], out.Col("y").S[at], "label preserved")
			assert.Equal(t, orig.Col("patient").S[r], out.Col("patient").S[at], "group preserved")
			assert.Equal(t, orig.Col("id").S[r]+"#aug"+string(rune('0'+k)), out.Col("id").S[at])
			assert.Equal(t, int64(k), out.Col(ColAugment).I[at])
			assert.NotEqual(t, orig.Col("x").Row(r), out.Col("x").Row(at))
		}
	}
	assert.Equal(t, len(orig.SplitRows(dataset.Test)), len(out.SplitRows(dataset.Test)))
	assert.Equal(t, len(orig.SplitRows(dataset.Val)), len(out.SplitRows(dataset.Val)))

	// The augment column is a role column, not a feature: the model still sees one image.
	m, err := out.Features(nil)
	require.NoError(t, err)
	assert.Equal(t, []int{6, 6, 2}, m.Shape)
	cls, _, err := out.Labels(nil)
	require.NoError(t, err)
	assert.Len(t, cls, 30)
}

func TestNoTransformIsIdentity(t *testing.T) {
	f := images(8, []int{5, 7, 1})
	out, _, err := Apply(context.Background(), f, Options{Copies: 2}, 3)
	require.NoError(t, err)
	for j, r := range f.SplitRows(dataset.Train) {
		assert.Equal(t, f.Col("x").Row(r), out.Col("x").Row(8+j))
	}
}

func TestFlipIsExactMirror(t *testing.T) {
	f := images(8, []int{3, 4, 1})
	out, _, err := Apply(context.Background(), f, Options{Copies: 4, FlipH: true}, 5)
	require.NoError(t, err)
	flips := 0
	train := f.SplitRows(dataset.Train)
	for k := range 4 {
		for j, r := range train {
			src, got := f.Col("x").Row(r), out.Col("x").Row(8+k*len(train)+j)
			mirror := make([]float32, len(src))
			for y := range 3 {
				for x := range 4 {
					mirror[y*4+x] = src[y*4+3-x]
				}
			}
			if slices.Equal(got, mirror) {
				flips++
			} else {
				assert.Equal(t, src, got, "a copy is the original or its mirror")
			}
		}
	}
	assert.Greater(t, flips, 0)
	assert.Less(t, flips, 16)
}

func TestGeometry(t *testing.T) {
	src := []float32{1, 2, 3, 4, 5, 6, 7, 8, 9}
	g := newGeometry([]int{3, 3, 1})
	cases := []struct {
		name string
		d    draw
		o    Options
		want []float32
	}{
		{"rotate 90", draw{angle: math.Pi / 2, gain: 1}, Options{Fill: FillEdge}, []float32{7, 4, 1, 8, 5, 2, 9, 6, 3}},
		{"rotate 180", draw{angle: math.Pi, gain: 1}, Options{Fill: FillEdge}, []float32{9, 8, 7, 6, 5, 4, 3, 2, 1}},
		{"shift right 1 edge", draw{dx: 1, gain: 1}, Options{Fill: FillEdge}, []float32{1, 1, 2, 4, 4, 5, 7, 7, 8}},
		{"shift down 1 constant", draw{dy: 1, gain: 1}, Options{Fill: FillConstant, FillValue: -1}, []float32{-1, -1, -1, 1, 2, 3, 4, 5, 6}},
		{"half-pixel shift is bilinear", draw{dx: 0.5, gain: 1}, Options{Fill: FillEdge}, []float32{1, 1.5, 2.5, 4, 4.5, 5.5, 7, 7.5, 8.5}},
		{"flip vertical", draw{flipV: true, gain: 1}, Options{Fill: FillEdge}, []float32{7, 8, 9, 4, 5, 6, 1, 2, 3}},
		{"contrast and brightness", draw{gain: 2, offset: -1}, Options{Fill: FillEdge}, []float32{1, 3, 5, 7, 9, 11, 13, 15, 17}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dst := make([]float32, 9)
			g.apply(c.d, c.o, src, dst)
			assert.InDeltaSlice(t, c.want, dst, 1e-5)
		})
	}
	// A volume [2, 3, 3, 1]: the same plane transform on every slice; depth shift by one slice.
	vol := append(slices.Clone(src), src...)
	for i := 9; i < 18; i++ {
		vol[i] += 10
	}
	gv := newGeometry([]int{2, 3, 3, 1})
	dst := make([]float32, 18)
	gv.apply(draw{angle: math.Pi, gain: 1}, Options{Fill: FillEdge}, vol, dst)
	assert.InDeltaSlice(t, []float32{9, 8, 7, 6, 5, 4, 3, 2, 1, 19, 18, 17, 16, 15, 14, 13, 12, 11}, dst, 1e-5)
	gv.apply(draw{dz: 1, gain: 1}, Options{Fill: FillConstant}, vol, dst)
	assert.Equal(t, append(make([]float32, 9), src...), dst)
	// A sequence [T=4, C=2]: shift along T.
	gs := newGeometry([]int{4, 2})
	seq := []float32{1, 10, 2, 20, 3, 30, 4, 40}
	dst = make([]float32, 8)
	gs.apply(draw{dx: -1, gain: 1}, Options{Fill: FillEdge}, seq, dst)
	assert.Equal(t, []float32{2, 20, 3, 30, 4, 40, 4, 40}, dst)
}

func TestErrors(t *testing.T) {
	f := images(4, []int{4, 4, 1})
	noSplit := f.Clone()
	noSplit.Drop(dataset.ColSplit)
	seq := images(4, []int{8, 2})
	twice, _, err := Apply(context.Background(), f, Options{Copies: 1}, 1)
	require.NoError(t, err)
	cases := []struct {
		name string
		f    *dataset.Frame
		o    Options
		err  string
	}{
		{"no split", noSplit, Options{Copies: 1}, "put transform.split before"},
		{"unknown column", f, Options{Column: "img"}, `"img" not found`},
		{"not a tensor", f, Options{Column: "patient"}, "not a tensor"},
		{"rotate a sequence", seq, Options{Rotate: 5}, "rotation needs images"},
		{"augment twice", twice, Options{Copies: 1}, "augment once"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, _, err := Apply(context.Background(), c.f, c.o, 1)
			assert.ErrorContains(t, err, c.err)
		})
	}
}

func TestStage(t *testing.T) {
	in := t.TempDir()
	require.NoError(t, images(8, []int{4, 4, 1}).WriteFile(filepath.Join(in, contract.DataFile)))
	k, err := contract.Default.Get(KindName)
	require.NoError(t, err)
	cfg, issues := contract.Check(k.Fields, map[string]any{"copies": 2, "rotate": 10, "shift": 0.1, "flip_horizontal": true})
	require.Empty(t, issues)
	st, err := k.New(cfg)
	require.NoError(t, err)
	run := func() *dataset.Frame {
		env := contract.NewEnv(nil)
		env.StageID, env.Config, env.Seed, env.OutDir = "aug", cfg, 7, t.TempDir()
		env.Inputs = []contract.Input{{StageID: "up", Type: contract.Table, Port: "data", Dir: in}}
		require.NoError(t, st.Run(context.Background(), env))
		b, err := os.ReadFile(filepath.Join(env.OutDir, contract.SummaryFile))
		require.NoError(t, err)
		var sum Summary
		require.NoError(t, json.Unmarshal(b, &sum))
		assert.Equal(t, 8, sum.AddedRows)
		f, err := dataset.ReadFile(filepath.Join(env.OutDir, contract.DataFile))
		require.NoError(t, err)
		return f
	}
	a, b := run(), run()
	assert.Equal(t, 16, a.NumRows())
	assert.Equal(t, a.Col("x").T, b.Col("x").T)
	assert.Equal(t, ColAugment, a.Col(ColAugment).Meta["biopipe.role"], "the role survives the Arrow round trip")
	m, err := a.Features(nil)
	require.NoError(t, err)
	assert.Equal(t, []int{4, 4, 1}, m.Shape)
}

// TestExampleValidates checks that the documented example is valid config.
func TestExampleValidates(t *testing.T) {
	k, err := contract.Default.Get(KindName)
	require.NoError(t, err)
	var list []struct {
		Kind string         `yaml:"kind"`
		With map[string]any `yaml:"with"`
	}
	require.NoError(t, yaml.Unmarshal([]byte(k.Example), &list), k.Example)
	require.Len(t, list, 1)
	assert.Equal(t, KindName, list[0].Kind)
	cfg, issues := contract.Check(k.Fields, list[0].With)
	require.Empty(t, issues)
	_, err = k.New(cfg)
	require.NoError(t, err)
}

// TestMaskFollowsImage checks that a segmentation mask gets its image's transform: the
// images here are their own masks (a random blob of ones), so an augmented image must still
// be its augmented mask.
func TestMaskFollowsImage(t *testing.T) {
	for _, shape := range [][]int{{8, 10, 1}, {4, 8, 8, 1}} {
		f := images(16, shape)
		x := f.Col("x")
		r := rand.New(rand.NewPCG(3, 3))
		for i := range x.T {
			x.T[i] = float32(r.IntN(2))
		}
		m := &dataset.Column{Name: "mask", Kind: dataset.Tensor, Shape: shape[:len(shape)-1], T: slices.Clone(x.T),
			Meta: map[string]string{dataset.MetaRole: dataset.RoleMask}}
		f.Columns = append(f.Columns, m)
		n := f.NumRows()
		// Flips only: the bilinear image and the nearest mask are exact copies of each other.
		out, _, err := Apply(context.Background(), f, Options{Copies: 3, FlipH: true, FlipV: true}, 1)
		require.NoError(t, err)
		assert.Equal(t, out.Col("x").T, out.Col("mask").T, "shape %v", shape)
		train := f.SplitRows(dataset.Train)
		flipped := 0
		for j, r := range train { // the first copy of each train row against its source
			if !slices.Equal(out.Col("mask").Row(n+j), m.Row(r)) {
				flipped++
			}
		}
		assert.Greater(t, flipped, 0, "some copy is flipped")
		// Rotation and shift: the mask is resampled nearest (values stay 0/1) and agrees with
		// the thresholded bilinear image on nearly every voxel.
		out, _, err = Apply(context.Background(), f, Options{Copies: 2, Rotate: 20, Shift: 0.2, Fill: FillConstant}, 2)
		require.NoError(t, err)
		xs, ms := out.Col("x").T, out.Col("mask").T
		agree := 0
		for i, v := range ms {
			require.True(t, v == 0 || v == 1, "mask value %v", v)
			if (xs[i] >= 0.5) == (v == 1) {
				agree++
			}
		}
		assert.Greater(t, float64(agree)/float64(len(ms)), 0.8, "shape %v", shape)
	}
	// A mask of another grid is refused.
	f := images(8, []int{6, 6, 1})
	f.Columns = append(f.Columns, &dataset.Column{Name: "mask", Kind: dataset.Tensor, Shape: []int{5, 6}, T: make([]float32, 8*30),
		Meta: map[string]string{dataset.MetaRole: dataset.RoleMask}})
	_, _, err := Apply(context.Background(), f, Options{Copies: 1}, 1)
	assert.ErrorContains(t, err, `mask column "mask" has shape [5 6]`)
}
