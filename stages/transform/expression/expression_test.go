package expression

import (
	"context"
	"encoding/json"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gonum.org/v1/gonum/mat"

	"github.com/biopipe/biopipe/contract"
	"github.com/biopipe/biopipe/dataset"
	"github.com/biopipe/biopipe/io/expr"
)

// frame builds a table of n samples x len(genes) values with a split column (every 4th
// row is test) when split is set.
func frame(x []float32, genes []string, split bool) *dataset.Frame {
	n := len(x) / len(genes)
	f := dataset.New()
	ids := make([]string, n)
	for i := range ids {
		ids[i] = "s" + string(rune('A'+i%26)) + string(rune('a'+i/26))
	}
	f.Meta[dataset.MetaID] = "sample"
	f.Set(&dataset.Column{Name: "sample", Kind: dataset.String, S: ids})
	f.Set(&dataset.Column{Name: "x", Kind: dataset.Tensor, Shape: []int{len(genes)}, T: x, Meta: expr.SetFeatureNames(nil, genes)})
	if split {
		s := make([]string, n)
		for i := range s {
			s[i] = dataset.Train
			if i%4 == 3 {
				s[i] = dataset.Test
			}
		}
		f.Set(&dataset.Column{Name: dataset.ColSplit, Kind: dataset.String, S: s})
	}
	return f
}

func counts(n, g int, seed uint64) []float32 {
	rng := rand.New(rand.NewPCG(seed, 1))
	x := make([]float32, n*g)
	for i := range x {
		x[i] = float32(rng.IntN(20) * rng.IntN(3))
	}
	return x
}

func geneNames(g int) []string {
	out := make([]string, g)
	for i := range out {
		out[i] = "G" + string(rune('A'+i%26)) + string(rune('A'+i/26))
	}
	return out
}

// runStage runs a registered kind on f and returns the output frame and artifact folder.
func runStage(t *testing.T, kind string, f *dataset.Frame, raw map[string]any) (*dataset.Frame, string, error) {
	t.Helper()
	k, err := contract.Default.Get(kind)
	require.NoError(t, err)
	cfg, issues := contract.Check(k.Fields, raw)
	require.Empty(t, issues)
	st, err := k.New(cfg)
	if err != nil {
		return nil, "", err
	}
	in := t.TempDir()
	require.NoError(t, f.WriteFile(filepath.Join(in, contract.DataFile)))
	env := contract.NewEnv(nil)
	env.StageID, env.Config, env.OutDir = "t", cfg, t.TempDir()
	env.Inputs = []contract.Input{{StageID: "up", Port: "data", Type: contract.Table, Dir: in}}
	if err := st.Run(context.Background(), env); err != nil {
		return nil, "", err
	}
	out, err := dataset.ReadFile(env.Out(contract.DataFile))
	require.NoError(t, err)
	return out, env.OutDir, nil
}

func TestNormalizeChain(t *testing.T) {
	const n, g = 40, 12
	x := counts(n, g, 1)
	raw := slices.Clone(x)
	f := frame(x, geneNames(g), true)
	out, dir, err := runStage(t, NormalizeKind, f, map[string]any{"methods": []any{"cpm", "log1p", "zscore"}, "target_sum": 1e4})
	require.NoError(t, err)
	c := out.Col("x")
	// reproduce by hand: cpm + log1p, then z-score with train statistics
	lg := make([]float64, n*g)
	for r := range n {
		var s float64
		for j := range g {
			s += float64(raw[r*g+j])
		}
		for j := range g {
			lg[r*g+j] = math.Log1p(float64(raw[r*g+j]) * 1e4 / s)
		}
	}
	train := f.SplitRows(dataset.Train)
	for j := range g {
		var m, v float64
		for _, r := range train {
			m += lg[r*g+j]
		}
		m /= float64(len(train))
		for _, r := range train {
			v += (lg[r*g+j] - m) * (lg[r*g+j] - m)
		}
		sd := math.Sqrt(v / float64(len(train)-1))
		for r := range n { // test rows use the train statistics too
			assert.InDelta(t, (lg[r*g+j]-m)/sd, c.T[r*g+j], 1e-4, "row %d gene %d", r, j)
		}
	}
	var params NormalizeParams
	b, err := os.ReadFile(filepath.Join(dir, "params.json"))
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(b, &params))
	assert.Equal(t, "train", params.FitOn)
	assert.Equal(t, len(train), params.FitRows)
	assert.Len(t, params.Mean, g)
	genes, _ := expr.FeatureNames(c.Meta)
	assert.Equal(t, geneNames(g), genes)
}

