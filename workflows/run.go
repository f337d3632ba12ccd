package workflows

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/biopipe/biopipe/contract"
	"github.com/biopipe/biopipe/dataset"
	"github.com/biopipe/biopipe/manifest"
	"github.com/biopipe/biopipe/pipelines"
)

// Options control a workflow run.
type Options struct {
	WorkDir   string // shared by every point (default: .biopipe beside the workflow file)
	Jobs      int    // points run at the same time (default 1)
	StageJobs int    // independent stages of one point at the same time (default 1)
	Backend   string
	Force     bool
	Command   string
	Log       *slog.Logger
	Progress  contract.ProgressFunc // points done/total
}

// Record is workflows/<name>/workflow.json in the work dir: which run each point produced.
type Record struct {
	Name     string        `json:"name"`
	File     string        `json:"file"`
	Pipeline string        `json:"pipeline"`
	Axes     []string      `json:"axes"`
	Points   []PointRecord `json:"points"`
	Runner   string        `json:"runner"` // local | slurm
}

// PointRecord is one point of a workflow run.
type PointRecord struct {
	Index          int            `json:"index"`
	Values         map[string]any `json:"values"` // sweep key -> value
	RunID          string         `json:"run_id"`
	Manifest       string         `json:"manifest"`        // path of runs/<id>/manifest.json
	ManifestSHA256 string         `json:"manifest_sha256"` // digest of that file
	Status         string         `json:"status"`
	Error          string         `json:"error,omitempty"`
}

// ErrPointsFailed is returned (wrapped) when a point's run failed.
var ErrPointsFailed = errors.New("workflow points failed")

// DefaultWorkDir returns .biopipe beside the workflow file.
func DefaultWorkDir(file string) string { return filepath.Join(filepath.Dir(file), ".biopipe") }

// Dir returns the folder of a workflow's record, tables and report in a work dir.
func Dir(workDir, name string) string { return filepath.Join(workDir, "workflows", name) }

