package arrowio

import (
	"bytes"
	"compress/gzip"
	"context"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/biopipe/biopipe/dataset"
	"github.com/biopipe/biopipe/io/inspect"
)

func decode(t *testing.T, text string, opts CSVOptions) (*dataset.Frame, *ReadInfo) {
	t.Helper()
	f, info, err := DecodeCSV(strings.NewReader(text), "t.csv", opts)
	require.NoError(t, err)
	require.NoError(t, f.Validate())
	return f, info
}

func TestDecodeCSVTypes(t *testing.T) {
	tests := []struct {
		name  string
		text  string
		opts  CSVOptions
		kinds []dataset.Kind
		check func(t *testing.T, f *dataset.Frame)
	}{
		{
			name:  "sex column F then M stays text",
			text:  "id,sex,age\n1,F,34\n2,M,51\n3,F,\n",
			kinds: []dataset.Kind{dataset.Int, dataset.String, dataset.Int},
			check: func(t *testing.T, f *dataset.Frame) {
				assert.Equal(t, []string{"F", "M", "F"}, f.Col("sex").S)
				age := f.Col("age")
				assert.Equal(t, []int64{34, 51, 0}, age.I)
				assert.Equal(t, []bool{true, true, false}, age.Valid)
			},
		},
		{
			name:  "int then float widens to float",
			text:  "x\n1\n2\n2.5\n",
			kinds: []dataset.Kind{dataset.Float},
			check: func(t *testing.T, f *dataset.Frame) { assert.Equal(t, []float64{1, 2, 2.5}, f.Col("x").F) },
		},
		{
			name:  "a late value widens the column",
			text:  "x,y\n1,1\n2,2.5\n3,three\n",
			kinds: []dataset.Kind{dataset.Int, dataset.String},
			check: func(t *testing.T, f *dataset.Frame) { assert.Equal(t, []string{"1", "2.5", "three"}, f.Col("y").S) },
		},
		{
			name:  "NA tokens",
			text:  "a,b\nNA,x\nN/A,null\n?,\nnan,y\n7, NA \n",
			kinds: []dataset.Kind{dataset.Int, dataset.String},
			check: func(t *testing.T, f *dataset.Frame) {
				assert.Equal(t, []bool{false, false, false, false, true}, f.Col("a").Valid)
				assert.Equal(t, int64(7), f.Col("a").I[4])
				assert.Equal(t, []bool{true, false, false, true, false}, f.Col("b").Valid)
			},
		},
		{
			name:  "custom NA tokens",
			text:  "a,b\n-999,x\n3,NA\n",
			opts:  CSVOptions{NAValues: []string{"-999"}},
			kinds: []dataset.Kind{dataset.Int, dataset.String},
			check: func(t *testing.T, f *dataset.Frame) {
				assert.Equal(t, 1, f.Col("a").NullCount())
				assert.Equal(t, []string{"x", "NA"}, f.Col("b").S)
				assert.Nil(t, f.Col("b").Valid)
			},
		},
		{
			name:  "all-missing column is float",
			text:  "a,b\n1,\n2,NA\n",
			kinds: []dataset.Kind{dataset.Int, dataset.Float},
			check: func(t *testing.T, f *dataset.Frame) { assert.Equal(t, 2, f.Col("b").NullCount()) },
		},
		{
			name:  "declared types",
			text:  "zip,score\n01234,1\n02139,2\n",
			opts:  CSVOptions{Types: map[string]dataset.Kind{"zip": dataset.String, "score": dataset.Float}},
			kinds: []dataset.Kind{dataset.String, dataset.Float},
			check: func(t *testing.T, f *dataset.Frame) {
				assert.Equal(t, []string{"01234", "02139"}, f.Col("zip").S)
				assert.Equal(t, []float64{1, 2}, f.Col("score").F)
			},
		},
		{
			name:  "quoting with embedded newline and delimiter",
			text:  "id,note\n1,\"fever, cough\"\n2,\"line one\nline two\"\n3,\"said \"\"ok\"\"\"\n",
			kinds: []dataset.Kind{dataset.Int, dataset.String},
			check: func(t *testing.T, f *dataset.Frame) {
				assert.Equal(t, []string{"fever, cough", "line one\nline two", `said "ok"`}, f.Col("note").S)
			},
		},
		{
			name:  "UTF-8 BOM and CRLF",
			text:  "\xEF\xBB\xBFpatient,v\r\np1,1.5\r\np2,-2e3\r\n",
			kinds: []dataset.Kind{dataset.String, dataset.Float},
			check: func(t *testing.T, f *dataset.Frame) {
				assert.Equal(t, []string{"patient", "v"}, f.Names())
				assert.Equal(t, []float64{1.5, -2000}, f.Col("v").F)
			},
		},
		{
			name:  "no header",
			text:  "1,a\n2,b\n",
			opts:  CSVOptions{NoHeader: true},
			kinds: []dataset.Kind{dataset.Int, dataset.String},
			check: func(t *testing.T, f *dataset.Frame) {
				assert.Equal(t, []string{"col1", "col2"}, f.Names())
				assert.Equal(t, 2, f.NumRows())
			},
		},
		{
			name:  "duplicate and empty header names",
			text:  "a,a,,b\n1,2,3,4\n",
			kinds: []dataset.Kind{dataset.Int, dataset.Int, dataset.Int, dataset.Int},
			check: func(t *testing.T, f *dataset.Frame) { assert.Equal(t, []string{"a", "a.1", "col3", "b"}, f.Names()) },
		},
		{
			name:  "semicolon sniffed",
			text:  "a;b\n1,5;x\n",
			kinds: []dataset.Kind{dataset.String, dataset.String},
			check: func(t *testing.T, f *dataset.Frame) { assert.Equal(t, []string{"1,5"}, f.Col("a").S) },
		},
		{
			name:  "tab delimiter",
			text:  "a\tb\n1\t2.5\n",
			opts:  CSVOptions{Delimiter: '\t'},
			kinds: []dataset.Kind{dataset.Int, dataset.Float},
		},
		{
			name:  "blank lines skipped",
			text:  "a\n1\n\n2\n",
			kinds: []dataset.Kind{dataset.Int},
			check: func(t *testing.T, f *dataset.Frame) { assert.Equal(t, []int64{1, 2}, f.Col("a").I) },
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f, _ := decode(t, tc.text, tc.opts)
			var kinds []dataset.Kind
			for _, c := range f.Columns {
				kinds = append(kinds, c.Kind)
			}
			assert.Equal(t, tc.kinds, kinds)
			if tc.check != nil {
				tc.check(t, f)
			}
		})
	}
}

