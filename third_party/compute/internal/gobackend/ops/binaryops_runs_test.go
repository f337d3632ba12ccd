// Copyright 2023-2026 The GoMLX Authors. SPDX-License-Identifier: Apache-2.0

package ops

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/gomlx/compute"
	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/dtypes/bfloat16"
	"github.com/gomlx/compute/dtypes/float16"
	"github.com/gomlx/compute/internal/gobackend"
	"github.com/gomlx/compute/shapes"
)

// binaryExec is a binary op's node executor.
type binaryExec func(*gobackend.Backend, *gobackend.Node, []*gobackend.Buffer, []bool) (*gobackend.Buffer, error)

// binaryOpsUnderTest lists every generated binary op with the dtypes it accepts.
func binaryOpsUnderTest() []struct {
	opType compute.OpType
	exec   binaryExec
	dtypes []dtypes.DType
} {
	numeric := []dtypes.DType{dtypes.Float32, dtypes.Float64, dtypes.Int8, dtypes.Uint16, dtypes.Int32, dtypes.Int64, dtypes.BFloat16, dtypes.Float16}
	integer := []dtypes.DType{dtypes.Uint8, dtypes.Int16, dtypes.Uint32, dtypes.Int64}
	float := []dtypes.DType{dtypes.Float32, dtypes.Float64, dtypes.BFloat16, dtypes.Float16}
	boolean := []dtypes.DType{dtypes.Bool}
	return []struct {
		opType compute.OpType
		exec   binaryExec
		dtypes []dtypes.DType
	}{
		{compute.OpTypeAdd, execAdd, numeric}, {compute.OpTypeMul, execMul, numeric},
		{compute.OpTypeSub, execSub, numeric}, {compute.OpTypeDiv, execDiv, numeric},
		{compute.OpTypeRem, execRem, append(integer, float...)}, {compute.OpTypePow, execPow, append(integer, float...)},
		{compute.OpTypeAtan2, execAtan2, float},
		{compute.OpTypeMax, execMax, numeric}, {compute.OpTypeMin, execMin, numeric},
		{compute.OpTypeBitwiseAnd, execBitwiseAnd, integer}, {compute.OpTypeBitwiseOr, execBitwiseOr, integer},
		{compute.OpTypeBitwiseXor, execBitwiseXor, integer},
		{compute.OpTypeLogicalAnd, execLogicalAnd, boolean}, {compute.OpTypeLogicalOr, execLogicalOr, boolean},
		{compute.OpTypeLogicalXor, execLogicalXor, boolean},
		{compute.OpTypeEqual, execEqual, numeric}, {compute.OpTypeNotEqual, execNotEqual, numeric},
		{compute.OpTypeGreaterOrEqual, execGreaterOrEqual, numeric}, {compute.OpTypeGreaterThan, execGreaterThan, numeric},
		{compute.OpTypeLessOrEqual, execLessOrEqual, numeric}, {compute.OpTypeLessThan, execLessThan, numeric},
	}
}

// isComparisonOp reports whether a binary op's output is Bool.
func isComparisonOp(opType compute.OpType) bool {
	switch opType { //nolint:exhaustive
	case compute.OpTypeEqual, compute.OpTypeNotEqual, compute.OpTypeGreaterOrEqual, compute.OpTypeGreaterThan,
		compute.OpTypeLessOrEqual, compute.OpTypeLessThan:
		return true
	}
	return false
}

