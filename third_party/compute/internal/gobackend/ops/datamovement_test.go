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
	"math/rand/v2"
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
			for b.Loop() {
				sliceReference[float32](operand, output, params)
			}
		})
		b.Run(bc.name+"/blocks", func(b *testing.B) {
			for b.Loop() {
				execSliceGeneric[float32](operand, output, params)
			}
		})
	}
}
