// Copyright 2023-2026 The GoMLX Authors. SPDX-License-Identifier: Apache-2.0

package ops

import (
	"math"
	"sync"

	"github.com/gomlx/compute"
	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/internal/gobackend"
)

// Run-wise ReduceWindow and SelectAndScatter for windows without padding or dilations (pooling):
// the operand offsets of one window's elements are computed once, in the row-major window order
// the generic implementations visit them; the output (ReduceWindow) or source (SelectAndScatter)
// is walked row by row, a row being its innermost (merged) axis, along which the window's start
// moves by a constant step. The order of operations per output element is the generic one, so
// the results are bit for bit the same.

// windowRunsMinElements is the number of output (or source) elements from which the row walk is
// split among workers.
const windowRunsMinElements = 16 * 1024

// windowRunsOff makes ReduceWindow and SelectAndScatter take the generic path (tests compare the two).
var windowRunsOff = false

// maxWindowFloat32Rows, when set (AVX512), is the float32 max ReduceWindow of len(out)/n rows of
// n >= 16 contiguous elements: out[j*n+i] is the max, in Go's max semantics (NaN if any is
// NaN, +0 over -0), of x[base+j*rowStep+i+off] for off in offs.
var maxWindowFloat32Rows func(out, x []float32, n, base, rowStep int, offs []int)

// maxPool2x2Float32Rows, when set (AVX512), is the float32 max ReduceWindow of 2x2 windows with
// stride 2 along rows of n outputs: out[j*n+i] is the max, in Go's max semantics, of x[t+2i],
// x[t+2i+1], x[t+width+2i] and x[t+width+2i+1], t = base+j*rowStep.
var maxPool2x2Float32Rows func(out, x []float32, n, base, rowStep, width int)

// maxPoolRunFloat32Rows, when set (AVX512), is the float32 max ReduceWindow of windows of k (2 or
// 4) adjacent elements with stride k (1-d pooling of contiguous rows): out[j*n+i] is the max,
// in Go's max semantics, of x[t+k*i : t+k*i+k], t = base+j*rowStep.
var maxPoolRunFloat32Rows func(out, x []float32, n, base, rowStep, k int)

// selectMaxRun4Float32Rows, when set (AVX512), is selectAndScatter4Float32's max for len(src)/n
// rows of n windows of 4 adjacent elements with stride 4, row j's starting at base+j*rowStep.
var selectMaxRun4Float32Rows func(out, x, src []float32, n, base, rowStep int)

// maxWindowFloat32Scalar sets o[i] to the max of x[b+i+off] over offs as reduceWindowRunsT does
// (a chain of Go's max from -Inf, in window order).
func maxWindowFloat32Scalar(o, x []float32, b int, offs []int) {
	init := float32(math.Inf(-1))
	for i := range o {
		v := init
		for _, off := range offs {
			v = max(v, x[b+i+off])
		}
		o[i] = v
	}
}

// windowPlan is the loop structure of a window op over an operand without padding or dilations.
type windowPlan struct {
	offsets []int // operand offset of each window element, row-major window order
	dims    []int // output (source) dimensions, size-1 axes dropped, contiguous walks merged
	steps   []int // operand step of one unit along each axis of dims
}

