// Copyright 2023-2026 The GoMLX Authors. SPDX-License-Identifier: Apache-2.0

package ops

// Helpers to test the data-movement ops (Slice, Transpose, Pad, ...) against their plain
// element-by-element implementations: a data-movement op only moves elements, so its effect is
// fully described by where each output element comes from. The reference implementations run on
// an operand holding each element's own flat index, which yields that map; the tested op then
// runs on random bytes of every dtype, and its output must equal the operand's bytes gathered
// through the map.

import (
	"bytes"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"

	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/internal/gobackend"
	"github.com/gomlx/compute/shapes"
)

// testBackend is a Go backend for the tests of this package that run exec functions directly.
var testBackend = sync.OnceValue(func() *gobackend.Backend {
	b, err := gobackend.New("")
	if err != nil {
		panic(err)
	}
	return b.(*gobackend.Backend)
})

// dataMovementDTypes are the dtypes the data-movement tests run on: every element size.
var dataMovementDTypes = []dtypes.DType{
	dtypes.Float32, dtypes.Float64, dtypes.Int8, dtypes.Int16, dtypes.Uint32, dtypes.Int64,
	dtypes.BFloat16, dtypes.Float16, dtypes.Bool,
}

// randomBuffer returns a buffer of the given shape filled with random bytes (random bits for
// every dtype, which copies must preserve exactly).
func randomBuffer(tb testing.TB, rng *rand.Rand, shape shapes.Shape) *gobackend.Buffer {
	tb.Helper()
	buf, err := testBackend().GetBuffer(shape)
	if err != nil {
		tb.Fatalf("GetBuffer(%s): %+v", shape, err)
	}
	raw, err := buf.MutableBytes()
	if err != nil {
		tb.Fatalf("MutableBytes(%s): %+v", shape, err)
	}
	for i := range raw {
		raw[i] = byte(rng.Uint32())
	}
	return buf
}

// iotaBuffer returns an Int64 buffer of the given dimensions whose elements are their flat index.
func iotaBuffer(dims []int) *gobackend.Buffer {
	shape := shapes.Make(dtypes.Int64, dims...)
	flat := make([]int64, shape.Size())
	for i := range flat {
		flat[i] = int64(i)
	}
	return &gobackend.Buffer{RawShape: shape, Flat: flat}
}

// emptyBuffer returns a buffer of the given shape with new storage, set to a pattern (0xA5 bytes)
// so that elements an op fails to write show up.
func emptyBuffer(tb testing.TB, shape shapes.Shape) *gobackend.Buffer {
	tb.Helper()
	buf, err := testBackend().GetBuffer(shape)
	if err != nil {
		tb.Fatalf("GetBuffer(%s): %+v", shape, err)
	}
	raw, _ := buf.MutableBytes()
	for i := range raw {
		raw[i] = 0xA5
	}
	return buf
}

// gatherBytes returns the bytes of operand's elements at the flat indices in sources, in order.
func gatherBytes(tb testing.TB, operand *gobackend.Buffer, sources []int64) []byte {
	tb.Helper()
	raw, err := operand.MutableBytes()
	if err != nil {
		tb.Fatalf("MutableBytes: %+v", err)
	}
	size := operand.RawShape.DType.Size()
	out := make([]byte, 0, len(sources)*size)
	for _, src := range sources {
		out = append(out, raw[int(src)*size:int(src+1)*size]...)
	}
	return out
}

// requireSameBytes fails naming the first differing element when got's bytes differ from want.
func requireSameBytes(tb testing.TB, what string, got *gobackend.Buffer, want []byte) {
	tb.Helper()
	raw, err := got.MutableBytes()
	if err != nil {
		tb.Fatalf("%s: MutableBytes: %+v", what, err)
	}
	if bytes.Equal(raw, want) {
		return
	}
	size := got.RawShape.DType.Size()
	if len(raw) != len(want) {
		tb.Fatalf("%s: output has %d bytes, want %d", what, len(raw), len(want))
	}
	for i := 0; i < len(raw); i += size {
		if !bytes.Equal(raw[i:i+size], want[i:i+size]) {
			tb.Fatalf("%s: output element %d (of %d) is %x, want %x", what, i/size, len(raw)/size, raw[i:i+size], want[i:i+size])
		}
	}
}

