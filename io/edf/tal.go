package edf

import (
	"bytes"
	"fmt"
	"strconv"
	"strings"
)

// Annotation is one EDF+ annotation: an onset in seconds from the recording start, an
// optional duration (-1 when absent), and its text.
type Annotation struct {
	Onset    float64 `json:"onset"`
	Duration float64 `json:"duration"`
	Text     string  `json:"text"`
}

// TAL is one Time-stamped Annotation List: an onset, a duration (-1 when absent) and any
// number of texts. A TAL with no texts marks the onset of its data record (time keeping).
type TAL struct {
	Onset    float64
	Duration float64
	Texts    []string
}

// ParseTALs parses the bytes of an annotation signal in one data record: TALs of the form
// "+onset[\x15duration]\x14text\x14...\x14\x00", padded with zero bytes. off is the byte
// offset of b in the file, used in errors.
func ParseTALs(b []byte, off int64) ([]TAL, error) {
	var out []TAL
	pos := 0
	for pos < len(b) {
		if b[pos] == 0 {
			pos++
			continue
		}
		end := bytes.IndexByte(b[pos:], 0)
		if end < 0 {
			return out, fmt.Errorf("byte %d: TAL is not terminated by a zero byte", off+int64(pos))
		}
		tal, err := parseTAL(b[pos : pos+end])
		if err != nil {
			return out, fmt.Errorf("byte %d: %w", off+int64(pos), err)
		}
		out = append(out, tal)
		pos += end + 1
	}
	return out, nil
}

func parseTAL(b []byte) (TAL, error) {
	t := TAL{Duration: -1}
	i := bytes.IndexByte(b, 0x14)
	if i < 0 {
		return t, fmt.Errorf("TAL %q has no 0x14 after its onset", b)
	}
	stamp := b[:i]
	rest := b[i+1:]
	onset := stamp
	if j := bytes.IndexByte(stamp, 0x15); j >= 0 {
		onset = stamp[:j]
		d, err := parseTALNumber(stamp[j+1:], false)
		if err != nil {
			return t, fmt.Errorf("TAL duration: %w", err)
		}
		t.Duration = d
	}
	o, err := parseTALNumber(onset, true)
	if err != nil {
		return t, fmt.Errorf("TAL onset: %w", err)
	}
	t.Onset = o
	// Texts are separated (and terminated) by 0x14.
	if len(rest) > 0 {
		if rest[len(rest)-1] != 0x14 {
			return t, fmt.Errorf("TAL annotation text %q is not terminated by 0x14", rest)
		}
		for _, p := range strings.Split(string(rest[:len(rest)-1]), "\x14") {
			if p != "" {
				t.Texts = append(t.Texts, p)
			}
		}
	}
	return t, nil
}

// parseTALNumber parses "+12.5" (signed, for onsets) or "3.2" (durations).
func parseTALNumber(b []byte, signed bool) (float64, error) {
	s := string(b)
	if signed {
		if len(s) < 2 || (s[0] != '+' && s[0] != '-') {
			return 0, fmt.Errorf("%q must start with '+' or '-'", s)
		}
	} else if s == "" {
		return 0, fmt.Errorf("empty duration")
	}
	for k, c := range s {
		if !(c >= '0' && c <= '9') && c != '.' && !(signed && k == 0) {
			return 0, fmt.Errorf("%q is not a number", s)
		}
	}
	v, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return 0, fmt.Errorf("%q is not a number", s)
	}
	return v, nil
}

// formatTALNumber writes a number the way the TAL grammar wants (no exponent).
func formatTALNumber(v float64, signed bool) string {
	s := strconv.FormatFloat(v, 'f', -1, 64)
	if signed && s[0] != '-' {
		s = "+" + s
	}
	return s
}

// AppendTAL appends the encoding of one TAL (with its terminating zero byte) to b.
func AppendTAL(b []byte, t TAL) []byte {
	b = append(b, formatTALNumber(t.Onset, true)...)
	if t.Duration >= 0 {
		b = append(b, 0x15)
		b = append(b, formatTALNumber(t.Duration, false)...)
	}
	b = append(b, 0x14)
	for _, s := range t.Texts {
		b = append(b, s...)
		b = append(b, 0x14)
	}
	if len(t.Texts) == 0 {
		b = append(b, 0x14)
	}
	return append(b, 0)
}
