package gobackend

import (
	"iter"
	"slices"

	"github.com/gomlx/compute/internal/exceptions"
	"github.com/gomlx/compute/shapes"
)

// BroadcastIterator allows iteration over the flat indices of the target shape of a broadcast (where some axis
// dimensions grow)
//
// It is used by implicit broadcasting in binary ops and by the BroadcastInDim.
type BroadcastIterator struct {
	tgtSize     int
	srcStrides  []int
	isBroadcast []bool
	tgtDims     []int
}

// NewBroadcastIterator returns an iterator contructor over the flat indices of the target shape of a broadcast (where
// some axis dimensions grow).
//
// Pre-requisite: srcShape.Rank() == tgtShape.Rank().
//
// It is used by implicit broadcasting in binary ops and by the BroadcastInDim.
func NewBroadcastIterator(srcShape, tgtShape shapes.Shape) *BroadcastIterator {
	rank := srcShape.Rank()
	if rank != tgtShape.Rank() {
		exceptions.Panicf("broadcastIterator: rank mismatch srcShape=%s, tgtShape=%s", srcShape, tgtShape)
	}
	bi := &BroadcastIterator{
		tgtSize:     tgtShape.Size(),
		tgtDims:     slices.Clone(tgtShape.Dimensions),
		isBroadcast: make([]bool, rank),
		srcStrides:  srcShape.Strides(),
	}
	for axis := range rank {
		bi.isBroadcast[axis] = srcShape.Dimensions[axis] != tgtShape.Dimensions[axis]
	}
	return bi
}

// IterFlatIndices iterate over the source and target flat indices for broadcast.
// Notice since we are broadcasting, the target index will always be incremented by 1,
// while the source index may repeat (when it is being broadcast).
//
// The innermost (merged) axis is a tight loop: see mergeBroadcastAxes.
func (bi *BroadcastIterator) IterFlatIndices() iter.Seq2[int, int] {
	return func(yield func(srcIdx, tgtIdx int) bool) {
		if bi.tgtSize == 0 {
			return
		}
		m := mergeBroadcastAxes(bi.tgtDims, bi.isBroadcast, nil)
		inner, innerStep := m.dims[m.rank-1], m.lhsStrides[m.rank-1]
		idx := make([]int, m.rank-1)
		srcBase, dstFlatIdx := 0, 0
		for {
			srcFlatIdx := srcBase
			for range inner {
				if !yield(srcFlatIdx, dstFlatIdx) {
					return
				}
				srcFlatIdx += innerStep
				dstFlatIdx++
			}
			axis := m.rank - 2
			for ; axis >= 0; axis-- {
				idx[axis]++
				srcBase += m.lhsStrides[axis]
				if idx[axis] < m.dims[axis] {
					break
				}
				srcBase -= m.lhsStrides[axis] * m.dims[axis]
				idx[axis] = 0
			}
			if axis < 0 {
				return
			}
		}
	}
}

// mergedBroadcastAxes describes a broadcast walk over the target shape with the target's size-1
// axes dropped and adjacent axes merged when each source is broadcast on both or on neither:
// merged dimensions and, per merged axis, each source's flat stride (0 where it is broadcast).
// rank is at least 1 (a single axis of size 1 when the target has one element).
type mergedBroadcastAxes struct {
	rank                   int
	dims                   []int
	lhsStrides, rhsStrides []int
}

