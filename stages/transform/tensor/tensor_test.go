package tensor

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gopkg.in/yaml.v3"

	"github.com/biopipe/biopipe/contract"
	"github.com/biopipe/biopipe/dataset"
)

// pixels returns a 3-row frame with columns p0..p5, a label, a group and a split.
func pixels() *dataset.Frame {
	f := dataset.New()
	f.Meta[dataset.MetaLabel] = "y"
	f.Meta[dataset.MetaGroup] = "patient"
	f.SetClasses([]string{"0", "1"})
	for j := range 6 {
		c := &dataset.Column{Name: "p" + string(rune('0'+j)), Kind: dataset.Float}
		for r := range 3 {
			c.F = append(c.F, float64(10*r+j))
		}
		f.Columns = append(f.Columns, c)
	}
	f.Columns = append(f.Columns,
		&dataset.Column{Name: "age", Kind: dataset.Int, I: []int64{40, 50, 60}},
		&dataset.Column{Name: "y", Kind: dataset.Int, I: []int64{0, 1, 0}},
		&dataset.Column{Name: "patient", Kind: dataset.String, S: []string{"a", "b", "c"}},
		&dataset.Column{Name: dataset.ColSplit, Kind: dataset.String, S: []string{"train", "val", "test"}},
	)
	return f
}

func TestPack(t *testing.T) {
	cases := []struct {
		name    string
		columns []string
		shape   []int
		scale   float64
		names   []string
		row1    []float32
		err     string
	}{
		{name: "named columns row-major", columns: []string{"p0", "p1", "p2", "p3", "p4", "p5"}, shape: []int{2, 3, 1}, scale: 1,
			names: []string{"x", "age", "y", "patient", "split"}, row1: []float32{10, 11, 12, 13, 14, 15}},
		{name: "scaled", columns: []string{"p5", "p4", "p3", "p2", "p1", "p0"}, shape: []int{3, 2}, scale: 0.5,
			names: []string{"x", "age", "y", "patient", "split"}, row1: []float32{7.5, 7, 6.5, 6, 5.5, 5}},
		{name: "default is every numeric feature", shape: []int{7}, scale: 1,
			names: []string{"x", "y", "patient", "split"}, row1: []float32{10, 11, 12, 13, 14, 15, 50}},
		{name: "size mismatch", shape: []int{2, 2}, err: "holds 4 values per row but 7 columns"},
		{name: "role column", columns: []string{"y"}, shape: []int{1}, err: "role column"},
		{name: "unknown column", columns: []string{"p9"}, shape: []int{1}, err: `"p9" not found`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := pixels()
			err := Pack(f, c.columns, c.shape, "x", c.scale)
			if c.err != "" {
				assert.ErrorContains(t, err, c.err)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, c.names, f.Names())
			x := f.Col("x")
			assert.Equal(t, c.shape, x.Shape)
			assert.Equal(t, c.row1, x.Row(1))
			m, err := f.Features(nil)
			require.NoError(t, err)
			if len(c.names) == 4 {
				assert.Equal(t, c.shape, m.Shape, "a lone tensor feature keeps its shape for the model")
			}
			cls, _, err := f.Labels(nil)
			require.NoError(t, err)
			assert.Equal(t, []int{0, 1, 0}, cls)
		})
	}
}

func TestMissingValue(t *testing.T) {
	f := pixels()
	f.Col("p3").Valid = []bool{true, true, false}
	err := Pack(f, []string{"p0", "p1", "p2", "p3"}, []int{2, 2}, "img", 1)
	assert.ErrorContains(t, err, `column "p3": row 2 is missing`)
}

func TestStageRoundTrip(t *testing.T) {
	in := t.TempDir()
	require.NoError(t, pixels().WriteFile(filepath.Join(in, contract.DataFile)))
	k, err := contract.Default.Get(KindName)
	require.NoError(t, err)
	cfg, issues := contract.Check(k.Fields, map[string]any{"shape": []any{2, 3, 1}, "columns": []any{"p0", "p1", "p2", "p3", "p4", "p5"}, "name": "image"})
	require.Empty(t, issues)
	st, err := k.New(cfg)
	require.NoError(t, err)
	env := contract.NewEnv(nil)
	env.StageID, env.Config, env.OutDir = "img", cfg, t.TempDir()
	env.Inputs = []contract.Input{{StageID: "up", Type: contract.Table, Port: "data", Dir: in}}
	require.NoError(t, st.Run(context.Background(), env))
	f, err := dataset.ReadFile(filepath.Join(env.OutDir, contract.DataFile))
	require.NoError(t, err)
	assert.Equal(t, []int{2, 3, 1}, f.Col("image").Shape)
	assert.Equal(t, []float32{20, 21, 22, 23, 24, 25}, f.Col("image").Row(2))
	assert.Equal(t, []string{"image", "age", "y", "patient", "split"}, f.Names())

	_, issues = contract.Check(k.Fields, map[string]any{})
	assert.NotEmpty(t, issues, "shape is required")
}

// TestExampleValidates checks that the documented example is valid config.
func TestExampleValidates(t *testing.T) {
	k, err := contract.Default.Get(KindName)
	require.NoError(t, err)
	var list []struct {
		Kind string         `yaml:"kind"`
		With map[string]any `yaml:"with"`
	}
	require.NoError(t, yaml.Unmarshal([]byte(k.Example), &list), k.Example)
	require.Len(t, list, 1)
	assert.Equal(t, KindName, list[0].Kind)
	cfg, issues := contract.Check(k.Fields, list[0].With)
	require.Empty(t, issues)
	_, err = k.New(cfg)
	require.NoError(t, err)
}
