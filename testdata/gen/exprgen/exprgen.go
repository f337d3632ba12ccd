// Package exprgen generates realistic single-cell RNA-seq counts for tests and examples:
// negative-binomial counts around per-gene baselines drawn from a log-normal, several cell
// types each with up-regulated marker genes, per-cell library-size variation, a mild batch
// effect, and expression-dependent dropouts (a logistic in log mean, as in Splatter). The
// result is written as a 10x Genomics MatrixMarket folder plus a sample annotation CSV.
// Everything is a deterministic function of Params (seeded PCG).
package exprgen

import (
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/biopipe/biopipe/io/expr"
)

// Params sizes and shapes the simulation.
type Params struct {
	Cells          int       // number of cells (samples)
	Genes          int       // number of genes
	Types          []string  // cell type names
	TypeShares     []float64 // share of cells per type (normalised; nil = equal)
	MarkersPerType int       // up-regulated genes per type
	MarkerLog2FC   [2]float64
	LibraryMean    float64 // mean total UMIs per cell
	LibrarySD      float64 // sd of log library size
	Dispersion     float64 // NB dispersion phi (variance = mu + phi mu^2)
	DropoutMid     float64 // log mean at which half the counts drop out
	DropoutShape   float64 // steepness of the dropout logistic
	Batches        int
	BatchSD        float64 // sd of the per-batch, per-gene log factor
	Donors         int
	Seed           uint64
}

// Default returns the parameters of the example dataset used by configs/expression-ae.yaml:
// 800 cells x 5,000 genes, five immune cell types.
func Default() Params {
	return Params{
		Cells: 800, Genes: 5000,
		Types:          []string{"B cell", "CD14 monocyte", "CD4 T cell", "CD8 T cell", "NK cell"},
		TypeShares:     []float64{0.2, 0.2, 0.25, 0.2, 0.15},
		MarkersPerType: 40, MarkerLog2FC: [2]float64{1.5, 3.5},
		LibraryMean: 4000, LibrarySD: 0.35, Dispersion: 0.2,
		DropoutMid: -1.5, DropoutShape: 1.2,
		Batches: 2, BatchSD: 0.1, Donors: 4, Seed: 20241125,
	}
}

// Dataset is a generated count matrix with its cell annotations.
type Dataset struct {
	Matrix *expr.Matrix // cells x genes, sparse
	Type   []string     // per cell
	Batch  []string
	Donor  []string
	// Markers lists the marker gene indices of each type.
	Markers [][]int
}

// known marker symbols used for the first markers of each type (for readable plots)
var symbols = map[string][]string{
	"B cell":        {"MS4A1", "CD79A", "CD79B", "CD19", "BANK1"},
	"CD14 monocyte": {"CD14", "LYZ", "S100A8", "S100A9", "FCN1"},
	"CD4 T cell":    {"IL7R", "CD4", "CCR7", "LEF1", "TCF7"},
	"CD8 T cell":    {"CD8A", "CD8B", "GZMK", "CD3D", "CD3E"},
	"NK cell":       {"GNLY", "NKG7", "KLRD1", "PRF1", "GZMB"},
}

