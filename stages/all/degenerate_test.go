package all_test

import (
	"context"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/biopipe/biopipe/contract"
	"github.com/biopipe/biopipe/evaluation"
	"github.com/biopipe/biopipe/pipelines"
	"github.com/biopipe/biopipe/testdata/gen/eeggen"
)

// TestSmallAndLopsidedData runs tiny, lopsided but valid datasets of each family end to
// end (ingest, split, train, evaluate, report): one patient per split, a single class in
// val, a one-row test split for regression, one subject per split of EEG. Every stage
// succeeds; an undefined metric is null with a reason in metrics.json, "n/a (reason)" in
// the report, and NaN nowhere.
func TestSmallAndLopsidedData(t *testing.T) {
	dir := t.TempDir()
	// 4 patients x 2 visits; patient p3 (val, with the split below) has only class "no"
	var cls strings.Builder
	cls.WriteString("patient,age,marker,outcome\n")
	for i := range 8 {
		p := i / 2
		out := []string{"yes", "no"}[i%2]
		if p == 3 {
			out = "no"
		}
		fmt.Fprintf(&cls, "p%d,%d,%.1f,%s\n", p, 40+i, float64(i%3), out)
	}
	classPath := filepath.Join(dir, "tiny.csv")
	require.NoError(t, os.WriteFile(classPath, []byte(cls.String()), 0o644))
	regPath := filepath.Join(dir, "tiny-reg.csv")
	require.NoError(t, os.WriteFile(regPath, []byte("x,y\n1,2.1\n2,3.9\n3,6.2\n4,8.1\n5,9.8\n"), 0o644))
	eeg := filepath.Join(dir, "eeg")
	o := eeggen.Default()
	o.Subjects, o.Events = 3, 4
	require.NoError(t, eeggen.Generate(eeg, o))

	tail := `
  - {id: train, kind: train, inputs: [split], with: {model: mlp, hidden: [4], epochs: 2, batch_size: 4}}
  - {id: eval, kind: evaluate, inputs: [train, split], with: {bootstrap: 20}}
  - {id: report, kind: report, inputs: [eval]}
`
	tests := []struct {
		name, stages string
		undefined    string // a metric that must be undefined, as split/name ("" = none required)
	}{
		{"tiny table, one patient per split, one class in val", fmt.Sprintf(`
  - {id: load, kind: ingest.table, with: {path: %q, label: outcome, group: patient, salt: s}}
  - {id: split, kind: transform.split, inputs: [load], with: {strategy: group, test: 0.25, val: 0.25, stratify: false}}`, classPath), "val/auroc"},
		{"five-row regression", fmt.Sprintf(`
  - {id: load, kind: ingest.table, with: {path: %q, label: y, task: regression}}
  - {id: split, kind: transform.split, inputs: [load], with: {strategy: random, test: 0.2, val: 0.2}}`, regPath), "test/r2"},
		{"EEG, one subject per split", fmt.Sprintf(`
  - {id: rec, kind: ingest.signals, with: {files: [%q], salt: s}}
  - {id: epochs, kind: transform.epoch, inputs: [rec], with: {tmin: 0, tmax: 0.5, event_map: {T1: alpha, T2: beta}}}
  - {id: split, kind: transform.split, inputs: [epochs], with: {strategy: group, test: 0.34, val: 0.34}}`, eeg), ""},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			spec := filepath.Join(dir, fmt.Sprintf("p%d.yaml", i))
			require.NoError(t, os.WriteFile(spec, []byte("name: small\nseed: 3\nstages:"+tc.stages+tail), 0o644))
			src, err := pipelines.Load(spec, nil)
			require.NoError(t, err)
			plan, err := pipelines.Validate(src, contract.Default)
			require.NoError(t, err)
			m, err := pipelines.Run(context.Background(), plan, pipelines.Options{WorkDir: filepath.Join(dir, fmt.Sprintf("work%d", i))})
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
			for split, s := range res.PerSplit {
				for name, iv := range s.Metrics {
					if math.IsNaN(iv.Value) {
						assert.NotEmpty(t, iv.Reason, "%s %s undefined without a reason", split, name)
					}
				}
			}
			md, err := os.ReadFile(filepath.Join(reportDir, contract.ReportMD))
			require.NoError(t, err)
			if tc.undefined != "" {
				split, name, _ := strings.Cut(tc.undefined, "/")
				require.Contains(t, res.PerSplit, split)
				iv := res.PerSplit[split].Metrics[name]
				assert.True(t, math.IsNaN(iv.Value), "%s = %v, want undefined", tc.undefined, iv.Value)
				assert.Contains(t, string(md), "n/a ("+iv.Reason+")")
			}
			assert.NotContains(t, string(md), "NaN")
			assert.NotContains(t, string(md), "| n/a |", "an undefined metric says why")
		})
	}
}
