package pipelines

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/biopipe/biopipe/contract"
	"github.com/biopipe/biopipe/dataset"
	"github.com/biopipe/biopipe/manifest"
)

// Options control a run.
type Options struct {
	WorkDir     string   // default: .biopipe beside the pipeline file
	Jobs        int      // independent stages run concurrently, at most Jobs at a time (default 2)
	Force       bool     // re-run every stage
	Paranoid    bool     // cache hits hash every file in full (default: large files by size and a sampled hash)
	ForceStages []string // re-run these stages
	KeepGoing   bool     // readers quarantine corrupt inputs instead of failing
	Backend     string   // overrides the pipeline's backend when set
	Command     string   // the command line, for the manifest and report
	Log         *slog.Logger
	Progress    contract.ProgressFunc
	Cache       Cache // default: FSCache under WorkDir/store
	// Only, when set, runs these stages and their upstream stages (normally cache hits) and
	// nothing else: one batch job per stage (biopipe submit --slurm) runs one stage this way.
	Only []string
}

// ErrRunFailed is returned (wrapped) when a stage failed.
var ErrRunFailed = errors.New("run failed")

// ErrInterrupted is returned (wrapped, with the context's error) when ctx was cancelled
// (Ctrl-C, SIGTERM) during a run: running stages stopped at their next step, saving what
// lets the next run resume (see Env.StateDir), and the manifest's status is "interrupted".
var ErrInterrupted = errors.New("run interrupted")

// DefaultWorkDir returns .biopipe beside the pipeline file.
func DefaultWorkDir(file string) string { return filepath.Join(filepath.Dir(file), ".biopipe") }

