package pipelines

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/biopipe/biopipe/manifest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const basePipeline = `name: t
seed: 7
vars: {start: 10}
stages:
  - id: a
    kind: test.source
    with: {value: "${start}"}
  - id: b
    kind: test.add
    inputs: [a]
    with:
      amount: 2
  - id: c
    kind: test.add
    inputs: [a]
  - id: d
    kind: test.add
    inputs: [b]
  - id: total
    kind: test.sum
    inputs: [c, d]
`

func plan(t testing.TB, yml string, ovs ...Override) (*Plan, error) {
	t.Helper()
	src, err := Parse("p.yaml", []byte(yml), ovs)
	if err != nil {
		return nil, err
	}
	return Validate(src, testRegistry())
}

func TestValidateErrors(t *testing.T) {
	cases := []struct {
		name string
		yml  string
		want []string // substrings expected in the error text
	}{
		{"unknown field with suggestion", `name: x
stages:
  - id: a
    kind: test.source
    with:
      value: 1
      valeu: 2
`, []string{`p.yaml:7:7: stage "a": field "valeu": unknown field (did you mean "value"?)`}},
		{"wrong type", `name: x
stages:
  - id: a
    kind: test.source
    with: {value: lots}
`, []string{`p.yaml:5:19: stage "a": field "value": want an integer, got the string "lots"`}},
		{"missing required", `name: x
stages:
  - id: a
    kind: test.source
`, []string{`stage "a": field "value": missing required field`}},
		{"unknown kind", `name: x
stages:
  - id: a
    kind: test.sourc
    with: {value: 1}
`, []string{`p.yaml:4:11: stage "a": unknown stage kind "test.sourc" (did you mean "test.source"?)`}},
		{"dangling input", `name: x
stages:
  - id: a
    kind: test.source
    with: {value: 1}
  - id: b
    kind: test.add
    inputs: [aa]
`, []string{`p.yaml:8:14: stage "b": input "aa" is not a stage of this pipeline (did you mean "a"?)`}},
		{"cycle", `name: x
stages:
  - id: a
    kind: test.add
    inputs: [c]
  - id: b
    kind: test.add
    inputs: [a]
  - id: c
    kind: test.add
    inputs: [b]
`, []string{"cycle: a -> c -> b -> a"}},
		{"enum and nested and constructor, all at once", `name: x
stages:
  - id: a
    kind: test.source
    with: {value: 1, opts: {scael: 2}}
  - id: b
    kind: test.add
    inputs: [a]
    with: {mode: plsu, amount: 13}
  - id: c
    kind: test.add
    inputs: [a]
    with: {amount: 13}
`, []string{`field "opts.scael": unknown field (did you mean "scale"?)`, `"plsu" is not one of plus, minus (did you mean "plus"?)`, `p.yaml:13:20: stage "c": field "amount": unlucky`}},
		{"top-level typo and bad backend", `name: x
sed: 3
backend: cuda
stages:
  - id: a
    kind: test.source
    with: {value: 1}
`, []string{`p.yaml:2:1: unknown key "sed" (did you mean "seed"?)`, `p.yaml:3:10: backend "cuda" is not one of go, xla:cpu, xla:cuda`}},
		{"port type mismatch", `name: x
stages:
  - id: a
    kind: test.source
    with: {value: 1}
  - id: s
    kind: test.sum
    inputs: [a]
  - id: b
    kind: test.add
    inputs: [s]
`, []string{`input "s" gives a metrics artifact, but test.add has no free port for it`, `input port "in" (table) is not connected`}},
		{"undefined var", `name: x
stages:
  - id: a
    kind: test.source
    with: {value: "${strat}"}
vars: {start: 1}
`, []string{`p.yaml:5:19: undefined variable "strat" (did you mean "start"?)`}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := plan(t, tc.yml)
			require.Error(t, err)
			var se SpecErrors
			require.True(t, errors.As(err, &se), "want SpecErrors, got %T", err)
			for _, w := range tc.want {
				assert.Contains(t, err.Error(), w)
			}
			assert.Len(t, se, len(strings.Split(strings.TrimSpace(err.Error()), "\n")))
		})
	}
}

