package dataset

import (
	"fmt"
	"os"
	"slices"
	"sort"
	"sync"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/ipc"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// Table is a table artifact (an Arrow IPC file) opened for reading one record batch at a
// time, for data larger than memory: the role columns (label, split, group, id, fold) of
// every row are read once, at open, and the feature values are read on demand, batch by
// batch (FeatureStream). The file is the same format ReadFile reads; WriteFile writes tables
// over MaxRecordBatchBytes as several record batches, so they stream in bounded memory.
type Table struct {
	path   string
	fh     *os.File
	r      *ipc.FileReader
	starts []int  // first row of each record batch; len = batches+1
	roles  *Frame // role columns of every row, with the table's metadata
}

// OpenTable opens the table artifact at path. Close it when done.
func OpenTable(path string) (*Table, error) {
	fh, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	r, err := ipc.NewFileReader(fh, ipc.WithAllocator(memory.DefaultAllocator))
	if err != nil {
		fh.Close()
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	t := &Table{path: path, fh: fh, r: r, starts: []int{0}}
	// One pass over the batches: their row counts, and the role columns' values copied out
	// (an array read from the file shares the batch's one body buffer, features included,
	// so keeping the arrays would keep the whole file in memory).
	schema := r.Schema()
	roles := frameFor(schema)
	roleNames := roles.RoleColumns()
	var roleIdx []int
	var roleCols []*Column
	for i, c := range roles.Columns {
		if slices.Contains(roleNames, c.Name) {
			roleIdx = append(roleIdx, i)
			roleCols = append(roleCols, c)
		}
	}
	roles.Columns = roleCols
	for i := 0; i < r.NumRecords(); i++ {
		rec, err := r.RecordBatchAt(i)
		if err != nil {
			t.Close()
			return nil, fmt.Errorf("%s: record batch %d: %w", path, i, err)
		}
		for j, ci := range roleIdx {
			if err := appendChecked(roleCols[j], rec.Column(ci)); err != nil {
				rec.Release()
				t.Close()
				return nil, fmt.Errorf("%s: record batch %d: column %q: %w", path, i, roleCols[j].Name, err)
			}
		}
		t.starts = append(t.starts, t.starts[len(t.starts)-1]+int(rec.NumRows()))
		rec.Release()
	}
	for _, c := range roleCols {
		if !slices.Contains(c.Valid, false) {
			c.Valid = nil
		}
	}
	if err := roles.Validate(); err != nil {
		t.Close()
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	t.roles = roles
	return t, nil
}

// appendChecked appends a validated array to c with its validity, returning a panic of
// arrow-go's accessors on corrupt data as an error (as FromRecords does).
func appendChecked(c *Column, a arrow.Array) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("corrupt Arrow data: %v", r)
		}
	}()
	if err := ValidateArray(a); err != nil {
		return fmt.Errorf("corrupt Arrow data: %w", err)
	}
	return appendArray(c, a, true)
}

// Close closes the file.
func (t *Table) Close() error {
	t.r.Close()
	return t.fh.Close()
}

// Path is the file the table was opened from.
func (t *Table) Path() string { return t.path }

// NumRows is the number of rows of the table.
func (t *Table) NumRows() int { return t.starts[len(t.starts)-1] }

// NumBatches is the number of record batches of the file.
func (t *Table) NumBatches() int { return len(t.starts) - 1 }

// Roles returns the role columns (label, split, group, id, fold) of every row, with the
// table's metadata, so SplitRows, Labels and Classes work on it as on the whole frame.
func (t *Table) Roles() *Frame { return t.roles }

// Batch reads record batch i as a frame (every column).
func (t *Table) Batch(i int) (*Frame, error) {
	rec, err := t.r.RecordBatchAt(i)
	if err != nil {
		return nil, fmt.Errorf("%s: record batch %d: %w", t.path, i, err)
	}
	defer rec.Release()
	f, err := FromRecords(t.r.Schema(), []arrow.RecordBatch{rec})
	if err != nil {
		return nil, fmt.Errorf("%s: record batch %d: %w", t.path, i, err)
	}
	return f, nil
}

// batchOf returns the record batch holding table row r.
func (t *Table) batchOf(r int) int { return sort.SearchInts(t.starts, r+1) - 1 }

