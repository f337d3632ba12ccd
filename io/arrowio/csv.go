// Package arrowio reads and writes tables — CSV/TSV, Parquet and Arrow IPC (Feather v2) —
// as dataset.Frame values. It knows nothing of pipelines: every reader is usable alone.
//
// CSV column types are inferred from every value of a column (int if all parse as integers,
// else float if all parse as numbers, else string), never from a single row, or taken from
// declared types. A malformed row is an error naming
// the file and line, unless bad rows are skipped and counted.
package arrowio

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"runtime"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"sync"
	"unicode/utf8"
	"unsafe"

	"github.com/biopipe/biopipe/dataset"
)

// DefaultNAValues are the cell values read as missing when CSVOptions.NAValues is nil.
// Matching is exact after trimming surrounding spaces.
var DefaultNAValues = []string{"", "NA", "N/A", "NaN", "?", "null"}

// MaxBadLines is how many line numbers of skipped rows ReadInfo keeps.
const MaxBadLines = 20

// CSVOptions controls how a delimited text file is read. The zero value reads a
// comma-separated file (tab-separated for .tsv/.tab names) with a header row.
type CSVOptions struct {
	// Delimiter separates fields; 0 picks tab for .tsv/.tab files, comma for .csv, and
	// sniffs the first line (tab, comma, semicolon, pipe) otherwise.
	Delimiter rune
	// NoHeader: the first row is data; columns are named col1, col2, ...
	NoHeader bool
	// NAValues are the cell values read as missing; nil means DefaultNAValues. Give an
	// empty, non-nil slice to treat nothing as missing (empty cells stay "" in text columns
	// and are missing in numeric ones).
	NAValues []string
	// Types declares column types by name (dataset.Int, Float or String); a declared
	// column whose value does not parse is an error naming file, line and column.
	Types map[string]dataset.Kind
	// AllText reads every column not named in Types as text, exactly as written (ids such
	// as "007" keep their zeros).
	AllText bool
	// SkipBadRows skips rows with the wrong number of fields (or broken quoting) and
	// counts them in ReadInfo instead of failing.
	SkipBadRows bool
	// LazyQuotes accepts a quote appearing in an unquoted field and a non-doubled quote
	// in a quoted field.
	LazyQuotes bool
	// Comment, when not 0, starts a comment line that is skipped.
	Comment rune
}

// ReadInfo reports what a read did beyond the frame itself.
type ReadInfo struct {
	Format   string   `json:"format"`            // csv, tsv, parquet, arrow
	Rows     int      `json:"rows"`              // data rows read
	BadRows  int      `json:"bad_rows"`          // rows skipped (SkipBadRows)
	BadLines []int    `json:"bad_lines"`         // line numbers of the first MaxBadLines skipped rows
	Renamed  []string `json:"renamed,omitempty"` // header names changed to be unique / non-empty ("old -> new")
}

// ParseKind converts a type name used in configs (int, integer, int64, float, double,
// float64, number, string, str, text, category) to a column kind.
func ParseKind(name string) (dataset.Kind, error) {
	switch strings.ToLower(strings.TrimSpace(name)) {
	case "int", "integer", "int64", "int32":
		return dataset.Int, nil
	case "float", "double", "float64", "float32", "number", "numeric":
		return dataset.Float, nil
	case "string", "str", "text", "category", "categorical":
		return dataset.String, nil
	}
	return 0, fmt.Errorf("unknown column type %q (want int, float or string)", name)
}

// ReadCSV reads a delimited text file (optionally gzip-compressed) into a frame. A large
// regular file is memory-mapped rather than copied; if it shrinks while it is read, the
// result is an error naming it.
func ReadCSV(path string, opts CSVOptions) (*dataset.Frame, *ReadInfo, error) {
	fh, err := os.Open(path)
	if err != nil {
		return nil, nil, err
	}
	defer fh.Close()
	if opts.Delimiter == 0 {
		opts.Delimiter = delimiterFor(path)
	}
	data, unmap := mapFile(fh)
	if data == nil {
		return DecodeCSV(fh, path, opts)
	}
	defer unmap()
	return decodeMapped(data, path, opts, parallelConfig{})
}

