package pipelines

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/biopipe/biopipe/manifest"
)

// Cache integrity: every artifact read from the store is checked against its entry. Files
// up to sampleAbove bytes are hashed in full; larger ones are checked by size and by a hash
// of sampleCount blocks spread over the file (recorded at Save), unless the check is
// paranoid, which hashes everything. A corrupt artifact is moved to <work dir>/quarantine/
// and treated as a miss, so the stage is computed again.

const (
	sampleAbove = 4 << 20
	sampleCount = 16
	sampleBlock = 64 << 10
)

// CorruptError names the artifact and the file that failed its check.
type CorruptError struct {
	Key, Stage, File string
	Reason           string
}

func (e *CorruptError) Error() string {
	s := fmt.Sprintf("artifact %s", e.Key[:min(12, len(e.Key))])
	if e.Stage != "" {
		s += fmt.Sprintf(" (stage %q)", e.Stage)
	}
	if e.File != "" {
		s += ": " + e.File
	}
	return s + ": " + e.Reason
}

// sampleHash hashes the size and sampleCount blocks of sampleBlock bytes spread evenly over
// a file of the given size.
func sampleHash(f *os.File, size int64) (string, error) {
	h := sha256.New()
	fmt.Fprintf(h, "%d\n", size)
	buf := make([]byte, sampleBlock)
	span := max(size-sampleBlock, 0)
	for i := int64(0); i < sampleCount; i++ {
		off := span * i / (sampleCount - 1)
		n, err := f.ReadAt(buf, off)
		if err != nil && !errors.Is(err, io.EOF) {
			return "", err
		}
		h.Write(buf[:n])
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// fileSamples records the size of every file of dir, and a sampled hash of the large ones.
func fileSamples(dir string, files map[string]string) (map[string]int64, map[string]string, error) {
	sizes := map[string]int64{}
	samples := map[string]string{}
	for name := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		f, err := os.Open(p)
		if err != nil {
			return nil, nil, err
		}
		st, err := f.Stat()
		if err == nil {
			sizes[name] = st.Size()
			if st.Size() > sampleAbove {
				samples[name], err = sampleHash(f, st.Size())
			}
		}
		f.Close()
		if err != nil {
			return nil, nil, fmt.Errorf("%s: %w", p, err)
		}
	}
	return sizes, samples, nil
}

// verify checks the files of the entry e in its folder: every listed file is there with its
// size and hash (sampled for large files unless paranoid), and no other file is.
func verify(e *Entry, paranoid bool) error {
	corrupt := func(file, format string, args ...any) error {
		return &CorruptError{Key: e.Key, Stage: e.Stage, File: file, Reason: fmt.Sprintf(format, args...)}
	}
	seen := 0
	err := filepath.WalkDir(e.Dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() || d.Name() == entryFile {
			return nil
		}
		rel, _ := filepath.Rel(e.Dir, p)
		rel = filepath.ToSlash(rel)
		if _, ok := e.Files[rel]; !ok {
			return corrupt(rel, "not listed in its entry")
		}
		seen++
		return nil
	})
	if err != nil {
		if ce := (*CorruptError)(nil); errors.As(err, &ce) {
			return err
		}
		return corrupt("", "reading: %v", err)
	}
	for _, name := range slices.Sorted(mapKeys(e.Files)) {
		want := e.Files[name]
		p := filepath.Join(e.Dir, filepath.FromSlash(name))
		f, err := os.Open(p)
		if err != nil {
			return corrupt(name, "%v", err)
		}
		err = func() error {
			defer f.Close()
			st, err := f.Stat()
			if err != nil {
				return corrupt(name, "%v", err)
			}
			if size, ok := e.Sizes[name]; ok && st.Size() != size {
				return corrupt(name, "%d bytes, the entry says %d", st.Size(), size)
			}
			if sample, ok := e.Samples[name]; ok && !paranoid {
				got, err := sampleHash(f, st.Size())
				if err != nil {
					return corrupt(name, "%v", err)
				}
				if got != sample {
					return corrupt(name, "content differs from its entry (sampled hash)")
				}
				return nil
			}
			h := sha256.New()
			if _, err := io.Copy(h, f); err != nil {
				return corrupt(name, "%v", err)
			}
			if got := hex.EncodeToString(h.Sum(nil)); got != want {
				return corrupt(name, "sha256 %s, the entry says %s", got[:12], want[:min(12, len(want))])
			}
			return nil
		}()
		if err != nil {
			return err
		}
	}
	return nil
}