func TestOverridesAndVars(t *testing.T) {
	t.Setenv("BP_TEST_AMOUNT", "5")
	p, err := plan(t, strings.Replace(basePipeline, "amount: 2", "amount: ${env:BP_TEST_AMOUNT}", 1))
	require.NoError(t, err)
	assert.Equal(t, 5, p.Stage("b").Config.Int("amount"))
	assert.Equal(t, 10, p.Stage("a").Config.Int("value"))

	p, err = plan(t, basePipeline,
		Override{Path: "stages.b.with.amount", Value: "9", Origin: "--set stages.b.with.amount=9"},
		Override{Path: "vars.start", Value: "100", Origin: "--set vars.start=100"},
		Override{Path: "seed", Value: "3", Origin: "--set seed=3"})
	require.NoError(t, err)
	assert.Equal(t, 9, p.Stage("b").Config.Int("amount"))
	assert.Equal(t, 100, p.Stage("a").Config.Int("value"))
	assert.Equal(t, int64(3), p.Spec.Seed)

	_, err = plan(t, basePipeline, Override{Path: "stages.b.with.amount", Value: "x", Origin: "--set stages.b.with.amount=x"})
	require.Error(t, err)
	assert.Contains(t, err.Error(), `--set stages.b.with.amount=x: stage "b": field "amount": want an integer`)
	_, err = plan(t, basePipeline, Override{Path: "stages.zz.with.amount", Value: "1", Origin: "--set stages.zz.with.amount=1"})
	require.ErrorContains(t, err, `no stage "zz"`)

	ovs, err := EnvOverrides([]string{"BIOPIPE_SET=stages.b.with.amount=4;seed=1", "BIOPIPE_VAR_START=2", "HOME=/x"})
	require.NoError(t, err)
	p, err = plan(t, basePipeline, ovs...)
	require.NoError(t, err)
	assert.Equal(t, 4, p.Stage("b").Config.Int("amount"))
	assert.Equal(t, 2, p.Stage("a").Config.Int("value"))
}

func TestTopologicalOrder(t *testing.T) {
	p, err := plan(t, basePipeline)
	require.NoError(t, err)
	pos := map[string]int{}
	for i, ps := range p.Order {
		pos[ps.Spec.ID] = i
	}
	assert.Less(t, pos["a"], pos["b"])
	assert.Less(t, pos["b"], pos["d"])
	assert.Less(t, pos["d"], pos["total"])
	assert.Less(t, pos["c"], pos["total"])
	assert.Contains(t, p.DOT(), `"a" -> "b"`)
	assert.Contains(t, p.Mermaid(), "a -->|table| b")
}

func count(kind string) int64 { return runs[kind].Load() }

func runOnce(t *testing.T, p *Plan, wd string, opts Options) *manifest.Manifest {
	t.Helper()
	opts.WorkDir = wd
	m, err := Run(context.Background(), p, opts)
	require.NoError(t, err)
	return m
}

