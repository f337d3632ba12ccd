// Copyright 2023-2026 The GoMLX Authors. SPDX-License-Identifier: Apache-2.0

//go:build amd64 && goexperiment.simd

package matmul

// Direct (packing-free) AVX512 kernels for the matrix products that the packed ("large") kernel
// handles badly: tall-skinny and small ones, where at least one of M, N, K is small.
//
// (The Go compiler allocates 15 vector registers, Z0-Z14, to archsimd values; the tiles are sized
// so that accumulators and operands fit.)
//
// The packed kernel copies the lhs into 4-row panels and the rhs into 32-column strips for every
// (Kc, Mc, Nc) block; when K or N is small that copying costs more than the arithmetic, and the
// "small" kernels either re-load and re-store the output for every k (layout NonTransposed) or
// reduce one dot product per output element (layout Transposed). The direct kernels read the lhs
// in place and keep a register tile of the output across the whole contraction:
//
//   - "axpy" kernel, rhs read as [K, N]: a 4x32 tile of the output lives in 8 registers; per k it
//     loads 2 vectors of the rhs row and broadcasts 4 lhs values (8 FMAs). N is blocked so that the
//     rhs block (K x Nc) stays in L2 while all the rows of the lhs stream past it.
//   - "dot" kernel, rhs read as [N, K]: a 4x2 tile of dot products over K in 8 registers (6 loads
//     per 8 FMAs), reduced once per K block. Used when N is too narrow for the axpy kernel's
//     vectors (N < 16) and when the rhs already is [N, K] with a long contraction.
//
// When the rhs is not in the layout the chosen kernel reads, it is transposed once per call into a
// scratch buffer (N*K elements, small next to the M*N*K multiply-adds). The work is split by rows of
// the output; the calling goroutine works too, and helpers are started only when the product is large
// enough and a worker is free (Pool.StartIfAvailable), so a small product never waits on the pool.

//go:generate sh gen_avx512_direct_f64.sh

import (
	"runtime"
	"simd/archsimd"
	"sync"
	"sync/atomic"
	"unsafe"

	"github.com/gomlx/compute/internal/gobackend"
	"github.com/gomlx/compute/internal/gobackend/dot"
)

var (
	// ForceDirectVariant forces the direct kernels for every product they support (tests only).
	ForceDirectVariant = false

	// directMaxShortK and directMinTallM: see useDirectKernel.
	directMaxShortK = 64
	directMinTallM  = 128

	// directMinParallelFMAs is the number of multiply-adds below which a product runs on the calling
	// goroutine only: below it, starting and joining helpers costs more than it saves.
	directMinParallelFMAs = 256 * 1024

	// directL2Bytes is the size the axpy kernel keeps its rhs block (K x Nc) under, and the dot
	// kernel its rhs block (N x Kc).
	directL2Bytes = 256 * 1024

	// directPageBytes and directAxpyMaxPagesK: when the rows of b are more than a page apart, the
	// axpy kernel contracts at most directAxpyMaxPagesK of them per pass (one TLB entry each).
	directPageBytes     = 4096
	directAxpyMaxPagesK = 32
)

// useDirectKernel reports whether the direct kernels should compute a product of these sizes: small
// products (where the small kernels' per-k output traffic or per-element reductions dominate), narrow
// ones (N below a vector), short contractions (K <= directMaxShortK, where packing costs as much as the
// arithmetic), tall ones (M >= directMinTallM rows to stream past the rhs) and few-row wide ones (M <=
// directPanelMaxRows, N >= directPanelCols: column panels, see directUsePanels).
func useDirectKernel(lhsCrossSize, rhsCrossSize, contractingSize, lanes int) bool {
	if ForceLargeVariant || ForceSmallVariant {
		return false
	}
	if ForceDirectVariant {
		return true
	}
	return lhsCrossSize*rhsCrossSize*contractingSize < noSIMDSmallMatMulSizeThreshold ||
		rhsCrossSize < lanes || contractingSize <= directMaxShortK || lhsCrossSize >= directMinTallM ||
		(lhsCrossSize <= directPanelMaxRows && rhsCrossSize >= directPanelCols)
}