// newWindowPlan returns the plan of windows of the given dimensions and strides over an operand
// of dimensions operandDims whose windows produce outDims, or ok=false if the op has padding or
// dilations (the generic implementation handles those).
func newWindowPlan(operandDims, window, strides, outDims, inputDilations, windowDilations []int, paddings [][2]int) (plan windowPlan, ok bool) {
	rank := len(operandDims)
	if len(window) != rank || len(strides) != rank || len(outDims) != rank {
		return plan, false
	}
	for axis := range rank {
		if (len(inputDilations) > 0 && inputDilations[axis] != 1) ||
			(len(windowDilations) > 0 && windowDilations[axis] != 1) ||
			(len(paddings) > 0 && paddings[axis] != [2]int{}) ||
			window[axis] < 1 || strides[axis] < 1 {
			return plan, false
		}
	}
	operandStrides := make([]int, rank)
	stride := 1
	for axis := rank - 1; axis >= 0; axis-- {
		operandStrides[axis] = stride
		stride *= operandDims[axis]
	}
	windowIdx := make([]int, rank)
	for {
		off := 0
		for axis, w := range windowIdx {
			off += w * operandStrides[axis]
		}
		plan.offsets = append(plan.offsets, off)
		axis := rank - 1
		for ; axis >= 0; axis-- {
			windowIdx[axis]++
			if windowIdx[axis] < window[axis] {
				break
			}
			windowIdx[axis] = 0
		}
		if axis < 0 {
			break
		}
	}
	for axis := range rank {
		d, step := outDims[axis], strides[axis]*operandStrides[axis]
		switch {
		case d == 1:
			continue
		case len(plan.dims) > 0 && plan.steps[len(plan.steps)-1] == d*step:
			plan.dims[len(plan.dims)-1] *= d
			plan.steps[len(plan.steps)-1] = step
		default:
			plan.dims = append(plan.dims, d)
			plan.steps = append(plan.steps, step)
		}
	}
	if len(plan.dims) == 0 {
		plan.dims, plan.steps = []int{1}, []int{0}
	}
	return plan, true
}

// rows is the number of rows (all elements over the innermost axis).
func (p *windowPlan) rows() int {
	n := 1
	for _, d := range p.dims[:len(p.dims)-1] {
		n *= d
	}
	return n
}

// walk calls row(base, first, n, step) for the rows [rowStart, rowEnd): base is the operand
// offset of the row's first window, first the flat index of its first output element.
func (p *windowPlan) walk(rowStart, rowEnd int, row func(base, first int)) {
	last := len(p.dims) - 1
	idx := make([]int, last)
	base, r := 0, rowStart
	for axis := last - 1; axis >= 0; axis-- {
		idx[axis] = r % p.dims[axis]
		r /= p.dims[axis]
		base += idx[axis] * p.steps[axis]
	}
	n := p.dims[last]
	for rowIdx := rowStart; rowIdx < rowEnd; rowIdx++ {
		row(base, rowIdx*n)
		for axis := last - 1; axis >= 0; axis-- {
			idx[axis]++
			base += p.steps[axis]
			if idx[axis] < p.dims[axis] {
				break
			}
			base -= idx[axis] * p.steps[axis]
			idx[axis] = 0
		}
	}
}

// walkRuns calls fn(first, count, base) for the rows [rowStart, rowEnd) grouped in runs along
// the second innermost axis: count rows from the flat output index first (a multiple of the row
// length), base the operand offset of the first row's first window; the next row starts
// steps[len(steps)-2] further.
func (p *windowPlan) walkRuns(rowStart, rowEnd int, fn func(first, count, base int)) {
	last := len(p.dims) - 1
	n := p.dims[last]
	if last == 0 {
		if rowStart < rowEnd {
			fn(0, 1, 0)
		}
		return
	}
	m := p.dims[last-1]
	for r := rowStart; r < rowEnd; {
		count := min(m-r%m, rowEnd-r)
		base, q := 0, r
		for axis := last - 1; axis >= 0; axis-- {
			base += (q % p.dims[axis]) * p.steps[axis]
			q /= p.dims[axis]
		}
		fn(r*n, count, base)
		r += count
	}
}