// SpecHash returns the SHA-256 of the resolved spec (canonical JSON).
func SpecHash(src *Source) string {
	b, _ := json.Marshal(src.Value)
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

type stageResult struct {
	rec   *manifest.StageRecord
	entry *Entry
	err   error
	done  chan struct{}
}

// Run executes a validated plan: each stage's cache key is computed from its kind, version,
// resolved config, input digests and seed; a hit skips the stage. It writes the run manifest
// and returns it; on a failed stage the error wraps ErrRunFailed.
func Run(ctx context.Context, plan *Plan, opts Options) (*manifest.Manifest, error) {
	order, err := Closure(plan, opts.Only)
	if err != nil {
		return nil, err
	}
	if opts.WorkDir == "" {
		opts.WorkDir = DefaultWorkDir(plan.Source.File)
	}
	if opts.Jobs <= 0 {
		opts.Jobs = 2
	}
	if opts.Log == nil {
		opts.Log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	// Names in the config that the data's headers lack fail here, before any stage runs.
	if err := CheckHeaders(ctx, plan); err != nil {
		return nil, err
	}
	wd, err := filepath.Abs(opts.WorkDir)
	if err != nil {
		return nil, err
	}
	if opts.Cache == nil {
		opts.Cache = &FSCache{Root: filepath.Join(wd, "store"), Paranoid: opts.Paranoid, Log: opts.Log}
	}
	backend := plan.Spec.Backend
	if opts.Backend != "" {
		backend = opts.Backend
	}
	start := time.Now().UTC()
	specHash := SpecHash(plan.Source)
	runID := start.Format("20060102-150405") + "-" + specHash[:8]
	runDir := filepath.Join(wd, "runs", runID)
	for i := 2; ; i++ {
		if _, err := os.Stat(runDir); os.IsNotExist(err) {
			break
		}
		runDir = filepath.Join(wd, "runs", fmt.Sprintf("%s-%d", runID, i))
	}
	runID = filepath.Base(runDir)
	if err := os.MkdirAll(runDir, 0o755); err != nil {
		return nil, err
	}
	host, _ := os.Hostname()
	specYAML, _ := yaml.Marshal(plan.Source.Value)
	info := contract.PipelineInfo{
		Name: plan.Spec.Name, File: plan.Source.File, SpecHash: specHash, SpecYAML: string(specYAML),
		Command: opts.Command, RunID: runID, Version: Version, Modules: manifest.BuildModules(),
	}
	for _, ps := range plan.Order { // every stage, also in a partial (Only) run: the report describes the pipeline
		info.Stages = append(info.Stages, contract.StageInfo{ID: ps.Spec.ID, Kind: ps.Spec.Kind, Inputs: ps.Spec.Inputs, Config: ps.Config})
	}
	m := &manifest.Manifest{
		RunID: runID, Pipeline: plan.Spec.Name, File: plan.Source.File, Command: opts.Command,
		SpecHash: specHash, Spec: plan.Source.Value, Biopipe: Version, GoVersion: goVersion(), Build: buildFlavour(),
		Modules: info.Modules, Backend: backend, Seed: plan.Spec.Seed, Host: host,
		OS: osName(), Start: start, WorkDir: wd, Metrics: map[string]any{}, StageCount: len(order),
	}
	m.Cwd, _ = os.Getwd()
	results := map[string]*stageResult{}
	for _, ps := range order {
		results[ps.Spec.ID] = &stageResult{rec: &manifest.StageRecord{ID: ps.Spec.ID, Kind: ps.Spec.Kind, Inputs: ps.Spec.Inputs}, done: make(chan struct{})}
	}
	sem := make(chan struct{}, opts.Jobs)
	var wg sync.WaitGroup
	for _, ps := range order {
		wg.Add(1)
		go func(ps *PlannedStage) {
			defer wg.Done()
			res := results[ps.Spec.ID]
			defer close(res.done)
			var failedDeps []string
			for _, in := range ps.Spec.Inputs {
				up := results[in]
				<-up.done
				if up.err != nil || up.entry == nil {
					failedDeps = append(failedDeps, in)
				}
			}
			if len(failedDeps) > 0 {
				res.rec.Status = "skipped"
				res.rec.Error = "upstream failed: " + strings.Join(failedDeps, ", ")
				res.err = errors.New(res.rec.Error)
				return
			}
			select {
			case sem <- struct{}{}:
			case <-ctx.Done():
				res.rec.Status, res.err = "skipped", ctx.Err()
				res.rec.Error = "not started: the run was interrupted"
				return
			}
			defer func() { <-sem }()
			res.entry, res.err = runStage(ctx, plan, ps, results, opts, backend, wd, runDir, info, res.rec)
		}(ps)
	}
	wg.Wait()
	m.End = time.Now().UTC()
	m.DurationS = m.End.Sub(start).Seconds()
	m.Status = "ok"
	var failed []string
	for _, ps := range order {
		res := results[ps.Spec.ID]
		m.Stages = append(m.Stages, res.rec)
		if res.rec.CacheHit {
			m.CacheHits++
		}
		if len(res.rec.Metrics) > 0 {
			m.Metrics[ps.Spec.ID] = res.rec.Metrics
		}
		if res.rec.Status == "failed" {
			failed = append(failed, fmt.Sprintf("stage %q: %s", ps.Spec.ID, res.rec.Error))
		}
	}
	if len(failed) > 0 {
		m.Status = "failed"
	}
	interrupted := ctx.Err()
	if interrupted != nil {
		m.Status = "interrupted"
	}
	if err := manifest.Write(runDir, m); err != nil {
		return m, err
	}
	if interrupted != nil {
		return m, fmt.Errorf("%w (%w)", ErrInterrupted, context.Cause(ctx))
	}
	if len(failed) > 0 {
		return m, fmt.Errorf("%w: %s", ErrRunFailed, strings.Join(failed, "; "))
	}
	return m, nil
}

// Closure returns the stages named in only and every stage upstream of them, in plan order
// (all stages when only is empty).
func Closure(plan *Plan, only []string) ([]*PlannedStage, error) {
	if len(only) == 0 {
		return plan.Order, nil
	}
	need := map[string]bool{}
	var mark func(id string)
	mark = func(id string) {
		if need[id] {
			return
		}
		need[id] = true
		for _, in := range plan.Stage(id).Spec.Inputs {
			mark(in)
		}
	}
	for _, id := range only {
		if plan.Stage(id) == nil {
			var ids []string
			for _, ps := range plan.Order {
				ids = append(ids, ps.Spec.ID)
			}
			return nil, fmt.Errorf("no stage %q%s (stages: %s)", id, contract.DidYouMean(id, ids), strings.Join(ids, ", "))
		}
		mark(id)
	}
	var out []*PlannedStage
	for _, ps := range plan.Order {
		if need[ps.Spec.ID] {
			out = append(out, ps)
		}
	}
	return out, nil
}

func osName() string {
	b, err := os.ReadFile("/etc/os-release")
	if err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(l, "PRETTY_NAME="); ok {
				return strings.Trim(v, `"`)
			}
		}
	}
	return ""
}