// directUseDotKernel chooses the "dot" kernel (rhs as [N, K]) over the "axpy" kernel (rhs as [K, N]).
func directUseDotKernel(layout dot.Layout, rhsCrossSize, contractingSize, lanes int) bool {
	if rhsCrossSize < lanes && contractingSize >= 2*lanes {
		// Too narrow for the axpy kernel's vectors, long enough for dot products.
		return true
	}
	// Already [N, K], with a contraction long enough to amortise the reductions, and an rhs
	// large enough that transposing it would cost: keep it as it is.
	return layout == dot.LayoutTransposed && contractingSize >= 16*lanes
}

// directRowChunks splits lhsCrossSize rows into chunks (multiples of 4 rows) so that batchSize*chunks
// work items keep maxWorkers busy.
func directRowChunks(batchSize, lhsCrossSize, maxWorkers int) (rowsPerChunk, chunksPerBatch int) {
	wantItems := 4 * maxWorkers
	chunksPerBatch = 1
	if batchSize < wantItems {
		chunksPerBatch = (wantItems + batchSize - 1) / batchSize
	}
	rowsPerChunk = (lhsCrossSize + chunksPerBatch - 1) / chunksPerBatch
	rowsPerChunk = (rowsPerChunk + 3) &^ 3
	chunksPerBatch = (lhsCrossSize + rowsPerChunk - 1) / rowsPerChunk
	return
}

// directRun runs work(item) for item in [0, numItems): on the calling goroutine, helped by up to
// maxWorkers-1 pool workers if they are free when asked.
func directRun(backend *gobackend.Backend, numItems, fmas int, work func(item int)) {
	maxWorkers := 1
	if backend != nil && backend.Workers != nil {
		maxWorkers = backend.Workers.AdjustedMaxParallelism()
	}
	helpers := min(maxWorkers, numItems) - 1
	if helpers <= 0 || fmas < directMinParallelFMAs {
		for item := range numItems {
			work(item)
		}
		return
	}
	var next atomic.Int64
	loop := func() {
		for {
			item := int(next.Add(1) - 1)
			if item >= numItems {
				return
			}
			work(item)
		}
	}
	var wg sync.WaitGroup
	for range helpers {
		wg.Add(1)
		if !backend.Workers.StartIfAvailable(func() {
			defer wg.Done()
			loop()
		}) {
			wg.Done()
			break
		}
	}
	loop()
	wg.Wait()
}

// directTranspose writes src, a [rows, cols] row-major matrix, to dst as [cols, rows].
func directTranspose[T float32 | float64](src, dst []T, rows, cols int) {
	const block = 16
	for r0 := 0; r0 < rows; r0 += block {
		r1 := min(rows, r0+block)
		for c0 := 0; c0 < cols; c0 += block {
			c1 := min(cols, c0+block)
			for r := r0; r < r1; r++ {
				row := src[r*cols : r*cols+cols]
				for c := c0; c < c1; c++ {
					dst[c*rows+r] = row[c]
				}
			}
		}
	}
}

// Column panels for the axpy kernel.
//
// The axpy kernel walks a 32-column strip of the rhs [K, N] down its K rows. When a row of the rhs
// is a multiple of 2 KiB long (N a multiple of 512 float32s, as the im2col matrices of
// power-of-two images and batches are), those K addresses fall into one or two sets of the L1 and
// L2 caches, which keep only 8-16 of them: the strip comes from L3 again for every 4 rows of the
// lhs, and the product runs at a third of its speed (16x16384x289: 20 GFLOP/s). And when the lhs
// has few rows, splitting the work by rows (directRowChunks) makes every worker walk the whole
// rhs. The panel variant copies a strip of directPanelCols columns (all K rows) into a scratch
// panel whose row stride is padded off the power of two, once, and runs every row of the lhs over
// it; the work items are panels.

var (
	// directPanelCols is the width of a copied rhs panel (a multiple of 32).
	directPanelCols = 256
	// directPanelAliasBytes: rhs rows whose length in bytes is a multiple of it use panels.
	directPanelAliasBytes = 2048
	// directPanelMaxRows: an lhs with at most this many rows uses panels (a wide enough rhs).
	directPanelMaxRows = 32
)

// directUsePanels reports whether the axpy kernel should run over copied panels for lhs [M, K] and
// rhs [K, N] of elem-byte values: a panel wide, a contraction long enough to pay for the copy, and
// either few lhs rows or rhs rows that alias in the caches.
func directUsePanels(M, N, K, elem int) bool {
	return N >= directPanelCols && K > directMaxShortK &&
		(M <= directPanelMaxRows || (N*elem)%directPanelAliasBytes == 0)
}