// parallelRows runs fn over [0, rows) in contiguous chunks, one per available worker, when
// elements (rows times the row length) is large enough; else in the calling goroutine.
func parallelRows(backend *gobackend.Backend, rows, elements int, fn func(rowStart, rowEnd int)) {
	workers := 1
	if backend != nil && backend.Workers != nil && backend.Workers.IsEnabled() && elements >= windowRunsMinElements {
		workers = min(backend.Workers.AdjustedMaxParallelism(), rows)
	}
	if workers <= 1 {
		fn(0, rows)
		return
	}
	chunk := (rows + workers - 1) / workers
	var wg sync.WaitGroup
	for start := chunk; start < rows; start += chunk {
		wg.Add(1)
		backend.Workers.StartOrRun(func() {
			defer wg.Done()
			fn(start, min(start+chunk, rows))
		})
	}
	fn(0, min(chunk, rows))
	wg.Wait()
}

// reduceWindowRuns computes ReduceWindow (Max, Min, Sum, Product) with the plan into output,
// bit for bit as the generic implementation. It returns false, doing nothing, for dtypes it
// does not handle.
func reduceWindowRuns(backend *gobackend.Backend, reduction compute.ReduceOpType, plan *windowPlan, operand, output *gobackend.Buffer) bool {
	switch x := operand.Flat.(type) {
	case []float32:
		return reduceWindowRunsT(backend, operand.RawShape.DType, reduction, plan, x, output.Flat.([]float32))
	case []float64:
		return reduceWindowRunsT(backend, operand.RawShape.DType, reduction, plan, x, output.Flat.([]float64))
	case []int32:
		return reduceWindowRunsT(backend, operand.RawShape.DType, reduction, plan, x, output.Flat.([]int32))
	case []int64:
		return reduceWindowRunsT(backend, operand.RawShape.DType, reduction, plan, x, output.Flat.([]int64))
	case []int8:
		return reduceWindowRunsT(backend, operand.RawShape.DType, reduction, plan, x, output.Flat.([]int8))
	case []int16:
		return reduceWindowRunsT(backend, operand.RawShape.DType, reduction, plan, x, output.Flat.([]int16))
	case []uint8:
		return reduceWindowRunsT(backend, operand.RawShape.DType, reduction, plan, x, output.Flat.([]uint8))
	case []uint16:
		return reduceWindowRunsT(backend, operand.RawShape.DType, reduction, plan, x, output.Flat.([]uint16))
	case []uint32:
		return reduceWindowRunsT(backend, operand.RawShape.DType, reduction, plan, x, output.Flat.([]uint32))
	case []uint64:
		return reduceWindowRunsT(backend, operand.RawShape.DType, reduction, plan, x, output.Flat.([]uint64))
	}
	return false
}

