// Copyright 2023-2026 The GoMLX Authors. SPDX-License-Identifier: Apache-2.0

//go:build amd64 && goexperiment.simd

package ops

import (
	"simd/archsimd"

	"github.com/gomlx/compute"
	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/internal/gobackend"
	"github.com/gomlx/compute/shapes"
)

// Float32 Add, Sub, Mul and Div with AVX512: 16 lanes per instruction over each contiguous
// stretch (equal shapes, a scalar operand, or a run of the innermost merged broadcast axis, see
// ZipIterator.IterRuns) where the generated kernels compute one element per iteration. IEEE
// addition, subtraction, multiplication and division round each lane exactly as the scalar
// instructions do, so the results are the generated kernels' bits. Other dtypes go to the
// generated executors.

func init() {
	if !archsimd.X86.AVX512() {
		return
	}
	float32BinaryArchKernels = map[compute.OpType]func(out, lhs, rhs []float32){
		compute.OpTypeAdd: addFloat32AVX512,
		compute.OpTypeSub: subFloat32AVX512,
		compute.OpTypeMul: mulFloat32AVX512,
		compute.OpTypeDiv: divFloat32AVX512,
	}
	float32BinaryArchExecutors = map[compute.OpType]gobackend.NodeExecutor{
		compute.OpTypeAdd: float32BinaryExecutor(addFloat32AVX512, execAddNumericGeneric[float32], execAdd),
		compute.OpTypeSub: float32BinaryExecutor(subFloat32AVX512, execSubNumericGeneric[float32], execSub),
		compute.OpTypeMul: float32BinaryExecutor(mulFloat32AVX512, execMulNumericGeneric[float32], execMul),
		compute.OpTypeDiv: float32BinaryExecutor(divFloat32AVX512, execDivNumericGeneric[float32], execDiv),
	}
	for opType, executor := range float32BinaryArchExecutors {
		gobackend.SetNodeExecutor(opType, gobackend.PriorityArch, executor)
	}
}

// float32BinaryExecutor returns the executor of a float32 binary op computed by kernel (see
// addFloat32AVX512), handing other dtypes to generic.
func float32BinaryExecutor(kernel func(out, lhs, rhs []float32), genericKernel func(lhs, rhs, out []float32, lhsShape, rhsShape, outShape shapes.Shape),
	generic gobackend.NodeExecutor) gobackend.NodeExecutor {
	return func(backend *gobackend.Backend, node *gobackend.Node, inputs []*gobackend.Buffer, inputsOwned []bool) (*gobackend.Buffer, error) {
		if inputs[0].RawShape.DType != dtypes.Float32 {
			return generic(backend, node, inputs, inputsOwned)
		}
		lhs, rhs, output, lhsIsScalarOr1, rhsIsScalarOr1 := binaryOperandsAndOutputForExecution(backend, node, inputs, inputsOwned, node.Shape)
		float32Binary(kernel, genericKernel, lhs.Flat.([]float32), rhs.Flat.([]float32), output.Flat.([]float32),
			lhs.RawShape, rhs.RawShape, output.RawShape, lhsIsScalarOr1 || rhsIsScalarOr1)
		return output, nil
	}
}