// avx512DirectRouterFloat32 routes float32 products to the direct kernels when useDirectKernel
// says so, and to avx512RouterFloat32 (small or packed kernels) otherwise.
func avx512DirectRouterFloat32(backend *gobackend.Backend, layout dot.Layout, lhs, rhs []float32,
	batchSize, lhsCrossSize, rhsCrossSize, contractingSize int, output []float32) {
	if !useDirectKernel(lhsCrossSize, rhsCrossSize, contractingSize, 16) ||
		!avx512DirectFloat32(backend, layout, lhs, rhs, batchSize, lhsCrossSize, rhsCrossSize, contractingSize, output) {
		avx512RouterFloat32(backend, layout, lhs, rhs, batchSize, lhsCrossSize, rhsCrossSize, contractingSize, output)
	}
}

// avx512DirectFloat32 computes output[b] = lhs[b] · rhs[b] for each batch item b, with lhs [M, K],
// rhs [K, N] (LayoutNonTransposed) or [N, K] (LayoutTransposed), and output [M, N], using the direct
// kernels. It returns false, having written nothing, if it could not get its scratch buffer.
func avx512DirectFloat32(backend *gobackend.Backend, layout dot.Layout, lhs, rhs []float32,
	batchSize, lhsCrossSize, rhsCrossSize, contractingSize int, output []float32) bool {
	const lanes = 16
	M, N, K := lhsCrossSize, rhsCrossSize, contractingSize
	if batchSize == 0 || M == 0 || N == 0 {
		return true
	}
	if K == 0 {
		clear(output[:batchSize*M*N])
		return true
	}
	useDot := directUseDotKernel(layout, N, K, lanes)
	b := rhs
	if useDot != (layout == dot.LayoutTransposed) {
		// Transpose each batch item's rhs once, into the layout the kernel reads.
		ref, scratch, ok := GetBuffer[float32](backend, batchSize*N*K)
		if !ok {
			return false
		}
		defer ReleaseBuffer(ref)
		rows, cols := K, N // LayoutNonTransposed: [K, N] -> [N, K]
		if layout == dot.LayoutTransposed {
			rows, cols = N, K
		}
		for bi := range batchSize {
			directTranspose(rhs[bi*N*K:(bi+1)*N*K], scratch[bi*N*K:(bi+1)*N*K], rows, cols)
		}
		b = scratch
	}
	if !useDot && directUsePanels(M, N, K, int(unsafe.Sizeof(lhs[0]))) {
		for bi := range batchSize {
			if !directAxpyPanelsFloat32(backend, lhs[bi*M*K:(bi+1)*M*K], b[bi*N*K:(bi+1)*N*K], output[bi*M*N:(bi+1)*M*N], M, N, K) {
				return false
			}
		}
		return true
	}
	maxWorkers := 1
	if backend != nil && backend.Workers != nil {
		maxWorkers = backend.Workers.AdjustedMaxParallelism()
	}
	rowsPerChunk, chunksPerBatch := directRowChunks(batchSize, M, maxWorkers)
	directRun(backend, batchSize*chunksPerBatch, batchSize*M*N*K, func(item int) {
		bi, chunk := item/chunksPerBatch, item%chunksPerBatch
		rowStart := chunk * rowsPerChunk
		rowEnd := min(M, rowStart+rowsPerChunk)
		a := lhs[bi*M*K : (bi+1)*M*K]
		bb := b[bi*N*K : (bi+1)*N*K]
		c := output[bi*M*N : (bi+1)*M*N]
		if useDot {
			directDotRowsFloat32(a, bb, c, N, K, rowStart, rowEnd)
		} else {
			directAxpyRowsFloat32(a, bb, c, N, K, rowStart, rowEnd)
		}
	})
	runtime.KeepAlive(lhs)
	runtime.KeepAlive(b)
	runtime.KeepAlive(output)
	return true
}

// directMaskFloat32 returns the mask of the first n (0 < n <= 16) lanes.
func directMaskFloat32(n int) archsimd.Mask32x16 {
	return archsimd.Mask32x16FromBits(uint16(0xffff) >> (16 - n))
}

