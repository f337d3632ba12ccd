package main

import (
	"bytes"
	"image/png"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestLRFind runs the range test on the quickstart's train stage: the upstream stages run,
// the plot is a PNG and the suggested rate lies in the tested range.
func TestLRFind(t *testing.T) {
	t.Chdir("../..")
	dir := t.TempDir()
	out, code := execute(t, "lr-find", "configs/quickstart.yaml", "--workdir", filepath.Join(dir, "wd"),
		"--out", filepath.Join(dir, "lr.png"), "--min", "1e-5", "--max", "10", "--steps", "40", "-q")
	require.Equal(t, exitOK, code, out)
	m := regexp.MustCompile(`suggested learning_rate: (\S+)`).FindStringSubmatch(out)
	require.Len(t, m, 2, out)
	lr, err := strconv.ParseFloat(m[1], 64)
	require.NoError(t, err)
	assert.True(t, lr >= 1e-5 && lr <= 10, "suggested %v", lr)
	b, err := os.ReadFile(filepath.Join(dir, "lr.png"))
	require.NoError(t, err)
	_, err = png.Decode(bytes.NewReader(b))
	require.NoError(t, err)

	out, code = execute(t, "lr-find", "configs/xor.yaml", "--workdir", filepath.Join(dir, "wd2"), "-q")
	assert.Equal(t, exitUsage, code)
	assert.Contains(t, out, "2 train stages (train_perceptron, train_mlp): choose one with --stage")
}
