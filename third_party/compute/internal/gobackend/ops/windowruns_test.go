// Copyright 2023-2026 The GoMLX Authors. SPDX-License-Identifier: Apache-2.0

package ops

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/gomlx/compute"
	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/internal/gobackend"
	"github.com/gomlx/compute/shapeinference"
	"github.com/gomlx/compute/shapes"
)

// windowCase is one ReduceWindow/SelectAndScatter configuration.
type windowCase struct {
	dims, window, strides []int
	paddings              [][2]int
}

// runWindowOps runs ReduceWindow (every reduction) and SelectAndScatterMax/Min of the case on
// operand (and a source of the windowed shape), through the exec functions, with the run-wise
// path (windowRunsOff false) or the generic one, and returns the outputs' bytes.
func runWindowOps(t *testing.T, c windowCase, operand, source *gobackend.Buffer, off bool) [][]byte {
	t.Helper()
	windowRunsOff = off
	defer func() { windowRunsOff = false }()
	outShape, err := shapeinference.ReduceWindow(operand.RawShape, c.window, c.strides, nil, nil, c.paddings)
	if err != nil {
		t.Fatalf("%+v: %+v", c, err)
	}
	var outs [][]byte
	// Leave dirty buffers of the outputs' shapes in the pool, for the ops to reuse.
	testBackend().PutBuffer(emptyBuffer(t, outShape))
	testBackend().PutBuffer(emptyBuffer(t, operand.RawShape))
	for _, red := range []compute.ReduceOpType{compute.ReduceOpMax, compute.ReduceOpMin, compute.ReduceOpSum, compute.ReduceOpProduct} {
		node := &gobackend.Node{Shape: outShape, Data: &reduceWindowNode{reductionType: red, windowDimensions: c.window, strides: c.strides, paddings: c.paddings}}
		out, err := execReduceWindow(testBackend(), node, []*gobackend.Buffer{operand}, nil)
		if err != nil {
			t.Fatalf("ReduceWindow %s %+v: %+v", red, c, err)
		}
		raw, _ := out.MutableBytes()
		outs = append(outs, slices.Clone(raw))
	}
	for _, isMin := range []bool{false, true} {
		testBackend().PutBuffer(emptyBuffer(t, operand.RawShape))
		node := &gobackend.Node{Shape: operand.RawShape, Data: &selectAndScatterNode{isMin: isMin, windowDimensions: c.window, strides: c.strides, paddings: c.paddings}}
		out, err := execSelectAndScatter(testBackend(), node, []*gobackend.Buffer{operand, source}, nil)
		if err != nil {
			t.Fatalf("SelectAndScatter isMin=%v %+v: %+v", isMin, c, err)
		}
		raw, _ := out.MutableBytes()
		outs = append(outs, slices.Clone(raw))
	}
	return outs
}

// checkWindowRuns compares the run-wise and generic window ops, byte for byte, on random values
// of dtype (value draws one).
func checkWindowRuns[T gobackend.PODNumericConstraints](t *testing.T, dtype dtypes.DType, c windowCase, value func() T) {
	t.Helper()
	outShape, err := shapeinference.ReduceWindow(shapes.Make(dtype, c.dims...), c.window, c.strides, nil, nil, c.paddings)
	if err != nil {
		t.Fatalf("%+v: %+v", c, err)
	}
	operand := emptyBuffer(t, shapes.Make(dtype, c.dims...))
	for i := range operand.Flat.([]T) {
		operand.Flat.([]T)[i] = value()
	}
	source := emptyBuffer(t, outShape)
	for i := range source.Flat.([]T) {
		source.Flat.([]T)[i] = value()
	}
	want := runWindowOps(t, c, operand, source, true)
	got := runWindowOps(t, c, operand, source, false)
	names := []string{"ReduceWindow max", "ReduceWindow min", "ReduceWindow sum", "ReduceWindow product", "SelectAndScatterMax", "SelectAndScatterMin"}
	for i := range want {
		if !slices.Equal(want[i], got[i]) {
			size := dtype.Size()
			for j := 0; j < len(want[i]); j += size {
				if !slices.Equal(want[i][j:j+size], got[i][j:j+size]) {
					t.Fatalf("%s %s %+v: element %d is %x, want %x", names[i], dtype, c, j/size, got[i][j:j+size], want[i][j:j+size])
				}
			}
			t.Fatalf("%s %s %+v: %d bytes, want %d", names[i], dtype, c, len(got[i]), len(want[i]))
		}
	}
}

