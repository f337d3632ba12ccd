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
