package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/biopipe/biopipe/manifest"
	"github.com/biopipe/biopipe/pipelines"
)

// asMainEnv makes the test binary act as biopipe (TestMain), so crash tests run the real
// command in a subprocess without building it first.
const asMainEnv = "BIOPIPE_TEST_AS_MAIN"

func TestMain(m *testing.M) {
	if os.Getenv(asMainEnv) == "1" {
		os.Args = append([]string{"biopipe"}, os.Args[1:]...)
		main()
		return
	}
	os.Exit(m.Run())
}

// subprocess is one biopipe command run in a child process.
type subprocess struct {
	code   int            // exit code, -1 when killed by a signal
	signal syscall.Signal // the signal that killed it
	stderr string
}

func runChild(t *testing.T, crashpoint string, args ...string) subprocess {
	t.Helper()
	return runChildLimited(t, crashpoint, 0, args...)
}

// runChildLimited runs biopipe with a file-size limit of fsizeKiB (0: none), as ulimit -f.
func runChildLimited(t *testing.T, crashpoint string, fsizeKiB int, args ...string) subprocess {
	t.Helper()
	cmd := exec.Command(os.Args[0], args...)
	if fsizeKiB > 0 {
		// bash's ulimit -f counts KiB; the limit is inherited through exec.
		cmd = exec.Command("bash", append([]string{"-c", fmt.Sprintf(`ulimit -f %d && exec "$0" "$@"`, fsizeKiB), os.Args[0]}, args...)...)
	}
	cmd.Dir = "../.." // the repository root: the example configs name data relative to it
	cmd.Env = append(os.Environ(), asMainEnv+"=1", "BIOPIPE_CRASHPOINT="+crashpoint)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	err := cmd.Run()
	res := subprocess{stderr: stderr.String()}
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee):
		res.code = ee.ExitCode()
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			res.signal = ws.Signal()
		}
	default:
		t.Fatalf("running %v: %v", args, err)
	}
	return res
}

// digests returns each stage's artifact digest in the latest run of wd, and its status.
func digests(t *testing.T, wd string) (map[string]string, string) {
	t.Helper()
	dir, err := manifest.Find(wd, "")
	require.NoError(t, err)
	m, err := manifest.Read(dir)
	require.NoError(t, err)
	out := map[string]string{}
	for _, s := range m.Stages {
		if s.Artifact != nil {
			out[s.ID] = s.Artifact.Digest
		}
	}
	return out, m.Status
}

