package main

import (
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"

	"github.com/biopipe/biopipe/contract"
)

// newProgress returns a bar on a terminal, and periodic log lines otherwise.
func newProgress(w io.Writer, quiet bool) contract.ProgressFunc {
	if quiet {
		return nil
	}
	tty := false
	if f, ok := w.(*os.File); ok {
		tty = term.IsTerminal(int(f.Fd()))
	}
	return func(desc string, total int) contract.Progress {
		if tty {
			return barProgress{progressbar.NewOptions(total, progressbar.OptionSetWriter(w),
				progressbar.OptionSetDescription(desc), progressbar.OptionShowCount(),
				progressbar.OptionClearOnFinish(), progressbar.OptionThrottle(100*time.Millisecond))}
		}
		return &lineProgress{w: w, desc: desc, total: total, start: time.Now(), last: time.Now()}
	}
}

type barProgress struct{ b *progressbar.ProgressBar }

func (p barProgress) Add(n int) { _ = p.b.Add(n) }
func (p barProgress) Close()    { _ = p.b.Finish() }

// lineProgress prints a line at most every 10 seconds, for logs and batch jobs.
type lineProgress struct {
	mu          sync.Mutex
	w           io.Writer
	desc        string
	total, done int
	start, last time.Time
}

func (p *lineProgress) Add(n int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.done += n
	if time.Since(p.last) >= 10*time.Second {
		p.last = time.Now()
		fmt.Fprintf(p.w, "progress %s: %d/%d (%.0fs)\n", p.desc, p.done, p.total, time.Since(p.start).Seconds())
	}
}

func (p *lineProgress) Close() {}
