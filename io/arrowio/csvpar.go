package arrowio

import (
	"bytes"
	"encoding/binary"
	"io"
	"math"
	"math/bits"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"sync"
	"sync/atomic"
	"unicode/utf8"
	"unsafe"

	"github.com/biopipe/biopipe/dataset"
)

// The parallel CSV reader.
//
// The whole input is in memory. After the header, the bytes are cut into chunks at record
// boundaries: a cut is placed after the first line end that lies outside quotes, where
// "outside quotes" is the parity of the quote characters before it (in valid CSV every
// quote opens, closes or doubles inside a quoted field, so parity is the quoting state).
// Each chunk is then parsed on its own core, and each of its cells is converted as it is
// met: a column starts as int, widens to float at the first value that is not an integer
// and to text at the first that is not a number (the same rules as buildColumn). The
// per-chunk kinds are merged (int < float < text); a chunk whose column ended narrower
// than the merged kind is rewritten: its integers become floats in place, or its text is
// taken from a second scan of that chunk, needed only for rows before the chunk turned to
// text and only when one of them held a number.
//
// A chunk parser starts at a record boundary (the first chunk by construction, the next
// ones by induction) and must end exactly at its chunk's end outside quotes, so a cut
// misplaced by broken quoting is detected, never silently misread. Anything unusual — a
// bare or unterminated quote, a row with the wrong number of fields, invalid UTF-8, a
// declared type that does not fit, a declared column the file lacks, an empty file —
// makes parallelDecode decline, and the sequential reader (decodeRecords) reads the input
// again and reports it exactly as it always has. The result does not depend on the chunk
// size or the number of workers.

// parallelConfig tunes the parallel reader; the zero value picks both from the input size
// and GOMAXPROCS. Tests set small chunks to put cuts everywhere.
type parallelConfig struct {
	chunkSize int // target bytes per chunk
	workers   int // goroutines
}

const (
	minChunkBytes = 512 << 10 // inputs below twice this are one chunk
	maxChunkBytes = 8 << 20
	maxSpanOffset = 1<<31 - 1 // chunk-relative offsets are 31 bits
)

func (c parallelConfig) nworkers() int {
	if c.workers > 0 {
		return c.workers
	}
	return runtime.GOMAXPROCS(0)
}

// parallelEligible reports whether the parallel reader handles these options.
func parallelEligible(opts CSVOptions) bool {
	d := opts.Delimiter
	return !opts.LazyQuotes && opts.Comment == 0 && d > 0 && d < utf8.RuneSelf && d != '"' && d != '\r' && d != '\n'
}

// byte classes of the field scanner
const (
	clsPlain uint8 = iota
	clsDelim
	clsLF
	clsCR
	clsQuote
	clsHigh // a byte >= 0x80: part of a multi-byte character, checked as UTF-8
)

type colMode uint8

const (
	modeInt colMode = iota
	modeFloat
	modeText
)

// A span locates one cell's text: bits 0-30 the end offset, bits 32-62 the start, and bit
// 63 set when the text is in the chunk's unescape buffer rather than the input.
type span uint64

const spanEsc = span(1) << 63

func mkSpan(start, end int) span { return span(start)<<32 | span(end) }

// chunkCol is one column of one chunk.
type chunkCol struct {
	mode       colMode
	vals       []uint64 // per row: int64 (modeInt) or float64 bits (modeFloat); 0 when missing
	missing    []int32  // rows missing in the numeric modes
	negZero    []int32  // rows read as the integer 0 from a "-0" (a float column keeps -0.0 after its first float)
	firstFloat int32    // row of the first float, -1 while integer
	nvalid     int
	// Text: the cells from row promo on, copied while the parser has them in cache; cell i
	// is text[ends[i-1]:ends[i]]. While no row held a number, missed holds the spans of all
	// rows so far (all missing), so turning to text needs no rescan.
	promo  int
	text   []byte
	ends   []uint32
	missed []span
	prefix []span // rows 0..promo-1, filled by a rescan when the merged kind is text
	end    int    // where numberAt stopped
}

// chunk is a byte range of the input holding whole records, and what parsing found.
type chunk struct {
	start, end int
	bound      int // line ends in the chunk (+1 without a final one): at least its rows
	upper      int // sum of the bounds before it: where its rows start in the column buffers
	rows       int
	esc        []byte // unescaped text of quoted cells with "" or CR
	cols       []chunkCol
	rescanTo   int // rows below this need a rescan for some text column's prefix
}

type parallelReader struct {
	data     []byte
	delim    byte
	cls      [256]uint8
	ncols    int
	na       *naSet
	declared []bool
	kinds    []dataset.Kind // declared kind, when declared
	rowBytes float64        // estimated bytes per record, to size buffers
	// colVals holds per column (nil for declared text) one 8-byte value per row for the
	// whole input: chunk k writes its rows from chunks[k].upper on.
	colVals [][]uint64
}

