package workflows

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/biopipe/biopipe/contract"
	"github.com/biopipe/biopipe/manifest"
	"github.com/biopipe/biopipe/pipelines"
)

func TestPipelineJobs(t *testing.T) {
	src, err := pipelines.Load(filepath.Join("testdata", "resources.yaml"), nil)
	require.NoError(t, err)
	plan, err := pipelines.Validate(src, contract.Default)
	require.NoError(t, err)
	sub, err := PipelineJobs(plan, "testdata/resources.yaml", SubmitOptions{WorkDir: t.TempDir(), Binary: "/opt/biopipe"})
	require.NoError(t, err)
	names := map[string]*Job{}
	for _, j := range sub.Jobs {
		names[j.Name] = j
	}
	require.Len(t, sub.Jobs, 6, "one job per stage and the finishing job")
	// afterok follows the DAG
	assert.Empty(t, names["load"].After)
	assert.Equal(t, []string{"train", "scale"}, names["eval"].After)
	assert.Equal(t, []string{"eval"}, names["finish"].After, "the finishing job waits for the sinks")
	for _, l := range []string{"#SBATCH --cpus-per-task=4", "#SBATCH --mem=8G", "#SBATCH --time=2:00:00", "#SBATCH --gres=gpu:1",
		"#SBATCH --partition=gpu", "#SBATCH --account=lab", "#SBATCH --qos=long", "--only train --jobs 1"} {
		assert.Contains(t, names["train"].text, l)
	}
	assert.NotContains(t, names["load"].text, "--gres")
	script := sub.Scripts()
	assert.Contains(t, script, "JOB_eval=$(sbatch --parsable --dependency=afterok:$JOB_train:$JOB_scale --kill-on-invalid-dep=yes ")
	assert.Contains(t, script, "/opt/biopipe run testdata/resources.yaml --workdir ")
}

func TestResourcesValidated(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("testdata", "resources.yaml"))
	require.NoError(t, err)
	bad := strings.Replace(string(b), "resources: {cpus: 2, mem: 2G}", "resources: {cpu: 2, mem: 2G}", 1)
	src, err := pipelines.Parse("resources.yaml", []byte(bad), nil)
	require.NoError(t, err)
	_, err = pipelines.Validate(src, contract.Default)
	require.Error(t, err)
	assert.Contains(t, err.Error(), `resources.yaml:22:17: stage "eval": field "resources.cpu": unknown field (did you mean "cpus"?)`)
}

func TestWorkflowJobsArray(t *testing.T) {
	t.Chdir("..") // the workflow names its pipeline relative to the repository root
	w, err := Load(filepath.Join("configs", "quickstart-sweep.yaml"), contract.Default)
	require.NoError(t, err)
	sub, err := WorkflowJobs(w, SubmitOptions{WorkDir: t.TempDir(), Binary: "biopipe", Jobs: 2})
	require.NoError(t, err)
	require.Len(t, sub.Jobs, 2)
	assert.Equal(t, "1-6%2", sub.Jobs[0].Array)
	assert.Contains(t, sub.Jobs[0].text, "#SBATCH --array=1-6%2")
	assert.Contains(t, sub.Jobs[0].text, `--point "$SLURM_ARRAY_TASK_ID"`)
	assert.Contains(t, sub.Jobs[0].text, "#SBATCH --mem=1G", "the workflow's slurm: defaults")
	assert.Equal(t, []string{"points"}, sub.Jobs[1].After)
	assert.Contains(t, sub.Jobs[1].text, "table configs/quickstart-sweep.yaml --workdir ")
	assert.Contains(t, sub.Jobs[1].text, "--collect")
}

func TestStateMessages(t *testing.T) {
	for _, tc := range []struct{ state, reason, want string }{
		{"TIMEOUT", "", "raise resources.time"},
		{"OUT_OF_MEMORY", "", "raise resources.mem"},
		{"NODE_FAIL", "", "the node failed, not the stage"},
		{"PENDING", "DependencyNeverSatisfied", "a job it waits for failed"},
		{"PENDING", "Dependency", "waiting for the jobs of its input stages"},
		{"FAILED", "", "exit code 1:0"},
		{"COMPLETED", "", "done"},
	} {
		assert.Contains(t, stateMessage(JobState{State: tc.state, Reason: tc.reason, ExitCode: "1:0"}), tc.want, tc.state)
	}
	assert.InDelta(t, 7200, timeS("2:00:00"), 0)
	assert.InDelta(t, 86400+3600, timeS("1-01"), 0)
	assert.InDelta(t, 1800, timeS("30"), 0)
	assert.InDelta(t, 8192, memMB("8G"), 0)
}