func runStage(ctx context.Context, plan *Plan, ps *PlannedStage, results map[string]*stageResult, opts Options,
	backend, wd, runDir string, info contract.PipelineInfo, rec *manifest.StageRecord) (*Entry, error) {
	t0 := time.Now()
	rec.Start = t0.UTC()
	fail := func(err error) (*Entry, error) {
		rec.Status = "failed"
		rec.Error = err.Error()
		rec.DurationS = time.Since(t0).Seconds()
		// The error itself is returned and printed once, at the end of the run.
		opts.Log.Error("stage failed", "stage", ps.Spec.ID, "kind", ps.Spec.Kind)
		return nil, err
	}
	cfg, pathDigests, err := resolvePaths(ps.Kind.Fields, ps.Config, filepath.Dir(plan.Source.File), true)
	if err != nil {
		var pe *pathError
		if errors.As(err, &pe) {
			// Point at the field in the pipeline file, as validation errors do.
			pos := plan.Source.ValuePos(fmt.Sprintf("stages.%d.with.%s", ps.Spec.index, pe.field))
			err = fmt.Errorf("%s: %w", pos, err)
		}
		return fail(err)
	}
	rec.InputFiles = inputFiles(cfg, pathDigests)
	env := contract.NewEnv(opts.Progress)
	env.StageID, env.Kind, env.Config, env.Seed, env.Backend = ps.Spec.ID, ps.Spec.Kind, cfg, plan.Spec.Seed, backend
	env.WorkDir, env.RunDir, env.Pipeline, env.KeepGoing = wd, runDir, info, opts.KeepGoing
	env.Log = opts.Log.With("stage", ps.Spec.ID)
	var inputDigests []string
	for _, b := range ps.Ports {
		up := results[b.From]
		upPS := plan.Stage(b.From)
		env.Inputs = append(env.Inputs, contract.Input{StageID: b.From, Kind: upPS.Spec.Kind, Type: b.Type, Port: b.Port,
			Dir: up.entry.Dir, Digest: up.entry.Digest, Config: upPS.Config})
		inputDigests = append(inputDigests, b.Port+"="+up.entry.Digest)
	}
	env.Upstream = upstream(plan, ps, results)
	keyDoc := map[string]any{
		"kind": ps.Kind.Name, "version": ps.Kind.Version, "config": keyConfig(ps.Kind.Fields, ps.Config), "paths": pathDigests,
		"inputs": inputDigests, "seed": plan.Spec.Seed,
	}
	if ps.Kind.UsesBackend {
		keyDoc["backend"] = backend
		// SIMD and plain builds of the Go backend differ in the last bits of a float.
		keyDoc["build"] = buildFlavour()
	}
	if len(ps.Kind.Inputs) == 0 && opts.KeepGoing {
		// Readers quarantine corrupt files instead of failing: a different artifact.
		keyDoc["keep_going"] = true
	}
	env.ProjectSalt = func() ([]byte, error) { return ProjectSalt(wd) }
	if sf := ps.Kind.Salt; sf != nil && (sf.When == nil || sf.When(cfg)) {
		// The same resolution the stage makes (config, environment, project salt).
		salt, _, err := env.PseudonymSalt(cfg.String(sf.Value), cfg.String(sf.Env))
		if err != nil {
			return fail(err)
		}
		h := sha256.Sum256(append([]byte("biopipe-salt\x00"), salt...))
		keyDoc["salt"] = hex.EncodeToString(h[:])
	}
	kb, _ := json.Marshal(keyDoc)
	kh := sha256.Sum256(kb)
	key := hex.EncodeToString(kh[:])
	rec.CacheKey = key
	stateDir := StateDir(wd, key)
	force := opts.Force || slices.Contains(opts.ForceStages, ps.Spec.ID)
	if l, ok := opts.Cache.(Locker); ok {
		// Concurrent runs sharing the work dir (sweep points, Slurm jobs) compute an
		// artifact once: the second waits here, then loads it from the store.
		unlock, err := l.Lock(ctx, key)
		if err != nil {
			return fail(err)
		}
		defer unlock()
	}
	if force {
		// A forced re-run starts afresh, not from a checkpoint of an earlier attempt.
		_ = os.RemoveAll(stateDir)
	} else {
		if e, ok := opts.Cache.Load(key); ok {
			_ = os.RemoveAll(stateDir) // left by a run killed after storing the artifact
			rec.Status, rec.CacheHit = "cached", true
			finish(rec, e, t0)
			publish(e, runDir, ps.Kind.Output.Type)
			opts.Log.Info("stage cached", "stage", ps.Spec.ID, "kind", ps.Spec.Kind)
			return e, nil
		}
	}
	tmpRoot := filepath.Join(wd, "tmp")
	if err := os.MkdirAll(tmpRoot, 0o755); err != nil {
		return fail(err)
	}
	out, err := os.MkdirTemp(tmpRoot, ps.Spec.ID+"-")
	if err != nil {
		return fail(err)
	}
	defer os.RemoveAll(out)
	env.OutDir = out
	env.StateDir = stateDir
	opts.Log.Info("stage start", "stage", ps.Spec.ID, "kind", ps.Spec.Kind)
	if err := safeRun(ctx, ps.Stage, env); err != nil {
		if ctx.Err() != nil {
			rec.Status = "interrupted"
			rec.Error = err.Error()
			rec.DurationS = time.Since(t0).Seconds()
			opts.Log.Warn("stage interrupted", "stage", ps.Spec.ID, "kind", ps.Spec.Kind)
			return nil, err
		}
		return fail(err)
	}
	e, err := opts.Cache.Save(key, out, &Entry{Stage: ps.Spec.ID, Kind: ps.Spec.Kind, Type: ps.Kind.Output.Type,
		Metrics: finiteMetrics(env.Metrics(), opts.Log, ps.Spec.ID), Quarantined: env.Quarantined()})
	if err != nil {
		return fail(fmt.Errorf("storing artifact: %w", err))
	}
	// The artifact is stored: the resumable state that led to it is spent.
	_ = os.RemoveAll(stateDir)
	rec.Status = "ok"
	finish(rec, e, t0)
	publish(e, runDir, ps.Kind.Output.Type)
	opts.Log.Info("stage done", "stage", ps.Spec.ID, "seconds", fmt.Sprintf("%.2f", rec.DurationS))
	return e, nil
}

