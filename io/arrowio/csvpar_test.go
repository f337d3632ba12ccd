package arrowio

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/biopipe/biopipe/dataset"
)

// frameView is a frame in a form where equality is exact: float values as bits (so -0
// and NaN compare), nil and empty slices distinct.
type frameView struct {
	Names []string
	Cols  []colView
}

type colView struct {
	Name  string
	Kind  dataset.Kind
	I     []int64
	F     []uint64
	S     []string
	Valid []bool
}

func viewOf(f *dataset.Frame) frameView {
	v := frameView{Names: f.Names()}
	for _, c := range f.Columns {
		cv := colView{Name: c.Name, Kind: c.Kind, I: c.I, S: c.S, Valid: c.Valid}
		if c.F != nil {
			cv.F = make([]uint64, len(c.F))
			for i, x := range c.F {
				cv.F[i] = math.Float64bits(x)
			}
		}
		v.Cols = append(v.Cols, cv)
	}
	return v
}

// prepared is the input as parallelDecode sees it inside DecodeCSV.
func prepared(text string, opts CSVOptions) ([]byte, CSVOptions) {
	data := bytes.TrimPrefix([]byte(text), []byte{0xEF, 0xBB, 0xBF})
	if opts.Delimiter == 0 {
		opts.Delimiter = sniff(data[:min(len(data), 4096)])
	}
	return data, opts
}

// chunkSizes puts cuts at every few bytes and at sizes around the input's length.
var chunkSizes = []int{1, 2, 3, 5, 8, 13, 31, 64, 200, 1 << 20}

// checkParallel reads text with the sequential reader and with the parallel one at many
// chunk sizes and worker counts. When accept is set and the sequential reader reads the
// input, the parallel reader must take it too (not hand it to the sequential one).
// Whatever it takes must equal the reference, and DecodeCSV's answer (frame or error) must
// be the reference's. It returns whether the sequential reader read the input.
func checkParallel(t *testing.T, text string, opts CSVOptions, accept bool) bool {
	t.Helper()
	want, wantInfo, wantErr := decodeSequential(strings.NewReader(text), "t.csv", opts)
	accept = accept && wantErr == nil
	f, info, err := DecodeCSV(strings.NewReader(text), "t.csv", opts)
	if wantErr != nil {
		require.EqualError(t, err, wantErr.Error(), "input %q", text)
	} else {
		require.NoError(t, err, "input %q", text)
		require.Equal(t, viewOf(want), viewOf(f), "input %q", text)
		require.Equal(t, wantInfo, info, "input %q", text)
	}
	data, popts := prepared(text, opts)
	for _, size := range chunkSizes {
		for _, workers := range []int{1, 3} {
			f, info, ok := parallelDecode(data, popts, parallelConfig{chunkSize: size, workers: workers})
			if accept {
				require.True(t, ok, "chunk %d: the parallel reader declined %q", size, text)
			}
			if !ok {
				continue
			}
			require.NoError(t, wantErr, "chunk %d: the parallel reader took %q, which the sequential one refuses", size, text)
			require.Equal(t, viewOf(want), viewOf(f), "chunk %d workers %d: input %q", size, workers, text)
			require.Equal(t, wantInfo, info, "chunk %d: input %q", size, text)
		}
	}
	return wantErr == nil
}