// addFloat32AVX512 sets out[i] = lhs[i] + rhs[i] for i < len(out), where an operand of length
// 1 (and len(out) > 1) is a scalar used for every i; otherwise operands are as long as out.
func addFloat32AVX512(out, lhs, rhs []float32) {
	// Leave no dirty upper vector state: later SSE code (math.Exp, say) would run ~3x slower.
	defer archsimd.ClearAVXUpperBits()
	n, i := len(out), 0
	switch {
	case len(lhs) == n && len(rhs) == n:
		for ; i+16 <= n; i += 16 {
			archsimd.LoadFloat32x16Slice(lhs[i : i+16]).Add(archsimd.LoadFloat32x16Slice(rhs[i : i+16])).StoreSlice(out[i : i+16])
		}
		lhs, rhs = lhs[:n], rhs[:n]
		if i < n && n >= 16 && &out[0] != &lhs[0] && &out[0] != &rhs[0] {
			// Tail: the last 16 elements, recomputing some (out does not alias an operand).
			i = n - 16
			archsimd.LoadFloat32x16Slice(lhs[i:n]).Add(archsimd.LoadFloat32x16Slice(rhs[i:n])).StoreSlice(out[i:n])
			return
		}
		for ; i < n; i++ {
			out[i] = lhs[i] + rhs[i]
		}
	case len(rhs) == 1:
		c := rhs[0]
		vc := archsimd.BroadcastFloat32x16(c)
		for ; i+16 <= n; i += 16 {
			archsimd.LoadFloat32x16Slice(lhs[i : i+16]).Add(vc).StoreSlice(out[i : i+16])
		}
		lhs = lhs[:n]
		if i < n && n >= 16 && &out[0] != &lhs[0] {
			i = n - 16
			archsimd.LoadFloat32x16Slice(lhs[i:n]).Add(vc).StoreSlice(out[i:n])
			return
		}
		for ; i < n; i++ {
			out[i] = lhs[i] + c
		}
	default:
		c := lhs[0]
		vc := archsimd.BroadcastFloat32x16(c)
		for ; i+16 <= n; i += 16 {
			vc.Add(archsimd.LoadFloat32x16Slice(rhs[i : i+16])).StoreSlice(out[i : i+16])
		}
		rhs = rhs[:n]
		if i < n && n >= 16 && &out[0] != &rhs[0] {
			i = n - 16
			vc.Add(archsimd.LoadFloat32x16Slice(rhs[i:n])).StoreSlice(out[i:n])
			return
		}
		for ; i < n; i++ {
			out[i] = c + rhs[i]
		}
	}
}

// subFloat32AVX512 sets out[i] = lhs[i] - rhs[i] for i < len(out), where an operand of length
// 1 (and len(out) > 1) is a scalar used for every i; otherwise operands are as long as out.
func subFloat32AVX512(out, lhs, rhs []float32) {
	defer archsimd.ClearAVXUpperBits()
	n, i := len(out), 0
	switch {
	case len(lhs) == n && len(rhs) == n:
		for ; i+16 <= n; i += 16 {
			archsimd.LoadFloat32x16Slice(lhs[i : i+16]).Sub(archsimd.LoadFloat32x16Slice(rhs[i : i+16])).StoreSlice(out[i : i+16])
		}
		lhs, rhs = lhs[:n], rhs[:n]
		if i < n && n >= 16 && &out[0] != &lhs[0] && &out[0] != &rhs[0] {
			// Tail: the last 16 elements, recomputing some (out does not alias an operand).
			i = n - 16
			archsimd.LoadFloat32x16Slice(lhs[i:n]).Sub(archsimd.LoadFloat32x16Slice(rhs[i:n])).StoreSlice(out[i:n])
			return
		}
		for ; i < n; i++ {
			out[i] = lhs[i] - rhs[i]
		}
	case len(rhs) == 1:
		c := rhs[0]
		vc := archsimd.BroadcastFloat32x16(c)
		for ; i+16 <= n; i += 16 {
			archsimd.LoadFloat32x16Slice(lhs[i : i+16]).Sub(vc).StoreSlice(out[i : i+16])
		}
		lhs = lhs[:n]
		if i < n && n >= 16 && &out[0] != &lhs[0] {
			i = n - 16
			archsimd.LoadFloat32x16Slice(lhs[i:n]).Sub(vc).StoreSlice(out[i:n])
			return
		}
		for ; i < n; i++ {
			out[i] = lhs[i] - c
		}
	default:
		c := lhs[0]
		vc := archsimd.BroadcastFloat32x16(c)
		for ; i+16 <= n; i += 16 {
			vc.Sub(archsimd.LoadFloat32x16Slice(rhs[i : i+16])).StoreSlice(out[i : i+16])
		}
		rhs = rhs[:n]
		if i < n && n >= 16 && &out[0] != &rhs[0] {
			i = n - 16
			vc.Sub(archsimd.LoadFloat32x16Slice(rhs[i:n])).StoreSlice(out[i:n])
			return
		}
		for ; i < n; i++ {
			out[i] = c - rhs[i]
		}
	}
}