// parallelDecode reads data (no byte-order mark; opts.Delimiter set). ok is false when it
// declines the input, which the sequential reader then reads.
func parallelDecode(data []byte, opts CSVOptions, cfg parallelConfig) (f *dataset.Frame, info *ReadInfo, ok bool) {
	if !parallelEligible(opts) {
		return nil, nil, false
	}
	r := &parallelReader{data: data, delim: byte(opts.Delimiter)}
	r.cls['\n'], r.cls['\r'], r.cls['"'] = clsLF, clsCR, clsQuote
	for b := 0x80; b < 0x100; b++ {
		r.cls[b] = clsHigh
	}
	r.cls[r.delim] = clsDelim

	// The first record: the header, or with NoHeader the first data row.
	first, hdrEnd, ok := r.firstRecord()
	if !ok || first == nil {
		return nil, nil, false
	}
	r.ncols = len(first)
	var names []string
	dataStart := hdrEnd
	if opts.NoHeader {
		dataStart = 0
		names = make([]string, r.ncols)
		for i := range names {
			names[i] = "col" + strconv.Itoa(i+1)
		}
	} else {
		names = first
	}
	info = &ReadInfo{Format: "csv"}
	if opts.Delimiter == '\t' {
		info.Format = "tsv"
	}
	names, info.Renamed = uniqueNames(names)
	r.declared = make([]bool, r.ncols)
	r.kinds = make([]dataset.Kind, r.ncols)
	matched := 0
	for i, n := range names {
		if k, ok := opts.Types[n]; ok {
			r.declared[i], r.kinds[i] = true, k
			matched++
		} else if opts.AllText {
			r.declared[i], r.kinds[i] = true, dataset.String
		}
	}
	if matched != len(opts.Types) {
		return nil, nil, false // a declared column the file lacks: the sequential reader names it
	}
	na := opts.NAValues
	if na == nil {
		na = DefaultNAValues
	}
	r.na = newNASet(na)

	chunks := r.split(dataStart, cfg)
	r.rowBytes = r.estimateRowBytes(dataStart)
	workers := cfg.nworkers()
	parallelFor(len(chunks), workers, func(k int) { chunks[k].bound = lineEnds(r.data[chunks[k].start:chunks[k].end]) })
	upper := 0
	for k := range chunks {
		chunks[k].upper = upper
		upper += chunks[k].bound
	}
	r.colVals = make([][]uint64, r.ncols)
	parallelFor(r.ncols, workers, func(j int) { // zeroing them is work too
		if !r.declared[j] || r.kinds[j] != dataset.String {
			r.colVals[j] = make([]uint64, upper)
		}
	})
	var failed atomic.Bool
	parallelFor(len(chunks), workers, func(k int) {
		if !failed.Load() && !r.parse(&chunks[k], false) {
			failed.Store(true)
		}
	})
	if failed.Load() {
		return nil, nil, false
	}

	// Merge the kinds, then rescan the chunks whose text a column needs.
	nrows := 0
	offsets := make([]int, len(chunks))
	for k := range chunks {
		offsets[k] = nrows
		nrows += chunks[k].rows
	}
	kinds := make([]dataset.Kind, r.ncols)
	for j := range kinds {
		kinds[j] = r.mergedKind(chunks, j)
		if kinds[j] != dataset.String {
			continue
		}
		for k := range chunks {
			c := &chunks[k].cols[j]
			if c.mode != modeText {
				c.mode, c.promo = modeText, chunks[k].rows
				if c.nvalid == 0 {
					c.promo = 0
					for _, sp := range c.missed {
						c.addText(chunks[k].cell(r.data, sp))
					}
				}
				c.vals, c.missing, c.negZero, c.missed = nil, nil, nil, nil
			}
			chunks[k].rescanTo = max(chunks[k].rescanTo, c.promo)
		}
	}
	parallelFor(len(chunks), workers, func(k int) {
		if chunks[k].rescanTo > 0 {
			r.parse(&chunks[k], true)
		}
	})
	// Blank lines and quoted line ends leave gaps after a chunk's rows: close them.
	if nrows != upper {
		parallelFor(r.ncols, workers, func(j int) {
			if kinds[j] == dataset.String {
				return
			}
			for k := range chunks {
				copy(r.colVals[j][offsets[k]:], r.colVals[j][chunks[k].upper:chunks[k].upper+chunks[k].rows])
			}
		})
	}

	f = dataset.New()
	f.Columns = make([]*dataset.Column, r.ncols)
	parallelFor(r.ncols, workers, func(j int) {
		f.Columns[j] = r.build(names[j], kinds[j], chunks, offsets, nrows, j)
	})
	info.Rows = nrows
	return f, info, true
}