// TestWindowRuns checks the run-wise ReduceWindow (max, min, sum, product) and
// SelectAndScatterMax/Min against the generic implementations, bit for bit: random ranks 0-5,
// windows and strides (overlapping or not, with remainders), size-1 axes, float values with
// NaNs, infinities and many ties (the first maximum gets the gradient), integers; the pooling
// shapes that motivated it (large enough to be split among workers); padded cases (which stay
// on the generic path).
func TestWindowRuns(t *testing.T) {
	rng := rand.New(rand.NewPCG(42, 30))
	float32Value := func() float32 {
		switch rng.IntN(40) {
		case 0:
			return float32(math.NaN())
		case 1:
			return float32(math.Inf(1 - 2*rng.IntN(2)))
		case 2:
			return float32(math.Copysign(0, float64(1-2*rng.IntN(2))))
		}
		return float32(rng.IntN(7)) - 3 // ties
	}
	float64Value := func() float64 { return rng.NormFloat64() }
	int32Value := func() int32 { return int32(rng.IntN(11)) - 5 }
	uint8Value := func() uint8 { return uint8(rng.IntN(4)) }

	fixed := []windowCase{
		{[]int{}, []int{}, []int{}, nil},
		{[]int{7}, []int{2}, []int{2}, nil},
		{[]int{16, 64, 28, 28}, []int{1, 1, 2, 2}, []int{1, 1, 2, 2}, nil}, // 2x2 max-pool, channels-first
		{[]int{64, 14, 14, 32}, []int{1, 2, 2, 1}, []int{1, 2, 2, 1}, nil}, // channels-last
		{[]int{32, 32, 128}, []int{1, 1, 4}, []int{1, 1, 4}, nil},          // 1-d pool 4 over time
		{[]int{8, 15, 13}, []int{1, 3, 3}, []int{1, 2, 2}, nil},            // overlapping 3x3 stride 2
		{[]int{2, 9, 9, 2}, []int{1, 3, 3, 1}, []int{1, 2, 2, 1}, [][2]int{{0, 0}, {1, 1}, {1, 1}, {0, 0}}},
		{[]int{3, 7, 5}, []int{1, 2, 2}, []int{1, 2, 2}, [][2]int{{0, 0}, {0, 1}, {0, 1}}},
	}
	for _, c := range fixed {
		checkWindowRuns(t, dtypes.Float32, c, float32Value)
		checkWindowRuns(t, dtypes.Int32, c, int32Value)
	}
	for range 300 {
		rank := rng.IntN(6)
		c := windowCase{dims: make([]int, rank), window: make([]int, rank), strides: make([]int, rank)}
		for a := range rank {
			c.dims[a] = 1 + rng.IntN(7)
			c.window[a] = 1 + rng.IntN(min(3, c.dims[a]))
			c.strides[a] = 1 + rng.IntN(3)
		}
		if rng.IntN(10) == 0 && rank > 0 {
			c.paddings = make([][2]int, rank)
			c.paddings[rng.IntN(rank)] = [2]int{rng.IntN(2), 1}
		}
		checkWindowRuns(t, dtypes.Float32, c, float32Value)
		checkWindowRuns(t, dtypes.Float64, c, float64Value)
		checkWindowRuns(t, dtypes.Int32, c, int32Value)
		checkWindowRuns(t, dtypes.Uint8, c, uint8Value)
	}
}

