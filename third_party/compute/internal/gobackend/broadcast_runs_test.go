// Copyright 2023-2026 The GoMLX Authors. SPDX-License-Identifier: Apache-2.0

package gobackend

import (
	"fmt"
	"iter"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
)

// plainBroadcastIndices is BroadcastIterator.IterFlatIndices of gomlx/compute v0.1.6 (an
// odometer step per element), the reference for the merged-axes walk.
func plainBroadcastIndices(bi *BroadcastIterator) iter.Seq2[int, int] {
	return func(yield func(srcIdx, tgtIdx int) bool) {
		rank := len(bi.tgtDims)
		perAxesIdx := make([]int, rank)
		srcFlatIdx := 0
		for dstFlatIdx := range bi.tgtSize {
			if !yield(srcFlatIdx, dstFlatIdx) {
				return
			}
			srcFlatIdx++
			for axis := rank - 1; axis >= 0; axis-- {
				perAxesIdx[axis]++
				if perAxesIdx[axis] < bi.tgtDims[axis] {
					if bi.isBroadcast[axis] {
						srcFlatIdx -= bi.srcStrides[axis]
					}
					break
				}
				perAxesIdx[axis] = 0
			}
		}
	}
}

// plainZippedIndices is ZipIterator.IterFlatIndices of gomlx/compute v0.1.6.
func plainZippedIndices(zi *ZipIterator) iter.Seq[ZippedIndices] {
	return func(yield func(ZippedIndices) bool) {
		rank := len(zi.tgtDims)
		perAxesIdx := make([]int, rank)
		lhsFlatIdx := 0
		rhsFlatIdx := 0
		for dstFlatIdx := range zi.tgtSize {
			if !yield(ZippedIndices{LHSFlatIdx: lhsFlatIdx, RHSFlatIdx: rhsFlatIdx, TgtFlatIdx: dstFlatIdx}) {
				return
			}
			lhsFlatIdx++
			rhsFlatIdx++
			for axis := rank - 1; axis >= 0; axis-- {
				perAxesIdx[axis]++
				if perAxesIdx[axis] < zi.tgtDims[axis] {
					if zi.lhsIsBroadcast[axis] {
						lhsFlatIdx -= zi.lhsStrides[axis]
					}
					if zi.rhsIsBroadcast[axis] {
						rhsFlatIdx -= zi.rhsStrides[axis]
					}
					break
				}
				perAxesIdx[axis] = 0
			}
		}
	}
}

// randomBroadcastShapes returns a target shape and two source shapes of the same rank, each axis
// of a source either the target's dimension or 1 (broadcast); target axes may be 0 or 1.
func randomBroadcastShapes(rng *rand.Rand, rank int) (tgt, lhs, rhs shapes.Shape) {
	tgtDims, lhsDims, rhsDims := make([]int, rank), make([]int, rank), make([]int, rank)
	for axis := range rank {
		switch rng.IntN(8) {
		case 0:
			tgtDims[axis] = 1
		case 1:
			tgtDims[axis] = rng.IntN(2) // Sometimes empty.
		default:
			tgtDims[axis] = 1 + rng.IntN(5)
		}
		lhsDims[axis], rhsDims[axis] = tgtDims[axis], tgtDims[axis]
		if rng.IntN(3) == 0 {
			lhsDims[axis] = 1
		}
		if rng.IntN(3) == 0 {
			rhsDims[axis] = 1
		}
		if tgtDims[axis] == 0 {
			lhsDims[axis], rhsDims[axis] = 0, 0
		}
	}
	return shapes.Make(dtypes.Float32, tgtDims...), shapes.Make(dtypes.Float32, lhsDims...), shapes.Make(dtypes.Float32, rhsDims...)
}

// TestBroadcastIteratorsMergedAxes checks that BroadcastIterator and ZipIterator yield exactly the
// sequence of indices of the element-by-element walk, on random shapes of rank 0-6 with broadcast,
// size-1 and empty axes, and that they stop when yield returns false.
func TestBroadcastIteratorsMergedAxes(t *testing.T) {
	rng := rand.New(rand.NewPCG(42, 6))
	for range 500 {
		tgt, lhs, rhs := randomBroadcastShapes(rng, rng.IntN(7))
		what := fmt.Sprintf("lhs=%s rhs=%s tgt=%s", lhs, rhs, tgt)

		bi := NewBroadcastIterator(lhs, tgt)
		type pair struct{ src, tgt int }
		var want, got []pair
		for src, dst := range plainBroadcastIndices(bi) {
			want = append(want, pair{src, dst})
		}
		for src, dst := range bi.IterFlatIndices() {
			got = append(got, pair{src, dst})
		}
		if !slices.Equal(want, got) {
			t.Fatalf("BroadcastIterator %s: got %v, want %v", what, got, want)
		}

		zi := NewZippedBroadcastIterator(lhs, rhs, tgt)
		wantZ := slices.Collect(plainZippedIndices(zi))
		gotZ := slices.Collect(zi.IterFlatIndices())
		if !slices.Equal(wantZ, gotZ) {
			t.Fatalf("ZipIterator %s: got %v, want %v", what, gotZ, wantZ)
		}

		// Early stop: take a prefix.
		if n := len(wantZ); n > 1 {
			stop := rng.IntN(n)
			var prefix []ZippedIndices
			for indices := range zi.IterFlatIndices() {
				if len(prefix) == stop {
					break
				}
				prefix = append(prefix, indices)
			}
			if !slices.Equal(wantZ[:stop], prefix) {
				t.Fatalf("ZipIterator %s stopped after %d: got %v", what, stop, prefix)
			}
		}
	}
}