// fillBinaryOperand fills buf with values that exercise the op without integer division by zero:
// small integers (rhs never 0, so Div and Rem are defined; occasionally the type's extremes),
// floats from a small set (repeats make Equal and Max/Min ties) plus ±0, ±Inf and NaN, random
// booleans.
func fillBinaryOperand(rng *rand.Rand, buf *gobackend.Buffer, isRHS bool) {
	floatValue := func() float64 {
		switch rng.IntN(16) {
		case 0:
			return math.Inf(1 - 2*rng.IntN(2))
		case 1:
			return math.NaN()
		case 2:
			return math.Copysign(0, float64(1-2*rng.IntN(2)))
		default:
			return float64(rng.IntN(9)-4) * 0.75
		}
	}
	intValue := func() int64 {
		v := int64(rng.IntN(9) - 4)
		if isRHS && v == 0 {
			v = 3
		}
		return v
	}
	uintValue := func() uint64 {
		v := uint64(rng.IntN(9))
		if isRHS && v == 0 {
			v = 3
		}
		return v
	}
	switch flat := buf.Flat.(type) {
	case []float32:
		for i := range flat {
			flat[i] = float32(floatValue())
		}
	case []float64:
		for i := range flat {
			flat[i] = floatValue()
		}
	case []bfloat16.BFloat16:
		for i := range flat {
			flat[i] = bfloat16.FromFloat32(float32(floatValue()))
		}
	case []float16.Float16:
		for i := range flat {
			flat[i] = float16.FromFloat32(float32(floatValue()))
		}
	case []bool:
		for i := range flat {
			flat[i] = rng.IntN(2) == 0
		}
	case []int8:
		for i := range flat {
			flat[i] = int8(intValue())
		}
	case []int16:
		for i := range flat {
			flat[i] = int16(intValue())
		}
	case []int32:
		for i := range flat {
			flat[i] = int32(intValue())
		}
	case []int64:
		for i := range flat {
			flat[i] = intValue()
			if !isRHS && rng.IntN(20) == 0 {
				flat[i] = math.MinInt64
			}
		}
	case []uint8:
		for i := range flat {
			flat[i] = uint8(uintValue())
		}
	case []uint16:
		for i := range flat {
			flat[i] = uint16(uintValue())
		}
	case []uint32:
		for i := range flat {
			flat[i] = uint32(uintValue())
			if !isRHS && rng.IntN(20) == 0 {
				flat[i] = math.MaxUint32
			}
		}
	default:
		panic(fmt.Sprintf("fillBinaryOperand: %T", flat))
	}
}

// expandBroadcast returns operand broadcast to the dimensions tgtDims, element by element (an
// odometer over the target, each operand axis of size 1 repeated): the plain iterator walk.
func expandBroadcast(tb testing.TB, operand *gobackend.Buffer, tgtDims []int) *gobackend.Buffer {
	tb.Helper()
	tgt := shapes.Make(operand.RawShape.DType, tgtDims...)
	sources := make([]int64, 0, tgt.Size())
	strides := operand.RawShape.Strides()
	idx := make([]int, len(tgtDims))
	for range tgt.Size() {
		src := 0
		for axis, i := range idx {
			if operand.RawShape.Dimensions[axis] != 1 {
				src += i * strides[axis]
			}
		}
		sources = append(sources, int64(src))
		for axis := len(idx) - 1; axis >= 0; axis-- {
			idx[axis]++
			if idx[axis] < tgtDims[axis] {
				break
			}
			idx[axis] = 0
		}
	}
	out := emptyBuffer(tb, tgt)
	raw, _ := out.MutableBytes()
	copy(raw, gatherBytes(tb, operand, sources))
	return out
}

// sameBinaryOutput reports whether two binary op outputs are equal bit for bit, except that any
// NaN equals any NaN (which NaN an operation on two NaNs returns is up to the instruction the
// compiler picked for a commutative op).
func sameBinaryOutput(got, want *gobackend.Buffer) (int, bool) {
	switch g := got.Flat.(type) {
	case []float32:
		w := want.Flat.([]float32)
		for i := range g {
			if math.Float32bits(g[i]) != math.Float32bits(w[i]) && !(g[i] != g[i] && w[i] != w[i]) {
				return i, false
			}
		}
		return 0, true
	case []float64:
		w := want.Flat.([]float64)
		for i := range g {
			if math.Float64bits(g[i]) != math.Float64bits(w[i]) && !(math.IsNaN(g[i]) && math.IsNaN(w[i])) {
				return i, false
			}
		}
		return 0, true
	case []bfloat16.BFloat16:
		w := want.Flat.([]bfloat16.BFloat16)
		for i := range g {
			a, b := g[i].Float32(), w[i].Float32()
			if g[i] != w[i] && !(a != a && b != b) {
				return i, false
			}
		}
		return 0, true
	case []float16.Float16:
		w := want.Flat.([]float16.Float16)
		for i := range g {
			a, b := g[i].Float32(), w[i].Float32()
			if g[i] != w[i] && !(a != a && b != b) {
				return i, false
			}
		}
		return 0, true
	}
	gRaw, _ := got.MutableBytes()
	wRaw, _ := want.MutableBytes()
	size := got.RawShape.DType.Size()
	for i := 0; i < len(gRaw); i += size {
		for j := i; j < i+size; j++ {
			if gRaw[j] != wRaw[j] {
				return i / size, false
			}
		}
	}
	return 0, true
}

