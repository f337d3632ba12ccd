package table

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/biopipe/biopipe/contract"
	"github.com/biopipe/biopipe/dataset"
)

func runStageErr(t *testing.T, raw map[string]any) (contract.Stage, error) {
	t.Helper()
	cfg, issues := contract.Check(Fields, raw)
	require.Empty(t, issues)
	st, err := New(cfg)
	require.NoError(t, err)
	env := contract.NewEnv(nil)
	env.StageID, env.Config, env.OutDir = "load", cfg, t.TempDir()
	return st, st.Run(context.Background(), env)
}

func runStage(t *testing.T, raw map[string]any) (*dataset.Frame, *Summary) {
	t.Helper()
	cfg, issues := contract.Check(Fields, raw)
	require.Empty(t, issues)
	st, err := New(cfg)
	require.NoError(t, err)
	env := contract.NewEnv(nil)
	env.StageID = "load"
	env.Config = cfg
	env.OutDir = t.TempDir()
	require.NoError(t, st.Run(context.Background(), env))
	f, err := dataset.ReadFile(env.Out(contract.DataFile))
	require.NoError(t, err)
	var sum Summary
	b, err := os.ReadFile(env.Out(contract.SummaryFile))
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(b, &sum))
	return f, &sum
}

func TestBreastCancer(t *testing.T) {
	path, err := filepath.Abs("../../../testdata/ehr/breast_cancer.csv")
	require.NoError(t, err)
	f, sum := runStage(t, map[string]any{"path": path, "label": "target"})
	assert.Equal(t, 569, f.NumRows())
	assert.Equal(t, []string{"0", "1"}, f.Classes())
	assert.Equal(t, "classification", f.Meta[dataset.MetaTask])
	assert.Equal(t, "target", f.Meta[dataset.MetaLabel])
	assert.Equal(t, "breast_cancer.csv", f.Meta[dataset.MetaSource])
	m, err := f.Features(nil)
	require.NoError(t, err)
	assert.Equal(t, []int{30}, m.Shape)
	cls, _, err := f.Labels(nil)
	require.NoError(t, err)
	n := [2]int{}
	for _, c := range cls {
		n[c]++
	}
	assert.Equal(t, [2]int{212, 357}, n)
	assert.Equal(t, 569, sum.Rows)
	assert.Equal(t, 31, sum.Columns)
	assert.Equal(t, 30, sum.Features)
	assert.Equal(t, map[string]int{"0": 212, "1": 357}, sum.ClassCounts)
	assert.Zero(t, sum.BadRowsSkipped)
}

func writeFile(t *testing.T, name, text string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	require.NoError(t, os.WriteFile(p, []byte(text), 0o644))
	return p
}

func TestIngestCases(t *testing.T) {
	ehr := "pid,site,sex,age,los,outcome,name\n" +
		"p1,A,F,34,2.5,died,x\n" +
		"p1,A,F,35,1.0,alive,x\n" +
		"p2,B,M,NA,3.0,alive,y\n" +
		"p3,B,M,70,10.5,,z\n" +
		"p4,C,F,52,4.0,alive,w\n"
	tests := []struct {
		name  string
		raw   map[string]any
		check func(t *testing.T, f *dataset.Frame, s *Summary)
	}{
		{
			name: "text label, roles, drop, missing label row dropped",
			raw:  map[string]any{"label": "outcome", "group": "pid", "id": "site", "drop": []any{"name"}, "salt": "s"},
			check: func(t *testing.T, f *dataset.Frame, s *Summary) {
				assert.Equal(t, []string{"alive", "died"}, f.Classes())
				assert.Equal(t, 4, f.NumRows())
				assert.Equal(t, 1, s.MissingLabelRows)
				assert.Nil(t, f.Col("name"))
				assert.Equal(t, "pid", f.Meta[dataset.MetaGroup])
				assert.Equal(t, "site", f.Meta[dataset.MetaID])
				assert.Equal(t, map[string]int{"alive": 3, "died": 1}, s.ClassCounts)
				assert.Equal(t, map[string]int{"age": 1}, s.Missing)
				assert.Equal(t, 3, s.Features) // sex, age, los
			},
		},
		{
			name: "float label is regression",
			raw:  map[string]any{"label": "los"},
			check: func(t *testing.T, f *dataset.Frame, s *Summary) {
				assert.Equal(t, "regression", f.Meta[dataset.MetaTask])
				assert.Nil(t, f.Classes())
				_, reg, err := f.Labels(nil)
				require.NoError(t, err)
				assert.Equal(t, []float64{2.5, 1, 3, 10.5, 4}, reg)
			},
		},
		{
			name: "integer label with many values is regression unless told",
			raw:  map[string]any{"label": "age", "task": "classification"},
			check: func(t *testing.T, f *dataset.Frame, s *Summary) {
				assert.Equal(t, "classification", s.Task)
				assert.Equal(t, []string{"34", "35", "52", "70"}, f.Classes())
			},
		},
		{
			name: "declared types",
			raw:  map[string]any{"types": map[string]any{"age": "float", "los": "string"}},
			check: func(t *testing.T, f *dataset.Frame, s *Summary) {
				assert.Equal(t, dataset.Float, f.Col("age").Kind)
				assert.Equal(t, dataset.String, f.Col("los").Kind)
				assert.Equal(t, "1.0", f.Col("los").S[1])
			},
		},
	}
	path := writeFile(t, "ehr.csv", ehr)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.raw["path"] = path
			f, s := runStage(t, tc.raw)
			tc.check(t, f, s)
		})
	}
}

