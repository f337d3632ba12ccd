package signal_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/biopipe/biopipe/contract"
	"github.com/biopipe/biopipe/dataset"
	"github.com/biopipe/biopipe/pipelines"
	_ "github.com/biopipe/biopipe/stages/all"
	"github.com/biopipe/biopipe/testdata/gen/eeggen"
)

// TestSignalsThroughTheEngine runs the data side of the EEG example through the pipeline
// engine: signals artifacts between stages, a folder input, a subject-wise split and the
// per-channel standardisation, then a re-run that is all cache hits.
func TestSignalsThroughTheEngine(t *testing.T) {
	dir := t.TempDir()
	o := eeggen.Default()
	o.Subjects, o.Events = 4, 10
	require.NoError(t, eeggen.Generate(filepath.Join(dir, "eeg"), o))
	yaml := `name: eeg-data
seed: 3
stages:
  - id: eeg
    kind: ingest.signals
    with: {files: [eeg], channels: [C3, C4, O1, O2]}
  - id: filtered
    kind: transform.filter
    inputs: [eeg]
    with: {low: 1, high: 40, notch: [50]}
  - id: r64
    kind: transform.resample
    inputs: [filtered]
    with: {rate: 64}
  - id: car
    kind: transform.reference
    inputs: [r64]
  - id: epochs
    kind: transform.epoch
    inputs: [car]
    with: {tmin: 0, tmax: 1, event_map: {T1: alpha, T2: beta}, reject: 400}
  - id: split
    kind: transform.split
    inputs: [epochs]
    with: {strategy: group, test: 0.25, val: 0.25}
  - id: scale
    kind: transform.standardize_channels
    inputs: [split]
`
	file := filepath.Join(dir, "p.yaml")
	require.NoError(t, os.WriteFile(file, []byte(yaml), 0o644))
	src, err := pipelines.Load(file, nil)
	require.NoError(t, err)
	plan, err := pipelines.Validate(src, contract.Default)
	require.NoError(t, err)
	work := filepath.Join(dir, "work")
	m, err := pipelines.Run(context.Background(), plan, pipelines.Options{WorkDir: work})
	require.NoError(t, err)
	assert.Equal(t, 0, m.CacheHits)
	// Find the scaled table in the store and check its shape and subject-wise split.
	var f *dataset.Frame
	require.NoError(t, filepath.WalkDir(work, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || d.Name() != contract.DataFile {
			return err
		}
		g, err := dataset.ReadFile(p)
		if err == nil && g.Col("x") != nil && g.Col("x").Meta["biopipe.channel_mean"] != "" {
			f = g
		}
		return nil
	}))
	require.NotNil(t, f, "standardised epoch table in the store")
	assert.Equal(t, 40, f.NumRows())
	assert.Equal(t, []int{64, 4}, f.Col("x").Shape)
	splitOf := map[string]string{}
	for r := 0; r < f.NumRows(); r++ {
		subj, sp := f.Group().S[r], f.Split().S[r]
		if prev, ok := splitOf[subj]; ok {
			require.Equal(t, prev, sp, "subject %s in two splits", subj)
		}
		splitOf[subj] = sp
	}
	m, err = pipelines.Run(context.Background(), plan, pipelines.Options{WorkDir: work})
	require.NoError(t, err)
	assert.Equal(t, m.StageCount, m.CacheHits)
}
