package models

import (
	"context"
	"fmt"
	"slices"

	"github.com/gomlx/compute"
	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	"github.com/gomlx/gomlx/core/tensors"

	"github.com/biopipe/biopipe/dataset"
)

// The input pipeline.
//
// A batchStream assembles the batches of one pass (a training epoch, a validation pass) in a
// goroutine, one batch ahead of the step that consumes them, into host tensors that are
// allocated once per batch shape and reused for the whole pass (and across passes: the
// slots belong to a batchPool that lives as long as the loop). On a backend with shared
// buffers (the go backend) the tensors are the backend's own buffers, so a batch is copied
// once, from the data into the buffer the graph reads. The order of the rows is the
// caller's: the stream only gathers, so the same seed gives the same batches.
//
// Bucketed sequences (Data.X.Lengths set): every batch holds rows of one length L, and its
// input tensor is [rows, L, shape[1:]...] (each row's first L positions; the rest of a row
// is padding), so each bucket length has its own slot tensors and compiled graphs.

// prefetchSlots is the number of batches in flight: one being consumed by a step, one
// ready, one being filled.
const prefetchSlots = 3

// batch is one batch's host tensors: the input [rows, shape...] and, for supervised
// objectives, the labels [rows, 1] (int32 class indices or float32 targets; segmentation:
// the masks [rows, spatial..., 1]).
type batch struct {
	rows int
	args []any
	sets map[batchKey][]any // tensors per row count and length, reused
	err  error
}

// batchKey is the shape of a batch: its rows and, for bucketed sequences, its length.
type batchKey struct{ rows, length int }

// batchPool owns the reusable slots of a loop's batches.
type batchPool struct {
	backend compute.Backend
	shape   []int // per-example input shape
	size    int   // values per example
	task    Task
	labels  bool
	free    chan *batch
	scratch []float32 // streamed bucketed data: whole rows before they are cut to length
}

func newBatchPool(backend compute.Backend, shape []int, task Task, labels bool) *batchPool {
	p := &batchPool{backend: backend, shape: slices.Clone(shape), size: dataset.TensorSize(shape), task: task, labels: labels,
		free: make(chan *batch, prefetchSlots)}
	for range prefetchSlots {
		p.free <- &batch{sets: map[batchKey][]any{}}
	}
	return p
}

// close frees every tensor of the pool; the pool must not be in use.
func (p *batchPool) close() {
	for range prefetchSlots {
		b := <-p.free
		for _, set := range b.sets {
			finalizeArgs(set)
		}
	}
}

// tensorsFor returns b's tensors for a batch of n rows of the given length (0: the
// whole shape), allocating them on first use.
func (p *batchPool) tensorsFor(b *batch, n, length int) ([]any, error) {
	key := batchKey{n, length}
	if set, ok := b.sets[key]; ok {
		return set, nil
	}
	xdims := append([]int{n}, p.shape...)
	if length > 0 {
		xdims[1] = length
	}
	x, err := tensors.FromShapeForBackend(p.backend, 0, shapes.Make(dtypes.Float32, xdims...))
	if err != nil {
		return nil, err
	}
	set := []any{x}
	if p.labels {
		var dt dtypes.DType
		ydims := []int{n, 1}
		switch p.task {
		case Classification, Generation:
			dt = dtypes.Int32
		case Regression:
			dt = dtypes.Float32
		case Segmentation: // the mask: [n, spatial..., 1]
			dt = dtypes.Float32
			ydims = append(append([]int{n}, p.shape[:len(p.shape)-1]...), 1)
		}
		if dt != dtypes.InvalidDType {
			y, err := tensors.FromShapeForBackend(p.backend, 0, shapes.Make(dt, ydims...))
			if err != nil {
				_ = x.FinalizeAll()
				return nil, err
			}
			set = append(set, y)
		}
	}
	b.sets[key] = set
	return set, nil
}

// batchLength is the length shared by the rows of a batch of bucketed sequences (0 when
// d is not bucketed); rows of different lengths are an error.
func batchLength(d *Data, rows []int) (int, error) {
	lengths := d.X.Lengths
	if lengths == nil || len(rows) == 0 {
		return 0, nil
	}
	l := lengths[rows[0]]
	for _, r := range rows[1:] {
		if lengths[r] != l {
			return 0, fmt.Errorf("rows %d and %d of one batch have bucket lengths %d and %d", rows[0], r, l, lengths[r])
		}
	}
	return l, nil
}

