package pipelines

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"time"

	"github.com/gofrs/flock"

	"github.com/biopipe/biopipe/contract"
	"github.com/biopipe/biopipe/crashpoint"
	"github.com/biopipe/biopipe/dataset"
)

// Entry describes a stored artifact.
type Entry struct {
	Key         string                 `json:"key"`
	Stage       string                 `json:"stage"`
	Kind        string                 `json:"kind"`
	Type        contract.PortType      `json:"type"`
	Digest      string                 `json:"digest"`
	Files       map[string]string      `json:"files"`             // relative path -> sha256
	Sizes       map[string]int64       `json:"sizes,omitempty"`   // relative path -> bytes
	Samples     map[string]string      `json:"samples,omitempty"` // large files: sampled hash (see integrity.go)
	Metrics     map[string]any         `json:"metrics,omitempty"`
	Quarantined []contract.Quarantined `json:"quarantined,omitempty"`
	Created     time.Time              `json:"created"`
	Dir         string                 `json:"-"`
}

// Cache is the memoization store: a two-method interface keyed by the stage's cache key.
type Cache interface {
	// Load returns the stored artifact for key, if any.
	Load(key string) (*Entry, bool)
	// Save moves the finished folder dir into the store under key, atomically.
	Save(key string, dir string, e *Entry) (*Entry, error)
}

// Locker is implemented by caches that several processes (or goroutines) may fill at once:
// the executor holds a key's lock from the cache lookup until the artifact is saved, so a
// second writer of the same artifact waits and then finds it stored, instead of computing it
// again or replacing it under a reader.
type Locker interface {
	Lock(ctx context.Context, key string) (unlock func(), err error)
}

// Lock implements Locker with an exclusive file lock (flock) on locks/<key>.lock beside the
// store (outside it, so the store holds artifacts only); it works across processes and
// across Slurm jobs on nodes sharing the work dir.
func (c *FSCache) Lock(ctx context.Context, key string) (func(), error) {
	p := filepath.Join(filepath.Dir(c.Root), "locks", key+".lock")
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return nil, err
	}
	fl := flock.New(p)
	ok, err := fl.TryLockContext(ctx, 50*time.Millisecond)
	if err != nil {
		return nil, fmt.Errorf("locking artifact %s: %w", key[:12], err)
	}
	if !ok {
		return nil, fmt.Errorf("locking artifact %s: %w", key[:12], ctx.Err())
	}
	return func() { _ = fl.Unlock() }, nil
}

// FSCache is a content-addressed store in a folder: <root>/<key[:2]>/<key>/ holds the
// artifact files and .artifact.json. A folder appears under its final name only once its
// files are synced, so a killed run never leaves a half artifact that a later run trusts.
type FSCache struct {
	Root string
	// Paranoid: Load hashes every file in full (else large files are checked by size and a
	// sampled hash).
	Paranoid bool
	// Log receives a warning for each corrupt artifact Load meets; may be nil.
	Log *slog.Logger
}

const entryFile = ".artifact.json"

func (c *FSCache) dir(key string) string { return filepath.Join(c.Root, key[:2], key) }

// Load implements Cache. It checks the artifact's files against its entry (integrity.go);
// a corrupt artifact is moved to quarantine/, reported to Log, and is a miss.
func (c *FSCache) Load(key string) (*Entry, bool) {
	d := c.dir(key)
	if _, err := os.Stat(filepath.Join(d, entryFile)); err != nil {
		return nil, false
	}
	e, err := readEntry(d, key)
	if err == nil {
		err = verify(e, c.Paranoid)
	}
	if err == nil {
		return e, true
	}
	where, qerr := c.quarantine(d, key)
	if c.Log != nil {
		if qerr != nil {
			c.Log.Error("corrupt artifact: could not move it to quarantine", "error", err, "quarantine_error", qerr)
		} else {
			c.Log.Warn("corrupt artifact moved to quarantine; computing it again", "error", err, "moved_to", where)
		}
	}
	return nil, false
}

// Save implements Cache. It hashes every file, writes .artifact.json, syncs, and renames
// the folder into place.
func (c *FSCache) Save(key string, dir string, e *Entry) (*Entry, error) {
	files, digest, err := HashTree(dir)
	if err != nil {
		return nil, err
	}
	e.Key, e.Files, e.Digest, e.Created = key, files, digest, time.Now().UTC()
	if e.Sizes, e.Samples, err = fileSamples(dir, files); err != nil {
		return nil, err
	}
	if len(e.Samples) == 0 {
		e.Samples = nil
	}
	if err := dataset.WriteJSON(filepath.Join(dir, entryFile), e); err != nil {
		return nil, err
	}
	if err := syncTree(dir); err != nil {
		return nil, err
	}
	crashpoint.Hit("store.save")
	final := c.dir(key)
	if err := os.MkdirAll(filepath.Dir(final), 0o755); err != nil {
		return nil, err
	}
	if _, err := os.Stat(final); err == nil {
		// Another run stored the same key meanwhile (or a forced re-run): replace it.
		old := final + ".old-" + fmt.Sprint(time.Now().UnixNano())
		if err := os.Rename(final, old); err != nil {
			return nil, err
		}
		defer os.RemoveAll(old)
	}
	if err := os.Rename(dir, final); err != nil {
		return nil, err
	}
	e.Dir = final
	return e, nil
}

// HashTree returns the SHA-256 of every regular file under dir (relative, slash paths;
// .artifact.json excluded) and one digest over the sorted list.
func HashTree(dir string) (map[string]string, string, error) {
	files := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() || d.Name() == entryFile {
			return nil
		}
		rel, _ := filepath.Rel(dir, p)
		h, err := hashFile(p)
		if err != nil {
			return err
		}
		files[filepath.ToSlash(rel)] = h
		return nil
	})
	if err != nil {
		return nil, "", err
	}
	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
	}
	sort.Strings(names)
	h := sha256.New()
	for _, n := range names {
		fmt.Fprintf(h, "%s\x00%s\n", n, files[n])
	}
	return files, hex.EncodeToString(h.Sum(nil)), nil
}

func hashFile(p string) (string, error) {
	f, err := os.Open(p)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

func syncTree(dir string) error {
	return filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		f, err := os.Open(p)
		if err != nil {
			return err
		}
		defer f.Close()
		return f.Sync()
	})
}

// HashInput digests a file (its content) or a folder (names, sizes and modification times
// of the files under it) for cache keys.
func HashInput(path string) (string, error) {
	st, err := os.Stat(path)
	if err != nil {
		return "", err
	}
	if !st.IsDir() {
		return hashFile(path)
	}
	h := sha256.New()
	err = filepath.WalkDir(path, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(path, p)
		fmt.Fprintf(h, "%s\x00%d\x00%d\n", filepath.ToSlash(rel), info.Size(), info.ModTime().UnixNano())
		return nil
	})
	if err != nil {
		return "", err
	}
	return "dir:" + hex.EncodeToString(h.Sum(nil)), nil
}
