package split

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/biopipe/biopipe/contract"
	"github.com/biopipe/biopipe/dataset"
)

// frame builds a classification frame with the given class sizes; row i belongs to
// group i/groupSize (when groupSize > 0).
func frame(classSizes []int, groupSize int) *dataset.Frame {
	f := dataset.New()
	x := &dataset.Column{Name: "x", Kind: dataset.Float}
	y := &dataset.Column{Name: "y", Kind: dataset.String}
	g := &dataset.Column{Name: "patient", Kind: dataset.String}
	var classes []string
	for c, n := range classSizes {
		name := fmt.Sprintf("c%d", c)
		classes = append(classes, name)
		for range n {
			x.F = append(x.F, float64(len(x.F)))
			y.S = append(y.S, name)
		}
	}
	f.Columns = []*dataset.Column{x, y}
	if groupSize > 0 {
		for i := range x.F {
			g.S = append(g.S, fmt.Sprintf("p%d", i/groupSize))
		}
		f.Columns = append(f.Columns, g)
		f.Meta[dataset.MetaGroup] = "patient"
	}
	f.Meta[dataset.MetaLabel] = "y"
	f.Meta[dataset.MetaTask] = "classification"
	f.SetClasses(classes)
	return f
}

func rowsIn(f *dataset.Frame, split, class string) int {
	n := 0
	for i, s := range f.Split().S {
		if s == split && (class == "" || f.Label().S[i] == class) {
			n++
		}
	}
	return n
}

func TestRandom(t *testing.T) {
	f := frame([]int{60, 40}, 0)
	_, err := Apply(f, Options{Strategy: Random, Test: 0.2, Val: 0.15}, 7)
	require.NoError(t, err)
	assert.Equal(t, 20, rowsIn(f, dataset.Test, ""))
	assert.Equal(t, 15, rowsIn(f, dataset.Val, ""))
	assert.Equal(t, 65, rowsIn(f, dataset.Train, ""))

	// Same seed, same split; another seed, another split.
	g := frame([]int{60, 40}, 0)
	_, err = Apply(g, Options{Strategy: Random, Test: 0.2, Val: 0.15}, 7)
	require.NoError(t, err)
	assert.Equal(t, f.Split().S, g.Split().S)
	h := frame([]int{60, 40}, 0)
	_, err = Apply(h, Options{Strategy: Random, Test: 0.2, Val: 0.15}, 8)
	require.NoError(t, err)
	assert.NotEqual(t, f.Split().S, h.Split().S)
}

func TestStratifiedKeepsProportions(t *testing.T) {
	sizes := []int{37, 101, 13, 2}
	for _, seed := range []int64{1, 2, 3, 42} {
		for _, fr := range [][2]float64{{0.2, 0.1}, {0.25, 0.25}, {0.33, 0}} {
			f := frame(sizes, 0)
			sum, err := Apply(f, Options{Strategy: Stratified, Test: fr[0], Val: fr[1]}, seed)
			require.NoError(t, err)
			for c, n := range sizes {
				name := fmt.Sprintf("c%d", c)
				for _, s := range []struct {
					split string
					frac  float64
				}{{dataset.Test, fr[0]}, {dataset.Val, fr[1]}, {dataset.Train, 1 - fr[0] - fr[1]}} {
					got := rowsIn(f, s.split, name)
					assert.LessOrEqual(t, math.Abs(float64(got)-float64(n)*s.frac), 1.0,
						"seed %d class %s split %s: %d rows of %d (fraction %g)", seed, name, s.split, got, n, s.frac)
					assert.Equal(t, got, sum.Classes[s.split][name])
				}
			}
		}
	}
}

func TestGroupKeepsGroupsWhole(t *testing.T) {
	for _, seed := range []int64{1, 5, 99} {
		f := frame([]int{90, 110}, 3) // 67 groups of up to 3 rows
		sum, err := Apply(f, Options{Strategy: Group, Test: 0.2, Val: 0.1}, seed)
		require.NoError(t, err)
		side := map[string]string{}
		for i, p := range f.Group().S {
			s := f.Split().S[i]
			if prev, ok := side[p]; ok {
				require.Equal(t, prev, s, "group %s split across %s and %s", p, prev, s)
			}
			side[p] = s
		}
		// Group sizes are at most 3, so the targets are met to within one group.
		assert.InDelta(t, 40, sum.Rows[dataset.Test], 3)
		assert.InDelta(t, 20, sum.Rows[dataset.Val], 3)
		assert.Equal(t, 67, sum.Groups[dataset.Train]+sum.Groups[dataset.Val]+sum.Groups[dataset.Test])
	}
}