// directAxpyRowsFloat32 computes rows [rowStart, rowEnd) of c = a · b, with a [M, K], b [K, N] and
// c [M, N], with the axpy kernel.
func directAxpyRowsFloat32(a, b, c []float32, N, K, rowStart, rowEnd int) {
	const lanes, elem = 16, 4
	_ = a[rowEnd*K-1]
	_ = b[K*N-1]
	_ = c[rowEnd*N-1]
	aBase := uintptr(unsafe.Pointer(unsafe.SliceData(a)))
	bBase := uintptr(unsafe.Pointer(unsafe.SliceData(b)))
	cBase := uintptr(unsafe.Pointer(unsafe.SliceData(c)))
	lda, ldb, ldc := uintptr(K*elem), uintptr(N*elem), uintptr(N*elem)

	// A tile walks down blockK rows of b: when those rows are pages apart, block K so that the pages
	// stay in the TLB (the tile then adds its partial sums into c after the first block).
	blockK := K
	if N*elem > directPageBytes {
		blockK = directAxpyMaxPagesK
	}
	full := directMaskFloat32(lanes)
	// Block N so that the rhs block (blockK x blockCols) stays in L2 while the rows stream past, and
	// the output block the K passes add to stays there too.
	blockCols := max(2*lanes, (directL2Bytes/(blockK*elem))&^(2*lanes-1))
	for colBlock := 0; colBlock < N; colBlock += blockCols {
		colBlockEnd := min(N, colBlock+blockCols)
		for kStart := 0; kStart < K; kStart += blockK {
			kLen := min(K, kStart+blockK) - kStart
			acc := kStart > 0
			aK, bK := aBase+uintptr(kStart*elem), bBase+uintptr(kStart)*ldb
			row := rowStart
			for ; row+4 <= rowEnd; row += 4 {
				aRow := aK + uintptr(row)*lda
				cRow := cBase + uintptr(row)*ldc
				col := colBlock
				for ; col+2*lanes <= colBlockEnd; col += 2 * lanes {
					directAxpy4x32Float32(aRow, lda, bK+uintptr(col*elem), ldb, cRow+uintptr(col*elem), ldc, kLen, acc)
				}
				for ; col < colBlockEnd; col += lanes {
					mask := full
					if rem := colBlockEnd - col; rem < lanes {
						mask = directMaskFloat32(rem)
					}
					directAxpy4x16Float32(aRow, lda, bK+uintptr(col*elem), ldb, cRow+uintptr(col*elem), ldc, kLen, acc, mask)
				}
			}
			for ; row < rowEnd; row++ {
				aRow := aK + uintptr(row)*lda
				cRow := cBase + uintptr(row)*ldc
				for col := colBlock; col < colBlockEnd; col += lanes {
					mask := full
					if rem := colBlockEnd - col; rem < lanes {
						mask = directMaskFloat32(rem)
					}
					directAxpy1x16Float32(aRow, bK+uintptr(col*elem), ldb, cRow+uintptr(col*elem), kLen, acc, mask)
				}
			}
		}
	}
}

