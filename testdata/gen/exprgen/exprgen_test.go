package exprgen

import (
	"math"
	"math/rand/v2"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/biopipe/biopipe/io/expr"
)

func TestNegBinomialMoments(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, tc := range []struct{ mu, phi float64 }{{0.5, 0.2}, {5, 0.2}, {40, 0.1}, {200, 0.05}} {
		const n = 40000
		var s, s2 float64
		for range n {
			x := float64(negBinomial(rng, tc.mu, tc.phi))
			s += x
			s2 += x * x
		}
		mean := s / n
		variance := s2/n - mean*mean
		wantVar := tc.mu + tc.phi*tc.mu*tc.mu
		assert.InDelta(t, tc.mu, mean, 4*math.Sqrt(wantVar/n), "mean, mu=%v", tc.mu)
		assert.InDelta(t, wantVar, variance, 0.08*wantVar, "variance, mu=%v", tc.mu)
	}
}

func TestGenerate(t *testing.T) {
	p := Default()
	p.Cells, p.Genes, p.MarkersPerType = 300, 1000, 20
	d, err := Generate(p)
	require.NoError(t, err)
	m := d.Matrix
	require.Equal(t, 300, m.NumSamples())
	require.Equal(t, 1000, m.NumGenes())
	st := m.Summary(3)
	assert.Greater(t, st.ZeroFraction, 0.5, "sparse like scRNA-seq")
	assert.Less(t, st.ZeroFraction, 0.97)
	assert.Greater(t, st.SampleSums.Max/st.SampleSums.Min, 2.0, "library sizes vary")
	// every type's markers are higher in that type than elsewhere (library-size normalised)
	sums := m.RowSums()
	for ti, typ := range p.Types {
		var in, out float64
		var nin, nout int
		for c := range m.Samples {
			row := m.Row(c, nil)
			var v float64
			for _, g := range d.Markers[ti] {
				v += float64(row[g])
			}
			v /= sums[c]
			if d.Type[c] == typ {
				in, nin = in+v, nin+1
			} else {
				out, nout = out+v, nout+1
			}
		}
		require.Positive(t, nin, typ)
		assert.Greater(t, in/float64(nin), 2*out/float64(nout), "markers of %s", typ)
	}
	// the same params give the same data
	d2, err := Generate(p)
	require.NoError(t, err)
	assert.Equal(t, d.Matrix.Sparse, d2.Matrix.Sparse)
	assert.Equal(t, d.Type, d2.Type)

	dir := t.TempDir()
	require.NoError(t, d.Write(filepath.Join(dir, "10x"), filepath.Join(dir, "cells.csv")))
	back, err := expr.Read10x(filepath.Join(dir, "10x"), expr.TenXOptions{})
	require.NoError(t, err)
	assert.Equal(t, m.Samples, back.Samples)
	assert.Equal(t, m.Dense(), back.Dense())
}