func reduceWindowRunsT[T gobackend.PODNumericConstraints](backend *gobackend.Backend, dtype dtypes.DType, reduction compute.ReduceOpType, plan *windowPlan, x, out []T) bool {
	var init T
	switch reduction { //nolint:exhaustive
	case compute.ReduceOpMax:
		init = dtype.LowestValue().(T)
	case compute.ReduceOpMin:
		init = dtype.HighestValue().(T)
	case compute.ReduceOpSum:
		init = 0
	case compute.ReduceOpProduct:
		init = 1
	default:
		return false
	}
	if len(out) == 0 {
		return true
	}
	offs := plan.offsets
	n := plan.dims[len(plan.dims)-1]
	step := plan.steps[len(plan.steps)-1]
	if xf, ok := any(x).([]float32); ok && reduction == compute.ReduceOpMax {
		// Vector kernels (AVX512) over runs of rows: contiguous rows (channels-last pooling) or
		// 2x2 windows with stride 2 along the row (channels-first).
		outf := any(out).([]float32)
		var kernel func(first, count, base int)
		rowStep := 0
		if len(plan.dims) > 1 {
			rowStep = plan.steps[len(plan.steps)-2]
		}
		switch {
		case step == 1 && n >= 16 && maxWindowFloat32Rows != nil:
			kernel = func(first, count, base int) {
				maxWindowFloat32Rows(outf[first:first+count*n], xf, n, base, rowStep, offs)
			}
		case (step == 2 || step == 4) && len(offs) == step && offs[0] == 0 && offs[step-1] == step-1 && maxPoolRunFloat32Rows != nil:
			kernel = func(first, count, base int) {
				maxPoolRunFloat32Rows(outf[first:first+count*n], xf, n, base, rowStep, step)
			}
		case step == 2 && len(offs) == 4 && offs[0] == 0 && offs[1] == 1 && offs[2] > 1 && offs[3] == offs[2]+1 && maxPool2x2Float32Rows != nil:
			width := offs[2]
			kernel = func(first, count, base int) {
				maxPool2x2Float32Rows(outf[first:first+count*n], xf, n, base, rowStep, width)
			}
		}
		if kernel != nil {
			parallelRows(backend, plan.rows(), len(out), func(rowStart, rowEnd int) { plan.walkRuns(rowStart, rowEnd, kernel) })
			return true
		}
	}
	row := func(base, first int) {
		o := out[first : first+n]
		switch reduction { //nolint:exhaustive
		case compute.ReduceOpMax:
			if len(offs) == 4 {
				o0, o1, o2, o3 := offs[0], offs[1], offs[2], offs[3]
				for i := range o {
					b := base + i*step
					o[i] = max(max(max(max(init, x[b+o0]), x[b+o1]), x[b+o2]), x[b+o3])
				}
				return
			}
			for i := range o {
				b, v := base+i*step, init
				for _, off := range offs {
					v = max(v, x[b+off])
				}
				o[i] = v
			}
		case compute.ReduceOpMin:
			for i := range o {
				b, v := base+i*step, init
				for _, off := range offs {
					v = min(v, x[b+off])
				}
				o[i] = v
			}
		case compute.ReduceOpSum:
			for i := range o {
				b, v := base+i*step, init
				for _, off := range offs {
					v += x[b+off]
				}
				o[i] = v
			}
		case compute.ReduceOpProduct:
			for i := range o {
				b, v := base+i*step, init
				for _, off := range offs {
					v *= x[b+off]
				}
				o[i] = v
			}
		}
	}
	parallelRows(backend, plan.rows(), len(out), func(rowStart, rowEnd int) { plan.walk(rowStart, rowEnd, row) })
	return true
}

// selectAndScatterRuns computes SelectAndScatterMax/Min with the plan (source walked as the
// output of the window reduction) into output: each source value is added, to the zeroed
// output, at the position of its window's first maximum (minimum), a NaN winning as in the
// generic implementation. tiled: the windows cover the operand exactly, once (the output is
// then not zeroed first where every element gets written). It returns false, doing nothing, for
// dtypes it does not handle.
func selectAndScatterRuns(backend *gobackend.Backend, isMin bool, plan *windowPlan, overlapping, tiled bool, operand, source, output *gobackend.Buffer) bool {
	switch x := operand.Flat.(type) {
	case []float32:
		if len(plan.offsets) == 4 && !overlapping {
			if !tiled {
				output.Zeros()
			}
			selectAndScatter4Float32(backend, isMin, plan, x, source.Flat.([]float32), output.Flat.([]float32))
			break
		}
		output.Zeros()
		selectAndScatterRunsT(backend, isMin, plan, overlapping, x, source.Flat.([]float32), output.Flat.([]float32))
	case []float64:
		output.Zeros()
		selectAndScatterRunsT(backend, isMin, plan, overlapping, x, source.Flat.([]float64), output.Flat.([]float64))
	case []int32:
		output.Zeros()
		selectAndScatterRunsT(backend, isMin, plan, overlapping, x, source.Flat.([]int32), output.Flat.([]int32))
	case []int64:
		output.Zeros()
		selectAndScatterRunsT(backend, isMin, plan, overlapping, x, source.Flat.([]int64), output.Flat.([]int64))
	default:
		return false
	}
	return true
}

