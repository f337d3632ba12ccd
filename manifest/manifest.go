// Package manifest is the run record: runs/<run-id>/manifest.json, written by the executor
// and read by the report, the CLI and workflows. It names the resolved spec, the seed, the
// backend, the build, and every stage's cache key and artifact digests; wall-clock times and
// host names live here, never inside an artifact.
package manifest

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"runtime/debug"
	"sort"
	"strings"
	"time"

	"github.com/biopipe/biopipe/contract"
	"github.com/biopipe/biopipe/dataset"
)

// Manifest is runs/<run-id>/manifest.json: everything needed to know what a run did.
type Manifest struct {
	RunID      string            `json:"run_id"`
	Pipeline   string            `json:"pipeline"`
	File       string            `json:"file"`
	Command    string            `json:"command"`
	SpecHash   string            `json:"spec_hash"`
	Spec       map[string]any    `json:"spec"`
	Biopipe    string            `json:"biopipe_version"`
	GoVersion  string            `json:"go_version"`
	Build      string            `json:"build"` // arch/GOEXPERIMENT: SIMD and plain builds differ in float rounding
	Modules    map[string]string `json:"modules"`
	Backend    string            `json:"backend"`
	Seed       int64             `json:"seed"`
	Host       string            `json:"host"`
	OS         string            `json:"os"`
	Start      time.Time         `json:"start"`
	End        time.Time         `json:"end"`
	DurationS  float64           `json:"duration_s"`
	Status     string            `json:"status"` // ok | failed | interrupted
	WorkDir    string            `json:"workdir"`
	Cwd        string            `json:"cwd,omitempty"` // working directory: relative input paths resolve against it
	Stages     []*StageRecord    `json:"stages"`
	Metrics    map[string]any    `json:"metrics,omitempty"` // evaluate stages' metrics, by stage id
	CacheHits  int               `json:"cache_hits"`
	StageCount int               `json:"stage_count"`
}

// StageRecord is one stage's entry in the manifest.
type StageRecord struct {
	ID          string                 `json:"id"`
	Kind        string                 `json:"kind"`
	Status      string                 `json:"status"` // ok | cached | failed | skipped | interrupted
	CacheHit    bool                   `json:"cache_hit"`
	CacheKey    string                 `json:"cache_key,omitempty"`
	Inputs      []string               `json:"inputs,omitempty"`
	Start       time.Time              `json:"start"`
	DurationS   float64                `json:"duration_s"`
	Artifact    *ArtifactRecord        `json:"artifact,omitempty"`
	Metrics     map[string]any         `json:"metrics,omitempty"`
	Quarantined []contract.Quarantined `json:"quarantined,omitempty"`
	InputFiles  []InputFile            `json:"input_files,omitempty"` // files named by the stage's config, as read
	Error       string                 `json:"error,omitempty"`
}

// InputFile is a file or folder a stage's config names, with the digest it had when the stage
// ran (folders: names, sizes and modification times), so `biopipe verify` can tell a changed
// input from a changed computation.
type InputFile struct {
	Field  string `json:"field"`
	Path   string `json:"path"`
	Digest string `json:"digest"`
}

// ArtifactRecord names an artifact folder and its files' digests.
type ArtifactRecord struct {
	Type   contract.PortType `json:"type"`
	Dir    string            `json:"dir"`
	Digest string            `json:"digest"`
	Files  map[string]string `json:"files"`
}

// BuildModules returns the main module's dependencies and versions from the build info.
func BuildModules() map[string]string {
	out := map[string]string{}
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return out
	}
	for _, d := range bi.Deps {
		v := d.Version
		if d.Replace != nil {
			v = d.Replace.Version + " (replaces " + d.Version + ")"
		}
		out[d.Path] = v
	}
	return out
}

// Write writes the manifest into runDir atomically and points runs/latest at it.
func Write(runDir string, m *Manifest) error {
	if err := dataset.WriteJSON(filepath.Join(runDir, "manifest.json"), m); err != nil {
		return err
	}
	runs := filepath.Dir(runDir)
	latest := filepath.Join(runs, "latest")
	// A temporary name of this run's own: the points of a workflow finish concurrently in one
	// work dir, and a shared temporary name let one point's rename take another's link away.
	tmp := latest + ".tmp-" + filepath.Base(runDir)
	os.Remove(tmp)
	if err := os.Symlink(filepath.Base(runDir), tmp); err != nil {
		return err
	}
	return os.Rename(tmp, latest)
}

// Read reads a run's manifest from a run folder or a manifest path.
func Read(path string) (*Manifest, error) {
	if st, err := os.Stat(path); err == nil && st.IsDir() {
		path = filepath.Join(path, "manifest.json")
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var m Manifest
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return &m, nil
}

// List returns the manifests under workDir/runs, newest first.
func List(workDir string) ([]*Manifest, error) {
	dirs, err := os.ReadDir(filepath.Join(workDir, "runs"))
	if err != nil {
		if os.IsNotExist(err) {
			return nil, nil
		}
		return nil, err
	}
	var out []*Manifest
	for _, d := range dirs {
		if !d.IsDir() || d.Name() == "latest" {
			continue
		}
		m, err := Read(filepath.Join(workDir, "runs", d.Name()))
		if err != nil {
			continue
		}
		out = append(out, m)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Start.After(out[j].Start) })
	return out, nil
}

// Find resolves a run id (or a unique prefix, or "latest") to its folder.
func Find(workDir, id string) (string, error) {
	runs := filepath.Join(workDir, "runs")
	if id == "" || id == "latest" {
		p, err := filepath.EvalSymlinks(filepath.Join(runs, "latest"))
		if err != nil {
			return "", fmt.Errorf("no runs in %s (a run's work dir is .biopipe beside its pipeline file unless --workdir was given: try --pipeline FILE or --workdir DIR)", workDir)
		}
		return p, nil
	}
	if st, err := os.Stat(id); err == nil && st.IsDir() {
		return id, nil
	}
	dirs, _ := os.ReadDir(runs)
	var match []string
	for _, d := range dirs {
		if d.IsDir() && strings.HasPrefix(d.Name(), id) {
			match = append(match, d.Name())
		}
	}
	switch len(match) {
	case 0:
		return "", fmt.Errorf("no run %q in %s", id, runs)
	case 1:
		return filepath.Join(runs, match[0]), nil
	}
	return "", fmt.Errorf("run id %q is ambiguous: %s", id, strings.Join(match, ", "))
}