func TestIdentifiersAreText(t *testing.T) {
	path := writeFile(t, "ids.csv", "mrn,site,x\n007,1,0.5\n010,2,1.5\n")
	f, _ := runStage(t, map[string]any{"path": path, "id": "mrn", "group": "site", "pseudonymize": false})
	assert.Equal(t, []string{"007", "010"}, f.Col("mrn").S)
	assert.Equal(t, []string{"1", "2"}, f.Col("site").S)
	f, _ = runStage(t, map[string]any{"path": path, "id": "mrn", "types": map[string]any{"mrn": "int"}, "pseudonymize": false})
	assert.Equal(t, []int64{7, 10}, f.Col("mrn").I)
}

// TestIdentifiersArePseudonymised: by default the id and group columns leave ingest as
// salted pseudonyms (the HMAC ingest.dicom uses), text even when declared int, with missing
// values kept missing and only SHA-256 hashes of the raw values in summary.json.
func TestIdentifiersArePseudonymised(t *testing.T) {
	path := writeFile(t, "ids.csv", "mrn,patient,x\n007,Jane Doe,0.5\n010,John Roe,1.5\n007,Jane Doe,2.5\n011,,3\n")
	salt := "table-test-salt"
	for _, types := range []map[string]any{nil, {"mrn": "int"}} {
		raw := map[string]any{"path": path, "id": "mrn", "group": "patient", "salt": salt}
		if types != nil {
			raw["types"] = types
		}
		f, sum := runStage(t, raw)
		p := func(id string) string { return contract.PatientPseudonym([]byte(salt), id) }
		want := []string{p("007"), p("010"), p("007"), p("011")}
		if types != nil {
			want = []string{p("7"), p("10"), p("7"), p("11")} // the declared type read 007 as 7
		}
		assert.Equal(t, want, f.Col("mrn").S)
		g := f.Col("patient")
		assert.Equal(t, p("Jane Doe"), g.S[0])
		assert.Equal(t, g.S[0], g.S[2], "one patient, one pseudonym: grouped splits still work")
		assert.False(t, g.IsValid(3), "a missing group stays missing")
		assert.Regexp(t, `^P[0-9a-f]{12}$`, g.S[1])
		assert.Equal(t, []string{"mrn", "patient"}, sum.Pseudonymized)
		h := sha256.Sum256([]byte("Jane Doe"))
		assert.Contains(t, sum.PHIHashes, hex.EncodeToString(h[:]))
		b, err := json.Marshal(sum)
		require.NoError(t, err)
		for _, v := range []string{"Jane", "Doe", "John", "007", "010"} {
			assert.NotContains(t, string(b), v)
		}
	}
	_, err := runStageErr(t, map[string]any{"path": path, "group": "patient"})
	assert.ErrorContains(t, err, "no pseudonym salt", "no salt, no project salt: refuse rather than write raw ids")
}

func TestAutoTaskIntegers(t *testing.T) {
	var many dataset.Column
	many.Kind = dataset.Int
	for i := range 25 {
		many.I = append(many.I, int64(i))
	}
	assert.Equal(t, TaskRegression, autoTask(&many))
	few := dataset.Column{Kind: dataset.Float, F: []float64{1, 2, 10, 2}}
	assert.Equal(t, TaskClassification, autoTask(&few))
	classes := []string{"10", "2", "1"}
	sortClasses(classes, true)
	assert.Equal(t, []string{"1", "2", "10"}, classes)
}

func TestBadRows(t *testing.T) {
	path := writeFile(t, "bad.tsv", "a\tb\n1\tx\n2\ty\tz\n3\tw\n")
	_, s := runStage(t, map[string]any{"path": path, "on_bad_rows": "skip", "label": "b"})
	assert.Equal(t, 1, s.BadRowsSkipped)
	assert.Equal(t, []int{3}, s.BadLines)
	assert.Equal(t, 2, s.Rows)

	cfg, issues := contract.Check(Fields, map[string]any{"path": path})
	require.Empty(t, issues)
	st, err := New(cfg)
	require.NoError(t, err)
	env := contract.NewEnv(nil)
	env.OutDir = t.TempDir()
	err = st.Run(context.Background(), env)
	assert.ErrorContains(t, err, "bad.tsv:3: row has 3 fields, want 2")
}