// reportCPU reports the process CPU time per op since start as "cpu-ns/op" (where measured).
func reportCPU(b *testing.B, start int64) {
	if start > 0 && b.N > 0 {
		b.ReportMetric(float64(cpuNanos()-start)/float64(b.N), "cpu-ns/op")
	}
}

// BenchmarkZipIterator times a broadcasting float32 Add through the plain and the merged-axes
// ZipIterator (the loop the binary ops run when shapes differ) on shapes from the models that
// motivated it: a bias over a batch, a per-example scale, a pooling gradient's 2x2 window and a
// normalization over a middle axis. Besides ns/op it reports the process CPU time per op
// (cpu-ns/op), steadier on a shared machine.
func BenchmarkZipIterator(b *testing.B) {
	cases := []struct {
		name     string
		lhs, rhs []int
	}{
		{"bias-[2048,128]+[1,128]", []int{2048, 128}, []int{1, 128}},
		{"per-example-[2048,128]*[2048,1]", []int{2048, 128}, []int{2048, 1}},
		{"pool-window-[14336,2,14,2]*[14336,1,14,1]", []int{14336, 2, 14, 2}, []int{14336, 1, 14, 1}},
		{"middle-[32,50,64]-[32,1,64]", []int{32, 50, 64}, []int{32, 1, 64}},
	}
	for _, bc := range cases {
		lhsShape, rhsShape := shapes.Make(dtypes.Float32, bc.lhs...), shapes.Make(dtypes.Float32, bc.rhs...)
		lhs, rhs, out := make([]float32, lhsShape.Size()), make([]float32, rhsShape.Size()), make([]float32, lhsShape.Size())
		for i := range lhs {
			lhs[i] = float32(i % 7)
		}
		for i := range rhs {
			rhs[i] = float32(i % 5)
		}
		zi := NewZippedBroadcastIterator(lhsShape, rhsShape, lhsShape)
		// The loops range over the iterators directly, as the binary ops do, so that the
		// iterator and the loop body are inlined as they are there.
		b.Run(bc.name+"/plain", func(b *testing.B) {
			start := cpuNanos()
			for b.Loop() {
				for indices := range plainZippedIndices(zi) {
					out[indices.TgtFlatIdx] = lhs[indices.LHSFlatIdx] + rhs[indices.RHSFlatIdx]
				}
			}
			reportCPU(b, start)
		})
		b.Run(bc.name+"/merged", func(b *testing.B) {
			start := cpuNanos()
			for b.Loop() {
				for indices := range zi.IterFlatIndices() {
					out[indices.TgtFlatIdx] = lhs[indices.LHSFlatIdx] + rhs[indices.RHSFlatIdx]
				}
			}
			reportCPU(b, start)
		})
	}
}

// TestZipIteratorRuns checks that ZipIterator.IterRuns, each run expanded element by element,
// yields exactly the sequence of the per-element walk, that each source's step over a run is 0 or
// 1, and that it stops when yield returns false (Go panics if a range-over-func iterator calls
// yield again after that).
func TestZipIteratorRuns(t *testing.T) {
	rng := rand.New(rand.NewPCG(42, 7))
	for range 500 {
		tgt, lhs, rhs := randomBroadcastShapes(rng, rng.IntN(7))
		if rng.IntN(2) == 0 {
			lhs, rhs = rhs, lhs
		}
		what := fmt.Sprintf("lhs=%s rhs=%s tgt=%s", lhs, rhs, tgt)
		zi := NewZippedBroadcastIterator(lhs, rhs, tgt)
		want := slices.Collect(plainZippedIndices(zi))
		var got []ZippedIndices
		runs := 0
		for run := range zi.IterRuns() {
			if run.Len <= 0 || (run.LHSStep != 0 && run.LHSStep != 1) || (run.RHSStep != 0 && run.RHSStep != 1) {
				t.Fatalf("ZipIterator.IterRuns %s: run %+v", what, run)
			}
			runs++
			for i := range run.Len {
				got = append(got, ZippedIndices{
					LHSFlatIdx: run.LHSFlatIdx + i*run.LHSStep,
					RHSFlatIdx: run.RHSFlatIdx + i*run.RHSStep,
					TgtFlatIdx: run.TgtFlatIdx + i,
				})
			}
		}
		if !slices.Equal(want, got) {
			t.Fatalf("ZipIterator.IterRuns %s: got %v, want %v", what, got, want)
		}
		if runs > 1 {
			stop := 1 + rng.IntN(runs-1)
			n := 0
			for range zi.IterRuns() {
				if n == stop {
					break
				}
				n++
			}
			if n != stop {
				t.Fatalf("ZipIterator.IterRuns %s: stopped after %d runs, want %d", what, n, stop)
			}
		}
	}
}
