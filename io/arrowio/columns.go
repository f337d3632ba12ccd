package arrowio

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/csv"
	"fmt"
	"io"
	"os"
	"strconv"

	"github.com/apache/arrow-go/v18/arrow/ipc"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet/file"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"
)

// MaxHeaderBytes bounds the first row ReadColumns reads from a text table: a header line
// longer than this (say, an unterminated quote that runs to the end of a large file) is an
// error, not a read of the whole file.
const MaxHeaderBytes = 1 << 20

// ReadColumns returns the column names of a table file, reading only its header: the first
// row of a CSV/TSV file (col1, col2, ... with CSVOptions.NoHeader), the schema in a Parquet
// footer or an Arrow IPC file's or stream's schema message. Names are made unique as Read
// makes them. Errors name the file.
func ReadColumns(ctx context.Context, path string, opts Options) (names []string, err error) {
	format := opts.Format
	if format == "" || format == FormatAuto {
		if format, err = DetectFormat(path); err != nil {
			return nil, err
		}
	}
	fh, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer fh.Close()
	defer func() {
		// arrow-go panics on some corrupt footers; a panic stops at our boundary.
		if p := recover(); p != nil {
			names, err = nil, fmt.Errorf("%s: corrupt %s file: %v", path, format, p)
		}
	}()
	switch format {
	case FormatParquet:
		if err := checkParquetMagic(fh, path); err != nil {
			return nil, err
		}
		pr, err := file.NewParquetReader(fh)
		if err != nil {
			return nil, fmt.Errorf("%s: parquet: %w", path, err)
		}
		defer pr.Close()
		fr, err := pqarrow.NewFileReader(pr, pqarrow.ArrowReadProperties{}, memory.DefaultAllocator)
		if err != nil {
			return nil, fmt.Errorf("%s: parquet: %w", path, err)
		}
		s, err := fr.Schema()
		if err != nil {
			return nil, fmt.Errorf("%s: parquet: %w", path, err)
		}
		for _, f := range s.Fields() {
			names = append(names, f.Name)
		}
		return names, nil
	case FormatArrow:
		head := make([]byte, len(arrowMagic))
		n, _ := io.ReadFull(fh, head)
		if _, err := fh.Seek(0, io.SeekStart); err != nil {
			return nil, err
		}
		if bytes.Equal(head[:n], arrowMagic) {
			st, err := fh.Stat()
			if err != nil {
				return nil, err
			}
			r, err := ipc.NewFileReader(io.NewSectionReader(fh, 0, st.Size()))
			if err != nil {
				return nil, fmt.Errorf("%s: not an Arrow IPC file: %w", path, err)
			}
			defer r.Close()
			for _, f := range r.Schema().Fields() {
				names = append(names, f.Name)
			}
			return names, nil
		}
		r, err := ipc.NewReader(fh)
		if err != nil {
			return nil, fmt.Errorf("%s: not an Arrow IPC file or stream: %w", path, err)
		}
		defer r.Release()
		for _, f := range r.Schema().Fields() {
			names = append(names, f.Name)
		}
		return names, nil
	}
	co := opts.CSV
	if co.Delimiter == 0 {
		co.Delimiter = delimiterFor(path)
		if format == FormatTSV {
			co.Delimiter = '\t'
		}
	}
	return csvColumns(fh, path, co)
}

func csvColumns(r io.Reader, name string, opts CSVOptions) ([]string, error) {
	br := bufio.NewReaderSize(r, 1<<16)
	if magic, _ := br.Peek(2); len(magic) == 2 && magic[0] == 0x1f && magic[1] == 0x8b {
		zr, err := gzip.NewReader(br)
		if err != nil {
			return nil, fmt.Errorf("%s: gzip: %w", name, err)
		}
		defer zr.Close()
		br = bufio.NewReaderSize(zr, 1<<16)
	}
	if bom, _ := br.Peek(3); bytes.Equal(bom, []byte{0xEF, 0xBB, 0xBF}) {
		_, _ = br.Discard(3)
	}
	if opts.Delimiter == 0 {
		head, _ := br.Peek(4096)
		opts.Delimiter = sniff(head)
	}
	lr := &io.LimitedReader{R: br, N: MaxHeaderBytes}
	cr := csv.NewReader(lr)
	cr.Comma = opts.Delimiter
	cr.Comment = opts.Comment
	cr.LazyQuotes = opts.LazyQuotes
	cr.FieldsPerRecord = -1
	rec, err := cr.Read()
	if err == io.EOF {
		return nil, fmt.Errorf("%s: empty file (no header or rows)", name)
	}
	if lr.N <= 0 {
		return nil, fmt.Errorf("%s:1: the first row is longer than %d bytes (an unterminated quote?)", name, MaxHeaderBytes)
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if opts.NoHeader {
		names := make([]string, len(rec))
		for i := range names {
			names[i] = "col" + strconv.Itoa(i+1)
		}
		return names, nil
	}
	names, _ := uniqueNames(rec)
	return names, nil
}
