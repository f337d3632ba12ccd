// Copyright 2023-2026 The GoMLX Authors. SPDX-License-Identifier: Apache-2.0

package ops

import "math"

// Float32 Exp with the single-precision Cephes expf (expf32, as Tanh and Logistic use) instead of
// math.Exp in float64 per element: within 2 ulp of the correctly rounded result for |x| <= 87;
// other inputs (overflow, results below the normal range, ±Inf, NaN) keep math.Exp. With AVX512,
// 16 lanes at a time (exp_float32_avx512.go), the same bits.

// expFloat32Blocks, when set (amd64 builds with GOEXPERIMENT=simd on AVX512 machines), computes
// expFloat32 on a prefix of whole 16-element blocks and returns its length.
var expFloat32Blocks func(inputs, outputs []float32) int

// expFloat32 sets outputs[i] = e^inputs[i].
func expFloat32(inputs, outputs []float32) {
	done := 0
	if expFloat32Blocks != nil {
		done = expFloat32Blocks(inputs, outputs)
	}
	expFloat32Scalar(inputs[done:], outputs[done:len(inputs)])
}

// expFloat32Scalar is expFloat32 one element at a time.
func expFloat32Scalar(inputs, outputs []float32) {
	outputs = outputs[:len(inputs)]
	for i, x := range inputs {
		if y, ok := expf32(x); ok {
			outputs[i] = y
		} else {
			outputs[i] = float32(math.Exp(float64(x)))
		}
	}
}
