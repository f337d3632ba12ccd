package workflows

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/biopipe/biopipe/contract"
	"github.com/biopipe/biopipe/manifest"
	"github.com/biopipe/biopipe/pipelines"
)

// VerifyOptions control Verify.
type VerifyOptions struct {
	Scratch string // work dir of the re-execution (default: a new temporary folder, removed afterwards)
	Keep    bool   // keep the scratch work dir
	Jobs    int
	Log     *slog.Logger
}

// Difference is one disagreement found by Verify.
type Difference struct {
	Stage string // stage id
	Kind  string // stage kind
	What  string // "input" (a file the config names changed), "stored" (the run's stored artifact was modified), "artifact" (re-execution differs)
	Path  string // the input file, or the artifact folder
	Files []string
	Msg   string
}

func (d Difference) String() string {
	s := fmt.Sprintf("stage %q (%s): %s", d.Stage, d.Kind, d.Msg)
	if len(d.Files) > 0 {
		s += ": " + strings.Join(d.Files, ", ")
	}
	return s
}

// VerifyResult is what Verify found.
type VerifyResult struct {
	RunID    string
	Stages   int
	Compared int // artifacts compared
	Scratch  string
	Replay   *manifest.Manifest
	Diffs    []Difference
	Notes    []string // e.g. a different build than the run's
}

// OK reports whether every artifact agreed and no input changed.
func (r *VerifyResult) OK() bool { return len(r.Diffs) == 0 }