func TestParallelCSVMatchesSequential(t *testing.T) {
	tests := []struct {
		name string
		text string
		opts CSVOptions
	}{
		{"plain", "a,b,c\n1,2.5,x\n3,4,y\n", CSVOptions{}},
		{"no final newline", "a,b\n1,2\n3,4", CSVOptions{}},
		{"trailing delimiter makes an empty last field", "a,b\n1,\n2,", CSVOptions{}},
		{"header only", "a,b\n", CSVOptions{}},
		{"header only, no newline", "a,b", CSVOptions{}},
		{"one column", "x\n1\n2\n3\n", CSVOptions{}},
		{"one column with blank lines", "x\n\n1\n\n\n2\n", CSVOptions{}},
		{"one row no header", "1,2,3", CSVOptions{NoHeader: true}},
		{"one byte", "a", CSVOptions{}},
		{"CRLF", "a,b\r\n1,x\r\n2,y\r\n", CSVOptions{}},
		{"lone CR", "a,b\r1,x\r2,y\r", CSVOptions{}},
		{"mixed line ends and blank lines", "a,b\r\n\r\n1,x\n\r2,y\r\r\n3,z", CSVOptions{}},
		{"quoted delimiter, newline, CR and escaped quotes", "id,note,n\n1,\"fever, cough\",1\n2,\"two\nlines\",2\n3,\"said \"\"ok\"\"\",3\n4,\"cr\rin\r\nit\",4\n5,\"\",5\n", CSVOptions{}},
		{"quoted numbers", "a,b\n\"1\",\"2.5\"\n\"3\",\"\"\n", CSVOptions{}},
		{"quoted header", "\"a,1\",\"b\"\"q\"\n1,2\n", CSVOptions{}},
		{"blank lines before the header", "\n\r\n\na,b\n1,2\n", CSVOptions{}},
		{"NA tokens", "a,b,c\nNA,x,1\nN/A,null,?\n?,,NaN\nnan,y,\n7, NA ,2\n", CSVOptions{}},
		{"custom NA, nothing else missing", "a,b\n-999,x\n3,NA\n,\n", CSVOptions{NAValues: []string{"-999"}}},
		{"no NA tokens at all", "a,b\n1,\n,x\n", CSVOptions{NAValues: []string{}}},
		{"all missing", "a,b\n,1\nNA,2\n", CSVOptions{}},
		{"widening int float text", "a,b,c\n1,1,1\n2,2.5,2\n3,3,three\n", CSVOptions{}},
		{"negative zero before and after the first float", "a,b,c\n-0,1,-0\n1,-0,2.5\n2.5,3,-0\n-0,-00,x\n", CSVOptions{}},
		{"number spellings", "a\n1e5\n-.5\n5.\n+3\n1E+05\n0x10\ninf\n-Infinity\n1_000\n99999999999999999999\n1e400\n123456789012345678901234\n0.1234567890123456789\n", CSVOptions{}},
		{"int overflow widens", "a\n9223372036854775807\n9223372036854775808\n", CSVOptions{}},
		{"19-digit integers that fit stay int", "a,b\n0000000000000000000,1\n1234567890123456789,-0000000000000000000\n-1234567890123456789,2\n", CSVOptions{}},
		{"spaces and tabs around values", "a,b\n 1 ,\tx\t\n2\t, y\n", CSVOptions{}},
		{"declared types", "zip,score,n\n01234,1,5\n02139,2,NA\n", CSVOptions{Types: map[string]dataset.Kind{"zip": dataset.String, "score": dataset.Float, "n": dataset.Int}}},
		{"declared float keeps -0", "a\n-0\n1\n", CSVOptions{Types: map[string]dataset.Kind{"a": dataset.Float}}},
		{"all text", "id,age\n007,41\n012,NA\n", CSVOptions{AllText: true}},
		{"duplicate and empty names", "a,a,,b\n1,2,3,4\n", CSVOptions{}},
		{"tab", "a\tb\n1\t\"x\ty\"\n", CSVOptions{Delimiter: '\t'}},
		{"semicolon sniffed", "a;b\n1,5;x\n", CSVOptions{}},
		{"BOM", "\xEF\xBB\xBFa,b\n1,2\n", CSVOptions{}},
		{"UTF-8 text", "name,v\nRenée,1\n\"Zoë, 李\",2\n", CSVOptions{}},
		{"invalid UTF-8 in the header is kept", "a\xff,b\n1,2\n", CSVOptions{}},
		{"unicode space trimmed only after a space", "a\n \u00a01\n\u00a02\n", CSVOptions{}},
		{"whitespace-only cells", "a,b\n  ,1\n\t,2\n", CSVOptions{}},
		{"letter delimiter", "axb\n1x2\n", CSVOptions{Delimiter: 'x'}},
		{"NoHeader one column", "5\n\n6\n", CSVOptions{NoHeader: true}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			require.True(t, checkParallel(t, tc.text, tc.opts, true), "the sequential reader refuses %q", tc.text)
		})
	}
}

