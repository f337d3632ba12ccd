package gobackend_test

import (
	"math"
	"testing"
	"time"

	"github.com/gomlx/compute"
	"github.com/gomlx/compute/internal/gobackend"
)

// TestKernelFanOutFromFullPool runs an op whose kernel splits large inputs into chunks for
// the worker pool (Erf; FusedGelu, ConvGeneral, ReduceWindow, SelectAndScatter and the
// quantized dense do the same) on a backend with one worker and parallel op execution: the
// graph's node runs as that worker, so a kernel that waited for a free worker to run its
// chunks never returned.
func TestKernelFanOutFromFullPool(t *testing.T) {
	b, err := gobackend.New("parallelism=1,ops_parallel")
	if err != nil {
		t.Fatalf("%+v", err)
	}
	defer b.Finalize()
	const n = 20000 // several chunks
	values := make([]float32, n)
	for i := range values {
		values[i] = float32(i)/n*6 - 3
	}
	builder := b.Builder("kernel_fan_out")
	mainFn := builder.Main()
	x, err := mainFn.Constant(values, n)
	if err != nil {
		t.Fatalf("%+v", err)
	}
	erf, err := mainFn.Erf(x)
	if err != nil {
		t.Fatalf("%+v", err)
	}
	outs := []compute.Value{erf}
	if err := mainFn.Return(outs, nil); err != nil {
		t.Fatalf("%+v", err)
	}
	exec, err := builder.Compile()
	if err != nil {
		t.Fatalf("%+v", err)
	}
	done := make(chan []compute.Buffer, 1)
	go func() {
		res, err := exec.Execute(nil, nil, 0)
		if err != nil {
			t.Errorf("%+v", err)
		}
		done <- res
	}()
	var res []compute.Buffer
	select {
	case res = <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Erf on a one-worker backend with parallel ops deadlocked")
	}
	if len(res) != len(outs) {
		t.Fatalf("%d outputs, want %d", len(res), len(outs))
	}
	got := res[0].(*gobackend.Buffer).Flat.([]float32)
	for i, v := range values {
		// float32 Erf is a rational approximation within 7 ulp (fastmath.Erf32): at most 7 ulp of 1.
		if want := float32(math.Erf(float64(v))); math.Abs(float64(got[i])-float64(want)) > 7*0x1p-24 {
			t.Fatalf("erf(%g) = %g, want %g", v, got[i], want)
		}
	}
}