// TestBinaryOpsRuns checks every generated binary op with implicit broadcasting (the run-wise
// kernels: both sides contiguous over the innermost merged axis, one side a scalar over it, or
// both) against the same op on operands first broadcast element by element to the output shape
// (the plain same-shape loop): 250 random shape pairs of rank 0-5 with broadcast, size-1 and
// empty axes, every dtype each op accepts, bit for bit (NaNs as NaN).
func TestBinaryOpsRuns(t *testing.T) {
	rng := rand.New(rand.NewPCG(50, 1))
	ops := binaryOpsUnderTest()
	for range 250 {
		rank := rng.IntN(6)
		tgtDims, lhsDims, rhsDims := randomDims(rng, rank, 6), make([]int, rank), make([]int, rank)
		for axis, dim := range tgtDims {
			lhsDims[axis], rhsDims[axis] = dim, dim
			switch rng.IntN(4) {
			case 0:
				lhsDims[axis] = 1
			case 1:
				rhsDims[axis] = 1
			}
			if dim == 0 {
				lhsDims[axis], rhsDims[axis] = 0, 0
			}
		}
		for _, op := range ops {
			for _, dtype := range op.dtypes {
				what := fmt.Sprintf("%s %s lhs=%v rhs=%v", op.opType, dtype, lhsDims, rhsDims)
				lhs, rhs := emptyBuffer(t, shapes.Make(dtype, lhsDims...)), emptyBuffer(t, shapes.Make(dtype, rhsDims...))
				fillBinaryOperand(rng, lhs, false)
				fillBinaryOperand(rng, rhs, true)
				outShape := shapes.Make(dtype, tgtDims...)
				if isComparisonOp(op.opType) {
					outShape.DType = dtypes.Bool
				}
				node := &gobackend.Node{OpType: op.opType, Shape: outShape}
				got, err := op.exec(testBackend(), node, []*gobackend.Buffer{lhs, rhs}, []bool{false, false})
				if err != nil {
					t.Fatalf("%s: %+v", what, err)
				}
				want, err := op.exec(testBackend(), node, []*gobackend.Buffer{expandBroadcast(t, lhs, tgtDims), expandBroadcast(t, rhs, tgtDims)}, []bool{false, false})
				if err != nil {
					t.Fatalf("%s (expanded): %+v", what, err)
				}
				if i, ok := sameBinaryOutput(got, want); !ok {
					t.Fatalf("%s: output element %d differs from the element-by-element broadcast (got %v, want %v)",
						what, i, got.Flat, want.Flat)
				}
			}
		}
	}
}