// TestParallelCSVDeclines: inputs the sequential reader reports (or reads with options the
// parallel one leaves to it) give the same error or frame through DecodeCSV.
func TestParallelCSVDeclines(t *testing.T) {
	tests := []struct {
		name string
		text string
		opts CSVOptions
	}{
		{"empty", "", CSVOptions{}},
		{"blank lines only", "\n\r\n\n", CSVOptions{}},
		{"too many fields", "a,b\n1,2\n3,4,5\n", CSVOptions{}},
		{"too few fields after a quoted newline", "a,b\n\"x\ny\",2\n3\n", CSVOptions{}},
		{"bare quote", "a,b\n1,x\"y\n", CSVOptions{}},
		{"text after a closing quote", "a,b\n1,\"x\"y\n", CSVOptions{}},
		{"unterminated quote", "a,b\n1,\"x\n2,3\n", CSVOptions{}},
		{"unterminated quote in the header", "\"a,b\n1,2\n", CSVOptions{}},
		{"invalid UTF-8", "id,name\n1,Ren\xe9e\n", CSVOptions{}},
		{"invalid UTF-8 in a quoted cell", "id,name\n1,\"Ren\xe9e\"\n", CSVOptions{}},
		{"declared int not parsing", "a,b\n1,2\n3,x\n", CSVOptions{Types: map[string]dataset.Kind{"b": dataset.Int}}},
		{"declared int given a float", "a\n1\n2.5\n", CSVOptions{Types: map[string]dataset.Kind{"a": dataset.Int}}},
		{"declared float given text", "a\n1\nx\n", CSVOptions{Types: map[string]dataset.Kind{"a": dataset.Float}}},
		{"declared column absent", "a\n1\n", CSVOptions{Types: map[string]dataset.Kind{"c": dataset.Int}}},
		{"bad rows skipped", "a,b\n1,2\n3,4,5\n6,7\n8\n9,x\"y\n10,11\n", CSVOptions{SkipBadRows: true}},
		{"lazy quotes", "a,b\n1,x\"y\n2,\"p\"q\"\n", CSVOptions{LazyQuotes: true}},
		{"comments", "# a comment\na,b\n#1,2\n3,4\n", CSVOptions{Comment: '#'}},
		{"multi-byte delimiter", "a→b\n1→2\n", CSVOptions{Delimiter: '→'}},
		{"quote as delimiter", "a\"b\n", CSVOptions{Delimiter: '"'}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			data, opts := prepared(tc.text, tc.opts)
			for _, size := range chunkSizes {
				_, _, ok := parallelDecode(data, opts, parallelConfig{chunkSize: size, workers: 2})
				assert.False(t, ok, "chunk %d: the parallel reader took %q", size, tc.text)
			}
			checkParallel(t, tc.text, tc.opts, false)
		})
	}
}

// TestParallelCSVBadCorpus: the bad CSV files give the sequential reader's errors.
func TestParallelCSVBadCorpus(t *testing.T) {
	files, err := filepath.Glob("../../testdata/bad/csv/*")
	require.NoError(t, err)
	require.NotEmpty(t, files)
	for _, p := range files {
		t.Run(filepath.Base(p), func(t *testing.T) {
			b, err := os.ReadFile(p)
			require.NoError(t, err)
			want, _, wantErr := decodeSequential(bytes.NewReader(b), p, CSVOptions{})
			got, _, err := ReadCSV(p, CSVOptions{})
			if wantErr != nil {
				assert.EqualError(t, err, wantErr.Error())
				return
			}
			require.NoError(t, err)
			assert.Equal(t, viewOf(want), viewOf(got))
		})
	}
}

