package workflows

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/biopipe/biopipe/contract"
	"github.com/biopipe/biopipe/dataset"
	"github.com/biopipe/biopipe/pipelines"
)

// SlurmDefaults are sbatch resources for every job of a workflow (pipelines.ResourceFields);
// a stage's own resources: block overrides them.
type SlurmDefaults struct {
	Resources contract.Config
}

func decodeSlurm(m map[string]any, path string, src *pipelines.Source) (SlurmDefaults, pipelines.SpecErrors) {
	cfg, issues := contract.Check(pipelines.ResourceFields, m)
	var errs pipelines.SpecErrors
	for _, is := range issues {
		p := path + "." + strings.Join(is.Path, ".")
		errs = append(errs, &pipelines.SpecError{Pos: src.KeyPos(p), Field: p, Msg: strings.TrimPrefix(is.Msg, "field ")})
	}
	return SlurmDefaults{Resources: cfg}, errs
}

// SbatchLines returns the #SBATCH lines of a resources block (pipelines.ResourceFields),
// with unset values taken from defaults.
func SbatchLines(res, defaults contract.Config) []string {
	get := func(k string) any {
		if res != nil && res[k] != nil {
			return res[k]
		}
		if defaults != nil {
			return defaults[k]
		}
		return nil
	}
	var out []string
	add := func(opt string, v any) {
		switch x := v.(type) {
		case string:
			if x != "" {
				out = append(out, "#SBATCH --"+opt+"="+x)
			}
		case int:
			if x > 0 {
				out = append(out, fmt.Sprintf("#SBATCH --%s=%d", opt, x))
			}
		}
	}
	add("partition", get(pipelines.ResPartition))
	add("account", get(pipelines.ResAccount))
	add("qos", get(pipelines.ResQOS))
	add("cpus-per-task", get(pipelines.ResCPUs))
	add("mem", get(pipelines.ResMem))
	add("time", get(pipelines.ResTime))
	if g, ok := get(pipelines.ResGPUs).(int); ok && g > 0 {
		out = append(out, fmt.Sprintf("#SBATCH --gres=gpu:%d", g))
	}
	return out
}

// Job is one sbatch job of a submission.
type Job struct {
	Name   string   `json:"name"`   // stage id, "points" (a sweep's array) or "finish"
	Script string   `json:"script"` // path of the sbatch script
	Log    string   `json:"log"`    // Slurm's output file pattern (%j: job id, %a: array task)
	After  []string `json:"after"`  // names of the jobs this one waits for (afterok)
	Array  string   `json:"array,omitempty"`
	ID     string   `json:"id,omitempty"` // Slurm job id, once submitted
	text   string
}

// Submission is a pipeline or workflow sent to Slurm: slurm/<id>/submission.json in the work dir.
type Submission struct {
	ID        string    `json:"id"`
	File      string    `json:"file"`
	Kind      string    `json:"kind"` // pipeline | workflow
	Name      string    `json:"name"`
	WorkDir   string    `json:"workdir"`
	Dir       string    `json:"dir"`
	Cwd       string    `json:"cwd"`
	Submitted time.Time `json:"submitted"`
	Jobs      []*Job    `json:"jobs"`
}

// SubmitOptions control how jobs are written.
type SubmitOptions struct {
	WorkDir string // shared work dir (every node must see it at the same path)
	Binary  string // the biopipe executable the jobs run (default: this one)
	Jobs    int    // a sweep's array runs at most this many points at once (0: no limit)
}

func (o *SubmitOptions) fill(file string, defaultWD string) error {
	if o.WorkDir == "" {
		o.WorkDir = defaultWD
	}
	wd, err := filepath.Abs(o.WorkDir)
	if err != nil {
		return err
	}
	o.WorkDir = wd
	if o.Binary == "" {
		if o.Binary, err = os.Executable(); err != nil {
			return err
		}
	}
	return nil
}