// BenchmarkWindowRuns times the generic and the run-wise 2x2 max-pool (ReduceWindow) and its
// gradient (SelectAndScatterMax) on the cnn benchmark's first pooling layer, channels-first
// [16, 64, 28, 28], one worker.
func BenchmarkWindowRuns(b *testing.B) {
	rng := rand.New(rand.NewPCG(1, 30))
	dims, window := []int{16, 64, 28, 28}, []int{1, 1, 2, 2}
	operand := emptyBuffer(b, shapes.Make(dtypes.Float32, dims...))
	for i := range operand.Flat.([]float32) {
		operand.Flat.([]float32)[i] = float32(rng.NormFloat64())
	}
	outShape, _ := shapeinference.ReduceWindow(operand.RawShape, window, window, nil, nil, nil)
	source := emptyBuffer(b, outShape)
	for i := range source.Flat.([]float32) {
		source.Flat.([]float32)[i] = float32(rng.NormFloat64())
	}
	backend, err := gobackend.New("ops_sequential")
	if err != nil {
		b.Fatal(err)
	}
	be := backend.(*gobackend.Backend)
	be.Workers.SetMaxParallelism(1)
	for _, path := range []string{"generic", "runs"} {
		off := path == "generic"
		b.Run(fmt.Sprintf("reducewindow-max-%v/%s", dims, path), func(b *testing.B) {
			windowRunsOff = off
			defer func() { windowRunsOff = false }()
			node := &gobackend.Node{Shape: outShape, Data: &reduceWindowNode{reductionType: compute.ReduceOpMax, windowDimensions: window, strides: window}}
			benchLoop(b, func() {
				out, _ := execReduceWindow(be, node, []*gobackend.Buffer{operand}, nil)
				be.PutBuffer(out)
			})
		})
		b.Run(fmt.Sprintf("selectandscatter-max-%v/%s", dims, path), func(b *testing.B) {
			windowRunsOff = off
			defer func() { windowRunsOff = false }()
			node := &gobackend.Node{Shape: operand.RawShape, Data: &selectAndScatterNode{windowDimensions: window, strides: window}}
			benchLoop(b, func() {
				out, _ := execSelectAndScatter(be, node, []*gobackend.Buffer{operand, source}, nil)
				be.PutBuffer(out)
			})
		})
	}
}

