// Copyright 2023-2026 The GoMLX Authors. SPDX-License-Identifier: Apache-2.0

//go:build amd64 && goexperiment.simd

package matmul_test

import (
	"fmt"
	"math"
	"math/rand/v2"
	"simd/archsimd"
	"slices"
	"testing"

	"github.com/gomlx/compute"
	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/dtypes/bfloat16"
	"github.com/gomlx/compute/dtypes/float16"
	"github.com/gomlx/compute/internal/gobackend/dot"
	"github.com/gomlx/compute/internal/gobackend/dot/matmul"
	"github.com/gomlx/compute/shapes"
	"github.com/gomlx/compute/support/backendtest"
)

// TestDirectDotGeneral runs the backend's DotGeneral suite with the direct kernels forced, and
// DotGeneral on random axis arrangements (batch, contracting and cross axes in any order, one or two
// of each, sizes 0, 1 and odd) for every float dtype, with the direct kernels forced, with the plain
// (small and packed) kernels forced, and with the default routing, against a float64 reference.
func TestDirectDotGeneral(t *testing.T) {
	if !archsimd.X86.AVX512() {
		t.Skip("AVX512 is not supported on this machine")
	}
	defer func() {
		dot.ResetTestRegistrations()
		matmul.ForceDirectVariant, matmul.ForceSmallVariant, matmul.ForceLargeVariant = false, false, false
	}()
	dot.ResetTestRegistrations()
	matmul.RegisterAVX512ForTests()
	backend := compute.MustNew()
	defer backend.Finalize()

	t.Run("suite", func(t *testing.T) {
		matmul.ForceDirectVariant = true
		defer func() { matmul.ForceDirectVariant = false }()
		backendtest.TestDotGeneral(t, backend)
	})

	rng := rand.New(rand.NewPCG(3, 4))
	sizes := []int{0, 1, 1, 2, 3, 5, 17, 33}
	for i := range 40 {
		c := randomDotCase(rng, sizes)
		for _, dtype := range []dtypes.DType{dtypes.Float32, dtypes.Float64, dtypes.BFloat16, dtypes.Float16} {
			for _, variant := range []string{"direct", "small", "large", "default"} {
				name := fmt.Sprintf("%d/%s/%s/lhs%v_c%v_b%v/rhs%v_c%v_b%v", i, dtype, variant,
					c.lhsDims, c.lhsContracting, c.lhsBatch, c.rhsDims, c.rhsContracting, c.rhsBatch)
				matmul.ForceDirectVariant = variant == "direct"
				matmul.ForceSmallVariant = variant == "small"
				matmul.ForceLargeVariant = variant == "large"
				got, err := c.run(backend, dtype)
				if err != nil {
					t.Fatalf("%s: %+v", name, err)
				}
				eps := map[dtypes.DType]float64{dtypes.Float32: 1e-5, dtypes.Float64: 1e-12, dtypes.BFloat16: 1e-2, dtypes.Float16: 2e-3}[dtype]
				for j := range c.want {
					if math.Abs(got[j]-c.want[j]) > eps*(c.scale[j]+1) {
						t.Fatalf("%s: output[%d] = %g, want %g", name, j, got[j], c.want[j])
					}
				}
			}
		}
	}
}

// dotCase is a DotGeneral with random axes, its inputs (values exact in every float dtype) and its
// float64 result.
type dotCase struct {
	lhsDims, rhsDims                   []int
	lhsContracting, lhsBatch           []int
	rhsContracting, rhsBatch           []int
	lhs, rhs, want, scale              []float64
	outDims                            []int
	batchSizes, contractSizes          []int
	lhsCrossAxes, rhsCrossAxes         []int
	lhsCrossSizes, rhsCrossSizes       []int
	lhsStrides, rhsStrides, outStrides []int
}

