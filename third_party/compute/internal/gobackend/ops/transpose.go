// Copyright 2023-2026 The GoMLX Authors. SPDX-License-Identifier: Apache-2.0

package ops

import (
	"slices"

	"github.com/gomlx/compute"
	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/dtypes/bfloat16"
	"github.com/gomlx/compute/dtypes/float16"
	"github.com/gomlx/compute/internal/gobackend"
	"github.com/gomlx/compute/shapeinference"
	"github.com/gomlx/compute/shapes"
)

func init() {
	gobackend.RegisterTranspose.Register(Transpose, gobackend.PriorityGeneric)
	gobackend.SetNodeExecutor(compute.OpTypeTranspose, gobackend.PriorityGeneric, execTranspose)
}

// Transpose axes of x.
// There must be one value in permutations for each axis in the operand.
// The output will have: output.Shape.Dimension[ii] = operand.Shape.Dimension[permutations[i]].
func Transpose(f *gobackend.Function, operandValue compute.Value, permutations ...int) (compute.Value, error) {
	opType := compute.OpTypeTranspose
	inputs, err := f.VerifyAndCastValues(opType.String(), operandValue)
	if err != nil {
		return nil, err
	}
	operand := inputs[0]

	outputShape, err := shapeinference.Transpose(operand.Shape, permutations)
	if err != nil {
		// This should have been validated during graph build, but we check again just in case.
		return nil, err
	}
	node, _ := f.GetOrCreateNode(opType, outputShape, inputs, permutations)
	return node, nil
}

// TransposeDTypeMap is used to dispatch Transpose to type-specific implementations.
// gobackend:dtypemap execTransposeGeneric ints,uints,floats,half,bool
var TransposeDTypeMap = gobackend.NewDTypeMap("Transpose")

func init() {
	TransposeDTypeMap.Register(dtypes.Float16, gobackend.PriorityTyped, execTransposeFloat16)
	TransposeDTypeMap.Register(dtypes.BFloat16, gobackend.PriorityTyped, execTransposeBFloat16)
}

// execTranspose implements Transpose.
// The output will have: output.Shape.Dimension[ii] = operand.Shape.Dimension[permutations[i]].
func execTranspose(backend *gobackend.Backend, node *gobackend.Node, inputs []*gobackend.Buffer, inputsOwned []bool) (*gobackend.Buffer, error) {
	operand := inputs[0]
	permutations := node.Data.([]int)
	_ = inputsOwned // We don't reuse the inputs.

	// We can't write to the same buffer we read from because it's not done with swaps.
	output, err := backend.GetBuffer(node.Shape)
	if err != nil {
		return nil, err
	}
	it := NewTransposeIterator(operand.RawShape, permutations)
	dtype := node.Shape.DType
	tmpAny, tmpErr := TransposeDTypeMap.Get(dtype)
	if tmpErr != nil {
		panic(tmpErr)
	}
	transposeFn := tmpAny.(func(operand, output *gobackend.Buffer, it *TransposeIterator))
	transposeFn(operand, output, it)
	return output, nil
}

// TransposeIterator creates a dynamic iterator that yields output flat indices
// for the corresponding flat index on the input operand, assuming the operand flat index is moving
// incrementally.
type TransposeIterator struct {
	flatIdx                                int
	perAxisIdx, perAxisStrides, dimensions []int
}

// NewTransposeIterator creates a dynamic iterator that yields output flat indices
// for the corresponding flat index on the input operand, assuming the operand flat index is moving
// incrementally.
func NewTransposeIterator(operand shapes.Shape, permutations []int) *TransposeIterator {
	rank := operand.Rank()

	it := &TransposeIterator{
		perAxisIdx:     make([]int, rank),
		perAxisStrides: make([]int, rank),
		dimensions:     slices.Clone(operand.Dimensions),
	}

	// First, calculate strides on the output.
	stridesOnOutput := make([]int, rank)
	stride := 1
	reversePermutations := make([]int, rank)
	for outputAxis := rank - 1; outputAxis >= 0; outputAxis-- {
		stridesOnOutput[outputAxis] = stride
		operandAxis := permutations[outputAxis]
		stride *= operand.Dimensions[operandAxis]
		reversePermutations[operandAxis] = outputAxis
	}

	// Calculate per operand axis, what is the stride on the output.
	for operandAxis := range rank {
		outputAxis := reversePermutations[operandAxis]
		it.perAxisStrides[operandAxis] = stridesOnOutput[outputAxis]
	}
	return it
}

// Next returns the next flat index in the output.
func (it *TransposeIterator) Next() int {
	// Store current flatIdx first
	nextFlatIdx := it.flatIdx

	// Cache rank to avoid repeated len() calls
	rank := len(it.perAxisIdx)

	// Use local variables for array access to avoid repeated indirection
	perAxisIdx := it.perAxisIdx
	perAxisStrides := it.perAxisStrides
	dimensions := it.dimensions

	// Handle remaining axes only when needed
	for axis := rank - 1; axis >= 0; axis-- {
		perAxisIdx[axis]++
		it.flatIdx += perAxisStrides[axis]
		if perAxisIdx[axis] < dimensions[axis] {
			// We are done.
			return nextFlatIdx
		}
		perAxisIdx[axis] = 0
		it.flatIdx -= perAxisStrides[axis] * dimensions[axis]
	}

	return nextFlatIdx
}

