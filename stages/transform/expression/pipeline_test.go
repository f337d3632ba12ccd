package expression

import (
	"context"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/biopipe/biopipe/dataset"
	_ "github.com/biopipe/biopipe/stages/ingest/expression"
	_ "github.com/biopipe/biopipe/stages/transform/split"

	"github.com/biopipe/biopipe/contract"
)

// chain runs the kinds one after another, each on the previous artifact.
func chain(t *testing.T, steps []struct {
	kind string
	with map[string]any
}) []string {
	t.Helper()
	var dirs []string
	for i, s := range steps {
		k, err := contract.Default.Get(s.kind)
		require.NoError(t, err)
		cfg, issues := contract.Check(k.Fields, s.with)
		require.Empty(t, issues, s.kind)
		st, err := k.New(cfg)
		require.NoError(t, err, s.kind)
		env := contract.NewEnv(nil)
		env.StageID, env.Config, env.OutDir, env.Seed = s.kind, cfg, t.TempDir(), 7
		if i > 0 {
			env.Inputs = []contract.Input{{StageID: steps[i-1].kind, Port: "data", Type: contract.Table, Dir: dirs[i-1]}}
		}
		require.NoError(t, st.Run(context.Background(), env), s.kind)
		dirs = append(dirs, env.OutDir)
	}
	return dirs
}

// TestSim10xSeparable runs the data half of configs/expression-ae.yaml on the committed
// example data and checks that the cell types are recoverable from 20 principal components
// of 2,000 variable genes by a nearest-centroid rule fitted on the train split.
func TestSim10xSeparable(t *testing.T) {
	_, file, _, _ := runtime.Caller(0)
	data := filepath.Join(filepath.Dir(file), "..", "..", "..", "testdata", "expr")
	dirs := chain(t, []struct {
		kind string
		with map[string]any
	}{
		{"ingest.expression", map[string]any{"path": filepath.Join(data, "sim10x"), "annotation": filepath.Join(data, "sim10x-cells.csv"),
			"label": "cell_type", "group": "donor", "batch": "batch"}},
		{"transform.split", map[string]any{"strategy": "stratified", "test": 0.25, "val": 0.0}},
		{NormalizeKind, map[string]any{"methods": []any{"cpm", "log1p"}, "target_sum": 1e4}},
		{SelectKind, map[string]any{"min_samples": 3, "top_n": 2000}},
		{ReduceKind, map[string]any{"n_components": 20}},
	})
	f, err := dataset.ReadFile(filepath.Join(dirs[4], contract.DataFile))
	require.NoError(t, err)
	require.Equal(t, 800, f.NumRows())
	var sum ReduceSummary
	b, err := os.ReadFile(filepath.Join(dirs[4], contract.SummaryFile))
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(b, &sum))
	assert.Equal(t, 2000, sum.Genes)
	assert.Equal(t, "train", sum.FitOn)

	train, test := f.SplitRows(dataset.Train), f.SplitRows(dataset.Test)
	require.NotEmpty(t, test)
	xs, err := f.Features(nil)
	require.NoError(t, err)
	cls, _, err := f.Labels(nil)
	require.NoError(t, err)
	d := len(xs.X) / xs.N
	nc := len(f.Classes())
	cent := make([][]float64, nc)
	cnt := make([]float64, nc)
	for c := range cent {
		cent[c] = make([]float64, d)
	}
	for _, r := range train {
		for j := range d {
			cent[cls[r]][j] += float64(xs.X[r*d+j])
		}
		cnt[cls[r]]++
	}
	for c := range cent {
		for j := range d {
			cent[c][j] /= cnt[c]
		}
	}
	hit := make([]float64, nc)
	tot := make([]float64, nc)
	for _, r := range test {
		best, bd := 0, math.Inf(1)
		for c := range cent {
			var s float64
			for j := range d {
				e := float64(xs.X[r*d+j]) - cent[c][j]
				s += e * e
			}
			if s < bd {
				best, bd = c, s
			}
		}
		tot[cls[r]]++
		if best == cls[r] {
			hit[cls[r]]++
		}
	}
	var bacc float64
	for c := range hit {
		bacc += hit[c] / tot[c] / float64(nc)
	}
	t.Logf("nearest-centroid balanced accuracy on %d test cells: %.3f; variance explained by 20 PCs: %.2f", len(test), bacc, sum.Cumulative[19])
	assert.GreaterOrEqual(t, bacc, 0.95)
}