func newSubmission(kind, name, file string, opts SubmitOptions) (*Submission, error) {
	cwd, err := os.Getwd()
	if err != nil {
		return nil, err
	}
	now := time.Now().UTC()
	id := now.Format("20060102-150405") + "-" + sanitize(name)
	dir := filepath.Join(opts.WorkDir, "slurm", id)
	for i := 2; ; i++ {
		if _, err := os.Stat(dir); os.IsNotExist(err) {
			break
		}
		dir = filepath.Join(opts.WorkDir, "slurm", fmt.Sprintf("%s-%d", id, i))
	}
	// The file as given: the jobs cd to this working directory first, and the report names
	// the pipeline file as a local run would.
	return &Submission{ID: filepath.Base(dir), File: file, Kind: kind, Name: name, WorkDir: opts.WorkDir, Dir: dir, Cwd: cwd, Submitted: now}, nil
}

func sanitize(s string) string {
	b := []byte(s)
	for i, c := range b {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			b[i] = '-'
		}
	}
	return string(b)
}

func (s *Submission) addJob(name string, after []string, array string, res, defaults contract.Config, command string) {
	j := &Job{Name: name, After: after, Array: array, Script: filepath.Join(s.Dir, name+".sbatch")}
	pattern := "%j"
	if array != "" {
		pattern = "%A_%a"
	}
	j.Log = filepath.Join(s.Dir, "logs", name+"-"+pattern+".out")
	var b strings.Builder
	b.WriteString("#!/bin/bash\n")
	fmt.Fprintf(&b, "#SBATCH --job-name=bp-%s-%s\n", sanitize(s.Name), name)
	fmt.Fprintf(&b, "#SBATCH --output=%s\n", j.Log)
	if array != "" {
		fmt.Fprintf(&b, "#SBATCH --array=%s\n", array)
	}
	for _, l := range SbatchLines(res, defaults) {
		b.WriteString(l + "\n")
	}
	fmt.Fprintf(&b, "# biopipe submission %s, job %q\nset -euo pipefail\ncd %s\n", s.ID, name, shellQuote(s.Cwd))
	b.WriteString("exec " + command + "\n")
	j.text = b.String()
	s.Jobs = append(s.Jobs, j)
}

// PipelineJobs plans one job per stage of a pipeline, each waiting (afterok) for the jobs
// of its input stages, and a last job that runs the whole pipeline from the cache to write
// the complete run manifest. Stage jobs share the work dir: an artifact is written under its
// lock and renamed into place, so concurrent jobs never see half of one.
func PipelineJobs(plan *pipelines.Plan, file string, opts SubmitOptions) (*Submission, error) {
	if err := opts.fill(file, pipelines.DefaultWorkDir(file)); err != nil {
		return nil, err
	}
	s, err := newSubmission("pipeline", plan.Spec.Name, file, opts)
	if err != nil {
		return nil, err
	}
	// --wait: a batch job waits for the work dir lock (another submission's finishing job, a
	// user's run) instead of failing at once.
	base := shellQuote(opts.Binary) + " run " + shellQuote(s.File) + " --workdir " + shellQuote(opts.WorkDir) + " --wait"
	for _, ps := range plan.Order {
		s.addJob(ps.Spec.ID, ps.Spec.Inputs, "", ps.Spec.Resources, nil, base+" --only "+ps.Spec.ID+" --jobs 1 --log-level warn")
	}
	s.addJob("finish", sinks(plan), "", nil, nil, base+" --log-level warn")
	return s, nil
}

// sinks returns the stages no other stage reads: waiting for them waits for every stage.
func sinks(plan *pipelines.Plan) []string {
	read := map[string]bool{}
	for _, ps := range plan.Order {
		for _, in := range ps.Spec.Inputs {
			read[in] = true
		}
	}
	var out []string
	for _, ps := range plan.Order {
		if !read[ps.Spec.ID] {
			out = append(out, ps.Spec.ID)
		}
	}
	return out
}