// execTransposeGeneric moves whole runs and tiles instead of single elements. Size-1 axes are
// dropped, and operand axes that stay adjacent and in order in the output are merged. If the
// innermost axis stays innermost, each of its runs is one copy(); otherwise the plane of the
// operand's innermost axis and the output's innermost axis is transposed in tiles, so that
// both the reads and the writes of a tile stay in cache. The other axes are walked with an
// odometer. The TransposeIterator gives the operand dimensions and, per operand axis, its
// stride in the output.
//
// transposeZipMaxRows: when the output's innermost axis has at most this many elements and the
// operand's innermost axis sits right outside it, the plane is zipped instead of tiled, and
// unzipped in the reverse case (0 disables both).
var transposeZipMaxRows = 4

func execTransposeGeneric[T gobackend.SupportedTypesConstraints](operand, output *gobackend.Buffer, it *TransposeIterator) {
	operandFlat := operand.Flat.([]T)
	outputFlat := output.Flat.([]T)
	size := len(operandFlat)
	if size == 0 {
		return
	}
	if size == 1 {
		outputFlat[0] = operandFlat[0]
		return
	}

	// Axes of size > 1 with their operand and output strides, adjacent in-order axes merged.
	var dims, inStrides, outStrides []int
	inStride := size
	for axis, dim := range it.dimensions {
		inStride /= dim
		if dim == 1 {
			continue
		}
		if n := len(dims); n > 0 && outStrides[n-1] == it.perAxisStrides[axis]*dim {
			dims[n-1] *= dim
			inStrides[n-1], outStrides[n-1] = inStride, it.perAxisStrides[axis]
			continue
		}
		dims = append(dims, dim)
		inStrides = append(inStrides, inStride)
		outStrides = append(outStrides, it.perAxisStrides[axis])
	}
	rank := len(dims)
	if rank == 1 {
		copy(outputFlat[:size], operandFlat)
		return
	}
	innerIn := rank - 1 // The operand's innermost axis (operand stride 1).
	innerOut := innerIn // The output's innermost axis (output stride 1).
	for axis, stride := range outStrides {
		if stride == 1 {
			innerOut = axis
		}
	}

	// The axes walked by the odometer: all but innerIn and innerOut.
	var walkDims, walkIn, walkOut []int
	for axis := range rank {
		if axis != innerIn && axis != innerOut {
			walkDims = append(walkDims, dims[axis])
			walkIn = append(walkIn, inStrides[axis])
			walkOut = append(walkOut, outStrides[axis])
		}
	}
	idx := make([]int, len(walkDims))
	inIdx, outIdx := 0, 0
	next := func() bool {
		for axis := len(idx) - 1; axis >= 0; axis-- {
			idx[axis]++
			inIdx += walkIn[axis]
			outIdx += walkOut[axis]
			if idx[axis] < walkDims[axis] {
				return true
			}
			inIdx -= walkIn[axis] * walkDims[axis]
			outIdx -= walkOut[axis] * walkDims[axis]
			idx[axis] = 0
		}
		return false
	}

	if innerOut == innerIn {
		// The innermost axis stays innermost: copy its runs.
		run := dims[innerIn]
		for {
			copy(outputFlat[outIdx:outIdx+run], operandFlat[inIdx:inIdx+run])
			if !next() {
				return
			}
		}
	}

	// Transpose the (innerOut, innerIn) plane in tiles: rows along innerOut (contiguous in the
	// output), columns along innerIn (contiguous in the operand).
	const rowTile, colTile = 8, 32 // Few rows: operand rows often lie a power of two apart.
	rows, cols := dims[innerOut], dims[innerIn]
	rowInStride := inStrides[innerOut]  // Operand stride of a step along innerOut.
	colOutStride := outStrides[innerIn] // Output stride of a step along innerIn.
	if rows <= transposeZipMaxRows && colOutStride == rows {
		// An interleave: the output's innermost axis is short and the operand's innermost axis
		// comes right outside it, so each output run of rows*cols elements zips rows operand
		// runs (e.g. the phases of a 2x upsampling, [2, ..., W] -> [..., W, 2]). Tiles of a
		// few rows would do one short inner loop per column.
		for {
			dst := outputFlat[outIdx : outIdx+rows*cols]
			for r := range rows {
				src := operandFlat[inIdx+r*rowInStride : inIdx+r*rowInStride+cols]
				for c, v := range src {
					dst[c*rows+r] = v
				}
			}
			if !next() {
				return
			}
		}
	}
	if cols <= transposeZipMaxRows && rowInStride == cols {
		// The reverse, an unzip: the operand's innermost axis is short and the output's
		// innermost axis comes right outside it in the operand.
		for {
			src := operandFlat[inIdx : inIdx+rows*cols]
			for c := range cols {
				dst := outputFlat[outIdx+c*colOutStride : outIdx+c*colOutStride+rows]
				for r := range dst {
					dst[r] = src[r*cols+c]
				}
			}
			if !next() {
				return
			}
		}
	}
	for {
		for col0 := 0; col0 < cols; col0 += colTile {
			col1 := min(col0+colTile, cols)
			for row0 := 0; row0 < rows; row0 += rowTile {
				row1 := min(row0+rowTile, rows)
				for col := col0; col < col1; col++ {
					out := outputFlat[outIdx+col*colOutStride+row0 : outIdx+col*colOutStride+row1]
					in := inIdx + row0*rowInStride + col
					for i := range out {
						out[i] = operandFlat[in]
						in += rowInStride
					}
				}
			}
		}
		if !next() {
			return
		}
	}
}

func execTransposeFloat16(operand, output *gobackend.Buffer, it *TransposeIterator) {
	execTransposeGeneric[float16.Float16](operand, output, it)
}

func execTransposeBFloat16(operand, output *gobackend.Buffer, it *TransposeIterator) {
	execTransposeGeneric[bfloat16.BFloat16](operand, output, it)
}
