// Package contract is the stage contract: field specs and config values, artifact and port types,
// stage kinds, the registry and the run environment a stage sees. It sits at the bottom of the
// import graph so every layer may use it (pipelines, stages/<kind>, models, report); it imports
// nothing of biopipe's own. Stage kinds live in stages/<family>/<kind> and register themselves
// in Default from an init function; stages/all imports them all.
package contract

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"log/slog"
	"os"
	"sort"
	"strings"
	"sync"
)

// PortType is the type of artifact a port carries.
type PortType string

// Artifact types. Each artifact is a folder in the store; the type says what it holds.
const (
	Table   PortType = "table"   // data.arrow: a dataset frame (see package dataset)
	Model   PortType = "model"   // checkpoint/ + model.json (model card) + history.json
	Metrics PortType = "metrics" // metrics.json (+ predictions.arrow, figures)
	Report  PortType = "report"  // report.md, report.html, figures
	Signals PortType = "signals" // recordings.arrow: continuous multichannel signals
	Any     PortType = "any"     // accepts every type (inputs only)
)

// Conventional file names inside artifact folders.
const (
	DataFile        = "data.arrow"
	ModelCardFile   = "model.json"
	HistoryFile     = "history.json"
	CheckpointDir   = "checkpoint"
	MetricsFile     = "metrics.json"
	PredictionsFile = "predictions.arrow"
	ReportMD        = "report.md"
	ReportHTML      = "report.html"
	SummaryFile     = "summary.json" // optional per-artifact summary (counts, exclusions) for reports
)

// SaltFields names the config fields that give a stage's pseudonym salt: Value an explicit
// salt (may be ""), Env the name of the environment variable holding one. When, if set,
// says whether a config makes pseudonyms at all (a table without an id or group column
// needs no salt); nil means always.
type SaltFields struct {
	Value, Env string
	When       func(cfg Config) bool
}

// PatientPseudonym is the pseudonym of a patient identifier: "P" and the first 12 hex
// digits of HMAC-SHA256(salt, "patient" NUL id). ingest.dicom (PatientID) and ingest.table
// (id and group columns) use it, so one patient has one pseudonym across modalities under
// one salt, and the id cannot be recovered without the salt.
func PatientPseudonym(salt []byte, id string) string {
	m := hmac.New(sha256.New, salt)
	m.Write([]byte("patient"))
	m.Write([]byte{0})
	m.Write([]byte(id))
	return "P" + hex.EncodeToString(m.Sum(nil))[:12]
}

// SummaryFigure is an entry of a summary.json "figures" list (and of metrics.json's): a PNG
// file in the artifact folder that reports show with its title and caption.
type SummaryFigure struct {
	File    string `json:"file"`
	Title   string `json:"title"`
	Caption string `json:"caption,omitempty"`
}

// Port is a named, typed input or output of a stage kind.
type Port struct {
	Name     string
	Type     PortType
	Doc      string
	Optional bool // an input that may be left unconnected
	Many     bool // an input that takes any number of upstream stages
}

// Kind declares a stage kind: its config spec, ports and constructor.
type Kind struct {
	Name        string // e.g. "ingest.table"
	Doc         string // one line
	Description string // longer text for `biopipe stages KIND`
	Version     string // implementation version: part of the cache key; bump when outputs change
	Fields      []Field
	Inputs      []Port
	Output      Port
	UsesBackend bool // the backend is part of the cache key (training, inference)
	// Salt, for stages that make pseudonyms, names the config fields of the salt (see
	// Env.PseudonymSalt). The executor resolves the salt before the stage runs and keys a
	// digest of it into the cache, so a changed salt re-runs the stage; the salt itself is
	// never stored.
	Salt *SaltFields
	// Headers, when set, checks the config against the headers of the stage's data before
	// any stage runs (`biopipe validate`, and `biopipe run` first): column and channel names,
	// join keys. See HeaderCheck.
	Headers HeaderCheck
	// New builds a stage from its validated config. It may return further config
	// errors (cross-field checks) as Issues via *ConfigError.
	New func(cfg Config) (Stage, error)
	// Example is a YAML snippet of a stage of this kind, shown in the docs.
	Example string
}

// ConfigError carries config problems found by a constructor.
type ConfigError struct{ Issues []Issue }

func (e *ConfigError) Error() string {
	var parts []string
	for _, i := range e.Issues {
		parts = append(parts, i.Error())
	}
	return strings.Join(parts, "; ")
}

// Stage runs one configured stage.
type Stage interface {
	Run(ctx context.Context, env *Env) error
}

// StageFunc adapts a function to Stage.
type StageFunc func(ctx context.Context, env *Env) error

