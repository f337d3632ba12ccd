package edf

import (
	"bytes"
	"encoding/json"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestMNEReadsOurFiles is a second, independent check of the writer: MNE-Python (Debian
// python3-mne) reads EDF+ and BDF+ files written here. Skips when MNE is not installed.
func TestMNEReadsOurFiles(t *testing.T) {
	if err := exec.Command("/usr/bin/python3", "-c", "import mne").Run(); err != nil {
		t.Skip("MNE not available in /usr/bin/python3 (apt-get install python3-mne)")
	}
	// One Python process reads every file (importing MNE takes seconds).
	script := `
import sys, json, mne
mne.set_log_level("ERROR")
out = []
for path in sys.argv[1:]:
    read = mne.io.read_raw_bdf if path.endswith(".bdf") else mne.io.read_raw_edf
    raw = read(path, preload=True)
    a = raw.annotations
    out.append({"ch_names": raw.ch_names, "sfreq": raw.info["sfreq"], "data": (raw.get_data() * 1e6).tolist(),
                "onset": [float(x) for x in a.onset], "duration": [float(x) for x in a.duration],
                "description": list(a.description)})
json.dump(out, sys.stdout)
`
	type mneRead struct {
		ChNames     []string    `json:"ch_names"`
		SFreq       float64     `json:"sfreq"`
		Data        [][]float64 `json:"data"`
		Onset       []float64   `json:"onset"`
		Duration    []float64   `json:"duration"`
		Description []string    `json:"description"`
	}
	formats := []Format{EDFPlus, BDFPlus}
	dir := t.TempDir()
	var paths []string
	var written [][][]float64
	var headers []Header
	annots := []Annotation{{Onset: 0.5, Duration: 1.5, Text: "left"}, {Onset: 2.25, Duration: 0, Text: "right"}}
	for _, f := range formats {
		h := testHeader(f)
		h.Signals = h.Signals[:1]
		h.Signals = append(h.Signals, SignalHeader{Label: "EEG O1", PhysicalDimension: "uV", PhysicalMin: -200, PhysicalMax: 200, DigitalMin: -2000, DigitalMax: 2000, SamplesPerRecord: 64})
		h.AddAnnotationSignal(120)
		nrec := 10
		samples := [][]float64{sine(nrec*64, 128, 10, 300), sine(nrec*64, 128, 3, 150), nil}
		path := filepath.Join(dir, "ours."+map[Format]string{EDFPlus: "edf", BDFPlus: "bdf"}[f])
		require.NoError(t, WriteFile(path, h, samples, annots))
		paths, written, headers = append(paths, path), append(written, samples), append(headers, h)
	}
	var out, stderr bytes.Buffer
	cmd := exec.Command("/usr/bin/python3", append([]string{"-c", script}, paths...)...)
	cmd.Stdout, cmd.Stderr = &out, &stderr
	require.NoError(t, cmd.Run(), stderr.String())
	var reads []mneRead
	require.NoError(t, json.Unmarshal(out.Bytes(), &reads))
	require.Len(t, reads, len(formats))
	for i, f := range formats {
		t.Run(f.String(), func(t *testing.T) {
			got, h, samples := reads[i], headers[i], written[i]
			assert.Equal(t, []string{"EEG Fpz-Cz", "EEG O1"}, got.ChNames)
			assert.Equal(t, 128.0, got.SFreq)
			require.Len(t, got.Data, 2)
			for k := range got.Data {
				g := h.Signals[k].Gain()
				require.Len(t, got.Data[k], len(samples[k]))
				for j, v := range got.Data[k] {
					require.InDelta(t, samples[k][j], v, g/2+1e-6, "signal %d sample %d", k, j)
				}
			}
			assert.Equal(t, []string{"left", "right"}, got.Description)
			assert.InDeltaSlice(t, []float64{0.5, 2.25}, got.Onset, 1e-9)
			assert.InDeltaSlice(t, []float64{1.5, 0}, got.Duration, 1e-9)
		})
	}
}