// parallelFor calls fn(0..n-1) on up to workers goroutines, handing out indexes in order.
// A panic in a worker (such as a fault reading a mapped file that shrank, with
// PanicOnFault set as it is here) stops the loop and is raised again in the caller.
func parallelFor(n, workers int, fn func(int)) {
	if workers <= 1 || n <= 1 {
		for i := range n {
			fn(i)
		}
		return
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	var once sync.Once
	var perr any
	for range min(workers, n) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() {
				if p := recover(); p != nil {
					once.Do(func() { perr = p })
					next.Store(int64(n)) // the others stop at their next index
				}
			}()
			debug.SetPanicOnFault(true)
			for {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				fn(i)
			}
		}()
	}
	wg.Wait()
	if perr != nil {
		panic(perr)
	}
}

// firstRecord parses the first record (after blank lines) into strings, as encoding/csv
// reads it, and returns the offset after it. first is nil for an input without records.
func (r *parallelReader) firstRecord() (first []string, end int, ok bool) {
	buf := r.data
	pos, n := 0, len(buf)
	for pos < n && (buf[pos] == '\n' || buf[pos] == '\r') {
		pos++
	}
	if pos == n {
		return nil, n, true
	}
	var esc []byte
	for {
		var v []byte
		if pos < n && buf[pos] == '"' {
			start := pos + 1
			q, next, needEsc, good := r.quoted(buf, pos)
			if !good {
				return nil, 0, false
			}
			v = buf[start:q]
			if needEsc {
				esc = appendUnescaped(esc[:0], v)
				v = esc
			}
			pos = next
		} else {
			start := pos
			for pos < n && (r.cls[buf[pos]] == clsPlain || r.cls[buf[pos]] == clsHigh) {
				pos++
			}
			if pos < n && buf[pos] == '"' {
				return nil, 0, false
			}
			v = buf[start:pos]
		}
		first = append(first, string(v))
		if pos >= n {
			return first, n, true
		}
		var more bool
		if pos, more = stepField(buf, pos, r.delim); more {
			continue
		}
		return first, pos, true
	}
}

// quoted parses the quoted field whose opening quote is at buf[pos]. It returns the offset
// of the closing quote, the offset after it, whether the text needs unescaping ("" or a
// CR), and false when the field is unterminated or its closing quote is followed by
// anything but a delimiter, a line end or the end of buf (the sequential reader reports
// those).
func (r *parallelReader) quoted(buf []byte, pos int) (closing, next int, needEsc, ok bool) {
	n := len(buf)
	start := pos + 1
	pos = start
	for {
		k := bytes.IndexByte(buf[pos:], '"')
		if k < 0 {
			return 0, 0, false, false
		}
		pos += k + 1
		if pos < n && buf[pos] == '"' {
			needEsc = true
			pos++
			continue
		}
		break
	}
	closing = pos - 1
	if pos < n {
		if c := r.cls[buf[pos]]; c != clsDelim && c != clsLF && c != clsCR {
			return 0, 0, false, false
		}
	}
	content := buf[start:closing]
	if !needEsc && bytes.IndexByte(content, '\r') >= 0 {
		needEsc = true
	}
	if !utf8.Valid(content) {
		return 0, 0, false, false
	}
	return closing, pos, needEsc, true
}

// appendUnescaped appends quoted-field text with "" read as " and each CR LF or lone CR
// read as LF, as encoding/csv (after lineEndings) reads it.
func appendUnescaped(dst, s []byte) []byte {
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '"':
			dst = append(dst, '"')
			i++ // the second quote of the pair
		case '\r':
			if i+1 < len(s) && s[i+1] == '\n' {
				continue
			}
			dst = append(dst, '\n')
		default:
			dst = append(dst, c)
		}
	}
	return dst
}

// split cuts data[start:] into chunks that begin at record boundaries (see the file
// comment); the cuts depend only on the data and the chunk size.
func (r *parallelReader) split(start int, cfg parallelConfig) []chunk {
	data := r.data
	size := len(data) - start
	if size <= 0 {
		return nil
	}
	target := cfg.chunkSize
	if target <= 0 {
		target = min(maxChunkBytes, max(minChunkBytes, size/(4*cfg.nworkers())))
		if size < 2*minChunkBytes {
			target = size
		}
	}
	bounds := []int{start}
	inQuote := false // the quoting state at offset at
	at := start
	for x := start + target; x < len(data); x += target {
		inQuote = inQuote != (bytes.Count(data[at:x], []byte{'"'})%2 == 1)
		cut := recordEnd(data, x, inQuote)
		if cut < 0 || cut >= len(data) {
			break
		}
		bounds = append(bounds, cut)
		inQuote, at, x = false, cut, cut
	}
	bounds = append(bounds, len(data))
	chunks := make([]chunk, len(bounds)-1)
	for k := range chunks {
		chunks[k].start, chunks[k].end = bounds[k], bounds[k+1]
	}
	return chunks
}