// WorkflowJobs plans a sweep as one job array (task i runs point i: its whole pipeline, the
// stages it shares with other points from the shared cache) and a last job, after the whole
// array succeeded, that collects the points and writes the results table. Resources are the
// largest of the pipeline's stages, over the workflow's slurm: defaults.
func WorkflowJobs(w *Workflow, opts SubmitOptions) (*Submission, error) {
	if err := opts.fill(w.File, DefaultWorkDir(w.File)); err != nil {
		return nil, err
	}
	s, err := newSubmission("workflow", w.Name, w.File, opts)
	if err != nil {
		return nil, err
	}
	array := fmt.Sprintf("1-%d", len(w.points))
	if opts.Jobs > 0 {
		array += fmt.Sprintf("%%%d", opts.Jobs)
	}
	base := shellQuote(opts.Binary) + " run " + shellQuote(s.File) + " --workdir " + shellQuote(opts.WorkDir) + " --wait"
	s.addJob("points", nil, array, largest(w.base), w.Slurm.Resources, base+" --point \"$SLURM_ARRAY_TASK_ID\" --jobs 1 --log-level warn")
	s.addJob("finish", []string{"points"}, "", nil, w.Slurm.Resources,
		shellQuote(opts.Binary)+" table "+shellQuote(s.File)+" --workdir "+shellQuote(opts.WorkDir)+" --collect")
	return s, nil
}

// largest merges the stages' resources: the most CPUs, GPUs and time, the largest memory.
func largest(plan *pipelines.Plan) contract.Config {
	out := contract.Config{}
	for _, ps := range plan.Order {
		for k, v := range ps.Spec.Resources {
			if v == nil {
				continue
			}
			switch x := v.(type) {
			case int:
				if y, _ := out[k].(int); x > y {
					out[k] = x
				}
			case string:
				cur, _ := out[k].(string)
				if cur == "" || (k == pipelines.ResMem && memMB(x) > memMB(cur)) || (k == pipelines.ResTime && timeS(x) > timeS(cur)) {
					out[k] = x
				}
			}
		}
	}
	return out
}

func memMB(s string) float64 {
	s = strings.ToUpper(strings.TrimSpace(s))
	mult := 1.0
	switch {
	case strings.HasSuffix(s, "T"):
		mult, s = 1<<20, s[:len(s)-1]
	case strings.HasSuffix(s, "G"):
		mult, s = 1<<10, s[:len(s)-1]
	case strings.HasSuffix(s, "M"):
		s = s[:len(s)-1]
	case strings.HasSuffix(s, "K"):
		mult, s = 1.0/1024, s[:len(s)-1]
	}
	f, _ := strconv.ParseFloat(s, 64)
	return f * mult
}

// timeS reads Slurm's time formats: M, M:S, H:M:S, D-H, D-H:M, D-H:M:S.
func timeS(s string) float64 {
	days := 0.0
	if d, rest, ok := strings.Cut(s, "-"); ok {
		days, _ = strconv.ParseFloat(d, 64)
		s = rest
		parts := strings.Split(s, ":")
		var v [3]float64
		for i, p := range parts {
			if i < 3 {
				v[i], _ = strconv.ParseFloat(p, 64)
			}
		}
		return days*86400 + v[0]*3600 + v[1]*60 + v[2]
	}
	parts := strings.Split(s, ":")
	var n []float64
	for _, p := range parts {
		f, _ := strconv.ParseFloat(p, 64)
		n = append(n, f)
	}
	switch len(n) {
	case 1:
		return n[0] * 60
	case 2:
		return n[0]*60 + n[1]
	default:
		return n[0]*3600 + n[1]*60 + n[2]
	}
}

// Scripts returns every job script and, last, the driver that submits them in order
// (what --dry-run prints).
func (s *Submission) Scripts() string {
	var b strings.Builder
	for _, j := range s.Jobs {
		fmt.Fprintf(&b, "# ---- %s\n%s\n", j.Script, j.text)
	}
	fmt.Fprintf(&b, "# ---- %s\n%s", filepath.Join(s.Dir, "submit.sh"), s.driver())
	return b.String()
}

