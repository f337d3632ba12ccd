package pipelines

import (
	"bytes"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestCorruptArtifactIsQuarantinedAndRecomputed(t *testing.T) {
	wd := t.TempDir()
	p, err := plan(t, basePipeline)
	require.NoError(t, err)
	m1 := runOnce(t, p, wd, Options{})
	var key, dir string
	for _, s := range m1.Stages {
		if s.ID == "b" {
			key, dir = s.CacheKey, s.Artifact.Dir
		}
	}
	// Same size, other content: only a hash sees it.
	require.NoError(t, os.WriteFile(filepath.Join(dir, "n.txt"), []byte("99"), 0o644))
	adds := count("test.add")

	var log bytes.Buffer
	m2 := runOnce(t, p, wd, Options{Log: slog.New(slog.NewTextHandler(&log, nil))})
	assert.Contains(t, log.String(), "corrupt artifact moved to quarantine")
	assert.Contains(t, log.String(), `stage \"b\"): n.txt: sha256`)
	assert.Greater(t, count("test.add"), adds, "b computed again")
	q, _ := filepath.Glob(filepath.Join(wd, "quarantine", key+"-*"))
	require.Len(t, q, 1)
	assert.FileExists(t, filepath.Join(q[0], "n.txt"))
	for i, s := range m2.Stages {
		assert.Equal(t, m1.Stages[i].Artifact.Digest, s.Artifact.Digest, s.ID)
	}
}

func TestLargeFilesSampledParanoidFull(t *testing.T) {
	root := filepath.Join(t.TempDir(), "store")
	c := &FSCache{Root: root}
	save := func(key string) *Entry {
		dir := t.TempDir()
		big := make([]byte, 6<<20)
		r := rand.New(rand.NewPCG(1, 2))
		for i := range big {
			big[i] = byte(r.Uint32())
		}
		require.NoError(t, os.WriteFile(filepath.Join(dir, "big.bin"), big, 0o644))
		require.NoError(t, os.WriteFile(filepath.Join(dir, "small.json"), []byte(`{"a":1}`), 0o644))
		e, err := c.Save(key, dir, &Entry{Stage: "s"})
		require.NoError(t, err)
		require.Contains(t, e.Samples, "big.bin")
		require.NotContains(t, e.Samples, "small.json")
		return e
	}
	flip := func(e *Entry, off int64) {
		f, err := os.OpenFile(filepath.Join(e.Dir, "big.bin"), os.O_RDWR, 0)
		require.NoError(t, err)
		b := []byte{0}
		_, err = f.ReadAt(b, off)
		require.NoError(t, err)
		b[0] ^= 0xff
		_, err = f.WriteAt(b, off)
		require.NoError(t, err)
		require.NoError(t, f.Close())
	}
	key := func(c byte) string { return string(bytes.Repeat([]byte{c}, 64)) }

	// A byte inside a sampled block: caught by the sampled check.
	e := save(key('a'))
	flip(e, 10)
	_, ok := c.Load(e.Key)
	assert.False(t, ok)

	// A byte between sampled blocks: the cheap check passes it, --paranoid does not.
	e = save(key('b'))
	flip(e, 3*(6<<20-sampleBlock)/(sampleCount-1)/2+sampleBlock)
	_, ok = c.Load(e.Key)
	assert.True(t, ok, "sampled check reads only the samples")
	_, ok = (&FSCache{Root: root, Paranoid: true}).Load(e.Key)
	assert.False(t, ok)

	// Truncation: caught by size.
	e = save(key('c'))
	require.NoError(t, os.Truncate(filepath.Join(e.Dir, "big.bin"), 1<<20))
	_, ok = c.Load(e.Key)
	assert.False(t, ok)

	// cache verify hashes in full.
	e = save(key('d'))
	flip(e, 3*(6<<20-sampleBlock)/(sampleCount-1)/2+sampleBlock)
	good := save(key('e'))
	rep, err := c.Verify()
	require.NoError(t, err)
	assert.Equal(t, 2, rep.Checked)
	require.Len(t, rep.Corrupt, 1)
	assert.Equal(t, key('d'), rep.Corrupt[0].Key)
	assert.Equal(t, "big.bin", rep.Corrupt[0].File)
	assert.NoDirExists(t, e.Dir)
	assert.DirExists(t, good.Dir)
	q, _ := filepath.Glob(filepath.Join(filepath.Dir(root), "quarantine", "*"))
	assert.Len(t, q, 4)
}

func TestGCKeepsWhatKeptRunsUse(t *testing.T) {
	wd := t.TempDir()
	p1, err := plan(t, basePipeline)
	require.NoError(t, err)
	runOnce(t, p1, wd, Options{})
	p2, err := plan(t, basePipeline, Override{Path: "stages.b.with.amount", Value: "3", Origin: "--set"})
	require.NoError(t, err)
	m2 := runOnce(t, p2, wd, Options{})
	require.NoError(t, os.MkdirAll(filepath.Join(wd, "tmp", "left-by-a-crash"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(wd, "tmp", "left-by-a-crash", "x"), make([]byte, 1000), 0o644))

	c := &FSCache{Root: filepath.Join(wd, "store")}
	rep, err := c.GC(wd, GCOptions{KeepRuns: -1})
	require.NoError(t, err)
	assert.Equal(t, GCReport{Temporaries: 1, Freed: 1000}, *rep, "every run kept: only the temporary goes")

	rep, err = c.GC(wd, GCOptions{KeepRuns: 1})
	require.NoError(t, err)
	assert.Equal(t, 1, rep.Runs)
	assert.Equal(t, 3, rep.Artifacts, "b, d and total of the first run (a and c are shared)")
	assert.Positive(t, rep.Freed)
	m3 := runOnce(t, p2, wd, Options{})
	assert.Equal(t, len(m2.Stages), m3.CacheHits, "the kept run's artifacts are all there")
}

func TestGCKeepsResumeStateOfUnfinishedTraining(t *testing.T) {
	wd := t.TempDir()
	p, err := plan(t, basePipeline)
	require.NoError(t, err)
	m := runOnce(t, p, wd, Options{})
	c := &FSCache{Root: filepath.Join(wd, "store")}

	// A killed run leaves the resume state of a training no manifest references (its key
	// has no stored artifact), and a stale state whose artifact was stored (the executor
	// deletes it then; a crash between the two can leave it).
	unfinished := strings.Repeat("ab", 32)
	stored := m.Stages[0].CacheKey
	require.NotEmpty(t, stored)
	for _, k := range []string{unfinished, stored} {
		require.NoError(t, os.MkdirAll(StateDir(wd, k), 0o755))
		require.NoError(t, os.WriteFile(filepath.Join(StateDir(wd, k), "checkpoint.bin"), make([]byte, 100), 0o644))
	}
	rep, err := c.GC(wd, GCOptions{KeepRuns: 0})
	require.NoError(t, err)
	assert.Equal(t, 1, rep.KeptStates, "the unfinished training's state is kept")
	assert.Equal(t, int64(100), rep.KeptBytes)
	assert.Equal(t, 1, rep.States, "the stale state of a stored artifact goes")
	assert.DirExists(t, StateDir(wd, unfinished))
	assert.NoDirExists(t, StateDir(wd, stored))

	rep, err = c.GC(wd, GCOptions{KeepRuns: 0, DropResume: true})
	require.NoError(t, err)
	assert.Equal(t, 0, rep.KeptStates)
	assert.Equal(t, 1, rep.States)
	assert.NoDirExists(t, StateDir(wd, unfinished))
}