func TestConfigErrors(t *testing.T) {
	path := writeFile(t, "x.csv", "age,outcome\n1,a\n")
	tests := []struct {
		raw  map[string]any
		want string // from New (config) or Run
	}{
		{map[string]any{"label": "outcom"}, `label column "outcom" not found (did you mean "outcome"?)`},
		{map[string]any{"drop": []any{"agee"}}, `drop: column "agee" not found (did you mean "age"?)`},
		{map[string]any{"types": map[string]any{"age": "bool"}}, `field "types.age": unknown column type "bool"`},
		{map[string]any{"label": "age", "id": "age"}, `column "age" is already the label column`},
		{map[string]any{"label": "age", "drop": []any{"age"}}, `is the label column and cannot be dropped`},
		{map[string]any{"delimiter": ";;"}, `not a single delimiter character`},
		{map[string]any{"task": "regression"}, "task needs a label column"},
		{map[string]any{"label": "outcome", "task": "regression"}, "needs a numeric label"},
		{map[string]any{"types": map[string]any{"ag": "int"}}, `declared type for column "ag"`},
	}
	for _, tc := range tests {
		t.Run(tc.want, func(t *testing.T) {
			tc.raw["path"] = path
			cfg, issues := contract.Check(Fields, tc.raw)
			require.Empty(t, issues)
			st, err := New(cfg)
			if err == nil {
				env := contract.NewEnv(nil)
				env.OutDir = t.TempDir()
				err = st.Run(context.Background(), env)
			}
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.want)
		})
	}
}

func TestParquetAndArrowInput(t *testing.T) {
	dir := t.TempDir()
	src := dataset.New()
	src.Meta[dataset.MetaLabel] = "stale" // replaced by the config's roles
	src.Columns = []*dataset.Column{
		{Name: "x", Kind: dataset.Float, F: []float64{1, 2, 3}},
		{Name: "y", Kind: dataset.String, S: []string{"b", "a", "b"}},
	}
	p := filepath.Join(dir, "t.feather")
	require.NoError(t, src.WriteFile(p))
	f, s := runStage(t, map[string]any{"path": p, "label": "y"})
	assert.Equal(t, "y", f.Meta[dataset.MetaLabel])
	assert.Equal(t, []string{"a", "b"}, f.Classes())
	assert.Equal(t, "arrow", s.Format)
}

func TestTextOptions(t *testing.T) {
	path := writeFile(t, "raw.txt", "1|a|-99\n2|b|3\n3|a|4\n")
	f, s := runStage(t, map[string]any{"path": path, "header": false, "delimiter": "|", "na_values": []any{"-99"}, "label": "col2"})
	assert.Equal(t, []string{"col1", "col2", "col3"}, f.Names())
	assert.Equal(t, map[string]int{"col3": 1}, s.Missing)
	assert.Equal(t, []string{"a", "b"}, f.Classes())
	assert.Equal(t, "csv", s.Format)

	tsv := writeFile(t, "x.dat", "a\tb\n1\t2\n")
	f, _ = runStage(t, map[string]any{"path": tsv, "delimiter": "tab", "format": "tsv"})
	assert.Equal(t, []int64{2}, f.Col("b").I)
}

func TestAppendLabel(t *testing.T) {
	f := dataset.New()
	f.Set(&dataset.Column{Name: "image", Kind: dataset.Float, F: []float64{1, 2, 3}})
	lc := &dataset.Column{Name: "from_csv", Kind: dataset.String, S: []string{"b", "a", "b"}, Meta: map[string]string{"x": "y"}}
	ls, err := AppendLabel(f, lc, "label", "auto", "data/")
	require.NoError(t, err)
	assert.Equal(t, "classification", ls.Task)
	assert.Equal(t, []string{"a", "b"}, ls.Classes)
	assert.Equal(t, "label", f.Meta[dataset.MetaLabel])
	assert.Nil(t, f.Col("label").Meta)

	_, err = AppendLabel(f, &dataset.Column{Name: "x", Kind: dataset.String, S: []string{"a", "a", "a"}}, "image", "auto", "data/")
	assert.EqualError(t, err, `label_column: "image" is a column the stage writes; name the label otherwise`)

	g := dataset.New()
	g.Set(&dataset.Column{Name: "image", Kind: dataset.Float, F: []float64{1}})
	_, err = AppendLabel(g, &dataset.Column{Name: "x", Kind: dataset.String, S: []string{"a"}}, "label", "regression", "data/")
	require.Error(t, err)
	assert.Contains(t, err.Error(), "data/: ")
}
