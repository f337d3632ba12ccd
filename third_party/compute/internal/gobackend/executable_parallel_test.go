// Copyright 2023-2026 The GoMLX Authors. SPDX-License-Identifier: Apache-2.0

package gobackend_test

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"syscall"
	"testing"

	"github.com/gomlx/compute"
	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/internal/gobackend"
	"github.com/gomlx/compute/shapes"

	// Registers DotGeneral's implementations.
	_ "github.com/gomlx/compute/internal/gobackend/dot/matmul"
)

// buildWideGraph compiles, on backend, a graph of numBranches independent chains of depth element-wise
// ops over x [rows, cols], each ending in a matmul with w [cols, cols] and summed, plus a While loop
// (a closure op, executed by a nested Execute inside a worker) if withWhile. Outputs: the sum, the
// first branch, the While result (the counter itself without the loop) and x itself.
func buildWideGraph(t testing.TB, backend compute.Backend, rows, cols, numBranches, depth int, withWhile bool) compute.Executable {
	t.Helper()
	check := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("building the graph: %+v", err)
		}
	}
	builder := backend.Builder("wide")
	fn := builder.Main()
	x, err := fn.Parameter("x", shapes.Make(dtypes.Float32, rows, cols), nil)
	check(err)
	w, err := fn.Parameter("w", shapes.Make(dtypes.Float32, cols, cols), nil)
	check(err)
	counter, err := fn.Parameter("counter", shapes.Make(dtypes.Float32), nil)
	check(err)

	var sum, first compute.Value
	for b := range numBranches {
		y := x
		for d := range depth {
			switch (b + d) % 3 {
			case 0:
				y, err = fn.Tanh(y)
			case 1:
				y, err = fn.Mul(y, x)
			default:
				y, err = fn.Sub(y, x)
			}
			check(err)
		}
		y, err = fn.DotGeneral(y, []int{1}, nil, w, []int{0}, nil, compute.DotGeneralConfig{})
		check(err)
		if b == 0 {
			first, sum = y, y
		} else {
			sum, err = fn.Add(sum, y)
			check(err)
		}
	}

	loopResult := counter
	if withWhile {
		cond, err := fn.Closure()
		check(err)
		condCounter, err := cond.Parameter("counter", shapes.Make(dtypes.Float32), nil)
		check(err)
		limit, err := cond.Constant([]float32{7})
		check(err)
		less, err := cond.LessThan(condCounter, limit)
		check(err)
		check(cond.Return([]compute.Value{less}, nil))
		body, err := fn.Closure()
		check(err)
		bodyCounter, err := body.Parameter("counter", shapes.Make(dtypes.Float32), nil)
		check(err)
		one, err := body.Constant([]float32{1})
		check(err)
		next, err := body.Add(bodyCounter, one)
		check(err)
		check(body.Return([]compute.Value{next}, nil))
		loop, err := fn.While(cond, body, counter)
		check(err)
		loopResult = loop[0]
	}
	check(fn.Return([]compute.Value{sum, first, loopResult, x}, nil))
	exec, err := builder.Compile()
	check(err)
	return exec
}

// runWideGraph executes exec on x, w and counter=0 and returns the outputs' flat values.
func runWideGraph(t testing.TB, backend compute.Backend, exec compute.Executable, x, w []float32, rows, cols int) [][]float32 {
	t.Helper()
	xBuf, err := backend.BufferFromFlatData(0, x, shapes.Make(dtypes.Float32, rows, cols))
	if err != nil {
		t.Fatal(err)
	}
	wBuf, err := backend.BufferFromFlatData(0, w, shapes.Make(dtypes.Float32, cols, cols))
	if err != nil {
		t.Fatal(err)
	}
	cBuf, err := backend.BufferFromFlatData(0, []float32{0}, shapes.Make(dtypes.Float32))
	if err != nil {
		t.Fatal(err)
	}
	outputs, err := exec.Execute([]compute.Buffer{xBuf, wBuf, cBuf}, nil, 0)
	if err != nil {
		t.Fatalf("Execute: %+v", err)
	}
	flats := make([][]float32, len(outputs))
	for i, o := range outputs {
		flats[i] = slices.Clone(o.(*gobackend.Buffer).Flat.([]float32))
		if err := o.Finalize(); err != nil {
			t.Fatal(err)
		}
	}
	for _, b := range []compute.Buffer{xBuf, wBuf, cBuf} {
		if err := b.Finalize(); err != nil {
			t.Fatal(err)
		}
	}
	return flats
}

