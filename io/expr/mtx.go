package expr

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// MTXHeader is the banner of a MatrixMarket file.
type MTXHeader struct {
	Format   string // "coordinate" or "array"
	Field    string // "real", "double", "integer" or "pattern"
	Symmetry string // "general", "symmetric" or "skew-symmetric"
}

// ReadMTX reads a MatrixMarket file (optionally gzipped) as a CSR matrix in the file's own
// orientation. Coordinate (sparse) and array (dense, column-major) formats with real,
// integer or pattern values and general or symmetric layout are read; complex and
// hermitian matrices are an error.
func ReadMTX(path string) (*CSR, MTXHeader, error) {
	data, err := readAll(path)
	if err != nil {
		return nil, MTXHeader{}, err
	}
	m, h, err := parseMTX(path, data)
	if err != nil {
		return nil, h, err
	}
	s, err := m.csr(path, false)
	return s, h, err
}

// parseMTX parses a MatrixMarket file into triplets.
func parseMTX(name string, data []byte) (*coo, MTXHeader, error) {
	var h MTXHeader
	line, off := nextLine(data, 0)
	banner := strings.Fields(strings.ToLower(string(line)))
	if len(banner) != 5 || banner[0] != "%%matrixmarket" || banner[1] != "matrix" {
		return nil, h, fmt.Errorf("%s:1: want a banner \"%%%%MatrixMarket matrix <format> <field> <symmetry>\", got %q", name, clip(line))
	}
	h = MTXHeader{Format: banner[2], Field: banner[3], Symmetry: banner[4]}
	switch h.Format {
	case "coordinate", "array":
	default:
		return nil, h, fmt.Errorf("%s:1: format %q not supported (want coordinate or array)", name, h.Format)
	}
	switch h.Field {
	case "real", "double", "integer", "pattern":
	default:
		return nil, h, fmt.Errorf("%s:1: field %q not supported (want real, integer or pattern)", name, h.Field)
	}
	if h.Format == "array" && h.Field == "pattern" {
		return nil, h, fmt.Errorf("%s:1: an array matrix cannot be pattern", name)
	}
	switch h.Symmetry {
	case "general", "symmetric", "skew-symmetric":
	default:
		return nil, h, fmt.Errorf("%s:1: symmetry %q not supported (want general or symmetric)", name, h.Symmetry)
	}
	lineNo := 1
	// comments, then the size line
	for {
		if off >= len(data) {
			return nil, h, fmt.Errorf("%s: missing the size line", name)
		}
		line, off = nextLine(data, off)
		lineNo++
		t := bytes.TrimSpace(line)
		if len(t) == 0 || t[0] == '%' {
			continue
		}
		break
	}
	size := strings.Fields(string(line))
	wantSize := 3
	if h.Format == "array" {
		wantSize = 2
	}
	if len(size) != wantSize {
		return nil, h, fmt.Errorf("%s:%d: size line: want %d integers, got %q", name, lineNo, wantSize, clip(line))
	}
	dims := make([]int, wantSize)
	for i, s := range size {
		n, err := strconv.Atoi(s)
		if err != nil || n < 0 || (i < 2 && n > 1<<27) || n > 1<<31-1 {
			return nil, h, fmt.Errorf("%s:%d: size line: %q is not a valid count", name, lineNo, s)
		}
		dims[i] = n
	}
	m := &coo{rows: dims[0], cols: dims[1]}
	symmetric := h.Symmetry != "general"
	if symmetric && m.rows != m.cols {
		return nil, h, fmt.Errorf("%s:%d: a %s matrix must be square, got %d x %d", name, lineNo, h.Symmetry, m.rows, m.cols)
	}
	var nnz int
	if h.Format == "coordinate" {
		nnz = dims[2]
		if max64 := int64(m.rows) * int64(m.cols); int64(nnz) > max64 {
			return nil, h, fmt.Errorf("%s:%d: %d entries declared for a %d x %d matrix", name, lineNo, nnz, m.rows, m.cols)
		}
	} else {
		nnz = m.rows * m.cols
		if symmetric {
			nnz = m.rows * (m.rows + 1) / 2
			if h.Symmetry == "skew-symmetric" {
				nnz = m.rows * (m.rows - 1) / 2
			}
		}
	}
	capHint := min(nnz, len(data)/4+1)
	if symmetric {
		capHint *= 2
	}
	m.r = make([]int32, 0, capHint)
	m.c = make([]int32, 0, capHint)
	m.v = make([]float32, 0, capHint)
	m.line = make([]int32, 0, capHint)
	var fields [3][]byte
	read := 0
	ai, aj := 0, 0 // array position (column-major)
	if h.Format == "array" && h.Symmetry == "skew-symmetric" {
		ai = 1
	}
	for off < len(data) {
		line, off = nextLine(data, off)
		lineNo++
		t := bytes.TrimSpace(line)
		if len(t) == 0 || t[0] == '%' {
			continue
		}
		if read >= nnz {
			return nil, h, fmt.Errorf("%s:%d: more entries than the %d declared on the size line", name, lineNo, nnz)
		}
		nf, p := 0, 0
		for p < len(t) && nf < 3 {
			q := p
			for q < len(t) && t[q] != ' ' && t[q] != '\t' {
				q++
			}
			fields[nf] = t[p:q]
			nf++
			for q < len(t) && (t[q] == ' ' || t[q] == '\t') {
				q++
			}
			p = q
		}
		t = t[p:]
		var i, j int
		var val float64 = 1
		if h.Format == "coordinate" {
			want := 3
			if h.Field == "pattern" {
				want = 2
			}
			if nf != want || len(t) > 0 {
				return nil, h, fmt.Errorf("%s:%d: want %d fields (row, column%s), got %q", name, lineNo, want,
					map[bool]string{true: ", value", false: ""}[want == 3], clip(line))
			}
			var err error
			if i, err = mtxIndex(fields[0], m.rows); err != nil {
				return nil, h, fmt.Errorf("%s:%d: row index: %w", name, lineNo, err)
			}
			if j, err = mtxIndex(fields[1], m.cols); err != nil {
				return nil, h, fmt.Errorf("%s:%d: column index: %w", name, lineNo, err)
			}
			if want == 3 {
				v, ok := parseNumber(fields[2])
				if !ok || !finite(v) {
					return nil, h, fmt.Errorf("%s:%d: value: %s", name, lineNo, cellErrorFinite(fields[2], ok))
				}
				if h.Field == "integer" && v != float64(int64(v)) {
					return nil, h, fmt.Errorf("%s:%d: value %q is not an integer (the banner says integer)", name, lineNo, fields[2])
				}
				val = v
			}
			if symmetric && j > i {
				return nil, h, fmt.Errorf("%s:%d: entry (%d, %d) lies above the diagonal of a %s matrix", name, lineNo, i+1, j+1, h.Symmetry)
			}
		} else {
			if nf != 1 || len(t) > 0 {
				return nil, h, fmt.Errorf("%s:%d: want one value per line in an array matrix, got %q", name, lineNo, clip(line))
			}
			v, ok := parseNumber(fields[0])
			if !ok || !finite(v) {
				return nil, h, fmt.Errorf("%s:%d: value: %s", name, lineNo, cellErrorFinite(fields[0], ok))
			}
			val = v
			i, j = ai, aj
			ai++
			if ai >= m.rows {
				aj++
				ai = 0
				if symmetric {
					ai = aj
					if h.Symmetry == "skew-symmetric" {
						ai = aj + 1
					}
				}
			}
		}
		read++
		f, fok := toFloat32(val)
		if !fok {
			return nil, h, fmt.Errorf("%s:%d: value overflows float32", name, lineNo)
		}
		if h.Format == "array" && f == 0 {
			continue
		}
		m.r = append(m.r, int32(i))
		m.c = append(m.c, int32(j))
		m.v = append(m.v, f)
		m.line = append(m.line, int32(lineNo))
		if symmetric && i != j {
			if h.Symmetry == "skew-symmetric" {
				f = -f
			}
			m.r = append(m.r, int32(j))
			m.c = append(m.c, int32(i))
			m.v = append(m.v, f)
			m.line = append(m.line, int32(lineNo))
		}
	}
	if read != nnz {
		return nil, h, fmt.Errorf("%s: %d entries, but the size line declares %d (truncated file?)", name, read, nnz)
	}
	return m, h, nil
}