// BenchmarkBinaryBroadcast times float32 binary ops with implicit broadcasting, the per-element
// iterator walk (the loop the generated ops ran before the run-wise kernels: one
// ZipIterator.IterFlatIndices step per element) against the generated kernel, on shapes of the
// models that motivated it: the channels-first layer norm of a conv1d front end ([C, batch,
// time] centred by a per-example mean, scaled per channel and example, offset per channel), a
// bias and a per-example scale of a dense layer, an attention softmax's max subtraction over 8
// keys and a 2x2 pooling window (runs of 2: the worst case for run-wise kernels); "/arch" is the
// architecture-specific float32 kernel (AVX512) where there is one, also on equal shapes and with a
// scalar. Besides ns/op it reports the process CPU time per op (cpu-ns/op), steadier on a shared
// machine.
func BenchmarkBinaryBroadcast(b *testing.B) {
	cases := []struct {
		name     string
		op       string
		lhs, rhs []int
	}{
		{"layernorm-center-[16,32,122]-[1,32,1]", "Sub", []int{16, 32, 122}, []int{1, 32, 1}},
		{"layernorm-scale-[16,32,122]*[16,32,1]", "Mul", []int{16, 32, 122}, []int{16, 32, 1}},
		{"layernorm-offset-[32,32,24]+[32,1,1]", "Add", []int{32, 32, 24}, []int{32, 1, 1}},
		{"bias-[2048,128]+[1,128]", "Add", []int{2048, 128}, []int{1, 128}},
		{"per-example-[2048,128]*[2048,1]", "Mul", []int{2048, 128}, []int{2048, 1}},
		{"softmax-max-[32,4,8,8]-[32,4,8,1]", "Sub", []int{32, 4, 8, 8}, []int{32, 4, 8, 1}},
		{"pool-window-[14336,2,14,2]*[14336,1,14,1]", "Mul", []int{14336, 2, 14, 2}, []int{14336, 1, 14, 1}},
		{"same-shape-[16,32,122]*[16,32,122]", "Mul", []int{16, 32, 122}, []int{16, 32, 122}},
		{"scalar-[16,32,122]*[]", "Mul", []int{16, 32, 122}, nil},
	}
	for _, bc := range cases {
		lhsShape, rhsShape := shapes.Make(dtypes.Float32, bc.lhs...), shapes.Make(dtypes.Float32, bc.rhs...)
		lhs, rhs, out := make([]float32, lhsShape.Size()), make([]float32, rhsShape.Size()), make([]float32, lhsShape.Size())
		for i := range lhs {
			lhs[i] = float32(i%7) + 0.5
		}
		for i := range rhs {
			rhs[i] = float32(i%5) + 0.25
		}
		var zi *gobackend.ZipIterator // nil without broadcasting (the generated kernels' loops over whole slices)
		if !lhsShape.Equal(rhsShape) && rhsShape.Size() != 1 {
			zi = gobackend.NewZippedBroadcastIterator(lhsShape, rhsShape, lhsShape)
		}
		b.Run(bc.name+"/iterator", func(b *testing.B) {
			if zi == nil {
				b.Skip("no broadcasting")
			}
			benchLoop(b, func() {
				// The loops range over the iterator directly, as the ops did, so that the
				// iterator and the loop body are inlined as they were there.
				switch bc.op {
				case "Add":
					for indices := range zi.IterFlatIndices() {
						out[indices.TgtFlatIdx] = lhs[indices.LHSFlatIdx] + rhs[indices.RHSFlatIdx]
					}
				case "Sub":
					for indices := range zi.IterFlatIndices() {
						out[indices.TgtFlatIdx] = lhs[indices.LHSFlatIdx] - rhs[indices.RHSFlatIdx]
					}
				case "Mul":
					for indices := range zi.IterFlatIndices() {
						out[indices.TgtFlatIdx] = lhs[indices.LHSFlatIdx] * rhs[indices.RHSFlatIdx]
					}
				}
			})
		})
		b.Run(bc.name+"/runs", func(b *testing.B) {
			benchLoop(b, func() {
				switch bc.op {
				case "Add":
					execAddNumericGeneric(lhs, rhs, out, lhsShape, rhsShape, lhsShape)
				case "Sub":
					execSubNumericGeneric(lhs, rhs, out, lhsShape, rhsShape, lhsShape)
				case "Mul":
					execMulNumericGeneric(lhs, rhs, out, lhsShape, rhsShape, lhsShape)
				}
			})
		})
		b.Run(bc.name+"/arch", func(b *testing.B) {
			opType, generic := compute.OpTypeAdd, execAddNumericGeneric[float32]
			switch bc.op {
			case "Sub":
				opType, generic = compute.OpTypeSub, execSubNumericGeneric[float32]
			case "Mul":
				opType, generic = compute.OpTypeMul, execMulNumericGeneric[float32]
			}
			kernel := float32BinaryArchKernels[opType]
			if kernel == nil {
				b.Skip("no architecture-specific float32 kernels on this machine")
			}
			benchLoop(b, func() {
				float32Binary(kernel, generic, lhs, rhs, out, lhsShape, rhsShape, lhsShape, rhsShape.Size() == 1)
			})
		})
	}
}