func TestNormalizeQuantileAndErrors(t *testing.T) {
	x := []float32{
		5, 2, 3, 4,
		4, 1, 4, 2,
		3, 4, 6, 8,
	}
	f := frame(x, geneNames(4), false)
	p, err := Normalize(f, NormalizeOptions{Column: "x", Methods: []string{Quantile}})
	require.NoError(t, err)
	// reference = mean of the sorted samples: (2+1+3)/3, (3+2+4)/3, (4+4+6)/3, (5+4+8)/3
	ref := []float64{2, 3, 14.0 / 3, 17.0 / 3}
	assert.InDeltaSlice(t, ref, p.QuantileTarget, 1e-9)
	got := f.Col("x").T
	// sample 1 has no ties: its values are the reference in rank order
	assert.InDeltaSlice(t, []float32{float32(ref[3]), float32(ref[0]), float32(ref[1]), float32(ref[2])}, got[0:4], 1e-6)
	// sample 2 ties its two 4s: both get the mean of ranks 3 and 4
	tie := float32((ref[2] + ref[3]) / 2)
	assert.InDeltaSlice(t, []float32{tie, float32(ref[0]), tie, float32(ref[1])}, got[4:8], 1e-6)

	f = frame([]float32{1, -2}, []string{"A", "B"}, false)
	_, err = Normalize(f, NormalizeOptions{Column: "x", Methods: []string{Log1p}})
	require.ErrorContains(t, err, `gene "B": value -2 is negative`)
	_, err = Normalize(f, NormalizeOptions{Column: "y", Methods: []string{Log1p}})
	require.ErrorContains(t, err, `no column "y" (tensor columns: x)`)

	// cpm: every sample sums to the target; an all-zero sample is counted and left alone
	f = frame([]float32{1, 3, 0, 0}, []string{"A", "B"}, false)
	p, err = Normalize(f, NormalizeOptions{Column: "x", Methods: []string{CPM}, TargetSum: 100})
	require.NoError(t, err)
	assert.Equal(t, []float32{25, 75, 0, 0}, f.Col("x").T)
	assert.Equal(t, 1, p.ZeroLibrary)
}