// TestExecuteParallelWorkers checks the parallel executor (a fixed set of workers taking ready nodes)
// against sequential execution, bit for bit, with every parallelism setting, on a wide graph whose
// matmuls fan out on the same pool (the packed kernel's Saturate) and with a While loop executed by
// a nested Execute inside a worker; repeated to shake out ordering races.
func TestExecuteParallelWorkers(t *testing.T) {
	for _, size := range []struct{ rows, cols int }{{8, 16}, {64, 256}} {
		rng := rand.New(rand.NewPCG(1, 2))
		x := make([]float32, size.rows*size.cols)
		w := make([]float32, size.cols*size.cols)
		for i := range x {
			x[i] = float32(rng.NormFloat64())
		}
		for i := range w {
			w[i] = float32(rng.NormFloat64()) / 16
		}
		seqBackend, err := gobackend.New("ops_sequential")
		if err != nil {
			t.Fatal(err)
		}
		want := runWideGraph(t, seqBackend, buildWideGraph(t, seqBackend, size.rows, size.cols, 24, 5, true), x, w, size.rows, size.cols)
		seqBackend.Finalize()
		if got := want[2][0]; got != 7 {
			t.Fatalf("While result %g, want 7", got)
		}
		for _, parallelism := range []int{0, 1, 2, 4, -1} {
			t.Run(fmt.Sprintf("%dx%d/parallelism=%d", size.rows, size.cols, parallelism), func(t *testing.T) {
				backend, err := gobackend.New(fmt.Sprintf("ops_parallel,parallelism=%d", parallelism))
				if err != nil {
					t.Fatal(err)
				}
				defer backend.Finalize()
				exec := buildWideGraph(t, backend, size.rows, size.cols, 24, 5, true)
				for range 10 {
					got := runWideGraph(t, backend, exec, x, w, size.rows, size.cols)
					for i := range want {
						if !slices.Equal(got[i], want[i]) {
							t.Fatalf("output %d differs from the sequential execution", i)
						}
					}
				}
			})
		}
	}
}

// BenchmarkExecuteSmallGraph times one execution of a graph of ~150 small ops (24 branches of 5
// element-wise ops on [8, 16] and a [8,16]x[16,16] matmul each), the regime of a small
// model's training step, where the executor's per-node cost dominates; cpu-ns/op is the process CPU
// time per execution. Run: go test -run ^$ -bench ExecuteSmallGraph -cpu 1,2 ./internal/gobackend/
func BenchmarkExecuteSmallGraph(b *testing.B) {
	const rows, cols = 8, 16
	x := make([]float32, rows*cols)
	w := make([]float32, cols*cols)
	for i := range x {
		x[i] = float32(i%7) / 7
	}
	for i := range w {
		w[i] = float32(i%5) / 50
	}
	for _, mode := range []string{"ops_parallel", "ops_sequential"} {
		b.Run(mode, func(b *testing.B) {
			backend, err := gobackend.New(mode)
			if err != nil {
				b.Fatal(err)
			}
			defer backend.Finalize()
			exec := buildWideGraph(b, backend, rows, cols, 24, 5, false)
			var ru0, ru1 syscall.Rusage
			_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru0)
			for b.Loop() {
				runWideGraph(b, backend, exec, x, w, rows, cols)
			}
			_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru1)
			cpu := ru1.Utime.Nano() + ru1.Stime.Nano() - ru0.Utime.Nano() - ru0.Stime.Nano()
			b.ReportMetric(float64(cpu)/float64(b.N), "cpu-ns/op")
		})
	}
}
