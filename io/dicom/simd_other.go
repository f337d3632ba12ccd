//go:build !(goexperiment.simd && amd64)

package dicom

// convert16LE is the SIMD kernel of simd_amd64.go; without it the scalar loop runs.
func convert16LE(src []byte, dst []float32, signed bool, s, b float32) bool { return false }