func mapKeys[V any](m map[string]V) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

// quarantine moves an artifact folder out of the store into <work dir>/quarantine/ and
// returns where it went.
func (c *FSCache) quarantine(dir, key string) (string, error) {
	q := filepath.Join(filepath.Dir(c.Root), "quarantine")
	if err := os.MkdirAll(q, 0o755); err != nil {
		return "", err
	}
	dst := filepath.Join(q, fmt.Sprintf("%s-%d", key, time.Now().UnixNano()))
	if err := os.Rename(dir, dst); err != nil {
		return "", err
	}
	return dst, nil
}

// VerifyReport is what Verify found.
type VerifyReport struct {
	Checked     int
	Bytes       int64
	Corrupt     []*CorruptError
	Quarantined []string // where each corrupt artifact went
}

// Verify checks every artifact in the store in full (sizes and complete hashes) and moves
// the corrupt ones to quarantine/, so the next run computes them again.
func (c *FSCache) Verify() (*VerifyReport, error) {
	rep := &VerifyReport{}
	shards, err := os.ReadDir(c.Root)
	if err != nil {
		if os.IsNotExist(err) {
			return rep, nil
		}
		return nil, err
	}
	for _, sh := range shards {
		if !sh.IsDir() {
			continue
		}
		ents, err := os.ReadDir(filepath.Join(c.Root, sh.Name()))
		if err != nil {
			return nil, err
		}
		for _, ent := range ents {
			key := ent.Name()
			dir := filepath.Join(c.Root, sh.Name(), key)
			if !ent.IsDir() || strings.Contains(key, ".old-") {
				continue
			}
			rep.Checked++
			e, err := readEntry(dir, key)
			if err == nil {
				for _, s := range e.Sizes {
					rep.Bytes += s
				}
				err = verify(e, true)
			}
			if err == nil {
				continue
			}
			var ce *CorruptError
			if !errors.As(err, &ce) {
				ce = &CorruptError{Key: key, File: entryFile, Reason: err.Error()}
			}
			rep.Corrupt = append(rep.Corrupt, ce)
			dst, qerr := c.quarantine(dir, key)
			if qerr != nil {
				return rep, fmt.Errorf("moving %s to quarantine: %w", dir, qerr)
			}
			rep.Quarantined = append(rep.Quarantined, dst)
		}
	}
	return rep, nil
}

func readEntry(dir, key string) (*Entry, error) {
	b, err := os.ReadFile(filepath.Join(dir, entryFile))
	if err != nil {
		return nil, err
	}
	var e Entry
	if err := json.Unmarshal(b, &e); err != nil {
		return nil, fmt.Errorf("%s: %w", entryFile, err)
	}
	if e.Key != key {
		return nil, fmt.Errorf("%s: key %q, folder %q", entryFile, e.Key, key)
	}
	e.Dir = dir
	return &e, nil
}

// GCReport is what GC removed, and the resume states it kept.
type GCReport struct {
	Runs, Artifacts, States, Temporaries int
	Freed                                int64 // bytes
	// KeptStates are resume states of unfinished trainings that no kept run references
	// (a killed or interrupted run writes its manifest late or not at all): GC keeps them
	// so that the next `biopipe run` resumes, unless GCOptions.DropResume.
	KeptStates int
	KeptBytes  int64
}

// GCOptions says what GC keeps.
type GCOptions struct {
	// KeepRuns keeps the KeepRuns newest runs (< 0: every run).
	KeepRuns int
	// DropResume also removes resume states of unfinished trainings no kept run references.
	DropResume bool
}

