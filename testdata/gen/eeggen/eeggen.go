// Package eeggen writes a synthetic multi-subject EEG data set as EDF+ files: pink-noise
// background, 50 Hz line noise and event-locked bursts whose band depends on the class
// ("T1": an occipital alpha burst, "T2": a central beta burst with alpha suppression), with
// the events as EDF+ annotations. It is deterministic for a given Options (seed included),
// small enough to train a sequence model on in seconds, and used by configs/eeg-lstm.yaml.
//
// Regenerate the committed copy with: go run ./testdata/gen/eeggen/cmd -out testdata/eeg
package eeggen

import (
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"time"

	"github.com/biopipe/biopipe/io/edf"
)

// Options control the data set.
type Options struct {
	Subjects  int      // number of subjects (one file each)
	Channels  []string // channel labels; O* channels carry alpha, C* channels beta
	Rate      int      // samples per second
	Events    int      // events per subject (half per class)
	Spacing   float64  // seconds between event onsets
	BurstS    float64  // burst length in seconds (from the event onset)
	LineNoise float64  // 50 Hz amplitude in µV
	NoiseRMS  float64  // pink noise RMS in µV
	BurstAmp  float64  // burst amplitude in µV
	Seed      uint64
}

// Default is the data set of configs/eeg-lstm.yaml.
func Default() Options {
	return Options{Subjects: 8, Channels: []string{"C3", "C4", "O1", "O2"}, Rate: 128, Events: 40, Spacing: 2.5,
		BurstS: 1, LineNoise: 8, NoiseRMS: 10, BurstAmp: 9, Seed: 7}
}

// Classes are the annotation texts of the two event classes.
var Classes = []string{"T1", "T2"}

// FileName returns the file name of subject i (0-based).
func FileName(i int) string { return fmt.Sprintf("sub-%02d.edf", i+1) }

// Generate writes one EDF+ file per subject into dir.
func Generate(dir string, o Options) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	for s := 0; s < o.Subjects; s++ {
		if err := writeSubject(filepath.Join(dir, FileName(s)), s, o); err != nil {
			return err
		}
	}
	return nil
}

// pink returns n samples of unit-RMS 1/f noise (Paul Kellet's refined filter on white noise).
func pink(rng *rand.Rand, n int) []float64 {
	out := make([]float64, n)
	var b0, b1, b2, b3, b4, b5, b6 float64
	var sq float64
	for i := range out {
		w := rng.NormFloat64()
		b0 = 0.99886*b0 + w*0.0555179
		b1 = 0.99332*b1 + w*0.0750759
		b2 = 0.96900*b2 + w*0.1538520
		b3 = 0.86650*b3 + w*0.3104856
		b4 = 0.55000*b4 + w*0.5329522
		b5 = -0.7616*b5 - w*0.0168980
		out[i] = b0 + b1 + b2 + b3 + b4 + b5 + b6 + w*0.5362
		b6 = w * 0.115926
		sq += out[i] * out[i]
	}
	rms := math.Sqrt(sq / float64(n))
	mean := 0.0
	for _, v := range out {
		mean += v
	}
	mean /= float64(n)
	for i := range out {
		out[i] = (out[i] - mean) / rms
	}
	return out
}

func writeSubject(path string, s int, o Options) error {
	rng := rand.New(rand.NewPCG(o.Seed, uint64(s)+1))
	duration := int(math.Ceil(float64(o.Events)*o.Spacing + 2*o.Spacing))
	n := duration * o.Rate
	fs := float64(o.Rate)
	// Subject-specific rhythm frequencies and gains.
	alphaF := 9 + 2.5*rng.Float64()
	betaF := 18 + 6*rng.Float64()
	gain := 0.8 + 0.45*rng.Float64()
	// Balanced, shuffled classes; onsets on a jittered grid.
	classes := make([]int, o.Events)
	for i := range classes {
		classes[i] = i % 2
	}
	rng.Shuffle(len(classes), func(i, j int) { classes[i], classes[j] = classes[j], classes[i] })
	var annots []edf.Annotation
	onsets := make([]float64, o.Events)
	for i := range onsets {
		onsets[i] = math.Round((o.Spacing+float64(i)*o.Spacing+0.4*rng.Float64())*fs) / fs
		annots = append(annots, edf.Annotation{Onset: onsets[i], Duration: o.BurstS, Text: Classes[classes[i]]})
	}
	h := edf.Header{
		Format:         edf.EDFPlus,
		Patient:        fmt.Sprintf("PC-%04d %s 01-JAN-19%02d Testperson_%02d", 1000+s, []string{"F", "M"}[s%2], 70+s, s+1),
		Recording:      "Startdate 01-MAR-2024 X X biopipe_eeggen",
		Start:          time.Date(2024, 3, 1, 9, 0, 0, 0, time.UTC),
		RecordDuration: 1,
	}
	samples := make([][]float64, 0, len(o.Channels)+1)
	for c, name := range o.Channels {
		h.Signals = append(h.Signals, edf.SignalHeader{Label: name, Transducer: "synthetic", PhysicalDimension: "uV",
			PhysicalMin: -500, PhysicalMax: 500, DigitalMin: -32768, DigitalMax: 32767, Prefilter: "none", SamplesPerRecord: o.Rate})
		occipital := len(name) > 0 && name[0] == 'O'
		x := pink(rng, n)
		phase := 2 * math.Pi * rng.Float64()
		lineAmp := o.LineNoise * (0.7 + 0.6*rng.Float64())
		for t := range x {
			tt := float64(t) / fs
			x[t] = gain*o.NoiseRMS*x[t] + lineAmp*math.Sin(2*math.Pi*50*tt+phase) +
				1.5*math.Sin(2*math.Pi*alphaF*tt+float64(c)) // weak ongoing alpha
		}
		for i, on := range onsets {
			start := int(math.Round(on * fs))
			m := int(o.BurstS * fs)
			ph := 2 * math.Pi * rng.Float64()
			amp := o.BurstAmp * gain * (0.75 + 0.5*rng.Float64())
			for k := 0; k < m && start+k < n; k++ {
				w := 0.5 - 0.5*math.Cos(2*math.Pi*float64(k)/float64(m-1)) // Hann taper
				tt := float64(k) / fs
				var v float64
				switch {
				case classes[i] == 0 && occipital: // T1: strong occipital alpha
					v = amp * math.Sin(2*math.Pi*alphaF*tt+ph)
				case classes[i] == 0: // weaker central alpha
					v = 0.35 * amp * math.Sin(2*math.Pi*alphaF*tt+ph)
				case !occipital: // T2: central beta
					v = amp * math.Sin(2*math.Pi*betaF*tt+ph)
				default: // weak occipital beta
					v = 0.3 * amp * math.Sin(2*math.Pi*betaF*tt+ph)
				}
				x[start+k] += w * v
			}
		}
		samples = append(samples, x)
	}
	h.AddAnnotationSignal(64)
	samples = append(samples, nil)
	return edf.WriteFile(path, h, samples, annots)
}
