package main

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// completions runs cobra's hidden __complete command (what the shell scripts call) and returns
// the candidates (descriptions dropped) and the directive line.
func completions(t *testing.T, args ...string) ([]string, string) {
	t.Helper()
	out, code := execute(t, append([]string{"__complete"}, args...)...)
	require.Equal(t, exitOK, code, out)
	var cands []string
	directive := ""
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		switch {
		case strings.HasPrefix(line, ":"):
			directive = line
		case strings.HasPrefix(line, "Completion ended"):
		case line != "":
			c, _, _ := strings.Cut(line, "\t")
			cands = append(cands, c)
		}
	}
	return cands, directive
}

func TestCompletion(t *testing.T) {
	const qs = "../../configs/quickstart.yaml"
	const eeg = "../../configs/eeg-lstm.yaml"
	tests := []struct {
		name    string
		args    []string
		want    []string // exactly these candidates, in this order
		has     []string // at least these
		hasNot  []string
		noSpace bool
	}{
		{name: "stage kinds", args: []string{"stages", "transform.st"},
			want: []string{"transform.standardize", "transform.standardize_channels"}},
		{name: "only the first argument is a kind", args: []string{"stages", "train", ""}, want: nil},
		{name: "model families", args: []string{"stages", "train", "--model", "cnn"},
			want: []string{"cnn", "cnn1d"}},
		{name: "stage ids for --force from the file", args: []string{"run", qs, "--force="},
			want: []string{"load", "split", "scale", "train", "eval", "report"}},
		{name: "--force completes the last of a list", args: []string{"run", qs, "--force=load,tr"},
			want: []string{"load,train"}},
		{name: "no file, no stage ids", args: []string{"run", "--force="}, want: nil},
		{name: "--set top level and vars", args: []string{"run", qs, "--set", "v"},
			want: []string{"vars.data="}, noSpace: true},
		{name: "--set nested optimizer fields", args: []string{"run", qs, "--set", "stages.train.with.optimizer.l"},
			want: []string{"stages.train.with.optimizer.learning_rate="}, noSpace: true},
		{name: "--set train fields of the stage's family only", args: []string{"validate", eeg, "--set", "stages.train.with."},
			has:    []string{"stages.train.with.epochs=", "stages.train.with.units=", "stages.train.with.bidirectional="},
			hasNot: []string{"stages.train.with.latent_dim=", "stages.train.with.global_pool="}, noSpace: true},
		{name: "--set other kinds' fields", args: []string{"run", eeg, "--set", "stages.filtered.with.notch_"},
			want: []string{"stages.filtered.with.notch_width=", "stages.filtered.with.notch_order="}, noSpace: true},
		{name: "--set values of an enum field", args: []string{"run", qs, "--set", "stages.train.with.optimizer.name=adam"},
			want: []string{"stages.train.with.optimizer.name=adam", "stages.train.with.optimizer.name=adamw"}},
		{name: "--set backend values", args: []string{"run", qs, "--set", "backend=xla"},
			want: []string{"backend=xla:cpu", "backend=xla:cuda"}},
		{name: "--set on a missing file", args: []string{"run", "nope.yaml", "--set", "stages."}, want: nil, noSpace: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, directive := completions(t, tc.args...)
			if tc.has == nil {
				assert.Equal(t, tc.want, got)
			}
			for _, h := range tc.has {
				assert.Contains(t, got, h)
			}
			for _, h := range tc.hasNot {
				assert.NotContains(t, got, h)
			}
			if tc.noSpace {
				assert.Equal(t, ":6", directive, "NoSpace|NoFileComp: a path is followed by its value")
			} else {
				assert.Equal(t, ":4", directive, "NoFileComp")
			}
		})
	}
}

func TestCompletionScripts(t *testing.T) {
	for _, shell := range []string{"bash", "zsh", "fish"} {
		out, code := execute(t, "completion", shell)
		require.Equal(t, exitOK, code, out)
		assert.Contains(t, out, "__complete", shell)
		assert.Contains(t, out, "biopipe", shell)
	}
}

func TestStagesTrainModel(t *testing.T) {
	out, code := execute(t, "stages", "train", "--model", "cnn")
	require.Equal(t, exitOK, code, out)
	golden(t, "stages_train_cnn", out)
	assert.Contains(t, out, "global_pool")
	assert.NotContains(t, out, "latent_dim", "another family's param")
	assert.NotContains(t, out, "[cnn]", "params are shown as the family declares them, not as the union")

	out, code = execute(t, "stages", "train", "--model", "cnm")
	assert.Equal(t, exitUsage, code)
	assert.Contains(t, out, `did you mean "cnn"?`)

	out, code = execute(t, "stages", "evaluate", "--model", "cnn")
	assert.Equal(t, exitUsage, code)
	assert.Contains(t, out, "biopipe stages train --model cnn")
}

func TestRunForceNeedsEquals(t *testing.T) {
	out, code := execute(t, "run", "../../configs/quickstart.yaml", "--force", "train")
	assert.Equal(t, exitUsage, code)
	assert.Contains(t, out, "write --force=train")
}