// Generate simulates a dataset.
func Generate(p Params) (*Dataset, error) {
	if p.Cells < 1 || p.Genes < 1 || len(p.Types) < 1 {
		return nil, fmt.Errorf("exprgen: need at least one cell, gene and type")
	}
	if p.MarkersPerType*len(p.Types) > p.Genes {
		return nil, fmt.Errorf("exprgen: %d types x %d markers exceed %d genes", len(p.Types), p.MarkersPerType, p.Genes)
	}
	rng := rand.New(rand.NewPCG(p.Seed, 0x5eed))
	nt := len(p.Types)
	// baseline relative abundances: log-normal, normalised to sum 1
	base := make([]float64, p.Genes)
	var tot float64
	for g := range base {
		base[g] = math.Exp(rng.NormFloat64()*1.6 - 1)
		tot += base[g]
	}
	for g := range base {
		base[g] /= tot
	}
	// markers: drawn from genes with above-median baseline, distinct across types
	perm := rng.Perm(p.Genes)
	var pool []int
	med := median(base)
	for _, g := range perm {
		if base[g] >= med {
			pool = append(pool, g)
		}
	}
	markers := make([][]int, nt)
	logfc := make([][]float64, nt) // per type, per gene
	for t := range nt {
		logfc[t] = make([]float64, p.Genes)
		markers[t] = pool[t*p.MarkersPerType : (t+1)*p.MarkersPerType]
		for _, g := range markers[t] {
			logfc[t][g] = math.Ln2 * (p.MarkerLog2FC[0] + rng.Float64()*(p.MarkerLog2FC[1]-p.MarkerLog2FC[0]))
		}
	}
	// batch factors
	batchF := make([][]float64, max(p.Batches, 1))
	for b := range batchF {
		batchF[b] = make([]float64, p.Genes)
		for g := range batchF[b] {
			batchF[b][g] = rng.NormFloat64() * p.BatchSD
		}
	}
	// gene names
	ids := make([]string, p.Genes)
	names := make([]string, p.Genes)
	for g := range ids {
		ids[g] = fmt.Sprintf("ENSSIMG%011d", g+1)
		names[g] = fmt.Sprintf("SIM%05d", g+1)
	}
	for t, typ := range p.Types {
		for k, s := range symbols[typ] {
			if k < len(markers[t]) {
				names[markers[t][k]] = s
			}
		}
	}
	// cell types by share
	shares := p.TypeShares
	if len(shares) != nt {
		shares = make([]float64, nt)
		for i := range shares {
			shares[i] = 1
		}
	}
	var ssum float64
	for _, s := range shares {
		ssum += s
	}
	d := &Dataset{Markers: markers}
	m := &expr.Matrix{Genes: ids, GeneInfo: map[string][]string{"name": names}, Format: "10x"}
	sp := &expr.CSR{Rows: p.Cells, Cols: p.Genes, Indptr: make([]int64, p.Cells+1)}
	seenBC := map[string]bool{}
	prob := make([]float64, p.Genes)
	for c := range p.Cells {
		// deterministic type assignment by share, shuffled later by barcode order
		u := (float64(c) + 0.5) / float64(p.Cells) * ssum
		t := 0
		for acc := shares[0]; u > acc && t < nt-1; {
			t++
			acc += shares[t]
		}
		b := rng.IntN(max(p.Batches, 1))
		donor := rng.IntN(max(p.Donors, 1))
		lib := p.LibraryMean * math.Exp(rng.NormFloat64()*p.LibrarySD-p.LibrarySD*p.LibrarySD/2)
		var z float64
		for g := range prob {
			prob[g] = base[g] * math.Exp(logfc[t][g]+batchF[b][g])
			z += prob[g]
		}
		for g := range prob {
			mu := lib * prob[g] / z
			n := negBinomial(rng, mu, p.Dispersion)
			if n == 0 {
				continue
			}
			// dropout: keep with probability logistic(shape * (log mu - mid))
			keep := 1 / (1 + math.Exp(-p.DropoutShape*(math.Log(mu)-p.DropoutMid)))
			if rng.Float64() >= keep {
				continue
			}
			sp.Indices = append(sp.Indices, int32(g))
			sp.Data = append(sp.Data, float32(n))
		}
		sp.Indptr[c+1] = int64(len(sp.Indices))
		bc := barcode(rng)
		for seenBC[bc] {
			bc = barcode(rng)
		}
		seenBC[bc] = true
		m.Samples = append(m.Samples, bc+"-1")
		d.Type = append(d.Type, p.Types[t])
		d.Batch = append(d.Batch, fmt.Sprintf("batch%d", b+1))
		d.Donor = append(d.Donor, fmt.Sprintf("donor%d", donor+1))
	}
	// interleave cell types: order cells by a random permutation so files are not sorted by type
	order := rng.Perm(p.Cells)
	m.Sparse = sp
	d.Matrix = reorder(m, order)
	d.Type = permute(d.Type, order)
	d.Batch = permute(d.Batch, order)
	d.Donor = permute(d.Donor, order)
	return d, nil
}