// finiteMetrics replaces a NaN or infinite metric with null (JSON has no NaN), so an
// undefined metric never fails the stage after its work is done.
func finiteMetrics(m map[string]any, log *slog.Logger, stage string) map[string]any {
	for k, v := range m {
		var f float64
		switch x := v.(type) {
		case float64:
			f = x
		case float32:
			f = float64(x)
		default:
			continue
		}
		if math.IsNaN(f) || math.IsInf(f, 0) {
			log.Warn("metric undefined: recorded as null", "stage", stage, "metric", k)
			m[k] = nil
		}
	}
	return m
}

// StateDir is the folder where a stage with cache key key keeps resumable state between
// runs (Env.StateDir): <work dir>/state/<key>. It is outside the artifact store and is
// deleted once the artifact is stored.
func StateDir(workDir, key string) string { return filepath.Join(workDir, "state", key) }

// keyConfig is the stage config that goes into the cache key: every field but those
// marked NoKey.
func keyConfig(fields []contract.Field, cfg contract.Config) contract.Config {
	out := contract.Config{}
	for k, v := range cfg {
		out[k] = v
	}
	for _, f := range fields {
		if f.NoKey {
			delete(out, f.Name)
		}
	}
	return out
}

func finish(rec *manifest.StageRecord, e *Entry, t0 time.Time) {
	rec.DurationS = time.Since(t0).Seconds()
	rec.Artifact = &manifest.ArtifactRecord{Type: e.Type, Dir: e.Dir, Digest: e.Digest, Files: e.Files}
	rec.Metrics = e.Metrics
	rec.Quarantined = e.Quarantined
}