// decodeMapped reads a memory-mapped file. Reading a page of a file truncated since it was
// mapped faults; with PanicOnFault that is a panic (here and in the parallel reader's
// workers, which pass it on) that becomes an error instead of a crash. Nothing read keeps
// a reference to the mapping.
func decodeMapped(data []byte, path string, opts CSVOptions, cfg parallelConfig) (f *dataset.Frame, info *ReadInfo, err error) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if p := recover(); p != nil {
			if fault, ok := p.(interface{ Addr() uintptr }); ok {
				f, info, err = nil, nil, fmt.Errorf("%s: the file changed while it was read (%v)", path, fault)
				return
			}
			panic(p)
		}
	}()
	return decodeCSVData(data, path, opts, cfg)
}

func delimiterFor(path string) rune {
	p := strings.TrimSuffix(strings.ToLower(path), ".gz")
	switch {
	case strings.HasSuffix(p, ".tsv"), strings.HasSuffix(p, ".tab"):
		return '\t'
	case strings.HasSuffix(p, ".csv"):
		return ','
	}
	return 0 // sniff
}

// sniff picks the delimiter that occurs most often in the first line.
func sniff(head []byte) rune {
	if i := bytes.IndexByte(head, '\n'); i >= 0 {
		head = head[:i]
	}
	best, n := ',', 0
	for _, d := range []rune{'\t', ',', ';', '|'} {
		if c := bytes.Count(head, []byte(string(d))); c > n {
			best, n = d, c
		}
	}
	return best
}

// DecodeCSV reads delimited text from r; name is used in error messages and to recognise
// compression. Gzip input is detected by its magic bytes; a UTF-8 byte-order mark is skipped.
//
// The input is read into memory and parsed in parallel chunks (see parallelDecode); options
// the parallel reader does not handle (LazyQuotes, Comment, a multi-byte delimiter), and any
// input it declines (a malformed row, invalid UTF-8, a declared type that does not fit), are
// read by the sequential reader, so results and error messages are the same either way.
func DecodeCSV(r io.Reader, name string, opts CSVOptions) (*dataset.Frame, *ReadInfo, error) {
	return decodeCSV(r, name, opts, parallelConfig{})
}

func decodeCSV(r io.Reader, name string, opts CSVOptions, cfg parallelConfig) (*dataset.Frame, *ReadInfo, error) {
	data, err := readAll(r, sizeHint(r))
	if err != nil {
		// The sequential reader meets the same bytes and then the same error.
		return decodeSequential(io.MultiReader(bytes.NewReader(data), errReader{err}), name, opts)
	}
	return decodeCSVData(data, name, opts, cfg)
}

// decodeCSVData reads the whole input (maybe gzip-compressed), in parallel where it can.
func decodeCSVData(data []byte, name string, opts CSVOptions, cfg parallelConfig) (*dataset.Frame, *ReadInfo, error) {
	if len(data) >= 2 && data[0] == 0x1f && data[1] == 0x8b {
		zr, err := gzip.NewReader(bytes.NewReader(data))
		if err != nil {
			return nil, nil, fmt.Errorf("%s: gzip: %w", name, err)
		}
		plain, err := readAll(zr, gzipSizeHint(data))
		zr.Close()
		if err != nil {
			return decodeText(bufio.NewReaderSize(io.MultiReader(bytes.NewReader(plain), errReader{err}), 1<<16), name, opts)
		}
		data = plain
	}
	data = bytes.TrimPrefix(data, []byte{0xEF, 0xBB, 0xBF})
	if opts.Delimiter == 0 {
		opts.Delimiter = sniff(data[:min(len(data), 4096)])
	}
	if f, info, ok := parallelDecode(data, opts, cfg); ok {
		return f, info, nil
	}
	return decodeRecords(bufio.NewReaderSize(bytes.NewReader(data), 1<<16), name, opts)
}