func TestDecodeCSVErrors(t *testing.T) {
	tests := []struct {
		name, text string
		opts       CSVOptions
		want       string
	}{
		{"too many fields", "a,b\n1,2\n3,4,5\n", CSVOptions{}, "t.csv:3: row has 3 fields, want 2"},
		{"too few fields after quoted newline", "a,b\n\"x\ny\",2\n3\n", CSVOptions{}, "t.csv:4: row has 1 fields, want 2"},
		{"declared int not parsing", "a,b\n1,2\n3,x\n", CSVOptions{Types: map[string]dataset.Kind{"b": dataset.Int}}, `t.csv:3: column "b": value "x" is not a valid int64`},
		{"declared column absent", "a\n1\n", CSVOptions{Types: map[string]dataset.Kind{"c": dataset.Int}}, `declared type for column "c"`},
		{"bare quote", "a,b\n1,x\"y\n", CSVOptions{}, `t.csv: parse error on line 2`},
		{"empty", "", CSVOptions{}, "empty file"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := DecodeCSV(strings.NewReader(tc.text), "t.csv", tc.opts)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.want)
		})
	}
}

func TestDecodeCSVSkipBadRows(t *testing.T) {
	f, info := decode(t, "a,b\n1,2\n3,4,5\n6,7\n8\n9,x\"y\n10,11\n", CSVOptions{SkipBadRows: true})
	assert.Equal(t, []int64{1, 6, 10}, f.Col("a").I)
	assert.Equal(t, 3, info.BadRows)
	assert.Equal(t, []int{3, 5, 6}, info.BadLines)
	assert.Equal(t, 3, info.Rows)
}