// TestSlurmSweep submits the 2x3 quickstart sweep to a real Slurm (.ci/slurm-setup.sh starts a
// single-node one) and checks that its results table equals the local one; then the quickstart
// as one job per stage, whose artifacts must equal a local run's bit for bit.
func TestSlurmSweep(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: no Slurm submission")
	}
	out, err := exec.Command("sinfo", "-h", "-o", "%T").CombinedOutput()
	switch {
	case err != nil:
		t.Skipf("no Slurm here: sinfo: %v: %s (run .ci/slurm-setup.sh as root to start a single-node one)", err, strings.TrimSpace(string(out)))
	case !strings.Contains(string(out), "idle") && !strings.Contains(string(out), "mix"):
		t.Skipf("Slurm is not ready: sinfo says %q (run .ci/slurm-setup.sh as root)", strings.TrimSpace(string(out)))
	}
	t.Chdir("..") // the workflow names its pipeline relative to the repository root
	bin := filepath.Join(t.TempDir(), "biopipe")
	build := exec.Command("go", "build", "-o", bin, "./cmd/biopipe")
	build.Env = append(os.Environ(), "GOEXPERIMENT="+goexperiment())
	if b, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, b)
	}
	wf := filepath.Join("configs", "quickstart-sweep.yaml")
	w, err := Load(wf, contract.Default)
	require.NoError(t, err)

	local := t.TempDir()
	rec, err := Run(context.Background(), w, Options{WorkDir: local, Jobs: 2})
	require.NoError(t, err)
	want, err := BuildTable(w, rec)
	require.NoError(t, err)

	shared := t.TempDir()
	sub, err := WorkflowJobs(w, SubmitOptions{WorkDir: shared, Binary: bin})
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	require.NoError(t, sub.Submit(ctx))
	waitJobs(ctx, t, sub)
	srec, err := ReadRecord(shared, w.Name)
	require.NoError(t, err)
	assert.Equal(t, "slurm", srec.Runner)
	got, err := BuildTable(w, srec)
	require.NoError(t, err)
	assert.Equal(t, want.Markdown(), got.Markdown(), "the Slurm table equals the local one")
	assert.Equal(t, want.CSV(), got.CSV())
	t.Logf("table through Slurm:\n%s", got.Markdown())

	// A pipeline, one job per stage chained with afterok: the finishing job's manifest names
	// the same artifact digests as a local run.
	plan := w.BasePlan()
	psub, err := PipelineJobs(plan, w.Pipeline, SubmitOptions{WorkDir: shared, Binary: bin})
	require.NoError(t, err)
	require.NoError(t, psub.Submit(ctx))
	waitJobs(ctx, t, psub)
	// The local run uses the same binary: the report names the build's module versions.
	local2 := t.TempDir()
	if b, err := exec.CommandContext(ctx, bin, "run", w.Pipeline, "--workdir", local2, "-q").CombinedOutput(); err != nil {
		t.Fatalf("local run: %v\n%s", err, b)
	}
	m, err := manifest.Read(filepath.Join(local2, "runs", "latest"))
	require.NoError(t, err)
	runs, err := manifest.List(shared)
	require.NoError(t, err)
	var full *manifest.Manifest
	for _, r := range runs {
		if r.SpecHash == m.SpecHash && r.StageCount == len(plan.Order) && r.CacheHits == r.StageCount {
			full = r // the finishing job: every stage from the cache the stage jobs filled
		}
	}
	require.NotNil(t, full, "no complete run manifest from the finishing job")
	for i, s := range m.Stages {
		assert.Equal(t, s.Artifact.Digest, full.Stages[i].Artifact.Digest, "stage %q", s.ID)
	}
}

// waitJobs polls Slurm until every job of sub completed, failing on a failed one.
func waitJobs(ctx context.Context, t *testing.T, sub *Submission) {
	t.Helper()
	for _, j := range sub.Jobs {
		require.NotEmpty(t, j.ID, j.Name)
	}
	final := sub.Jobs[len(sub.Jobs)-1]
	for {
		states, err := sub.Status(ctx)
		require.NoError(t, err)
		done := true
		for _, s := range states {
			if failed(s.State) {
				t.Fatalf("Slurm job %s (%s) %s: %s\n%s", s.ID, s.Job, s.State, s.Message, s.LogTail)
			}
			if s.State != "COMPLETED" {
				done = false
			}
		}
		if done {
			break
		}
		if ctx.Err() != nil {
			var b bytes.Buffer
			for _, s := range states {
				b.WriteString(s.ID + " " + s.Job + " " + s.State + " " + s.Reason + "\n")
			}
			_ = exec.Command("scancel", sub.Jobs[0].ID, final.ID).Run()
			t.Fatalf("Slurm jobs not done after 8 minutes:\n%s", b.String())
		}
		time.Sleep(time.Second)
	}
}

func goexperiment() string {
	out, _ := exec.Command("go", "env", "GOEXPERIMENT").Output()
	return strings.TrimSpace(string(out))
}