// Write writes the dataset to dir as a 10x folder and an annotation CSV (cells.csv with
// columns barcode, cell_type, batch, donor).
func (d *Dataset) Write(dir, annotationFile string) error {
	if err := expr.Write10x(dir, d.Matrix); err != nil {
		return err
	}
	var b strings.Builder
	b.WriteString("barcode,cell_type,batch,donor\n")
	for i, bc := range d.Matrix.Samples {
		fmt.Fprintf(&b, "%s,%s,%s,%s\n", bc, d.Type[i], d.Batch[i], d.Donor[i])
	}
	if err := os.MkdirAll(filepath.Dir(annotationFile), 0o755); err != nil {
		return err
	}
	return os.WriteFile(annotationFile, []byte(b.String()), 0o644)
}

func reorder(m *expr.Matrix, order []int) *expr.Matrix {
	sp := m.Sparse
	out := &expr.CSR{Rows: sp.Rows, Cols: sp.Cols, Indptr: make([]int64, sp.Rows+1)}
	for k, i := range order {
		out.Indices = append(out.Indices, sp.Indices[sp.Indptr[i]:sp.Indptr[i+1]]...)
		out.Data = append(out.Data, sp.Data[sp.Indptr[i]:sp.Indptr[i+1]]...)
		out.Indptr[k+1] = int64(len(out.Indices))
	}
	return &expr.Matrix{Samples: permute(m.Samples, order), Genes: m.Genes, GeneInfo: m.GeneInfo, Sparse: out, Format: m.Format}
}

func permute(s []string, order []int) []string {
	out := make([]string, len(order))
	for k, i := range order {
		out[k] = s[i]
	}
	return out
}

func barcode(rng *rand.Rand) string {
	const acgt = "ACGT"
	b := make([]byte, 16)
	for i := range b {
		b[i] = acgt[rng.IntN(4)]
	}
	return string(b)
}

func median(v []float64) float64 {
	s := slices.Clone(v)
	slices.Sort(s)
	return s[len(s)/2]
}

// negBinomial draws NB(mean mu, dispersion phi) as Poisson(Gamma(1/phi, mu*phi)).
func negBinomial(rng *rand.Rand, mu, phi float64) int {
	if mu <= 0 {
		return 0
	}
	lam := mu
	if phi > 0 {
		lam = gamma(rng, 1/phi) * mu * phi
	}
	return poisson(rng, lam)
}

// gamma draws Gamma(shape k, scale 1) (Marsaglia and Tsang).
func gamma(rng *rand.Rand, k float64) float64 {
	if k < 1 {
		return gamma(rng, k+1) * math.Pow(rng.Float64(), 1/k)
	}
	d := k - 1.0/3
	c := 1 / math.Sqrt(9*d)
	for {
		x := rng.NormFloat64()
		v := 1 + c*x
		if v <= 0 {
			continue
		}
		v = v * v * v
		u := rng.Float64()
		if u < 1-0.0331*x*x*x*x || math.Log(u) < 0.5*x*x+d*(1-v+math.Log(v)) {
			return d * v
		}
	}
}

// poisson draws Poisson(lam): multiplication for small means, the PTRS transformed
// rejection method (Hörmann 1993) for large ones.
func poisson(rng *rand.Rand, lam float64) int {
	if lam <= 0 {
		return 0
	}
	if lam < 10 {
		l := math.Exp(-lam)
		k, p := 0, rng.Float64()
		for p > l {
			k++
			p *= rng.Float64()
		}
		return k
	}
	slam := math.Sqrt(lam)
	loglam := math.Log(lam)
	b := 0.931 + 2.53*slam
	a := -0.059 + 0.02483*b
	invalpha := 1.1239 + 1.1328/(b-3.4)
	vr := 0.9277 - 3.6224/(b-2)
	for {
		u := rng.Float64() - 0.5
		v := rng.Float64()
		us := 0.5 - math.Abs(u)
		k := math.Floor((2*a/us+b)*u + lam + 0.43)
		if us >= 0.07 && v <= vr {
			return int(k)
		}
		if k < 0 || (us < 0.013 && v > us) {
			continue
		}
		lg, _ := math.Lgamma(k + 1)
		if math.Log(v)+math.Log(invalpha)-math.Log(a/(us*us)+b) <= -lam+k*loglam-lg {
			return int(k)
		}
	}
}
