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
			return barProgress{desc: desc, b: progressbar.NewOptions(total, progressbar.OptionSetWriter(w),
				progressbar.OptionSetDescription(desc), progressbar.OptionShowCount(),
				progressbar.OptionClearOnFinish(), progressbar.OptionThrottle(100*time.Millisecond))}
		}
		return &lineProgress{w: w, desc: desc, total: total, start: time.Now(), last: time.Now()}
	}
}

type barProgress struct {
	b    *progressbar.ProgressBar
	desc string
}

func (p barProgress) Add(n int) { _ = p.b.Add(n) }
func (p barProgress) Close()    { _ = p.b.Finish() }

// SetStatus shows status after the description (contract.StatusProgress).
func (p barProgress) SetStatus(status string) { p.b.Describe(p.desc + " " + status) }

// lineProgress prints a line at most every 10 seconds, for logs and batch jobs.
type lineProgress struct {
	mu          sync.Mutex
	w           io.Writer
	desc        string
	status      string
	total, done int
	start, last time.Time
}

func (p *lineProgress) Add(n int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.done += n
	if time.Since(p.last) >= 10*time.Second {
		p.last = time.Now()
		status := ""
		if p.status != "" {
			status = " " + p.status
		}
		fmt.Fprintf(p.w, "progress %s: %d/%d (%.0fs)%s\n", p.desc, p.done, p.total, time.Since(p.start).Seconds(), status)
	}
}

func (p *lineProgress) Close() {}

// SetStatus adds status to the next progress line (contract.StatusProgress).
func (p *lineProgress) SetStatus(status string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.status = status
}
