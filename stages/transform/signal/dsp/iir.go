// Package dsp holds the signal processing behind the signal transforms: Butterworth design
// as second-order sections (bilinear transform with pre-warping, as scipy.signal.butter),
// zero-phase forward-backward filtering with odd-extension padding and steady-state initial
// conditions (as scipy.signal.sosfiltfilt), and polyphase anti-aliased resampling (as
// scipy.signal.resample_poly).
package dsp

import (
	"fmt"
	"math"
	"math/cmplx"
	"sort"
)

// Section is one biquad: b0 b1 b2 / 1 a1 a2 (a0 normalised to 1).
type Section struct{ B0, B1, B2, A1, A2 float64 }

// SOS is a cascade of second-order sections.
type SOS []Section

// Band types.
const (
	Lowpass  = "lowpass"
	Highpass = "highpass"
	Bandpass = "bandpass"
	Bandstop = "bandstop"
)

// Butter designs a digital Butterworth filter of the given order. For lowpass and highpass
// freqs has one cutoff, for bandpass and bandstop two (low, high), in Hz; fs is the sample
// rate. Band filters have twice the order's poles, as in scipy.
func Butter(order int, freqs []float64, btype string, fs float64) (SOS, error) {
	if order < 1 || order > 20 {
		return nil, fmt.Errorf("filter order %d out of range [1, 20]", order)
	}
	nyq := fs / 2
	want := 1
	if btype == Bandpass || btype == Bandstop {
		want = 2
	}
	if len(freqs) != want {
		return nil, fmt.Errorf("%s needs %d cutoff frequencies, got %d", btype, want, len(freqs))
	}
	for _, f := range freqs {
		if f <= 0 || f >= nyq {
			return nil, fmt.Errorf("cutoff %g Hz must be in (0, %g) (the Nyquist frequency at %g Hz)", f, nyq, fs)
		}
	}
	if want == 2 && freqs[0] >= freqs[1] {
		return nil, fmt.Errorf("band [%g, %g] Hz: low edge must be below high edge", freqs[0], freqs[1])
	}
	// Pre-warp the cutoffs (bilinear transform with fs).
	warp := func(f float64) float64 { return 2 * fs * math.Tan(math.Pi*f/fs) }
	// Analog prototype: poles on the unit circle's left half, no zeros, gain 1.
	var p []complex128
	for k := -order + 1; k < order; k += 2 {
		p = append(p, -cmplx.Exp(complex(0, math.Pi*float64(k)/float64(2*order))))
	}
	var z []complex128
	k := 1.0
	switch btype {
	case Lowpass:
		wo := warp(freqs[0])
		for i := range p {
			p[i] *= complex(wo, 0)
		}
		k *= math.Pow(wo, float64(order))
	case Highpass:
		wo := warp(freqs[0])
		prod := complex(1, 0)
		for i := range p {
			prod *= -p[i]
			p[i] = complex(wo, 0) / p[i]
		}
		z = make([]complex128, order)
		k *= real(1 / prod)
	case Bandpass, Bandstop:
		lo, hi := warp(freqs[0]), warp(freqs[1])
		bw, wo := hi-lo, math.Sqrt(lo*hi)
		var np []complex128
		if btype == Bandpass {
			for _, q := range p {
				ql := q * complex(bw/2, 0)
				d := cmplx.Sqrt(ql*ql - complex(wo*wo, 0))
				np = append(np, ql+d, ql-d)
			}
			z = make([]complex128, order)
			k *= math.Pow(bw, float64(order))
		} else {
			prod := complex(1, 0)
			for _, q := range p {
				prod *= -q
				qh := complex(bw/2, 0) / q
				d := cmplx.Sqrt(qh*qh - complex(wo*wo, 0))
				np = append(np, qh+d, qh-d)
			}
			for range order {
				z = append(z, complex(0, wo), complex(0, -wo))
			}
			k *= real(1 / prod)
		}
		p = np
	default:
		return nil, fmt.Errorf("unknown filter type %q (lowpass, highpass, bandpass, bandstop)", btype)
	}
	// Bilinear transform: s -> z = (2fs + s) / (2fs - s); zeros at infinity go to -1.
	fs2 := complex(2*fs, 0)
	num, den := complex(1, 0), complex(1, 0)
	var zd, pd []complex128
	for _, q := range z {
		zd = append(zd, (fs2+q)/(fs2-q))
		num *= fs2 - q
	}
	for _, q := range p {
		pd = append(pd, (fs2+q)/(fs2-q))
		den *= fs2 - q
	}
	for len(zd) < len(pd) {
		zd = append(zd, -1)
	}
	k *= real(num / den)
	return zpkToSOS(zd, pd, k), nil
}