// Run calls f.
func (f StageFunc) Run(ctx context.Context, env *Env) error { return f(ctx, env) }

// Input is an upstream artifact given to a stage.
type Input struct {
	StageID string
	Kind    string   // stage kind that produced it
	Type    PortType // artifact type
	Port    string   // the input port it is connected to ("" for transitive upstream)
	Dir     string   // the artifact folder (read-only)
	Digest  string   // content digest of the artifact
	Config  Config   // the producing stage's resolved config
}

// File returns the path of a file inside the artifact.
func (in Input) File(name string) string { return in.Dir + "/" + name }

// Env is what the executor gives a running stage.
type Env struct {
	StageID  string
	Kind     string
	Config   Config
	Seed     int64
	Backend  string // "go", "xla:cpu", "xla:cuda"
	Inputs   []Input
	Upstream []Input // every transitive upstream artifact, in topological order
	OutDir   string  // write the output artifact's files here (a fresh folder)
	WorkDir  string
	RunDir   string // runs/<run-id>: where run-level files (reports) may also be copied
	// StateDir is a folder kept across runs for this stage's cache key (created on first
	// use by the stage), where a long stage keeps resumable state such as training
	// checkpoints; the executor deletes it once the artifact is stored. "" when the
	// executor offers none.
	StateDir string
	Pipeline PipelineInfo
	Log      *slog.Logger
	// KeepGoing: readers quarantine corrupt inputs (see Quarantine) instead of failing.
	KeepGoing bool

	// ProjectSalt returns the work dir's secret pseudonym salt (created on first use); set
	// by the executor. See PseudonymSalt.
	ProjectSalt func() ([]byte, error)

	mu         sync.Mutex
	salt       *resolvedSalt // memo of PseudonymSalt
	metrics    map[string]any
	quarantine []Quarantined
	progress   ProgressFunc
}

// PipelineInfo describes the run for stages that write about it (reports).
type PipelineInfo struct {
	Name     string
	File     string // the pipeline file as given
	SpecHash string
	SpecYAML string // the resolved spec, YAML
	Command  string // the command line that started the run
	RunID    string
	Stages   []StageInfo // all stages in topological order
	Version  string      // biopipe version
	Modules  map[string]string
}

// StageInfo is one stage of the pipeline, for reports.
type StageInfo struct {
	ID     string
	Kind   string
	Inputs []string
	Config Config
}

// Quarantined is an input file that a stage skipped because it was corrupt.
type Quarantined struct {
	File   string `json:"file"`
	Reason string `json:"reason"`
}

// ProgressFunc starts a progress display for a unit of work of total steps.
type ProgressFunc func(desc string, total int) Progress

// Progress is advanced by a stage as it works.
type Progress interface {
	Add(n int)
	Close()
}

// StatusProgress is a Progress that also shows a short status beside the count, such as
// the last epoch's losses ("d_loss 0.61 g_loss 1.20"). Stages set it when the display
// offers it.
type StatusProgress interface {
	Progress
	SetStatus(status string)
}

// NewEnv is used by the executor (and tests) to build an Env.
func NewEnv(progress ProgressFunc) *Env {
	return &Env{metrics: map[string]any{}, progress: progress, Log: slog.Default()}
}

// In returns the inputs connected to the named port.
func (e *Env) In(port string) []Input {
	var out []Input
	for _, in := range e.Inputs {
		if in.Port == port {
			out = append(out, in)
		}
	}
	return out
}

// One returns the single input on the named port, or an error naming the port.
func (e *Env) One(port string) (Input, error) {
	ins := e.In(port)
	if len(ins) != 1 {
		return Input{}, fmt.Errorf("stage %q: port %q has %d inputs, want 1", e.StageID, port, len(ins))
	}
	return ins[0], nil
}

// Out returns the path of a file in the output artifact.
func (e *Env) Out(name string) string { return e.OutDir + "/" + name }

// SetMetric records a metric for the run manifest (evaluate stages, training summaries).
func (e *Env) SetMetric(name string, v any) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.metrics[name] = v
}

// Metrics returns the metrics recorded so far.
func (e *Env) Metrics() map[string]any {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := make(map[string]any, len(e.metrics))
	for k, v := range e.metrics {
		out[k] = v
	}
	return out
}

// Quarantine records a corrupt input that was skipped (with --keep-going).
func (e *Env) Quarantine(file, reason string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.quarantine = append(e.quarantine, Quarantined{File: file, Reason: reason})
	e.Log.Warn("quarantined", "stage", e.StageID, "file", file, "reason", reason)
}

// Quarantined returns the files quarantined so far.
func (e *Env) Quarantined() []Quarantined {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]Quarantined(nil), e.quarantine...)
}

