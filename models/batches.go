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

// prefetchSlots is the number of batches in flight: one being consumed by a step, one
// ready, one being filled.
const prefetchSlots = 3

// batch is one batch's host tensors: the input [rows, shape...] and, for supervised
// objectives, the labels [rows, 1] (int32 class indices or float32 targets; segmentation:
// the masks [rows, spatial..., 1]).
type batch struct {
	rows int
	args []any
	sets map[int][]any // tensors per row count, reused
	err  error
}

// batchPool owns the reusable slots of a loop's batches.
type batchPool struct {
	backend compute.Backend
	shape   []int // per-example input shape
	size    int   // values per example
	task    Task
	labels  bool
	free    chan *batch
}

func newBatchPool(backend compute.Backend, shape []int, task Task, labels bool) *batchPool {
	p := &batchPool{backend: backend, shape: slices.Clone(shape), size: dataset.TensorSize(shape), task: task, labels: labels,
		free: make(chan *batch, prefetchSlots)}
	for range prefetchSlots {
		p.free <- &batch{sets: map[int][]any{}}
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

// tensorsFor returns b's tensors for a batch of n rows, allocating them on first use.
func (p *batchPool) tensorsFor(b *batch, n int) ([]any, error) {
	if set, ok := b.sets[n]; ok {
		return set, nil
	}
	x, err := tensors.FromShapeForBackend(p.backend, 0, shapes.Make(dtypes.Float32, append([]int{n}, p.shape...)...))
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
	b.sets[n] = set
	return set, nil
}

// fill gathers the given rows of d into b.
func (p *batchPool) fill(b *batch, d *Data, rows []int) error {
	set, err := p.tensorsFor(b, len(rows))
	if err != nil {
		return err
	}
	b.rows, b.args = len(rows), set
	size := p.size
	var rerr error
	if err := tensors.MutableFlatData(set[0].(*tensors.Tensor), func(x []float32) {
		if d.Rows != nil {
			rerr = d.Rows.ReadRows(rows, x)
			return
		}
		for i, r := range rows {
			copy(x[i*size:(i+1)*size], d.X.X[r*size:(r+1)*size])
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

// batchStream delivers the batches of one pass over order, batchSize rows at a time,
// starting at batch first; the last batch may be smaller.
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
func (p *batchPool) stream(d *Data, order []int, batchSize, first int) *batchStream {
	s := &batchStream{pool: p, ready: make(chan *batch, prefetchSlots-2), stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(s.done)
		defer close(s.ready)
		for lo := first * batchSize; lo < len(order); lo += batchSize {
			var b *batch
			select {
			case b = <-p.free:
			case <-s.stop:
				return
			}
			hi := min(lo+batchSize, len(order))
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