// directAxpy4x32Float32 computes the 4x32 output tile at c (row stride ldc bytes) from the 4 lhs rows
// at a (stride lda bytes) and the rhs columns at b (row stride ldb bytes), over k contraction steps;
// with acc it adds the tile to what c holds instead of overwriting it.
//
//go:nocheckptr
func directAxpy4x32Float32(a, lda, b, ldb, c, ldc uintptr, k int, acc bool) {
	const lanes, elem = 16, 4
	var c00, c01, c10, c11, c20, c21, c30, c31 archsimd.Float32x16
	a0, a1, a2, a3 := a, a+lda, a+2*lda, a+3*lda
	for range k {
		b0 := archsimd.LoadFloat32x16((*[lanes]float32)(unsafe.Pointer(b)))
		b1 := archsimd.LoadFloat32x16((*[lanes]float32)(unsafe.Pointer(b + lanes*elem)))
		v := archsimd.BroadcastFloat32x16(*(*float32)(unsafe.Pointer(a0)))
		c00 = b0.MulAdd(v, c00)
		c01 = b1.MulAdd(v, c01)
		v = archsimd.BroadcastFloat32x16(*(*float32)(unsafe.Pointer(a1)))
		c10 = b0.MulAdd(v, c10)
		c11 = b1.MulAdd(v, c11)
		v = archsimd.BroadcastFloat32x16(*(*float32)(unsafe.Pointer(a2)))
		c20 = b0.MulAdd(v, c20)
		c21 = b1.MulAdd(v, c21)
		v = archsimd.BroadcastFloat32x16(*(*float32)(unsafe.Pointer(a3)))
		c30 = b0.MulAdd(v, c30)
		c31 = b1.MulAdd(v, c31)
		a0 += elem
		a1 += elem
		a2 += elem
		a3 += elem
		b += ldb
	}
	if acc {
		c00 = c00.Add(archsimd.LoadFloat32x16((*[lanes]float32)(unsafe.Pointer(c))))
		c01 = c01.Add(archsimd.LoadFloat32x16((*[lanes]float32)(unsafe.Pointer(c + lanes*elem))))
		c10 = c10.Add(archsimd.LoadFloat32x16((*[lanes]float32)(unsafe.Pointer(c + ldc))))
		c11 = c11.Add(archsimd.LoadFloat32x16((*[lanes]float32)(unsafe.Pointer(c + ldc + lanes*elem))))
		c20 = c20.Add(archsimd.LoadFloat32x16((*[lanes]float32)(unsafe.Pointer(c + 2*ldc))))
		c21 = c21.Add(archsimd.LoadFloat32x16((*[lanes]float32)(unsafe.Pointer(c + 2*ldc + lanes*elem))))
		c30 = c30.Add(archsimd.LoadFloat32x16((*[lanes]float32)(unsafe.Pointer(c + 3*ldc))))
		c31 = c31.Add(archsimd.LoadFloat32x16((*[lanes]float32)(unsafe.Pointer(c + 3*ldc + lanes*elem))))
	}
	c00.Store((*[lanes]float32)(unsafe.Pointer(c)))
	c01.Store((*[lanes]float32)(unsafe.Pointer(c + lanes*elem)))
	c += ldc
	c10.Store((*[lanes]float32)(unsafe.Pointer(c)))
	c11.Store((*[lanes]float32)(unsafe.Pointer(c + lanes*elem)))
	c += ldc
	c20.Store((*[lanes]float32)(unsafe.Pointer(c)))
	c21.Store((*[lanes]float32)(unsafe.Pointer(c + lanes*elem)))
	c += ldc
	c30.Store((*[lanes]float32)(unsafe.Pointer(c)))
	c31.Store((*[lanes]float32)(unsafe.Pointer(c + lanes*elem)))
}

// The masked loads and stores below read and write only the lanes their mask selects (the
// hardware suppresses faults on the others), but they take a pointer to a whole vector that may
// reach past the end of the slice; checkptr (-race, -d=checkptr) rejects that conversion, so
// these kernels opt out of it (//go:nocheckptr).

// directAxpy4x16Float32 is directAxpy4x32Float32 for a 4x16 tile, whose lanes outside mask are
// neither read nor written.
//
//go:nocheckptr
func directAxpy4x16Float32(a, lda, b, ldb, c, ldc uintptr, k int, acc bool, mask archsimd.Mask32x16) {
	const lanes, elem = 16, 4
	var c0, c1, c2, c3 archsimd.Float32x16
	a0, a1, a2, a3 := a, a+lda, a+2*lda, a+3*lda
	for range k {
		b0 := archsimd.LoadMaskedFloat32x16((*[lanes]float32)(unsafe.Pointer(b)), mask)
		c0 = b0.MulAdd(archsimd.BroadcastFloat32x16(*(*float32)(unsafe.Pointer(a0))), c0)
		c1 = b0.MulAdd(archsimd.BroadcastFloat32x16(*(*float32)(unsafe.Pointer(a1))), c1)
		c2 = b0.MulAdd(archsimd.BroadcastFloat32x16(*(*float32)(unsafe.Pointer(a2))), c2)
		c3 = b0.MulAdd(archsimd.BroadcastFloat32x16(*(*float32)(unsafe.Pointer(a3))), c3)
		a0 += elem
		a1 += elem
		a2 += elem
		a3 += elem
		b += ldb
	}
	if acc {
		c0 = c0.Add(archsimd.LoadMaskedFloat32x16((*[lanes]float32)(unsafe.Pointer(c)), mask))
		c1 = c1.Add(archsimd.LoadMaskedFloat32x16((*[lanes]float32)(unsafe.Pointer(c+ldc)), mask))
		c2 = c2.Add(archsimd.LoadMaskedFloat32x16((*[lanes]float32)(unsafe.Pointer(c+2*ldc)), mask))
		c3 = c3.Add(archsimd.LoadMaskedFloat32x16((*[lanes]float32)(unsafe.Pointer(c+3*ldc)), mask))
	}
	c0.StoreMasked((*[lanes]float32)(unsafe.Pointer(c)), mask)
	c1.StoreMasked((*[lanes]float32)(unsafe.Pointer(c+ldc)), mask)
	c2.StoreMasked((*[lanes]float32)(unsafe.Pointer(c+2*ldc)), mask)
	c3.StoreMasked((*[lanes]float32)(unsafe.Pointer(c+3*ldc)), mask)
}

