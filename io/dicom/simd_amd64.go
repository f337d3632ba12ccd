//go:build goexperiment.simd && amd64

package dicom

import (
	"simd/archsimd"
	"unsafe"
)

var haveAVX2 = archsimd.X86.AVX2()

// convert16LE decodes little-endian 16-bit samples with rescale (v*s + b, rounded as the
// scalar loop rounds: a multiply, then an add) eight at a time with AVX2. It reports false
// when it cannot (no AVX2, odd alignment), leaving the work to the scalar loop.
func convert16LE(src []byte, dst []float32, signed bool, s, b float32) bool {
	n := len(dst)
	p := unsafe.Pointer(unsafe.SliceData(src))
	if !haveAVX2 || n < 8 || uintptr(p)%2 != 0 || len(src) < 2*n {
		return false
	}
	vs, vb := archsimd.BroadcastFloat32x8(s), archsimd.BroadcastFloat32x8(b)
	k := 0
	if signed {
		s16 := unsafe.Slice((*int16)(p), n)
		for ; k+8 <= n; k += 8 {
			v := archsimd.LoadInt16x8Slice(s16[k : k+8]).ExtendToInt32().ConvertToFloat32()
			v.Mul(vs).Add(vb).StoreSlice(dst[k : k+8])
		}
		for ; k < n; k++ {
			dst[k] = float32(s16[k])*s + b
		}
		return true
	}
	u16 := unsafe.Slice((*uint16)(p), n)
	for ; k+8 <= n; k += 8 {
		v := archsimd.LoadUint16x8Slice(u16[k : k+8]).ExtendToUint32().AsInt32x8().ConvertToFloat32()
		v.Mul(vs).Add(vb).StoreSlice(dst[k : k+8])
	}
	for ; k < n; k++ {
		dst[k] = float32(u16[k])*s + b
	}
	return true
}
