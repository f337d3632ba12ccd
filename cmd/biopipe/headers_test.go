package main

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestValidateChecksDataHeaders: `biopipe validate` and `biopipe run` check the names a
// pipeline gives against the headers of its data, in every family, before anything runs:
// each wrong name is an error at its YAML field (file:line:col) with a "did you mean".
func TestValidateChecksDataHeaders(t *testing.T) {
	root, err := filepath.Abs("../..")
	require.NoError(t, err)
	tests := []struct {
		name string
		yaml string
		want []string // fragments of the errors, each after "pipeline.yaml:LINE:COL: "
	}{
		{"table columns", `name: t
stages:
  - id: load
    kind: ingest.table
    with:
      path: ROOT/testdata/ehr/breast_cancer.csv
      label: targt
      id: patient_id
      drop: [mean radius, worst radios]
      types: {mean_area: float}
`, []string{
			`:7:14: stage "load": field "label": label column "targt" not found in breast_cancer.csv (did you mean "target"?)`,
			`:8:11: stage "load": field "id": id column "patient_id" not found in breast_cancer.csv`,
			`:9:27: stage "load": field "drop.1": column "worst radios" not found in breast_cancer.csv (did you mean "worst radius"?)`,
			`:10:26: stage "load": field "types.mean_area": typed column "mean_area" not found in breast_cancer.csv (did you mean "mean area"?)`,
		}},
		{"EDF channels, downstream reference", `name: s
stages:
  - id: eeg
    kind: ingest.signals
    with: {files: [ROOT/testdata/eeg/sub-01.edf, ROOT/testdata/eeg/sub-02.edf], channels: [C3, C5, "O*"], salt: x}
  - id: ref
    kind: transform.reference
    inputs: [eeg]
    with: {ref: [O1, "02"]}
  - id: filt
    kind: transform.filter
    inputs: [ref]
    with: {low: 1, channels: [O1]}
`, []string{
			`stage "eeg": field "channels.1": channel "C5" not found in 2 files (sub-01.edf, sub-02.edf ...) (did you mean "C3"?)`,
			`:9:22: stage "ref": field "ref.1": reference channel "02" not found in the upstream recordings (did you mean "O2"?)`,
			// the named reference O1 is dropped (drop_ref), so a later stage cannot pick it
			`:13:31: stage "filt": field "channels.0": channel "O1" not found in the upstream recordings (did you mean "O2"?)`,
		}},
		{"DICOM labels join key", `name: d
stages:
  - id: scans
    kind: ingest.dicom
    with: {path: ROOT/testdata/dicom/ct-lesions, labels: ROOT/testdata/dicom/ct-lesions/labels.csv, join_on: sop_instance_uid, key_column: sop_uid, label_column: lable}
`, []string{
			`stage "scans": field "key_column": join key column "sop_uid" not found in labels.csv (has: path, sop_instance_uid, series_instance_uid, patient_id, label)`,
			`stage "scans": field "label_column": label column "lable" not found in labels.csv (did you mean "label"?)`,
		}},
		{"expression annotation", `name: e
stages:
  - id: load
    kind: ingest.expression
    with:
      path: ROOT/testdata/expr/sim10x
      annotation: ROOT/testdata/expr/sim10x-cells.csv
      sample_column: barcodes
      label: celltype
      group: donr
`, []string{
			`:8:22: stage "load": field "sample_column": sample id column "barcodes" not found in sim10x-cells.csv (did you mean "barcode"?)`,
			`:9:14: stage "load": field "label": label column "celltype" not found in sim10x-cells.csv (did you mean "cell_type"?)`,
			`:10:14: stage "load": field "group": group column "donr" not found in sim10x-cells.csv (did you mean "donor"?)`,
		}},
		{"missing file", `name: m
stages:
  - id: load
    kind: ingest.table
    with: {path: ehr/no-such.csv, label: target}
`, []string{`:5:18: stage "load": field "path": ehr/no-such.csv: no such file or folder (looked in the working directory and in `}},
	}
	pos := regexp.MustCompile(`^\S*pipeline\.yaml:\d+:\d+: `)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			spec := filepath.Join(dir, "pipeline.yaml")
			require.NoError(t, os.WriteFile(spec, []byte(strings.ReplaceAll(tc.yaml, "ROOT", root)), 0o644))
			for _, cmd := range []string{"validate", "run"} {
				out, code := execute(t, cmd, spec, "--workdir", filepath.Join(dir, "work"))
				if cmd == "validate" {
					out, code = execute(t, cmd, spec)
				}
				assert.Equal(t, exitUsage, code, "%s: %s", cmd, out)
				for _, w := range tc.want {
					assert.Contains(t, out, w, cmd)
				}
				lines := strings.Split(strings.TrimSpace(strings.TrimPrefix(out, "error: ")), "\n")
				assert.Len(t, lines, len(tc.want), "%s: one line per mistake:\n%s", cmd, out)
				for _, l := range lines {
					assert.Regexp(t, pos, l, "%s: every error is positioned", cmd)
				}
			}
			for _, sub := range []string{"runs", "store"} {
				_, err := os.Stat(filepath.Join(dir, "work", sub))
				assert.True(t, os.IsNotExist(err), "run stopped before any stage (no %s/)", sub)
			}
		})
	}
}
