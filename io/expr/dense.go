package expr

import (
	"bytes"
	"fmt"
	"runtime"
	"strings"
	"sync"
)

// DenseOptions configures ReadDense.
type DenseOptions struct {
	// Orientation of the file; the zero value means GenesBySamples.
	Orientation Orientation
	// Delimiter between cells; 0 picks ',' for .csv, tab for .tsv/.txt/.tab, and otherwise
	// whichever of tab and comma the header line holds more of.
	Delimiter byte
	// InfoColumns is the number of text columns between the id column and the values
	// (for example a gene symbol or "Description" column); they land in GeneInfo or
	// SampleInfo under their header names.
	InfoColumns int
	// Workers parses in this many goroutines; 0 means GOMAXPROCS.
	Workers int
}

// ReadDense reads a delimited text matrix (optionally gzipped): a header line with the
// column ids, then one line per row starting with the row id. A header that lacks the
// id column's name (as R's write.table writes it) is accepted.
func ReadDense(path string, opt DenseOptions) (*Matrix, error) {
	data, err := readAll(path)
	if err != nil {
		return nil, err
	}
	delim := opt.Delimiter
	format := "tsv"
	if delim == 0 {
		switch {
		case hasExt(path, ".csv"):
			delim = ','
		case hasExt(path, ".tsv", ".txt", ".tab"):
			delim = '\t'
		default:
			h, _ := nextLine(data, 0)
			if bytes.Count(h, []byte{','}) > bytes.Count(h, []byte{'\t'}) {
				delim = ','
			} else {
				delim = '\t'
			}
		}
	}
	if delim == ',' {
		format = "csv"
	}
	m, err := parseDense(path, data, 0, 1, delim, opt)
	if err != nil {
		return nil, err
	}
	m.Format = format
	return m, nil
}

// hasExt reports whether path ends with one of exts, optionally followed by .gz.
func hasExt(path string, exts ...string) bool {
	p := strings.ToLower(strings.TrimSuffix(strings.ToLower(path), ".gz"))
	for _, e := range exts {
		if strings.HasSuffix(p, e) {
			return true
		}
	}
	return false
}