func TestCacheHitsAndMisses(t *testing.T) {
	wd := t.TempDir()
	p, err := plan(t, basePipeline)
	require.NoError(t, err)
	m := runOnce(t, p, wd, Options{Jobs: 3})
	assert.Equal(t, 0, m.CacheHits)
	assert.Equal(t, map[string]any{"test_total": 24.0}, m.Metrics["total"]) // c=11, d=13
	s0, a0 := count("test.source"), count("test.add")

	// Unchanged: all hits, metrics still in the manifest.
	m = runOnce(t, p, wd, Options{})
	assert.Equal(t, 5, m.CacheHits)
	assert.Equal(t, s0, count("test.source"))
	assert.Equal(t, map[string]any{"test_total": 24.0}, m.Metrics["total"])
	for _, s := range m.Stages {
		assert.Equal(t, "cached", s.Status)
		assert.True(t, s.CacheHit)
	}

	// Change b: b, d and total re-run; a and c do not.
	p2, err := plan(t, basePipeline, Override{Path: "stages.b.with.amount", Value: "3", Origin: "--set"})
	require.NoError(t, err)
	m = runOnce(t, p2, wd, Options{})
	hit := map[string]bool{}
	for _, s := range m.Stages {
		hit[s.ID] = s.CacheHit
	}
	assert.Equal(t, map[string]bool{"a": true, "c": true, "b": false, "d": false, "total": false}, hit)
	assert.Equal(t, s0, count("test.source"))
	assert.Equal(t, a0+2, count("test.add"))
	assert.Equal(t, map[string]any{"test_total": 25.0}, m.Metrics["total"])

	// A different seed misses everywhere.
	p3, err := plan(t, basePipeline, Override{Path: "seed", Value: "8", Origin: "--set"})
	require.NoError(t, err)
	m = runOnce(t, p3, wd, Options{})
	assert.Equal(t, 0, m.CacheHits)

	// --force one stage re-runs it; identical output keeps dependents cached.
	m = runOnce(t, p, wd, Options{ForceStages: []string{"c"}})
	for _, s := range m.Stages {
		assert.Equal(t, s.ID != "c", s.CacheHit, s.ID)
	}

	// The manifest on disk, runs/latest and digests.
	b, err := os.ReadFile(filepath.Join(wd, "runs", "latest", "manifest.json"))
	require.NoError(t, err)
	var onDisk manifest.Manifest
	require.NoError(t, json.Unmarshal(b, &onDisk))
	assert.Equal(t, m.RunID, onDisk.RunID)
	assert.Equal(t, SpecHash(p.Source), onDisk.SpecHash)
	assert.NotEmpty(t, onDisk.GoVersion)
	for _, s := range onDisk.Stages {
		require.NotNil(t, s.Artifact)
		files, digest, err := HashTree(s.Artifact.Dir)
		require.NoError(t, err)
		assert.Equal(t, s.Artifact.Digest, digest)
		assert.Equal(t, s.Artifact.Files, files)
	}
	runsList, err := manifest.List(wd)
	require.NoError(t, err)
	assert.Len(t, runsList, 5)
}

func TestPathContentInCacheKey(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "in.txt")
	require.NoError(t, os.WriteFile(data, []byte("abc"), 0o644))
	yml := "name: x\nstages:\n  - id: a\n    kind: test.source\n    with: {value: 1, path: " + data + "}\n"
	p, err := plan(t, yml)
	require.NoError(t, err)
	wd := t.TempDir()
	m := runOnce(t, p, wd, Options{})
	assert.False(t, m.Stages[0].CacheHit)
	m = runOnce(t, p, wd, Options{})
	assert.True(t, m.Stages[0].CacheHit)
	require.NoError(t, os.WriteFile(data, []byte("abcd"), 0o644))
	m = runOnce(t, p, wd, Options{})
	assert.False(t, m.Stages[0].CacheHit, "changed input file must miss")
	n, err := readN(filepath.Join(m.Stages[0].Artifact.Dir, "n.txt"))
	require.NoError(t, err)
	assert.Equal(t, 5, n)
}