func TestReadCSVGzipAndTSVByName(t *testing.T) {
	dir := t.TempDir()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	_, _ = zw.Write([]byte("a\tb\n1\thello\n2\tworld\n"))
	require.NoError(t, zw.Close())
	path := filepath.Join(dir, "x.tsv.gz")
	require.NoError(t, os.WriteFile(path, buf.Bytes(), 0o644))
	f, info, err := Read(context.Background(), path, Options{})
	require.NoError(t, err)
	assert.Equal(t, "tsv", info.Format)
	assert.Equal(t, []string{"hello", "world"}, f.Col("b").S)
	assert.Equal(t, []int64{1, 2}, f.Col("a").I)
}

func TestParseKind(t *testing.T) {
	for name, want := range map[string]dataset.Kind{"int": dataset.Int, "Float": dataset.Float, "category": dataset.String, "double": dataset.Float} {
		k, err := ParseKind(name)
		require.NoError(t, err)
		assert.Equal(t, want, k, name)
	}
	_, err := ParseKind("bool")
	assert.ErrorContains(t, err, `unknown column type "bool"`)
}

func TestBreastCancer(t *testing.T) {
	f, info, err := Read(context.Background(), "../../testdata/ehr/breast_cancer.csv", Options{})
	require.NoError(t, err)
	assert.Equal(t, 569, f.NumRows())
	assert.Equal(t, 569, info.Rows)
	require.Len(t, f.Columns, 31)
	assert.Equal(t, "mean radius", f.Columns[0].Name)
	for _, c := range f.Columns[:30] {
		assert.Equal(t, dataset.Float, c.Kind, c.Name)
		assert.Zero(t, c.NullCount(), c.Name)
	}
	target := f.Col("target")
	require.Equal(t, dataset.Int, target.Kind)
	n1 := 0
	for _, v := range target.I {
		n1 += int(v)
	}
	assert.Equal(t, 357, n1)
	// First row of the WDBC data (sample 842302): radius 17.99, texture 10.38, malignant.
	assert.Equal(t, 17.99, f.Col("mean radius").F[0])
	assert.Equal(t, 10.38, f.Col("mean texture").F[0])
	assert.Equal(t, int64(0), target.I[0])
}

func TestRoundTrips(t *testing.T) {
	dir := t.TempDir()
	src := dataset.New()
	src.Meta[dataset.MetaLabel] = "y"
	src.Columns = []*dataset.Column{
		{Name: "id", Kind: dataset.String, S: []string{"a", "b,c", "d\"e"}},
		{Name: "x", Kind: dataset.Float, F: []float64{1.5, 0, -3.25}, Valid: []bool{true, false, true}},
		{Name: "y", Kind: dataset.Int, I: []int64{0, 1, 1}},
	}
	csvPath := filepath.Join(dir, "t.csv")
	require.NoError(t, WriteCSV(src, csvPath, 0))
	pqPath := filepath.Join(dir, "t.parquet")
	require.NoError(t, WriteParquet(src, pqPath))
	ipcPath := filepath.Join(dir, "t.arrow")
	require.NoError(t, WriteIPC(src, ipcPath))
	for _, p := range []string{csvPath, pqPath, ipcPath} {
		t.Run(filepath.Ext(p), func(t *testing.T) {
			f, info, err := Read(context.Background(), p, Options{})
			require.NoError(t, err)
			assert.Equal(t, 3, info.Rows)
			assert.Equal(t, src.Col("id").S, f.Col("id").S)
			assert.Equal(t, []int64{0, 1, 1}, f.Col("y").I)
			x := f.Col("x")
			assert.Equal(t, []bool{true, false, true}, x.Valid)
			assert.Equal(t, 1.5, x.F[0])
			assert.Equal(t, -3.25, x.F[2])
		})
	}
	// A tensor column cannot be written as CSV.
	src.Set(&dataset.Column{Name: "img", Kind: dataset.Tensor, Shape: []int{3, 1}, T: make([]float32, 9)})
	assert.ErrorContains(t, WriteCSV(src, filepath.Join(dir, "u.csv"), 0), `column "img" is a tensor`)
	// but Parquet and IPC keep it.
	require.NoError(t, WriteParquet(src, pqPath))
	f, err := ReadParquet(context.Background(), pqPath)
	require.NoError(t, err)
	assert.Equal(t, dataset.Tensor, f.Col("img").Kind)
	assert.Equal(t, []int{3, 1}, f.Col("img").Shape)
	assert.Equal(t, "y", f.Meta[dataset.MetaLabel])
}

