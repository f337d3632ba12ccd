package main

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var update = flag.Bool("update", false, "rewrite golden files")

// execute runs the CLI in-process and returns stdout and the exit code.
func execute(t *testing.T, args ...string) (string, int) {
	t.Helper()
	root := newRootCmd()
	var out bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&out)
	root.SetArgs(args)
	err := root.Execute()
	if err != nil {
		out.WriteString("error: " + err.Error() + "\n")
	}
	return out.String(), exitCodeQuiet(err)
}

func exitCodeQuiet(err error) int {
	stderr := os.Stderr
	os.Stderr, _ = os.Open(os.DevNull)
	defer func() { os.Stderr = stderr }()
	return exitCode(err)
}

func golden(t *testing.T, name, got string) {
	t.Helper()
	p := filepath.Join("testdata", name+".golden")
	if *update {
		require.NoError(t, os.WriteFile(p, []byte(got), 0o644))
	}
	want, err := os.ReadFile(p)
	require.NoError(t, err, "run go test ./cmd/biopipe -update to create golden files")
	assert.Equal(t, string(want), got)
}

func TestValidateReportsEveryErrorWithPositions(t *testing.T) {
	out, code := execute(t, "validate", "testdata/typo.yaml")
	assert.Equal(t, exitUsage, code)
	golden(t, "validate_typo", out)
	assert.Contains(t, out, `testdata/typo.yaml:11:7: stage "train": field "epoch": unknown field (did you mean "epochs"?)`)
}

func TestValidateOK(t *testing.T) {
	t.Chdir("../..") // the example's data path is relative to the repository root, where it runs
	out, code := execute(t, "validate", "configs/quickstart.yaml")
	assert.Equal(t, exitOK, code, out)
	assert.Contains(t, out, "ok (6 stages: load -> split -> scale -> train -> eval -> report)")
}

func TestGraph(t *testing.T) {
	out, code := execute(t, "graph", "../../configs/quickstart.yaml")
	require.Equal(t, exitOK, code, out)
	golden(t, "graph_quickstart_dot", out)
	out, code = execute(t, "graph", "--format", "mermaid", "../../configs/quickstart.yaml")
	require.Equal(t, exitOK, code, out)
	golden(t, "graph_quickstart_mermaid", out)
}

func TestStagesDocs(t *testing.T) {
	out, code := execute(t, "stages")
	require.Equal(t, exitOK, code)
	for _, k := range []string{"ingest.table", "transform.split", "train", "evaluate", "report"} {
		assert.Contains(t, out, k)
	}
	out, code = execute(t, "stages", "transform.split")
	require.Equal(t, exitOK, code)
	golden(t, "stages_split", out)
	out, code = execute(t, "stages", "trian")
	assert.Equal(t, exitUsage, code)
	assert.Contains(t, out, `did you mean "train"?`)
}

func TestUsageErrors(t *testing.T) {
	for _, args := range [][]string{{"run"}, {"validate", "a", "b"}, {"run", "x.yaml", "--no-such-flag"}} {
		_, code := execute(t, args...)
		assert.Equal(t, exitUsage, code, strings.Join(args, " "))
	}
	out, code := execute(t, "run", "testdata/typo.yaml")
	assert.Equal(t, exitUsage, code, out)
}