func TestSelectFeatures(t *testing.T) {
	const n, g = 40, 6
	rng := rand.New(rand.NewPCG(3, 4))
	genes := []string{"CONST", "RARE", "VAR_TRAIN", "VAR_TEST", "MID", "LOW"}
	x := make([]float32, n*g)
	for r := range n {
		test := r%4 == 3
		row := x[r*g : (r+1)*g]
		row[0] = 5
		if r == 0 {
			row[1] = 9
		}
		row[2] = float32(10 + 8*rng.NormFloat64())
		row[3] = 10
		if test {
			row[3] = float32(10 + 50*rng.NormFloat64()) // variable only in the test split
		}
		row[4] = float32(10 + 3*rng.NormFloat64())
		row[5] = float32(10 + 0.5*rng.NormFloat64())
	}
	f := frame(x, genes, true)
	out, dir, err := runStage(t, SelectKind, f, map[string]any{"min_samples": 2, "top_n": 2, "method": "variance"})
	require.NoError(t, err)
	got, _ := expr.FeatureNames(out.Col("x").Meta)
	assert.Equal(t, []string{"VAR_TRAIN", "MID"}, got, "RARE fails min_samples; VAR_TEST is only variable in test rows")
	assert.Equal(t, []int{2}, out.Col("x").Shape)
	assert.Equal(t, x[2], out.Col("x").T[0])
	var sum SelectSummary
	b, err := os.ReadFile(filepath.Join(dir, contract.SummaryFile))
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(b, &sum))
	assert.Equal(t, 6, sum.GenesIn)
	assert.Equal(t, 5, sum.AfterFilters)
	assert.Equal(t, 2, sum.Selected)

	// explicit list, in the given order
	f2 := frame(slices.Clone(x), genes, true)
	s, err := SelectFeatures(f2, SelectOptions{Column: "x", Genes: []string{"MID", "CONST"}})
	require.NoError(t, err)
	assert.Equal(t, []string{"MID", "CONST"}, s.Genes)
	assert.Equal(t, []float32{x[4], x[0]}, f2.Col("x").T[:2])
	_, err = SelectFeatures(frame(slices.Clone(x), genes, true), SelectOptions{Column: "x", Genes: []string{"MDI"}})
	require.ErrorContains(t, err, `gene "MDI" is not in column "x" (did you mean "MID"?)`)

	// genes_file
	list := filepath.Join(t.TempDir(), "genes.txt")
	require.NoError(t, os.WriteFile(list, []byte("# markers\nLOW\nRARE extra\n"), 0o644))
	out, _, err = runStage(t, SelectKind, frame(slices.Clone(x), genes, true), map[string]any{"genes_file": list})
	require.NoError(t, err)
	got, _ = expr.FeatureNames(out.Col("x").Meta)
	assert.Equal(t, []string{"LOW", "RARE"}, got)

	// config checks
	k, _ := contract.Default.Get(SelectKind)
	cfg, _ := contract.Check(k.Fields, map[string]any{})
	_, err = k.New(cfg)
	require.ErrorContains(t, err, "nothing to select")
	cfg, _ = contract.Check(k.Fields, map[string]any{"genes": []any{"A"}, "top_n": 5})
	_, err = k.New(cfg)
	require.ErrorContains(t, err, "replaces min_counts, min_samples and top_n")
}

func TestDispersionPrefersOverdispersedGenes(t *testing.T) {
	// genes in pairs with equal means: one Poisson-like, one over-dispersed (gamma-Poisson)
	const n, pairs = 300, 10
	g := 2 * pairs
	rng := rand.New(rand.NewPCG(5, 6))
	x := make([]float32, n*g)
	genes := make([]string, g)
	for p := range pairs {
		mu := 0.5 * math.Pow(1.6, float64(p))
		genes[2*p], genes[2*p+1] = "pois"+string(rune('A'+p)), "over"+string(rune('A'+p))
		for r := range n {
			x[r*g+2*p] = float32(poissonDraw(rng, mu))
			lam := mu * -math.Log(1-rng.Float64()) // exponential mixing: variance mu + mu^2
			x[r*g+2*p+1] = float32(poissonDraw(rng, lam))
		}
	}
	f := frame(x, genes, false)
	s, err := SelectFeatures(f, SelectOptions{Column: "x", TopN: pairs, Method: Dispersion, Bins: 5})
	require.NoError(t, err)
	sort.Strings(s.Genes)
	for _, name := range s.Genes {
		assert.Equal(t, "over", name[:4], "selected %v", s.Genes)
	}
}

func poissonDraw(rng *rand.Rand, lam float64) int {
	l, k, p := math.Exp(-lam), 0, rng.Float64()
	for p > l {
		k++
		p *= rng.Float64()
	}
	return k
}

