package main

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestValidateFusionEncoderPositions: a mistake inside a fusion encoder block is checked
// against that encoder's family and points at its own line and column.
func TestValidateFusionEncoderPositions(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "fusion.yaml")
	require.NoError(t, os.WriteFile(p, []byte(`name: fusion-typos
stages:
  - id: load
    kind: ingest.table
    with: {path: data.csv, label: y}
  - id: train
    kind: train
    inputs: [load]
    with:
      model: fusion
      encoders:
        scan:
          model: cnn
          columns: [image]
          chanels: [8, 16]
        clinical:
          model: mlp
          columns: [age]
          dropout: 2
        seq:
          model: vae
          columns: [dna]
`), 0o644))
	out, code := execute(t, "validate", p)
	assert.Equal(t, exitUsage, code, out)
	assert.Contains(t, out, `fusion.yaml:15:20: stage "train": field "encoders.scan.chanels": model "fusion": encoder "scan" (model "cnn"): unknown field (did you mean "channels"?)`)
	assert.Contains(t, out, `fusion.yaml:19:20: stage "train": field "encoders.clinical.dropout": model "fusion": encoder "clinical" (model "mlp"): 2 is above the maximum 0.95`)
	assert.Contains(t, out, `fusion.yaml:21:18: stage "train": field "encoders.seq.model": model "fusion": model "vae" cannot be an encoder: it is a reconstruction model`)
}
