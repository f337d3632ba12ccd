// Package crashpoint lets a test stop a biopipe process at a named point of its work, to
// prove that what a crash or an interrupt leaves behind is safe: every artifact, checkpoint
// and manifest is written to a temporary name and renamed, and the next run resumes.
//
// The environment variable BIOPIPE_CRASHPOINT selects one point:
//
//	NAME=N[:ACTION]
//
// where NAME is a point passed to Hit, N the hit (1-based, counted in this process) at which
// to act, and ACTION one of kill (SIGKILL, the default), int (SIGINT, as Ctrl-C), int2
// (Ctrl-C twice: SIGINT, then SIGINT again at the next write: point, which is the checkpoint
// the first one causes; two signals sent at once would merge into one) or term (SIGTERM).
// Points:
//
//	write:FILE   dataset.AtomicWrite of a file named FILE: the temporary file is complete,
//	             not yet renamed
//	train.step   after each optimizer step of models.Train
//	store.save   pipelines.FSCache.Save: the artifact's files and entry are written, the
//	             folder is not yet renamed into the store
//
// When the variable is unset Hit costs one atomic load.
package crashpoint

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// envVar names the environment variable read once, at the first Hit.
const envVar = "BIOPIPE_CRASHPOINT"

var (
	once    sync.Once
	armed   atomic.Bool
	point   string
	at      int64
	signals []syscall.Signal
	hits    atomic.Int64
	again   atomic.Bool // int2: the second SIGINT is due at the next write
)

func setup() {
	spec := os.Getenv(envVar)
	if spec == "" {
		return
	}
	name, rest, ok := strings.Cut(spec, "=")
	nStr, action, _ := strings.Cut(rest, ":")
	n, err := strconv.ParseInt(nStr, 10, 64)
	if !ok || err != nil || n < 1 {
		fmt.Fprintf(os.Stderr, "%s=%q: want NAME=N[:ACTION] with N >= 1; ignored\n", envVar, spec)
		return
	}
	switch action {
	case "", "kill":
		signals = []syscall.Signal{syscall.SIGKILL}
	case "int":
		signals = []syscall.Signal{syscall.SIGINT}
	case "int2":
		signals = []syscall.Signal{syscall.SIGINT}
		again.Store(true)
	case "term":
		signals = []syscall.Signal{syscall.SIGTERM}
	default:
		fmt.Fprintf(os.Stderr, "%s=%q: action %q is not kill, int, int2 or term; ignored\n", envVar, spec, action)
		return
	}
	point, at = name, n
	armed.Store(true)
}

// Hit marks the point name; when BIOPIPE_CRASHPOINT selects this hit of it, the process
// signals itself as asked (a SIGKILL does not return).
func Hit(name string) {
	once.Do(setup)
	if !armed.Load() {
		return
	}
	if again.Load() && hits.Load() >= at && strings.HasPrefix(name, "write:") {
		again.Store(false)
		_ = syscall.Kill(os.Getpid(), syscall.SIGINT)
		// The write is still in progress when the second Ctrl-C takes effect.
		time.Sleep(10 * time.Second)
		return
	}
	if name != point || hits.Add(1) != at {
		return
	}
	for _, s := range signals {
		_ = syscall.Kill(os.Getpid(), s)
	}
	if again.Load() {
		// Let the first SIGINT reach its handler before this goroutine can get to a write
		// (a periodic checkpoint one step later on a loaded machine): a second SIGINT sent
		// while the first is still pending would merge with it.
		time.Sleep(500 * time.Millisecond)
	}
	if signals[0] == syscall.SIGKILL {
		select {} // the kill is on its way: do nothing more
	}
}