func mtxIndex(b []byte, n int) (int, error) {
	v := 0
	for i, c := range b {
		if c < '0' || c > '9' || i >= 10 {
			return 0, fmt.Errorf("%q is not an integer", b)
		}
		v = v*10 + int(c-'0')
	}
	if len(b) == 0 {
		return 0, fmt.Errorf("empty index")
	}
	if v < 1 || v > n {
		return 0, fmt.Errorf("%d out of range 1..%d", v, n)
	}
	return v - 1, nil
}

// WriteMTX writes s as a MatrixMarket coordinate file (integer when every value is
// whole, else real); a path ending in .gz is gzipped. Comments go after the banner.
func WriteMTX(path string, s *CSR, comments ...string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	var w io.Writer = f
	var zw *gzip.Writer
	if strings.HasSuffix(path, ".gz") {
		zw = gzip.NewWriter(f)
		w = zw
	}
	bw := bufio.NewWriterSize(w, 1<<20)
	field := "integer"
	for _, v := range s.Data {
		if v != float32(int64(v)) {
			field = "real"
			break
		}
	}
	fmt.Fprintf(bw, "%%%%MatrixMarket matrix coordinate %s general\n", field)
	for _, c := range comments {
		fmt.Fprintf(bw, "%% %s\n", c)
	}
	fmt.Fprintf(bw, "%d %d %d\n", s.Rows, s.Cols, len(s.Data))
	buf := make([]byte, 0, 64)
	for r := 0; r < s.Rows; r++ {
		for k := s.Indptr[r]; k < s.Indptr[r+1]; k++ {
			buf = strconv.AppendInt(buf[:0], int64(r+1), 10)
			buf = append(buf, ' ')
			buf = strconv.AppendInt(buf, int64(s.Indices[k]+1), 10)
			buf = append(buf, ' ')
			buf = strconv.AppendFloat(buf, float64(s.Data[k]), 'g', -1, 32)
			buf = append(buf, '\n')
			bw.Write(buf)
		}
	}
	err = bw.Flush()
	if zw != nil && err == nil {
		err = zw.Close()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}

// TenXFiles are the files of a 10x Genomics matrix folder.
type TenXFiles struct {
	Matrix, Features, Barcodes string
	Legacy                     bool // genes.tsv (two columns) rather than features.tsv
}

// Find10x locates the matrix, feature and barcode files in dir (each plain or .gz).
func Find10x(dir string) (TenXFiles, error) {
	pick := func(names ...string) string {
		for _, n := range names {
			for _, p := range []string{n + ".gz", n} {
				if st, err := os.Stat(filepath.Join(dir, p)); err == nil && !st.IsDir() {
					return filepath.Join(dir, p)
				}
			}
		}
		return ""
	}
	f := TenXFiles{Matrix: pick("matrix.mtx"), Features: pick("features.tsv"), Barcodes: pick("barcodes.tsv")}
	if f.Features == "" {
		f.Features = pick("genes.tsv")
		f.Legacy = f.Features != ""
	}
	var missing []string
	if f.Matrix == "" {
		missing = append(missing, "matrix.mtx[.gz]")
	}
	if f.Features == "" {
		missing = append(missing, "features.tsv[.gz] or genes.tsv")
	}
	if f.Barcodes == "" {
		missing = append(missing, "barcodes.tsv[.gz]")
	}
	if len(missing) > 0 {
		return f, fmt.Errorf("%s: not a 10x matrix folder: missing %s", dir, strings.Join(missing, ", "))
	}
	return f, nil
}

// Is10x reports whether dir holds a 10x matrix folder.
func Is10x(dir string) bool { _, err := Find10x(dir); return err == nil }

// TenXOptions configures Read10x.
type TenXOptions struct {
	// GeneIDs picks the gene ids: "id" (first column, e.g. Ensembl; default) or "name"
	// (the symbol; repeated symbols are made unique with "-1", "-2" suffixes, as scanpy does).
	GeneIDs string
	// FeatureType keeps only features of this type (third column of features.tsv, e.g.
	// "Gene Expression"); "" keeps all.
	FeatureType string
}

// Read10x reads a 10x Genomics matrix folder (Cell Ranger's filtered_feature_bc_matrix or
// the legacy genes.tsv layout). The matrix there is genes x cells; the result has cells as
// rows, kept sparse.
func Read10x(dir string, opt TenXOptions) (*Matrix, error) {
	files, err := Find10x(dir)
	if err != nil {
		return nil, err
	}
	feat, err := readTSVColumns(files.Features)
	if err != nil {
		return nil, err
	}
	bc, err := readTSVColumns(files.Barcodes)
	if err != nil {
		return nil, err
	}
	data, err := readAll(files.Matrix)
	if err != nil {
		return nil, err
	}
	tri, _, err := parseMTX(files.Matrix, data)
	if err != nil {
		return nil, err
	}
	if tri.rows != len(feat) {
		return nil, fmt.Errorf("%s: matrix has %d rows but %s lists %d features", files.Matrix, tri.rows, filepath.Base(files.Features), len(feat))
	}
	if tri.cols != len(bc) {
		return nil, fmt.Errorf("%s: matrix has %d columns but %s lists %d barcodes", files.Matrix, tri.cols, filepath.Base(files.Barcodes), len(bc))
	}
	cells, err := tri.csr(files.Matrix, true)
	if err != nil {
		return nil, err
	}
	m := &Matrix{Format: "10x", Source: dir, Sparse: cells, GeneInfo: map[string][]string{}}
	m.Samples = make([]string, len(bc))
	for i, row := range bc {
		m.Samples[i] = row[0]
	}
	if err := CheckIDs("barcode", m.Samples, func(i int) string { return fmt.Sprintf("%s:%d", files.Barcodes, i+1) }); err != nil {
		return nil, err
	}
	ids := make([]string, len(feat))
	names := make([]string, len(feat))
	types := make([]string, len(feat))
	for i, row := range feat {
		ids[i] = row[0]
		names[i] = ids[i]
		if len(row) > 1 {
			names[i] = row[1]
		}
		if len(row) > 2 {
			types[i] = row[2]
		}
	}
	if err := CheckIDs("feature", ids, func(i int) string { return fmt.Sprintf("%s:%d", files.Features, i+1) }); err != nil {
		return nil, err
	}
	switch opt.GeneIDs {
	case "", "id":
		m.Genes = ids
		m.GeneInfo["name"] = names
	case "name":
		m.Genes = makeUnique(names)
		m.GeneInfo["id"] = ids
	default:
		return nil, fmt.Errorf("gene ids %q: want id or name", opt.GeneIDs)
	}
	if !files.Legacy {
		m.GeneInfo["type"] = types
	}
	if opt.FeatureType != "" {
		var keep []int
		for i, t := range types {
			if t == opt.FeatureType {
				keep = append(keep, i)
			}
		}
		if len(keep) == 0 {
			return nil, fmt.Errorf("%s: no feature of type %q", files.Features, opt.FeatureType)
		}
		m = m.SelectGenes(keep)
	}
	return m, nil
}

// makeUnique appends -1, -2, ... to repeated names (the first keeps its name).
func makeUnique(names []string) []string {
	out := make([]string, len(names))
	seen := map[string]int{}
	for _, n := range names {
		seen[n]++
	}
	count := map[string]int{}
	for i, n := range names {
		if seen[n] == 1 {
			out[i] = n
			continue
		}
		k := count[n]
		count[n]++
		if k == 0 {
			out[i] = n
		} else {
			out[i] = n + "-" + strconv.Itoa(k)
		}
	}
	return out
}

// readTSVColumns reads a small headerless tab-separated file (optionally gzipped) into
// rows of fields; blank lines at the end are ignored.
func readTSVColumns(path string) ([][]string, error) {
	data, err := readAll(path)
	if err != nil {
		return nil, err
	}
	var out [][]string
	for off, n := 0, 1; off < len(data); n++ {
		var line []byte
		line, off = nextLine(data, off)
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		f := strings.Split(string(line), "\t")
		if strings.TrimSpace(f[0]) == "" {
			return nil, fmt.Errorf("%s:%d: empty id", path, n)
		}
		out = append(out, f)
	}
	return out, nil
}

// SelectGenes returns a matrix with only the given gene columns, in that order.
func (m *Matrix) SelectGenes(idx []int) *Matrix {
	out := &Matrix{Samples: m.Samples, SampleInfo: m.SampleInfo, Format: m.Format, Source: m.Source}
	out.Genes = make([]string, len(idx))
	for k, i := range idx {
		out.Genes[k] = m.Genes[i]
	}
	if m.GeneInfo != nil {
		out.GeneInfo = map[string][]string{}
		for name, vals := range m.GeneInfo {
			sub := make([]string, len(idx))
			for k, i := range idx {
				sub[k] = vals[i]
			}
			out.GeneInfo[name] = sub
		}
	}
	g := len(m.Genes)
	if m.Sparse == nil {
		out.X = make([]float32, len(m.Samples)*len(idx))
		for s := range m.Samples {
			row := m.X[s*g : (s+1)*g]
			dst := out.X[s*len(idx) : (s+1)*len(idx)]
			for k, i := range idx {
				dst[k] = row[i]
			}
		}
		return out
	}
	pos := make([]int32, g)
	for i := range pos {
		pos[i] = -1
	}
	for k, i := range idx {
		pos[i] = int32(k)
	}
	sp := &CSR{Rows: m.Sparse.Rows, Cols: len(idx), Indptr: make([]int64, m.Sparse.Rows+1)}
	for r := 0; r < sp.Rows; r++ {
		start := len(sp.Indices)
		for k := m.Sparse.Indptr[r]; k < m.Sparse.Indptr[r+1]; k++ {
			if p := pos[m.Sparse.Indices[k]]; p >= 0 {
				sp.Indices = append(sp.Indices, p)
				sp.Data = append(sp.Data, m.Sparse.Data[k])
			}
		}
		sortTriple(sp.Indices[start:], sp.Data[start:], make([]int32, len(sp.Indices)-start))
		sp.Indptr[r+1] = int64(len(sp.Indices))
	}
	out.Sparse = sp
	return out
}

// Write10x writes m as a 10x folder (matrix.mtx.gz genes x cells, features.tsv.gz with
// id, name and "Gene Expression", barcodes.tsv.gz). GeneInfo["name"] supplies the names
// when present.
func Write10x(dir string, m *Matrix) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	sp := m.Sparse
	if sp == nil {
		sp = denseToCSR(m.X, len(m.Samples), len(m.Genes))
	}
	if err := WriteMTX(filepath.Join(dir, "matrix.mtx.gz"), sp.T(), "written by biopipe io/expr"); err != nil {
		return err
	}
	names := m.GeneInfo["name"]
	var fb, bb strings.Builder
	for i, g := range m.Genes {
		n := g
		if names != nil {
			n = names[i]
		}
		fmt.Fprintf(&fb, "%s\t%s\tGene Expression\n", g, n)
	}
	for _, s := range m.Samples {
		bb.WriteString(s)
		bb.WriteByte('\n')
	}
	if err := writeGz(filepath.Join(dir, "features.tsv.gz"), fb.String()); err != nil {
		return err
	}
	return writeGz(filepath.Join(dir, "barcodes.tsv.gz"), bb.String())
}

func writeGz(path, s string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	zw := gzip.NewWriter(f)
	_, err = io.WriteString(zw, s)
	if cerr := zw.Close(); err == nil {
		err = cerr
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}

// denseToCSR converts a row-major dense matrix, dropping zeros.
func denseToCSR(x []float32, rows, cols int) *CSR {
	s := &CSR{Rows: rows, Cols: cols, Indptr: make([]int64, rows+1)}
	for r := 0; r < rows; r++ {
		for c, v := range x[r*cols : (r+1)*cols] {
			if v != 0 {
				s.Indices = append(s.Indices, int32(c))
				s.Data = append(s.Data, v)
			}
		}
		s.Indptr[r+1] = int64(len(s.Indices))
	}
	return s
}