// parseDense parses a header line at data[off:] (on line number lineNo) and the rows after it.
func parseDense(name string, data []byte, off, lineNo int, delim byte, opt DenseOptions) (*Matrix, error) {
	orient := opt.Orientation
	if orient == "" {
		orient = GenesBySamples
	}
	if orient != GenesBySamples && orient != SamplesByGenes {
		return nil, fmt.Errorf("%s: unknown orientation %q (want %s or %s)", name, orient, GenesBySamples, SamplesByGenes)
	}
	// header: skip leading blank lines
	var header []byte
	for {
		if off >= len(data) {
			return nil, fmt.Errorf("%s: no header line (empty file)", name)
		}
		header, off = nextLine(data, off)
		if len(bytes.TrimSpace(header)) > 0 {
			break
		}
		lineNo++
	}
	hdr, msg := splitFields(header, delim, nil)
	if msg != "" {
		return nil, fmt.Errorf("%s:%d: header: %s", name, lineNo, msg)
	}
	hdrCopy := make([]string, len(hdr))
	for i, h := range hdr {
		hdrCopy[i] = strings.TrimSpace(string(h))
	}
	// the first data line decides whether the header names the id column
	var first []byte
	for p := off; p < len(data); {
		first, p = nextLine(data, p)
		if len(bytes.TrimSpace(first)) > 0 {
			break
		}
	}
	fields, msg := splitFields(first, delim, nil)
	if msg != "" {
		return nil, fmt.Errorf("%s:%d: %s", name, lineNo+1, msg)
	}
	lead := 1 + opt.InfoColumns
	if len(bytes.TrimSpace(first)) == 0 {
		fields = nil
	}
	var colIDs, infoNames []string
	switch {
	case fields == nil || len(hdrCopy) == len(fields):
		if len(hdrCopy) <= lead {
			return nil, fmt.Errorf("%s:%d: header has %d columns, want the id column, %d info column(s) and at least one value column (wrong delimiter %q?)", name, lineNo, len(hdrCopy), opt.InfoColumns, string(delim))
		}
		infoNames, colIDs = hdrCopy[1:lead], hdrCopy[lead:]
	case len(hdrCopy) == len(fields)-1:
		if len(hdrCopy) < lead {
			return nil, fmt.Errorf("%s:%d: header has %d columns, too few for %d info column(s) and values", name, lineNo, len(hdrCopy), opt.InfoColumns)
		}
		infoNames, colIDs = hdrCopy[:lead-1], hdrCopy[lead-1:]
	default:
		return nil, fmt.Errorf("%s:%d: %d cells, but the header (line %d) has %d", name, lineNo+1, len(fields), lineNo, len(hdrCopy))
	}
	colWhat, rowWhat := "sample", "gene"
	if orient == SamplesByGenes {
		colWhat, rowWhat = "gene", "sample"
	}
	if err := CheckIDs(colWhat, colIDs, func(i int) string {
		return fmt.Sprintf("%s:%d: column %d", name, lineNo, i+lead+1)
	}); err != nil {
		return nil, err
	}
	rows, err := parseRows(name, data[off:], lineNo+1, delim, opt.InfoColumns, colIDs, colWhat, opt.Workers)
	if err != nil {
		return nil, err
	}
	if err := CheckIDs(rowWhat, rows.ids, func(i int) string {
		return fmt.Sprintf("%s:%d: column 1", name, rows.lines[i])
	}); err != nil {
		return nil, err
	}
	m := &Matrix{Source: name}
	nr, nc := len(rows.ids), len(colIDs)
	info := map[string][]string{}
	for j, n := range infoNames {
		if n == "" {
			n = fmt.Sprintf("info%d", j+1)
		}
		info[n] = rows.info[j]
	}
	if len(info) == 0 {
		info = nil
	}
	if orient == GenesBySamples {
		m.Genes, m.Samples, m.GeneInfo = rows.ids, colIDs, info
		m.X = transposeChunks(rows.chunks, nr, nc, opt.Workers)
	} else {
		m.Samples, m.Genes, m.SampleInfo = rows.ids, colIDs, info
		m.X = concatChunks(rows.chunks, nr*nc)
	}
	return m, nil
}

type parsedRows struct {
	ids    []string
	lines  []int // line number of each row
	info   [][]string
	chunks [][]float32 // row-major values, one slice per chunk, in order
}

type chunkResult struct {
	ids    []string
	lines  []int // local line index (0-based within the chunk)
	info   [][]string
	vals   []float32
	nlines int
	errAt  int // local line of the error, -1 none
	errMsg string
}

// parseRows splits data into chunks at line boundaries and parses them in parallel.
func parseRows(name string, data []byte, firstLine int, delim byte, ninfo int, colIDs []string, colWhat string, workers int) (*parsedRows, error) {
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	nc := len(colIDs)
	nchunks := workers * 4
	if len(data) < 1<<20 {
		nchunks = 1
	}
	var bounds []int
	bounds = append(bounds, 0)
	for k := 1; k < nchunks; k++ {
		p := len(data) * k / nchunks
		if p <= bounds[len(bounds)-1] {
			continue
		}
		i := bytes.IndexByte(data[p:], '\n')
		if i < 0 {
			break
		}
		p += i + 1
		if p > bounds[len(bounds)-1] && p < len(data) {
			bounds = append(bounds, p)
		}
	}
	bounds = append(bounds, len(data))
	res := make([]chunkResult, len(bounds)-1)
	var wg sync.WaitGroup
	sem := make(chan struct{}, workers)
	for k := range res {
		wg.Add(1)
		sem <- struct{}{}
		go func(k int) {
			defer wg.Done()
			defer func() { <-sem }()
			res[k] = parseChunk(data[bounds[k]:bounds[k+1]], delim, ninfo, nc)
		}(k)
	}
	wg.Wait()
	out := &parsedRows{info: make([][]string, ninfo)}
	line := firstLine
	for k := range res {
		r := &res[k]
		if r.errAt >= 0 {
			l := line + r.errAt
			return nil, fmt.Errorf("%s:%d: %s", name, l, describeCellErr(r.errMsg, colIDs, colWhat, ninfo))
		}
		for i, id := range r.ids {
			out.ids = append(out.ids, id)
			out.lines = append(out.lines, line+r.lines[i])
		}
		for j := range ninfo {
			out.info[j] = append(out.info[j], r.info[j]...)
		}
		out.chunks = append(out.chunks, r.vals)
		line += r.nlines
	}
	if len(out.ids) == 0 {
		return nil, fmt.Errorf("%s: no data rows after the header", name)
	}
	return out, nil
}