// fill gathers the given rows of d into b.
func (p *batchPool) fill(b *batch, d *Data, rows []int) error {
	length, err := batchLength(d, rows)
	if err != nil {
		return err
	}
	set, err := p.tensorsFor(b, len(rows), length)
	if err != nil {
		return err
	}
	b.rows, b.args = len(rows), set
	size := p.size
	used := size // values used per row: the first length positions
	if length > 0 {
		used = size / p.shape[0] * length
	}
	var rerr error
	if err := tensors.MutableFlatData(set[0].(*tensors.Tensor), func(x []float32) {
		switch {
		case d.Rows != nil && used == size:
			rerr = d.Rows.ReadRows(rows, x)
		case d.Rows != nil:
			if cap(p.scratch) < len(rows)*size {
				p.scratch = make([]float32, len(rows)*size)
			}
			whole := p.scratch[:len(rows)*size]
			if rerr = d.Rows.ReadRows(rows, whole); rerr == nil {
				for i := range rows {
					copy(x[i*used:(i+1)*used], whole[i*size:i*size+used])
				}
			}
		default:
			for i, r := range rows {
				copy(x[i*used:(i+1)*used], d.X.X[r*size:r*size+used])
			}
		}
	}); err != nil {
		return err
	}
	if rerr != nil {
		return rerr
	}
	if len(set) < 2 {
		return nil
	}
	y := set[1].(*tensors.Tensor)
	switch p.task {
	case Classification, Generation:
		return tensors.MutableFlatData(y, func(y []int32) {
			for i, r := range rows {
				y[i] = int32(d.Classes[r])
			}
		})
	case Regression:
		return tensors.MutableFlatData(y, func(y []float32) {
			for i, r := range rows {
				y[i] = float32(d.Targets[r])
			}
		})
	case Segmentation:
		ms := MaskSize(p.shape)
		return tensors.MutableFlatData(y, func(y []float32) {
			for i, r := range rows {
				copy(y[i*ms:(i+1)*ms], d.Masks[r*ms:(r+1)*ms])
			}
		})
	}
	return nil
}

// batchStream delivers the batches of one pass over order, batch i being
// order[ends[i-1]:ends[i]], starting at batch first.
type batchStream struct {
	pool   *batchPool
	ready  chan *batch
	stop   chan struct{}
	done   chan struct{}
	cur    *batch
	closed bool
}

// stream starts the goroutine that fills the batches of one pass. The caller takes them
// with next and must call close (which returns every slot to the pool) when done, also
// when it stops early.
func (p *batchPool) stream(d *Data, order []int, ends []int, first int) *batchStream {
	s := &batchStream{pool: p, ready: make(chan *batch, prefetchSlots-2), stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(s.done)
		defer close(s.ready)
		for i := first; i < len(ends); i++ {
			lo, hi := 0, ends[i]
			if i > 0 {
				lo = ends[i-1]
			}
			var b *batch
			select {
			case b = <-p.free:
			case <-s.stop:
				return
			}
			b.err = nil
			if err := p.fill(b, d, order[lo:hi]); err != nil {
				b.err = fmt.Errorf("assembling rows %d-%d of the batch: %w", lo, hi-1, err)
			}
			select {
			case s.ready <- b:
			case <-s.stop:
				p.free <- b
				return
			}
			if b.err != nil {
				return
			}
		}
	}()
	return s
}

// next returns the next batch's tensors and row count (valid until the following call to
// next or close), or ok false at the end of the pass.
func (s *batchStream) next(ctx context.Context) (args []any, rows int, ok bool, err error) {
	if s.cur != nil {
		s.pool.free <- s.cur
		s.cur = nil
	}
	select {
	case b, more := <-s.ready:
		if !more {
			return nil, 0, false, nil
		}
		s.cur = b
		if b.err != nil {
			return nil, 0, false, b.err
		}
		return b.args, b.rows, true, nil
	case <-ctx.Done():
		return nil, 0, false, ctx.Err()
	}
}

// close stops the filling goroutine and returns every slot to the pool.
func (s *batchStream) close() {
	if s.closed {
		return
	}
	s.closed = true
	close(s.stop)
	<-s.done
	if s.cur != nil {
		s.pool.free <- s.cur
		s.cur = nil
	}
	for b := range s.ready {
		b.err = nil
		s.pool.free <- b
	}
}

// uniformEnds returns the batch ends of n rows cut batchSize at a time (the last batch
// may be smaller).
//
// A smaller last batch costs one more compiled training graph per model (and per bucket
// length). It stays: every row is trained every epoch with the loss and statistics of the
// rows it has, as a user of Keras or of PyTorch's default DataLoader expects, and the figures
// and digests of existing runs stay as they are. The alternatives change what is trained:
// dropping the partial batch leaves up to batch_size-1 rows out of each epoch; padding it to
// the full shape with zero-weight rows changes batch-normalisation statistics, dropout draws
// and every family's loss (each would need per-row weights). Measured on the go backend
// (models.Train, one epoch, GOMAXPROCS=1, best of 15, n = 6 batches vs 6 batches + 1 row):
// the extra compile costs ~0.4 ms CPU for the quickstart's mlp and ~4.5 ms for the eeg lstm,
// about 0.1% of a quickstart run's CPU time (~400 ms, `biopipe run configs/quickstart.yaml --force`).
func uniformEnds(n, batchSize int) []int {
	ends := make([]int, 0, (n+batchSize-1)/batchSize)
	for hi := batchSize; ; hi += batchSize {
		if hi >= n {
			if n > 0 {
				ends = append(ends, n)
			}
			return ends
		}
		ends = append(ends, hi)
	}
}

// bucketEnds groups the rows of order by their length (stably: the rows of a bucket keep
// their relative order), buckets in increasing length, and returns the batch ends: at most
// batchSize rows of one length per batch. Without lengths it is uniformEnds.
func bucketEnds(order []int, lengths []int, batchSize int) []int {
	if lengths == nil {
		return uniformEnds(len(order), batchSize)
	}
	slices.SortStableFunc(order, func(a, b int) int { return lengths[a] - lengths[b] })
	var ends []int
	for lo := 0; lo < len(order); {
		hi := lo + 1
		for hi < len(order) && hi-lo < batchSize && lengths[order[hi]] == lengths[order[lo]] {
			hi++
		}
		ends = append(ends, hi)
		lo = hi
	}
	return ends
}