// publish copies a report artifact's documents and figures into the run folder.
func publish(e *Entry, runDir string, t contract.PortType) {
	if t != contract.Report {
		return
	}
	for name := range e.Files {
		if strings.Contains(name, "/") {
			continue
		}
		if ext := filepath.Ext(name); ext == ".md" || ext == ".html" || ext == ".png" {
			b, err := os.ReadFile(filepath.Join(e.Dir, name))
			if err == nil {
				_ = os.WriteFile(filepath.Join(runDir, name), b, 0o644)
			}
		}
	}
}

// safeRun runs a stage, turning a panic into an error naming the stage.
func safeRun(ctx context.Context, s contract.Stage, env *contract.Env) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("internal error (panic): %v", r)
		}
	}()
	return s.Run(ctx, env)
}

// upstream lists every transitive upstream artifact of ps in plan order.
func upstream(plan *Plan, ps *PlannedStage, results map[string]*stageResult) []contract.Input {
	need := map[string]bool{}
	var mark func(id string)
	mark = func(id string) {
		for _, in := range plan.Stage(id).Spec.Inputs {
			if !need[in] {
				need[in] = true
				mark(in)
			}
		}
	}
	mark(ps.Spec.ID)
	var out []contract.Input
	for _, o := range plan.Order {
		if !need[o.Spec.ID] {
			continue
		}
		r := results[o.Spec.ID]
		if r.entry == nil {
			continue
		}
		out = append(out, contract.Input{StageID: o.Spec.ID, Kind: o.Spec.Kind, Type: o.Kind.Output.Type, Dir: r.entry.Dir,
			Digest: r.entry.Digest, Config: o.Config})
	}
	return out
}

// inputFiles lists the resolved input paths of a stage's config with their digests, for the
// manifest (field names as resolvePaths keys them: a.b, list[0]).
func inputFiles(cfg contract.Config, digests map[string]string) []manifest.InputFile {
	var out []manifest.InputFile
	for _, field := range slices.Sorted(maps.Keys(digests)) {
		out = append(out, manifest.InputFile{Field: field, Path: configPath(cfg, field), Digest: digests[field]})
	}
	return out
}

// configPath returns the value of a Path field (a.b) or of one element of a Paths field (a[2]).
func configPath(cfg contract.Config, field string) string {
	segs := strings.Split(field, ".")
	c := cfg
	for _, s := range segs[:len(segs)-1] {
		c = c.Object(s)
	}
	last := segs[len(segs)-1]
	if name, idx, ok := strings.Cut(last, "["); ok {
		i, _ := strconv.Atoi(strings.TrimSuffix(idx, "]"))
		if list := c.Strings(name); i < len(list) {
			return list[i]
		}
		return ""
	}
	return c.String(last)
}

