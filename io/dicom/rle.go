package dicom

import (
	"encoding/binary"
	"fmt"
)

// DecodeRLE decodes one RLE Lossless frame (DICOM PS3.5 Annex G): a 64-byte header with
// the segment count and offsets, then one PackBits-encoded segment per byte plane (for
// each sample, most significant byte first). It returns npix*spp*bytesPerSample bytes,
// samples interleaved and each sample big-endian, appended to dst[:0].
func DecodeRLE(data []byte, npix, spp, bytesPerSample int, dst []byte) ([]byte, error) {
	if len(data) < 64 {
		return nil, fmt.Errorf("RLE: frame of %d bytes is shorter than its 64-byte header", len(data))
	}
	nseg := int(binary.LittleEndian.Uint32(data))
	want := spp * bytesPerSample
	if nseg != want {
		return nil, fmt.Errorf("RLE: header has %d segments, want %d (%d samples x %d bytes)", nseg, want, spp, bytesPerSample)
	}
	if nseg < 1 || nseg > 15 {
		return nil, fmt.Errorf("RLE: %d segments (allowed 1..15)", nseg)
	}
	var offs [16]int
	for s := 0; s < nseg; s++ {
		offs[s] = int(binary.LittleEndian.Uint32(data[4+4*s:]))
		if offs[s] < 64 || offs[s] > len(data) || (s > 0 && offs[s] < offs[s-1]) {
			return nil, fmt.Errorf("RLE: segment %d offset %d out of range (frame is %d bytes)", s, offs[s], len(data))
		}
	}
	offs[nseg] = len(data)
	total := npix * nseg
	if (len(data)-64)*64 < total {
		// PackBits expands at most 128 bytes from 2: a shorter frame cannot hold the pixels
		return nil, fmt.Errorf("RLE: frame of %d bytes cannot hold %d pixels x %d segments", len(data), npix, nseg)
	}
	if cap(dst) < total {
		dst = make([]byte, total)
	}
	dst = dst[:total]
	seg := make([]byte, npix)
	for s := 0; s < nseg; s++ {
		n, err := unpackBits(data[offs[s]:offs[s+1]], seg)
		if err != nil {
			return nil, fmt.Errorf("RLE: segment %d at byte %d: %w", s, offs[s], err)
		}
		if n < npix {
			return nil, fmt.Errorf("RLE: segment %d at byte %d decodes to %d bytes, want %d", s, offs[s], n, npix)
		}
		if nseg == 1 {
			copy(dst, seg)
			continue
		}
		for p, k := 0, s; p < npix; p, k = p+1, k+nseg {
			dst[k] = seg[p]
		}
	}
	return dst, nil
}

// unpackBits decodes a PackBits stream into out, stopping when out is full; it returns the
// number of bytes written.
func unpackBits(src, out []byte) (int, error) {
	o, i := 0, 0
	for i < len(src) && o < len(out) {
		h := int(int8(src[i]))
		i++
		switch {
		case h >= 0:
			n := h + 1
			if i+n > len(src) {
				return o, fmt.Errorf("literal run of %d bytes at byte %d overruns the segment", n, i-1)
			}
			o += copy(out[o:], src[i:i+n])
			i += n
		case h != -128:
			n := -h + 1
			if i >= len(src) {
				return o, fmt.Errorf("replicate run at byte %d has no value byte", i-1)
			}
			v := src[i]
			i++
			end := min(o+n, len(out))
			for ; o < end; o++ {
				out[o] = v
			}
		}
	}
	return o, nil
}

// EncodeRLE encodes one frame (npix pixels, spp samples, bytesPerSample bytes each,
// interleaved, samples big-endian as DecodeRLE returns) as an RLE Lossless frame.
func EncodeRLE(src []byte, npix, spp, bytesPerSample int) ([]byte, error) {
	nseg := spp * bytesPerSample
	if nseg < 1 || nseg > 15 {
		return nil, fmt.Errorf("RLE: %d segments (allowed 1..15)", nseg)
	}
	if len(src) < npix*nseg {
		return nil, fmt.Errorf("RLE: %d bytes for %d pixels x %d segments", len(src), npix, nseg)
	}
	out := make([]byte, 64, 64+len(src))
	binary.LittleEndian.PutUint32(out, uint32(nseg))
	plane := make([]byte, npix)
	for s := 0; s < nseg; s++ {
		binary.LittleEndian.PutUint32(out[4+4*s:], uint32(len(out)))
		for p := 0; p < npix; p++ {
			plane[p] = src[p*nseg+s]
		}
		out = packBits(out, plane)
		if len(out)%2 == 1 {
			out = append(out, 0x80) // no-op byte keeps segments even-aligned
		}
	}
	return out, nil
}

func packBits(out, src []byte) []byte {
	i := 0
	for i < len(src) {
		// a run of equal bytes
		j := i + 1
		for j < len(src) && j-i < 128 && src[j] == src[i] {
			j++
		}
		if j-i >= 2 {
			out = append(out, byte(int8(-(j - i - 1))), src[i])
			i = j
			continue
		}
		// a literal run up to the next pair of equal bytes
		j = i + 1
		for j < len(src) && j-i < 128 && !(j+1 < len(src) && src[j] == src[j+1]) {
			j++
		}
		out = append(out, byte(j-i-1))
		out = append(out, src[i:j]...)
		i = j
	}
	return out
}