// TestMaxWindowFloat32Rows checks the float32 max-pool vector kernels (AVX512 where available):
// maxWindowFloat32Rows (contiguous rows, any window) and maxPool2x2Float32Rows (2x2, stride 2)
// bit for bit against the scalar chain of Go's max, on rows of 1 to 70 outputs (whole and
// ragged vectors), windows of 1 to 9 elements, values drawn mostly from ±0 (Go's max(-0, +0) is
// +0), ±Inf, ties and NaNs of two payloads at four rates (a NaN anywhere in the window is the
// result); and the ReduceWindow and SelectAndScatterMax/Min ops that use them and the
// SelectAndScatterMax kernels (selectMax4Float32Rows, selectMax2x2Float32Rows: the first
// maximum gets the value) against the generic path, channels-first and channels-last.
func TestMaxWindowFloat32Rows(t *testing.T) {
	if maxWindowFloat32Rows == nil || maxPool2x2Float32Rows == nil || selectMax4Float32Rows == nil || selectMax2x2Float32Rows == nil ||
		maxPoolRunFloat32Rows == nil || selectMaxRun4Float32Rows == nil {
		t.Skip("no vector kernel on this machine/build (needs amd64, AVX512, GOEXPERIMENT=simd)")
	}
	rng := rand.New(rand.NewPCG(7, 33))
	nan2 := math.Float32frombits(0x7fc00123)
	// The ops' checks draw one NaN payload (onePayload): where two NaNs are added (overlapping
	// windows' gradients) the generic and run-wise paths may keep different payloads.
	onePayload := false
	value := func(nanRate int) float32 {
		switch k := rng.IntN(16); {
		case nanRate > 0 && rng.IntN(nanRate) == 0:
			if k%2 == 0 || onePayload {
				return float32(math.NaN())
			}
			return nan2
		case k < 6:
			return float32(math.Copysign(0, float64(1-2*(k%2))))
		case k == 6:
			return float32(math.Inf(1 - 2*rng.IntN(2)))
		case k < 10:
			return -float32(rng.IntN(3)) // negatives, so many windows max to ±0
		}
		return float32(rng.NormFloat64())
	}
	for range 400 {
		n := 16 + rng.IntN(55)
		rows := 1 + rng.IntN(5)
		window := 1 + rng.IntN(9)
		rowStep := n + rng.IntN(3*n)
		offs := make([]int, window)
		for k := range offs {
			offs[k] = rng.IntN(4 * n)
		}
		nanRate := []int{0, 2000, 200, 10}[rng.IntN(4)]
		x := make([]float32, (rows-1)*rowStep+6*n) // base < n, offsets < 4n
		for i := range x {
			x[i] = value(nanRate)
		}
		base := rng.IntN(n)
		got, want := make([]float32, rows*n), make([]float32, rows*n)
		maxWindowFloat32Rows(got, x, n, base, rowStep, offs)
		for j := range rows {
			maxWindowFloat32Scalar(want[j*n:(j+1)*n], x, base+j*rowStep, offs)
		}
		for i := range want {
			if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
				t.Fatalf("n=%d rows=%d offs=%v base=%d rowStep=%d: element %d is %x, want %x",
					n, rows, offs, base, rowStep, i, math.Float32bits(got[i]), math.Float32bits(want[i]))
			}
		}
	}
	// The 2x2 stride-2 kernel (channels-first pooling): rows of 1 to 40 outputs (partial
	// blocks), row widths with and without a remainder column.
	for range 400 {
		n := 1 + rng.IntN(40)
		rows := 1 + rng.IntN(5)
		width := 2*n + rng.IntN(3)
		rowStep := 2*width + rng.IntN(3)
		nanRate := []int{0, 2000, 200, 10}[rng.IntN(4)]
		x := make([]float32, (rows-1)*rowStep+2*width+n)
		for i := range x {
			x[i] = value(nanRate)
		}
		base := rng.IntN(n)
		offs := []int{0, 1, width, width + 1}
		got, want := make([]float32, rows*n), make([]float32, rows*n)
		maxPool2x2Float32Rows(got, x, n, base, rowStep, width)
		for j := range rows {
			for i := range n {
				maxWindowFloat32Scalar(want[j*n+i:j*n+i+1], x, base+j*rowStep+2*i, offs)
			}
		}
		for i := range want {
			if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
				t.Fatalf("2x2 n=%d rows=%d width=%d base=%d rowStep=%d: element %d is %x, want %x",
					n, rows, width, base, rowStep, i, math.Float32bits(got[i]), math.Float32bits(want[i]))
			}
		}
	}
	onePayload = true
	// Whole ops, channels-first 2x2 (stride 2 along rows, 1 to 3 across), against the generic path.
	for range 40 {
		c := windowCase{dims: []int{1 + rng.IntN(3), 1 + rng.IntN(3), 2 + rng.IntN(12), 2 + rng.IntN(40)}}
		c.window = []int{1, 1, 2, 2}
		c.strides = []int{1, 1, 1 + rng.IntN(3), 2}
		nanRate := []int{0, 500, 20}[rng.IntN(3)]
		checkWindowRuns(t, dtypes.Float32, c, func() float32 { return value(nanRate) })
	}
	// Whole ops, channels-last 2x2 (the 4-window SelectAndScatterMax kernel; odd sizes leave
	// elements outside every window), against the generic path.
	for range 40 {
		c := windowCase{dims: []int{1 + rng.IntN(3), 2 + rng.IntN(7), 2 + rng.IntN(7), 16 + rng.IntN(40)}}
		c.window = []int{1, 2, 2, 1}
		c.strides = []int{1, 2 + rng.IntN(2), 2, 1}
		nanRate := []int{0, 500, 20}[rng.IntN(3)]
		checkWindowRuns(t, dtypes.Float32, c, func() float32 { return value(nanRate) })
	}
	// Whole ops, 1-d pooling of 2 and 4 adjacent elements (maxPoolRunFloat32Rows,
	// selectMaxRun4Float32Rows), lengths with and without a remainder, against the generic path.
	for range 60 {
		k := 2 + 2*rng.IntN(2)
		c := windowCase{dims: []int{1 + rng.IntN(3), 1 + rng.IntN(3), k + rng.IntN(150)}}
		c.window, c.strides = []int{1, 1, k}, []int{1, 1, k}
		nanRate := []int{0, 2000, 500, 20}[rng.IntN(4)]
		checkWindowRuns(t, dtypes.Float32, c, func() float32 { return value(nanRate) })
	}
	// Whole ops, channels-last, against the generic path.
	for range 40 {
		c := windowCase{dims: []int{1 + rng.IntN(3), 1 + rng.IntN(7), 1 + rng.IntN(7), 16 + rng.IntN(40)}}
		c.window = []int{1, 1 + rng.IntN(min(3, c.dims[1])), 1 + rng.IntN(min(3, c.dims[2])), 1}
		c.strides = []int{1, 1 + rng.IntN(3), 1 + rng.IntN(3), 1}
		nanRate := []int{0, 500, 20}[rng.IntN(3)]
		checkWindowRuns(t, dtypes.Float32, c, func() float32 { return value(nanRate) })
	}
}

