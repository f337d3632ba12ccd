package workflows

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/robfig/cron/v3"

	"github.com/biopipe/biopipe/contract"
	"github.com/biopipe/biopipe/pipelines"
)

// cronParser accepts standard 5-field cron lines, an optional leading seconds field,
// descriptors (@daily, @every 10s) and a CRON_TZ=Area/City (or TZ=) prefix for the time zone.
var cronParser = cron.NewParser(cron.SecondOptional | cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow | cron.Descriptor)

// ParseSchedule parses a schedule: line ("0 3 * * *", "CRON_TZ=Europe/Berlin 0 3 * * *",
// "*/5 * * * * *" with seconds, "@every 1h").
func ParseSchedule(spec string) (cron.Schedule, error) {
	s, err := cronParser.Parse(spec)
	if err != nil {
		return nil, fmt.Errorf("schedule %q: %v (want cron syntax such as \"0 3 * * *\", optionally with a CRON_TZ=Europe/Berlin prefix or a leading seconds field)", spec, err)
	}
	return s, nil
}

// Scheduled is one file on a schedule.
type Scheduled struct {
	File     string
	Schedule string
	Workflow bool
	WorkDir  string
}

// HistoryEntry is one line of schedule/history.jsonl in a work dir: a run, or a skipped one.
type HistoryEntry struct {
	File     string    `json:"file"`
	Schedule string    `json:"schedule"`
	Due      time.Time `json:"due"`
	Start    time.Time `json:"start,omitzero"`
	End      time.Time `json:"end,omitzero"`
	Status   string    `json:"status"` // ok | failed | skipped | cancelled
	RunID    string    `json:"run_id,omitempty"`
	Message  string    `json:"message,omitempty"`
}

// HistoryFile is the schedule history in a work dir.
func HistoryFile(workDir string) string { return filepath.Join(workDir, "schedule", "history.jsonl") }

// ReadHistory reads a work dir's schedule history, oldest first.
func ReadHistory(workDir string) ([]HistoryEntry, error) {
	f, err := os.Open(HistoryFile(workDir))
	if err != nil {
		if os.IsNotExist(err) {
			return nil, nil
		}
		return nil, err
	}
	defer f.Close()
	var out []HistoryEntry
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		var e HistoryEntry
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			return out, fmt.Errorf("%s:%d: %w", HistoryFile(workDir), n, err)
		}
		out = append(out, e)
	}
	return out, sc.Err()
}

// RunFunc runs one scheduled file once and returns the run id.
type RunFunc func(ctx context.Context, s Scheduled) (string, error)

// Scheduler runs files on their cron schedules: never two runs of one file at once (a run
// still going when the next is due is skipped and logged), every run and skip appended to
// the history, and a clean stop when its context ends (running runs are cancelled and
// recorded, no new one starts).
type Scheduler struct {
	Files []Scheduled
	Log   *slog.Logger
	Run   RunFunc // default: RunScheduled
	Reg   *contract.Registry
}

// LoadScheduled reads each file's schedule: line (pipeline or workflow); a file without one,
// or with a bad one, is a positioned error.
func LoadScheduled(files []string, workDir string, reg *contract.Registry) ([]Scheduled, error) {
	var out []Scheduled
	var errs pipelines.SpecErrors
	for _, f := range files {
		s := Scheduled{File: f, Workflow: IsWorkflow(f), WorkDir: workDir}
		if s.Workflow {
			w, err := Load(f, reg)
			if err != nil {
				return nil, err
			}
			s.Schedule = w.Schedule
			if s.WorkDir == "" {
				s.WorkDir = DefaultWorkDir(f)
			}
		} else {
			src, err := pipelines.Load(f, nil)
			if err != nil {
				return nil, err
			}
			plan, err := pipelines.Validate(src, reg)
			if err != nil {
				return nil, err
			}
			s.Schedule = plan.Spec.Schedule
			if s.WorkDir == "" {
				s.WorkDir = pipelines.DefaultWorkDir(f)
			}
			if _, err := ParseSchedule(s.Schedule); s.Schedule != "" && err != nil {
				errs = append(errs, &pipelines.SpecError{Pos: src.ValuePos("schedule"), Msg: err.Error()})
			}
		}
		if s.Schedule == "" {
			errs = append(errs, &pipelines.SpecError{Pos: pipelines.Pos{File: f}, Msg: `no schedule: line (add one, e.g. schedule: "0 3 * * *", or "CRON_TZ=Europe/Berlin 0 3 * * *")`})
		}
		out = append(out, s)
	}
	if len(errs) > 0 {
		return nil, errs
	}
	return out, nil
}

