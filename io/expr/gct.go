package expr

import (
	"bytes"
	"fmt"
	"strconv"
	"strings"
)

// ReadGCT reads a GCT file (Broad Institute; version 1.2 or 1.3, optionally gzipped).
// Version 1.2: "#1.2", "<rows> <cols>", a header "Name Description <samples...>", then one
// line per gene. Version 1.3 adds row-metadata columns after the id and column-metadata
// lines after the header; the column metadata becomes SampleInfo, the row metadata GeneInfo.
func ReadGCT(path string) (*Matrix, error) {
	data, err := readAll(path)
	if err != nil {
		return nil, err
	}
	return parseGCT(path, data, 0)
}

func parseGCT(name string, data []byte, workers int) (*Matrix, error) {
	line, off := nextLine(data, 0)
	version := string(bytes.TrimSpace(line))
	if version != "#1.2" && version != "#1.3" {
		return nil, fmt.Errorf("%s:1: want the GCT version line \"#1.2\" or \"#1.3\", got %q", name, clip(line))
	}
	line, off = nextLine(data, off)
	dims := strings.Fields(string(line))
	want := 2
	if version == "#1.3" {
		want = 4
	}
	if len(dims) < want {
		return nil, fmt.Errorf("%s:2: want %d dimensions (rows, columns%s), got %q", name, want,
			map[bool]string{true: ", row metadata, column metadata", false: ""}[want == 4], clip(line))
	}
	nums := make([]int, want)
	for i := range want {
		n, err := strconv.Atoi(dims[i])
		if err != nil || n < 0 {
			return nil, fmt.Errorf("%s:2: dimension %d: %q is not a non-negative integer", name, i+1, dims[i])
		}
		nums[i] = n
	}
	nrows, ncols := nums[0], nums[1]
	nRowMeta, nColMeta := 1, 0 // 1.2: the Description column
	if want == 4 {
		nRowMeta, nColMeta = nums[2], nums[3]
	}
	line, off = nextLine(data, off)
	hdr, msg := splitFields(line, '\t', nil)
	if msg != "" {
		return nil, fmt.Errorf("%s:3: %s", name, msg)
	}
	if len(hdr) != 1+nRowMeta+ncols {
		return nil, fmt.Errorf("%s:3: header has %d columns, want %d (id, %d row-metadata, %d samples as declared on line 2)",
			name, len(hdr), 1+nRowMeta+ncols, nRowMeta, ncols)
	}
	samples := make([]string, ncols)
	for i, h := range hdr[1+nRowMeta:] {
		samples[i] = strings.TrimSpace(string(h))
	}
	if err := CheckIDs("sample", samples, func(i int) string {
		return fmt.Sprintf("%s:3: column %d", name, i+nRowMeta+2)
	}); err != nil {
		return nil, err
	}
	m := &Matrix{Samples: samples, Format: "gct", Source: name}
	lineNo := 4
	for k := range nColMeta {
		line, off = nextLine(data, off)
		f, msg := splitFields(line, '\t', nil)
		if msg != "" {
			return nil, fmt.Errorf("%s:%d: %s", name, lineNo, msg)
		}
		if len(f) != 1+nRowMeta+ncols {
			return nil, fmt.Errorf("%s:%d: column-metadata line %d has %d cells, want %d", name, lineNo, k+1, len(f), 1+nRowMeta+ncols)
		}
		if m.SampleInfo == nil {
			m.SampleInfo = map[string][]string{}
		}
		vals := make([]string, ncols)
		for i, v := range f[1+nRowMeta:] {
			vals[i] = string(v)
		}
		m.SampleInfo[strings.TrimSpace(string(f[0]))] = vals
		lineNo++
	}
	rows, err := parseRows(name, data[off:], lineNo, '\t', nRowMeta, samples, "sample", workers)
	if err != nil {
		return nil, err
	}
	if len(rows.ids) != nrows {
		return nil, fmt.Errorf("%s: %d gene rows, but line 2 declares %d", name, len(rows.ids), nrows)
	}
	if err := CheckIDs("gene", rows.ids, func(i int) string {
		return fmt.Sprintf("%s:%d: column 1", name, rows.lines[i])
	}); err != nil {
		return nil, err
	}
	m.Genes = rows.ids
	for j := range nRowMeta {
		if m.GeneInfo == nil {
			m.GeneInfo = map[string][]string{}
		}
		n := strings.TrimSpace(string(hdr[1+j]))
		if n == "" {
			n = fmt.Sprintf("info%d", j+1)
		}
		m.GeneInfo[n] = rows.info[j]
	}
	m.X = transposeChunks(rows.chunks, len(rows.ids), ncols, workers)
	return m, nil
}

// clip shortens a line for an error message.
func clip(b []byte) string {
	if len(b) > 60 {
		return string(b[:57]) + "..."
	}
	return string(b)
}
