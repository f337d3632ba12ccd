package workerspool

import (
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gomlx/compute/support/testutil"
	"github.com/gomlx/compute/support/xsync"
)

func TestPool_Saturate(t *testing.T) {
	// Test saturation.
	pool := New()
	wantTasks := 5
	pool.SetMaxParallelism(wantTasks)

	var count atomic.Int32
	doneNewTasks := xsync.NewLatch()
	doneTest := xsync.NewLatch()

	go func() {
		pool.Saturate(func() {
			got := count.Add(1)
			runtime.Gosched()
			if int(got) == wantTasks {
				doneNewTasks.Trigger()
				return
			}
			doneNewTasks.Wait()
		})
		doneTest.Trigger()
	}()

	select {
	case <-doneTest.WaitChan():
		// Success
	case <-time.After(100 * time.Millisecond):
		t.Fatal("Timeout before all tasks were executed.")
	}
	if int(count.Load()) != wantTasks {
		t.Fatalf("Expected %d tasks, got %d", wantTasks, count.Load())
	}

	// Test No Parallelism
	pool.SetMaxParallelism(0)
	count.Store(0)
	pool.Saturate(func() { count.Add(1) })
	if ok, diff := testutil.IsEqual(int32(1), count.Load()); !ok {
		t.Errorf("Pool with parallelism 0 result mismatch:\n%s", diff)
	}

	// Test Unlimited
	pool.SetMaxParallelism(-1)
	count.Store(0)
	var started atomic.Int32
	pool.Saturate(func() {
		started.Add(1)
		runtime.Gosched()
		count.Add(1)
	})
	if runtime.GOMAXPROCS(0) > 1 && started.Load() <= 1 {
		t.Errorf("Expected more than 1 started task for unlimited parallelism, got %d", started.Load())
	}
	if count.Load() != started.Load() {
		t.Errorf("Expected count %d to match started %d", count.Load(), started.Load())
	}
}

// TestPool_SaturateFromFullPool is Saturate called from inside every worker of a full pool, as a
// graph's independent matmul nodes do: each call must still finish (it used to wait for a free
// worker that never came).
func TestPool_SaturateFromFullPool(t *testing.T) {
	const workers = 2
	pool := New()
	pool.SetMaxParallelism(workers)
	var inside, drained atomic.Int32
	allInside := make(chan struct{})
	finished := make(chan struct{}, workers)
	for range workers {
		pool.WaitToStart(func() {
			if inside.Add(1) == workers {
				close(allInside)
			}
			<-allInside // the pool is full from here on
			items := make(chan int, 100)
			for i := range 100 {
				items <- i
			}
			close(items)
			pool.Saturate(func() {
				for range items {
					drained.Add(1)
				}
			})
			finished <- struct{}{}
		})
	}
	for range workers {
		select {
		case <-finished:
		case <-time.After(5 * time.Second):
			t.Fatalf("Saturate from a full pool deadlocked: %d of %d items drained", drained.Load(), workers*100)
		}
	}
	if got := drained.Load(); got != workers*100 {
		t.Fatalf("drained %d items, want %d", got, workers*100)
	}
}

// TestPool_StartOrRunFromFullPool is the fan-out of an op kernel running as a worker (as the
// executor runs graph nodes): every worker fans chunks out while the pool is full. With
// WaitToStart for the chunks each worker waits for a free worker forever; StartOrRun runs
// them inline and all chunks complete.
func TestPool_StartOrRunFromFullPool(t *testing.T) {
	const workers, chunks = 2, 16
	pool := New()
	pool.SetMaxParallelism(workers)
	var inside, done atomic.Int32
	allInside := make(chan struct{})
	finished := make(chan struct{}, workers)
	for range workers {
		pool.WaitToStart(func() {
			if inside.Add(1) == workers {
				close(allInside)
			}
			<-allInside // the pool is full from here on
			var wg sync.WaitGroup
			for range chunks {
				wg.Add(1)
				pool.StartOrRun(func() {
					defer wg.Done()
					done.Add(1)
				})
			}
			wg.Wait()
			finished <- struct{}{}
		})
	}
	for range workers {
		select {
		case <-finished:
		case <-time.After(5 * time.Second):
			t.Fatalf("fan-out from a full pool deadlocked: %d of %d chunks done", done.Load(), workers*chunks)
		}
	}
	if got := done.Load(); got != workers*chunks {
		t.Fatalf("%d chunks ran, want %d", got, workers*chunks)
	}
}

// TestPool_StartOrRunUsesWorkers checks StartOrRun starts goroutines while workers are free:
// tasks that wait for each other complete only if they run concurrently.
func TestPool_StartOrRunUsesWorkers(t *testing.T) {
	pool := New()
	pool.SetMaxParallelism(4)
	release := make(chan struct{})
	var started sync.WaitGroup
	started.Add(3)
	for range 3 {
		pool.StartOrRun(func() {
			started.Done()
			<-release
		})
	}
	waited := make(chan struct{})
	go func() { started.Wait(); close(waited) }()
	select {
	case <-waited:
	case <-time.After(5 * time.Second):
		t.Fatal("StartOrRun ran tasks inline although workers were free")
	}
	close(release)
}

// BenchmarkPool_StartOrRun times a 16-chunk fan-out of small tasks through StartOrRun and
// through WaitToStart, from outside the pool (where both work).
func BenchmarkPool_StartOrRun(b *testing.B) {
	pool := New()
	pool.SetMaxParallelism(runtime.GOMAXPROCS(0))
	buf := make([]float64, 16*4096)
	chunk := func(c int) {
		for i := c * 4096; i < (c+1)*4096; i++ {
			buf[i] = buf[i]*0.5 + 1
		}
	}
	for _, bc := range []struct {
		name  string
		start func(func())
	}{{"StartOrRun", pool.StartOrRun}, {"WaitToStart", pool.WaitToStart}} {
		b.Run(bc.name, func(b *testing.B) {
			for b.Loop() {
				var wg sync.WaitGroup
				for c := range 16 {
					wg.Add(1)
					bc.start(func() { defer wg.Done(); chunk(c) })
				}
				wg.Wait()
			}
		})
	}
}
