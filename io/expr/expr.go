// Package expr reads and writes gene-expression matrices: dense delimited text (CSV/TSV,
// optionally gzipped) in either orientation, GCT 1.2/1.3, MatrixMarket files and 10x Genomics
// folders (sparse), Parquet and Arrow IPC tables. Every reader returns a Matrix with samples
// as rows and genes as columns, dense or sparse (CSR) according to the source, and errors that
// name the file, line and column of the problem.
package expr

import (
	"encoding/json"
	"fmt"
	"math"
	"slices"
)

// Orientation says how a dense file lays out its matrix.
type Orientation string

// Orientations of a dense file.
const (
	GenesBySamples Orientation = "genes_x_samples" // one line per gene, one column per sample (GEO, GCT, R)
	SamplesByGenes Orientation = "samples_x_genes" // one line per sample, one column per gene (scanpy, pandas)
)

// MetaFeatures is the field-metadata key of a tensor column holding the JSON list of the
// feature (gene) ids, one per tensor element.
const MetaFeatures = "biopipe.features"

// Matrix is an expression matrix with samples (cells) as rows and genes (features) as
// columns. Exactly one of X (dense) and Sparse is set.
type Matrix struct {
	Samples []string // row ids
	Genes   []string // column ids
	// GeneInfo holds further per-gene columns by name (10x "name" and "type", GCT
	// "Description" or 1.3 row metadata), each with one value per gene.
	GeneInfo map[string][]string
	// SampleInfo holds per-sample annotation columns found in the file itself (GCT 1.3
	// column metadata, string columns of a table), each with one value per sample.
	SampleInfo map[string][]string
	X          []float32 // dense, row-major, len(Samples)*len(Genes)
	Sparse     *CSR      // sparse, Rows = samples, Cols = genes
	Format     string    // "tsv", "csv", "gct", "mtx", "10x", "parquet", "arrow"
	Source     string    // the file or folder read
}

// NumSamples returns the number of rows.
func (m *Matrix) NumSamples() int { return len(m.Samples) }

// NumGenes returns the number of columns.
func (m *Matrix) NumGenes() int { return len(m.Genes) }

// IsSparse reports whether the values are held as CSR.
func (m *Matrix) IsSparse() bool { return m.Sparse != nil }

// Row writes the values of sample i into dst (len NumGenes) and returns it; dst may be nil.
func (m *Matrix) Row(i int, dst []float32) []float32 {
	g := len(m.Genes)
	if dst == nil {
		dst = make([]float32, g)
	}
	if m.Sparse == nil {
		copy(dst, m.X[i*g:(i+1)*g])
		return dst
	}
	clear(dst)
	s := m.Sparse
	for k := s.Indptr[i]; k < s.Indptr[i+1]; k++ {
		dst[s.Indices[k]] = s.Data[k]
	}
	return dst
}

// Dense returns the values as a dense row-major samples x genes slice (the matrix's own
// slice when it is dense).
func (m *Matrix) Dense() []float32 {
	if m.Sparse == nil {
		return m.X
	}
	g := len(m.Genes)
	out := make([]float32, len(m.Samples)*g)
	for i := range m.Samples {
		m.Row(i, out[i*g:(i+1)*g])
	}
	return out
}

// Stats summarises a matrix for `biopipe inspect` and ingest summaries.
type Stats struct {
	Samples      int       `json:"samples"`
	Genes        int       `json:"genes"`
	NonZero      int64     `json:"nonzero"`
	ZeroFraction float64   `json:"zero_fraction"`
	SampleSums   SumStats  `json:"sample_sums"`
	FirstSums    []float64 `json:"first_sample_sums"`
	FirstSamples []string  `json:"first_samples"`
	FirstGenes   []string  `json:"first_genes"`
	Sparse       bool      `json:"sparse"`
	Format       string    `json:"format"`
}

// SumStats are summary statistics of per-sample totals (library sizes).
type SumStats struct {
	Min    float64 `json:"min"`
	Median float64 `json:"median"`
	Mean   float64 `json:"mean"`
	Max    float64 `json:"max"`
}

// RowSums returns the total of each sample.
func (m *Matrix) RowSums() []float64 {
	out := make([]float64, len(m.Samples))
	g := len(m.Genes)
	for i := range out {
		var s float64
		if m.Sparse != nil {
			for k := m.Sparse.Indptr[i]; k < m.Sparse.Indptr[i+1]; k++ {
				s += float64(m.Sparse.Data[k])
			}
		} else {
			for _, v := range m.X[i*g : (i+1)*g] {
				s += float64(v)
			}
		}
		out[i] = s
	}
	return out
}

// Summary computes the Stats of the matrix; first is how many ids and sums to list.
func (m *Matrix) Summary(first int) Stats {
	st := Stats{Samples: len(m.Samples), Genes: len(m.Genes), Sparse: m.Sparse != nil, Format: m.Format}
	if m.Sparse != nil {
		for _, v := range m.Sparse.Data {
			if v != 0 {
				st.NonZero++
			}
		}
	} else {
		for _, v := range m.X {
			if v != 0 {
				st.NonZero++
			}
		}
	}
	if total := float64(st.Samples) * float64(st.Genes); total > 0 {
		st.ZeroFraction = 1 - float64(st.NonZero)/total
	}
	sums := m.RowSums()
	st.FirstSums = slices.Clone(sums[:min(first, len(sums))])
	st.FirstSamples = slices.Clone(m.Samples[:min(first, len(m.Samples))])
	st.FirstGenes = slices.Clone(m.Genes[:min(first, len(m.Genes))])
	if len(sums) > 0 {
		sorted := slices.Clone(sums)
		slices.Sort(sorted)
		var tot float64
		for _, v := range sorted {
			tot += v
		}
		med := sorted[len(sorted)/2]
		if len(sorted)%2 == 0 {
			med = (sorted[len(sorted)/2-1] + sorted[len(sorted)/2]) / 2
		}
		st.SampleSums = SumStats{Min: sorted[0], Median: med, Mean: tot / float64(len(sorted)), Max: sorted[len(sorted)-1]}
	}
	return st
}

// CheckIDs reports the first empty or duplicated id in ids, naming what they are ("gene",
// "sample") and, through pos, where each one was read from.
func CheckIDs(what string, ids []string, pos func(i int) string) error {
	seen := make(map[string]int, len(ids))
	for i, id := range ids {
		if id == "" {
			return fmt.Errorf("%s: empty %s id", pos(i), what)
		}
		if j, dup := seen[id]; dup {
			return fmt.Errorf("%s: duplicated %s id %q (first at %s)", pos(i), what, id, pos(j))
		}
		seen[id] = i
	}
	return nil
}

// FeatureNames decodes the gene ids stored in a tensor column's field metadata.
func FeatureNames(meta map[string]string) ([]string, error) {
	s, ok := meta[MetaFeatures]
	if !ok {
		return nil, nil
	}
	var out []string
	if err := json.Unmarshal([]byte(s), &out); err != nil {
		return nil, fmt.Errorf("field metadata %s: %w", MetaFeatures, err)
	}
	return out, nil
}

// SetFeatureNames stores the gene ids in a tensor column's field metadata, creating it.
func SetFeatureNames(meta map[string]string, names []string) map[string]string {
	if meta == nil {
		meta = map[string]string{}
	}
	b, _ := json.Marshal(names)
	meta[MetaFeatures] = string(b)
	return meta
}

// finite reports whether v is neither NaN nor infinite.
func finite(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }
