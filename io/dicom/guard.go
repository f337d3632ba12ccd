package dicom

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// checkLengths walks the element structure of an in-memory file and rejects value
// lengths that run past the end of the data, before the parser allocates buffers of that
// size (a corrupt length could otherwise ask for gigabytes). It returns nil when the
// structure is one it does not check (deflated data, no preamble).
// pixelLoc is where the top-level Pixel Data element's value lies in the file.
type pixelLoc struct {
	// stop makes the walk end at the top-level Pixel Data element (reading headers from a
	// prefix of the file): elemStart, valueStart and vl then describe it.
	stop                  bool
	elemStart, valueStart int
	vl                    uint32
	found                 bool
	native                []byte   // defined-length value
	fragments             [][]byte // encapsulated fragments after the basic offset table
}

func checkLengths(b []byte) error {
	_, err := scan(b)
	return err
}

// scan checks lengths (see checkLengths) and locates the top-level pixel data.
func scan(b []byte) (*pixelLoc, error) {
	return scanWith(b, &pixelLoc{})
}

// errStop ends a walk at the pixel data (pixelLoc.stop).
var errStop = errors.New("stop at pixel data")

func scanWith(b []byte, loc *pixelLoc) (*pixelLoc, error) {
	if len(b) < 132 || string(b[128:132]) != "DICM" {
		// no preamble: the parser guesses the syntax; accept when one guess walks cleanly
		var first error
		for _, g := range []struct {
			implicit bool
			bo       binary.ByteOrder
		}{{true, binary.LittleEndian}, {false, binary.LittleEndian}, {false, binary.BigEndian}} {
			_, err := walk(b, 0, len(b), g.implicit, g.bo, 0, nil)
			if err == nil {
				return nil, nil
			}
			if first == nil {
				first = err
			}
		}
		return nil, first
	}
	pos := 132
	// file meta group: explicit VR little endian
	var ts string
	for pos+8 <= len(b) && binary.LittleEndian.Uint16(b[pos:]) == 0x0002 {
		elem := binary.LittleEndian.Uint16(b[pos+2:])
		start, vl, next, err := header(b, pos, false, binary.LittleEndian)
		if err != nil {
			return nil, err
		}
		if vl == undefined || start+int(vl) > len(b) {
			return nil, fmt.Errorf("file meta element (0002,%04X) at byte %d: length %d runs past the end (%d bytes)", elem, pos, vl, len(b))
		}
		if elem == 0x0010 {
			ts = trimUID(b[start : start+int(vl)])
		}
		pos = next + int(vl)
	}
	var bo binary.ByteOrder = binary.LittleEndian
	implicit := false
	switch ts {
	case DeflatedExplicitVRLE:
		return nil, nil
	case ImplicitVRLittleEndian:
		implicit = true
	case ExplicitVRBigEndian:
		bo = binary.BigEndian
	}
	if _, err := walk(b, pos, len(b), implicit, bo, 0, loc); err != nil {
		if errors.Is(err, errStop) {
			return loc, nil
		}
		return nil, err
	}
	return loc, nil
}

const undefined = 0xFFFFFFFF

func trimUID(b []byte) string {
	for len(b) > 0 && (b[len(b)-1] == 0 || b[len(b)-1] == ' ') {
		b = b[:len(b)-1]
	}
	return string(b)
}

// header reads the element header at pos: it returns where the value starts, its length,
// and the position after the header.
func header(b []byte, pos int, implicit bool, bo binary.ByteOrder) (start int, vl uint32, next int, err error) {
	if pos+8 > len(b) {
		return 0, 0, 0, fmt.Errorf("element header at byte %d runs past the end (%d bytes)", pos, len(b))
	}
	group := bo.Uint16(b[pos:])
	if implicit || group == 0xFFFE {
		vl = bo.Uint32(b[pos+4:])
		return pos + 8, vl, pos + 8, nil
	}
	vr := string(b[pos+4 : pos+6])
	switch vr {
	case "OB", "OW", "OF", "OD", "OL", "OV", "SQ", "UT", "UN", "UC", "UR", "SV", "UV":
		if pos+12 > len(b) {
			return 0, 0, 0, fmt.Errorf("element header at byte %d runs past the end (%d bytes)", pos, len(b))
		}
		vl = bo.Uint32(b[pos+8:])
		return pos + 12, vl, pos + 12, nil
	}
	vl = uint32(bo.Uint16(b[pos+6:]))
	return pos + 8, vl, pos + 8, nil
}

// walk checks the elements in b[pos:end] and returns the position after them (after a
// delimiter item, when it meets one).
func walk(b []byte, pos, end int, implicit bool, bo binary.ByteOrder, depth int, loc *pixelLoc) (int, error) {
	if depth > 64 {
		return 0, fmt.Errorf("sequences nested more than 64 deep at byte %d", pos)
	}
	for pos < end {
		if end-pos < 8 {
			return 0, fmt.Errorf("element header at byte %d runs past the end (%d bytes)", pos, end)
		}
		group, elem := bo.Uint16(b[pos:]), bo.Uint16(b[pos+2:])
		if group == 0xFFFE && (elem == 0xE00D || elem == 0xE0DD) {
			return pos + 8, nil
		}
		start, vl, _, err := header(b, pos, implicit, bo)
		if err != nil {
			return 0, err
		}
		if loc != nil && loc.stop && group == 0x7FE0 && elem == 0x0010 {
			loc.found, loc.elemStart, loc.valueStart, loc.vl = true, pos, start, vl
			return pos, errStop
		}
		if vl != undefined {
			if uint64(start)+uint64(vl) > uint64(end) {
				return 0, fmt.Errorf("element (%04X,%04X) at byte %d: length %d runs past the end (%d bytes): file truncated or corrupt", group, elem, pos, vl, end)
			}
			if (!implicit && group != 0xFFFE && string(b[pos+4:pos+6]) == "SQ") || (group == 0xFFFE && elem == 0xE000) {
				if _, err := walk(b, start, start+int(vl), implicit, bo, depth+1, nil); err != nil {
					return 0, err
				}
			}
			if loc != nil && group == 0x7FE0 && elem == 0x0010 {
				loc.found, loc.native = true, b[start:start+int(vl)]
			}
			pos = start + int(vl)
			continue
		}
		// undefined length: a sequence, an item, or encapsulated pixel data
		if group == 0x7FE0 && elem == 0x0010 {
			p, first := start, true
			if loc != nil {
				loc.found = true
			}
			for {
				if p+8 > end {
					return 0, fmt.Errorf("encapsulated pixel data at byte %d runs past the end (%d bytes)", start, end)
				}
				ig, ie := bo.Uint16(b[p:]), bo.Uint16(b[p+2:])
				ivl := bo.Uint32(b[p+4:])
				if ig == 0xFFFE && ie == 0xE0DD {
					p += 8
					break
				}
				if ivl == undefined || uint64(p)+8+uint64(ivl) > uint64(end) {
					return 0, fmt.Errorf("pixel data fragment at byte %d: length %d runs past the end (%d bytes): file truncated or corrupt", p, ivl, end)
				}
				if loc != nil && ig == 0xFFFE && ie == 0xE000 {
					if first {
						first = false // the basic offset table
					} else {
						loc.fragments = append(loc.fragments, b[p+8:p+8+int(ivl)])
					}
				}
				p += 8 + int(ivl)
			}
			pos = p
			continue
		}
		next, err := walk(b, start, end, implicit, bo, depth+1, nil)
		if err != nil {
			return 0, err
		}
		pos = next
	}
	return pos, nil
}