// recordEnd returns the offset after the first line end (LF, CR or CR LF) at or after x
// that lies outside quotes, given the quoting state at x; -1 when there is none.
func recordEnd(data []byte, x int, inQuote bool) int {
	for i := x; i < len(data); i++ {
		switch data[i] {
		case '"':
			inQuote = !inQuote
		case '\n', '\r':
			if inQuote {
				continue
			}
			if data[i] == '\r' && i+1 < len(data) && data[i+1] == '\n' {
				return i + 2
			}
			return i + 1
		}
	}
	return -1
}

// lineEnds counts the line ends of b (LF, CR LF and lone CR), plus one when b does not
// end with one: no more records than that start in b.
func lineEnds(b []byte) int {
	n := bytes.Count(b, []byte{'\n'})
	if bytes.IndexByte(b, '\r') >= 0 {
		n += bytes.Count(b, []byte{'\r'}) - bytes.Count(b, []byte("\r\n"))
	}
	if len(b) > 0 && b[len(b)-1] != '\n' && b[len(b)-1] != '\r' {
		n++
	}
	return n
}

// estimateRowBytes samples the line length at the start of the data.
func (r *parallelReader) estimateRowBytes(start int) float64 {
	sample := r.data[start:min(len(r.data), start+64<<10)]
	lines := max(bytes.Count(sample, []byte{'\n'}), bytes.Count(sample, []byte{'\r'}))
	if lines == 0 {
		return float64(max(1, len(sample)))
	}
	return float64(len(sample)) / float64(lines)
}

// parse parses one chunk. With rescan it only collects the text spans of the rows a
// text column lacks (below its promo row).
func (r *parallelReader) parse(ch *chunk, rescan bool) bool {
	buf := r.data[ch.start:ch.end]
	n := len(buf)
	if n > maxSpanOffset {
		return false
	}
	ncols := r.ncols
	if !rescan {
		est := min(ch.bound, int(float64(n)/r.rowBytes*1.05)+16)
		ch.cols = make([]chunkCol, ncols)
		for j := range ch.cols {
			c := &ch.cols[j]
			c.firstFloat = -1
			if r.declared[j] && r.kinds[j] == dataset.String {
				c.mode = modeText
				c.ends = make([]uint32, 0, est)
				c.text = make([]byte, 0, n/ncols+16) // the column's share of the chunk; append grows it
				continue
			}
			c.vals = r.colVals[j][ch.upper : ch.upper : ch.upper+ch.bound]
			if r.declared[j] && r.kinds[j] == dataset.Float {
				c.mode, c.firstFloat = modeFloat, 0
			}
		}
	}
	cols := ch.cols
	cls := &r.cls
	delim := r.delim
	highBytes := false
	pos, row := 0, 0
	for pos < n {
		if b := buf[pos]; b == '\n' || b == '\r' { // a blank line
			pos++
			continue
		}
		if rescan && row >= ch.rescanTo {
			break
		}
		if row >= ch.bound {
			return false // cannot happen: each record but the last ends at a line end
		}
		j := 0
		for {
			var v []byte
			var sp span
			if pos < n && buf[pos] == '"' {
				start := pos + 1
				q, next, needEsc, ok := r.quoted(buf, pos)
				if !ok {
					return false
				}
				if needEsc {
					e := len(ch.esc)
					ch.esc = appendUnescaped(ch.esc, buf[start:q])
					if len(ch.esc) > maxSpanOffset {
						return false
					}
					v, sp = ch.esc[e:], mkSpan(e, len(ch.esc))|spanEsc
				} else {
					v, sp = buf[start:q], mkSpan(start, q)
				}
				pos = next
			} else if j < ncols && !rescan && cols[j].mode != modeText && pos < n && !r.na.first[buf[pos]] && r.numberAt(&cols[j], j, row, buf, pos) {
				// A number ending at a delimiter or line end: converted in the same pass.
				pos = cols[j].end
				j++
				if pos >= n {
					break
				}
				var more bool
				if pos, more = stepField(buf, pos, delim); more {
					continue
				}
				break
			} else {
				start := pos
			scan:
				for pos < n {
					switch cls[buf[pos]] {
					case clsPlain:
						pos++
					case clsHigh:
						highBytes = true
						pos++
					default:
						break scan
					}
				}
				if pos < n && buf[pos] == '"' {
					return false // a bare quote
				}
				v, sp = buf[start:pos], mkSpan(start, pos)
			}
			if j >= ncols {
				return false // too many fields
			}
			c := &cols[j]
			switch {
			case rescan:
				if row < c.promo {
					c.prefix = append(c.prefix, sp)
				}
			case c.mode == modeText:
				c.text = append(c.text, v...)
				c.ends = append(c.ends, uint32(len(c.text)))
			default:
				if !r.number(ch, c, j, row, v, sp, n) {
					return false
				}
			}
			j++
			if pos >= n {
				break
			}
			var more bool
			if pos, more = stepField(buf, pos, delim); more {
				continue
			}
			break
		}
		if j != ncols {
			return false // too few fields
		}
		row++
	}
	if rescan {
		return true
	}
	if highBytes && !utf8.Valid(buf) {
		return false
	}
	ch.rows = row
	return true
}