// mergeBroadcastAxes merges the axes of a walk over tgtDims for one source (rhsIsBroadcast nil)
// or two. A source's dimension is the target's where it is not broadcast, 1 where it is.
func mergeBroadcastAxes(tgtDims []int, lhsIsBroadcast, rhsIsBroadcast []bool) mergedBroadcastAxes {
	var m mergedBroadcastAxes
	var lhsB, rhsB []bool
	for axis, dim := range tgtDims {
		if dim == 1 {
			continue
		}
		l, r := lhsIsBroadcast[axis], rhsIsBroadcast != nil && rhsIsBroadcast[axis]
		if n := len(m.dims); n > 0 && lhsB[n-1] == l && rhsB[n-1] == r {
			m.dims[n-1] *= dim
			continue
		}
		m.dims = append(m.dims, dim)
		lhsB = append(lhsB, l)
		rhsB = append(rhsB, r)
	}
	if len(m.dims) == 0 {
		m.dims, lhsB, rhsB = []int{1}, []bool{false}, []bool{false}
	}
	m.rank = len(m.dims)
	m.lhsStrides, m.rhsStrides = make([]int, m.rank), make([]int, m.rank)
	lhsStride, rhsStride := 1, 1
	for axis := m.rank - 1; axis >= 0; axis-- {
		if !lhsB[axis] {
			m.lhsStrides[axis] = lhsStride
			lhsStride *= m.dims[axis]
		}
		if !rhsB[axis] {
			m.rhsStrides[axis] = rhsStride
			rhsStride *= m.dims[axis]
		}
	}
	return m
}

// ZippedIndices of two BroadcastIterators.
type ZippedIndices struct {
	LHSFlatIdx, RHSFlatIdx int
	TgtFlatIdx             int
}

// ZipIterator allows iteration over the flat indices of the target shape of a broadcast (where some axis
// dimensions grow) for two input shapes (LHS and RHS).
//
// It implements the implicit broadcasting for binary ops like Add, Sub, Mul, Div, etc.
type ZipIterator struct {
	tgtSize        int
	tgtDims        []int
	lhsStrides     []int
	rhsStrides     []int
	lhsIsBroadcast []bool
	rhsIsBroadcast []bool
}

// NewZippedBroadcastIterator returns an iterator constructor over the flat indices of the target shape of a broadcast (where
// some axis dimensions grow) for two input shapes (LHS and RHS).
//
// Pre-requisite: lhsShape.Rank() == tgtShape.Rank() && rhsShape.Rank() == tgtShape.Rank().
//
// It implements the implicit broadcasting for binary ops like Add, Sub, Mul, Div, etc.
func NewZippedBroadcastIterator(lhsShape, rhsShape, tgtShape shapes.Shape) *ZipIterator {
	rank := tgtShape.Rank()
	if lhsShape.Rank() != rank || rhsShape.Rank() != rank {
		exceptions.Panicf("zippedBroadcastIterator: rank mismatch lhsShape=%s, rhsShape=%s, tgtShape=%s", lhsShape, rhsShape, tgtShape)
	}

	zi := &ZipIterator{
		tgtSize:        tgtShape.Size(),
		tgtDims:        slices.Clone(tgtShape.Dimensions),
		lhsStrides:     lhsShape.Strides(),
		rhsStrides:     rhsShape.Strides(),
		lhsIsBroadcast: make([]bool, rank),
		rhsIsBroadcast: make([]bool, rank),
	}
	for axis := range rank {
		zi.lhsIsBroadcast[axis] = lhsShape.Dimensions[axis] != tgtShape.Dimensions[axis]
		zi.rhsIsBroadcast[axis] = rhsShape.Dimensions[axis] != tgtShape.Dimensions[axis]
	}
	return zi
}

// EqualNodeData implements NodeDataComparable, so this can be used as NodeData -- the comparison
// is used for deduping repeated nodes during model building.
func (z *ZipIterator) EqualNodeData(other NodeDataComparable) bool {
	if z == nil && other == nil {
		return true
	}
	if z == nil || other == nil {
		return false
	}
	otherZ, ok := other.(*ZipIterator)
	if !ok {
		return false
	}
	return z.tgtSize == otherZ.tgtSize &&
		slices.Equal(z.tgtDims, otherZ.tgtDims) &&
		slices.Equal(z.lhsStrides, otherZ.lhsStrides) &&
		slices.Equal(z.rhsStrides, otherZ.rhsStrides) &&
		slices.Equal(z.lhsIsBroadcast, otherZ.lhsIsBroadcast) &&
		slices.Equal(z.rhsIsBroadcast, otherZ.rhsIsBroadcast)
}

