package pipelines

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/gofrs/flock"

	"github.com/biopipe/biopipe/dataset"
)

// LockMode says how a command holds its work dir.
type LockMode int

// Lock modes.
const (
	// LockExclusive: the one writer of the work dir (a plain `biopipe run`, `gc`, `cache
	// verify`): no other biopipe command uses the work dir meanwhile.
	LockExclusive LockMode = iota
	// LockShared: one of several cooperating writers (Slurm jobs of one submission: `run
	// --only STAGE` per stage, `run --point N` per sweep point). They exclude exclusive
	// holders but not each other; FSCache.Lock, a lock per cache key held from the cache
	// lookup until the artifact is stored, makes concurrent writers of one entry safe (the
	// second waits, then finds the artifact stored).
	LockShared
)

func (m LockMode) String() string {
	if m == LockShared {
		return "shared"
	}
	return "exclusive"
}

// Holder describes a process holding a work dir lock.
type Holder struct {
	PID     int       `json:"pid"`
	Host    string    `json:"host"`
	Since   time.Time `json:"since"`
	Mode    string    `json:"mode"`
	Command string    `json:"command"`
}

func (h Holder) String() string {
	s := fmt.Sprintf("pid %d on host %s since %s (%s)", h.PID, h.Host, h.Since.Local().Format("2006-01-02 15:04:05"), h.Mode)
	if h.Command != "" {
		s += ": " + h.Command
	}
	return s
}

// LockedError is returned by LockWorkDir without waiting when another process holds the
// work dir.
type LockedError struct {
	WorkDir string
	Holders []Holder // may be empty when the holder left no description
}

func (e *LockedError) Error() string {
	who := "another biopipe process"
	if len(e.Holders) > 0 {
		var parts []string
		for _, h := range e.Holders {
			parts = append(parts, h.String())
		}
		who = strings.Join(parts, "; ")
	}
	return fmt.Sprintf("work dir %s is in use by %s (wait for it with --wait)", e.WorkDir, who)
}

// Paths of the lock under the work dir.
const (
	lockDir     = "locks"
	lockFile    = "workdir.lock"
	holdersDir  = "holders"
	lockPolling = 200 * time.Millisecond
)

// LockWorkDir takes the work dir lock of one biopipe command (an OS file lock, flock(2),
// on <work dir>/locks/workdir.lock) and describes the holder in locks/holders/<host>-<pid>.json
// for whoever waits. The lock belongs to the process: take it once per command, around
// every pipelines.Run of that command (a sweep runs many points in one process under one
// lock). With wait false it fails at once with a *LockedError naming the holders; with wait
// true it calls waiting once with them and retries until ctx ends. A process that dies
// releases its lock with it (the OS drops the flock), so a dead holder's lock is simply
// taken over and its stale description removed.
//
// Slurm jobs of one submission share the work dir: each takes LockShared (`biopipe run`
// does so with --only and --point), so they run side by side while a user's plain run,
// gc or cache verify waits for all of them. On a shared file system the lock needs
// flock support across nodes (NFS does it through its lock manager; on Lustre mount with
// -o flock); where the file system refuses locks the error says so.
func LockWorkDir(ctx context.Context, wd string, mode LockMode, wait bool, command string, waiting func([]Holder)) (unlock func(), err error) {
	dir := filepath.Join(wd, lockDir)
	if err := os.MkdirAll(filepath.Join(dir, holdersDir), 0o755); err != nil {
		return nil, fmt.Errorf("locking work dir: %w", err)
	}
	fl := flock.New(filepath.Join(dir, lockFile))
	try := fl.TryLock
	if mode == LockShared {
		try = fl.TryRLock
	}
	told := false
	for {
		ok, err := try()
		if err != nil {
			if errors.Is(err, syscall.ENOLCK) || errors.Is(err, syscall.EOPNOTSUPP) || errors.Is(err, syscall.EINVAL) {
				return nil, fmt.Errorf("locking work dir %s: the file system does not support file locks (%w); use a work dir on a local disk or a file system mounted with lock support", wd, err)
			}
			return nil, fmt.Errorf("locking work dir %s: %w", wd, err)
		}
		if ok {
			break
		}
		holders := readHolders(dir)
		if !wait {
			return nil, &LockedError{WorkDir: wd, Holders: holders}
		}
		if !told && waiting != nil {
			waiting(holders)
			told = true
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("waiting for work dir %s: %w", wd, context.Cause(ctx))
		case <-time.After(lockPolling):
		}
	}
	pruneHolders(dir, mode == LockExclusive)
	host, _ := os.Hostname()
	me := Holder{PID: os.Getpid(), Host: host, Since: time.Now().UTC(), Mode: mode.String(), Command: command}
	hp := filepath.Join(dir, holdersDir, fmt.Sprintf("%s-%d.json", sanitizeHost(host), me.PID))
	if err := dataset.WriteJSON(hp, me); err != nil {
		_ = fl.Unlock()
		return nil, fmt.Errorf("locking work dir: %w", err)
	}
	return func() {
		_ = os.Remove(hp)
		_ = fl.Unlock()
	}, nil
}

func sanitizeHost(h string) string {
	if h == "" {
		return "host"
	}
	return strings.Map(func(r rune) rune {
		if r == '/' || r == '\\' || r == os.PathSeparator {
			return '_'
		}
		return r
	}, h)
}

// readHolders returns the described holders, oldest first, leaving out processes of this
// host that are gone.
func readHolders(dir string) []Holder {
	ents, _ := os.ReadDir(filepath.Join(dir, holdersDir))
	host, _ := os.Hostname()
	var out []Holder
	for _, e := range ents {
		if !strings.HasSuffix(e.Name(), ".json") {
			continue
		}
		b, err := os.ReadFile(filepath.Join(dir, holdersDir, e.Name()))
		if err != nil {
			continue
		}
		var h Holder
		if json.Unmarshal(b, &h) != nil {
			continue
		}
		if h.Host == host && !alive(h.PID) {
			continue
		}
		out = append(out, h)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Since.Before(out[j].Since) })
	return out
}

// pruneHolders removes descriptions of holders that cannot hold the lock any more: all of
// them when we hold it exclusively, else those of dead processes on this host.
func pruneHolders(dir string, all bool) {
	ents, _ := os.ReadDir(filepath.Join(dir, holdersDir))
	host, _ := os.Hostname()
	for _, e := range ents {
		p := filepath.Join(dir, holdersDir, e.Name())
		if all {
			_ = os.Remove(p)
			continue
		}
		name := strings.TrimSuffix(e.Name(), ".json")
		i := strings.LastIndex(name, "-")
		if i < 0 || name[:i] != sanitizeHost(host) {
			continue
		}
		if pid, err := strconv.Atoi(name[i+1:]); err == nil && !alive(pid) {
			_ = os.Remove(p)
		}
	}
}

// alive tells whether a process of this host exists.
func alive(pid int) bool {
	if pid <= 0 {
		return false
	}
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}
