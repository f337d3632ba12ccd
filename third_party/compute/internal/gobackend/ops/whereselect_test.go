// Copyright 2023-2026 The GoMLX Authors. SPDX-License-Identifier: Apache-2.0

package ops

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/internal/gobackend"
	"github.com/gomlx/compute/shapes"
)

// boolBuffer returns a condition buffer of the given dimensions, true with probability p.
func boolBuffer(tb testing.TB, rng *rand.Rand, p float64, dims ...int) *gobackend.Buffer {
	tb.Helper()
	buf := emptyBuffer(tb, shapes.Make(dtypes.Bool, dims...))
	for i := range buf.Flat.([]bool) {
		buf.Flat.([]bool)[i] = rng.Float64() < p
	}
	return buf
}

// runWhere runs the Where exec function with the mask select or the branching loop, into a
// fresh output (operands not owned).
func runWhere(t *testing.T, cond, onTrue, onFalse *gobackend.Buffer, dims []int, branching bool) []byte {
	t.Helper()
	whereSelectOff = branching
	defer func() { whereSelectOff = false }()
	testBackend().PutBuffer(emptyBuffer(t, shapes.Make(onTrue.RawShape.DType, dims...)))
	node := &gobackend.Node{Shape: shapes.Make(onTrue.RawShape.DType, dims...)}
	out, err := execWhere(testBackend(), node, []*gobackend.Buffer{cond, onTrue, onFalse}, []bool{false, false, false})
	if err != nil {
		t.Fatalf("Where %v: %+v", dims, err)
	}
	raw, _ := out.MutableBytes()
	return bytes.Clone(raw)
}

// TestWhereSelect checks the mask select of Where against the branching loop byte for byte:
// every element size (random bit patterns, NaN payloads included), scalar and full onTrue /
// onFalse, conditions all false, all true and random, random ranks 0-4 with empty and size-1
// axes.
func TestWhereSelect(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 41))
	for iter := range 300 {
		dims := randomDims(rng, rng.IntN(5), 7)
		dtype := dataMovementDTypes[rng.IntN(len(dataMovementDTypes))]
		p := []float64{0, 1, 0.5, 0.1}[iter%4]
		cond := boolBuffer(t, rng, p, dims...)
		for _, scalars := range [][2]bool{{false, false}, {false, true}, {true, false}, {true, true}} {
			operand := func(scalar bool) *gobackend.Buffer {
				if scalar {
					return randomBuffer(t, rng, shapes.Make(dtype))
				}
				return randomBuffer(t, rng, shapes.Make(dtype, dims...))
			}
			onTrue, onFalse := operand(scalars[0]), operand(scalars[1])
			want := runWhere(t, cond, onTrue, onFalse, dims, true)
			got := runWhere(t, cond, onTrue, onFalse, dims, false)
			if !bytes.Equal(want, got) {
				t.Fatalf("Where %s %v (p=%g, scalar onTrue/onFalse %v): mask select differs from the branching loop", dtype, dims, p, scalars)
			}
		}
	}
}

// BenchmarkWhere times a relu gradient's Where (random mask, scalar zero onFalse) and a
// select of two full tensors, with the branching loop and the mask select.
//
//	go test -run '^$' -bench BenchmarkWhere -count 3 ./internal/gobackend/ops/
func BenchmarkWhere(b *testing.B) {
	rng := rand.New(rand.NewPCG(1, 41))
	dims := []int{16, 16, 32, 32}
	cond := boolBuffer(b, rng, 0.5, dims...)
	full := randomBuffer(b, rng, shapes.Make(dtypes.Float32, dims...))
	full2 := randomBuffer(b, rng, shapes.Make(dtypes.Float32, dims...))
	zero := randomBuffer(b, rng, shapes.Make(dtypes.Float32)).Zeros()
	node := &gobackend.Node{Shape: shapes.Make(dtypes.Float32, dims...)}
	for _, c := range []struct {
		name            string
		onTrue, onFalse *gobackend.Buffer
	}{{"relu-grad-[16,16,32,32]", full, zero}, {"full-[16,16,32,32]", full, full2}} {
		for _, path := range []string{"branching", "select"} {
			b.Run(fmt.Sprintf("%s/%s", c.name, path), func(b *testing.B) {
				whereSelectOff = path == "branching"
				defer func() { whereSelectOff = false }()
				benchLoop(b, func() {
					out, _ := execWhere(testBackend(), node, []*gobackend.Buffer{cond, c.onTrue, c.onFalse}, []bool{false, false, false})
					testBackend().PutBuffer(out)
				})
			})
		}
	}
}
