//go:build amd64 && goexperiment.simd

package fusedops

import "simd/archsimd"

func init() {
	if archsimd.X86.AVX512() {
		denseBiasRowsFloat32 = denseBiasRowsAVX512
	}
}

// denseBiasRowsAVX512 adds bias to every row of output (len(bias) features per row), 16
// features per vector and the last len(bias)%16 one by one; with relu, values below zero
// become 0 (-0 and NaN kept, as in the scalar loop).
func denseBiasRowsAVX512(output, bias []float32, relu bool) {
	// Leave no dirty upper vector state: the scalar code after it would run slower.
	defer archsimd.ClearAVXUpperBits()
	n := len(bias)
	vec := n &^ 15
	zero := archsimd.BroadcastFloat32x16(0)
	for ; len(output) >= n; output = output[n:] {
		row := output[:n]
		for j := 0; j < vec; j += 16 {
			v := archsimd.LoadFloat32x16Slice(row[j : j+16]).Add(archsimd.LoadFloat32x16Slice(bias[j : j+16]))
			if relu {
				v = zero.Merge(v, v.Less(zero))
			}
			v.StoreSlice(row[j : j+16])
		}
		for j := vec; j < n; j++ {
			v := row[j] + bias[j]
			if relu && v < 0 {
				v = 0
			}
			row[j] = v
		}
	}
}