// benchLoop runs fn in a b.Loop() and, besides the wall-clock ns/op, reports the process CPU
// time per op as "cpu-ns/op": on a machine shared with other jobs the wall clock also counts the
// time the benchmark was not scheduled, the CPU time does not. The benchmarked functions run in
// the calling goroutine, so the process CPU time is theirs plus the runtime's (GC).
func benchLoop(b *testing.B, fn func()) {
	start, ok := processCPUTime()
	for b.Loop() {
		fn()
	}
	if end, _ := processCPUTime(); ok && b.N > 0 {
		b.ReportMetric(float64(end-start)/float64(b.N), "cpu-ns/op")
	}
}

// randomDims returns rank dimensions in [0, maxDim], with 0 (empty) and 1 (size-1 axes)
// drawn more often than their share.
func randomDims(rng *rand.Rand, rank, maxDim int) []int {
	dims := make([]int, rank)
	for i := range dims {
		switch rng.IntN(8) {
		case 0:
			dims[i] = 1
		case 1:
			if rng.IntN(4) == 0 {
				dims[i] = 0
			} else {
				dims[i] = 1
			}
		default:
			dims[i] = 1 + rng.IntN(maxDim)
		}
	}
	return dims
}

// sliceReference is the plain Slice implementation (gomlx/compute v0.1.6's execSliceGeneric),
// element by element, kept as the reference for the block-copy one.
func sliceReference[T gobackend.SupportedTypesConstraints](operand, output *gobackend.Buffer, params *sliceNode) {
	rank := operand.RawShape.Rank()
	outputFlat := output.Flat.([]T)
	operandFlat := operand.Flat.([]T)

	outputDimensions := output.RawShape.Dimensions
	operandFlatStrides := operand.RawShape.Strides()
	outputAxisIdxs := make([]int, rank)

	var operandFlatIdx int
	for axis, start := range params.starts {
		operandFlatIdx += start * operandFlatStrides[axis]
	}

	for outputFlatIdx := 0; outputFlatIdx < len(outputFlat); outputFlatIdx++ {
		outputFlat[outputFlatIdx] = operandFlat[operandFlatIdx]
		for axis := rank - 1; axis >= 0; axis-- {
			outputAxisIdxs[axis]++
			if outputAxisIdxs[axis] < outputDimensions[axis] {
				operandFlatIdx += params.strides[axis] * operandFlatStrides[axis]
				break
			}
			operandFlatIdx -= (outputDimensions[axis] - 1) * params.strides[axis] * operandFlatStrides[axis]
			outputAxisIdxs[axis] = 0
		}
	}
}

// sliceCase is one Slice to test: operand dimensions and normalized starts, limits, strides.
type sliceCase struct {
	dims                    []int
	starts, limits, strides []int
}

func (c sliceCase) String() string {
	return fmt.Sprintf("dims=%v starts=%v limits=%v strides=%v", c.dims, c.starts, c.limits, c.strides)
}

func (c sliceCase) outputDims() []int {
	out := make([]int, len(c.dims))
	for i := range out {
		if c.limits[i] > c.starts[i] {
			out[i] = (c.limits[i] - c.starts[i] + c.strides[i] - 1) / c.strides[i]
		}
	}
	return out
}

func randomSliceCase(rng *rand.Rand, rank, maxDim int) sliceCase {
	c := sliceCase{dims: randomDims(rng, rank, maxDim)}
	for _, d := range c.dims {
		start, limit, stride := 0, d, 1
		switch rng.IntN(3) {
		case 0: // whole axis
		case 1: // a contiguous range
			start = rng.IntN(d + 1)
			limit = start + rng.IntN(d-start+1)
		default: // a strided range
			start = rng.IntN(d + 1)
			limit = start + rng.IntN(d-start+1)
			stride = 1 + rng.IntN(3)
		}
		c.starts = append(c.starts, start)
		c.limits = append(c.limits, limit)
		c.strides = append(c.strides, stride)
	}
	return c
}