// numberAt reads a number that starts at buf[pos] and ends at a delimiter, a line end or
// the end of buf, into a numeric-mode column (setting c.end to its end). It handles the
// forms parseFloatFast does, as number would convert them; false leaves everything else
// (spaces, quotes, NA tokens, other spellings, a declared int given a float) to the field
// scan and number.
func (r *parallelReader) numberAt(c *chunkCol, j, row int, buf []byte, pos int) bool {
	n := len(buf)
	if c.mode == modeInt {
		x, end, ok := scanInt(buf, pos)
		if end == n || r.cls[buf[end]] == clsDelim || r.cls[buf[end]] == clsLF || r.cls[buf[end]] == clsCR {
			if !ok { // no digits, or too many to be sure of: number and strconv decide
				return false
			}
			if x == 0 && buf[pos] == '-' {
				c.negZero = append(c.negZero, int32(row))
			}
			c.vals = append(c.vals, uint64(x))
			c.valid()
			c.end = end
			return true
		}
	}
	f, end, ok := scanFloat(buf, pos)
	if !ok || (end < n && r.cls[buf[end]] != clsDelim && r.cls[buf[end]] != clsLF && r.cls[buf[end]] != clsCR) {
		return false
	}
	if c.mode == modeInt {
		if r.declared[j] {
			return false
		}
		c.widen(row)
	}
	c.vals = append(c.vals, math.Float64bits(f))
	c.valid()
	c.end = end
	return true
}

// widen turns an integer column into a float one from row on.
func (c *chunkCol) widen(row int) {
	for i, u := range c.vals {
		c.vals[i] = math.Float64bits(float64(int64(u)))
	}
	c.mode, c.firstFloat = modeFloat, int32(row)
}

// number converts one cell of a numeric-mode column, widening the column as buildColumn
// does; false when a declared type does not fit.
func (r *parallelReader) number(ch *chunk, c *chunkCol, j, row int, v []byte, sp span, chunkLen int) bool {
	t := v
	if len(t) > 0 && (t[0] <= ' ' || t[len(t)-1] <= ' ') {
		t = trimBytes(t)
	}
	if len(t) == 0 || r.na.hasBytes(t) {
		c.miss(row, sp)
		return true
	}
	if c.mode == modeInt {
		if x, ok := parseIntFast(t); ok {
			if x == 0 && t[0] == '-' {
				c.negZero = append(c.negZero, int32(row))
			}
			c.vals = append(c.vals, uint64(x))
			c.valid()
			return true
		}
	}
	x, ok := parseFloatFast(t)
	var err error
	if !ok {
		x, err = strconv.ParseFloat(unsafe.String(&t[0], len(t)), 64)
	}
	if err == nil && x != x { // "nan" and friends are missing, as in pandas
		c.miss(row, sp)
		return true
	}
	if (err != nil || c.mode == modeInt) && r.declared[j] {
		return false
	}
	if err == nil {
		if c.mode == modeInt {
			c.widen(row)
		}
		c.vals = append(c.vals, math.Float64bits(x))
		c.valid()
		return true
	}
	// Text from this row on.
	c.mode, c.promo = modeText, row
	rest := min(int(float64(chunkLen)/r.rowBytes*1.05)+16, chunkLen) - row
	c.ends = make([]uint32, 0, max(rest, 16))
	c.text = make([]byte, 0, chunkLen/r.ncols+16)
	if c.nvalid == 0 { // every earlier row was missing: their text is at hand
		c.promo = 0
		for _, sp := range c.missed {
			c.addText(ch.cell(r.data, sp))
		}
	}
	c.addText(v)
	c.vals, c.missing, c.negZero, c.missed = nil, nil, nil, nil
	return true
}