func TestFailedStageLeavesNoArtifact(t *testing.T) {
	yml := `name: x
stages:
  - id: a
    kind: test.source
    with: {value: 1}
  - id: f
    kind: test.fail
    inputs: [a]
  - id: after
    kind: test.add
    inputs: [f]
  - id: side
    kind: test.add
    inputs: [a]
`
	p, err := plan(t, yml)
	require.NoError(t, err)
	wd := t.TempDir()
	m, err := Run(context.Background(), p, Options{WorkDir: wd})
	require.ErrorIs(t, err, ErrRunFailed)
	assert.Contains(t, err.Error(), `stage "f": disk on fire`)
	status := map[string]string{}
	for _, s := range m.Stages {
		status[s.ID] = s.Status
	}
	assert.Equal(t, map[string]string{"a": "ok", "f": "failed", "after": "skipped", "side": "ok"}, status)
	// Nothing of the failed stage in the store or tmp; completed stages stay cached.
	for _, s := range m.Stages {
		if s.ID == "f" {
			_, ok := (&FSCache{Root: filepath.Join(wd, "store")}).Load(s.CacheKey)
			assert.False(t, ok)
		}
	}
	left, _ := os.ReadDir(filepath.Join(wd, "tmp"))
	assert.Empty(t, left)
	m, _ = Run(context.Background(), p, Options{WorkDir: wd})
	for _, s := range m.Stages {
		if s.ID == "a" || s.ID == "side" {
			assert.True(t, s.CacheHit, s.ID)
		}
	}
}

func TestCacheIgnoresHalfWrittenArtifact(t *testing.T) {
	c := &FSCache{Root: t.TempDir()}
	key := strings.Repeat("ab", 32)
	// A folder under the final name without .artifact.json (a crash mid-copy) is not a hit.
	require.NoError(t, os.MkdirAll(c.dir(key), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(c.dir(key), "n.txt"), []byte("1"), 0o644))
	_, ok := c.Load(key)
	assert.False(t, ok)
	// Save replaces it atomically.
	tmp := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(tmp, "n.txt"), []byte("2"), 0o644))
	e, err := c.Save(key, tmp, &Entry{Stage: "a"})
	require.NoError(t, err)
	got, ok := c.Load(key)
	require.True(t, ok)
	assert.Equal(t, e.Digest, got.Digest)
	n, _ := readN(filepath.Join(got.Dir, "n.txt"))
	assert.Equal(t, 2, n)
}

// BenchmarkCachedRerun measures the executor's overhead for a fully cached run of a
// 5-stage pipeline (hashing keys, loading entries, writing the manifest).
func BenchmarkCachedRerun(b *testing.B) {
	p, err := plan(b, basePipeline)
	require.NoError(b, err)
	wd := b.TempDir()
	_, err = Run(context.Background(), p, Options{WorkDir: wd})
	require.NoError(b, err)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		m, err := Run(context.Background(), p, Options{WorkDir: wd})
		if err != nil || m.CacheHits != 5 {
			b.Fatalf("want 5 hits: %v", err)
		}
	}
}

func TestSaltInCacheKey(t *testing.T) {
	t.Setenv("BP_TEST_SALT", "one")
	p, err := plan(t, "name: x\nstages:\n  - id: a\n    kind: test.source\n    with: {value: 1}\n")
	require.NoError(t, err)
	wd := t.TempDir()
	runOnce(t, p, wd, Options{})
	m := runOnce(t, p, wd, Options{})
	assert.True(t, m.Stages[0].CacheHit)
	t.Setenv("BP_TEST_SALT", "two")
	m = runOnce(t, p, wd, Options{})
	assert.False(t, m.Stages[0].CacheHit, "a changed salt must re-run the stage")
	b, _ := json.Marshal(m)
	assert.NotContains(t, string(b), "two")
}

func TestProjectSalt(t *testing.T) {
	wd := t.TempDir()
	a, err := ProjectSalt(wd)
	require.NoError(t, err)
	assert.Len(t, a, 64)
	b, err := ProjectSalt(wd)
	require.NoError(t, err)
	assert.Equal(t, a, b, "stable within a project")
	st, err := os.Stat(filepath.Join(wd, "secrets", "pseudonym.salt"))
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), st.Mode().Perm())
	c, err := ProjectSalt(t.TempDir())
	require.NoError(t, err)
	assert.NotEqual(t, a, c, "another project, another salt")
}