// BenchmarkMaxPoolFloat32 times the 2x2 max-pool ReduceWindow and its gradient
// (SelectAndScatterMax) on the cnn benchmark's two pooling layers, channels-first
// ([64,16,28,28], [64,32,14,14]) and channels-last ([64,28,28,16], [64,14,14,32]), and of
// cnn1d's 1-d pooling of 4 ([32,16,128]), with the
// scalar rows and with the vector kernels (when set), one worker.
func BenchmarkMaxPoolFloat32(b *testing.B) {
	rng := rand.New(rand.NewPCG(1, 33))
	backend, err := gobackend.New("ops_sequential")
	if err != nil {
		b.Fatal(err)
	}
	be := backend.(*gobackend.Backend)
	be.Workers.SetMaxParallelism(1)
	rowsKernel, kernel2x2 := maxWindowFloat32Rows, maxPool2x2Float32Rows
	select4, select2x2 := selectMax4Float32Rows, selectMax2x2Float32Rows
	run, selectRun := maxPoolRunFloat32Rows, selectMaxRun4Float32Rows
	for _, c := range []struct{ dims, window []int }{
		{[]int{64, 16, 28, 28}, []int{1, 1, 2, 2}}, {[]int{64, 32, 14, 14}, []int{1, 1, 2, 2}},
		{[]int{64, 28, 28, 16}, []int{1, 2, 2, 1}}, {[]int{64, 14, 14, 32}, []int{1, 2, 2, 1}},
		{[]int{32, 16, 128}, []int{1, 1, 4}}, // cnn1d's first pooling layer
	} {
		dims, window := c.dims, c.window
		operand := emptyBuffer(b, shapes.Make(dtypes.Float32, dims...))
		for i := range operand.Flat.([]float32) {
			operand.Flat.([]float32)[i] = float32(rng.NormFloat64())
		}
		outShape, _ := shapeinference.ReduceWindow(operand.RawShape, window, window, nil, nil, nil)
		source := emptyBuffer(b, outShape)
		for i := range source.Flat.([]float32) {
			source.Flat.([]float32)[i] = float32(rng.NormFloat64())
		}
		node := &gobackend.Node{Shape: outShape, Data: &reduceWindowNode{reductionType: compute.ReduceOpMax, windowDimensions: window, strides: window}}
		gradNode := &gobackend.Node{Shape: operand.RawShape, Data: &selectAndScatterNode{windowDimensions: window, strides: window}}
		for _, path := range []string{"scalar", "vector"} {
			if path == "vector" && (rowsKernel == nil || kernel2x2 == nil || select4 == nil || select2x2 == nil) {
				continue
			}
			setPath := func() func() {
				if path == "vector" {
					return func() {}
				}
				maxWindowFloat32Rows, maxPool2x2Float32Rows, selectMax4Float32Rows, selectMax2x2Float32Rows = nil, nil, nil, nil
				maxPoolRunFloat32Rows, selectMaxRun4Float32Rows = nil, nil
				return func() {
					maxWindowFloat32Rows, maxPool2x2Float32Rows, selectMax4Float32Rows, selectMax2x2Float32Rows = rowsKernel, kernel2x2, select4, select2x2
					maxPoolRunFloat32Rows, selectMaxRun4Float32Rows = run, selectRun
				}
			}
			b.Run(fmt.Sprintf("reducewindow-%v/%s", dims, path), func(b *testing.B) {
				defer setPath()()
				benchLoop(b, func() {
					out, _ := execReduceWindow(be, node, []*gobackend.Buffer{operand}, nil)
					be.PutBuffer(out)
				})
			})
			b.Run(fmt.Sprintf("selectandscatter-%v/%s", dims, path), func(b *testing.B) {
				defer setPath()()
				benchLoop(b, func() {
					out, _ := execSelectAndScatter(be, gradNode, []*gobackend.Buffer{operand, source}, nil)
					be.PutBuffer(out)
				})
			})
		}
	}
}