// zpkToSOS pairs conjugate poles with the nearest zeros into biquads; an odd pole count
// leaves one first-order section (b2 = a2 = 0), which goes first as in scipy.
func zpkToSOS(z, p []complex128, k float64) SOS {
	sort.Slice(p, func(i, j int) bool { return cmplx.Abs(p[i]) < cmplx.Abs(p[j]) })
	used := make([]bool, len(p))
	var pairs [][2]complex128
	var single []complex128
	for i := range p {
		if used[i] {
			continue
		}
		used[i] = true
		if math.Abs(imag(p[i])) < 1e-12 {
			single = append(single, complex(real(p[i]), 0))
			continue
		}
		best := -1
		for j := i + 1; j < len(p); j++ {
			if !used[j] && (best < 0 || cmplx.Abs(p[j]-cmplx.Conj(p[i])) < cmplx.Abs(p[best]-cmplx.Conj(p[i]))) {
				best = j
			}
		}
		used[best] = true
		pairs = append(pairs, [2]complex128{p[i], p[best]})
	}
	// Real poles pair up among themselves, at most one left alone.
	var polesSec [][]complex128
	for i := 0; i+1 < len(single); i += 2 {
		polesSec = append(polesSec, []complex128{single[i], single[i+1]})
	}
	var lone []complex128
	if len(single)%2 == 1 {
		lone = []complex128{single[len(single)-1]}
	}
	for _, pr := range pairs {
		polesSec = append(polesSec, pr[:])
	}
	if lone != nil {
		polesSec = append([][]complex128{lone}, polesSec...)
	}
	zused := make([]bool, len(z))
	takeZero := func(target complex128) complex128 {
		best := -1
		for j := range z {
			if !zused[j] && (best < 0 || cmplx.Abs(z[j]-target) < cmplx.Abs(z[best]-target)) {
				best = j
			}
		}
		zused[best] = true
		return z[best]
	}
	sos := make(SOS, 0, len(polesSec))
	for _, ps := range polesSec {
		var s Section
		if len(ps) == 1 {
			z0 := takeZero(ps[0])
			s = Section{B0: 1, B1: -real(z0), A1: -real(ps[0])}
		} else {
			z0 := takeZero(ps[0])
			var z1 complex128
			if math.Abs(imag(z0)) > 1e-12 {
				z1 = takeZero(cmplx.Conj(z0))
			} else {
				z1 = takeZero(ps[1])
			}
			s = Section{B0: 1, B1: -real(z0 + z1), B2: real(z0 * z1), A1: -real(ps[0] + ps[1]), A2: real(ps[0] * ps[1])}
		}
		sos = append(sos, s)
	}
	sos[0].B0 *= k
	sos[0].B1 *= k
	sos[0].B2 *= k
	return sos
}

// Response returns the complex frequency response of the cascade at f Hz.
func (s SOS) Response(f, fs float64) complex128 {
	w := cmplx.Exp(complex(0, -2*math.Pi*f/fs))
	h := complex(1, 0)
	for _, q := range s {
		num := complex(q.B0, 0) + complex(q.B1, 0)*w + complex(q.B2, 0)*w*w
		den := 1 + complex(q.A1, 0)*w + complex(q.A2, 0)*w*w
		h *= num / den
	}
	return h
}

// zi returns the steady-state initial conditions of each section for a unit step input
// (scipy.signal.sosfilt_zi).
func (s SOS) zi() [][2]float64 {
	out := make([][2]float64, len(s))
	scale := 1.0
	for i, q := range s {
		// Transposed direct form II: solve (I - A^T) z = b[1:] - a[1:] b0.
		b1 := q.B1 - q.A1*q.B0
		b2 := q.B2 - q.A2*q.B0
		// [[1+a1, -1], [a2, 1]] z = [b1, b2]
		det := (1 + q.A1) + q.A2
		z0 := (b1 + b2) / det
		z1 := b2 - q.A2*z0
		out[i] = [2]float64{scale * z0, scale * z1}
		scale *= (q.B0 + q.B1 + q.B2) / (1 + q.A1 + q.A2)
	}
	return out
}

// filter runs the cascade over x in place starting from the state zi × x0.
func (s SOS) filter(x []float64, zi [][2]float64, x0 float64) {
	for i, q := range s {
		z0, z1 := zi[i][0]*x0, zi[i][1]*x0
		b0, b1, b2, a1, a2 := q.B0, q.B1, q.B2, q.A1, q.A2
		for t, v := range x {
			y := b0*v + z0
			z0 = b1*v - a1*y + z1
			z1 = b2*v - a2*y
			x[t] = y
		}
	}
}

// Filter applies the cascade causally with zero initial state (scipy.signal.sosfilt).
func (s SOS) Filter(x []float64) {
	zero := make([][2]float64, len(s))
	s.filter(x, zero, 0)
}

// PadLen is the odd-extension length FiltFilt uses (scipy's default for sosfiltfilt).
func (s SOS) PadLen() int {
	zb, za := 0, 0
	for _, q := range s {
		if q.B2 == 0 {
			zb++
		}
		if q.A2 == 0 {
			za++
		}
	}
	return 3 * (2*len(s) + 1 - min(zb, za))
}

// FiltFilt filters x forward and backward (zero phase), in place, like
// scipy.signal.sosfiltfilt with its default odd padding; signals shorter than the padding
// are padded by their length - 1.
func (s SOS) FiltFilt(x []float64) {
	n := len(x)
	if n == 0 {
		return
	}
	pad := min(s.PadLen(), n-1)
	ext := make([]float64, n+2*pad)
	for i := 0; i < pad; i++ {
		ext[i] = 2*x[0] - x[pad-i]
		ext[n+pad+i] = 2*x[n-1] - x[n-2-i]
	}
	copy(ext[pad:], x)
	zi := s.zi()
	s.filter(ext, zi, ext[0])
	for i, j := 0, len(ext)-1; i < j; i, j = i+1, j-1 {
		ext[i], ext[j] = ext[j], ext[i]
	}
	s.filter(ext, zi, ext[0])
	for i := 0; i < n; i++ {
		x[i] = ext[len(ext)-1-pad-i]
	}
}
