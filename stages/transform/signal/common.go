// Package signal holds the stage kinds that transform continuous recordings (signals
// artifacts, see stages/ingest/signals) and cut them into examples:
//
//   - transform.filter: zero-phase Butterworth band-pass / high-pass / low-pass and notch
//   - transform.resample: anti-aliased polyphase resampling to a common rate
//   - transform.reference: re-reference to the average or to named channels
//   - transform.channels: pick, drop and rename channels by name or pattern
//   - transform.epoch: windows around annotated events or sliding windows -> a tensor table
//   - transform.standardize_channels: per-channel standardisation of a tensor column, fitted
//     on the training split
package signal

import (
	"fmt"
	"runtime"
	"sync"

	"github.com/biopipe/biopipe/contract"
	"github.com/biopipe/biopipe/stages/ingest/signals"
)

// Common field names.
const (
	FieldChannels = "channels"
)

var signalsIn = []contract.Port{{Name: "signals", Type: contract.Signals, Doc: "continuous recordings"}}
var signalsOut = contract.Port{Name: "signals", Type: contract.Signals, Doc: "recordings.arrow + annotations.arrow"}

var channelsField = contract.Field{Name: FieldChannels, Type: contract.Strings,
	Doc: `channels to transform: names or globs ("EEG*"), "re:" for a regular expression; empty = all (others pass unchanged)`}

// loadSignals reads the signals artifact on the "signals" port.
func loadSignals(env *contract.Env) (*signals.Set, error) {
	in, err := env.One("signals")
	if err != nil {
		return nil, err
	}
	return signals.ReadDir(in.Dir)
}

// forChannels runs fn on every selected channel of every segment, in parallel.
func forChannels(set *signals.Set, sel *signals.Selector, fn func(seg *signals.Segment, c *signals.Channel) error) error {
	type job struct {
		seg *signals.Segment
		c   *signals.Channel
	}
	var jobs []job
	for _, seg := range set.Segments {
		for _, c := range seg.Channels {
			if sel.Match(c.Name) {
				jobs = append(jobs, job{seg, c})
			}
		}
	}
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		ferr error
		next int
	)
	for range min(runtime.GOMAXPROCS(0), max(1, len(jobs))) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				mu.Lock()
				if next >= len(jobs) || ferr != nil {
					mu.Unlock()
					return
				}
				j := jobs[next]
				next++
				mu.Unlock()
				if err := fn(j.seg, j.c); err != nil {
					mu.Lock()
					if ferr == nil {
						ferr = fmt.Errorf("recording %s channel %q: %w", j.seg.Recording, j.c.Name, err)
					}
					mu.Unlock()
				}
			}
		}()
	}
	wg.Wait()
	return ferr
}

func toF64(x []float32) []float64 {
	out := make([]float64, len(x))
	for i, v := range x {
		out[i] = float64(v)
	}
	return out
}

func toF32(x []float64) []float32 {
	out := make([]float32, len(x))
	for i, v := range x {
		out[i] = float32(v)
	}
	return out
}

func selector(cfg contract.Config, field string) (*signals.Selector, []contract.Issue) {
	sel, err := signals.NewSelector(cfg.Strings(field))
	if err != nil {
		return nil, []contract.Issue{{Path: []string{field}, Msg: err.Error()}}
	}
	return sel, nil
}

func configError(issues []contract.Issue) error {
	if len(issues) == 0 {
		return nil
	}
	return &contract.ConfigError{Issues: issues}
}