// RunScheduled is the default RunFunc: the file as `biopipe run FILE` runs it (reloaded each
// time, so edits apply to the next run; unchanged stages come from the cache).
func RunScheduled(reg *contract.Registry, log *slog.Logger) RunFunc {
	return func(ctx context.Context, s Scheduled) (string, error) {
		cmd := "biopipe schedule " + s.File
		// One writer per work dir, as `biopipe run`: a scheduled run waits for a manual one.
		unlock, err := pipelines.LockWorkDir(ctx, s.WorkDir, pipelines.LockExclusive, true, cmd, func(hs []pipelines.Holder) {
			if log != nil {
				log.Info("work dir in use: waiting", "workdir", s.WorkDir, "holders", len(hs))
			}
		})
		if err != nil {
			return "", err
		}
		defer unlock()
		if s.Workflow {
			w, err := Load(s.File, reg)
			if err != nil {
				return "", err
			}
			rec, err := Run(ctx, w, Options{WorkDir: s.WorkDir, Command: cmd, Log: log})
			if rec == nil {
				return "", err
			}
			return "workflow " + rec.Name, err
		}
		src, err := pipelines.Load(s.File, nil)
		if err != nil {
			return "", err
		}
		plan, err := pipelines.Validate(src, reg)
		if err != nil {
			return "", err
		}
		m, err := pipelines.Run(ctx, plan, pipelines.Options{WorkDir: s.WorkDir, Command: cmd, Log: log})
		if m == nil {
			return "", err
		}
		return m.RunID, err
	}
}

// Start schedules every file and runs until ctx ends; then it cancels the runs still going,
// waits for them to record their end, and returns.
func (sc *Scheduler) Start(ctx context.Context) error {
	if sc.Log == nil {
		sc.Log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if sc.Run == nil {
		sc.Run = RunScheduled(sc.Reg, sc.Log)
	}
	runCtx, cancelRuns := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelRuns()
	c := cron.New(cron.WithParser(cronParser))
	var hmu sync.Mutex // one writer of each history file at a time
	record := func(e HistoryEntry, wd string) {
		hmu.Lock()
		defer hmu.Unlock()
		if err := appendHistory(wd, e); err != nil {
			sc.Log.Error("schedule history", "file", e.File, "error", err)
		}
	}
	var wg sync.WaitGroup
	for _, s := range sc.Files {
		sched, err := ParseSchedule(s.Schedule)
		if err != nil {
			return fmt.Errorf("%s: %w", s.File, err)
		}
		var mu sync.Mutex
		running := false
		c.Schedule(sched, cron.FuncJob(func() {
			due := time.Now().UTC().Truncate(time.Second)
			mu.Lock()
			if running || runCtx.Err() != nil {
				mu.Unlock()
				msg := "the previous run is still going"
				if runCtx.Err() != nil {
					msg = "stopping"
				}
				sc.Log.Warn("scheduled run skipped", "file", s.File, "due", due.Format(time.RFC3339), "reason", msg)
				record(HistoryEntry{File: s.File, Schedule: s.Schedule, Due: due, Status: "skipped", Message: msg}, s.WorkDir)
				return
			}
			running = true
			wg.Add(1)
			mu.Unlock()
			defer func() {
				mu.Lock()
				running = false
				mu.Unlock()
				wg.Done()
			}()
			e := HistoryEntry{File: s.File, Schedule: s.Schedule, Due: due, Start: time.Now().UTC()}
			sc.Log.Info("scheduled run", "file", s.File, "due", due.Format(time.RFC3339))
			id, err := sc.Run(runCtx, s)
			e.End, e.RunID, e.Status = time.Now().UTC(), id, "ok"
			switch {
			case err != nil && runCtx.Err() != nil:
				e.Status, e.Message = "cancelled", "stopped (SIGTERM) while running: "+err.Error()
			case err != nil:
				e.Status, e.Message = "failed", err.Error()
			}
			sc.Log.Info("scheduled run done", "file", s.File, "run", id, "status", e.Status)
			record(e, s.WorkDir)
		}))
		sc.Log.Info("scheduled", "file", s.File, "schedule", s.Schedule, "next", sched.Next(time.Now()).Format(time.RFC3339))
	}
	c.Start()
	<-ctx.Done()
	sc.Log.Info("stopping: no new runs; cancelling the runs still going")
	stopped := c.Stop() // no new jobs
	cancelRuns()
	<-stopped.Done()
	wg.Wait()
	sc.Log.Info("stopped")
	return nil
}

func appendHistory(workDir string, e HistoryEntry) error {
	p := HistoryFile(workDir)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return err
	}
	b, err := json.Marshal(e)
	if err != nil {
		return err
	}
	f, err := os.OpenFile(p, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	if _, err := f.Write(append(b, '\n')); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
