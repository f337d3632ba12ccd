//go:build goexperiment.simd && amd64

package edf

import (
	"simd/archsimd"
	"unsafe"
)

var haveAVX2 = archsimd.X86.AVX2()

// decode16 converts little-endian int16 samples to float32 physical values. With AVX2 it
// does 8 samples per step: widen to int32, convert to float64, multiply and add (not
// fused, so the results are bit for bit those of the scalar loop), round to float32.
func decode16(out []float32, b []byte, g, o float64) {
	n := len(out)
	k := 0
	if haveAVX2 && n >= 8 {
		src := unsafe.Slice((*int16)(unsafe.Pointer(unsafe.SliceData(b))), n)
		vg, vo := archsimd.BroadcastFloat64x4(g), archsimd.BroadcastFloat64x4(o)
		for ; k+8 <= n; k += 8 {
			w := archsimd.LoadInt16x8Slice(src[k : k+8]).ExtendToInt32()
			lo := w.GetLo().ConvertToFloat64().Mul(vg).Add(vo).ConvertToFloat32()
			hi := w.GetHi().ConvertToFloat64().Mul(vg).Add(vo).ConvertToFloat32()
			lo.StoreSlice(out[k : k+4])
			hi.StoreSlice(out[k+4 : k+8])
		}
	}
	decode16Scalar(out[k:], b[2*k:], g, o)
}