func checkSlice(t *testing.T, rng *rand.Rand, c sliceCase) {
	t.Helper()
	params := &sliceNode{starts: c.starts, limits: c.limits, strides: c.strides}
	outDims := c.outputDims()
	outShape := shapes.Make(dtypes.Int64, outDims...)
	sources := &gobackend.Buffer{RawShape: outShape, Flat: make([]int64, outShape.Size())}
	sliceReference[int64](iotaBuffer(c.dims), sources, params)
	for _, dtype := range dataMovementDTypes {
		operand := randomBuffer(t, rng, shapes.Make(dtype, c.dims...))
		output := emptyBuffer(t, shapes.Make(dtype, outDims...))
		fnAny, err := sliceDTypeMap.Get(dtype)
		if err != nil {
			t.Fatalf("%s: %+v", dtype, err)
		}
		fnAny.(func(operand, output *gobackend.Buffer, params *sliceNode))(operand, output, params)
		requireSameBytes(t, fmt.Sprintf("Slice %s %s", dtype, c), output, gatherBytes(t, operand, sources.Flat.([]int64)))
	}
}

// TestSliceBlockCopy checks the block-copy Slice against the plain element-by-element one on
// random shapes (ranks 0-5, empty and size-1 axes, whole, partial and strided axes), every
// element size, and a few fixed shapes from convolutions (im2col) and recurrent nets.
func TestSliceBlockCopy(t *testing.T) {
	rng := rand.New(rand.NewPCG(42, 2))
	fixed := []sliceCase{
		{dims: []int{}, starts: []int{}, limits: []int{}, strides: []int{}},
		{dims: []int{7}, starts: []int{0}, limits: []int{7}, strides: []int{1}},
		{dims: []int{7}, starts: []int{2}, limits: []int{7}, strides: []int{2}},
		{dims: []int{16, 8, 30, 30}, starts: []int{0, 0, 1, 2}, limits: []int{16, 8, 29, 30}, strides: []int{1, 1, 1, 1}},
		{dims: []int{16, 8, 30, 30}, starts: []int{0, 0, 1, 2}, limits: []int{16, 8, 29, 30}, strides: []int{1, 1, 2, 2}},
		{dims: []int{32, 50, 16}, starts: []int{0, 17, 0}, limits: []int{32, 18, 16}, strides: []int{1, 1, 1}},
		{dims: []int{144, 1000}, starts: []int{32, 0}, limits: []int{48, 1000}, strides: []int{1, 1}},
		{dims: []int{3, 1, 5, 1}, starts: []int{1, 0, 0, 0}, limits: []int{3, 1, 5, 1}, strides: []int{1, 1, 3, 1}},
		{dims: []int{4, 0, 3}, starts: []int{0, 0, 0}, limits: []int{4, 0, 3}, strides: []int{1, 1, 1}},
		{dims: []int{5, 6}, starts: []int{5, 0}, limits: []int{5, 6}, strides: []int{1, 1}},
		{dims: []int{300, 257}, starts: []int{3, 1}, limits: []int{300, 257}, strides: []int{7, 5}},
	}
	for _, c := range fixed {
		checkSlice(t, rng, c)
	}
	for range 400 {
		checkSlice(t, rng, randomSliceCase(rng, rng.IntN(6), 6))
	}
}