// decodeSequential is the streaming reader (encoding/csv, one record at a time): the
// reference the parallel reader is tested against, and the reader of every input the
// parallel one declines.
func decodeSequential(r io.Reader, name string, opts CSVOptions) (*dataset.Frame, *ReadInfo, error) {
	br := bufio.NewReaderSize(r, 1<<16)
	if magic, _ := br.Peek(2); len(magic) == 2 && magic[0] == 0x1f && magic[1] == 0x8b {
		zr, err := gzip.NewReader(br)
		if err != nil {
			return nil, nil, fmt.Errorf("%s: gzip: %w", name, err)
		}
		defer zr.Close()
		br = bufio.NewReaderSize(zr, 1<<16)
	}
	return decodeText(br, name, opts)
}

// decodeText skips a byte-order mark, sniffs the delimiter if none is set, and reads the
// records sequentially.
func decodeText(br *bufio.Reader, name string, opts CSVOptions) (*dataset.Frame, *ReadInfo, error) {
	if bom, _ := br.Peek(3); bytes.Equal(bom, []byte{0xEF, 0xBB, 0xBF}) {
		_, _ = br.Discard(3)
	}
	if opts.Delimiter == 0 {
		head, _ := br.Peek(4096)
		opts.Delimiter = sniff(head)
	}
	return decodeRecords(br, name, opts)
}

// decodeRecords reads the records of br (no byte-order mark, delimiter set) one by one
// with encoding/csv.
func decodeRecords(br *bufio.Reader, name string, opts CSVOptions) (*dataset.Frame, *ReadInfo, error) {
	info := &ReadInfo{Format: "csv"}
	if opts.Delimiter == '\t' {
		info.Format = "tsv"
	}
	cr := csv.NewReader(&lineEndings{r: br})
	cr.Comma = opts.Delimiter
	cr.Comment = opts.Comment
	cr.LazyQuotes = opts.LazyQuotes
	cr.FieldsPerRecord = -1
	cr.ReuseRecord = true

	var names []string
	var cols []colBuf
	var lines []int
	ncols := -1
	for {
		rec, err := cr.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			var pe *csv.ParseError
			if errors.As(err, &pe) && opts.SkipBadRows && ncols >= 0 {
				info.skip(pe.StartLine)
				continue
			}
			return nil, nil, fmt.Errorf("%s: %w", name, err)
		}
		line, _ := cr.FieldPos(0)
		if ncols < 0 {
			ncols = len(rec)
			cols = make([]colBuf, ncols)
			if !opts.NoHeader {
				names = slices.Clone(rec)
				continue
			}
		}
		if len(rec) != ncols {
			if opts.SkipBadRows {
				info.skip(line)
				continue
			}
			return nil, nil, fmt.Errorf("%s:%d: row has %d fields, want %d (as in the %s)", name, line, len(rec), ncols,
				map[bool]string{true: "first row", false: "header"}[opts.NoHeader])
		}
		for i, v := range rec {
			if !utf8.ValidString(v) {
				return nil, nil, fmt.Errorf("%s:%d: column %d: %s", name, line, i+1, invalidUTF8(v))
			}
			if !cols[i].add(v) {
				return nil, nil, fmt.Errorf("%s:%d: column %d holds more than %d bytes of text", name, line, i+1, maxColumnBytes)
			}
		}
		lines = append(lines, line)
	}
	if ncols < 0 {
		return nil, nil, fmt.Errorf("%s: empty file (no header or rows)", name)
	}
	if opts.NoHeader {
		names = make([]string, ncols)
		for i := range names {
			names[i] = "col" + strconv.Itoa(i+1)
		}
	}
	names, info.Renamed = uniqueNames(names)
	for col := range opts.Types {
		if !slices.Contains(names, col) {
			return nil, nil, fmt.Errorf("%s: declared type for column %q, which the file does not have (columns: %s)", name, col, strings.Join(names, ", "))
		}
	}
	info.Rows = len(lines)

	na := opts.NAValues
	if na == nil {
		na = DefaultNAValues
	}
	naSet := newNASet(na)
	f := dataset.New()
	f.Columns = make([]*dataset.Column, ncols)
	errs := make([]error, ncols)
	var wg sync.WaitGroup
	sem := make(chan struct{}, runtime.GOMAXPROCS(0))
	for i := range ncols {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			kind, declared := opts.Types[names[i]]
			if !declared && opts.AllText {
				kind, declared = dataset.String, true
			}
			f.Columns[i], errs[i] = buildColumn(names[i], &cols[i], naSet, kind, declared)
			cols[i] = colBuf{}
		}()
	}
	wg.Wait()
	for i, err := range errs {
		var ce *cellError
		if errors.As(err, &ce) {
			return nil, nil, fmt.Errorf("%s:%d: column %q: %w", name, lines[ce.row], names[i], ce.err)
		}
		if err != nil {
			return nil, nil, fmt.Errorf("%s: column %q: %w", name, names[i], err)
		}
	}
	return f, info, nil
}

