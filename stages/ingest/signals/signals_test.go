package signals

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/biopipe/biopipe/contract"
	"github.com/biopipe/biopipe/io/edf"
	"github.com/biopipe/biopipe/llm"
	"github.com/biopipe/biopipe/testdata/gen/eeggen"
)

const testSalt = "test-project-salt"

func runIngest(t *testing.T, raw map[string]any, keepGoing bool) (*contract.Env, *Set, *Summary, error) {
	t.Helper()
	cfg, issues := contract.Check(kind.Fields, raw)
	require.Empty(t, issues)
	st, err := kind.New(cfg)
	require.NoError(t, err)
	env := contract.NewEnv(nil)
	env.StageID, env.Config, env.OutDir, env.KeepGoing = "eeg", cfg, t.TempDir(), keepGoing
	env.ProjectSalt = func() ([]byte, error) { return []byte(testSalt), nil }
	if err := st.Run(context.Background(), env); err != nil {
		return env, nil, nil, err
	}
	set, err := ReadDir(env.OutDir)
	require.NoError(t, err)
	var sum Summary
	b, err := os.ReadFile(env.Out(contract.SummaryFile))
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(b, &sum))
	return env, set, &sum, nil
}

func smallEEG(t *testing.T) (string, eeggen.Options) {
	dir := t.TempDir()
	o := eeggen.Default()
	o.Subjects, o.Events = 3, 6
	require.NoError(t, eeggen.Generate(dir, o))
	return dir, o
}

func TestIngestEDF(t *testing.T) {
	dir, o := smallEEG(t)
	t.Setenv("TEST_SALT", "s3cret")
	env, set, sum, err := runIngest(t, map[string]any{"files": []any{dir}, "channels": []any{"O2", "C*"}, "salt_env": "TEST_SALT"}, false)
	require.NoError(t, err)
	require.Len(t, set.Segments, o.Subjects)
	subjects := map[string]bool{}
	for i, seg := range set.Segments {
		require.Len(t, seg.Channels, 3)
		assert.Equal(t, []string{"O2", "C3", "C4"}, []string{seg.Channels[0].Name, seg.Channels[1].Name, seg.Channels[2].Name})
		assert.Equal(t, 128.0, seg.Channels[0].SampleRate)
		assert.Equal(t, "uV", seg.Channels[0].Unit)
		assert.Equal(t, eeggen.FileName(i), seg.Source)
		// The same pseudonym ingest.dicom gives a PatientID and ingest.table an id column.
		assert.Equal(t, contract.PatientPseudonym([]byte("s3cret"), "PC-"+itoa(1000+i)), seg.Subject)
		subjects[seg.Subject] = true
		// Samples equal what the EDF reader gives.
		rec, err := edf.ReadFile(context.Background(), filepath.Join(dir, seg.Source))
		require.NoError(t, err)
		assert.Equal(t, rec.Samples[3], seg.Channels[0].Data)
		assert.Len(t, set.AnnotationsOf(seg.Recording), o.Events)
	}
	assert.Len(t, subjects, o.Subjects)
	assert.Equal(t, o.Subjects, sum.Subjects)
	assert.Equal(t, []string{"C3", "C4", "O2"}, sum.Channels)
	assert.Equal(t, o.Events*o.Subjects, sum.Annotations["T1"]+sum.Annotations["T2"])
	assert.Equal(t, o.Subjects, env.Metrics()["recordings"])
	// No PHI in the artifact; its hashes are in the summary.
	assert.Contains(t, sum.PHIHashes, HashPHI("PC-1000"))
	assert.Contains(t, sum.PHIHashes, HashPHI("testperson 01"))
	assert.Contains(t, sum.PHIHashes, HashPHI("Testperson_01"))
	assert.Contains(t, sum.PHIHashes, HashPHI("Testperson"))
	assert.NotContains(t, sum.PHIHashes, HashPHI("X"))
	for _, name := range []string{RecordingsFile, AnnotationsFile, contract.SummaryFile} {
		b, err := os.ReadFile(env.Out(name))
		require.NoError(t, err)
		for _, phi := range []string{"PC-1000", "Testperson", "01-JAN-1970"} {
			assert.NotContains(t, string(b), phi, "%s holds PHI", name)
		}
	}
}

func itoa(i int) string { b, _ := json.Marshal(i); return string(b) }