// Features returns a FeatureStream over the given table rows (ascending, as SplitRows gives
// them): the feature values of those rows, as Frame.Features would build them, read from
// the file batch by batch.
func (t *Table) Features(rows []int) (*FeatureStream, error) {
	if !slices.IsSorted(rows) {
		return nil, fmt.Errorf("%s: streamed rows must be in ascending order", t.path)
	}
	if len(rows) > 0 && (rows[0] < 0 || rows[len(rows)-1] >= t.NumRows()) {
		return nil, fmt.Errorf("%s: row %d out of range (%d rows)", t.path, rows[len(rows)-1], t.NumRows())
	}
	s := &FeatureStream{t: t, rows: slices.Clone(rows), cache: map[int]*streamChunk{}, CacheBatches: 2}
	// The layout (shape, names, columns) is that of the first row's batch.
	probe := 0
	if len(rows) > 0 {
		probe = t.batchOf(rows[0])
	}
	if t.NumBatches() == 0 {
		return nil, fmt.Errorf("%s: the table has no record batches", t.path)
	}
	f, err := t.Batch(probe)
	if err != nil {
		return nil, err
	}
	m, err := f.Features([]int{})
	if err != nil {
		return nil, fmt.Errorf("%s: %w", t.path, err)
	}
	m.N = len(rows)
	if m.Lengths != nil { // bucketed sequences: the lengths are a role column, in memory
		if m.Lengths, err = t.roles.LengthBuckets(rows, m.Shape); err != nil {
			return nil, fmt.Errorf("%s: %w", t.path, err)
		}
	}
	s.M = m
	s.size = TensorSize(m.Shape)
	for b := range t.NumBatches() {
		lo := sort.SearchInts(s.rows, t.starts[b])
		hi := sort.SearchInts(s.rows, t.starts[b+1])
		if hi > lo {
			s.chunks = append(s.chunks, hi-lo)
		}
	}
	return s, nil
}

// FeatureStream reads the feature values of a set of a Table's rows on demand. Its rows
// are numbered 0..M.N-1 in table order; ReadRows copies any of them, decoding the record
// batches they lie in and keeping the last CacheBatches decoded. Reads in an order that
// visits the batches a few at a time (ChunkSizes) decode each batch about once per pass.
type FeatureStream struct {
	// M describes the rows (N, Shape, Names, Columns); its X is nil.
	M *Matrix
	// CacheBatches is how many decoded record batches are kept (at least 1).
	CacheBatches int

	t      *Table
	rows   []int // table row of each stream row
	size   int
	chunks []int

	mu    sync.Mutex
	cache map[int]*streamChunk
	lru   []int // batch numbers, least recently used first
	reads int   // record batches decoded so far
}

type streamChunk struct {
	values []float32 // every row of the batch, Features layout
}

// ChunkSizes returns how many of the stream's rows lie in each record batch, in order
// (batches holding none are left out): rows [0, c0) in the first, [c0, c0+c1) in the next...
func (s *FeatureStream) ChunkSizes() []int { return slices.Clone(s.chunks) }

// Decoded returns the number of record batches decoded so far.
func (s *FeatureStream) Decoded() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.reads
}

// ReadRows copies the feature values of the given stream rows into dst, one row after the
// other (len(dst) = len(idx) * prod(M.Shape)). It is safe for concurrent use.
func (s *FeatureStream) ReadRows(idx []int, dst []float32) error {
	if len(dst) != len(idx)*s.size {
		return fmt.Errorf("%s: %d values to fill for %d rows of %d", s.t.path, len(dst), len(idx), s.size)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, k := range idx {
		if k < 0 || k >= len(s.rows) {
			return fmt.Errorf("%s: row %d out of range (%d rows)", s.t.path, k, len(s.rows))
		}
		r := s.rows[k]
		b := s.t.batchOf(r)
		c, err := s.chunk(b)
		if err != nil {
			return err
		}
		off := (r - s.t.starts[b]) * s.size
		copy(dst[i*s.size:(i+1)*s.size], c.values[off:off+s.size])
	}
	return nil
}

// chunk returns the decoded feature values of record batch b, decoding it (and evicting
// the least recently used one past CacheBatches) when needed.
func (s *FeatureStream) chunk(b int) (*streamChunk, error) {
	if c, ok := s.cache[b]; ok {
		if s.lru[len(s.lru)-1] != b {
			s.lru = append(slices.DeleteFunc(s.lru, func(x int) bool { return x == b }), b)
		}
		return c, nil
	}
	for len(s.lru) >= max(s.CacheBatches, 1) {
		delete(s.cache, s.lru[0])
		s.lru = s.lru[1:]
	}
	f, err := s.t.Batch(b)
	if err != nil {
		return nil, err
	}
	m, err := f.Features(nil)
	if err != nil {
		return nil, fmt.Errorf("%s: record batch %d (rows %d-%d): %w", s.t.path, b, s.t.starts[b], s.t.starts[b+1]-1, err)
	}
	if !slices.Equal(m.Shape, s.M.Shape) {
		return nil, fmt.Errorf("%s: record batch %d has features of shape %v, the first %v", s.t.path, b, m.Shape, s.M.Shape)
	}
	c := &streamChunk{values: m.X}
	s.cache[b] = c
	s.lru = append(s.lru, b)
	s.reads++
	return c, nil
}