// directAxpy1x16Float32 is directAxpy4x16Float32 for one row.
//
//go:nocheckptr
func directAxpy1x16Float32(a, b, ldb, c uintptr, k int, acc bool, mask archsimd.Mask32x16) {
	const lanes, elem = 16, 4
	// Two accumulators (even and odd k) halve the dependency chain.
	var c0, c1 archsimd.Float32x16
	i := 0
	for ; i+2 <= k; i += 2 {
		b0 := archsimd.LoadMaskedFloat32x16((*[lanes]float32)(unsafe.Pointer(b)), mask)
		b1 := archsimd.LoadMaskedFloat32x16((*[lanes]float32)(unsafe.Pointer(b+ldb)), mask)
		c0 = b0.MulAdd(archsimd.BroadcastFloat32x16(*(*float32)(unsafe.Pointer(a))), c0)
		c1 = b1.MulAdd(archsimd.BroadcastFloat32x16(*(*float32)(unsafe.Pointer(a + elem))), c1)
		a += 2 * elem
		b += 2 * ldb
	}
	if i < k {
		b0 := archsimd.LoadMaskedFloat32x16((*[lanes]float32)(unsafe.Pointer(b)), mask)
		c0 = b0.MulAdd(archsimd.BroadcastFloat32x16(*(*float32)(unsafe.Pointer(a))), c0)
	}
	c0 = c0.Add(c1)
	if acc {
		c0 = c0.Add(archsimd.LoadMaskedFloat32x16((*[lanes]float32)(unsafe.Pointer(c)), mask))
	}
	c0.StoreMasked((*[lanes]float32)(unsafe.Pointer(c)), mask)
}

// directDotRowsFloat32 computes rows [rowStart, rowEnd) of c = a · bᵀ, with a [M, K], b [N, K] and
// c [M, N], with the dot kernel, blocking K so that the rhs block (N x Kc) stays in L2.
func directDotRowsFloat32(a, b, c []float32, N, K, rowStart, rowEnd int) {
	const lanes, elem = 16, 4
	_ = a[rowEnd*K-1]
	_ = b[N*K-1]
	_ = c[rowEnd*N-1]
	aBase := uintptr(unsafe.Pointer(unsafe.SliceData(a)))
	bBase := uintptr(unsafe.Pointer(unsafe.SliceData(b)))
	ld := uintptr(K * elem)
	blockK := max(16*lanes, (directL2Bytes/(N*elem))&^(lanes-1))
	var tile [8]float32
	for kStart := 0; kStart < K; kStart += blockK {
		kLen := min(K, kStart+blockK) - kStart
		accumulate := kStart > 0
		tail := kLen % lanes
		tailMask := directMaskFloat32(max(tail, 1))
		put := func(idx int, v float32) {
			if accumulate {
				c[idx] += v
			} else {
				c[idx] = v
			}
		}
		row := rowStart
		for ; row+4 <= rowEnd; row += 4 {
			aRow := aBase + uintptr(row)*ld + uintptr(kStart*elem)
			col := 0
			for ; col+2 <= N; col += 2 {
				directDot4x2Float32(aRow, bBase+uintptr(col)*ld+uintptr(kStart*elem), ld, kLen, tail, tailMask, &tile)
				for r := range 4 {
					put((row+r)*N+col, tile[2*r])
					put((row+r)*N+col+1, tile[2*r+1])
				}
			}
			if col < N {
				bRow := bBase + uintptr(col)*ld + uintptr(kStart*elem)
				for r := range 4 {
					put((row+r)*N+col, directDot1x1Float32(aRow+uintptr(r)*ld, bRow, kLen, tail, tailMask))
				}
			}
		}
		for ; row < rowEnd; row++ {
			aRow := aBase + uintptr(row)*ld + uintptr(kStart*elem)
			for col := range N {
				put(row*N+col, directDot1x1Float32(aRow, bBase+uintptr(col)*ld+uintptr(kStart*elem), kLen, tail, tailMask))
			}
		}
	}
}

