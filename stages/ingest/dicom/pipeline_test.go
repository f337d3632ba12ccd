package dicom_test

import (
	"bytes"
	"context"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/biopipe/biopipe/contract"
	"github.com/biopipe/biopipe/dataset"
	"github.com/biopipe/biopipe/evaluation"
	biodicom "github.com/biopipe/biopipe/io/dicom"
	"github.com/biopipe/biopipe/io/dicom/dicomgen"
	"github.com/biopipe/biopipe/pipelines"
	_ "github.com/biopipe/biopipe/stages/all"
)

const pipelineYAML = `name: dicom-deid
seed: 3
stages:
  - id: scans
    kind: ingest.dicom
    with:
      path: ../../../testdata/dicom/ct-lesions
      labels: ../../../testdata/dicom/ct-lesions/labels.csv
      window: soft_tissue
      size: [16, 16]
      salt: test-salt
  - id: split
    kind: transform.split
    inputs: [scans]
    with: {strategy: group, test: 0.25, val: 0.15}
  - id: train
    kind: train
    inputs: [split]
    with: {model: mlp, hidden: [16], epochs: 3, batch_size: 64}
  - id: eval
    kind: evaluate
    inputs: [train, split]
  - id: report
    kind: report
    inputs: [eval]
`

// TestPipelineWorkDirHasNoPHI runs ingest -> group split -> train -> evaluate -> report on
// the committed study set, then scans every file under the work dir (artifacts, manifests,
// reports, figures) for every identifying value found in the input files.
func TestPipelineWorkDirHasNoPHI(t *testing.T) {
	if _, err := contract.Default.Get("report"); err != nil {
		t.Skip("report stage not registered yet")
	}
	dir := t.TempDir()
	spec := filepath.Join(dir, "pipeline.yaml")
	abs, err := filepath.Abs("../../../testdata/dicom/ct-lesions")
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(spec, []byte(strings.ReplaceAll(pipelineYAML, "../../../testdata/dicom/ct-lesions", abs)), 0o644))
	src, err := pipelines.Load(spec, nil)
	require.NoError(t, err)
	plan, err := pipelines.Validate(src, contract.Default)
	require.NoError(t, err)
	work := filepath.Join(dir, "work")
	_, err = pipelines.Run(context.Background(), plan, pipelines.Options{WorkDir: work, Jobs: 2})
	require.NoError(t, err)

	// identifying values, read from the inputs with io/dicom (independently of the generator)
	phi := map[string]bool{}
	require.NoError(t, filepath.WalkDir(abs, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(p, ".dcm") {
			return err
		}
		h, err := biodicom.ReadHeader(p)
		require.NoError(t, err)
		for _, v := range append(h.PHI, h.SOPInstanceUID, h.SeriesInstanceUID, h.StudyInstanceUID) {
			phi[v] = true
			for _, part := range strings.Split(v, "^") {
				if len(part) >= 4 {
					phi[part] = true
				}
			}
		}
		return nil
	}))
	require.NotEmpty(t, phi)
	var splitFile string
	files := 0
	require.NoError(t, filepath.WalkDir(work, func(p string, d os.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		files++
		b, err := os.ReadFile(p)
		require.NoError(t, err)
		for v := range phi {
			if bytes.Contains(b, []byte(v)) {
				t.Errorf("%s contains the identifying value %q", p, v)
			}
		}
		if filepath.Base(p) == contract.DataFile && splitFile == "" {
			if f, err := dataset.ReadFile(p); err == nil && f.Split() != nil {
				splitFile = p
			}
		}
		return nil
	}))
	assert.Greater(t, files, 5)
	t.Logf("scanned %d files under the work dir for %d identifying values", files, len(phi))

	// the group split keeps each patient's slices in one split
	require.NotEmpty(t, splitFile)
	f, err := dataset.ReadFile(splitFile)
	require.NoError(t, err)
	where := map[string]string{}
	for i := 0; i < f.NumRows(); i++ {
		p, s := f.Group().S[i], f.Split().S[i]
		if prev, ok := where[p]; ok {
			require.Equal(t, prev, s, "patient %s in two splits", p)
		}
		where[p] = s
	}
	assert.Len(t, where, 12)
}

// TestTwoPatientsGroupSplit is the degenerate run from issue 15: 20 images of 2 patients,
// a group split with test 0.5 and val 0, so each split holds one patient. It used to train
// and then fail in evaluate with "json: unsupported value: NaN"; now every undefined
// metric is null with its reason in metrics.json and "n/a (reason)" in the report. A
// threshold of 1 makes the predictions constant (PPV undefined) whatever the model learnt.
func TestTwoPatientsGroupSplit(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	_, err := dicomgen.WriteStudySet(data, dicomgen.StudyOptions{Patients: 2, SeriesPerPatient: 2, Slices: 5, Size: 32})
	require.NoError(t, err)
	spec := filepath.Join(dir, "pipeline.yaml")
	require.NoError(t, os.WriteFile(spec, []byte(strings.ReplaceAll(`name: two-patients
seed: 1
stages:
  - {id: scans, kind: ingest.dicom, with: {path: data, labels: data/labels.csv, window: soft_tissue, size: [16, 16], salt: s}}
  - {id: split, kind: transform.split, inputs: [scans], with: {strategy: group, test: 0.5, val: 0}}
  - {id: train, kind: train, inputs: [split], with: {model: mlp, hidden: [8], epochs: 2, batch_size: 8}}
  - {id: eval, kind: evaluate, inputs: [train, split], with: {threshold_value: 1}}
  - {id: report, kind: report, inputs: [eval]}
`, "data", data)), 0o644))
	src, err := pipelines.Load(spec, nil)
	require.NoError(t, err)
	plan, err := pipelines.Validate(src, contract.Default)
	require.NoError(t, err)
	m, err := pipelines.Run(context.Background(), plan, pipelines.Options{WorkDir: filepath.Join(dir, "work"), Jobs: 1})
	require.NoError(t, err)
	var evalDir, reportDir string
	for _, s := range m.Stages {
		require.Equal(t, "ok", s.Status, "stage %s: %s", s.ID, s.Error)
		switch s.ID {
		case "eval":
			evalDir = s.Artifact.Dir
		case "report":
			reportDir = s.Artifact.Dir
		}
	}
	res, err := evaluation.ReadResult(evalDir)
	require.NoError(t, err)
	undefined := 0
	for split, s := range res.PerSplit {
		for name, iv := range s.Metrics {
			if math.IsNaN(iv.Value) {
				undefined++
				assert.NotEmpty(t, iv.Reason, "%s %s", split, name)
			}
		}
	}
	assert.Positive(t, undefined, "one patient (one series per class) per split leaves some metric undefined")
	md, err := os.ReadFile(filepath.Join(reportDir, contract.ReportMD))
	require.NoError(t, err)
	assert.Contains(t, string(md), "n/a (")
	assert.NotContains(t, string(md), "NaN")
}