// mulFloat32AVX512 sets out[i] = lhs[i] * rhs[i] for i < len(out), where an operand of length
// 1 (and len(out) > 1) is a scalar used for every i; otherwise operands are as long as out.
func mulFloat32AVX512(out, lhs, rhs []float32) {
	defer archsimd.ClearAVXUpperBits()
	n, i := len(out), 0
	switch {
	case len(lhs) == n && len(rhs) == n:
		for ; i+16 <= n; i += 16 {
			archsimd.LoadFloat32x16Slice(lhs[i : i+16]).Mul(archsimd.LoadFloat32x16Slice(rhs[i : i+16])).StoreSlice(out[i : i+16])
		}
		lhs, rhs = lhs[:n], rhs[:n]
		if i < n && n >= 16 && &out[0] != &lhs[0] && &out[0] != &rhs[0] {
			// Tail: the last 16 elements, recomputing some (out does not alias an operand).
			i = n - 16
			archsimd.LoadFloat32x16Slice(lhs[i:n]).Mul(archsimd.LoadFloat32x16Slice(rhs[i:n])).StoreSlice(out[i:n])
			return
		}
		for ; i < n; i++ {
			out[i] = lhs[i] * rhs[i]
		}
	case len(rhs) == 1:
		c := rhs[0]
		vc := archsimd.BroadcastFloat32x16(c)
		for ; i+16 <= n; i += 16 {
			archsimd.LoadFloat32x16Slice(lhs[i : i+16]).Mul(vc).StoreSlice(out[i : i+16])
		}
		lhs = lhs[:n]
		if i < n && n >= 16 && &out[0] != &lhs[0] {
			i = n - 16
			archsimd.LoadFloat32x16Slice(lhs[i:n]).Mul(vc).StoreSlice(out[i:n])
			return
		}
		for ; i < n; i++ {
			out[i] = lhs[i] * c
		}
	default:
		c := lhs[0]
		vc := archsimd.BroadcastFloat32x16(c)
		for ; i+16 <= n; i += 16 {
			vc.Mul(archsimd.LoadFloat32x16Slice(rhs[i : i+16])).StoreSlice(out[i : i+16])
		}
		rhs = rhs[:n]
		if i < n && n >= 16 && &out[0] != &rhs[0] {
			i = n - 16
			vc.Mul(archsimd.LoadFloat32x16Slice(rhs[i:n])).StoreSlice(out[i:n])
			return
		}
		for ; i < n; i++ {
			out[i] = c * rhs[i]
		}
	}
}

// divFloat32AVX512 sets out[i] = lhs[i] / rhs[i] for i < len(out), where an operand of length
// 1 (and len(out) > 1) is a scalar used for every i; otherwise operands are as long as out.
func divFloat32AVX512(out, lhs, rhs []float32) {
	defer archsimd.ClearAVXUpperBits()
	n, i := len(out), 0
	switch {
	case len(lhs) == n && len(rhs) == n:
		for ; i+16 <= n; i += 16 {
			archsimd.LoadFloat32x16Slice(lhs[i : i+16]).Div(archsimd.LoadFloat32x16Slice(rhs[i : i+16])).StoreSlice(out[i : i+16])
		}
		lhs, rhs = lhs[:n], rhs[:n]
		if i < n && n >= 16 && &out[0] != &lhs[0] && &out[0] != &rhs[0] {
			// Tail: the last 16 elements, recomputing some (out does not alias an operand).
			i = n - 16
			archsimd.LoadFloat32x16Slice(lhs[i:n]).Div(archsimd.LoadFloat32x16Slice(rhs[i:n])).StoreSlice(out[i:n])
			return
		}
		for ; i < n; i++ {
			out[i] = lhs[i] / rhs[i]
		}
	case len(rhs) == 1:
		c := rhs[0]
		vc := archsimd.BroadcastFloat32x16(c)
		for ; i+16 <= n; i += 16 {
			archsimd.LoadFloat32x16Slice(lhs[i : i+16]).Div(vc).StoreSlice(out[i : i+16])
		}
		lhs = lhs[:n]
		if i < n && n >= 16 && &out[0] != &lhs[0] {
			i = n - 16
			archsimd.LoadFloat32x16Slice(lhs[i:n]).Div(vc).StoreSlice(out[i:n])
			return
		}
		for ; i < n; i++ {
			out[i] = lhs[i] / c
		}
	default:
		c := lhs[0]
		vc := archsimd.BroadcastFloat32x16(c)
		for ; i+16 <= n; i += 16 {
			vc.Div(archsimd.LoadFloat32x16Slice(rhs[i : i+16])).StoreSlice(out[i : i+16])
		}
		rhs = rhs[:n]
		if i < n && n >= 16 && &out[0] != &rhs[0] {
			i = n - 16
			vc.Div(archsimd.LoadFloat32x16Slice(rhs[i:n])).StoreSlice(out[i:n])
			return
		}
		for ; i < n; i++ {
			out[i] = c / rhs[i]
		}
	}
}