func randomDotCase(rng *rand.Rand, sizes []int) *dotCase {
	c := &dotCase{}
	pick := func() int { return sizes[rng.IntN(len(sizes))] }
	numBatch, numContract, numLHSCross, numRHSCross := rng.IntN(3), 1+rng.IntN(2), rng.IntN(3), rng.IntN(3)
	for range numBatch {
		c.batchSizes = append(c.batchSizes, pick())
	}
	for range numContract {
		c.contractSizes = append(c.contractSizes, pick())
	}
	for range numLHSCross {
		c.lhsCrossSizes = append(c.lhsCrossSizes, pick())
	}
	for range numRHSCross {
		c.rhsCrossSizes = append(c.rhsCrossSizes, pick())
	}
	// Place batch, contracting and cross axes at random positions of each operand.
	place := func(cross []int) (dims, batchAxes, contractAxes, crossAxes []int) {
		rank := numBatch + numContract + len(cross)
		perm := rng.Perm(rank)
		dims = make([]int, rank)
		for i, size := range c.batchSizes {
			batchAxes = append(batchAxes, perm[i])
			dims[perm[i]] = size
		}
		for i, size := range c.contractSizes {
			contractAxes = append(contractAxes, perm[numBatch+i])
			dims[perm[numBatch+i]] = size
		}
		for i, size := range cross {
			crossAxes = append(crossAxes, perm[numBatch+numContract+i])
			dims[perm[numBatch+numContract+i]] = size
		}
		// The output has the cross axes in the order of the operand's axes.
		slices.Sort(crossAxes)
		for i, axis := range crossAxes {
			cross[i] = dims[axis]
		}
		return
	}
	c.lhsDims, c.lhsBatch, c.lhsContracting, c.lhsCrossAxes = place(c.lhsCrossSizes)
	c.rhsDims, c.rhsBatch, c.rhsContracting, c.rhsCrossAxes = place(c.rhsCrossSizes)
	c.lhsStrides, c.rhsStrides = strides(c.lhsDims), strides(c.rhsDims)
	c.outDims = append(append(append([]int{}, c.batchSizes...), c.lhsCrossSizes...), c.rhsCrossSizes...)
	c.outStrides = strides(c.outDims)

	// Small integers over 8 are exact in bfloat16 and float16, and so are their products.
	random := func(n int) []float64 {
		v := make([]float64, n)
		for i := range v {
			v[i] = float64(rng.IntN(17)-8) / 8
		}
		return v
	}
	c.lhs, c.rhs = random(product(c.lhsDims)), random(product(c.rhsDims))

	// Reference: iterate over every output index and contraction index.
	c.want = make([]float64, product(c.outDims))
	c.scale = make([]float64, len(c.want))
	outIdx := make([]int, len(c.outDims))
	contractIdx := make([]int, numContract)
	for o := range c.want {
		unflatten(o, c.outDims, outIdx)
		for k := range product(c.contractSizes) {
			unflatten(k, c.contractSizes, contractIdx)
			lhsFlat, rhsFlat := 0, 0
			for i := range numBatch {
				lhsFlat += outIdx[i] * c.lhsStrides[c.lhsBatch[i]]
				rhsFlat += outIdx[i] * c.rhsStrides[c.rhsBatch[i]]
			}
			for i := range numLHSCross {
				lhsFlat += outIdx[numBatch+i] * c.lhsStrides[c.lhsCrossAxes[i]]
			}
			for i := range numRHSCross {
				rhsFlat += outIdx[numBatch+numLHSCross+i] * c.rhsStrides[c.rhsCrossAxes[i]]
			}
			for i := range numContract {
				lhsFlat += contractIdx[i] * c.lhsStrides[c.lhsContracting[i]]
				rhsFlat += contractIdx[i] * c.rhsStrides[c.rhsContracting[i]]
			}
			c.want[o] += c.lhs[lhsFlat] * c.rhs[rhsFlat]
			c.scale[o] += math.Abs(c.lhs[lhsFlat] * c.rhs[rhsFlat])
		}
	}
	return c
}

// run executes the DotGeneral on the backend with inputs of the given dtype.
func (c *dotCase) run(backend compute.Backend, dtype dtypes.DType) ([]float64, error) {
	builder := backend.Builder("direct")
	fn := builder.Main()
	lhsShape, rhsShape := shapes.Make(dtype, c.lhsDims...), shapes.Make(dtype, c.rhsDims...)
	lhs, err := fn.Parameter("lhs", lhsShape, nil)
	if err != nil {
		return nil, err
	}
	rhs, err := fn.Parameter("rhs", rhsShape, nil)
	if err != nil {
		return nil, err
	}
	out, err := fn.DotGeneral(lhs, c.lhsContracting, c.lhsBatch, rhs, c.rhsContracting, c.rhsBatch, compute.DotGeneralConfig{})
	if err != nil {
		return nil, err
	}
	if err := fn.Return([]compute.Value{out}, nil); err != nil {
		return nil, err
	}
	exec, err := builder.Compile()
	if err != nil {
		return nil, err
	}
	lhsBuf, err := backend.BufferFromFlatData(0, toDType(c.lhs, dtype), lhsShape)
	if err != nil {
		return nil, err
	}
	rhsBuf, err := backend.BufferFromFlatData(0, toDType(c.rhs, dtype), rhsShape)
	if err != nil {
		return nil, err
	}
	outputs, err := exec.Execute([]compute.Buffer{lhsBuf, rhsBuf}, nil, 0)
	if err != nil {
		return nil, err
	}
	flat := toDType(make([]float64, len(c.want)), dtype)
	if err := outputs[0].ToFlatData(flat); err != nil {
		return nil, err
	}
	return fromDType(flat), nil
}

func toDType(v []float64, dtype dtypes.DType) any {
	switch dtype {
	case dtypes.Float32:
		out := make([]float32, len(v))
		for i, x := range v {
			out[i] = float32(x)
		}
		return out
	case dtypes.BFloat16:
		out := make([]bfloat16.BFloat16, len(v))
		for i, x := range v {
			out[i] = bfloat16.FromFloat32(float32(x))
		}
		return out
	case dtypes.Float16:
		out := make([]float16.Float16, len(v))
		for i, x := range v {
			out[i] = float16.FromFloat32(float32(x))
		}
		return out
	default:
		return append([]float64(nil), v...)
	}
}

func fromDType(flat any) []float64 {
	var out []float64
	switch v := flat.(type) {
	case []float32:
		for _, x := range v {
			out = append(out, float64(x))
		}
	case []bfloat16.BFloat16:
		for _, x := range v {
			out = append(out, float64(x.Float32()))
		}
	case []float16.Float16:
		for _, x := range v {
			out = append(out, float64(x.Float32()))
		}
	case []float64:
		out = v
	}
	return out
}

func product(dims []int) int {
	p := 1
	for _, d := range dims {
		p *= d
	}
	return p
}

func strides(dims []int) []int {
	s := make([]int, len(dims))
	acc := 1
	for i := len(dims) - 1; i >= 0; i-- {
		s[i] = acc
		acc *= dims[i]
	}
	return s
}

func unflatten(flat int, dims, idx []int) {
	for i := len(dims) - 1; i >= 0; i-- {
		idx[i] = flat % dims[i]
		flat /= dims[i]
	}
}