// genCSV writes a random table that exercises the parallel reader: every kind of column,
// columns that turn to float or text late, quoted cells with delimiters, quotes, CRs and
// newlines, NA spellings, negative zeros, and mixed line endings with blank lines.
func genCSV(rng *rand.Rand, rows, cols int, delim byte) string {
	var b strings.Builder
	ends := []string{"\n", "\r\n", "\r"}
	end := func() string {
		if rng.IntN(4) == 0 {
			return ends[rng.IntN(3)]
		}
		return ends[0]
	}
	kinds := make([]int, cols)
	late := make([]int, cols) // the row where a column's kind changes
	for j := range cols {
		kinds[j] = rng.IntN(8)
		late[j] = rng.IntN(rows + 1)
	}
	for j := range cols {
		if j > 0 {
			b.WriteByte(delim)
		}
		fmt.Fprintf(&b, "c%d", j)
	}
	b.WriteString(end())
	quote := func(s string) string { return `"` + strings.ReplaceAll(s, `"`, `""`) + `"` }
	texts := []string{"F", "M", "unknown", "a b", "x,y", "x;y", "x\ty", "say \"hi\"", "two\nlines", "cr\rhere", "crlf\r\nhere", "Zoë", "", " ", "NA", "nan", "null"}
	for i := range rows {
		if rng.IntN(20) == 0 {
			b.WriteString(end()) // a blank line
		}
		for j := range cols {
			if j > 0 {
				b.WriteByte(delim)
			}
			var s string
			switch r := rng.IntN(40); {
			case r == 0:
				s = ""
			case r == 1:
				s = []string{"NA", "N/A", "?", "null", "NaN", "nan", " NA "}[rng.IntN(7)]
			case r == 2:
				s = []string{"-0", "-0.0", "+0", "-00", "0"}[rng.IntN(5)]
			default:
				k := kinds[j]
				if i >= late[j] && k < 6 {
					k += 2 // int -> float/text late in the file
				}
				switch k {
				case 0, 1:
					s = strconv.FormatInt(rng.Int64N(2000)-1000, 10)
				case 2, 3:
					s = strconv.FormatFloat(rng.NormFloat64()*math.Pow(10, float64(rng.IntN(12)-6)), []byte("gef")[rng.IntN(3)], rng.IntN(10)-1, 64)
				case 4:
					s = []string{"1e5", ".5", "5.", "inf", "-Inf", "1E+05", "99999999999999999999", "0.1234567890123456789"}[rng.IntN(8)]
				default:
					s = texts[rng.IntN(len(texts))]
				}
			}
			if rng.IntN(10) == 0 || strings.ContainsAny(s, "\"\r\n"+string(delim)) {
				s = quote(s)
			}
			b.WriteString(s)
		}
		if i < rows-1 || rng.IntN(2) == 0 {
			b.WriteString(end())
		}
	}
	return b.String()
}

func TestParallelCSVGenerated(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 13))
	n := 300
	if testing.Short() {
		n = 60
	}
	valid := 0
	for i := range n {
		rows, cols := 1+rng.IntN(40), 1+rng.IntN(6)
		delim := []byte(",\t;|")[rng.IntN(4)]
		text := genCSV(rng, rows, cols, delim)
		var opts CSVOptions
		switch i % 6 {
		case 1:
			opts.NoHeader = true
		case 2:
			opts.NAValues = []string{}
		case 3:
			opts.AllText = true
		case 4:
			opts.Types = map[string]dataset.Kind{"c0": dataset.String}
		}
		if i%2 == 0 {
			opts.Delimiter = rune(delim)
		}
		t.Run(strconv.Itoa(i), func(t *testing.T) {
			if checkParallel(t, text, opts, true) {
				valid++
			}
		})
	}
	// Only one-column files whose sniffed delimiter occurs in a cell are ragged.
	assert.Greater(t, valid, n*8/10, "most generated tables are valid CSV")
}

// TestParallelCSVDeterministic reads a table of a few megabytes (many chunks at the default
// size) under different GOMAXPROCS and chunk sizes: the frames are identical, and identical
// to the sequential reader's.
func TestParallelCSVDeterministic(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 5))
	text := genCSV(rng, 40000, 8, ',')
	path := filepath.Join(t.TempDir(), "big.csv.gz")
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	_, _ = zw.Write([]byte(text))
	require.NoError(t, zw.Close())
	require.NoError(t, os.WriteFile(path, gz.Bytes(), 0o644))

	want, _, err := decodeSequential(strings.NewReader(text), "big.csv", CSVOptions{})
	require.NoError(t, err)
	wantView := viewOf(want)
	data, opts := prepared(text, CSVOptions{Delimiter: ','})
	for _, procs := range []int{1, 2, 5} {
		old := runtime.GOMAXPROCS(procs)
		f, _, err := ReadCSV(path, CSVOptions{})
		runtime.GOMAXPROCS(old)
		require.NoError(t, err)
		require.Equal(t, wantView, viewOf(f), "GOMAXPROCS %d", procs)
	}
	for _, size := range []int{4 << 10, 100 << 10, 1 << 20} {
		f, _, ok := parallelDecode(data, opts, parallelConfig{chunkSize: size, workers: 4})
		require.True(t, ok)
		require.Equal(t, wantView, viewOf(f), "chunk size %d", size)
	}
}