func TestMissingInputPathNamesTheLine(t *testing.T) {
	p, err := plan(t, "name: x\nstages:\n  - id: a\n    kind: test.source\n    with:\n      value: 1\n      path: no/such.csv\n")
	require.NoError(t, err)
	_, err = Run(context.Background(), p, Options{WorkDir: t.TempDir()})
	require.ErrorIs(t, err, ErrRunFailed)
	assert.Contains(t, err.Error(), `stage "a": p.yaml:7:13: field "path": no/such.csv: no such file or folder`)
}

func TestExplicitSaltNeedsNoProjectSalt(t *testing.T) {
	t.Setenv("BP_TEST_SALT", "")
	wd := t.TempDir()
	p, err := plan(t, "name: x\nstages:\n  - id: a\n    kind: test.source\n    with: {value: 1, salt: s1}\n")
	require.NoError(t, err)
	m := runOnce(t, p, wd, Options{})
	_, err = os.Stat(filepath.Join(wd, "secrets"))
	assert.True(t, os.IsNotExist(err), "an explicit salt needs no project salt")
	p2, err := plan(t, "name: x\nstages:\n  - id: a\n    kind: test.source\n    with: {value: 1, salt: s2}\n")
	require.NoError(t, err)
	m2 := runOnce(t, p2, wd, Options{})
	assert.NotEqual(t, m.Stages[0].CacheKey, m2.Stages[0].CacheKey)
	// Unset everywhere: the project salt is made and keys the cache.
	p3, err := plan(t, "name: x\nstages:\n  - id: a\n    kind: test.source\n    with: {value: 1}\n")
	require.NoError(t, err)
	runOnce(t, p3, wd, Options{})
	_, err = os.Stat(filepath.Join(wd, "secrets", "pseudonym.salt"))
	assert.NoError(t, err)
}

func TestInterruptedRunResumes(t *testing.T) {
	yml := `name: x
stages:
  - id: a
    kind: test.source
    with: {value: 1}
  - id: s
    kind: test.steps
    with: {steps: 10, stop_at: 4}
  - id: after
    kind: test.add
    inputs: [a]
`
	p, err := plan(t, yml)
	require.NoError(t, err)
	wd := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	stopRun = cancel
	defer func() { stopRun = nil }()
	stepsDone.Store(0)
	m, err := Run(ctx, p, Options{WorkDir: wd, Jobs: 1})
	require.ErrorIs(t, err, ErrInterrupted)
	require.ErrorIs(t, err, context.Canceled)
	assert.Equal(t, "interrupted", m.Status)
	status := map[string]string{}
	for _, s := range m.Stages {
		status[s.ID] = s.Status
	}
	assert.Equal(t, "interrupted", status["s"])
	onDisk, err := manifest.Read(filepath.Join(wd, "runs", m.RunID))
	require.NoError(t, err)
	assert.Equal(t, "interrupted", onDisk.Status)
	assert.Equal(t, int64(4), stepsDone.Load())

	// The next run continues from the saved position; the state folder goes once the
	// artifact is stored. stop_at is NoKey: changing it keeps the cache key.
	p2, err := plan(t, yml, Override{Path: "stages.s.with.stop_at", Value: "-1", Origin: "--set"})
	require.NoError(t, err)
	m2, err := Run(context.Background(), p2, Options{WorkDir: wd})
	require.NoError(t, err)
	assert.Equal(t, "ok", m2.Status)
	assert.Equal(t, int64(10), stepsDone.Load(), "resumed at step 4, not from 0")
	var key string
	for i, s := range m2.Stages {
		if s.ID == "s" {
			key = s.CacheKey
			assert.Equal(t, m.Stages[i].CacheKey, key)
		}
	}
	assert.NoDirExists(t, StateDir(wd, key))
}