// TestKillAndResume kills biopipe runs of the quickstart pipeline with SIGKILL during
// ingest (its table half written), mid-epoch and while the model artifact is being stored,
// interrupts one with Ctrl-C and one with Ctrl-C twice, runs it again each time, and
// checks that the last run's artifacts are bit for bit those of an uninterrupted run.
func TestKillAndResume(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the quickstart pipeline seven times")
	}
	pipeline, err := filepath.Abs("../../configs/quickstart.yaml")
	require.NoError(t, err)
	run := func(wd, crash string) subprocess {
		// Checkpoints every 25 steps (a field outside the cache key) so kills land between
		// them; quickstart has 8 steps per epoch, 40 epochs.
		return runChild(t, crash, "run", pipeline, "--workdir", wd, "-q",
			"--set", "stages.train.with.checkpoint_every=25")
	}
	ref := filepath.Join(t.TempDir(), "ref")
	r := run(ref, "")
	require.Equal(t, 0, r.code, r.stderr)
	want, status := digests(t, ref)
	require.Equal(t, "ok", status)
	require.Len(t, want, 6)

	wd := filepath.Join(t.TempDir(), "wd")

	// Disk full (a 64 KiB file-size limit; the ingested table is larger): the error names
	// the file and the operation, nothing half-written stays, and the next run recovers.
	if _, err := exec.LookPath("bash"); err == nil {
		r := runChildLimited(t, "", 64, "run", pipeline, "--workdir", wd, "-q")
		assert.Equal(t, exitFailed, r.code, r.stderr)
		assert.Regexp(t, `stage "load": .*data\.arrow.*: write .*: file too large`, r.stderr)
		out, code := execute(t, "cache", "verify", "--workdir", wd)
		assert.Equal(t, exitOK, code, out)
		tmps, _ := os.ReadDir(filepath.Join(wd, "tmp"))
		assert.Empty(t, tmps, "the failed stage's folder is removed")
	} else {
		t.Log("bash not found: disk-full case skipped")
	}

	steps := []struct {
		name, crash string
		code        int
		signal      syscall.Signal
		stderr      []string
	}{
		{"SIGKILL during ingest", "write:data.arrow=1:kill", -1, syscall.SIGKILL, nil},
		{"SIGKILL mid-epoch", "train.step=110:kill", -1, syscall.SIGKILL, nil},
		{"Ctrl-C mid-epoch", "train.step=60:int", 130, 0, []string{"stopping at the next step", "to resume", "biopipe run"}},
		{"Ctrl-C twice", "train.step=30:int2", 130, 0, []string{"stopped at once"}},
		{"SIGKILL while storing the model", "store.save=1:kill", -1, syscall.SIGKILL, nil},
	}
	for _, s := range steps {
		r := run(wd, s.crash)
		assert.Equal(t, s.code, r.code, "%s: exit code; stderr:\n%s", s.name, r.stderr)
		assert.Equal(t, s.signal, r.signal, s.name)
		for _, w := range s.stderr {
			assert.Contains(t, r.stderr, w, s.name)
		}
		if s.crash == "train.step=60:int" {
			_, status := digests(t, wd)
			assert.Equal(t, "interrupted", status, s.name)
		}
	}
	r = run(wd, "")
	require.Equal(t, 0, r.code, r.stderr)
	got, status := digests(t, wd)
	assert.Equal(t, "ok", status)
	assert.Equal(t, want, got, "artifacts after five crashes differ from an uninterrupted run")
	left, _ := os.ReadDir(filepath.Join(wd, "state"))
	assert.Empty(t, left, "resume state is removed once the model is stored")
	t.Logf("digests after kill/interrupt/resume equal the uninterrupted run's: train %s", got["train"][:16])

	// The store is whole; a damaged model file is named, quarantined and recomputed.
	out, code := execute(t, "cache", "verify", "--workdir", wd)
	require.Equal(t, exitOK, code, out)
	assert.Contains(t, out, "checked 6 artifacts")
	dir, err := manifest.Find(wd, "")
	require.NoError(t, err)
	m, err := manifest.Read(dir)
	require.NoError(t, err)
	var model string
	for _, s := range m.Stages {
		if s.ID == "train" {
			model = s.Artifact.Dir
		}
	}
	require.NoError(t, os.WriteFile(filepath.Join(model, "history.json"), []byte("{}"), 0o644))
	out, code = execute(t, "cache", "verify", "--workdir", wd)
	assert.Equal(t, exitFailed, code, out)
	assert.Contains(t, out, `(stage "train"): history.json:`)
	assert.Contains(t, out, "moved to "+filepath.Join(wd, "quarantine"))
	r = run(wd, "")
	require.Equal(t, 0, r.code, r.stderr)
	got, _ = digests(t, wd)
	assert.Equal(t, want, got, "recomputed after quarantine")

	// gc keeps the newest run and what it uses; it also removes the folders of the four
	// killed runs (no manifest) and their temporaries: 7 runs in all (disk full, Ctrl-C,
	// four killed, the first complete one).
	out, code = execute(t, "gc", "--workdir", wd, "--keep-runs", "1")
	require.Equal(t, exitOK, code, out)
	assert.Regexp(t, `removed 7 runs, 0 artifacts, 0 resume states, \d+ temporaries from .*: freed `, out)
}

func TestRunNoWaitNamesTheHolder(t *testing.T) {
	wd := t.TempDir()
	unlock, err := pipelines.LockWorkDir(context.Background(), wd, pipelines.LockExclusive, false, "biopipe run other.yaml", nil)
	require.NoError(t, err)
	defer unlock()
	out, code := execute(t, "run", "../../configs/quickstart.yaml", "--workdir", wd, "--no-wait")
	assert.Equal(t, exitFailed, code)
	host, _ := os.Hostname()
	assert.Contains(t, out, fmt.Sprintf("work dir %s is in use by pid %d on host %s since ", wd, os.Getpid(), host))
	assert.Contains(t, out, "biopipe run other.yaml")
	_, err = os.Stat(filepath.Join(wd, "runs"))
	assert.True(t, os.IsNotExist(err), "nothing ran")
	out, code = execute(t, "run", "../../configs/quickstart.yaml", "--workdir", wd, "--wait", "--no-wait")
	assert.Equal(t, exitUsage, code, out)
}

func TestExitCodes(t *testing.T) {
	interrupted := func(s syscall.Signal) error {
		return fmt.Errorf("%w (%w)", pipelines.ErrInterrupted, signalError{s})
	}
	for _, tc := range []struct {
		err  error
		want int
	}{
		{nil, exitOK},
		{fmt.Errorf("%w: stage %q: boom", pipelines.ErrRunFailed, "x"), exitFailed},
		{usageError{errors.New("bad flag")}, exitUsage},
		{interrupted(syscall.SIGINT), 130},
		{interrupted(syscall.SIGTERM), 143},
	} {
		assert.Equal(t, tc.want, exitCodeQuiet(tc.err), "%v", tc.err)
	}
}