// TestFloat32BinaryArch checks the float32 Add, Sub, Mul and Div executors registered for this
// machine (AVX512; skipped where there are none) bit for bit (NaNs as NaN) against
// the generated executors: 300 random shape pairs of rank 0-4 with dimensions up to 40 (vector
// bodies and tails), broadcast/size-1/empty axes on either side, scalars on either side, and
// operands the op may overwrite (inputsOwned).
func TestFloat32BinaryArch(t *testing.T) {
	rng := rand.New(rand.NewPCG(52, 1))
	for _, op := range []struct {
		opType  compute.OpType
		generic binaryExec
	}{{compute.OpTypeAdd, execAdd}, {compute.OpTypeSub, execSub}, {compute.OpTypeMul, execMul}, {compute.OpTypeDiv, execDiv}} {
		arch := binaryExec(float32BinaryArchExecutors[op.opType])
		if arch == nil {
			t.Skipf("no architecture-specific float32 %s executor on this machine", op.opType)
		}
		for range 300 {
			rank := rng.IntN(5)
			tgtDims, lhsDims, rhsDims := randomDims(rng, rank, 40), make([]int, rank), make([]int, rank)
			for axis, dim := range tgtDims {
				lhsDims[axis], rhsDims[axis] = dim, dim
				switch rng.IntN(4) {
				case 0:
					lhsDims[axis] = 1
				case 1:
					rhsDims[axis] = 1
				}
				if dim == 0 {
					lhsDims[axis], rhsDims[axis] = 0, 0
				}
			}
			switch rng.IntN(6) {
			case 0:
				lhsDims = nil
			case 1:
				rhsDims = nil
			}
			if lhsDims == nil || rhsDims == nil {
				rank = 0 // Scalar operand: the other one's shape.
			}
			lhsShape, rhsShape := shapes.Make(dtypes.Float32, lhsDims...), shapes.Make(dtypes.Float32, rhsDims...)
			outShape := shapes.Make(dtypes.Float32, tgtDims...)
			if rank == 0 && lhsDims == nil {
				rhsShape = outShape
			} else if rank == 0 {
				lhsShape = outShape
			}
			what := fmt.Sprintf("%s lhs=%s rhs=%s", op.opType, lhsShape, rhsShape)
			lhs, rhs := emptyBuffer(t, lhsShape), emptyBuffer(t, rhsShape)
			fillBinaryOperand(rng, lhs, false)
			fillBinaryOperand(rng, rhs, true)
			clone := func(b *gobackend.Buffer) *gobackend.Buffer {
				c := emptyBuffer(t, b.RawShape)
				copy(c.Flat.([]float32), b.Flat.([]float32))
				return c
			}
			node := &gobackend.Node{OpType: op.opType, Shape: outShape}
			want, err := op.generic(testBackend(), node, []*gobackend.Buffer{clone(lhs), clone(rhs)}, []bool{false, false})
			if err != nil {
				t.Fatalf("%s (generic): %+v", what, err)
			}
			owned := []bool{rng.IntN(2) == 0, rng.IntN(2) == 0}
			got, err := arch(testBackend(), node, []*gobackend.Buffer{clone(lhs), clone(rhs)}, owned)
			if err != nil {
				t.Fatalf("%s: %+v", what, err)
			}
			if i, ok := sameBinaryOutput(got, want); !ok {
				t.Fatalf("%s (owned %v): output element %d is %g, want %g", what, owned, i, got.Flat.([]float32)[i], want.Flat.([]float32)[i])
			}
		}
	}
}