func TestRunShowRunsInspect(t *testing.T) {
	wd := t.TempDir()
	// Run from the repository root so the config's relative data path resolves as in the README.
	cwd, _ := os.Getwd()
	require.NoError(t, os.Chdir("../.."))
	defer os.Chdir(cwd)
	out, code := execute(t, "run", "configs/quickstart.yaml", "--workdir", wd, "-q", "--set", "stages.train.with.epochs=3")
	require.Equal(t, exitOK, code, out)
	assert.Contains(t, out, "(6 stages, 0 cached")
	out, code = execute(t, "run", "configs/quickstart.yaml", "--workdir", wd, "-q", "--set", "stages.train.with.epochs=3")
	require.Equal(t, exitOK, code, out)
	assert.Contains(t, out, "(6 stages, 6 cached")
	out, code = execute(t, "runs", "--workdir", wd)
	require.Equal(t, exitOK, code, out)
	assert.Equal(t, 2, strings.Count(out, "breast-cancer-mlp"))
	out, code = execute(t, "show", "--workdir", wd)
	require.Equal(t, exitOK, code, out)
	assert.Contains(t, out, "pipeline breast-cancer-mlp")
	out, code = execute(t, "inspect", "testdata/ehr/breast_cancer.csv", "--json")
	require.Equal(t, exitOK, code, out)
	assert.Contains(t, out, `"mean radius"`)
	_, code = execute(t, "run", "configs/quickstart.yaml", "--workdir", wd, "--force", "nosuch")
	assert.Equal(t, exitUsage, code)
}

func TestReportRegenerate(t *testing.T) {
	wd := t.TempDir()
	cwd, _ := os.Getwd()
	require.NoError(t, os.Chdir("../.."))
	defer os.Chdir(cwd)
	out, code := execute(t, "run", "configs/quickstart.yaml", "--workdir", wd, "-q", "--set", "stages.train.with.epochs=3")
	require.Equal(t, exitOK, code, out)
	latest, err := filepath.EvalSymlinks(filepath.Join(wd, "runs", "latest"))
	require.NoError(t, err)
	require.NoError(t, os.Remove(filepath.Join(latest, "report.html")))
	out, code = execute(t, "report", "--workdir", wd)
	require.Equal(t, exitOK, code, out)
	assert.FileExists(t, filepath.Join(latest, "report.html"))
}

func TestInspectAsExpression(t *testing.T) {
	p := filepath.Join(t.TempDir(), "m.tsv")
	require.NoError(t, os.WriteFile(p, []byte("gene\tS1\tS2\tS3\nG1\t0\t5\t1\nG2\t3\t0\t0\n"), 0o644))
	out, code := execute(t, "inspect", p, "--as", "expression")
	require.Equal(t, exitOK, code, out)
	assert.Contains(t, out, "3 samples x 2 genes")
	assert.Contains(t, out, "S1=3, S2=5, S3=1")
	out, code = execute(t, "inspect", p)
	require.Equal(t, exitOK, code, out)
	assert.Contains(t, out, "S3", "read as a table by default")
	_, code = execute(t, "inspect", p, "--as", "nope")
	assert.Equal(t, exitUsage, code)
}

func TestInspectSequences(t *testing.T) {
	out, code := execute(t, "inspect", "../../testdata/splice/splice.fa.gz")
	require.Equal(t, exitOK, code, out)
	assert.Contains(t, out, "FASTA, 3186 records, 191160 residues")
	assert.Contains(t, out, "alphabet:  dna (letters ACGT)")
	assert.Contains(t, out, "GC:        52.6%")
	out, code = execute(t, "inspect", "../../io/seq/testdata/biostrings/s_1_sequence.txt.gz", "--as", "sequence", "--json")
	require.Equal(t, exitOK, code, out)
	assert.Contains(t, out, `"quality_offset": 64`)
	assert.Contains(t, out, `"records": 256`)
}

func TestInspectNIfTI(t *testing.T) {
	out, code := execute(t, "inspect", "../../io/nifti/testdata/functional.nii")
	require.Equal(t, exitOK, code, out)
	assert.Contains(t, out, "NIfTI-1, int16 (16 bits), 17 x 21 x 3 x 20 voxels")
	assert.Contains(t, out, "orientation: LAS")
	out, code = execute(t, "inspect", "../../io/nifti/testdata/example_nifti2.nii.gz", "--json")
	require.Equal(t, exitOK, code, out)
	assert.Contains(t, out, `"version": 2`)
}