// addText appends a text cell.
func (c *chunkCol) addText(v []byte) {
	c.text = append(c.text, v...)
	c.ends = append(c.ends, uint32(len(c.text)))
}

// cell is the text a span locates in this chunk.
func (ch *chunk) cell(data []byte, sp span) []byte {
	start, end := int(sp>>32&0x7fffffff), int(sp&0x7fffffff)
	if sp&spanEsc != 0 {
		return ch.esc[start:end]
	}
	return data[ch.start+start : ch.start+end]
}

func (c *chunkCol) miss(row int, sp span) {
	c.vals = append(c.vals, 0)
	c.missing = append(c.missing, int32(row))
	if c.nvalid == 0 {
		c.missed = append(c.missed, sp)
	}
}

// valid counts a value (missed stops growing: miss appends only before the first).
func (c *chunkCol) valid() { c.nvalid++ }

// mergedKind is column j's kind over all chunks: declared, or the widest chunk kind, and
// float when no chunk held a value (an all-missing column, like pandas).
func (r *parallelReader) mergedKind(chunks []chunk, j int) dataset.Kind {
	if r.declared[j] {
		return r.kinds[j]
	}
	kind, nvalid := dataset.Int, 0
	for k := range chunks {
		c := &chunks[k].cols[j]
		nvalid += c.nvalid
		switch c.mode {
		case modeText:
			return dataset.String
		case modeFloat:
			kind = dataset.Float
		}
	}
	if nvalid == 0 {
		return dataset.Float
	}
	return kind
}

// build assembles column j from its chunks.
func (r *parallelReader) build(name string, kind dataset.Kind, chunks []chunk, offsets []int, nrows, j int) *dataset.Column {
	c := &dataset.Column{Name: name, Kind: kind}
	if kind == dataset.String {
		c.S, c.Valid = r.buildText(chunks, nrows, j)
		return c
	}
	out := r.colVals[j][:nrows:nrows]
	if nrows == 0 {
		out = []uint64{}
	}
	switch kind {
	case dataset.Int:
		c.I = unsafe.Slice((*int64)(unsafe.Pointer(unsafe.SliceData(out))), nrows)
	default:
		c.F = unsafe.Slice((*float64)(unsafe.Pointer(unsafe.SliceData(out))), nrows)
	}
	// The first row read as a float: a "-0" after it is -0.0, as the sequential reader,
	// already in float mode there, parses it.
	firstFloat := nrows
	for k := range chunks {
		if ff := chunks[k].cols[j].firstFloat; ff >= 0 {
			firstFloat = min(firstFloat, offsets[k]+int(ff))
			break
		}
	}
	nmissing := 0
	for k := range chunks {
		cc := &chunks[k].cols[j]
		dst := out[offsets[k] : offsets[k]+chunks[k].rows]
		if kind == dataset.Float && cc.mode == modeInt {
			for i, u := range dst {
				dst[i] = math.Float64bits(float64(int64(u)))
			}
		}
		if kind == dataset.Float {
			for _, row := range cc.negZero {
				if offsets[k]+int(row) > firstFloat {
					dst[row] = math.Float64bits(math.Copysign(0, -1))
				}
			}
		}
		nmissing += len(cc.missing)
	}
	if nmissing > 0 {
		c.Valid = make([]bool, nrows)
		for i := range c.Valid {
			c.Valid[i] = true
		}
		for k := range chunks {
			for _, row := range chunks[k].cols[j].missing {
				c.Valid[offsets[k]+int(row)] = false
			}
		}
	}
	return c
}

// buildText assembles a text column: one byte buffer holds all its cells, each string a
// piece of it; a cell that is a missing-value token is missing.
func (r *parallelReader) buildText(chunks []chunk, nrows, j int) ([]string, []bool) {
	total := 0
	for k := range chunks {
		cc := &chunks[k].cols[j]
		for _, sp := range cc.prefix {
			total += int(sp&0x7fffffff) - int(sp>>32&0x7fffffff)
		}
		total += len(cc.text)
	}
	buf := make([]byte, 0, total)
	out := make([]string, nrows)
	var valid []bool
	row := 0
	na := r.na
	add := func(v []byte) {
		t := v
		if len(t) > 0 && (t[0] <= ' ' || t[len(t)-1] <= ' ') {
			t = trimBytes(t)
		}
		if (len(t) == 0 && na.tokens[""]) || (len(t) > 0 && na.first[t[0]] && na.hasBytes(t)) {
			if valid == nil {
				valid = make([]bool, nrows)
				for i := range row {
					valid[i] = true
				}
			}
			valid[row] = false
			row++
			return
		}
		if len(v) > 0 {
			at := len(buf)
			buf = append(buf, v...)
			out[row] = unsafe.String(&buf[at], len(v))
		}
		if valid != nil {
			valid[row] = true
		}
		row++
	}
	for k := range chunks {
		ch := &chunks[k]
		cc := &ch.cols[j]
		for _, sp := range cc.prefix { // rare: rows a rescan found
			add(ch.cell(r.data, sp))
		}
		start := uint32(0)
		for _, end := range cc.ends {
			add(cc.text[start:end])
			start = end
		}
		cc.text, cc.ends = nil, nil
	}
	return out, valid
}

