//go:build !(goexperiment.simd && amd64)

package edf

// decode16 converts little-endian int16 samples to float32 physical values.
func decode16(out []float32, b []byte, g, o float64) { decode16Scalar(out, b, g, o) }