func TestIngestSubjectFromFile(t *testing.T) {
	dir, _ := smallEEG(t)
	_, set, _, err := runIngest(t, map[string]any{"files": []any{dir}, "subject_pattern": `^(sub-\d+)`}, false)
	require.NoError(t, err)
	assert.Equal(t, Pseudonym([]byte(testSalt), "sub-01"), set.Segments[0].Subject)
	assert.Len(t, set.Segments[0].Channels, 4)
}

func TestIngestKeepGoing(t *testing.T) {
	dir, o := smallEEG(t)
	bad := filepath.Join(dir, eeggen.FileName(1))
	b, err := os.ReadFile(bad)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(bad, b[:len(b)-100], 0o644))
	_, _, _, err = runIngest(t, map[string]any{"files": []any{dir}}, false)
	require.Error(t, err)
	assert.Contains(t, err.Error(), bad)
	assert.Contains(t, err.Error(), "truncated")
	_, set, sum, err := runIngest(t, map[string]any{"files": []any{dir}}, true)
	require.NoError(t, err)
	assert.Len(t, set.Segments, o.Subjects-1)
	require.Len(t, sum.Quarantined, 1)
	assert.Equal(t, bad, sum.Quarantined[0].File)
}

func TestIngestDiscontinuous(t *testing.T) {
	h := edf.Header{Format: edf.EDFPlus, Patient: "X X X X", Recording: "Startdate X X X X", RecordDuration: 1,
		Signals:       []edf.SignalHeader{{Label: "Fz", PhysicalDimension: "uV", PhysicalMin: -100, PhysicalMax: 100, DigitalMin: -2000, DigitalMax: 2000, SamplesPerRecord: 4}},
		Discontinuous: true}
	h.AddAnnotationSignal(60)
	path := filepath.Join(t.TempDir(), "d.edf")
	w, err := edf.Create(path, h)
	require.NoError(t, err)
	for i, on := range []float64{0, 1, 5, 6, 7} {
		v := float64(i)
		require.NoError(t, w.WriteRecord([][]float64{{v, v, v, v}, nil}, on, nil))
	}
	require.NoError(t, w.Close())
	_, set, _, err := runIngest(t, map[string]any{"files": []any{path}}, false)
	require.NoError(t, err)
	require.Len(t, set.Segments, 2)
	assert.Equal(t, 0.0, set.Segments[0].Onset)
	assert.Equal(t, 5.0, set.Segments[1].Onset)
	assert.Len(t, set.Segments[0].Channels[0].Data, 8)
	assert.Len(t, set.Segments[1].Channels[0].Data, 12)
	assert.InDelta(t, 2, set.Segments[1].Channels[0].Data[0], 0.1)
	assert.Equal(t, set.Segments[0].Recording, set.Segments[1].Recording)
}

func TestIngestRawAndCSV(t *testing.T) {
	dir := t.TempDir()
	// raw int16, 3 channels interleaved
	var b []byte
	for i := 0; i < 100; i++ {
		for c := 0; c < 3; c++ {
			b = binary.LittleEndian.AppendUint16(b, uint16(int16(i*10+c)))
		}
	}
	rawPath := filepath.Join(dir, "a.bin")
	require.NoError(t, os.WriteFile(rawPath, b, 0o644))
	_, set, _, err := runIngest(t, map[string]any{"files": []any{rawPath}, "channels": []any{"re:^(x|z)$"},
		"raw": map[string]any{"channels": 3, "channel_names": []any{"x", "y", "z"}, "sample_rate": 50, "scale": 0.5}}, false)
	require.NoError(t, err)
	seg := set.Segments[0]
	require.Len(t, seg.Channels, 2)
	assert.Equal(t, "z", seg.Channels[1].Name)
	assert.Equal(t, float32((7*10+2)*0.5), seg.Channels[1].Data[7])
	assert.Equal(t, 50.0, seg.Channels[1].SampleRate)
	// truncated frame
	require.NoError(t, os.WriteFile(rawPath, b[:len(b)-1], 0o644))
	_, _, _, err = runIngest(t, map[string]any{"files": []any{rawPath}, "raw": map[string]any{"channels": 3, "sample_rate": 50}}, false)
	assert.ErrorContains(t, err, "byte 594: frame 99 truncated")

	csvPath := filepath.Join(dir, "c.csv")
	var sb strings.Builder
	sb.WriteString("time,Fz,Cz\n")
	for i := 0; i < 20; i++ {
		tt := float64(i) / 200
		sb.WriteString(strings.Join([]string{ftoa(tt), ftoa(math.Sin(tt)), ftoa(float64(i))}, ",") + "\n")
	}
	require.NoError(t, os.WriteFile(csvPath, []byte(sb.String()), 0o644))
	_, set, _, err = runIngest(t, map[string]any{"files": []any{csvPath}, "csv": map[string]any{"time_column": "time"}}, false)
	require.NoError(t, err)
	seg = set.Segments[0]
	require.Len(t, seg.Channels, 2)
	assert.InDelta(t, 200, seg.Channels[0].SampleRate, 1e-6)
	assert.Equal(t, float32(19), seg.Channels[1].Data[19])
	require.NoError(t, os.WriteFile(csvPath, []byte("Fz,Cz\n1,2\n3,x\n"), 0o644))
	_, _, _, err = runIngest(t, map[string]any{"files": []any{csvPath}, "csv": map[string]any{"sample_rate": 10}}, false)
	assert.ErrorContains(t, err, `line 3: column "Cz": "x" is not a number`)
}

