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
		name  string
		yaml  string
		want  []string          // fragments of the errors, each after "pipeline.yaml:LINE:COL: "
		files map[string]string // written into the test's folder (DIR in yaml)
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
		}, nil},
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
		}, nil},
		{"CSV and raw recordings", `name: c
stages:
  - id: csvrec
    kind: ingest.signals
    with: {files: [DIR/a.csv, DIR/b.csv], channels: [Fz, Pz], csv: {sample_rate: 100, time_column: tme}, salt: x}
  - id: rawrec
    kind: ingest.signals
    with: {files: [DIR/c.bin], channels: [ECG, EMG], raw: {channels: 2, channel_names: [ECG, EOG], sample_rate: 100}, salt: x}
`, []string{
			`stage "csvrec": field "csv.time_column": time column "tme" not found in a.csv (did you mean "time"?)`,
			`stage "csvrec": field "channels.1": channel "Pz" not found in b.csv (did you mean "Fz"?)`,
			`stage "rawrec": field "channels.1": channel "EMG" not found in c.bin (did you mean "ECG"?)`,
		}, map[string]string{
			"a.csv": "time,Fz,Pz\n0,1,2\n0.01,1,2\n",
			"b.csv": "time,Fz,Cz\n0,1,2\n0.01,1,2\n",
			"c.bin": "\x00\x01\x00\x02",
		}},
		{"DICOM labels join key", `name: d
stages:
  - id: scans
    kind: ingest.dicom
    with: {path: ROOT/testdata/dicom/ct-lesions, labels: ROOT/testdata/dicom/ct-lesions/labels.csv, join_on: sop_instance_uid, key_column: sop_uid, label_column: lable}
`, []string{
			`stage "scans": field "key_column": join key column "sop_uid" not found in labels.csv (has: path, sop_instance_uid, series_instance_uid, patient_id, label)`,
			`stage "scans": field "label_column": label column "lable" not found in labels.csv (did you mean "label"?)`,
		}, nil},
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
		}, nil},
		{"missing file", `name: m
stages:
  - id: load
    kind: ingest.table
    with: {path: ehr/no-such.csv, label: target}
`, []string{`:5:18: stage "load": field "path": ehr/no-such.csv: no such file or folder (looked in the working directory and in `}, nil},
	}
	pos := regexp.MustCompile(`^\S*pipeline\.yaml:\d+:\d+: `)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			for name, body := range tc.files {
				require.NoError(t, os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644))
			}
			spec := filepath.Join(dir, "pipeline.yaml")
			yaml := strings.ReplaceAll(strings.ReplaceAll(tc.yaml, "ROOT", root), "DIR", dir)
			require.NoError(t, os.WriteFile(spec, []byte(yaml), 0o644))
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
