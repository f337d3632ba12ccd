package dicom

import (
	"encoding/binary"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestFast16MatchesScalar checks the 16-bit kernels (SIMD where available) against the
// scalar formula bit for bit, with a slope and intercept that round.
func TestFast16MatchesScalar(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	for _, signed := range []bool{false, true} {
		for _, n := range []int{1, 7, 8, 9, 1001} {
			src := make([]byte, 2*n)
			for i := range src {
				src[i] = byte(rng.IntN(256))
			}
			h := &Header{BitsAllocated: 16, BitsStored: 16, SamplesPerPixel: 1, Rows: 1, Columns: n}
			if signed {
				h.PixelRepresentation = 1
			}
			s, b := float32(0.37), float32(-1024.5)
			dst := make([]float32, n)
			require.True(t, fast16(src, layout{bo: binary.LittleEndian}, h, dst, s, b))
			for k := 0; k < n; k++ {
				u := binary.LittleEndian.Uint16(src[2*k:])
				want := float32(u)*s + b
				if signed {
					want = float32(int16(u))*s + b
				}
				require.Equal(t, want, dst[k], "signed=%v n=%d k=%d", signed, n, k)
			}
		}
	}
}