// GC removes, from the work dir wd whose store is c, the runs beyond the o.KeepRuns newest
// and the folders of killed runs (no manifest), then every artifact no kept run references,
// the resume states of trainings whose artifact is stored or no longer referenced (see
// GCOptions.DropResume), leftover temporaries and per-artifact lock files. The caller holds
// the work dir exclusively (LockWorkDir), so nothing it removes is in use.
func (c *FSCache) GC(wd string, o GCOptions) (*GCReport, error) {
	keepRuns := o.KeepRuns
	rep := &GCReport{}
	runs, err := manifest.List(wd)
	if err != nil {
		return nil, err
	}
	keep := map[string]bool{}
	for i, m := range runs {
		if keepRuns >= 0 && i >= keepRuns {
			dir := filepath.Join(wd, "runs", m.RunID)
			rep.Freed += duSize(dir)
			if err := os.RemoveAll(dir); err != nil {
				return rep, err
			}
			rep.Runs++
			continue
		}
		for _, s := range m.Stages {
			if s.CacheKey != "" {
				keep[s.CacheKey] = true
			}
		}
	}
	// Run folders without a manifest are runs that were killed (a manifest is written at
	// the end); nothing else holds the work dir, so none is in progress.
	listed := map[string]bool{}
	for _, m := range runs {
		listed[m.RunID] = true
	}
	runDirs, _ := os.ReadDir(filepath.Join(wd, "runs"))
	for _, d := range runDirs {
		if !d.IsDir() || listed[d.Name()] {
			continue
		}
		if _, err := os.Stat(filepath.Join(wd, "runs", d.Name(), "manifest.json")); err == nil {
			continue // a manifest List could not read: leave it to the user
		}
		dir := filepath.Join(wd, "runs", d.Name())
		rep.Freed += duSize(dir)
		if err := os.RemoveAll(dir); err != nil {
			return rep, err
		}
		rep.Runs++
	}
	if keepRuns >= 0 {
		// runs/latest may point at a removed run: point it at the newest kept one.
		latest := filepath.Join(wd, "runs", "latest")
		if _, err := os.Stat(latest); err != nil && len(runs) > 0 {
			_ = os.Remove(latest)
			_ = os.Symlink(runs[0].RunID, latest)
		}
	}
	// A resume state is deleted once its artifact is stored; one whose artifact is absent
	// is unfinished training (a killed run has no manifest to reference it): keep it,
	// unless told to drop it. Decide before the store is pruned.
	resumable := map[string]bool{}
	states, _ := os.ReadDir(filepath.Join(wd, "state"))
	for _, s := range states {
		if keep[s.Name()] || o.DropResume {
			continue
		}
		if len(s.Name()) < 3 {
			continue // not a cache key: removed below
		}
		if _, err := os.Stat(filepath.Join(c.dir(s.Name()), entryFile)); err != nil {
			resumable[s.Name()] = true
		}
	}
	shards, _ := os.ReadDir(c.Root)
	for _, sh := range shards {
		ents, _ := os.ReadDir(filepath.Join(c.Root, sh.Name()))
		for _, ent := range ents {
			key := ent.Name()
			if keep[key] {
				continue
			}
			dir := filepath.Join(c.Root, sh.Name(), key)
			rep.Freed += duSize(dir)
			if err := os.RemoveAll(dir); err != nil {
				return rep, err
			}
			rep.Artifacts++
		}
		_ = os.Remove(filepath.Join(c.Root, sh.Name())) // only when empty
	}
	for _, s := range states {
		dir := filepath.Join(wd, "state", s.Name())
		if keep[s.Name()] {
			continue // an interrupted run's training, to resume
		}
		if resumable[s.Name()] {
			rep.KeptStates++
			rep.KeptBytes += duSize(dir)
			continue
		}
		rep.Freed += duSize(dir)
		if err := os.RemoveAll(dir); err != nil {
			return rep, err
		}
		rep.States++
	}
	tmps, _ := os.ReadDir(filepath.Join(wd, "tmp"))
	for _, t := range tmps {
		dir := filepath.Join(wd, "tmp", t.Name())
		rep.Freed += duSize(dir)
		if err := os.RemoveAll(dir); err != nil {
			return rep, err
		}
		rep.Temporaries++
	}
	locks, _ := os.ReadDir(filepath.Join(wd, lockDir))
	for _, l := range locks {
		if strings.HasSuffix(l.Name(), ".lock") && l.Name() != lockFile {
			_ = os.Remove(filepath.Join(wd, lockDir, l.Name()))
		}
	}
	return rep, nil
}

func duSize(dir string) int64 {
	var n int64
	_ = filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			if info, err := d.Info(); err == nil {
				n += info.Size()
			}
		}
		return nil
	})
	return n
}
