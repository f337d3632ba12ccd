package dsp

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"math/cmplx"
	"math/rand/v2"
	"os/exec"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestButterAnalytic(t *testing.T) {
	fs := 250.0
	cases := []struct {
		btype string
		order int
		freqs []float64
		pass  []float64 // frequencies with |H| ≈ 1
		stop  []float64 // frequencies with |H| < 0.01
		half  []float64 // frequencies with |H| = 1/sqrt2 (the cutoffs)
	}{
		{Lowpass, 4, []float64{30}, []float64{0, 5}, []float64{100}, []float64{30}},
		{Lowpass, 5, []float64{30}, []float64{0, 5}, []float64{100}, []float64{30}},
		{Highpass, 3, []float64{1}, []float64{20, 100}, []float64{0.01}, []float64{1}},
		{Bandpass, 4, []float64{8, 30}, []float64{15}, []float64{0.5, 100}, []float64{8, 30}},
		{Bandstop, 2, []float64{48, 52}, []float64{10, 100}, []float64{50}, []float64{48, 52}},
	}
	for _, c := range cases {
		sos, err := Butter(c.order, c.freqs, c.btype, fs)
		require.NoError(t, err)
		for _, f := range c.pass {
			assert.InDelta(t, 1, cmplx.Abs(sos.Response(f, fs)), 0.01, "%s %g Hz", c.btype, f)
		}
		for _, f := range c.stop {
			assert.Less(t, cmplx.Abs(sos.Response(f, fs)), 0.01, "%s %g Hz", c.btype, f)
		}
		for _, f := range c.half {
			assert.InDelta(t, 1/math.Sqrt2, cmplx.Abs(sos.Response(f, fs)), 1e-9, "%s cutoff %g Hz", c.btype, f)
		}
	}
	_, err := Butter(4, []float64{200}, Lowpass, fs)
	assert.ErrorContains(t, err, "Nyquist")
	_, err = Butter(4, []float64{30, 8}, Bandpass, fs)
	assert.Error(t, err)
}

func TestFiltFiltZeroPhase(t *testing.T) {
	fs := 200.0
	n := 2000
	x := make([]float64, n)
	want := make([]float64, n)
	for i := range x {
		tt := float64(i) / fs
		want[i] = math.Sin(2 * math.Pi * 5 * tt)
		x[i] = want[i] + math.Sin(2*math.Pi*60*tt) + 3 // 60 Hz and DC removed by the band-pass
	}
	sos, err := Butter(4, []float64{2, 20}, Bandpass, fs)
	require.NoError(t, err)
	sos.FiltFilt(x)
	g := cmplx.Abs(sos.Response(5, fs))
	for i := 300; i < n-300; i++ { // away from the edges: zero phase, gain |H|^2
		require.InDelta(t, want[i]*g*g, x[i], 2e-3, "sample %d", i)
	}
}

func TestResampleAnalytic(t *testing.T) {
	up, down, err := Ratio(256, 100)
	require.NoError(t, err)
	assert.Equal(t, []int{25, 64}, []int{up, down})
	up, down, err = Ratio(1000, 1000.0/3)
	require.NoError(t, err)
	assert.Equal(t, []int{1, 3}, []int{up, down})
	// A 5 Hz tone survives 256 -> 100 Hz; a 70 Hz tone (above the new Nyquist) is removed.
	fs := 256.0
	n := 2560
	x := make([]float64, n)
	for i := range x {
		tt := float64(i) / fs
		x[i] = math.Sin(2*math.Pi*5*tt) + math.Sin(2*math.Pi*70*tt)
	}
	y := ResamplePoly(x, 25, 64)
	require.Len(t, y, 1000)
	for k := 50; k < len(y)-50; k++ {
		require.InDelta(t, math.Sin(2*math.Pi*5*float64(k)/100), y[k], 0.01, "sample %d", k)
	}
}

// scipyRef runs scipy on the inputs; it skips when /usr/bin/python3 has no scipy.
func scipyRef(t *testing.T, script string, in any) map[string][]float64 {
	t.Helper()
	if err := exec.Command("/usr/bin/python3", "-c", "import scipy.signal").Run(); err != nil {
		t.Skip("scipy not available in /usr/bin/python3 (apt-get install python3-scipy)")
	}
	b, err := json.Marshal(in)
	require.NoError(t, err)
	cmd := exec.Command("/usr/bin/python3", "-c", script)
	cmd.Stdin = bytes.NewReader(b)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	require.NoError(t, err, stderr.String())
	res := map[string][]float64{}
	require.NoError(t, json.Unmarshal(out, &res))
	return res
}

func TestAgainstScipy(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	x := make([]float64, 1500)
	for i := range x {
		x[i] = rng.NormFloat64() + 0.01*float64(i)
	}
	type filt struct {
		Name  string    `json:"name"`
		Order int       `json:"order"`
		Freqs []float64 `json:"freqs"`
		Type  string    `json:"type"`
	}
	filters := []filt{
		{"lp4", 4, []float64{30}, Lowpass}, {"lp3", 3, []float64{12.5}, Lowpass},
		{"hp2", 2, []float64{0.5}, Highpass}, {"hp5", 5, []float64{40}, Highpass},
		{"bp4", 4, []float64{1, 40}, Bandpass}, {"bp3", 3, []float64{8, 13}, Bandpass},
		{"bs2", 2, []float64{48, 52}, Bandstop}, {"bs3", 3, []float64{45, 55}, Bandstop},
	}
	rates := [][2]int{{25, 64}, {1, 2}, {3, 1}, {2, 3}}
	script := `
import json, sys
import numpy as np
from scipy import signal
d = json.load(sys.stdin)
x = np.array(d["x"])
out = {}
for f in d["filters"]:
    w = f["freqs"][0] if len(f["freqs"]) == 1 else f["freqs"]
    sos = signal.butter(f["order"], w, btype=f["type"], fs=250.0, output="sos")
    out[f["name"]] = signal.sosfiltfilt(sos, x).tolist()
for up, down in d["rates"]:
    out["rs%d_%d" % (up, down)] = signal.resample_poly(x, up, down).tolist()
json.dump(out, sys.stdout)
`
	ref := scipyRef(t, script, map[string]any{"x": x, "filters": filters, "rates": rates})
	for _, f := range filters {
		sos, err := Butter(f.Order, f.Freqs, f.Type, 250)
		require.NoError(t, err)
		y := append([]float64(nil), x...)
		sos.FiltFilt(y)
		want := ref[f.Name]
		require.Len(t, want, len(y))
		for i := range y {
			require.InDelta(t, want[i], y[i], 1e-8*(1+math.Abs(want[i])), "%s sample %d", f.Name, i)
		}
	}
	for _, r := range rates {
		y := ResamplePoly(x, r[0], r[1])
		want := ref[fmtRate(r)]
		require.Len(t, y, len(want), "resample %v", r)
		for i := range y {
			require.InDelta(t, want[i], y[i], 1e-9*(1+math.Abs(want[i])), "resample %v sample %d", r, i)
		}
	}
}

func fmtRate(r [2]int) string { return fmt.Sprintf("rs%d_%d", r[0], r[1]) }