// driver is a shell script that submits the jobs with sbatch, chaining them with afterok.
func (s *Submission) driver() string {
	var b strings.Builder
	b.WriteString("#!/bin/bash\n# Submits the jobs of biopipe submission " + s.ID + " (what `biopipe submit --slurm` does).\nset -euo pipefail\n")
	for _, j := range s.Jobs {
		dep := ""
		if len(j.After) > 0 {
			var ids []string
			for _, a := range j.After {
				ids = append(ids, "$"+shellVar(a))
			}
			dep = " --dependency=afterok:" + strings.Join(ids, ":") + " --kill-on-invalid-dep=yes"
		}
		fmt.Fprintf(&b, "%s=$(sbatch --parsable%s %s)\n", shellVar(j.Name), dep, shellQuote(j.Script))
	}
	return b.String()
}

func shellVar(name string) string {
	return "JOB_" + strings.NewReplacer("-", "_", ".", "_").Replace(name)
}

func shellQuote(s string) string {
	if s != "" && strings.IndexFunc(s, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-_./:=+@%", r))
	}) < 0 {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// Write writes the job scripts, the driver and submission.json into the submission's folder.
func (s *Submission) Write() error {
	if err := os.MkdirAll(filepath.Join(s.Dir, "logs"), 0o755); err != nil {
		return err
	}
	for _, j := range s.Jobs {
		if err := os.WriteFile(j.Script, []byte(j.text), 0o755); err != nil {
			return err
		}
	}
	if err := os.WriteFile(filepath.Join(s.Dir, "submit.sh"), []byte(s.driver()), 0o755); err != nil {
		return err
	}
	return dataset.WriteJSON(filepath.Join(s.Dir, "submission.json"), s)
}

// Submit writes the scripts and submits the jobs with sbatch in order, each with
// --dependency=afterok on the jobs it waits for. On an sbatch failure the jobs already
// submitted are cancelled.
func (s *Submission) Submit(ctx context.Context) error {
	if err := s.Write(); err != nil {
		return err
	}
	ids := map[string]string{}
	for _, j := range s.Jobs {
		args := []string{"--parsable"}
		if len(j.After) > 0 {
			var deps []string
			for _, a := range j.After {
				deps = append(deps, ids[a])
			}
			args = append(args, "--dependency=afterok:"+strings.Join(deps, ":"), "--kill-on-invalid-dep=yes")
		}
		args = append(args, j.Script)
		out, err := exec.CommandContext(ctx, "sbatch", args...).CombinedOutput()
		if err != nil {
			s.cancel(ids)
			return fmt.Errorf("sbatch %s (job %q): %v: %s", j.Script, j.Name, err, strings.TrimSpace(string(out)))
		}
		id, _, _ := strings.Cut(strings.TrimSpace(string(out)), ";")
		j.ID, ids[j.Name] = id, id
	}
	return dataset.WriteJSON(filepath.Join(s.Dir, "submission.json"), s)
}

func (s *Submission) cancel(ids map[string]string) {
	if len(ids) == 0 {
		return
	}
	_ = exec.Command("scancel", slices.Collect(maps.Values(ids))...).Run()
}

// ReadSubmission finds slurm/<id>/submission.json in a work dir (id: a unique prefix, or
// "latest"/"" for the newest).
func ReadSubmission(workDir, id string) (*Submission, error) {
	root := filepath.Join(workDir, "slurm")
	ents, err := os.ReadDir(root)
	if err != nil {
		return nil, fmt.Errorf("no Slurm submissions in %s (biopipe submit --slurm FILE writes them there)", workDir)
	}
	var match []string
	for _, e := range ents {
		if e.IsDir() && (id == "" || id == "latest" || strings.HasPrefix(e.Name(), id)) {
			match = append(match, e.Name())
		}
	}
	slices.Sort(match)
	switch {
	case len(match) == 0:
		return nil, fmt.Errorf("no Slurm submission %q in %s", id, root)
	case len(match) > 1 && id != "" && id != "latest":
		return nil, fmt.Errorf("submission id %q is ambiguous: %s", id, strings.Join(match, ", "))
	}
	p := filepath.Join(root, match[len(match)-1], "submission.json")
	b, err := os.ReadFile(p)
	if err != nil {
		return nil, err
	}
	var s Submission
	if err := jsonUnmarshal(b, &s); err != nil {
		return nil, fmt.Errorf("%s: %w", p, err)
	}
	return &s, nil
}

// JobState is what Slurm says about one job (or array task).
type JobState struct {
	Job      string // job name in the submission
	ID       string
	State    string // PENDING, RUNNING, COMPLETED, FAILED, TIMEOUT, OUT_OF_MEMORY, NODE_FAIL, CANCELLED, ...
	Reason   string
	ExitCode string
	Message  string // what the state means for the user
	LogTail  string // the last lines of the job's log, for failures
}

// ErrNoSlurm is returned when neither squeue nor scontrol can be run.
var ErrNoSlurm = errors.New("Slurm commands (squeue, scontrol) not found")

// Status asks Slurm (squeue for queued and running jobs, scontrol for finished ones, which
// needs no accounting storage) about every job of the submission.
func (s *Submission) Status(ctx context.Context) ([]JobState, error) {
	if _, err := exec.LookPath("scontrol"); err != nil {
		return nil, ErrNoSlurm
	}
	var out []JobState
	for _, j := range s.Jobs {
		if j.ID == "" {
			out = append(out, JobState{Job: j.Name, State: "NOT_SUBMITTED", Message: "not submitted (a --dry-run, or sbatch failed)"})
			continue
		}
		b, err := exec.CommandContext(ctx, "scontrol", "show", "job", "-o", j.ID).CombinedOutput()
		if err != nil {
			out = append(out, JobState{Job: j.Name, ID: j.ID, State: "UNKNOWN",
				Message: "Slurm no longer knows this job (finished more than MinJobAge ago, no accounting storage): see its log " + j.Log})
			continue
		}
		for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
			f := scontrolFields(line)
			st := JobState{Job: j.Name, ID: f["JobId"], State: f["JobState"], Reason: f["Reason"], ExitCode: f["ExitCode"]}
			if t := f["ArrayTaskId"]; t != "" {
				st.ID = f["ArrayJobId"] + "_" + t
			}
			st.Message = stateMessage(st)
			if failed(st.State) {
				st.LogTail = tail(f["StdOut"], 10)
			}
			out = append(out, st)
		}
	}
	return out, nil
}

