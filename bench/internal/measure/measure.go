// Package measure holds what the bench programs share: the process CPU clock and the
// timed loop over a compiled training step.
package measure

import (
	"io"
	"runtime/pprof"
	"syscall"
	"time"

	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"
)

// CPUTime returns the CPU time (user + system) this process has used so far.
func CPUTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// Result is what a timed run measured.
type Result struct {
	Loss float32       // loss of the last step
	Wall time.Duration // wall time of the timed steps
	CPU  time.Duration // process CPU time of the timed steps
}

// TrainSteps calls step (inputs x, y; output the scalar loss) warmup times untimed (graph
// compilation included), then steps times timed, cycling through the batches xs/ys. With a
// non-nil profile, a CPU profile of the timed steps is written to it.
func TrainSteps(step *model.Exec, xs, ys []*tensors.Tensor, warmup, steps int, profile io.Writer) (Result, error) {
	var res Result
	do := func(i int) error {
		outs, err := step.Call(xs[i%len(xs)], ys[i%len(ys)])
		if err != nil {
			return err
		}
		v, err := tensors.CopyFlatData[float32](outs[0])
		if err != nil {
			return err
		}
		res.Loss = v[0]
		return outs[0].FinalizeAll()
	}
	for i := range warmup {
		if err := do(i); err != nil {
			return res, err
		}
	}
	if profile != nil {
		if err := pprof.StartCPUProfile(profile); err != nil {
			return res, err
		}
		defer pprof.StopCPUProfile()
	}
	cpu0, start := CPUTime(), time.Now()
	for i := range steps {
		if err := do(i); err != nil {
			return res, err
		}
	}
	res.Wall, res.CPU = time.Since(start), CPUTime()-cpu0
	return res, nil
}