// directDot4x2Float32 computes the 8 dot products of length k between the 4 rows at a and the 2 rows
// at b (both with row stride ld bytes) into tile (row-major, 4x2). The last tail (< 16) elements are
// read with tailMask. (4x2: 8 accumulators and 6 loaded vectors fit the 15 vector registers the Go
// compiler allocates; a 4x4 tile spills.)
//
//go:nocheckptr
func directDot4x2Float32(a, b, ld uintptr, k, tail int, tailMask archsimd.Mask32x16, tile *[8]float32) {
	const lanes, elem = 16, 4
	var s00, s01, s10, s11, s20, s21, s30, s31 archsimd.Float32x16
	end := uintptr((k - tail) * elem)
	for off := uintptr(0); off < end; off += lanes * elem {
		b0 := archsimd.LoadFloat32x16((*[lanes]float32)(unsafe.Pointer(b + off)))
		b1 := archsimd.LoadFloat32x16((*[lanes]float32)(unsafe.Pointer(b + ld + off)))
		a0 := archsimd.LoadFloat32x16((*[lanes]float32)(unsafe.Pointer(a + off)))
		s00 = a0.MulAdd(b0, s00)
		s01 = a0.MulAdd(b1, s01)
		a1 := archsimd.LoadFloat32x16((*[lanes]float32)(unsafe.Pointer(a + ld + off)))
		s10 = a1.MulAdd(b0, s10)
		s11 = a1.MulAdd(b1, s11)
		a2 := archsimd.LoadFloat32x16((*[lanes]float32)(unsafe.Pointer(a + 2*ld + off)))
		s20 = a2.MulAdd(b0, s20)
		s21 = a2.MulAdd(b1, s21)
		a3 := archsimd.LoadFloat32x16((*[lanes]float32)(unsafe.Pointer(a + 3*ld + off)))
		s30 = a3.MulAdd(b0, s30)
		s31 = a3.MulAdd(b1, s31)
	}
	if tail > 0 {
		off := end
		b0 := archsimd.LoadMaskedFloat32x16((*[lanes]float32)(unsafe.Pointer(b+off)), tailMask)
		b1 := archsimd.LoadMaskedFloat32x16((*[lanes]float32)(unsafe.Pointer(b+ld+off)), tailMask)
		a0 := archsimd.LoadMaskedFloat32x16((*[lanes]float32)(unsafe.Pointer(a+off)), tailMask)
		s00 = a0.MulAdd(b0, s00)
		s01 = a0.MulAdd(b1, s01)
		a1 := archsimd.LoadMaskedFloat32x16((*[lanes]float32)(unsafe.Pointer(a+ld+off)), tailMask)
		s10 = a1.MulAdd(b0, s10)
		s11 = a1.MulAdd(b1, s11)
		a2 := archsimd.LoadMaskedFloat32x16((*[lanes]float32)(unsafe.Pointer(a+2*ld+off)), tailMask)
		s20 = a2.MulAdd(b0, s20)
		s21 = a2.MulAdd(b1, s21)
		a3 := archsimd.LoadMaskedFloat32x16((*[lanes]float32)(unsafe.Pointer(a+3*ld+off)), tailMask)
		s30 = a3.MulAdd(b0, s30)
		s31 = a3.MulAdd(b1, s31)
	}
	tile[0], tile[1] = avx512ReduceSumFloat32x16(s00), avx512ReduceSumFloat32x16(s01)
	tile[2], tile[3] = avx512ReduceSumFloat32x16(s10), avx512ReduceSumFloat32x16(s11)
	tile[4], tile[5] = avx512ReduceSumFloat32x16(s20), avx512ReduceSumFloat32x16(s21)
	tile[6], tile[7] = avx512ReduceSumFloat32x16(s30), avx512ReduceSumFloat32x16(s31)
}

// directDot1x1Float32 returns the dot product of length k of the rows at a and b.
//
//go:nocheckptr
func directDot1x1Float32(a, b uintptr, k, tail int, tailMask archsimd.Mask32x16) float32 {
	const lanes, elem = 16, 4
	var s0, s1 archsimd.Float32x16
	full := k - tail
	off := uintptr(0)
	for ; off+2*lanes*elem <= uintptr(full*elem); off += 2 * lanes * elem {
		s0 = archsimd.LoadFloat32x16((*[lanes]float32)(unsafe.Pointer(a+off))).MulAdd(
			archsimd.LoadFloat32x16((*[lanes]float32)(unsafe.Pointer(b+off))), s0)
		s1 = archsimd.LoadFloat32x16((*[lanes]float32)(unsafe.Pointer(a+off+lanes*elem))).MulAdd(
			archsimd.LoadFloat32x16((*[lanes]float32)(unsafe.Pointer(b+off+lanes*elem))), s1)
	}
	if off < uintptr(full*elem) {
		s0 = archsimd.LoadFloat32x16((*[lanes]float32)(unsafe.Pointer(a+off))).MulAdd(
			archsimd.LoadFloat32x16((*[lanes]float32)(unsafe.Pointer(b+off))), s0)
		off += lanes * elem
	}
	if tail > 0 {
		s1 = archsimd.LoadMaskedFloat32x16((*[lanes]float32)(unsafe.Pointer(a+off)), tailMask).MulAdd(
			archsimd.LoadMaskedFloat32x16((*[lanes]float32)(unsafe.Pointer(b+off)), tailMask), s1)
	}
	return avx512ReduceSumFloat32x16(s0.Add(s1))
}