func scontrolFields(line string) map[string]string {
	out := map[string]string{}
	for _, kv := range strings.Fields(line) {
		if k, v, ok := strings.Cut(kv, "="); ok {
			out[k] = v
		}
	}
	return out
}

func failed(state string) bool {
	switch state {
	case "FAILED", "TIMEOUT", "OUT_OF_MEMORY", "NODE_FAIL", "CANCELLED", "PREEMPTED", "BOOT_FAIL", "DEADLINE":
		return true
	}
	return false
}

// stateMessage maps Slurm's states to what the user should do.
func stateMessage(st JobState) string {
	switch st.State {
	case "PENDING":
		if st.Reason == "DependencyNeverSatisfied" {
			return "will never run: a job it waits for failed"
		}
		if st.Reason == "Dependency" {
			return "waiting for the jobs of its input stages"
		}
		return "queued (" + st.Reason + ")"
	case "RUNNING", "CONFIGURING", "COMPLETING":
		return "running"
	case "COMPLETED":
		return "done"
	case "TIMEOUT":
		return "hit its time limit: raise resources.time of the stage (or slurm.time of the workflow); finished stages stay cached, so resubmitting resumes"
	case "OUT_OF_MEMORY":
		return "ran out of memory: raise resources.mem of the stage (or slurm.mem of the workflow)"
	case "NODE_FAIL", "BOOT_FAIL":
		return "the node failed, not the stage: resubmit (finished stages stay cached)"
	case "PREEMPTED":
		return "preempted by a higher-priority job: resubmit, or use a partition/qos without preemption"
	case "CANCELLED":
		if st.Reason == "DependencyNeverSatisfied" || strings.Contains(st.Reason, "Dependency") {
			return "cancelled: a job it waits for failed"
		}
		return "cancelled (scancel, or a job it waited for failed)"
	case "FAILED":
		return "the stage failed (exit code " + st.ExitCode + "): see the log tail"
	case "DEADLINE":
		return "missed its deadline"
	}
	return strings.ToLower(st.State)
}

func tail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