func FuzzDecodeCSV(f *testing.F) {
	for _, s := range []string{
		"a,b\n1,2\n", "a,b\n\"x\ny\",2\n", "\xEF\xBB\xBFa\n1\n", "a;b\n1;NA\n", "a\tb\n1\t2\n3\n",
		"x\n1e5\n-0\ninf\n", "x,y\nnan,1\n-Inf,2\n", "a,a,\n,,\n", "\"unterminated\n",
	} {
		f.Add(s, false, true)
	}
	f.Fuzz(func(t *testing.T, text string, noHeader, skip bool) {
		fr, info, err := DecodeCSV(strings.NewReader(text), "fuzz.csv", CSVOptions{NoHeader: noHeader, SkipBadRows: skip})
		if err != nil {
			return
		}
		if err := fr.Validate(); err != nil {
			t.Fatalf("invalid frame: %v", err)
		}
		if fr.NumRows() != info.Rows {
			t.Fatalf("rows %d, info says %d", fr.NumRows(), info.Rows)
		}
		// What was read can be written and read back: same names, rows and values.
		var buf bytes.Buffer
		if err := EncodeCSV(&buf, fr, 0); err != nil {
			t.Fatalf("encode: %v", err)
		}
		if len(fr.Columns) < 2 {
			return // a one-column row of one empty cell is a blank line, which readers skip
		}
		back, _, err := DecodeCSV(&buf, "again.csv", CSVOptions{Delimiter: ','})
		if err != nil {
			t.Fatalf("re-read: %v\n%q", err, buf.String())
		}
		if !slices.Equal(back.Names(), fr.Names()) || back.NumRows() != fr.NumRows() {
			t.Fatalf("re-read %v x %d, want %v x %d", back.Names(), back.NumRows(), fr.Names(), fr.NumRows())
		}
		for j, c := range fr.Columns {
			d := back.Columns[j]
			for i := range c.Len() {
				if c.IsValid(i) != d.IsValid(i) || (c.IsValid(i) && c.Text(i) != d.Text(i) && c.Float64(i) != d.Float64(i)) {
					t.Fatalf("column %q row %d: %q (valid %v) became %q (valid %v)", c.Name, i, c.Text(i), c.IsValid(i), d.Text(i), d.IsValid(i))
				}
			}
		}
	})
}

func TestInspect(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "x.csv")
	require.NoError(t, os.WriteFile(path, []byte("id,age,sex\n1,NA,F\n2,40,\n3,41,M,extra\n4,,M\n"), 0o644))
	ins, err := inspect.Find(path)
	require.NoError(t, err)
	assert.Equal(t, "table", ins.Name)
	v, err := ins.Inspect(context.Background(), path)
	require.NoError(t, err)
	s := v.(*Summary)
	assert.Equal(t, 3, s.Rows)
	assert.Equal(t, 1, s.BadRows)
	assert.Equal(t, []ColumnSummary{{Name: "id", Type: "int64"}, {Name: "age", Type: "int64", Missing: 2}, {Name: "sex", Type: "string", Missing: 1}}, s.Columns)
	var buf bytes.Buffer
	require.NoError(t, ins.Text(&buf, v))
	assert.Contains(t, buf.String(), "3 rows, 3 columns, 1 malformed rows skipped")
	assert.Contains(t, buf.String(), "age     int64   2")
}

func TestInspectParquet(t *testing.T) {
	src := dataset.New()
	src.Meta[dataset.MetaLabel] = "y"
	src.Columns = []*dataset.Column{
		{Name: "img", Kind: dataset.Tensor, Shape: []int{2, 2}, T: make([]float32, 8)},
		{Name: "y", Kind: dataset.Float, F: []float64{1, math.NaN()}},
	}
	path := filepath.Join(t.TempDir(), "t.data") // recognised by its magic bytes
	require.NoError(t, WriteParquet(src, path))
	ins, err := inspect.Find(path)
	require.NoError(t, err)
	v, err := ins.Inspect(context.Background(), path)
	require.NoError(t, err)
	s := v.(*Summary)
	assert.Equal(t, "parquet", s.Format)
	assert.Equal(t, []ColumnSummary{{Name: "img", Type: "tensor", Shape: []int{2, 2}, Missing: 0}, {Name: "y", Type: "float64", Missing: 1}}, s.Columns)
	assert.Equal(t, "y", s.Metadata[dataset.MetaLabel])
}

