package tab_test

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
	"github.com/biopipe/biopipe/dataset"
	_ "github.com/biopipe/biopipe/stages/ingest/table"
	_ "github.com/biopipe/biopipe/stages/transform/encode"
	_ "github.com/biopipe/biopipe/stages/transform/impute"
	_ "github.com/biopipe/biopipe/stages/transform/split"
	_ "github.com/biopipe/biopipe/stages/transform/standardize"
)

// runKind runs a registered kind on the artifact in dir (none for "") and returns its output folder.
func runKind(t *testing.T, kind string, raw map[string]any, dir string) string {
	t.Helper()
	k, err := contract.Default.Get(kind)
	require.NoError(t, err)
	cfg, issues := contract.Check(k.Fields, raw)
	require.Empty(t, issues)
	st, err := k.New(cfg)
	require.NoError(t, err)
	env := contract.NewEnv(nil)
	env.StageID, env.Kind, env.Config, env.Seed, env.OutDir = kind, kind, cfg, 42, t.TempDir()
	if dir != "" {
		env.Inputs = []contract.Input{{StageID: "up", Type: contract.Table, Port: "data", Dir: dir}}
	}
	require.NoError(t, st.Run(context.Background(), env), kind)
	return env.OutDir
}

// TestTabularChain runs ingest.table -> split (grouped) -> impute -> encode -> standardize on
// an EHR-like table with missing values, text columns and several visits per patient, and
// checks that the result is a complete numeric feature matrix fitted on train rows only.
func TestTabularChain(t *testing.T) {
	var b strings.Builder
	b.WriteString("patient,visit,sex,age,bmi,smoker,outcome\n")
	smokers := []string{"yes", "no", "former", "NA"}
	for i := range 60 {
		p := i / 3
		sex := []string{"F", "M"}[p%2]
		if i%11 == 0 {
			sex = ""
		}
		age := fmt.Sprint(30 + (p*7)%40)
		if i%9 == 0 {
			age = "NA"
		}
		bmi := fmt.Sprintf("%.1f", 18+float64((i*13)%17))
		if i%7 == 0 {
			bmi = "?"
		}
		fmt.Fprintf(&b, "P%02d,%d,%s,%s,%s,%s,%d\n", p, i%3, sex, age, bmi, smokers[i%4], (p*5)%3%2)
	}
	path := filepath.Join(t.TempDir(), "ehr.csv")
	require.NoError(t, os.WriteFile(path, []byte(b.String()), 0o644))

	dir := runKind(t, "ingest.table", map[string]any{"path": path, "label": "outcome", "group": "patient", "drop": []any{"visit"}, "salt": "chain-test"}, "")
	dir = runKind(t, "transform.split", map[string]any{"strategy": "group", "test": 0.25, "val": 0.15}, dir)
	dir = runKind(t, "transform.impute", map[string]any{"strategy": "median"}, dir)
	dir = runKind(t, "transform.encode", map[string]any{}, dir)
	dir = runKind(t, "transform.standardize", map[string]any{}, dir)

	f, err := dataset.ReadFile(filepath.Join(dir, contract.DataFile))
	require.NoError(t, err)
	assert.Equal(t, 60, f.NumRows())
	assert.Equal(t, []string{"0", "1"}, f.Classes())
	m, err := f.Features(nil)
	require.NoError(t, err, "no missing or text features remain")
	assert.Equal(t, []string{"sex=F", "sex=M", "age", "bmi", "smoker=former", "smoker=no", "smoker=yes"}, m.Names)

	// Every patient's visits are on one side.
	side := map[string]string{}
	for i, p := range f.Group().S {
		if s, ok := side[p]; ok {
			require.Equal(t, s, f.Split().S[i], "patient %s", p)
		}
		side[p] = f.Split().S[i]
	}
	// Standardized on train rows: mean 0 and population sd 1 there.
	train := f.SplitRows(dataset.Train)
	for _, name := range []string{"age", "bmi", "sex=F"} {
		c := f.Col(name)
		var s, ss float64
		for _, r := range train {
			s += c.F[r]
		}
		mean := s / float64(len(train))
		for _, r := range train {
			ss += (c.F[r] - mean) * (c.F[r] - mean)
		}
		assert.InDelta(t, 0, mean, 1e-9, name)
		assert.InDelta(t, 1, math.Sqrt(ss/float64(len(train))), 1e-9, name)
	}
}