// describeCellErr expands an error of the form "col=<k>|<msg>" into a message naming the
// column number and the column id.
func describeCellErr(msg string, colIDs []string, colWhat string, ninfo int) string {
	var col int
	if n, _ := fmt.Sscanf(msg, "col=%d|", &col); n == 1 {
		rest := msg[strings.IndexByte(msg, '|')+1:]
		v := col - 1 - ninfo // index into colIDs
		if v >= 0 && v < len(colIDs) {
			return fmt.Sprintf("column %d (%s %q): %s", col+1, colWhat, colIDs[v], rest)
		}
		return fmt.Sprintf("column %d: %s", col+1, rest)
	}
	return msg
}

func parseChunk(data []byte, delim byte, ninfo, nc int) chunkResult {
	r := chunkResult{errAt: -1, info: make([][]string, ninfo)}
	nlines := bytes.Count(data, []byte{'\n'})
	if len(data) > 0 && data[len(data)-1] != '\n' {
		nlines++
	}
	r.nlines = nlines
	r.vals = make([]float32, 0, nlines*nc)
	var fields [][]byte
	off, li := 0, 0
	for off < len(data) {
		line, next := nextLine(data, off)
		off = next
		cur := li
		li++
		if len(line) == 0 || len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		fail := func(format string, a ...any) chunkResult {
			r.errAt = cur
			r.errMsg = fmt.Sprintf(format, a...)
			return r
		}
		if bytes.IndexByte(line, '"') >= 0 {
			var msg string
			fields, msg = splitFields(line, delim, fields)
			if msg != "" {
				return fail("%s", msg)
			}
			if len(fields) != 1+ninfo+nc {
				return fail("%d cells, want %d (id, %d info, %d values)", len(fields), 1+ninfo+nc, ninfo, nc)
			}
			r.ids = append(r.ids, strings.TrimSpace(string(fields[0])))
			for j := range ninfo {
				r.info[j] = append(r.info[j], string(fields[1+j]))
			}
			for j, f := range fields[1+ninfo:] {
				v, ok := parseNumber(bytes.TrimSpace(f))
				if !ok || !finite(v) {
					return fail("col=%d|%s", 1+ninfo+j, cellErrorFinite(f, ok))
				}
				x, ok := toFloat32(v)
				if !ok {
					return fail("col=%d|%s overflows float32", 1+ninfo+j, f)
				}
				r.vals = append(r.vals, x)
			}
			r.lines = append(r.lines, cur)
			continue
		}
		i := bytes.IndexByte(line, delim)
		if i < 0 {
			return fail("1 cell, want %d (id, %d info, %d values)", 1+ninfo+nc, ninfo, nc)
		}
		r.ids = append(r.ids, strings.TrimSpace(string(line[:i])))
		rest := line[i+1:]
		for j := range ninfo {
			k := bytes.IndexByte(rest, delim)
			if k < 0 {
				return fail("%d cells, want %d (id, %d info, %d values)", 2+j, 1+ninfo+nc, ninfo, nc)
			}
			r.info[j] = append(r.info[j], string(rest[:k]))
			rest = rest[k+1:]
		}
		base := len(r.vals)
		col := 1 + ninfo
		pos := 0
		for {
			if len(r.vals)-base >= nc {
				return fail("more than %d cells, want %d (id, %d info, %d values)", 1+ninfo+nc, 1+ninfo+nc, ninfo, nc)
			}
			x, n, ok := fastCell(rest[pos:], delim)
			if !ok {
				k := bytes.IndexByte(rest[pos:], delim)
				cell := rest[pos:]
				if k >= 0 {
					cell = rest[pos : pos+k]
				}
				n = len(cell)
				v, ok := parseNumber(cell)
				if !ok || !finite(v) {
					if t := bytes.TrimSpace(cell); ok || len(t) != len(cell) {
						v, ok = parseNumber(t)
					}
					if !ok || !finite(v) {
						return fail("col=%d|%s", col, cellErrorFinite(cell, ok))
					}
				}
				var fok bool
				if x, fok = toFloat32(v); !fok {
					return fail("col=%d|%s overflows float32", col, cell)
				}
			}
			r.vals = append(r.vals, x)
			col++
			pos += n
			if pos >= len(rest) {
				break
			}
			pos++ // the delimiter
		}
		if got := len(r.vals) - base; got != nc {
			return fail("%d cells, want %d (id, %d info, %d values)", 1+ninfo+got, 1+ninfo+nc, ninfo, nc)
		}
		r.lines = append(r.lines, cur)
	}
	return r
}