func TestKFold(t *testing.T) {
	t.Run("plain", func(t *testing.T) {
		f := frame([]int{23}, 0)
		f.Meta[dataset.MetaTask] = "regression"
		sum, err := Apply(f, Options{Strategy: KFold, Folds: 5, Fold: 2, Stratify: true}, 3)
		require.NoError(t, err)
		assert.Equal(t, []int{5, 5, 5, 4, 4}, sum.Folds)
		for i, k := range f.Col(dataset.ColFold).I {
			assert.Equal(t, k == 2, f.Split().S[i] == dataset.Test)
		}
	})
	t.Run("stratified", func(t *testing.T) {
		sizes := []int{17, 33, 6}
		f := frame(sizes, 0)
		sum, err := Apply(f, Options{Strategy: KFold, Folds: 4, Fold: 1, Stratify: true, Val: 0.1}, 11)
		require.NoError(t, err)
		folds := f.Col(dataset.ColFold).I
		for c := range sizes {
			per := make([]int, 4)
			for i, k := range folds {
				if f.Label().S[i] == fmt.Sprintf("c%d", c) {
					per[k]++
				}
			}
			assert.LessOrEqual(t, maxInt(per)-minInt(per), 1, "class c%d per fold %v", c, per)
		}
		assert.LessOrEqual(t, maxInt(sum.Folds)-minInt(sum.Folds), 1)
		assert.Equal(t, sum.Folds[1], sum.Rows[dataset.Test])
		assert.Equal(t, 6, sum.Rows[dataset.Val]) // 10% of 56, from the non-test folds
	})
	t.Run("grouped and stratified", func(t *testing.T) {
		f := frame([]int{100, 50}, 2)
		sum, err := Apply(f, Options{Strategy: KFold, Folds: 5, Fold: 0, Stratify: true, Val: 0.1}, 5)
		require.NoError(t, err)
		fold := map[string]int64{}
		side := map[string]string{}
		for i, p := range f.Group().S {
			k := f.Col(dataset.ColFold).I[i]
			if prev, ok := fold[p]; ok {
				require.Equal(t, prev, k, "group %s in two folds", p)
				require.Equal(t, side[p], f.Split().S[i], "group %s in two splits", p)
			}
			fold[p], side[p] = k, f.Split().S[i]
		}
		for _, n := range sum.Folds {
			assert.InDelta(t, 30, n, 2)
		}
		for k := range 5 {
			n := 0
			for i, fk := range f.Col(dataset.ColFold).I {
				if int(fk) == k && f.Label().S[i] == "c1" {
					n++
				}
			}
			assert.InDelta(t, 10, n, 2, "fold %d minority rows", k)
		}
	})
}

func maxInt(v []int) int {
	m := v[0]
	for _, x := range v {
		m = max(m, x)
	}
	return m
}

func minInt(v []int) int {
	m := v[0]
	for _, x := range v {
		m = min(m, x)
	}
	return m
}

func TestAuto(t *testing.T) {
	sum, err := Apply(frame([]int{5, 5}, 2), Options{Strategy: Auto, Test: 0.2}, 1)
	require.NoError(t, err)
	assert.Equal(t, Group, sum.Strategy)
	sum, err = Apply(frame([]int{5, 5}, 0), Options{Strategy: Auto, Test: 0.2}, 1)
	require.NoError(t, err)
	assert.Equal(t, Stratified, sum.Strategy)
	f := frame([]int{5, 5}, 0)
	f.Meta[dataset.MetaTask] = "regression"
	sum, err = Apply(f, Options{Strategy: Auto, Test: 0.2}, 1)
	require.NoError(t, err)
	assert.Equal(t, Random, sum.Strategy)
}

func TestErrors(t *testing.T) {
	f := frame([]int{5, 5}, 0)
	f.Meta[dataset.MetaTask] = "regression"
	_, err := Apply(f, Options{Strategy: Stratified, Test: 0.2}, 1)
	assert.ErrorContains(t, err, "stratified split needs a classification label")
	_, err = Apply(frame([]int{5, 5}, 0), Options{Strategy: Group, Test: 0.2}, 1)
	assert.ErrorContains(t, err, "group split needs a group column")
	_, err = Apply(frame([]int{5, 5}, 0), Options{Strategy: Group, Test: 0.2, Group: "pid"}, 1)
	assert.ErrorContains(t, err, `group column "pid" not found`)

	for _, tc := range []struct {
		raw  map[string]any
		want string
	}{
		{map[string]any{"strategy": "kfold", "folds": 3, "fold": 3}, "fold 3 does not exist with 3 folds"},
		{map[string]any{"test": 0.5, "val": 0.5}, "leaves no training rows"},
	} {
		cfg, issues := contract.Check(Fields, tc.raw)
		require.Empty(t, issues)
		_, err := New(cfg)
		assert.ErrorContains(t, err, tc.want)
	}
}

func TestStageRun(t *testing.T) {
	in := t.TempDir()
	require.NoError(t, frame([]int{30, 20}, 0).WriteFile(filepath.Join(in, contract.DataFile)))
	cfg, issues := contract.Check(Fields, map[string]any{"strategy": "stratified", "test": 0.2, "val": 0.2})
	require.Empty(t, issues)
	st, err := New(cfg)
	require.NoError(t, err)
	env := contract.NewEnv(nil)
	env.StageID, env.Seed, env.OutDir = "split", 42, t.TempDir()
	env.Inputs = []contract.Input{{StageID: "load", Type: contract.Table, Port: "data", Dir: in}}
	require.NoError(t, st.Run(context.Background(), env))
	out, err := dataset.ReadFile(env.Out(contract.DataFile))
	require.NoError(t, err)
	assert.Equal(t, 10, len(out.SplitRows(dataset.Test)))
	var sum Summary
	b, err := os.ReadFile(env.Out(contract.SummaryFile))
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(b, &sum))
	assert.Equal(t, map[string]int{"train": 30, "val": 10, "test": 10}, sum.Rows)
	assert.Equal(t, map[string]int{"c0": 6, "c1": 4}, sum.Classes["test"])
	assert.Equal(t, 30, env.Metrics()["train_rows"])
}