func (info *ReadInfo) skip(line int) {
	info.BadRows++
	if len(info.BadLines) < MaxBadLines {
		info.BadLines = append(info.BadLines, line)
	}
}

// uniqueNames makes header names non-empty and unique the way pandas does (x, x.1, x.2).
func uniqueNames(names []string) ([]string, []string) {
	var renamed []string
	seen := map[string]bool{}
	out := make([]string, len(names))
	for i, n := range names {
		orig := n
		n = strings.TrimSpace(n)
		if n == "" {
			n = "col" + strconv.Itoa(i+1)
		}
		if seen[n] {
			base := n
			for k := 1; seen[n]; k++ {
				n = base + "." + strconv.Itoa(k)
			}
		}
		seen[n] = true
		if n != orig {
			renamed = append(renamed, fmt.Sprintf("%q -> %q", orig, n))
		}
		out[i] = n
	}
	return out, renamed
}

type cellError struct {
	row int
	err error
}

func (e *cellError) Error() string { return e.err.Error() }

// colBuf holds the raw cells of one column in one byte buffer (no per-cell pointers for
// the garbage collector to scan).
type colBuf struct {
	data []byte
	end  []uint32
}

// invalidUTF8 describes the first invalid byte of s: Arrow text is UTF-8, so a file in
// another encoding is an error with the fix, not mojibake in an artifact.
func invalidUTF8(s string) string {
	for i, r := range s {
		if r == utf8.RuneError {
			if _, n := utf8.DecodeRuneInString(s[i:]); n == 1 {
				return fmt.Sprintf("invalid UTF-8 byte 0x%02x at byte %d of the field: the file is not UTF-8 (convert it, e.g. iconv -f latin1 -t utf-8)", s[i], i+1)
			}
		}
	}
	return "invalid UTF-8"
}

// lineEndings turns a lone carriage return (old Mac line ending, or a file whose lines were
// joined from several systems) into a newline, as Python's csv module reads it; CR LF
// stays, and encoding/csv drops its CR.
type lineEndings struct{ r *bufio.Reader }

func (l *lineEndings) Read(p []byte) (int, error) {
	n, err := l.r.Read(p)
	for i := range n {
		if p[i] != '\r' {
			continue
		}
		if i+1 < n {
			if p[i+1] != '\n' {
				p[i] = '\n'
			}
			continue
		}
		// a CR ending the chunk: look at the next byte
		if next, e := l.r.Peek(1); e != nil || next[0] != '\n' {
			p[i] = '\n'
		}
	}
	return n, err
}

// maxColumnBytes is the most text one column may hold (offsets are 32-bit).
const maxColumnBytes = math.MaxUint32

func (b *colBuf) add(v string) bool {
	if len(b.data)+len(v) > maxColumnBytes {
		return false
	}
	b.data = append(b.data, v...)
	b.end = append(b.end, uint32(len(b.data)))
	return true
}

func (b *colBuf) len() int { return len(b.end) }

// cell returns cell i as a string sharing the buffer (valid while the buffer lives).
func (b *colBuf) cell(i int) string {
	start := 0
	if i > 0 {
		start = int(b.end[i-1])
	}
	end := int(b.end[i])
	if start == end {
		return ""
	}
	return unsafe.String(&b.data[start], end-start)
}