// IterFlatIndices iterate over the lhs, rhs and target flat indices for broadcast.
// Notice since we are broadcasting, the target index will always be incremented by 1,
// while the source indices may repeat (when it is being broadcast).
//
// The innermost (merged) axis is a tight loop: see mergeBroadcastAxes.
func (zi *ZipIterator) IterFlatIndices() iter.Seq[ZippedIndices] {
	return func(yield func(ZippedIndices) bool) {
		if zi.tgtSize == 0 {
			return
		}
		m := mergeBroadcastAxes(zi.tgtDims, zi.lhsIsBroadcast, zi.rhsIsBroadcast)
		inner := m.dims[m.rank-1]
		lhsStep, rhsStep := m.lhsStrides[m.rank-1], m.rhsStrides[m.rank-1]
		idx := make([]int, m.rank-1)
		lhsBase, rhsBase, dstFlatIdx := 0, 0, 0
		for {
			lhsFlatIdx, rhsFlatIdx := lhsBase, rhsBase
			for range inner {
				if !yield(ZippedIndices{LHSFlatIdx: lhsFlatIdx, RHSFlatIdx: rhsFlatIdx, TgtFlatIdx: dstFlatIdx}) {
					return
				}
				lhsFlatIdx += lhsStep
				rhsFlatIdx += rhsStep
				dstFlatIdx++
			}
			axis := m.rank - 2
			for ; axis >= 0; axis-- {
				idx[axis]++
				lhsBase += m.lhsStrides[axis]
				rhsBase += m.rhsStrides[axis]
				if idx[axis] < m.dims[axis] {
					break
				}
				lhsBase -= m.lhsStrides[axis] * m.dims[axis]
				rhsBase -= m.rhsStrides[axis] * m.dims[axis]
				idx[axis] = 0
			}
			if axis < 0 {
				return
			}
		}
	}
}

// BroadcastRun is one innermost run of a ZipIterator walk: Len consecutive target elements from
// TgtFlatIdx. Each source either advances with the target over the run (step 1: its elements are
// contiguous from its flat index) or repeats the element at its flat index (step 0: broadcast
// over the run).
type BroadcastRun struct {
	LHSFlatIdx, RHSFlatIdx, TgtFlatIdx int
	LHSStep, RHSStep                   int
	Len                                int
}

// IterRuns iterates over the runs of the innermost merged axis of the broadcast walk (see
// mergeBroadcastAxes), in target order: expanding each run element by element gives exactly the
// sequence of IterFlatIndices. A binary op can compute a run as one tight loop over slices (both
// sources contiguous, or one of them a scalar over the run) instead of one iteration per element.
func (zi *ZipIterator) IterRuns() iter.Seq[BroadcastRun] {
	return func(yield func(BroadcastRun) bool) {
		if zi.tgtSize == 0 {
			return
		}
		m := mergeBroadcastAxes(zi.tgtDims, zi.lhsIsBroadcast, zi.rhsIsBroadcast)
		run := BroadcastRun{Len: m.dims[m.rank-1], LHSStep: m.lhsStrides[m.rank-1], RHSStep: m.rhsStrides[m.rank-1]}
		if m.rank == 1 {
			yield(run)
			return
		}
		idx := make([]int, m.rank-1)
		for {
			if !yield(run) {
				return
			}
			run.TgtFlatIdx += run.Len
			axis := m.rank - 2
			for ; axis >= 0; axis-- {
				idx[axis]++
				run.LHSFlatIdx += m.lhsStrides[axis]
				run.RHSFlatIdx += m.rhsStrides[axis]
				if idx[axis] < m.dims[axis] {
					break
				}
				run.LHSFlatIdx -= m.lhsStrides[axis] * m.dims[axis]
				run.RHSFlatIdx -= m.rhsStrides[axis] * m.dims[axis]
				idx[axis] = 0
			}
			if axis < 0 {
				return
			}
		}
	}
}
