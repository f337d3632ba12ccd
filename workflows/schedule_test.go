package workflows

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/biopipe/biopipe/contract"
)

// scheduledQuickstart writes the quickstart with a per-second schedule into dir.
func scheduledQuickstart(t *testing.T, dir string) string {
	b, err := os.ReadFile(quickstart)
	require.NoError(t, err)
	data, err := filepath.Abs(filepath.Join("..", "testdata", "ehr", "breast_cancer.csv"))
	require.NoError(t, err)
	s := strings.Replace(string(b), "seed: 42", "seed: 42\nschedule: \"* * * * * *\"", 1)
	s = strings.Replace(s, "testdata/ehr/breast_cancer.csv", data, 1)
	p := filepath.Join(dir, "nightly.yaml")
	require.NoError(t, os.WriteFile(p, []byte(s), 0o644))
	return p
}

// TestScheduleHelper is the scheduler process of TestSchedule (it runs only when that test
// starts it): a per-second schedule whose first run holds its slot for 2.5 s, so the next
// due times overlap it, until SIGTERM.
func TestScheduleHelper(t *testing.T) {
	dir := os.Getenv("BIOPIPE_SCHEDULE_HELPER")
	if dir == "" {
		t.Skip("started by TestSchedule")
	}
	files, err := LoadScheduled([]string{filepath.Join(dir, "nightly.yaml")}, "", contract.Default)
	require.NoError(t, err)
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	defer stop()
	real := RunScheduled(contract.Default, nil)
	var n atomic.Int32
	sc := &Scheduler{Files: files, Reg: contract.Default, Log: slog.New(slog.NewTextHandler(os.Stdout, nil)),
		Run: func(ctx context.Context, s Scheduled) (string, error) {
			id, err := real(ctx, s)
			if n.Add(1) == 1 {
				time.Sleep(2500 * time.Millisecond) // a long first run: the next due times overlap it
			}
			return id, err
		}}
	require.NoError(t, sc.Start(ctx))
	os.Stdout.WriteString("HELPER STOPPED CLEANLY\n")
}

func TestSchedule(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: the schedule test waits for several seconds")
	}
	dir := t.TempDir()
	file := scheduledQuickstart(t, dir)
	cmd := exec.Command(os.Args[0], "-test.run=^TestScheduleHelper$", "-test.v")
	cmd.Env = append(os.Environ(), "BIOPIPE_SCHEDULE_HELPER="+dir)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	require.NoError(t, cmd.Start())
	wd := filepath.Join(dir, ".biopipe")
	deadline := time.Now().Add(60 * time.Second)
	var h []HistoryEntry
	for {
		var err error
		h, err = ReadHistory(wd)
		require.NoError(t, err)
		var ok, skipped int
		for _, e := range h {
			switch e.Status {
			case "ok":
				ok++
			case "skipped":
				skipped++
			}
		}
		if ok >= 2 && skipped >= 1 {
			break
		}
		if time.Now().After(deadline) {
			_ = cmd.Process.Kill()
			t.Fatalf("no 2 runs and a skip after 60 s: %+v\n%s", h, out.String())
		}
		time.Sleep(200 * time.Millisecond)
	}
	require.NoError(t, cmd.Process.Signal(syscall.SIGTERM))
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		require.NoError(t, err, "the scheduler exits 0 on SIGTERM\n%s", out.String())
	case <-time.After(30 * time.Second):
		_ = cmd.Process.Kill()
		t.Fatalf("the scheduler did not stop within 30 s of SIGTERM\n%s", out.String())
	}
	assert.Contains(t, out.String(), "HELPER STOPPED CLEANLY")
	assert.Contains(t, out.String(), `msg="scheduled run skipped" file=`+file)
	assert.Contains(t, out.String(), "the previous run is still going")
	assert.Contains(t, out.String(), "msg=stopped")
	// The history names each run (a manifest exists for it) and each skipped overlap.
	for _, e := range h {
		assert.Equal(t, file, e.File)
		switch e.Status {
		case "ok":
			assert.FileExists(t, filepath.Join(wd, "runs", e.RunID, "manifest.json"))
		case "skipped":
			assert.Equal(t, "the previous run is still going", e.Message)
		}
	}
	first := h[0]
	for _, e := range h {
		if e.Due.Before(first.Due) {
			first = e
		}
	}
	assert.Equal(t, "ok", first.Status, "the first due time runs (a run is recorded when it ends, after the skips it caused)")
}

func TestParseSchedule(t *testing.T) {
	for _, s := range []string{"0 3 * * *", "CRON_TZ=Europe/Berlin 0 3 * * *", "TZ=America/New_York 30 2 * * 1-5", "* * * * * *", "@every 1h", "@daily"} {
		_, err := ParseSchedule(s)
		assert.NoError(t, err, s)
	}
	for _, s := range []string{"0 3 * *", "CRON_TZ=Mars/Olympus 0 3 * * *", "61 * * * *"} {
		_, err := ParseSchedule(s)
		assert.Error(t, err, s)
	}
	// The time zone moves the next run: 03:00 in Berlin is 02:00 UTC in winter.
	sc, err := ParseSchedule("CRON_TZ=Europe/Berlin 0 3 * * *")
	require.NoError(t, err)
	next := sc.Next(time.Date(2026, 1, 10, 12, 0, 0, 0, time.UTC))
	assert.Equal(t, time.Date(2026, 1, 11, 2, 0, 0, 0, time.UTC), next.UTC())
}