func TestReduceMatchesSVD(t *testing.T) {
	for _, tc := range []struct {
		name string
		n, g int
	}{{"fewer samples than genes", 30, 50}, {"more samples than genes", 80, 12}} {
		t.Run(tc.name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(uint64(tc.n), 9))
			x := make([]float32, tc.n*tc.g)
			for r := range tc.n {
				a, b := rng.NormFloat64()*3, rng.NormFloat64()
				for j := range tc.g {
					x[r*tc.g+j] = float32(a*math.Sin(float64(j)) + b*math.Cos(float64(3*j)) + 0.1*rng.NormFloat64() + 2)
				}
			}
			f := frame(slices.Clone(x), geneNames(tc.g), true)
			out, dir, err := runStage(t, ReduceKind, f, map[string]any{"n_components": 3})
			require.NoError(t, err)
			require.NotNil(t, out.Col("PC3"))
			assert.Nil(t, out.Col("x"))
			var sum ReduceSummary
			b, err := os.ReadFile(filepath.Join(dir, contract.SummaryFile))
			require.NoError(t, err)
			require.NoError(t, json.Unmarshal(b, &sum))

			// independent check: gonum SVD of the centred train rows
			train := f.SplitRows(dataset.Train)
			a := mat.NewDense(len(train), tc.g, nil)
			mean := make([]float64, tc.g)
			for _, r := range train {
				for j := range tc.g {
					mean[j] += float64(x[r*tc.g+j]) / float64(len(train))
				}
			}
			for i, r := range train {
				for j := range tc.g {
					a.Set(i, j, float64(x[r*tc.g+j])-mean[j])
				}
			}
			var svd mat.SVD
			require.True(t, svd.Factorize(a, mat.SVDThin))
			sv := svd.Values(nil)
			var tot float64
			for _, s := range sv {
				tot += s * s
			}
			for c := range 3 {
				assert.InDelta(t, sv[c]*sv[c]/tot, sum.ExplainedRatio[c], 1e-6, "component %d", c)
				assert.InDelta(t, sv[c]*sv[c]/float64(len(train)-1), sum.Explained[c], 1e-4*sum.Explained[0])
				// scores of the train rows have the explained variance
				col := out.Col(sum.ComponentsNames[c])
				var m, v float64
				for _, r := range train {
					m += col.F[r]
				}
				m /= float64(len(train))
				for _, r := range train {
					v += (col.F[r] - m) * (col.F[r] - m)
				}
				assert.InDelta(t, sum.Explained[c], v/float64(len(train)-1), 1e-3*sum.Explained[0])
			}
			assert.Greater(t, sum.Cumulative[1], 0.9, "two latent factors carry the variance")
			require.Len(t, sum.Figures, 2)
			for _, fig := range sum.Figures {
				b, err := os.ReadFile(filepath.Join(dir, fig.File))
				require.NoError(t, err)
				assert.Equal(t, "\x89PNG", string(b[:4]))
			}
			comps, err := dataset.ReadFile(filepath.Join(dir, ComponentsFile))
			require.NoError(t, err)
			assert.Equal(t, tc.g, comps.NumRows())
			// unit-length, orthogonal components
			p1, p2 := comps.Col("PC1").F, comps.Col("PC2").F
			var n1, dot float64
			for j := range p1 {
				n1 += p1[j] * p1[j]
				dot += p1[j] * p2[j]
			}
			assert.InDelta(t, 1, n1, 1e-9)
			assert.InDelta(t, 0, dot, 1e-9)
		})
	}
}

func TestReduceTensorOutput(t *testing.T) {
	x := counts(20, 8, 7)
	f := frame(x, geneNames(8), false)
	p, err := Reduce(f, ReduceOptions{Column: "x", Components: 50, Center: true, Output: OutTensor, Prefix: "PC"})
	require.NoError(t, err)
	c := f.Col("x")
	assert.Equal(t, []int{8}, c.Shape, "components are capped at min(rows, genes)")
	names, _ := expr.FeatureNames(c.Meta)
	assert.Equal(t, "PC1", names[0])
	assert.Equal(t, 8, p.Summary.Components)
	assert.InDelta(t, 1, p.Summary.Cumulative[7], 1e-9)
	m, err := f.Features(nil)
	require.NoError(t, err)
	assert.Equal(t, []int{8}, m.Shape)
}