func TestCast(t *testing.T) {
	mk := func() *dataset.Frame {
		f := dataset.New()
		f.Columns = []*dataset.Column{
			{Name: "zip", Kind: dataset.Int, I: []int64{2139, 0}, Valid: []bool{true, false}},
			{Name: "n", Kind: dataset.Float, F: []float64{3, 4}},
			{Name: "s", Kind: dataset.String, S: []string{"1.5", "2"}},
		}
		return f
	}
	f := mk()
	require.NoError(t, Cast(f, map[string]dataset.Kind{"zip": dataset.String, "n": dataset.Int, "s": dataset.Float}))
	assert.Equal(t, []string{"2139", ""}, f.Col("zip").S)
	assert.False(t, f.Col("zip").IsValid(1))
	assert.Equal(t, []int64{3, 4}, f.Col("n").I)
	assert.Equal(t, []float64{1.5, 2}, f.Col("s").F)

	assert.ErrorContains(t, Cast(mk(), map[string]dataset.Kind{"s": dataset.Int}), `column "s" row 0: value "1.5" is not a valid int64`)
	assert.ErrorContains(t, Cast(mk(), map[string]dataset.Kind{"q": dataset.Int}), `declared type for column "q"`)

	// Read applies declared types to Parquet files.
	path := filepath.Join(t.TempDir(), "c.parquet")
	require.NoError(t, WriteParquet(mk(), path))
	g, _, err := Read(context.Background(), path, Options{CSV: CSVOptions{Types: map[string]dataset.Kind{"zip": dataset.String}}})
	require.NoError(t, err)
	assert.Equal(t, dataset.String, g.Col("zip").Kind)
}

func TestDecodeCSVAllText(t *testing.T) {
	f, _, err := DecodeCSV(strings.NewReader("id,age,n\n007,41,1.5\n012,NA,2\n"), "a.csv", CSVOptions{AllText: true, Types: map[string]dataset.Kind{"n": dataset.Float}})
	require.NoError(t, err)
	assert.Equal(t, dataset.String, f.Col("id").Kind)
	assert.Equal(t, []string{"007", "012"}, []string{f.Col("id").Text(0), f.Col("id").Text(1)})
	assert.Equal(t, dataset.String, f.Col("age").Kind)
	assert.False(t, f.Col("age").IsValid(1), "NA is still missing")
	assert.Equal(t, dataset.Float, f.Col("n").Kind, "a declared type wins")
}

// TestDecodeCSVLineEndingsAndEncoding: a lone CR ends a line wherever it falls in a read
// (checked byte by byte), CR LF stays one line end, and a byte that is not UTF-8 is an error
// naming the line and column.
func TestDecodeCSVLineEndingsAndEncoding(t *testing.T) {
	text := "id,age,label\r\np1,42,yes\np2,51,no\rp3,60,\"a\rb\"\r\n"
	for _, r := range []io.Reader{strings.NewReader(text), iotest.OneByteReader(strings.NewReader(text))} {
		f, _, err := DecodeCSV(r, "mixed.csv", CSVOptions{})
		require.NoError(t, err)
		assert.Equal(t, []string{"p1", "p2", "p3"}, f.Col("id").S)
		assert.Equal(t, []string{"yes", "no", "a\nb"}, f.Col("label").S)
	}
	_, _, err := DecodeCSV(strings.NewReader("id,name\n1,Ren\xe9e\n"), "latin1.csv", CSVOptions{})
	assert.EqualError(t, err, "latin1.csv:2: column 2: invalid UTF-8 byte 0xe9 at byte 4 of the field: the file is not UTF-8 (convert it, e.g. iconv -f latin1 -t utf-8)")
}