func TestParseNumbersFast(t *testing.T) {
	for _, s := range []string{"0", "-0", "+0", "1", "-1", "123456789012345678", "-123456789012345678", "1234567890123456789",
		"9223372036854775807", "-9223372036854775808", "9223372036854775808", "1.5", "-.5", "5.", ".", "-", "+", "",
		"1e5", "1E-5", "1e", "1e+", "2.5e-3", "1e22", "1e23", "1e-22", "1e-23", "9007199254740993", "9007199254740993.0",
		"0.1", "0.30000000000000004", "123.456e7", "1e99999", "0e99999", "inf", "nan", "0x1p-2", "1_0", "1.5x", "١٢"} {
		x, ok := parseIntFast([]byte(s))
		want, err := strconv.ParseInt(s, 10, 64)
		assert.Equal(t, err == nil, ok, "ParseInt %q", s)
		if ok {
			assert.Equal(t, want, x, "ParseInt %q", s)
		}
		f, ok := parseFloatFast([]byte(s))
		if ok {
			wantF, err := strconv.ParseFloat(s, 64)
			require.NoError(t, err, "parseFloatFast took %q", s)
			assert.Equal(t, math.Float64bits(wantF), math.Float64bits(f), "ParseFloat %q", s)
		}
		checkScanInRow(t, s)
	}
	// Many random decimals: the fast path agrees with strconv bit for bit.
	rng := rand.New(rand.NewPCG(1, 1))
	taken := 0
	for range 200000 {
		v := rng.NormFloat64() * math.Pow(10, float64(rng.IntN(40)-20))
		s := strconv.FormatFloat(v, []byte("gef")[rng.IntN(3)], rng.IntN(18)-1, 64)
		f, ok := parseFloatFast([]byte(s))
		if !ok {
			continue
		}
		taken++
		want, err := strconv.ParseFloat(s, 64)
		require.NoError(t, err)
		require.Equal(t, math.Float64bits(want), math.Float64bits(f), "%q", s)
		if taken%16 == 0 {
			checkScanInRow(t, s)
		}
	}
	assert.Greater(t, taken, 100000, "the fast path takes most decimals")
	for digits := 1; digits <= 24; digits++ { // every split of the 8-byte steps
		s := strings.Repeat("7", digits)
		checkScanInRow(t, s)
		checkScanInRow(t, "-"+s[:digits/2+1]+"."+s[digits/2:])
	}
}

// checkScanInRow scans s where it is followed by more of a row (as in a chunk, where the
// 8-byte digit steps read past the field) and by nothing: both stop at the end of s with
// the value of s alone.
func checkScanInRow(t *testing.T, s string) {
	t.Helper()
	f0, end0, ok0 := scanFloat([]byte(s), 0)
	i0, iend0, iok0 := scanInt([]byte(s), 0)
	for _, tail := range []string{",12345678", "\n", "\r\n1", ",", "\t9999999999"} {
		row := []byte("x," + s + tail)
		f, end, ok := scanFloat(row, 2)
		assert.Equal(t, ok0, ok, "scanFloat %q in %q", s, row)
		if ok0 && end0 == len(s) {
			assert.Equal(t, 2+len(s), end, "scanFloat %q in %q: end", s, row)
			assert.Equal(t, math.Float64bits(f0), math.Float64bits(f), "scanFloat %q in %q", s, row)
		}
		i, iend, iok := scanInt(row, 2)
		assert.Equal(t, iok0, iok, "scanInt %q in %q", s, row)
		if iok0 && iend0 == len(s) {
			assert.Equal(t, 2+len(s), iend, "scanInt %q in %q: end", s, row)
			assert.Equal(t, i0, i, "scanInt %q in %q", s, row)
		}
	}
}

