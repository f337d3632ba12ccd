package expr

import (
	"fmt"
	"slices"
)

// CSR is a compressed sparse row matrix of float32 values. Row r holds the entries
// Indices[Indptr[r]:Indptr[r+1]] (column indices, ascending) with values Data[...].
type CSR struct {
	Rows, Cols int
	Indptr     []int64 // len Rows+1
	Indices    []int32
	Data       []float32
}

// NNZ returns the number of stored entries.
func (s *CSR) NNZ() int { return len(s.Data) }

// At returns the value at (r, c).
func (s *CSR) At(r, c int) float32 {
	lo, hi := s.Indptr[r], s.Indptr[r+1]
	idx := s.Indices[lo:hi]
	if k, ok := slices.BinarySearch(idx, int32(c)); ok {
		return s.Data[lo+int64(k)]
	}
	return 0
}

// T returns the transpose (a CSR of the Cols x Rows matrix, i.e. the CSC of s).
func (s *CSR) T() *CSR {
	out := &CSR{Rows: s.Cols, Cols: s.Rows, Indptr: make([]int64, s.Cols+1),
		Indices: make([]int32, len(s.Indices)), Data: make([]float32, len(s.Data))}
	for _, c := range s.Indices {
		out.Indptr[c+1]++
	}
	for i := 0; i < s.Cols; i++ {
		out.Indptr[i+1] += out.Indptr[i]
	}
	next := slices.Clone(out.Indptr[:s.Cols])
	for r := 0; r < s.Rows; r++ {
		for k := s.Indptr[r]; k < s.Indptr[r+1]; k++ {
			c := s.Indices[k]
			p := next[c]
			out.Indices[p] = int32(r)
			out.Data[p] = s.Data[k]
			next[c]++
		}
	}
	return out
}

// Dense returns the matrix as a dense row-major slice.
func (s *CSR) Dense() []float32 {
	out := make([]float32, s.Rows*s.Cols)
	for r := 0; r < s.Rows; r++ {
		for k := s.Indptr[r]; k < s.Indptr[r+1]; k++ {
			out[r*s.Cols+int(s.Indices[k])] = s.Data[k]
		}
	}
	return out
}

// coo accumulates (row, col, value) triplets, 0-based, with the line each came from.
type coo struct {
	rows, cols int
	r, c       []int32
	v          []float32
	line       []int32
}

// csr builds the CSR of the triplets (transposed when t), sorting the columns of each row;
// a repeated (row, col) pair is an error naming both lines.
func (m *coo) csr(name string, t bool) (*CSR, error) {
	rows, cols, ri, ci := m.rows, m.cols, m.r, m.c
	if t {
		rows, cols, ri, ci = cols, rows, ci, ri
	}
	out := &CSR{Rows: rows, Cols: cols, Indptr: make([]int64, rows+1),
		Indices: make([]int32, len(m.v)), Data: make([]float32, len(m.v))}
	for _, r := range ri {
		out.Indptr[r+1]++
	}
	for i := 0; i < rows; i++ {
		out.Indptr[i+1] += out.Indptr[i]
	}
	next := slices.Clone(out.Indptr[:rows])
	src := make([]int32, len(m.v)) // entry index per slot, for error lines
	for k := range m.v {
		p := next[ri[k]]
		out.Indices[p] = ci[k]
		out.Data[p] = m.v[k]
		src[p] = int32(k)
		next[ri[k]]++
	}
	for r := 0; r < rows; r++ {
		lo, hi := out.Indptr[r], out.Indptr[r+1]
		idx, dat, sk := out.Indices[lo:hi], out.Data[lo:hi], src[lo:hi]
		if !slices.IsSorted(idx) {
			sortTriple(idx, dat, sk)
		}
		for k := 1; k < len(idx); k++ {
			if idx[k] == idx[k-1] {
				a, b := sk[k-1], sk[k]
				if a > b {
					a, b = b, a
				}
				er, ec := m.r[b]+1, m.c[b]+1
				return nil, fmt.Errorf("%s:%d: entry (%d, %d) repeats the entry on line %d", name, m.line[b], er, ec, m.line[a])
			}
		}
	}
	return out, nil
}

func sortTriple(idx []int32, dat []float32, src []int32) {
	// insertion sort for short rows, otherwise sort.Sort via indices
	if len(idx) < 32 {
		for i := 1; i < len(idx); i++ {
			for j := i; j > 0 && idx[j] < idx[j-1]; j-- {
				idx[j], idx[j-1] = idx[j-1], idx[j]
				dat[j], dat[j-1] = dat[j-1], dat[j]
				src[j], src[j-1] = src[j-1], src[j]
			}
		}
		return
	}
	perm := make([]int, len(idx))
	for i := range perm {
		perm[i] = i
	}
	slices.SortStableFunc(perm, func(a, b int) int { return int(idx[a]) - int(idx[b]) })
	i2, d2, s2 := slices.Clone(idx), slices.Clone(dat), slices.Clone(src)
	for k, p := range perm {
		idx[k], dat[k], src[k] = i2[p], d2[p], s2[p]
	}
}