// Progress starts a progress display; it never returns nil.
func (e *Env) Progress(desc string, total int) Progress {
	if e.progress == nil {
		return nopProgress{}
	}
	return e.progress(e.StageID+": "+desc, total)
}

type nopProgress struct{}

func (nopProgress) Add(int) {}
func (nopProgress) Close()  {}

// Registry maps kind names to kinds. The zero value is not usable; use NewRegistry.
type Registry struct {
	mu    sync.RWMutex
	kinds map[string]*Kind
}

// NewRegistry returns an empty registry (tests build their own).
func NewRegistry() *Registry { return &Registry{kinds: map[string]*Kind{}} }

// Default is the registry stage packages register into.
var Default = NewRegistry()

// Register adds a kind to Default; it panics on a duplicate name (a programming error at init).
func Register(k *Kind) { Default.MustAdd(k) }

// MustAdd adds a kind, panicking on a duplicate or malformed declaration.
func (r *Registry) MustAdd(k *Kind) {
	if err := r.Add(k); err != nil {
		panic(err)
	}
}

// Add adds a kind.
func (r *Registry) Add(k *Kind) error {
	if k.Name == "" || k.New == nil || k.Output.Type == "" {
		return fmt.Errorf("stage kind %q: name, output type and constructor are required", k.Name)
	}
	if k.Version == "" {
		k.Version = "1"
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, dup := r.kinds[k.Name]; dup {
		return fmt.Errorf("stage kind %q registered twice", k.Name)
	}
	r.kinds[k.Name] = k
	return nil
}

// Get returns the kind with this name; a miss lists the valid names and suggests the closest.
func (r *Registry) Get(name string) (*Kind, error) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	if k, ok := r.kinds[name]; ok {
		return k, nil
	}
	names := r.namesLocked()
	if s := Suggest(name, names); s != "" {
		return nil, fmt.Errorf("unknown stage kind %q (did you mean %q?)", name, s)
	}
	return nil, fmt.Errorf("unknown stage kind %q (known kinds: %s)", name, strings.Join(names, ", "))
}

// Names returns the registered kind names, sorted.
func (r *Registry) Names() []string {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.namesLocked()
}

func (r *Registry) namesLocked() []string {
	names := make([]string, 0, len(r.kinds))
	for n := range r.kinds {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Walk calls fn for every kind in name order.
func (r *Registry) Walk(fn func(k *Kind)) {
	for _, n := range r.Names() {
		k, _ := r.Get(n)
		fn(k)
	}
}

// Clone returns a copy of the registry.
func (r *Registry) Clone() *Registry {
	r.mu.RLock()
	defer r.mu.RUnlock()
	out := NewRegistry()
	for n, k := range r.kinds {
		out.kinds[n] = k
	}
	return out
}

// PseudonymSalt returns the salt for patient/subject pseudonyms: the explicit value when
// given, else the environment variable named envName, else the project's own secret salt
// (a random value kept in the work dir, so pseudonyms are stable within a project and
// cannot be reversed by hashing guessable ids). The source is returned for logs; the salt
// itself must never be written.
//
// The result is kept: the executor resolves the salt for the cache key, and the stage's own
// call gets the same salt without resolving (and warning) again.
func (e *Env) PseudonymSalt(explicit, envName string) ([]byte, string, error) {
	e.mu.Lock()
	memo := e.salt
	e.mu.Unlock()
	if memo != nil && memo.explicit == explicit && memo.envName == envName {
		return memo.salt, memo.from, nil
	}
	salt, from, err := e.resolveSalt(explicit, envName)
	if err == nil {
		e.mu.Lock()
		e.salt = &resolvedSalt{explicit: explicit, envName: envName, salt: salt, from: from}
		e.mu.Unlock()
	}
	return salt, from, err
}

type resolvedSalt struct {
	explicit, envName string
	salt              []byte
	from              string
}

func (e *Env) resolveSalt(explicit, envName string) ([]byte, string, error) {
	if explicit != "" {
		return []byte(explicit), "config", nil
	}
	if envName != "" {
		if v := os.Getenv(envName); v != "" {
			return []byte(v), "$" + envName, nil
		}
	}
	if e.ProjectSalt == nil {
		return nil, "", fmt.Errorf("stage %q: no pseudonym salt: set with.salt or the environment variable %s", e.StageID, envName)
	}
	s, err := e.ProjectSalt()
	if err != nil {
		return nil, "", fmt.Errorf("stage %q: project salt: %w", e.StageID, err)
	}
	e.Log.Warn("no pseudonym salt given: using this work dir's random project salt; pseudonyms, and so group splits, "+
		"differ in another work dir: set $"+envName+" to reproduce a run elsewhere", "stage", e.StageID)
	return s, "project salt", nil
}
