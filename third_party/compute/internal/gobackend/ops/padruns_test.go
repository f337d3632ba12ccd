// Copyright 2023-2026 The GoMLX Authors. SPDX-License-Identifier: Apache-2.0

package ops

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/gomlx/compute"
	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/internal/gobackend"
	"github.com/gomlx/compute/shapeinference"
	"github.com/gomlx/compute/shapes"
)

// padReference is Pad without interior padding, element by element: each output element is the
// operand element at its index minus Start on every axis, or the fill value where that is out
// of the operand (Start and End may be negative).
func padReference(t *testing.T, operand, fill *gobackend.Buffer, config []compute.PadAxis) []byte {
	t.Helper()
	outShape, err := shapeinference.Pad(operand.RawShape, config...)
	if err != nil {
		t.Fatalf("%v %v: %+v", operand.RawShape, config, err)
	}
	in, _ := operand.MutableBytes()
	fillBytes, _ := fill.MutableBytes()
	size := operand.RawShape.DType.Size()
	inStrides := operand.RawShape.Strides()
	out := make([]byte, 0, outShape.Size()*size)
	for flat := range outShape.Size() {
		src, rem := 0, flat
		outStrides := outShape.Strides()
		for axis, st := range outStrides {
			i := rem/st - config[axis].Start
			rem %= st
			if i < 0 || i >= operand.RawShape.Dimensions[axis] {
				src = -1
				break
			}
			src += i * inStrides[axis]
		}
		if src < 0 {
			out = append(out, fillBytes...)
		} else {
			out = append(out, in[src*size:(src+1)*size]...)
		}
	}
	return out
}

// runPad runs the Pad exec function, run-wise or generic.
func runPad(t *testing.T, operand, fill *gobackend.Buffer, config []compute.PadAxis, off bool) *gobackend.Buffer {
	t.Helper()
	padRunsOff = off
	defer func() { padRunsOff = false }()
	// Leave a dirty buffer of the output's shape in the pool, for the op to reuse.
	if outShape, err := shapeinference.Pad(operand.RawShape, config...); err == nil {
		testBackend().PutBuffer(emptyBuffer(t, outShape))
	}
	out, err := execPad(testBackend(), &gobackend.Node{Data: &padNode{axesConfig: config}}, []*gobackend.Buffer{operand, fill}, nil)
	if err != nil {
		t.Fatalf("Pad %v %v: %+v", operand.RawShape, config, err)
	}
	return out
}

// TestPadRuns checks the run-wise Pad against an element-by-element reference (every element
// size, zero and non-zero fill values, random ranks 0-5 with empty and size-1 axes, positive and
// negative Start/End: shifts and crops) and, where the generic implementation applies (no
// negative padding), against it byte for byte; interior padding stays on the generic path.
func TestPadRuns(t *testing.T) {
	rng := rand.New(rand.NewPCG(42, 31))
	check := func(dims []int, config []compute.PadAxis) {
		t.Helper()
		if _, err := shapeinference.Pad(shapes.Make(dtypes.Float32, dims...), config...); err != nil {
			return // Crops past the operand's size.
		}
		for _, dtype := range dataMovementDTypes {
			operand := randomBuffer(t, rng, shapes.Make(dtype, dims...))
			fill := randomBuffer(t, rng, shapes.Make(dtype))
			if rng.IntN(2) == 0 {
				fill.Zeros()
			}
			name := fmt.Sprintf("Pad %s dims=%v config=%v", dtype, dims, config)
			got := runPad(t, operand, fill, config, false)
			requireSameBytes(t, name, got, padReference(t, operand, fill, config))
			negative := slices.ContainsFunc(config, func(c compute.PadAxis) bool { return c.Start < 0 || c.End < 0 })
			if !negative {
				want, _ := runPad(t, operand, fill, config, true).MutableBytes()
				requireSameBytes(t, name+" (generic)", got, slices.Clone(want))
			}
		}
	}
	fixed := []struct {
		dims   []int
		config []compute.PadAxis
	}{
		{[]int{}, nil},
		{[]int{5}, []compute.PadAxis{{Start: 2, End: 1}}},
		{[]int{5}, []compute.PadAxis{{Start: -2, End: 3}}},
		{[]int{16, 8, 14, 14}, []compute.PadAxis{{}, {}, {Start: -1, End: 1}, {Start: 1, End: -1}}}, // col2im/im2col shifts
		{[]int{16, 8, 14, 14}, []compute.PadAxis{{}, {}, {Start: 1, End: 1}, {Start: 1, End: 1}}},   // same padding
		{[]int{3, 4, 5}, []compute.PadAxis{{}, {Start: -4, End: -3}, {}}},                           // nothing left
		{[]int{2, 0, 3}, []compute.PadAxis{{Start: 1}, {End: 2}, {Start: -1}}},
	}
	for _, c := range fixed {
		check(c.dims, c.config)
	}
	for range 300 {
		rank := rng.IntN(6)
		dims := randomDims(rng, rank, 6)
		config := make([]compute.PadAxis, rank)
		for a := range config {
			if rng.IntN(3) > 0 {
				config[a] = compute.PadAxis{Start: rng.IntN(7) - 3, End: rng.IntN(7) - 3}
			}
		}
		check(dims, config)
	}
	// Interior padding: the generic path, unchanged.
	operand := randomBuffer(t, rng, shapes.Make(dtypes.Float32, 3, 4))
	fill := randomBuffer(t, rng, shapes.Make(dtypes.Float32))
	config := []compute.PadAxis{{Start: 1, Interior: 1}, {End: 2, Interior: 2}}
	want, _ := runPad(t, operand, fill, config, true).MutableBytes()
	requireSameBytes(t, "interior", runPad(t, operand, fill, config, false), slices.Clone(want))
}

// BenchmarkPad times the generic and the run-wise Pad on the shapes of models/layers/fastconv's
// channels-first 3x3 convolution of the cnn benchmark: the same padding of [16,64,14,14] and a
// kernel-offset shift (col2im / im2col).
func BenchmarkPad(b *testing.B) {
	rng := rand.New(rand.NewPCG(1, 31))
	operand := randomBuffer(b, rng, shapes.Make(dtypes.Float32, 16, 64, 14, 14))
	fill := randomBuffer(b, rng, shapes.Make(dtypes.Float32)).Zeros()
	cases := []struct {
		name   string
		config []compute.PadAxis
	}{
		{"same-[16,64,14,14]", []compute.PadAxis{{}, {}, {Start: 1, End: 1}, {Start: 1, End: 1}}},
		{"shift-[16,64,14,14]", []compute.PadAxis{{}, {}, {Start: 1, End: -1}, {Start: 1, End: -1}}},
	}
	for _, c := range cases {
		for _, path := range []string{"generic", "runs"} {
			if path == "generic" && c.config[2].End < 0 {
				continue // The generic path does not support negative padding.
			}
			b.Run(c.name+"/"+path, func(b *testing.B) {
				padRunsOff = path == "generic"
				defer func() { padRunsOff = false }()
				node := &gobackend.Node{Data: &padNode{axesConfig: c.config}}
				benchLoop(b, func() {
					out, _ := execPad(testBackend(), node, []*gobackend.Buffer{operand, fill}, nil)
					testBackend().PutBuffer(out)
				})
			})
		}
	}
}
