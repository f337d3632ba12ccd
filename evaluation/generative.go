package evaluation

import (
	"fmt"
	"math"

	"gonum.org/v1/gonum/mat"

	"github.com/biopipe/biopipe/metrics"
)

// Names of the sample-quality figures (manifest and metrics keys).
const (
	NameSampleConfidence = "sample_confidence"
	NameClassCoverage    = "class_coverage"
	NameClassKL          = "class_kl"
	NameFIDDomain        = "fid_domain"
)

// CoverageShare is the share of samples a class needs to count as covered.
const CoverageShare = 0.01

// ClassifierView is what a classifier trained on real data says about a set of examples:
// class probabilities per example and, optionally, its penultimate-layer features.
type ClassifierView struct {
	Probs    [][]float64
	Features [][]float64 // nil when the classifier exports none
}

// QualityFigures are the sample-quality figures of one set of examples.
type QualityFigures struct {
	N int `json:"n"`
	// Confidence is the mean top-class probability.
	Confidence float64 `json:"sample_confidence"`
	// Coverage counts the classes predicted for at least CoverageShare of the examples.
	Coverage int `json:"class_coverage"`
	// Histogram is the share of examples predicted as each class.
	Histogram []float64 `json:"class_histogram"`
	// KL is the KL divergence of Histogram from the real data's (0 for the real data).
	KL float64 `json:"class_kl"`
	// FID is the Fréchet distance between the classifier's penultimate features of these
	// examples and of the real data (absent without features; 0 for the real data).
	FID *float64 `json:"fid_domain,omitempty"`
}

// SampleQuality measures generated examples with a classifier trained on real data, beside
// the same figures for real held-out examples. The Fréchet distance on a domain classifier's
// features is not the Inception FID: its scale depends on that classifier, so compare it
// only between models measured with the same classifier.
func SampleQuality(generated, real ClassifierView, classes int) (gen, ref QualityFigures, err error) {
	if len(generated.Probs) == 0 || len(real.Probs) == 0 {
		return gen, ref, fmt.Errorf("sample quality: need generated and real examples (got %d and %d)", len(generated.Probs), len(real.Probs))
	}
	gen, err = classFigures(generated.Probs, classes)
	if err != nil {
		return gen, ref, fmt.Errorf("generated examples: %w", err)
	}
	ref, err = classFigures(real.Probs, classes)
	if err != nil {
		return gen, ref, fmt.Errorf("real examples: %w", err)
	}
	gen.KL = KL(gen.Histogram, ref.Histogram)
	if generated.Features != nil && real.Features != nil {
		fid, err := FrechetDistance(generated.Features, real.Features)
		if err != nil {
			return gen, ref, err
		}
		gen.FID, ref.FID = &fid, new(float64)
	}
	return gen, ref, nil
}

func classFigures(probs [][]float64, k int) (QualityFigures, error) {
	q := QualityFigures{N: len(probs), Histogram: make([]float64, k)}
	for i, p := range probs {
		if len(p) != k {
			return q, fmt.Errorf("example %d has %d class probabilities, want %d", i, len(p), k)
		}
		c := metrics.Argmax(p)
		q.Confidence += p[c]
		q.Histogram[c]++
	}
	n := float64(len(probs))
	q.Confidence /= n
	for c := range q.Histogram {
		q.Histogram[c] /= n
		if q.Histogram[c] >= CoverageShare {
			q.Coverage++
		}
	}
	return q, nil
}

// KL is the Kullback-Leibler divergence KL(p || q) of two histograms (in nats), each
// smoothed with 1e-6 per bin so that empty bins stay finite.
func KL(p, q []float64) float64 {
	const eps = 1e-6
	var sp, sq float64
	for i := range p {
		sp += p[i] + eps
		sq += q[i] + eps
	}
	var kl float64
	for i := range p {
		a, b := (p[i]+eps)/sp, (q[i]+eps)/sq
		kl += a * math.Log(a/b)
	}
	return kl
}

// FrechetDistance is the Fréchet distance between Gaussians fitted to two sets of
// feature vectors: |mu1 - mu2|^2 + Tr(S1 + S2 - 2 (S1^1/2 S2 S1^1/2)^1/2).
func FrechetDistance(a, b [][]float64) (float64, error) {
	if len(a) < 2 || len(b) < 2 {
		return 0, fmt.Errorf("fréchet distance: need at least 2 examples on each side (got %d and %d)", len(a), len(b))
	}
	d := len(a[0])
	for _, set := range [][][]float64{a, b} {
		for i, v := range set {
			if len(v) != d {
				return 0, fmt.Errorf("fréchet distance: feature vector %d has %d values, want %d", i, len(v), d)
			}
		}
	}
	mu1, s1 := meanCov(a, d)
	mu2, s2 := meanCov(b, d)
	var dist float64
	for i := range mu1 {
		dist += (mu1[i] - mu2[i]) * (mu1[i] - mu2[i])
	}
	r1, err := sqrtPSD(s1)
	if err != nil {
		return 0, err
	}
	var m, tmp mat.Dense
	tmp.Mul(r1, s2)
	m.Mul(&tmp, r1)
	sym := mat.NewSymDense(d, nil)
	for i := range d {
		for j := i; j < d; j++ {
			sym.SetSym(i, j, (m.At(i, j)+m.At(j, i))/2)
		}
	}
	var eig mat.EigenSym
	if !eig.Factorize(sym, false) {
		return 0, fmt.Errorf("fréchet distance: eigendecomposition failed")
	}
	var trSqrt float64
	for _, v := range eig.Values(nil) {
		trSqrt += math.Sqrt(math.Max(v, 0))
	}
	return dist + mat.Trace(s1) + mat.Trace(s2) - 2*trSqrt, nil
}

func meanCov(x [][]float64, d int) ([]float64, *mat.SymDense) {
	mu := make([]float64, d)
	for _, v := range x {
		for j, e := range v {
			mu[j] += e
		}
	}
	n := float64(len(x))
	for j := range mu {
		mu[j] /= n
	}
	cov := mat.NewSymDense(d, nil)
	for i := range d {
		for j := i; j < d; j++ {
			var s float64
			for _, v := range x {
				s += (v[i] - mu[i]) * (v[j] - mu[j])
			}
			cov.SetSym(i, j, s/(n-1))
		}
	}
	return mu, cov
}

// sqrtPSD is the symmetric square root of a positive semi-definite matrix.
func sqrtPSD(s *mat.SymDense) (*mat.Dense, error) {
	var eig mat.EigenSym
	if !eig.Factorize(s, true) {
		return nil, fmt.Errorf("fréchet distance: eigendecomposition failed")
	}
	vals := eig.Values(nil)
	var vecs mat.Dense
	eig.VectorsTo(&vecs)
	d := len(vals)
	diag := mat.NewDiagDense(d, nil)
	for i, v := range vals {
		diag.SetDiag(i, math.Sqrt(math.Max(v, 0)))
	}
	var tmp, out mat.Dense
	tmp.Mul(&vecs, diag)
	out.Mul(&tmp, vecs.T())
	return &out, nil
}
