package main

import (
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func samples(perS ...float64) []sample {
	var out []sample
	for i, v := range perS {
		out = append(out, sample{kv: map[string]string{
			"per_s": ftoa(v), "per_cpu_s": ftoa(1000 - v), "params": "100", "params_extra": "4", "steps": "40",
		}, rss: float64(10 * (i + 1))})
	}
	return out
}

func ftoa(v float64) string { return strconv.FormatFloat(v, 'f', -1, 64) }

// TestSummarize: each side keeps its best round, wall and CPU figures separately; peak RSS is
// the largest of the rounds; parameter counts are checked.
func TestSummarize(t *testing.T) {
	r := summarize("cnn", "train", "pytorch-cpu", "images", samples(500, 700, 600), samples(400, 350, 450))
	assert.Equal(t, 700.0, r.Biopipe)
	assert.Equal(t, 450.0, r.Pytorch)
	assert.InDelta(t, 700.0/450, r.Ratio, 1e-12)
	assert.Equal(t, 500.0, r.GoCPU) // 1000-500: the best CPU figure is another round's
	assert.Equal(t, 650.0, r.PeerCPU)
	assert.Equal(t, 30.0, r.GoRSS)
	assert.Equal(t, 3, r.Rounds)

	gs, ps := samples(1), samples(1)
	for _, c := range []struct {
		goParams, ptParams string
		note               string
	}{
		{"100", "100", ""},
		{"96", "100", "two bias vectors"},
		{"90", "100", "PARAMETER COUNTS DIFFER"},
	} {
		gs[0].kv["params"], ps[0].kv["params"] = c.goParams, c.ptParams
		r := summarize("lstm", "train", "pytorch-cpu", "examples", gs, ps)
		finish(&r, options{threads: 2}, gs, ps)
		if c.note == "" {
			assert.Empty(t, r.Note)
		} else {
			assert.Contains(t, r.Note, c.note)
		}
	}
}

// TestRunTable: the csv figures come from bench/table's last line, peak RSS from its line.
func TestRunTable(t *testing.T) {
	dir := t.TempDir()
	script := func(body string) string {
		p := filepath.Join(dir, "table.sh")
		require.NoError(t, os.WriteFile(p, []byte("#!/bin/sh\n"+body), 0o755))
		return p
	}
	res, err := runTable(os.Environ(), script("echo 'file: 100000 rows'\necho 'peak RSS: biopipe 75.5 MiB, pandas 150.0 MiB'\necho 'csv 300000.0 100000.0 3.00x'\n"))
	require.NoError(t, err)
	assert.Equal(t, 300000.0, res.Biopipe)
	assert.Equal(t, 100000.0, res.Pytorch)
	assert.InDelta(t, 3.0, res.Ratio, 1e-12)
	assert.Equal(t, 75.5, res.GoRSS)
	assert.Equal(t, 150.0, res.PeerRSS)

	_, err = runTable(os.Environ(), script("echo 'ratio biopipe/pandas: 1.1'\n"))
	assert.ErrorContains(t, err, "is not `csv <biopipe rows/s>")
}

// TestChildTimeout: a benchmark process that hangs is killed and named.
func TestChildTimeout(t *testing.T) {
	old := childTimeout
	childTimeout = 200 * time.Millisecond
	defer func() { childTimeout = old }()
	_, err := runChild(os.Environ(), "/bin/sleep", "5")
	assert.ErrorContains(t, err, "sleep 5: killed after 200ms")
}
