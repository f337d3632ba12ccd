package dsp

import (
	"fmt"
	"math"
)

// Ratio returns up/down, coprime, with to/from ≈ up/down to 1e-9 (both at most 10000),
// found by a continued fraction expansion.
func Ratio(from, to float64) (up, down int, err error) {
	if from <= 0 || to <= 0 {
		return 0, 0, fmt.Errorf("sample rates must be positive (from %g to %g Hz)", from, to)
	}
	target := to / from
	x := target
	h0, h1, k0, k1 := int64(0), int64(1), int64(1), int64(0)
	for i := 0; i < 64; i++ {
		a := int64(math.Floor(x))
		h2, k2 := a*h1+h0, a*k1+k0
		if h2 > 10000 || k2 > 10000 {
			break
		}
		h0, h1, k0, k1 = h1, h2, k1, k2
		if math.Abs(float64(h1)/float64(k1)-target) <= 1e-9*target || x-float64(a) < 1e-12 {
			break
		}
		x = 1 / (x - float64(a))
	}
	if h1 == 0 || k1 == 0 || math.Abs(float64(h1)/float64(k1)-target) > 1e-6*target {
		return 0, 0, fmt.Errorf("cannot resample from %g to %g Hz: no ratio of integers up to 10000 is close enough", from, to)
	}
	return int(h1), int(k1), nil
}

// besselI0 is the modified Bessel function of the first kind, order 0.
func besselI0(x float64) float64 {
	sum, term := 1.0, 1.0
	for k := 1; k < 200; k++ {
		term *= (x / (2 * float64(k))) * (x / (2 * float64(k)))
		sum += term
		if term < sum*1e-17 {
			break
		}
	}
	return sum
}

// PolyphaseFilter returns the anti-aliasing FIR of ResamplePoly: a windowed sinc with cutoff
// 1/max(up, down) of Nyquist, Kaiser window (beta 5), 20·max(up, down)+1 taps, scaled by up
// (scipy.signal.resample_poly's default design).
func PolyphaseFilter(up, down int) []float64 {
	m := max(up, down)
	half := 10 * m
	n := 2*half + 1
	h := make([]float64, n)
	fc := 1 / float64(m)
	beta := 5.0
	i0b := besselI0(beta)
	sum := 0.0
	for i := range h {
		t := float64(i - half)
		var s float64
		if t == 0 {
			s = fc
		} else {
			s = math.Sin(math.Pi*fc*t) / (math.Pi * t)
		}
		r := 2*float64(i)/float64(n-1) - 1
		w := besselI0(beta*math.Sqrt(math.Max(0, 1-r*r))) / i0b
		h[i] = s * w
		sum += h[i]
	}
	for i := range h {
		h[i] = h[i] / sum * float64(up)
	}
	return h
}

// ResamplePoly resamples x by up/down with a polyphase anti-aliasing FIR, zero-padded at
// the edges, compensating the filter delay (scipy.signal.resample_poly with padtype
// "constant"). The output has ceil(len(x)·up/down) samples.
func ResamplePoly(x []float64, up, down int) []float64 {
	if up == down {
		return append([]float64(nil), x...)
	}
	h := PolyphaseFilter(up, down)
	half := (len(h) - 1) / 2
	// scipy pads the filter so the delay is a whole number of output samples.
	nPrePad := down - half%down
	nPreRemove := (half + nPrePad) / down
	nOut := (len(x)*up + down - 1) / down
	// Filter with n_pre_pad zeros in front.
	hp := make([]float64, nPrePad+len(h))
	copy(hp[nPrePad:], h)
	out := make([]float64, nOut)
	// upsampled signal u[j] = x[j/up] when j%up == 0; y[k] = sum_j u[j] hp[k*down + nPreRemove*down - j]
	for k := range out {
		pos := (k + nPreRemove) * down // index into the filtered, upsampled stream
		// j ranges over multiples of up with 0 <= pos - j < len(hp)
		jmin := pos - len(hp) + 1
		if jmin < 0 {
			jmin = 0
		}
		i0 := (jmin + up - 1) / up
		sum := 0.0
		for i := i0; i < len(x); i++ {
			j := i * up
			if j > pos {
				break
			}
			sum += x[i] * hp[pos-j]
		}
		out[k] = sum
	}
	return out
}