// hasBytes is has for a byte slice.
func (s *naSet) hasBytes(v []byte) bool {
	if len(v) == 0 {
		return s.tokens[""]
	}
	if !s.first[v[0]] || len(v) > s.maxLen {
		return false
	}
	return s.tokens[string(v)]
}

// trimBytes is trim for a byte slice.
func trimBytes(s []byte) []byte {
	if len(s) > 0 && (s[0] == ' ' || s[len(s)-1] == ' ' || s[0] == '\t' || s[len(s)-1] == '\t') {
		return bytes.TrimSpace(s)
	}
	return s
}

// parseIntFast is strconv.ParseInt(s, 10, 64) on bytes: ok exactly when that succeeds.
func parseIntFast(s []byte) (int64, bool) {
	x, end, ok := scanInt(s, 0)
	if !ok && end == len(s) && len(s) > 18 { // too many digits to be sure: strconv decides
		x, err := strconv.ParseInt(unsafe.String(&s[0], len(s)), 10, 64)
		return x, err == nil
	}
	return x, ok && end == len(s)
}

// scanInt reads [sign] digits at buf[pos:] up to the first other byte (end). ok is false
// without digits or with more than 18 (which might overflow).
func scanInt(buf []byte, pos int) (x int64, end int, ok bool) {
	i, n := pos, len(buf)
	neg := false
	if i < n && (buf[i] == '+' || buf[i] == '-') {
		neg = buf[i] == '-'
		i++
	}
	mant, end, digits := readDigits(buf, i, 0)
	if digits == 0 || digits > 18 {
		return 0, end, false
	}
	x = int64(mant)
	if neg {
		x = -x
	}
	return x, end, true
}

var exactPow10 = [...]float64{1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11,
	1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22}

var pow10u64 = [...]uint64{1, 10, 100, 1000, 10000, 100000, 1000000, 10000000, 100000000}

// readDigits reads the decimal digits at buf[i:] into mant (mant*10^k + their value) and
// returns it, the offset after them and their count k. Eight bytes at a time where eight
// are left (SWAR: one test finds how many lead, three multiplications add them up), so
// a number costs no branch per digit. More than 19 digits overflow mant; callers refuse
// those.
func readDigits(buf []byte, i int, mant uint64) (uint64, int, int) {
	n := len(buf)
	k := 0
	for i+8 <= n {
		x := binary.LittleEndian.Uint64(buf[i:])
		m := nonDigits(x)
		if m == 0 {
			return mant, i, k
		}
		mant = mant*pow10u64[m] + digitsValue(x, m)
		i += m
		k += m
		if m < 8 {
			return mant, i, k
		}
	}
	for ; i < n; i++ {
		d := buf[i] - '0'
		if d > 9 {
			break
		}
		mant = mant*10 + uint64(d)
		k++
	}
	return mant, i, k
}

// nonDigits is the index of the first byte of x (from the lowest) that is not an ASCII
// digit, 8 if all are. A digit has high nibble 3 and a low nibble below 10 (adding 6
// keeps the high nibble 3); carries come only from bytes after the first non-digit.
func nonDigits(x uint64) int {
	nd := (x&0xF0F0F0F0F0F0F0F0 ^ 0x3030303030303030) | ((x+0x0606060606060606)&0xF0F0F0F0F0F0F0F0 ^ 0x3030303030303030)
	if nd == 0 {
		return 8
	}
	return bits.TrailingZeros64(nd) >> 3
}

// digitsValue is the value of the first m (1..8) bytes of x, all digits, the first in
// the lowest byte: moved up so the bytes below are leading zeros, then summed in pairs,
// quads and the whole with three multiplications.
func digitsValue(x uint64, m int) uint64 {
	v := (x - 0x3030303030303030) << (64 - 8*m)
	v = v*10 + v>>8
	return ((v&0x000000FF000000FF)*(100+1000000<<32) + (v>>16&0x000000FF000000FF)*(1+10000<<32)) >> 32
}