// TestReadOnlyStore runs a pipeline whose artifact store cannot be written (a permission
// error, as on a shared disk another user owns): the run fails with exit 1 and an error that
// names the stage, the path and the operation; the store stays valid; and once the store is
// writable again the next run recovers. Root ignores file modes, so as root the child runs
// as the unprivileged user nobody on a store root owns.
func TestReadOnlyStore(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a small pipeline three times")
	}
	asRoot := os.Geteuid() == 0
	const nobody = 65534
	// Everything the child needs lives in one world-readable folder: a copy of this test
	// binary (which acts as biopipe), the pipeline and its data.
	dir, err := os.MkdirTemp("", "biopipe-readonly-")
	require.NoError(t, err)
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	require.NoError(t, os.Chmod(dir, 0o755))
	bin := filepath.Join(dir, "biopipe")
	b, err := os.ReadFile(os.Args[0])
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(bin, b, 0o755))
	var csv bytes.Buffer
	csv.WriteString("x1,x2,target\n")
	for i := range 120 {
		fmt.Fprintf(&csv, "%d,%d,%d\n", i%7, (i*5)%11, (i%7+(i*5)%11)%2)
	}
	require.NoError(t, os.WriteFile(filepath.Join(dir, "data.csv"), csv.Bytes(), 0o644))
	pipeline := filepath.Join(dir, "pipeline.yaml")
	require.NoError(t, os.WriteFile(pipeline, []byte(`name: readonly
seed: 1
stages:
  - {id: load, kind: ingest.table, with: {path: data.csv, label: target}}
  - {id: split, kind: transform.split, inputs: [load], with: {test: 0.25}}
  - {id: train, kind: train, inputs: [split], with: {model: mlp, hidden: [8], epochs: 2}}
`), 0o644))
	wd := filepath.Join(dir, "wd")
	require.NoError(t, os.MkdirAll(wd, 0o755))
	if asRoot {
		require.NoError(t, os.Chown(wd, nobody, nobody))
	}
	run := func(args ...string) subprocess {
		cmd := exec.Command(bin, append([]string{"run", pipeline, "--workdir", wd, "-q"}, args...)...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), asMainEnv+"=1", "HOME="+dir)
		if asRoot {
			cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: nobody, Gid: nobody}}
		}
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		err := cmd.Run()
		res := subprocess{stderr: stderr.String()}
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			res.code = ee.ExitCode()
		} else {
			require.NoError(t, err)
		}
		return res
	}
	r := run()
	require.Equal(t, 0, r.code, r.stderr)

	// The store becomes read-only for the child: a changed training must store a new
	// artifact and cannot.
	store := filepath.Join(wd, "store")
	setWritable := func(w bool) {
		_ = filepath.WalkDir(store, func(p string, d os.DirEntry, err error) error {
			if err != nil || !d.IsDir() {
				return err
			}
			if asRoot {
				// Artifact folders are private (0700): readable by their owner only.
				uid, mode := 0, os.FileMode(0o755)
				if w {
					uid, mode = nobody, 0o700
				}
				if err := os.Chmod(p, mode); err != nil {
					return err
				}
				return os.Chown(p, uid, uid)
			}
			mode := os.FileMode(0o555)
			if w {
				mode = 0o755
			}
			return os.Chmod(p, mode)
		})
	}
	setWritable(false)
	t.Cleanup(func() { setWritable(true) })
	r = run("--set", "stages.train.with.epochs=3")
	assert.Equal(t, exitFailed, r.code, r.stderr)
	assert.Regexp(t, `stage "train": .*`+regexp.QuoteMeta(store)+`.*permission denied`, r.stderr)
	assert.NotContains(t, r.stderr, "goroutine ", "no stack trace")
	t.Logf("read-only store: %s", r.stderr)
	tmps, _ := os.ReadDir(filepath.Join(wd, "tmp"))
	assert.Empty(t, tmps, "the failed stage's folder is removed")
	out, code := execute(t, "cache", "verify", "--workdir", wd)
	assert.Equal(t, exitOK, code, out)

	setWritable(true)
	r = run("--set", "stages.train.with.epochs=3")
	require.Equal(t, 0, r.code, r.stderr)
	_, status := digests(t, wd)
	assert.Equal(t, "ok", status)
}