// resolvePaths makes Path fields absolute (relative paths are tried against the working
// directory, then against the pipeline file's folder) and, with digest, digests their content.
func resolvePaths(fields []contract.Field, cfg contract.Config, base string, digest bool) (contract.Config, map[string]string, error) {
	out := contract.Config{}
	digests := map[string]string{}
	for k, v := range cfg {
		out[k] = v
	}
	var walk func(fields []contract.Field, c contract.Config, prefix string) error
	walk = func(fields []contract.Field, c contract.Config, prefix string) error {
		for _, f := range fields {
			switch f.Type {
			case contract.Path:
				p := c.String(f.Name)
				if p == "" {
					continue
				}
				abs, err := resolvePath(p, base)
				if err != nil {
					return &pathError{field: prefix + f.Name, err: err}
				}
				c[f.Name] = abs
				if !digest {
					continue
				}
				d, err := HashInput(abs)
				if err != nil {
					return fmt.Errorf("field %q: %w", prefix+f.Name, err)
				}
				digests[prefix+f.Name] = d
			case contract.Paths:
				var list []string
				for i, p := range c.Strings(f.Name) {
					abs, err := resolvePath(p, base)
					if err != nil {
						return &pathError{field: fmt.Sprintf("%s%s.%d", prefix, f.Name, i), err: err}
					}
					list = append(list, abs)
					if !digest {
						continue
					}
					d, err := HashInput(abs)
					if err != nil {
						return err
					}
					digests[fmt.Sprintf("%s%s[%d]", prefix, f.Name, i)] = d
				}
				if list != nil {
					c[f.Name] = list
				}
			case contract.Object:
				sub, ok := c[f.Name].(contract.Config)
				if !ok {
					continue
				}
				cp := contract.Config{}
				for k, v := range sub {
					cp[k] = v
				}
				c[f.Name] = cp
				if err := walk(f.Fields, cp, prefix+f.Name+"."); err != nil {
					return err
				}
			}
		}
		return nil
	}
	if err := walk(fields, out, ""); err != nil {
		return nil, nil, err
	}
	return out, digests, nil
}

func resolvePath(p, base string) (string, error) {
	if filepath.IsAbs(p) {
		if _, err := os.Stat(p); err != nil {
			return "", err
		}
		return p, nil
	}
	if _, err := os.Stat(p); err == nil {
		return filepath.Abs(p)
	}
	q := filepath.Join(base, p)
	if _, err := os.Stat(q); err == nil {
		return filepath.Abs(q)
	}
	return "", fmt.Errorf("%s: no such file or folder (looked in the working directory and in %s)", p, base)
}

var saltMu sync.Mutex

// ProjectSalt returns the work dir's secret salt for pseudonyms, creating it (32 random
// bytes, hex, readable by the owner only) on first use.
func ProjectSalt(workDir string) ([]byte, error) {
	saltMu.Lock()
	defer saltMu.Unlock()
	p := filepath.Join(workDir, "secrets", "pseudonym.salt")
	if b, err := os.ReadFile(p); err == nil && len(b) > 0 {
		return b, nil
	}
	if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
		return nil, err
	}
	raw := make([]byte, 32)
	if _, err := rand.Read(raw); err != nil {
		return nil, err
	}
	salt := []byte(hex.EncodeToString(raw))
	err := dataset.AtomicWrite(p, func(w *os.File) error {
		if err := w.Chmod(0o600); err != nil {
			return err
		}
		_, err := w.Write(salt)
		return err
	})
	return salt, err
}

// BuildFlavour is buildFlavour, for the manifest's readers (verify compares it).
func BuildFlavour() string { return buildFlavour() }

// buildFlavour names what of this binary's build changes numeric results: the Go
// experiments (GOEXPERIMENT=simd switches the Go backend's matmul kernels) and the
// architecture.
func buildFlavour() string {
	exp := ""
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, s := range bi.Settings {
			if s.Key == "GOEXPERIMENT" {
				exp = s.Value
			}
		}
	}
	return runtime.GOARCH + "/" + exp
}

// pathError is an input path of a stage's config that does not exist.
type pathError struct {
	field string
	err   error
}

func (e *pathError) Error() string { return fmt.Sprintf("field %q: %v", e.field, e.err) }
func (e *pathError) Unwrap() error { return e.err }