// parseFloatFast parses the common decimal forms ([sign] digits [. digits] [e [sign]
// digits], at most 19 digits, a mantissa up to 2^53 and a power of ten up to 22) with one
// exact multiplication or division (Clinger's fast path, which strconv also takes), so the
// result is strconv.ParseFloat's bit for bit. ok is false for every other input, which the
// caller gives to strconv.
func parseFloatFast(s []byte) (float64, bool) {
	f, end, ok := scanFloat(s, 0)
	return f, ok && end == len(s)
}

// scanFloat reads the number parseFloatFast takes at buf[pos:], stopping at the first byte
// that does not continue it (end); ok is false where the number is not in that form.
func scanFloat(buf []byte, pos int) (f float64, end int, ok bool) {
	i, n := pos, len(buf)
	neg := false
	if i < n {
		c := buf[i]
		neg = c == '-'
		if c == '-' || c == '+' {
			i++
		}
	}
	var mant uint64
	var digits, exp int
	if i+8 <= n {
		// One load for the common short forms: up to 7 digits around a '.', squeezed out.
		x := binary.LittleEndian.Uint64(buf[i:])
		m := nonDigits(x)
		if m < 8 && buf[i+m] == '.' {
			low := uint64(1)<<(8*m) - 1
			y := x&low | x>>8&^low // the top byte is 0: not a digit
			if m2 := nonDigits(y); m2 < 7 {
				mant, digits, exp = digitsValue(y, m2), m2, m-m2
				i += m2 + 1
				goto exponent
			}
		} else if m < 8 {
			mant, digits = digitsValue(x, m), m
			i += m
			goto exponent
		}
	}
	mant, i, digits = readDigits(buf, i, 0)
	if i < n && buf[i] == '.' {
		var frac int
		mant, i, frac = readDigits(buf, i+1, mant)
		digits += frac
		exp = -frac
	}
exponent:
	if digits == 0 || digits > 19 {
		return 0, i, false
	}
	if i < n && (buf[i] == 'e' || buf[i] == 'E') {
		i++
		eneg := false
		if i < n && (buf[i] == '+' || buf[i] == '-') {
			eneg = buf[i] == '-'
			i++
		}
		e, ed := 0, 0
		for ; i < n; i++ {
			d := buf[i] - '0'
			if d > 9 {
				break
			}
			e = e*10 + int(d)
			ed++
		}
		if ed == 0 || ed > 4 {
			return 0, i, false
		}
		if eneg {
			e = -e
		}
		exp += e
	}
	switch {
	case mant == 0:
		f = 0
	case mant > 1<<53 || exp > 22 || exp < -22:
		return 0, i, false
	case exp >= 0:
		f = float64(int64(mant)) * exactPow10[exp] // int64: mant <= 2^53, one instruction
	default:
		f = float64(int64(mant)) / exactPow10[-exp]
	}
	if neg {
		f = -f
	}
	return f, i, true
}

// readAll reads r to the end into a buffer of about hint bytes.
func readAll(r io.Reader, hint int) ([]byte, error) {
	buf := make([]byte, 0, max(hint, 512)+1) // +1: reaching EOF needs no second allocation
	for {
		n, err := r.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if err == io.EOF {
			return buf, nil
		}
		if err != nil {
			return buf, err
		}
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
	}
}

// sizeHint is the bytes left in r when r is a file or an in-memory reader.
func sizeHint(r io.Reader) int {
	switch r := r.(type) {
	case *os.File:
		st, err := r.Stat()
		if err != nil || !st.Mode().IsRegular() {
			return 0
		}
		off, err := r.Seek(0, io.SeekCurrent)
		if err != nil {
			return 0
		}
		return int(max(0, st.Size()-off))
	case interface{ Len() int }: // bytes.Reader, strings.Reader, bytes.Buffer
		return r.Len()
	}
	return 0
}

// gzipSizeHint is the uncompressed size a gzip member's trailer claims, bounded by what
// deflate can expand the file to (about 1032:1) and by 1 GiB: a hint, never trusted.
func gzipSizeHint(gz []byte) int {
	if len(gz) < 18 {
		return 0
	}
	claimed := int(binary.LittleEndian.Uint32(gz[len(gz)-4:]))
	return min(claimed, 1032*len(gz), 1<<30)
}

// errReader returns err: the rest of a stream whose read failed.
type errReader struct{ err error }

func (e errReader) Read([]byte) (int, error) { return 0, e.err }

// stepField steps over the byte at buf[pos] that ends a field: a delimiter (another field of
// the record follows: more) or a line end (\n, \r, or \r\n taken as one).
func stepField(buf []byte, pos int, delim byte) (next int, more bool) {
	b := buf[pos]
	pos++
	if b == delim {
		return pos, true
	}
	if b == '\r' && pos < len(buf) && buf[pos] == '\n' {
		pos++
	}
	return pos, false
}