// FuzzParallelCSV: whatever the parallel reader accepts, at any chunk size, the sequential
// reader reads to the same frame.
func FuzzParallelCSV(f *testing.F) {
	rng := rand.New(rand.NewPCG(11, 17))
	for i := range 12 {
		f.Add(genCSV(rng, 1+i, 1+i%4, ','), uint8(i), i%3 == 0)
	}
	for _, s := range []string{"a,b\n1,2\n", "a,b\n\"x\ny\",2\n", "a\r\n1\r\n", "a\r1\r\"\r\"\r", "a,b\n\"1\"\"\",2", "x\n-0\n1.5\n-0\n", "\"a\n"} {
		f.Add(s, uint8(1), false)
	}
	f.Fuzz(func(t *testing.T, text string, chunk uint8, noHeader bool) {
		opts := CSVOptions{NoHeader: noHeader}
		want, wantInfo, wantErr := decodeSequential(strings.NewReader(text), "fuzz.csv", opts)
		got, info, err := DecodeCSV(strings.NewReader(text), "fuzz.csv", opts)
		if wantErr != nil {
			if err == nil || err.Error() != wantErr.Error() {
				t.Fatalf("DecodeCSV: error %v, the sequential reader's %v", err, wantErr)
			}
		} else if err != nil || !assert.Equal(t, viewOf(want), viewOf(got)) || !assert.Equal(t, wantInfo, info) {
			t.Fatalf("DecodeCSV differs from the sequential reader (error %v)", err)
		}
		if strings.HasPrefix(text, "\x1f\x8b") {
			return // DecodeCSV decompresses gzip before the parallel reader sees it
		}
		data, popts := prepared(text, opts)
		for _, size := range []int{int(chunk%16) + 1, int(chunk) + 1, 1 << 20} {
			got, info, ok := parallelDecode(data, popts, parallelConfig{chunkSize: size, workers: 2})
			if !ok {
				continue
			}
			if wantErr != nil {
				t.Fatalf("chunk %d: parallel reader accepted what the sequential one refuses (%v)", size, wantErr)
			}
			if !assert.Equal(t, viewOf(want), viewOf(got)) || !assert.Equal(t, wantInfo, info) {
				t.Fatalf("chunk %d: frames differ", size)
			}
		}
	})
}

// TestReadCSVMappedFileShrinks: a mapped file truncated while it is read gives an error
// naming it, not a crash, whether the fault hits the reading goroutine or a worker.
func TestReadCSVMappedFileShrinks(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 8))
	text := genCSV(rng, 30000, 6, ',')
	for _, workers := range []int{1, 2} {
		path := filepath.Join(t.TempDir(), "shrinks.csv")
		require.NoError(t, os.WriteFile(path, []byte(text), 0o644))
		fh, err := os.Open(path)
		require.NoError(t, err)
		data, unmap := mapFile(fh)
		if data == nil {
			fh.Close()
			t.Skip("this system does not map files")
		}
		// Mapped and read as ReadCSV would: the same frame as the sequential reader.
		f, _, err := decodeMapped(data, path, CSVOptions{Delimiter: ','}, parallelConfig{workers: workers, chunkSize: 64 << 10})
		require.NoError(t, err)
		want, _, err := decodeSequential(strings.NewReader(text), path, CSVOptions{Delimiter: ','})
		require.NoError(t, err)
		require.Equal(t, viewOf(want), viewOf(f))

		require.NoError(t, os.Truncate(path, 0))
		_, _, err = decodeMapped(data, path, CSVOptions{Delimiter: ','}, parallelConfig{workers: workers, chunkSize: 64 << 10})
		require.Error(t, err, "workers %d", workers)
		assert.Contains(t, err.Error(), path+": the file changed while it was read")
		// A fault in a worker goroutine reaches the caller as a panic it can recover.
		var fault any
		func() {
			defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
			defer func() { fault = recover() }()
			got := make([]byte, 8)
			parallelFor(8, 2, func(i int) { got[i] = data[len(data)-1-i*4096] })
		}()
		_, isFault := fault.(interface{ Addr() uintptr })
		assert.True(t, isFault, "want a fault, got %v", fault)
		unmap()
		fh.Close()
	}
}
