package unet

import (
	"context"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/biopipe/biopipe/dataset"
	"github.com/biopipe/biopipe/models"
)

// discs returns n noisy images [size, size, 1] (or volumes [size, size, size, 1] with
// dims 3), each with one bright disc (ball) at a random place, and its mask. With classes
// 3, the left half of the object is class 1 and the right half class 2.
func discs(n, size, dims, classes int, seed uint64) *models.Data {
	r := rand.New(rand.NewPCG(seed, 9))
	vox := 1
	for range dims {
		vox *= size
	}
	shape := []int{size, size, 1}
	if dims == 3 {
		shape = []int{size, size, size, 1}
	}
	d := &models.Data{X: &dataset.Matrix{N: n, Shape: shape, X: make([]float32, n*vox)}, Masks: make([]float32, n*vox)}
	for i := range n {
		rad := 2 + 2*r.Float64()
		var c [3]float64
		for a := range c {
			c[a] = rad + r.Float64()*(float64(size)-2*rad)
		}
		for v := range vox {
			p := [3]int{v % size, (v / size) % size, v / (size * size)}
			dist := 0.0
			for a := range dims {
				dist += (float64(p[a]) + 0.5 - c[a]) * (float64(p[a]) + 0.5 - c[a])
			}
			val := 0.5 * r.NormFloat64()
			if dist <= rad*rad {
				val += 1.5
				d.Masks[i*vox+v] = 1
				if classes == 3 && float64(p[0])+0.5 > c[0] {
					d.Masks[i*vox+v] = 2
				}
			}
			d.X.X[i*vox+v] = float32(val)
		}
	}
	return d
}

// meanDice is the mean over rows of the foreground Dice of the predicted probabilities.
func meanDice(t *testing.T, tm *models.Trained, d *models.Data, classes int) float64 {
	t.Helper()
	probs, err := tm.Predict(context.Background(), d.X)
	require.NoError(t, err)
	vox := models.MaskSize(d.X.Shape)
	var sum float64
	for i, p := range probs {
		var dice float64
		for k := 1; k < classes; k++ {
			var inter, np, nt float64
			for v := range vox {
				pred := 0
				if classes == 2 {
					if p[v] >= 0.5 {
						pred = 1
					}
				} else {
					for j := 1; j < classes; j++ {
						if p[v*classes+j] > p[v*classes+pred] {
							pred = j
						}
					}
				}
				truth := int(d.Masks[i*vox+v])
				if pred == k {
					np++
				}
				if truth == k {
					nt++
				}
				if pred == k && truth == k {
					inter++
				}
			}
			dice += 2 * inter / math.Max(np+nt, 1)
		}
		sum += dice / float64(classes-1)
	}
	return sum / float64(len(probs))
}

func train(t *testing.T, params map[string]any, d, val *models.Data, classes []string, epochs int) *models.Result {
	t.Helper()
	res, err := models.Train(context.Background(), models.TrainOptions{
		Family: Family, Params: params, Train: d, Val: val, Classes: classes, Epochs: epochs, BatchSize: 16, Seed: 3,
		Optimizer: models.OptimizerConfig{Name: models.OptAdam, LearningRate: 0.01},
	})
	require.NoError(t, err)
	return res
}

func TestSegmentsDiscs(t *testing.T) {
	cases := []struct {
		name    string
		params  map[string]any
		dims    int
		classes []string
		epochs  int
		min     float64
	}{
		{"2-D binary transpose batch norm", map[string]any{"base_channels": 8, "depth": 2, "normalization": "batch"}, 2, []string{"background", "foreground"}, 12, 0.9},
		{"2-D three classes nearest", map[string]any{"base_channels": 8, "depth": 2, "upsampling": "nearest"}, 2,
			[]string{"background", "label_1", "label_2"}, 15, 0.8},
		{"3-D binary no normalization", map[string]any{"base_channels": 4, "depth": 1, "convs_per_level": 1, "normalization": "none"}, 3, []string{"background", "foreground"}, 10, 0.85},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			size := 16
			n := 96
			if c.dims == 3 {
				size, n = 8, 48
			}
			res := train(t, c.params, discs(n, size, c.dims, len(c.classes), 1), discs(16, size, c.dims, len(c.classes), 2), c.classes, c.epochs)
			assert.Equal(t, models.Segmentation, res.Card.Task)
			require.NotNil(t, res.Card.Final.ValDice)
			dice := meanDice(t, res.Trained, discs(32, size, c.dims, len(c.classes), 4), len(c.classes))
			t.Logf("held-out Dice %.3f (val dice in training %.3f)", dice, *res.Card.Final.ValDice)
			assert.GreaterOrEqual(t, dice, c.min)
		})
	}
}

