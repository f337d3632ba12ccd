package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/biopipe/biopipe/internal/scaffold"
)

func TestInit(t *testing.T) {
	out, code := execute(t, "init", "--list")
	require.Equal(t, exitOK, code, out)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	require.Len(t, lines, len(scaffold.Templates()), "one line per template")
	for i, tm := range scaffold.Templates() {
		assert.True(t, strings.HasPrefix(lines[i], tm.Name+" "), lines[i])
	}

	out, code = execute(t, "init", "--template", "tabular", t.TempDir())
	assert.Equal(t, exitUsage, code)
	assert.Contains(t, out, `did you mean "tabular-ehr"?`)

	out, code = execute(t, "init", t.TempDir())
	assert.Equal(t, exitUsage, code, out)

	dir := filepath.Join(t.TempDir(), "proj")
	out, code = execute(t, "init", "--template", "tabular-ehr", dir)
	require.Equal(t, exitOK, code, out)
	assert.Contains(t, out, "biopipe run pipeline.yaml")
	for _, f := range []string{"pipeline.yaml", "README.md", ".gitignore", "data/README.md", "data/breast_cancer.csv"} {
		_, err := os.Stat(filepath.Join(dir, f))
		assert.NoError(t, err, f)
	}
	out, code = execute(t, "validate", filepath.Join(dir, "pipeline.yaml"))
	require.Equal(t, exitOK, code, out)

	out, code = execute(t, "init", "--template", "tabular-ehr", dir)
	assert.Equal(t, exitFailed, code, "an existing project is never overwritten")
	assert.Contains(t, out, "not empty")

	got, _ := completions(t, "init", "--template", "e")
	assert.Equal(t, []string{"eeg-lstm", "expression-vae"}, got)
}