// BenchmarkSlice times the plain and the block-copy Slice on float32 shapes from the models
// that motivated it: the im2col offset slices of a 3x3 convolution in channels-first layout,
// a strided (stride-2) spatial slice, the per-timestep slice of a recurrent net, and a row
// block of an im2col matrix.
func BenchmarkSlice(b *testing.B) {
	cases := []struct {
		name string
		c    sliceCase
	}{
		{"im2col-offset-[16,64,30,30]", sliceCase{dims: []int{16, 64, 30, 30}, starts: []int{0, 0, 1, 2}, limits: []int{16, 64, 29, 30}, strides: []int{1, 1, 1, 1}}},
		{"strided-[16,64,30,30]", sliceCase{dims: []int{16, 64, 30, 30}, starts: []int{0, 0, 1, 1}, limits: []int{16, 64, 29, 29}, strides: []int{1, 1, 2, 2}}},
		{"timestep-[32,128,64]", sliceCase{dims: []int{32, 128, 64}, starts: []int{0, 77, 0}, limits: []int{32, 78, 64}, strides: []int{1, 1, 1}}},
		{"rows-[144,12544]", sliceCase{dims: []int{144, 12544}, starts: []int{32, 0}, limits: []int{48, 12544}, strides: []int{1, 1}}},
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for _, bc := range cases {
		params := &sliceNode{starts: bc.c.starts, limits: bc.c.limits, strides: bc.c.strides}
		operand := randomBuffer(b, rng, shapes.Make(dtypes.Float32, bc.c.dims...))
		output := emptyBuffer(b, shapes.Make(dtypes.Float32, bc.c.outputDims()...))
		b.Run(bc.name+"/plain", func(b *testing.B) {
			benchLoop(b, func() {
				sliceReference[float32](operand, output, params)
			})
		})
		b.Run(bc.name+"/blocks", func(b *testing.B) {
			benchLoop(b, func() {
				execSliceGeneric[float32](operand, output, params)
			})
		})
	}
}

// reduceReference is the plain element-by-element reduction of gomlx/compute v0.1.6 (the
// ReduceOutputIterator walk), kept as the reference for the run-based one. combine is the
// reduction's binary operation.
func reduceReference[T gobackend.PODNumericConstraints](operand, output *gobackend.Buffer, it *ReduceOutputIterator, initialValue T, combine func(a, b T) T) {
	outputFlat := output.Flat.([]T)
	for outputIdx := range outputFlat {
		outputFlat[outputIdx] = initialValue
	}
	for _, value := range operand.Flat.([]T) {
		outputIdx := it.Next()
		outputFlat[outputIdx] = combine(outputFlat[outputIdx], value)
	}
}

// reduceSumPlain and reduceMaxPlain are gomlx/compute v0.1.6's execReduceSumGeneric and
// execReduceMaxGeneric verbatim, the "plain" side of BenchmarkReduce.
func reduceSumPlain[T gobackend.PODNumericConstraints](operand, output *gobackend.Buffer, it *ReduceOutputIterator, _ dtypes.DType) error {
	outputFlat := output.Flat.([]T)
	for outputIdx := range outputFlat {
		outputFlat[outputIdx] = T(0)
	}
	operandFlat := operand.Flat.([]T)
	for _, value := range operandFlat {
		outputIdx := it.Next()
		outputFlat[outputIdx] += value
	}
	return nil
}

func reduceMaxPlain[T gobackend.PODNumericConstraints](operand, output *gobackend.Buffer, it *ReduceOutputIterator, dtype dtypes.DType) error {
	initialValue := dtype.LowestValue().(T)
	outputFlat := output.Flat.([]T)
	for outputIdx := range outputFlat {
		outputFlat[outputIdx] = initialValue
	}
	operandFlat := operand.Flat.([]T)
	for _, value := range operandFlat {
		outputIdx := it.Next()
		outputFlat[outputIdx] = max(outputFlat[outputIdx], value)
	}
	return nil
}

// reduceTestOps are the reductions with run-based implementations: name, the op's dtype map,
// initial value and binary operation for the reference.
func reduceTestOps[T gobackend.PODNumericConstraints](dtype dtypes.DType) []struct {
	name    string
	fn      GenericReduceFn
	initial T
	combine func(a, b T) T
} {
	get := func(m *gobackend.DTypeMap) GenericReduceFn {
		fnAny, err := m.Get(dtype)
		if err != nil {
			panic(err)
		}
		return fnAny.(GenericReduceFn)
	}
	return []struct {
		name    string
		fn      GenericReduceFn
		initial T
		combine func(a, b T) T
	}{
		{"ReduceSum", get(reduceSumDTypeMap), T(0), func(a, b T) T { return a + b }},
		{"ReduceMax", get(reduceMaxDTypeMap), dtype.LowestValue().(T), func(a, b T) T { return max(a, b) }},
		{"ReduceMin", get(reduceMinDTypeMap), dtype.HighestValue().(T), func(a, b T) T { return min(a, b) }},
		{"ReduceProduct", get(reduceProductDTypeMap), T(1), func(a, b T) T { return a * b }},
	}
}

// randomReduceAxes returns a random increasing subset of the axes of a rank-rank tensor.
func randomReduceAxes(rng *rand.Rand, rank int) []int {
	var axes []int
	for axis := range rank {
		if rng.IntN(2) == 0 {
			axes = append(axes, axis)
		}
	}
	return axes
}

func reduceOutputDims(dims, axes []int) []int {
	var out []int
	for axis, dim := range dims {
		if !slices.Contains(axes, axis) {
			out = append(out, dim)
		}
	}
	return out
}

// checkReduce runs every reduction of dtype on random values of the given dimensions and
// compares it bit for bit with the reference (the same order of operations per output element).
func checkReduce[T gobackend.PODNumericConstraints](t *testing.T, rng *rand.Rand, dtype dtypes.DType, dims, axes []int, value func() T) {
	t.Helper()
	operand := emptyBuffer(t, shapes.Make(dtype, dims...))
	for i := range operand.Flat.([]T) {
		operand.Flat.([]T)[i] = value()
	}
	outDims := reduceOutputDims(dims, axes)
	for _, op := range reduceTestOps[T](dtype) {
		want := emptyBuffer(t, shapes.Make(dtype, outDims...))
		reduceReference(operand, want, NewReduceOutputIterator(dims, axes), op.initial, op.combine)
		got := emptyBuffer(t, shapes.Make(dtype, outDims...))
		if err := op.fn(operand, got, NewReduceOutputIterator(dims, axes), dtype); err != nil {
			t.Fatalf("%s %s dims=%v axes=%v: %+v", op.name, dtype, dims, axes, err)
		}
		wantBytes, _ := want.MutableBytes()
		requireSameBytes(t, fmt.Sprintf("%s %s dims=%v axes=%v", op.name, dtype, dims, axes), got, slices.Clone(wantBytes))
	}
}

// TestReduceRuns checks the run-based ReduceSum/Max/Min/Product against the plain
// element-by-element iteration, bit for bit, on random shapes (ranks 0-5, empty and size-1
// axes) and axes, on float (with NaNs and infinities), signed and unsigned dtypes, and on the
// shapes of pooling and bias gradients.
func TestReduceRuns(t *testing.T) {
	rng := rand.New(rand.NewPCG(42, 3))
	float32Value := func() float32 {
		switch rng.IntN(50) {
		case 0:
			return float32(math.NaN())
		case 1:
			return float32(math.Inf(1 - 2*rng.IntN(2)))
		}
		return float32(rng.NormFloat64())
	}
	float64Value := func() float64 { return rng.NormFloat64() * 100 }
	int32Value := func() int32 { return int32(rng.IntN(201)) - 100 }
	uint8Value := func() uint8 { return uint8(rng.Uint32()) }
	int64Value := func() int64 { return int64(rng.Uint64()) }

	fixed := []struct{ dims, axes []int }{
		{[]int{}, []int{}},
		{[]int{5}, []int{0}},
		{[]int{5}, []int{}},
		{[]int{1, 1, 1}, []int{1}},
		{[]int{16 * 8 * 14, 2, 14, 2}, []int{1, 3}}, // 2x2 max-pool, channels-first view
		{[]int{8, 14, 2, 14, 2, 16}, []int{2, 4}},   // 2x2 max-pool, channels-last
		{[]int{512, 128}, []int{0}},                 // bias gradient
		{[]int{512, 10}, []int{1}},                  // softmax over classes
		{[]int{32, 50, 64}, []int{0, 1}},
		{[]int{3, 0, 4}, []int{1}},
		{[]int{3, 0, 4}, []int{0, 2}},
		{[]int{2, 3, 1, 4, 1, 5}, []int{0, 2, 3}},
	}
	for _, c := range fixed {
		checkReduce(t, rng, dtypes.Float32, c.dims, c.axes, float32Value)
		checkReduce(t, rng, dtypes.Int32, c.dims, c.axes, int32Value)
	}
	for range 300 {
		dims := randomDims(rng, rng.IntN(6), 6)
		axes := randomReduceAxes(rng, len(dims))
		checkReduce(t, rng, dtypes.Float32, dims, axes, float32Value)
		checkReduce(t, rng, dtypes.Float64, dims, axes, float64Value)
		checkReduce(t, rng, dtypes.Int32, dims, axes, int32Value)
		checkReduce(t, rng, dtypes.Uint8, dims, axes, uint8Value)
		checkReduce(t, rng, dtypes.Int64, dims, axes, int64Value)
	}
}

// BenchmarkReduce times the plain and the run-based reductions on float32 shapes from the
// models that motivated them: 2x2 max-pooling (channels-first view, as models/layers/fastconv
// reshapes it), a bias gradient (sum over the batch) and a softmax's sum over classes.
func BenchmarkReduce(b *testing.B) {
	cases := []struct {
		name  string
		op    int // index in reduceTestOps
		plain GenericReduceFn
		dims  []int
		axes  []int
	}{
		{"max-pool-[14336,2,14,2]", 1, reduceMaxPlain[float32], []int{16 * 64 * 14, 2, 14, 2}, []int{1, 3}},
		{"sum-bias-grad-[2048,128]", 0, reduceSumPlain[float32], []int{2048, 128}, []int{0}},
		{"sum-classes-[2048,10]", 0, reduceSumPlain[float32], []int{2048, 10}, []int{1}},
		{"sum-middle-[32,50,256]", 0, reduceSumPlain[float32], []int{32, 50, 256}, []int{1}},
	}
	rng := rand.New(rand.NewPCG(1, 3))
	for _, bc := range cases {
		op := reduceTestOps[float32](dtypes.Float32)[bc.op]
		operand := emptyBuffer(b, shapes.Make(dtypes.Float32, bc.dims...))
		for i := range operand.Flat.([]float32) {
			operand.Flat.([]float32)[i] = float32(rng.NormFloat64())
		}
		output := emptyBuffer(b, shapes.Make(dtypes.Float32, reduceOutputDims(bc.dims, bc.axes)...))
		b.Run(bc.name+"/plain", func(b *testing.B) {
			benchLoop(b, func() {
				_ = bc.plain(operand, output, NewReduceOutputIterator(bc.dims, bc.axes), dtypes.Float32)
			})
		})
		b.Run(bc.name+"/runs", func(b *testing.B) {
			benchLoop(b, func() {
				_ = op.fn(operand, output, NewReduceOutputIterator(bc.dims, bc.axes), dtypes.Float32)
			})
		})
	}
}

// transposeReference is the plain Transpose of gomlx/compute v0.1.6 (execTransposeGeneric): it
// scatters each operand element to the output index the TransposeIterator yields.
func transposeReference[T gobackend.SupportedTypesConstraints](operand, output *gobackend.Buffer, it *TransposeIterator) {
	operandFlat := operand.Flat.([]T)
	outputFlat := output.Flat.([]T)
	for _, value := range operandFlat {
		outputFlat[it.Next()] = value
	}
}

func transposedDims(dims, permutations []int) []int {
	out := make([]int, len(dims))
	for i, axis := range permutations {
		out[i] = dims[axis]
	}
	return out
}

func checkTranspose(t *testing.T, rng *rand.Rand, dims, permutations []int) {
	t.Helper()
	outDims := transposedDims(dims, permutations)
	outShape := shapes.Make(dtypes.Int64, outDims...)
	sources := &gobackend.Buffer{RawShape: outShape, Flat: make([]int64, outShape.Size())}
	transposeReference[int64](iotaBuffer(dims), sources, NewTransposeIterator(shapes.Make(dtypes.Int64, dims...), permutations))
	for _, dtype := range dataMovementDTypes {
		operand := randomBuffer(t, rng, shapes.Make(dtype, dims...))
		output := emptyBuffer(t, shapes.Make(dtype, outDims...))
		fnAny, err := TransposeDTypeMap.Get(dtype)
		if err != nil {
			t.Fatalf("%s: %+v", dtype, err)
		}
		fnAny.(func(operand, output *gobackend.Buffer, it *TransposeIterator))(operand, output, NewTransposeIterator(operand.RawShape, permutations))
		requireSameBytes(t, fmt.Sprintf("Transpose %s dims=%v permutations=%v", dtype, dims, permutations), output, gatherBytes(t, operand, sources.Flat.([]int64)))
	}
}

// TestTransposeBlocks checks the run/tile Transpose against the plain element-by-element one on
// random shapes (ranks 0-5, empty and size-1 axes) and permutations, every element size, and
// shapes larger than a tile with ragged edges.
func TestTransposeBlocks(t *testing.T) {
	rng := rand.New(rand.NewPCG(42, 4))
	fixed := []struct{ dims, permutations []int }{
		{[]int{}, []int{}},
		{[]int{7}, []int{0}},
		{[]int{1, 1}, []int{1, 0}},
		{[]int{70, 45}, []int{1, 0}},
		{[]int{3, 70, 1, 45}, []int{3, 2, 0, 1}},
		{[]int{32, 50, 64}, []int{1, 0, 2}},
		{[]int{2, 3, 4, 5, 6}, []int{0, 1, 3, 4, 2}},
		{[]int{33, 1, 65}, []int{2, 1, 0}},
		{[]int{4, 0, 5}, []int{2, 0, 1}},
	}
	for _, c := range fixed {
		checkTranspose(t, rng, c.dims, c.permutations)
	}
	for range 300 {
		rank := rng.IntN(6)
		checkTranspose(t, rng, randomDims(rng, rank, 7), rng.Perm(rank))
	}
}

// BenchmarkTranspose times the plain and the run/tile Transpose on float32 shapes from the
// models that motivated it: swapping batch and time of a recurrent net's activations (runs),
// a matrix transpose of a weight gradient and of a [batch*time, features] matrix (tiles), and
// the channels-last to channels-first move of an image batch.
func BenchmarkTranspose(b *testing.B) {
	cases := []struct {
		name               string
		dims, permutations []int
	}{
		{"batch-time-[32,128,64]", []int{32, 128, 64}, []int{1, 0, 2}},
		{"matrix-[256,1024]", []int{256, 1024}, []int{1, 0}},
		{"matrix-[4096,64]", []int{4096, 64}, []int{1, 0}},
		{"nhwc-nchw-[64,28,28,16]", []int{64, 28, 28, 16}, []int{0, 3, 1, 2}},
	}
	rng := rand.New(rand.NewPCG(1, 4))
	for _, bc := range cases {
		operand := randomBuffer(b, rng, shapes.Make(dtypes.Float32, bc.dims...))
		output := emptyBuffer(b, shapes.Make(dtypes.Float32, transposedDims(bc.dims, bc.permutations)...))
		b.Run(bc.name+"/plain", func(b *testing.B) {
			benchLoop(b, func() {
				transposeReference[float32](operand, output, NewTransposeIterator(operand.RawShape, bc.permutations))
			})
		})
		b.Run(bc.name+"/blocks", func(b *testing.B) {
			benchLoop(b, func() {
				execTransposeGeneric[float32](operand, output, NewTransposeIterator(operand.RawShape, bc.permutations))
			})
		})
	}
}

// broadcastInDimReference is the plain BroadcastInDim of gomlx/compute v0.1.6: one element at a
// time through a BroadcastIterator (with its scalar and prefix-only special cases).
func broadcastInDimReference[T gobackend.SupportedTypesConstraints](operand, output *gobackend.Buffer, srcDims []int) {
	operandFlat, outputFlat := operand.Flat.([]T), output.Flat.([]T)
	if len(operandFlat) == 1 {
		for i := range outputFlat {
			outputFlat[i] = operandFlat[0]
		}
		return
	}
	iter := gobackend.NewBroadcastIterator(shapes.Make(operand.RawShape.DType, srcDims...), output.RawShape)
	for operandFlatIdx, outputFlatIdx := range iter.IterFlatIndices() {
		outputFlat[outputFlatIdx] = operandFlat[operandFlatIdx]
	}
}

// randomBroadcast returns random output dimensions and the operand's dimensions at the output's
// rank (srcDims: each 1 or the output's) and at its own rank (the axes in broadcastAxes).
func randomBroadcast(rng *rand.Rand, rank, maxDim int) (outDims, srcDims, operandDims []int) {
	outDims = randomDims(rng, rank, maxDim)
	srcDims = make([]int, rank)
	for axis, dim := range outDims {
		switch rng.IntN(3) {
		case 0: // a new axis of the output (not in broadcastAxes)
			srcDims[axis] = 1
		case 1: // an operand axis of size 1, broadcast
			srcDims[axis] = 1
			operandDims = append(operandDims, 1)
		default: // an operand axis of the same size
			srcDims[axis] = dim
			operandDims = append(operandDims, dim)
		}
	}
	return
}

func checkBroadcastInDim(t *testing.T, rng *rand.Rand, outDims, srcDims, operandDims []int) {
	t.Helper()
	outShape := shapes.Make(dtypes.Int64, outDims...)
	sources := &gobackend.Buffer{RawShape: outShape, Flat: make([]int64, outShape.Size())}
	if outShape.Size() > 0 {
		broadcastInDimReference[int64](iotaBuffer(operandDims), sources, srcDims)
	}
	for _, dtype := range dataMovementDTypes {
		operand := randomBuffer(t, rng, shapes.Make(dtype, operandDims...))
		output := emptyBuffer(t, shapes.Make(dtype, outDims...))
		fnAny, err := broadcastInDimDTypeMap.Get(dtype)
		if err != nil {
			t.Fatalf("%s: %+v", dtype, err)
		}
		fnAny.(func(operand, output *gobackend.Buffer, srcDims []int))(operand, output, srcDims)
		requireSameBytes(t, fmt.Sprintf("BroadcastInDim %s operand=%v srcDims=%v output=%v", dtype, operandDims, srcDims, outDims),
			output, gatherBytes(t, operand, sources.Flat.([]int64)))
	}
}

// TestBroadcastInDimBlocks checks the block-copy BroadcastInDim against the plain
// element-by-element one on random shapes (ranks 0-5, new axes, size-1 operand axes broadcast,
// empty and size-1 output axes), every element size, and large broadcast blocks.
func TestBroadcastInDimBlocks(t *testing.T) {
	rng := rand.New(rand.NewPCG(42, 5))
	fixed := []struct{ outDims, srcDims, operandDims []int }{
		{[]int{}, []int{}, []int{}},
		{[]int{5}, []int{1}, []int{}},
		{[]int{5}, []int{5}, []int{5}},
		{[]int{4, 5}, []int{1, 5}, []int{5}},
		{[]int{4, 5}, []int{4, 1}, []int{4}},
		{[]int{64, 16, 14, 2, 14, 2}, []int{64, 16, 14, 1, 14, 1}, []int{64, 16, 14, 1, 14, 1}}, // pooling gradient
		{[]int{3, 100, 7, 90}, []int{1, 100, 1, 90}, []int{100, 90}},
		{[]int{2, 3, 4}, []int{1, 1, 1}, []int{1, 1, 1}},
		{[]int{2, 0, 4}, []int{2, 1, 4}, []int{2, 1, 4}},
	}
	for _, c := range fixed {
		checkBroadcastInDim(t, rng, c.outDims, c.srcDims, c.operandDims)
	}
	for range 400 {
		outDims, srcDims, operandDims := randomBroadcast(rng, rng.IntN(6), 6)
		checkBroadcastInDim(t, rng, outDims, srcDims, operandDims)
	}
}

// BenchmarkBroadcastInDim times the plain and the block-copy BroadcastInDim on float32 shapes
// from the models that motivated it: the max-pool gradient's repeat of pooled values over 2x2
// windows, a bias broadcast over the batch, and a per-example value over features.
func BenchmarkBroadcastInDim(b *testing.B) {
	cases := []struct {
		name                         string
		outDims, srcDims, operandDim []int
	}{
		{"pool-grad-[1024,14,2,14,2]", []int{1024, 14, 2, 14, 2}, []int{1024, 14, 1, 14, 1}, []int{1024, 14, 1, 14, 1}},
		{"bias-[2048,128]", []int{2048, 128}, []int{1, 128}, []int{128}},
		{"per-example-[2048,128]", []int{2048, 128}, []int{2048, 1}, []int{2048}},
	}
	rng := rand.New(rand.NewPCG(1, 5))
	for _, bc := range cases {
		operand := randomBuffer(b, rng, shapes.Make(dtypes.Float32, bc.operandDim...))
		output := emptyBuffer(b, shapes.Make(dtypes.Float32, bc.outDims...))
		b.Run(bc.name+"/plain", func(b *testing.B) {
			benchLoop(b, func() {
				broadcastInDimReference[float32](operand, output, bc.srcDims)
			})
		})
		b.Run(bc.name+"/blocks", func(b *testing.B) {
			benchLoop(b, func() {
				execBroadcastInDimGeneric[float32](operand, output, bc.srcDims)
			})
		})
	}
}