func selectAndScatterRunsT[T gobackend.PODNumericConstraints](backend *gobackend.Backend, isMin bool, plan *windowPlan, overlapping bool, x, src, out []T) {
	if len(src) == 0 {
		return
	}
	offs := plan.offsets
	n := plan.dims[len(plan.dims)-1]
	step := plan.steps[len(plan.steps)-1]
	row := func(base, first int) {
		s := src[first : first+n]
		if len(offs) == 4 {
			// The winner is the first element equal to the window's max (min); a window with a
			// NaN takes the generic scan (its last NaN wins).
			o0, o1, o2, o3 := offs[0], offs[1], offs[2], offs[3]
			for i, v := range s {
				b := base + i*step
				x0, x1, x2, x3 := x[b+o0], x[b+o1], x[b+o2], x[b+o3]
				var m T
				if isMin {
					m = min(min(x0, x1), min(x2, x3))
				} else {
					m = max(max(x0, x1), max(x2, x3))
				}
				if m != m {
					out[selectScan(x, b, offs, isMin)] += v
					continue
				}
				k := o3
				if x2 == m {
					k = o2
				}
				if x1 == m {
					k = o1
				}
				if x0 == m {
					k = o0
				}
				out[b+k] += v
			}
			return
		}
		for i, v := range s {
			out[selectScan(x, base+i*step, offs, isMin)] += v
		}
	}
	if overlapping {
		// Windows share operand elements: one goroutine, in source order (the generic order).
		plan.walk(0, plan.rows(), row)
		return
	}
	parallelRows(backend, plan.rows(), len(src), func(rowStart, rowEnd int) { plan.walk(rowStart, rowEnd, row) })
}

// selectScan returns the operand index of the element the generic SelectAndScatter selects in
// the window at b: the first maximum (minimum), or the last NaN.
func selectScan[T gobackend.PODNumericConstraints](x []T, b int, offs []int, isMin bool) int {
	best, bv := b+offs[0], x[b+offs[0]]
	for _, off := range offs[1:] {
		c := x[b+off]
		if (isMin && c < bv) || (!isMin && c > bv) || c != c {
			best, bv = b+off, c
		}
	}
	return best
}

// selectAndScatter4Float32 is selectAndScatterRunsT for float32 windows of 4 elements (2x2
// pooling) that do not overlap: every element of a window is written, the source value
// (added to zero, as the generic implementation does) at the winner and zero elsewhere,
// through bit masks; elements outside every window keep the output's (zeroed) value. Scatter-adding at the winner's data-dependent address made
// each window wait for the previous one's store (measured 2.6x slower).
func selectAndScatter4Float32(backend *gobackend.Backend, isMin bool, plan *windowPlan, x, src, out []float32) {
	if len(src) == 0 {
		return
	}
	o0, o1, o2, o3 := plan.offsets[0], plan.offsets[1], plan.offsets[2], plan.offsets[3]
	n := plan.dims[len(plan.dims)-1]
	step := plan.steps[len(plan.steps)-1]
	if !isMin {
		// Vector kernels (AVX512) over runs of rows, as in reduceWindowRunsT.
		var kernel func(first, count, base int)
		rowStep := 0
		if len(plan.dims) > 1 {
			rowStep = plan.steps[len(plan.steps)-2]
		}
		offs := [4]int{o0, o1, o2, o3}
		switch {
		case step == 1 && n >= 16 && selectMax4Float32Rows != nil:
			kernel = func(first, count, base int) {
				selectMax4Float32Rows(out, x, src[first:first+count*n], n, base, rowStep, offs)
			}
		case step == 4 && o0 == 0 && o3 == 3 && selectMaxRun4Float32Rows != nil:
			kernel = func(first, count, base int) {
				selectMaxRun4Float32Rows(out, x, src[first:first+count*n], n, base, rowStep)
			}
		case step == 2 && o0 == 0 && o1 == 1 && o2 > 1 && o3 == o2+1 && selectMax2x2Float32Rows != nil:
			kernel = func(first, count, base int) {
				selectMax2x2Float32Rows(out, x, src[first:first+count*n], n, base, rowStep, o2)
			}
		}
		if kernel != nil {
			parallelRows(backend, plan.rows(), len(src), func(rowStart, rowEnd int) { plan.walkRuns(rowStart, rowEnd, kernel) })
			return
		}
	}
	row := func(base, first int) {
		for i, v := range src[first : first+n] {
			b := base + i*step
			x0, x1, x2, x3 := x[b+o0], x[b+o1], x[b+o2], x[b+o3]
			var m float32
			if isMin {
				m = min(min(x0, x1), min(x2, x3))
			} else {
				m = max(max(x0, x1), max(x2, x3))
			}
			var zero float32
			if m != m {
				w := selectScan(x, b, plan.offsets, isMin)
				out[b+o0], out[b+o1], out[b+o2], out[b+o3] = 0, 0, 0, 0
				out[w] = zero + v
				continue
			}
			e0, e1, e2 := b2u32(x0 == m), b2u32(x1 == m), b2u32(x2 == m)
			s1 := (1 - e0) & e1
			s2 := (1 - e0) & (1 - e1) & e2
			s3 := (1 - e0) & (1 - e1) & (1 - e2)
			vb := math.Float32bits(zero + v)
			out[b+o0] = math.Float32frombits(vb & -e0)
			out[b+o1] = math.Float32frombits(vb & -s1)
			out[b+o2] = math.Float32frombits(vb & -s2)
			out[b+o3] = math.Float32frombits(vb & -s3)
		}
	}
	parallelRows(backend, plan.rows(), len(src), func(rowStart, rowEnd int) { plan.walk(rowStart, rowEnd, row) })
}