func cellErrorFinite(cell []byte, parsed bool) string {
	if parsed {
		return fmt.Sprintf("%q is not a finite number", cell)
	}
	return cellError(bytes.TrimSpace(cell))
}

// transposeChunks writes the row-major nr x nc values held in chunks as an nc x nr matrix.
func transposeChunks(chunks [][]float32, nr, nc, workers int) []float32 {
	out := make([]float32, nr*nc)
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	var wg sync.WaitGroup
	sem := make(chan struct{}, workers)
	row0 := 0
	for _, ch := range chunks {
		n := len(ch) / max(nc, 1)
		wg.Add(1)
		sem <- struct{}{}
		go func(ch []float32, row0, n int) {
			defer wg.Done()
			defer func() { <-sem }()
			const blk = 64
			for cb := 0; cb < nc; cb += blk {
				ce := min(cb+blk, nc)
				for rb := 0; rb < n; rb += blk {
					re := min(rb+blk, n)
					for c := cb; c < ce; c++ {
						dst := out[c*nr+row0 : c*nr+row0+n]
						for r := rb; r < re; r++ {
							dst[r] = ch[r*nc+c]
						}
					}
				}
			}
		}(ch, row0, n)
		row0 += n
	}
	wg.Wait()
	return out
}

func concatChunks(chunks [][]float32, n int) []float32 {
	if len(chunks) == 1 {
		return chunks[0]
	}
	out := make([]float32, 0, n)
	for _, ch := range chunks {
		out = append(out, ch...)
	}
	return out
}

// fastCell parses a plain decimal (optional minus, digits, optional fraction, at most 15
// significant digits) at the start of b that ends at delim or the end of b, in one pass.
// It returns the value, the cell length and false for anything else (the caller then takes
// the general path).
func fastCell(b []byte, delim byte) (float32, int, bool) {
	i, n := 0, len(b)
	neg := false
	if n > 0 && b[0] == '-' {
		neg = true
		i++
	}
	var mant uint64
	digits, frac := 0, 0
	start := i
	for i < n && b[i]-'0' <= 9 {
		mant = mant*10 + uint64(b[i]-'0')
		i++
	}
	digits = i - start
	if i < n && b[i] == '.' {
		i++
		fs := i
		for i < n && b[i]-'0' <= 9 {
			mant = mant*10 + uint64(b[i]-'0')
			i++
		}
		frac = i - fs
		digits += frac
	}
	if digits == 0 || digits > 15 || frac > 22 || (i < n && b[i] != delim) {
		return 0, 0, false
	}
	v := float64(mant)
	if frac > 0 {
		v /= pow10[frac]
	}
	if neg {
		v = -v
	}
	return float32(v), i, true
}