func ftoa(v float64) string { b, _ := json.Marshal(v); return string(b) }

func TestSelector(t *testing.T) {
	s, err := NewSelector([]string{"eeg*", "re:^EOG (L|R)$"})
	require.NoError(t, err)
	for name, want := range map[string]bool{"EEG Fpz-Cz": true, "eeg1": true, "EOG L": true, "EOG LR": false, "EMG": false} {
		assert.Equal(t, want, s.Match(name), name)
	}
	_, err = NewSelector([]string{"re:("})
	assert.Error(t, err)
	_, err = NewSelector([]string{"[a"})
	assert.Error(t, err)
}

// TestPHIHashesFeedTheGuard: the report's LLM guard, built from phi_hashes alone, refuses
// text holding a patient field value and lets ordinary report text through.
func TestPHIHashesFeedTheGuard(t *testing.T) {
	dir, _ := smallEEG(t)
	_, _, sum, err := runIngest(t, map[string]any{"files": []any{dir}}, false)
	require.NoError(t, err)
	g := llm.NewGuard()
	require.NoError(t, g.AddHashes(sum.PHIHashes...))
	for _, bad := range []string{"patient PC-1001 did well", "Testperson_02.", "name: Testperson 03", "born 01-JAN-1971"} {
		assert.Error(t, g.Check(bad), bad)
	}
	assert.NoError(t, g.Check("Balanced accuracy 0.93 on 2 held-out subjects (subject-wise split), T1 vs T2 epochs."))
}

func TestIngestTriggerChannel(t *testing.T) {
	h := edf.Header{Format: edf.BDF, Patient: "anon", Recording: "rec", RecordDuration: 1,
		Signals: []edf.SignalHeader{
			{Label: "A1", PhysicalDimension: "uV", PhysicalMin: -262144, PhysicalMax: 262143, DigitalMin: -8388608, DigitalMax: 8388607, SamplesPerRecord: 8},
			{Label: "Status", PhysicalDimension: "Boolean", PhysicalMin: -8388608, PhysicalMax: 8388607, DigitalMin: -8388608, DigitalMax: 8388607, SamplesPerRecord: 8},
		}}
	status := []float64{0, 0, 3, 3, 0, 0, 0, 0, 0, 7 + 256, 7 + 256, 7 + 256, 0 + 256, 0, 0, 0}
	path := filepath.Join(t.TempDir(), "trig.bdf")
	require.NoError(t, edf.WriteFile(path, h, [][]float64{make([]float64, 16), status}, nil))
	_, set, sum, err := runIngest(t, map[string]any{"files": []any{path}, "events_channel": "Status", "events_mask": 255}, false)
	require.NoError(t, err)
	require.Len(t, set.Segments[0].Channels, 1)
	assert.Equal(t, "A1", set.Segments[0].Channels[0].Name)
	rec := set.Segments[0].Recording
	assert.Equal(t, []Annotation{
		{Recording: rec, Onset: 2.0 / 8, Duration: 2.0 / 8, Text: "3"},
		{Recording: rec, Onset: 9.0 / 8, Duration: 3.0 / 8, Text: "7"},
	}, set.Annotations)
	assert.Equal(t, map[string]int{"3": 1, "7": 1}, sum.Annotations)
	_, _, _, err = runIngest(t, map[string]any{"files": []any{path}, "events_channel": "Trig"}, false)
	assert.ErrorContains(t, err, `events_channel "Trig" not found`)
}