// Run expands the grid and runs every point in one shared work dir (points at once: Jobs),
// so stages that do not depend on a swept value come from the cache. It writes the record,
// the results table and the report under workflows/<name>/ and returns the record.
func Run(ctx context.Context, w *Workflow, opts Options) (*Record, error) {
	if opts.WorkDir == "" {
		opts.WorkDir = DefaultWorkDir(w.File)
	}
	wd, err := filepath.Abs(opts.WorkDir)
	if err != nil {
		return nil, err
	}
	if opts.Jobs <= 0 {
		opts.Jobs = 1
	}
	if opts.StageJobs <= 0 {
		opts.StageJobs = 1
	}
	if opts.Log == nil {
		opts.Log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	rec := w.newRecord("local")
	var prog contract.Progress = nopProgress{}
	if opts.Progress != nil {
		prog = opts.Progress("workflow "+w.Name+" points", len(w.points))
	}
	defer prog.Close()
	sem := make(chan struct{}, opts.Jobs)
	var wg sync.WaitGroup
	var mu sync.Mutex
	done := 0
	for i, p := range w.points {
		wg.Add(1)
		go func() {
			defer wg.Done()
			select {
			case sem <- struct{}{}:
			case <-ctx.Done():
				rec.Points[i].Status, rec.Points[i].Error = "skipped", ctx.Err().Error()
				return
			}
			defer func() { <-sem }()
			m, err := pipelines.Run(ctx, w.plans[i], pipelines.Options{
				WorkDir: wd, Jobs: opts.StageJobs, Backend: opts.Backend, Force: opts.Force,
				Command: opts.Command, Log: opts.Log.With("point", i+1),
			})
			pr := &rec.Points[i]
			if m != nil {
				pr.RunID = m.RunID
				pr.Manifest = filepath.Join(wd, "runs", m.RunID, "manifest.json")
				pr.ManifestSHA256, _ = fileSHA256(pr.Manifest)
				pr.Status = m.Status
			}
			if err != nil {
				pr.Status, pr.Error = "failed", err.Error()
			}
			mu.Lock()
			done++
			opts.Log.Info("point done", "point", fmt.Sprintf("%d/%d", done, len(w.points)), "values", w.Label(p), "run", pr.RunID, "status", pr.Status)
			mu.Unlock()
			prog.Add(1)
		}()
	}
	wg.Wait()
	if err := rec.Write(Dir(wd, w.Name)); err != nil {
		return rec, err
	}
	var failed []string
	for _, p := range rec.Points {
		if p.Status != "ok" {
			failed = append(failed, fmt.Sprintf("point %d (%s): %s", p.Index+1, w.Label(w.points[p.Index]), p.Error))
		}
	}
	if len(failed) > 0 {
		return rec, fmt.Errorf("%w: %s", ErrPointsFailed, strings.Join(failed, "; "))
	}
	if _, err := WriteResults(w, rec, Dir(wd, w.Name)); err != nil {
		return rec, err
	}
	return rec, nil
}

// RunPoint runs point n (1-based) of the grid alone, as one task of a Slurm job array does,
// and writes its record to workflows/<name>/points/<n>.json for Collect.
func RunPoint(ctx context.Context, w *Workflow, n int, opts Options) (*PointRecord, error) {
	if n < 1 || n > len(w.points) {
		return nil, fmt.Errorf("point %d: the workflow has points 1..%d", n, len(w.points))
	}
	if opts.WorkDir == "" {
		opts.WorkDir = DefaultWorkDir(w.File)
	}
	wd, err := filepath.Abs(opts.WorkDir)
	if err != nil {
		return nil, err
	}
	if opts.Log == nil {
		opts.Log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	pr := w.newRecord("").Points[n-1]
	m, runErr := pipelines.Run(ctx, w.plans[n-1], pipelines.Options{WorkDir: wd, Jobs: max(opts.StageJobs, 1), Backend: opts.Backend,
		Force: opts.Force, Command: opts.Command, Log: opts.Log})
	if m != nil {
		pr.RunID, pr.Status = m.RunID, m.Status
		pr.Manifest = filepath.Join(wd, "runs", m.RunID, "manifest.json")
		pr.ManifestSHA256, _ = fileSHA256(pr.Manifest)
	}
	if runErr != nil {
		pr.Status, pr.Error = "failed", runErr.Error()
	}
	dir := filepath.Join(Dir(wd, w.Name), "points")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	if err := dataset.WriteJSON(filepath.Join(dir, fmt.Sprintf("%d.json", n)), pr); err != nil {
		return nil, err
	}
	return &pr, runErr
}

// Collect assembles the record of a workflow whose points ran one by one (RunPoint: Slurm
// array tasks), writes it and the results, and returns the record.
func Collect(w *Workflow, workDir, runner string) (*Record, error) {
	wd, err := filepath.Abs(workDir)
	if err != nil {
		return nil, err
	}
	rec := w.newRecord(runner)
	var missing []string
	for i := range rec.Points {
		b, err := os.ReadFile(filepath.Join(Dir(wd, w.Name), "points", fmt.Sprintf("%d.json", i+1)))
		if err != nil {
			missing = append(missing, fmt.Sprint(i+1))
			continue
		}
		var pr PointRecord
		if err := jsonUnmarshal(b, &pr); err != nil {
			return nil, fmt.Errorf("point %d: %w", i+1, err)
		}
		rec.Points[i] = pr
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("workflow %s: points %s have not run in %s", w.Name, strings.Join(missing, ", "), wd)
	}
	if err := rec.Write(Dir(wd, w.Name)); err != nil {
		return nil, err
	}
	for _, p := range rec.Points {
		if p.Status != "ok" {
			return rec, fmt.Errorf("%w: point %d: %s", ErrPointsFailed, p.Index+1, p.Error)
		}
	}
	_, err = WriteResults(w, rec, Dir(wd, w.Name))
	return rec, err
}

func (w *Workflow) newRecord(runner string) *Record {
	rec := &Record{Name: w.Name, File: w.File, Pipeline: w.Pipeline, Runner: runner}
	for _, a := range w.Sweep {
		rec.Axes = append(rec.Axes, a.Key)
	}
	for _, p := range w.points {
		vals := map[string]any{}
		for j, a := range w.Sweep {
			vals[a.Key] = p.Values[j]
		}
		rec.Points = append(rec.Points, PointRecord{Index: p.Index, Values: vals, Status: "pending"})
	}
	return rec
}

// Write writes workflow.json into dir.
func (r *Record) Write(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	return dataset.WriteJSON(filepath.Join(dir, "workflow.json"), r)
}

// ReadRecord reads workflows/<name>/workflow.json of a workflow in a work dir.
func ReadRecord(workDir, name string) (*Record, error) {
	p := filepath.Join(Dir(workDir, name), "workflow.json")
	b, err := os.ReadFile(p)
	if err != nil {
		if os.IsNotExist(err) {
			return nil, fmt.Errorf("no finished run of workflow %q in %s (run it first: biopipe run WORKFLOW.yaml)", name, workDir)
		}
		return nil, err
	}
	var r Record
	if err := jsonUnmarshal(b, &r); err != nil {
		return nil, fmt.Errorf("%s: %w", p, err)
	}
	return &r, nil
}

// Manifests reads the manifest of every point, checking each against its recorded digest.
func (r *Record) Manifests() ([]*manifest.Manifest, error) {
	out := make([]*manifest.Manifest, len(r.Points))
	for i, p := range r.Points {
		if p.Manifest == "" {
			return nil, fmt.Errorf("point %d: no run (status %s)", p.Index+1, p.Status)
		}
		d, err := fileSHA256(p.Manifest)
		if err != nil {
			return nil, fmt.Errorf("point %d: %w", p.Index+1, err)
		}
		if p.ManifestSHA256 != "" && d != p.ManifestSHA256 {
			return nil, fmt.Errorf("point %d: %s changed since the workflow ran (sha256 %s, recorded %s)", p.Index+1, p.Manifest, d[:12], p.ManifestSHA256[:12])
		}
		m, err := manifest.Read(p.Manifest)
		if err != nil {
			return nil, fmt.Errorf("point %d: %w", p.Index+1, err)
		}
		out[i] = m
	}
	return out, nil
}

func fileSHA256(p string) (string, error) {
	b, err := os.ReadFile(p)
	if err != nil {
		return "", err
	}
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:]), nil
}

type nopProgress struct{}

func (nopProgress) Add(int) {}
func (nopProgress) Close()  {}