// TestEarlyStoppingOnValDice keeps the epoch of the best val_dice (higher is better).
func TestEarlyStoppingOnValDice(t *testing.T) {
	res, err := models.Train(context.Background(), models.TrainOptions{
		Family: Family, Params: map[string]any{"base_channels": 4, "depth": 1, "convs_per_level": 1}, Train: discs(32, 8, 2, 2, 1), Val: discs(8, 8, 2, 2, 2),
		Classes: []string{"background", "foreground"}, Epochs: 6, BatchSize: 8, Seed: 3,
		Optimizer:     models.OptimizerConfig{Name: models.OptAdam, LearningRate: 0.01},
		EarlyStopping: models.EarlyStopping{Patience: 2, Monitor: models.MonitorValDice},
	})
	require.NoError(t, err)
	assert.Equal(t, models.MonitorValDice, res.History.Monitor)
	best := 0
	for i, e := range res.History.Epochs {
		if *e.ValDice > *res.History.Epochs[best].ValDice {
			best = i
		}
	}
	assert.Equal(t, best+1, res.History.BestEpoch)
}

func TestSliceWiseOnVolumes(t *testing.T) {
	d := discs(8, 8, 3, 2, 5)
	res := train(t, map[string]any{"dims": 2, "base_channels": 2, "depth": 1, "convs_per_level": 1}, d, nil, []string{"background", "foreground"}, 1)
	probs, err := res.Trained.Predict(context.Background(), d.X)
	require.NoError(t, err)
	require.Len(t, probs, 8)
	assert.Len(t, probs[0], 8*8*8) // one sigmoid channel per voxel
	// A 2-D network has [kh, kw, C, F] kernels.
	vars, err := res.Trained.Variables()
	require.NoError(t, err)
	assert.Equal(t, []int{3, 3, 1, 2}, vars["down_0/conv_0/weights"].Shape)
}

func TestBuildErrors(t *testing.T) {
	fam, err := models.Get(Family)
	require.NoError(t, err)
	cases := []struct {
		name   string
		shape  []int
		params map[string]any
		task   models.Task
		want   string
	}{
		{"3-D on an image", []int{16, 16, 1}, map[string]any{"dims": 3}, models.Segmentation, "dims: 3 needs a volume"},
		{"1-D", []int{16, 16, 1}, map[string]any{"dims": 1}, models.Segmentation, "dims: 1 is not supported"},
		{"too deep", []int{16, 6, 1}, map[string]any{"depth": 3}, models.Segmentation, "axis 1 of the input [16 6 1] is 6 long"},
		{"not segmentation", []int{16, 16, 1}, nil, models.Classification, "the unet segments"},
		{"a vector", []int{16}, nil, models.Segmentation, "want an image"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p, err := fam.ResolveParams(c.params)
			require.NoError(t, err)
			_, err = Build(models.Spec{InputShape: c.shape, Task: c.task, NumClasses: 2}, p)
			require.Error(t, err)
			assert.Contains(t, err.Error(), c.want)
		})
	}
}

// TestTransposeConvMatchesDefinition checks the matmul + pixel-shuffle transposed
// convolution against its definition, out[f, b, 2i+k] = bias[f] + Σ_c w[k, c, f]·x[c, b, i],
// in 2-D and 3-D.
func TestTransposeConvMatchesDefinition(t *testing.T) {
	for _, spatial := range [][]int{{3, 2}, {2, 3, 2}} {
		r := rand.New(rand.NewPCG(1, 1))
		ch, f, b := 3, 2, 2
		xdims := append([]int{ch, b}, spatial...)
		x := make([]float32, ch*b*dataset.TensorSize(spatial))
		for i := range x {
			x[i] = float32(r.NormFloat64())
		}
		store := model.NewStore()
		backend, err := models.NewBackend("go")
		require.NoError(t, err)
		exec, err := model.NewExec(backend, store, func(scope *model.Scope, in *graph.Node) *graph.Node {
			return transposeConv2(scope.In("t"), in, f)
		})
		require.NoError(t, err)
		outs, err := exec.Call(tensors.FromFlatDataAndDimensions(x, xdims...))
		require.NoError(t, err)
		got := tensors.MustCopyFlatData[float32](outs[0])
		var w, bias []float32
		for v := range store.IterVariables() {
			val, err := v.Value()
			require.NoError(t, err)
			switch v.Path() {
			case "/t/weights":
				w = tensors.MustCopyFlatData[float32](val)
			case "/t/biases":
				bias = tensors.MustCopyFlatData[float32](val)
			}
		}
		require.NotNil(t, w)
		require.Len(t, bias, f)
		for i := range bias { // initialised at 0: make the bias visible in the check
			bias[i] = 0
		}
		d := len(spatial)
		out := make([]int, d)
		for a, n := range spatial {
			out[a] = 2 * n
		}
		np := dataset.TensorSize(out)
		require.Len(t, got, f*b*np)
		for fi := range f {
			for bi := range b {
				for p := range np {
					// position p in out (row-major) -> input position and kernel offset
					rem := p
					coord := make([]int, d)
					for a := d - 1; a >= 0; a-- {
						coord[a] = rem % out[a]
						rem /= out[a]
					}
					in, k := 0, 0
					for a := range d {
						in = in*spatial[a] + coord[a]/2
						k = k*2 + coord[a]%2
					}
					want := float64(bias[fi])
					for c := range ch {
						want += float64(w[(k*ch+c)*f+fi]) * float64(x[(c*b+bi)*dataset.TensorSize(spatial)+in])
					}
					assert.InDelta(t, want, got[(fi*b+bi)*np+p], 1e-4, "spatial %v f %d b %d p %d", spatial, fi, bi, p)
				}
			}
		}
	}
}
