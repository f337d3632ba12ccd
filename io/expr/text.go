package expr

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"math"
	"os"
	"strconv"
	"unsafe"
)

// readAll returns the content of path, gunzipped when it starts with the gzip magic.
func readAll(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if st.IsDir() {
		return nil, fmt.Errorf("%s: is a folder, want a file", path)
	}
	head := make([]byte, 2)
	n, _ := io.ReadFull(f, head)
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return nil, err
	}
	if n == 2 && head[0] == 0x1f && head[1] == 0x8b {
		zr, err := gzip.NewReader(f)
		if err != nil {
			return nil, fmt.Errorf("%s: gzip: %w", path, err)
		}
		var buf bytes.Buffer
		buf.Grow(int(min(st.Size()*4, 1<<30)))
		if _, err := io.Copy(&buf, zr); err != nil {
			return nil, fmt.Errorf("%s: gzip: %w", path, err)
		}
		return buf.Bytes(), nil
	}
	data := make([]byte, st.Size())
	if _, err := io.ReadFull(f, data); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return data, nil
}

// nextLine returns the line starting at data[off:] without its line ending, and the offset
// of the following line.
func nextLine(data []byte, off int) (line []byte, next int) {
	i := bytes.IndexByte(data[off:], '\n')
	if i < 0 {
		line, next = data[off:], len(data)
	} else {
		line, next = data[off:off+i], off+i+1
	}
	if n := len(line); n > 0 && line[n-1] == '\r' {
		line = line[:n-1]
	}
	return line, next
}

var pow10 = [...]float64{1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11,
	1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22}

// parseNumber parses a decimal number (optionally signed, with fraction and exponent, or
// inf/nan spellings accepted by strconv) without allocating. Plain decimals with up to 15
// significant digits take an exact fast path; everything else goes through strconv.
func parseNumber(b []byte) (float64, bool) {
	i, n := 0, len(b)
	if n == 0 {
		return 0, false
	}
	neg := false
	if b[0] == '-' || b[0] == '+' {
		neg = b[0] == '-'
		i++
	}
	var mant uint64
	digits, exp := 0, 0
	start := i
	for i < n && b[i] >= '0' && b[i] <= '9' {
		if digits < 19 {
			mant = mant*10 + uint64(b[i]-'0')
			if mant != 0 {
				digits++
			}
		} else {
			exp++
		}
		i++
	}
	intDigits := i - start
	fracDigits := 0
	if i < n && b[i] == '.' {
		i++
		fs := i
		for i < n && b[i] >= '0' && b[i] <= '9' {
			if digits < 19 {
				mant = mant*10 + uint64(b[i]-'0')
				if mant != 0 {
					digits++
				}
				exp--
			}
			i++
		}
		fracDigits = i - fs
	}
	if intDigits+fracDigits == 0 {
		return slowNumber(b)
	}
	if i < n && (b[i] == 'e' || b[i] == 'E') {
		i++
		eneg := false
		if i < n && (b[i] == '-' || b[i] == '+') {
			eneg = b[i] == '-'
			i++
		}
		es := i
		e := 0
		for i < n && b[i] >= '0' && b[i] <= '9' {
			if e < 10000 {
				e = e*10 + int(b[i]-'0')
			}
			i++
		}
		if i == es {
			return 0, false
		}
		if eneg {
			e = -e
		}
		exp += e
	}
	if i != n {
		return slowNumber(b)
	}
	if digits > 15 || exp < -22 || exp > 22 {
		return slowNumber(b)
	}
	v := float64(mant)
	if exp < 0 {
		v /= pow10[-exp]
	} else {
		v *= pow10[exp]
	}
	if neg {
		v = -v
	}
	return v, true
}

func slowNumber(b []byte) (float64, bool) {
	v, err := strconv.ParseFloat(unsafe.String(unsafe.SliceData(b), len(b)), 64)
	if err != nil {
		if ne, ok := err.(*strconv.NumError); ok && ne.Err == strconv.ErrRange {
			return v, true
		}
		return 0, false
	}
	return v, true
}

// isMissing reports whether a cell spells a missing value.
func isMissing(b []byte) bool {
	switch string(b) {
	case "", "NA", "NaN", "nan", "N/A", "na", "null", "NULL":
		return true
	}
	return false
}

// cellError describes a cell that is not a number.
func cellError(b []byte) string {
	if isMissing(b) {
		if len(b) == 0 {
			return "missing value (empty cell)"
		}
		return fmt.Sprintf("missing value %q", b)
	}
	if len(b) > 40 {
		b = append(b[:37:37], "..."...)
	}
	return fmt.Sprintf("%q is not a number", b)
}

// toFloat32 converts with a check that the value stays finite.
func toFloat32(v float64) (float32, bool) {
	f := float32(v)
	if math.IsInf(float64(f), 0) && !math.IsInf(v, 0) {
		return f, false
	}
	return f, true
}

// splitFields splits a line on delim into dst (reused), unquoting fields that start with a
// double quote (RFC 4180: "" inside quotes is a quote). It returns an error message for an
// unterminated quote.
func splitFields(line []byte, delim byte, dst [][]byte) ([][]byte, string) {
	dst = dst[:0]
	if bytes.IndexByte(line, '"') < 0 {
		for {
			i := bytes.IndexByte(line, delim)
			if i < 0 {
				return append(dst, line), ""
			}
			dst = append(dst, line[:i])
			line = line[i+1:]
		}
	}
	for {
		if len(line) > 0 && line[0] == '"' {
			var field []byte
			i := 1
			closed := false
			for i < len(line) {
				if line[i] == '"' {
					if i+1 < len(line) && line[i+1] == '"' {
						field = append(field, '"')
						i += 2
						continue
					}
					closed = true
					i++
					break
				}
				field = append(field, line[i])
				i++
			}
			if !closed {
				return dst, "unterminated quoted field"
			}
			if field == nil {
				field = []byte{}
			}
			dst = append(dst, field)
			if i >= len(line) {
				return dst, ""
			}
			if line[i] != delim {
				return dst, fmt.Sprintf("unexpected %q after a quoted field", line[i])
			}
			line = line[i+1:]
			continue
		}
		i := bytes.IndexByte(line, delim)
		if i < 0 {
			return append(dst, line), ""
		}
		dst = append(dst, line[:i])
		line = line[i+1:]
	}
}
