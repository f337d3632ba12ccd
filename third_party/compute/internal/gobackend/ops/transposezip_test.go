// Copyright 2023-2026 The GoMLX Authors. SPDX-License-Identifier: Apache-2.0

package ops

import (
	"math/rand/v2"
	"testing"

	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
)

// TestTransposeZip checks the interleave path of Transpose (a short output-innermost axis with
// the operand's innermost axis right outside it) and its reverse against the element-by-element
// transpose, on
// every element size: 2x and 3-d phase interleaves, 1-4 rows, ragged and size-1 columns, with
// and without outer axes; and that random shapes agree with the path on and off.
func TestTransposeZip(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 17))
	cases := []struct{ dims, permutations []int }{
		{[]int{2, 5}, []int{1, 0}},
		{[]int{4, 33}, []int{1, 0}},
		{[]int{3, 1, 17}, []int{1, 2, 0}},
		{[]int{2, 2, 3, 4, 5, 7}, []int{2, 3, 4, 0, 5, 1}},             // 2-d phase interleave
		{[]int{2, 2, 2, 3, 2, 3, 4, 3}, []int{3, 4, 5, 0, 6, 1, 7, 2}}, // 3-d
		{[]int{2, 6, 1}, []int{1, 2, 0}},
		{[]int{4, 9, 16}, []int{1, 2, 0}},
		{[]int{5, 2}, []int{1, 0}},                         // unzips
		{[]int{3, 4, 5, 2, 7, 2}, []int{3, 5, 0, 1, 2, 4}}, // 2-d phase split
		{[]int{9, 16, 3}, []int{2, 0, 1}},
	}
	for _, c := range cases {
		checkTranspose(t, rng, c.dims, c.permutations)
	}
	defer func() { transposeZipMaxRows = 4 }()
	for range 200 {
		rank := rng.IntN(6)
		dims, perm := randomDims(rng, rank, 6), rng.Perm(rank)
		for _, zip := range []int{0, 4} {
			transposeZipMaxRows = zip
			checkTranspose(t, rng, dims, perm)
		}
	}
}

// BenchmarkTransposeZip times the interleave of a 2x upsampling's four phase outputs,
// [2, 2, F, B, H, W] -> [F, B, H, 2, W, 2] (float32), and the reverse, tiled and (un)zipped
// (cpu-ns/op).
//
//	go test -run '^$' -bench BenchmarkTransposeZip -count 3 ./internal/gobackend/ops/
func BenchmarkTransposeZip(b *testing.B) {
	rng := rand.New(rand.NewPCG(1, 17))
	for _, c := range []struct{ dims, perm []int }{
		{[]int{2, 2, 16, 16, 16, 16}, []int{2, 3, 4, 0, 5, 1}},
		{[]int{2, 2, 32, 16, 8, 8}, []int{2, 3, 4, 0, 5, 1}},
		{[]int{16, 16, 16, 2, 16, 2}, []int{3, 5, 0, 1, 2, 4}}, // its gradient: the unzip
	} {
		dims, perm := c.dims, c.perm
		operand := randomBuffer(b, rng, shapes.Make(dtypes.Float32, dims...))
		output := emptyBuffer(b, shapes.Make(dtypes.Float32, transposedDims(dims, perm)...))
		for _, path := range []string{"tiles", "zip"} {
			b.Run(shapes.Make(dtypes.Float32, dims...).String()+"/"+path, func(b *testing.B) {
				defer func() { transposeZipMaxRows = 4 }()
				if path == "tiles" {
					transposeZipMaxRows = 0
				}
				benchLoop(b, func() {
					execTransposeGeneric[float32](operand, output, NewTransposeIterator(operand.RawShape, perm))
				})
			})
		}
	}
}