// b2u32 is 1 for true, 0 for false (compiled without a branch).
func b2u32(b bool) uint32 {
	if b {
		return 1
	}
	return 0
}

// selectMax4Float32Rows, when set (AVX512), is selectAndScatter4Float32's max for len(src)/n rows
// of n >= 16 windows of 4 elements (offsets offs) a step of 1 apart: row j's windows start at
// base+j*rowStep, and take src[j*n:(j+1)*n].
var selectMax4Float32Rows func(out, x, src []float32, n, base, rowStep int, offs [4]int)

// selectMax2x2Float32Rows, when set (AVX512), is selectAndScatter4Float32's max for len(src)/n
// rows of n 2x2 windows a step of 2 apart (offsets 0, 1, width, width+1), row j's starting at
// base+j*rowStep.
var selectMax2x2Float32Rows func(out, x, src []float32, n, base, rowStep, width int)

// selectMax4Float32Window is selectAndScatter4Float32's max for the one window at b with source
// value v (the vector kernels' scalar path for blocks with a NaN).
func selectMax4Float32Window(out, x []float32, b int, offs *[4]int, v float32) {
	o0, o1, o2, o3 := offs[0], offs[1], offs[2], offs[3]
	x0, x1, x2, x3 := x[b+o0], x[b+o1], x[b+o2], x[b+o3]
	m := max(max(x0, x1), max(x2, x3))
	var zero float32
	if m != m {
		w := selectScan(x, b, offs[:], false)
		out[b+o0], out[b+o1], out[b+o2], out[b+o3] = 0, 0, 0, 0
		out[w] = zero + v
		return
	}
	e0, e1, e2 := b2u32(x0 == m), b2u32(x1 == m), b2u32(x2 == m)
	s1 := (1 - e0) & e1
	s2 := (1 - e0) & (1 - e1) & e2
	s3 := (1 - e0) & (1 - e1) & (1 - e2)
	vb := math.Float32bits(zero + v)
	out[b+o0] = math.Float32frombits(vb & -e0)
	out[b+o1] = math.Float32frombits(vb & -s1)
	out[b+o2] = math.Float32frombits(vb & -s2)
	out[b+o3] = math.Float32frombits(vb & -s3)
}
