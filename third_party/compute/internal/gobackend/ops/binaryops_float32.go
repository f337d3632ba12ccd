// Copyright 2023-2026 The GoMLX Authors. SPDX-License-Identifier: Apache-2.0

package ops

import (
	"github.com/gomlx/compute"
	"github.com/gomlx/compute/internal/gobackend"
	"github.com/gomlx/compute/shapes"
)

// float32BinaryArchExecutors holds the architecture-specific executors of float32 binary ops
// registered on this machine (see binaryops_float32_avx512.go), by op, and
// float32BinaryArchKernels their kernels (see float32Binary); empty where there are none.
var (
	float32BinaryArchExecutors map[compute.OpType]gobackend.NodeExecutor
	float32BinaryArchKernels   map[compute.OpType]func(out, lhs, rhs []float32)
)

// float32BinaryMinRun is the shortest innermost broadcast run float32Binary gives its kernel:
// below one vector the generated run-wise loops are faster than a kernel call per run.
const float32BinaryMinRun = 16

// float32Binary computes out = lhs op rhs with kernel (see addFloat32AVX512) over each
// contiguous stretch: the whole output when an operand is a scalar (isScalarOr1) or the shapes
// are equal, else each run of the innermost merged broadcast axis; when those runs are shorter
// than float32BinaryMinRun it calls generic (the generated kernel of the op) instead.
func float32Binary(kernel func(out, lhs, rhs []float32), generic func(lhs, rhs, out []float32, lhsShape, rhsShape, outShape shapes.Shape),
	lhs, rhs, out []float32, lhsShape, rhsShape, outShape shapes.Shape, isScalarOr1 bool) {
	if isScalarOr1 || lhsShape.Equal(rhsShape) {
		kernel(out, lhs, rhs)
		return
	}
	short := false
	for run := range gobackend.NewZippedBroadcastIterator(lhsShape, rhsShape, outShape).IterRuns() {
		if run.Len < float32BinaryMinRun {
			short = true // The same length for every run.
			break
		}
		lLen, rLen := 1, 1
		if run.LHSStep != 0 {
			lLen = run.Len
		}
		if run.RHSStep != 0 {
			rLen = run.Len
		}
		kernel(out[run.TgtFlatIdx:run.TgtFlatIdx+run.Len], lhs[run.LHSFlatIdx:run.LHSFlatIdx+lLen], rhs[run.RHSFlatIdx:run.RHSFlatIdx+rLen])
	}
	if short {
		generic(lhs, rhs, out, lhsShape, rhsShape, outShape)
	}
}
