package pipelines

import (
	"bufio"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestWorkDirLockModes(t *testing.T) {
	ctx := context.Background()
	wd := t.TempDir()
	for _, tc := range []struct {
		held, want LockMode
		free       bool
	}{
		{LockExclusive, LockExclusive, false},
		{LockExclusive, LockShared, false},
		{LockShared, LockExclusive, false},
		{LockShared, LockShared, true}, // Slurm jobs of one submission side by side
	} {
		t.Run(tc.held.String()+"/"+tc.want.String(), func(t *testing.T) {
			unlock, err := LockWorkDir(ctx, wd, tc.held, false, "biopipe run first.yaml", nil)
			require.NoError(t, err)
			defer unlock()
			un2, err := LockWorkDir(ctx, wd, tc.want, false, "biopipe run second.yaml", nil)
			if tc.free {
				require.NoError(t, err)
				un2()
				return
			}
			var le *LockedError
			require.ErrorAs(t, err, &le)
			require.Len(t, le.Holders, 1)
			h := le.Holders[0]
			host, _ := os.Hostname()
			assert.Equal(t, os.Getpid(), h.PID)
			assert.Equal(t, host, h.Host)
			assert.WithinDuration(t, time.Now(), h.Since, time.Minute)
			assert.Contains(t, err.Error(), "pid "+strconv.Itoa(os.Getpid())+" on host "+host+" since ")
			assert.Contains(t, err.Error(), "biopipe run first.yaml")
			assert.Contains(t, err.Error(), "--wait")
		})
	}
}

func TestWorkDirLockWaits(t *testing.T) {
	ctx := context.Background()
	wd := t.TempDir()
	unlock, err := LockWorkDir(ctx, wd, LockExclusive, false, "first", nil)
	require.NoError(t, err)
	var told []Holder
	go func() {
		time.Sleep(400 * time.Millisecond)
		unlock()
	}()
	un2, err := LockWorkDir(ctx, wd, LockExclusive, true, "second", func(hs []Holder) { told = hs })
	require.NoError(t, err)
	defer un2()
	require.Len(t, told, 1, "the waiter is told who holds the work dir")
	assert.Equal(t, "first", told[0].Command)

	// Ctrl-C while waiting ends the wait.
	cctx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	defer cancel()
	_, err = LockWorkDir(cctx, wd, LockExclusive, true, "third", nil)
	require.ErrorIs(t, err, context.DeadlineExceeded)
}

// TestLockHelperProcess is the child of TestWorkDirLockOfADeadProcess: it takes the lock,
// says so, and sleeps until killed.
func TestLockHelperProcess(t *testing.T) {
	wd := os.Getenv("BP_LOCK_HELPER_WORKDIR")
	if wd == "" {
		t.Skip("helper process of TestWorkDirLockOfADeadProcess")
	}
	if _, err := LockWorkDir(context.Background(), wd, LockExclusive, false, "helper", nil); err != nil {
		os.Exit(3)
	}
	os.Stdout.WriteString("locked\n")
	time.Sleep(time.Minute)
	os.Exit(0)
}

func TestWorkDirLockOfADeadProcess(t *testing.T) {
	wd := t.TempDir()
	child := exec.Command(os.Args[0], "-test.run=^TestLockHelperProcess$")
	child.Env = append(os.Environ(), "BP_LOCK_HELPER_WORKDIR="+wd)
	out, err := child.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, child.Start())
	line, err := bufio.NewReader(out).ReadString('\n')
	require.NoError(t, err)
	require.Equal(t, "locked\n", line)

	_, err = LockWorkDir(context.Background(), wd, LockExclusive, false, "me", nil)
	var le *LockedError
	require.ErrorAs(t, err, &le)
	require.Len(t, le.Holders, 1)
	assert.Equal(t, child.Process.Pid, le.Holders[0].PID)

	require.NoError(t, child.Process.Kill()) // SIGKILL: no chance to clean up
	_ = child.Wait()
	unlock, err := LockWorkDir(context.Background(), wd, LockExclusive, false, "me", nil)
	require.NoError(t, err, "a dead process's lock is taken over")
	defer unlock()
	left, _ := filepath.Glob(filepath.Join(wd, "locks", "holders", "*.json"))
	require.Len(t, left, 1, "the dead holder's description is gone, ours is there")
	assert.Contains(t, filepath.Base(left[0]), "-"+strconv.Itoa(os.Getpid())+".json")
}