// directAxpyPanelsFloat32 computes c = a · b, with a [M, K], b [K, N] and c [M, N], with the axpy
// kernel over copied column panels of b (see directUsePanels). It returns false, having written
// nothing, if it could not get its scratch buffer.
func directAxpyPanelsFloat32(backend *gobackend.Backend, a, b, c []float32, M, N, K int) bool {
	const lanes, elem = 16, 4
	_ = a[M*K-1]
	_ = b[K*N-1]
	_ = c[M*N-1]
	pw := directPanelCols
	ldp := pw + lanes // panel row stride: off the power of two, whole vectors
	numPanels := (N + pw - 1) / pw
	workers := 1
	if backend != nil && backend.Workers != nil && M*N*K >= directMinParallelFMAs {
		workers = max(1, min(backend.Workers.AdjustedMaxParallelism(), numPanels))
	}
	ref, scratch, ok := GetBuffer[float32](backend, workers*K*ldp)
	if !ok {
		return false
	}
	defer ReleaseBuffer(ref)
	aBase := uintptr(unsafe.Pointer(unsafe.SliceData(a)))
	cBase := uintptr(unsafe.Pointer(unsafe.SliceData(c)))
	lda, ldc, ldpb := uintptr(K*elem), uintptr(N*elem), uintptr(ldp*elem)
	full := directMaskFloat32(lanes)
	var next atomic.Int64
	run := func(worker int) {
		panel := scratch[worker*K*ldp : (worker+1)*K*ldp]
		pBase := uintptr(unsafe.Pointer(unsafe.SliceData(panel)))
		for {
			p := int(next.Add(1) - 1)
			if p >= numPanels {
				return
			}
			col0 := p * pw
			w := min(pw, N-col0)
			for k := range K {
				copy(panel[k*ldp:k*ldp+w], b[k*N+col0:k*N+col0+w])
			}
			row := 0
			for ; row+4 <= M; row += 4 {
				aRow := aBase + uintptr(row)*lda
				cRow := cBase + uintptr(row)*ldc + uintptr(col0*elem)
				col := 0
				for ; col+2*lanes <= w; col += 2 * lanes {
					directAxpy4x32Float32(aRow, lda, pBase+uintptr(col*elem), ldpb, cRow+uintptr(col*elem), ldc, K, false)
				}
				for ; col < w; col += lanes {
					mask := full
					if rem := w - col; rem < lanes {
						mask = directMaskFloat32(rem)
					}
					directAxpy4x16Float32(aRow, lda, pBase+uintptr(col*elem), ldpb, cRow+uintptr(col*elem), ldc, K, false, mask)
				}
			}
			for ; row < M; row++ {
				aRow := aBase + uintptr(row)*lda
				cRow := cBase + uintptr(row)*ldc + uintptr(col0*elem)
				for col := 0; col < w; col += lanes {
					mask := full
					if rem := w - col; rem < lanes {
						mask = directMaskFloat32(rem)
					}
					directAxpy1x16Float32(aRow, pBase+uintptr(col*elem), ldpb, cRow+uintptr(col*elem), K, false, mask)
				}
			}
		}
	}
	var wg sync.WaitGroup
	for worker := 1; worker < workers; worker++ {
		wg.Add(1)
		if !backend.Workers.StartIfAvailable(func() {
			defer wg.Done()
			run(worker)
		}) {
			wg.Done()
			break
		}
	}
	run(0)
	wg.Wait()
	runtime.KeepAlive(a)
	runtime.KeepAlive(b)
	runtime.KeepAlive(c)
	runtime.KeepAlive(scratch)
	return true
}