// naSet matches missing-value tokens, with a fast reject on the first byte.
type naSet struct {
	tokens map[string]bool
	first  [256]bool
	maxLen int
}

func newNASet(tokens []string) *naSet {
	s := &naSet{tokens: map[string]bool{}}
	for _, t := range tokens {
		t = strings.TrimSpace(t)
		s.tokens[t] = true
		if t != "" {
			s.first[t[0]] = true
		}
		s.maxLen = max(s.maxLen, len(t))
	}
	return s
}

// has reports whether the (trimmed) cell is a missing-value token; "" only
// when "" is a token.
func (s *naSet) has(v string) bool {
	if v == "" {
		return s.tokens[""]
	}
	if !s.first[v[0]] || len(v) > s.maxLen {
		return false
	}
	return s.tokens[v]
}

func trim(s string) string {
	if len(s) > 0 && (s[0] == ' ' || s[len(s)-1] == ' ' || s[0] == '\t' || s[len(s)-1] == '\t') {
		return strings.TrimSpace(s)
	}
	return s
}

// buildColumn converts the raw cells. A declared kind must fit every value. Otherwise the
// column starts as int and widens in one pass (int -> float -> string) at the first value
// that does not fit, so its kind is the narrowest that holds every non-missing value; an
// all-missing column is float (like pandas). In numeric columns an empty cell and a NaN
// spelling ("nan") are always missing.
func buildColumn(name string, b *colBuf, na *naSet, kind dataset.Kind, declared bool) (*dataset.Column, error) {
	n := b.len()
	if !declared {
		kind = dataset.Int
	}
	var valid []bool
	setMissing := func(i int) {
		if valid == nil {
			valid = make([]bool, n)
			for j := range i {
				valid[j] = true
			}
		}
		valid[i] = false
	}
	setValid := func(i int) {
		if valid != nil {
			valid[i] = true
		}
	}
	var ints []int64
	var floats []float64
	if kind == dataset.Int {
		ints = make([]int64, n)
	} else if kind == dataset.Float {
		floats = make([]float64, n)
	}
	nvalid := 0
	i := 0
numeric:
	for ; i < n && kind != dataset.String; i++ {
		v := trim(b.cell(i))
		if v == "" || na.has(v) {
			setMissing(i)
			continue
		}
		if kind == dataset.Int {
			if x, err := strconv.ParseInt(v, 10, 64); err == nil {
				ints[i] = x
				nvalid++
				setValid(i)
				continue
			}
		}
		x, err := strconv.ParseFloat(v, 64)
		if err == nil && x != x { // "nan" and friends are missing, as in pandas
			setMissing(i)
			continue
		}
		if err != nil || kind == dataset.Int {
			if declared {
				return nil, &cellError{row: i, err: fmt.Errorf("value %q is not a valid %s (declared type)", b.cell(i), kind)}
			}
		}
		if err == nil {
			if kind == dataset.Int { // widen
				kind = dataset.Float
				floats = make([]float64, n)
				for j := range i {
					floats[j] = float64(ints[j])
				}
				ints = nil
			}
			floats[i] = x
			nvalid++
			setValid(i)
			continue
		}
		kind = dataset.String
		break numeric
	}
	c := &dataset.Column{Name: name, Kind: kind}
	switch kind {
	case dataset.Int:
		if nvalid == 0 && !declared {
			c.Kind, c.F = dataset.Float, make([]float64, n)
		} else {
			c.I = ints
		}
	case dataset.Float:
		c.F = floats
	default:
		// Text: one string holds the whole column; cells are substrings of it.
		all := string(b.data)
		c.S = make([]string, n)
		valid = nil
		start := 0
		for i := range n {
			v := all[start:b.end[i]]
			start = int(b.end[i])
			if na.has(trim(v)) {
				setMissing(i)
				continue
			}
			c.S[i] = v
			setValid(i)
		}
	}
	c.Valid = valid
	return c, nil
}