// Verify re-executes a finished run from its manifest alone (resolved spec, seed, backend) in
// a scratch work dir and compares every artifact digest with the manifest's. It also
// re-hashes the run's stored artifacts (a modified store file is named) and the input files
// its stages read (a changed input is named as such, not as a changed computation).
// Relative input paths resolve against the working directory, as in the original run: call
// it from the run's recorded working directory (manifest cwd; the CLI changes there).
func Verify(ctx context.Context, runDir string, reg *contract.Registry, opts VerifyOptions) (*VerifyResult, error) {
	m, err := manifest.Read(runDir)
	if err != nil {
		return nil, fmt.Errorf("verify: %w", err)
	}
	if opts.Log == nil {
		opts.Log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	res := &VerifyResult{RunID: m.RunID, Stages: len(m.Stages)}
	if m.Build != "" && m.Build != pipelines.BuildFlavour() {
		res.Notes = append(res.Notes, fmt.Sprintf("the run was built as %s, this binary as %s: float results may differ in the last bits", m.Build, pipelines.BuildFlavour()))
	}
	if m.Biopipe != pipelines.Version || !maps.Equal(m.Modules, manifest.BuildModules()) {
		res.Notes = append(res.Notes, fmt.Sprintf("the run was made by another build (biopipe %s): a report names its build's module versions and will differ", m.Biopipe))
	}
	// 1. The stored artifacts still hold what the run wrote.
	for _, s := range m.Stages {
		if s.Artifact == nil {
			continue
		}
		files, _, err := pipelines.HashTree(s.Artifact.Dir)
		if err != nil {
			res.Diffs = append(res.Diffs, Difference{Stage: s.ID, Kind: s.Kind, What: "stored", Path: s.Artifact.Dir, Msg: fmt.Sprintf("stored artifact %s is unreadable: %v", s.Artifact.Dir, err)})
			continue
		}
		if bad := diffFiles(s.Artifact.Files, files); len(bad) > 0 {
			res.Diffs = append(res.Diffs, Difference{Stage: s.ID, Kind: s.Kind, What: "stored", Path: s.Artifact.Dir, Files: bad,
				Msg: fmt.Sprintf("stored artifact %s was modified since the run", s.Artifact.Dir)})
		}
	}
	// 2. The inputs the stages read are unchanged.
	changed := map[string]bool{}
	for _, s := range m.Stages {
		for _, in := range s.InputFiles {
			d, err := pipelines.HashInput(in.Path)
			switch {
			case err != nil:
				res.Diffs = append(res.Diffs, Difference{Stage: s.ID, Kind: s.Kind, What: "input", Path: in.Path, Msg: fmt.Sprintf("input file %s (field %q) is gone: %v", in.Path, in.Field, err)})
				changed[s.ID] = true
			case d != in.Digest:
				res.Diffs = append(res.Diffs, Difference{Stage: s.ID, Kind: s.Kind, What: "input", Path: in.Path, Msg: fmt.Sprintf("input file %s (field %q) changed since the run (sha256 %s, was %s)", in.Path, in.Field, short(d), short(in.Digest))})
				changed[s.ID] = true
			}
		}
	}
	if len(changed) > 0 {
		return res, nil // re-executing would only measure the changed inputs
	}
	// 3. Re-execute from the manifest in a scratch work dir.
	specYAML, err := yaml.Marshal(m.Spec)
	if err != nil {
		return nil, fmt.Errorf("verify %s: spec: %w", m.RunID, err)
	}
	src, err := pipelines.Parse(m.File, specYAML, nil)
	if err != nil {
		return nil, fmt.Errorf("verify %s: the manifest's spec no longer loads: %w", m.RunID, err)
	}
	plan, err := pipelines.Validate(src, reg)
	if err != nil {
		return nil, fmt.Errorf("verify %s: the manifest's spec no longer validates: %w", m.RunID, err)
	}
	scratch := opts.Scratch
	if scratch == "" {
		if scratch, err = os.MkdirTemp("", "biopipe-verify-"); err != nil {
			return nil, err
		}
		if !opts.Keep {
			defer os.RemoveAll(scratch)
		}
	}
	res.Scratch = scratch
	// Pseudonyms depend on the work dir's secret salt: the replay uses the same one.
	if salt, err := os.ReadFile(filepath.Join(m.WorkDir, "secrets", "pseudonym.salt")); err == nil {
		if err := os.MkdirAll(filepath.Join(scratch, "secrets"), 0o700); err != nil {
			return nil, err
		}
		if err := os.WriteFile(filepath.Join(scratch, "secrets", "pseudonym.salt"), salt, 0o600); err != nil {
			return nil, err
		}
	}
	replay, err := pipelines.Run(ctx, plan, pipelines.Options{WorkDir: scratch, Jobs: opts.Jobs, Backend: m.Backend,
		Command: "biopipe verify " + m.RunID, Log: opts.Log})
	res.Replay = replay
	if replay == nil {
		return nil, fmt.Errorf("verify %s: re-execution: %w", m.RunID, err)
	}
	got := map[string]*manifest.StageRecord{}
	for _, s := range replay.Stages {
		got[s.ID] = s
	}
	for _, s := range m.Stages {
		r := got[s.ID]
		switch {
		case s.Artifact == nil:
			continue
		case r == nil || r.Artifact == nil:
			msg := "re-execution produced no artifact"
			if r != nil && r.Error != "" {
				msg += ": " + r.Error
			}
			res.Diffs = append(res.Diffs, Difference{Stage: s.ID, Kind: s.Kind, What: "artifact", Path: s.Artifact.Dir, Msg: msg})
			continue
		}
		res.Compared++
		if r.Artifact.Digest != s.Artifact.Digest {
			res.Diffs = append(res.Diffs, Difference{Stage: s.ID, Kind: s.Kind, What: "artifact", Path: s.Artifact.Dir,
				Files: diffFiles(s.Artifact.Files, r.Artifact.Files),
				Msg:   fmt.Sprintf("artifact %s (%s) differs on re-execution (digest %s, run had %s)", s.Artifact.Dir, s.Artifact.Type, short(r.Artifact.Digest), short(s.Artifact.Digest))})
		}
	}
	return res, nil
}

// diffFiles names the files whose digests differ, are missing or are new.
func diffFiles(want, got map[string]string) []string {
	var out []string
	for _, f := range slices.Sorted(maps.Keys(want)) {
		switch g, ok := got[f]; {
		case !ok:
			out = append(out, f+" (missing)")
		case g != want[f]:
			out = append(out, f)
		}
	}
	for _, f := range slices.Sorted(maps.Keys(got)) {
		if _, ok := want[f]; !ok {
			out = append(out, f+" (new)")
		}
	}
	return out
}

func short(d string) string {
	d = strings.TrimPrefix(d, "dir:")
	if len(d) > 12 {
		return d[:12]
	}
	return d
}
