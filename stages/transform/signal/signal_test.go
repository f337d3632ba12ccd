package signal

import (
	"bytes"
	"context"
	"encoding/json"
	"math"
	"math/cmplx"
	"os"
	"path/filepath"
	"sort"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/biopipe/biopipe/contract"
	"github.com/biopipe/biopipe/dataset"
	"github.com/biopipe/biopipe/stages/ingest/signals"
	"github.com/biopipe/biopipe/stages/transform/signal/dsp"
	"github.com/biopipe/biopipe/testdata/gen/eeggen"
)

func run(t *testing.T, k *contract.Kind, raw map[string]any, in contract.Input) (*contract.Env, error) {
	t.Helper()
	cfg, issues := contract.Check(k.Fields, raw)
	require.Empty(t, issues)
	st, err := k.New(cfg)
	if err != nil {
		return nil, err
	}
	env := contract.NewEnv(nil)
	env.StageID, env.Kind, env.Config, env.OutDir = "s", k.Name, cfg, t.TempDir()
	env.ProjectSalt = func() ([]byte, error) { return []byte("test-project-salt"), nil }
	env.Inputs = []contract.Input{in}
	return env, st.Run(context.Background(), env)
}

func sigIn(dir string) contract.Input {
	return contract.Input{Port: "signals", Type: contract.Signals, Dir: dir}
}

// writeSet writes a hand-made signals artifact.
func writeSet(t *testing.T, set *signals.Set) string {
	dir := t.TempDir()
	require.NoError(t, set.WriteDir(dir))
	return dir
}

func tone(n int, fs float64, parts ...[2]float64) []float32 {
	out := make([]float32, n)
	for i := range out {
		for _, p := range parts {
			out[i] += float32(p[1] * math.Sin(2*math.Pi*p[0]*float64(i)/fs))
		}
	}
	return out
}

func TestFilterStage(t *testing.T) {
	fs := 250.0
	set := &signals.Set{Segments: []*signals.Segment{{Recording: "r1", Subject: "s1", Channels: []*signals.Channel{
		{Name: "Cz", SampleRate: fs, Data: tone(2500, fs, [2]float64{10, 1}, [2]float64{50, 2}, [2]float64{0.05, 5})},
		{Name: "ECG", SampleRate: fs, Data: tone(2500, fs, [2]float64{50, 1})},
	}}}}
	env, err := run(t, filterKind, map[string]any{"low": 1, "high": 40, "notch": []any{50}, "channels": []any{"C*"}}, sigIn(writeSet(t, set)))
	require.NoError(t, err)
	out, err := signals.ReadDir(env.OutDir)
	require.NoError(t, err)
	cz := out.Segments[0].Channels[0].Data
	// Away from the edges only the 10 Hz tone remains, in phase, scaled by |H(10)|^2.
	bp, _ := dsp.Butter(4, []float64{1, 40}, dsp.Bandpass, fs)
	g := cmplx.Abs(bp.Response(10, fs))
	for i := 500; i < 2000; i++ {
		require.InDelta(t, g*g*math.Sin(2*math.Pi*10*float64(i)/fs), float64(cz[i]), 0.02, "sample %d", i)
	}
	assert.Equal(t, set.Segments[0].Channels[1].Data, out.Segments[0].Channels[1].Data, "unselected channel unchanged")
	assert.Equal(t, 1, env.Metrics()["channels_filtered"])

	_, err = run(t, filterKind, map[string]any{"low": 1, "high": 200}, sigIn(writeSet(t, set)))
	assert.ErrorContains(t, err, "Nyquist")
	_, err = run(t, filterKind, map[string]any{"low": 40, "high": 1}, sigIn(writeSet(t, set)))
	assert.ErrorContains(t, err, "must be below")
}

func TestResampleReferenceChannels(t *testing.T) {
	set := &signals.Set{Segments: []*signals.Segment{{Recording: "r1", Subject: "s1", Channels: []*signals.Channel{
		{Name: "A", SampleRate: 256, Data: tone(2560, 256, [2]float64{5, 1})},
		{Name: "B", SampleRate: 256, Data: tone(2560, 256, [2]float64{5, 2})},
		{Name: "M1", SampleRate: 256, Data: tone(2560, 256, [2]float64{3, 1})},
		{Name: "Resp", SampleRate: 16, Data: tone(160, 16, [2]float64{0.3, 1})},
	}}}, Annotations: []signals.Annotation{{Recording: "r1", Onset: 2, Duration: -1, Text: "x"}}}
	env, err := run(t, resampleKind, map[string]any{"rate": 100, "channels": []any{"A", "B", "M1"}}, sigIn(writeSet(t, set)))
	require.NoError(t, err)
	rs, err := signals.ReadDir(env.OutDir)
	require.NoError(t, err)
	a := rs.Segments[0].Channels[0]
	assert.Equal(t, 100.0, a.SampleRate)
	require.Len(t, a.Data, 1000)
	for k := 50; k < 950; k++ {
		require.InDelta(t, math.Sin(2*math.Pi*5*float64(k)/100), float64(a.Data[k]), 0.01)
	}
	assert.Equal(t, 16.0, rs.Segments[0].Channels[3].SampleRate)
	assert.Equal(t, set.Annotations, rs.Annotations)

	// Average reference over A, B, M1.
	env, err = run(t, referenceKind, map[string]any{"ref": []any{"average"}, "channels": []any{"A", "B", "M1"}}, sigIn(env.OutDir))
	require.NoError(t, err)
	car, err := signals.ReadDir(env.OutDir)
	require.NoError(t, err)
	for i := 0; i < 1000; i += 37 {
		s := 0.0
		for _, c := range car.Segments[0].Channels[:3] {
			s += float64(c.Data[i])
		}
		require.InDelta(t, 0, s, 1e-4, "average-referenced channels sum to 0")
		want := float64(rs.Segments[0].Channels[0].Data[i]) - (float64(rs.Segments[0].Channels[0].Data[i])+float64(rs.Segments[0].Channels[1].Data[i])+float64(rs.Segments[0].Channels[2].Data[i]))/3
		require.InDelta(t, want, float64(car.Segments[0].Channels[0].Data[i]), 1e-5)
	}
	// Named reference: mismatched rates are an error; after picking, M1 is subtracted and dropped.
	_, err = run(t, referenceKind, map[string]any{"ref": []any{"M1"}}, sigIn(writeSet(t, set)))
	assert.ErrorContains(t, err, "resample first")
	env, err = run(t, channelsKind, map[string]any{"pick": []any{"M1", "A", "B"}, "rename": map[string]any{"A": "Fz"}}, sigIn(writeSet(t, set)))
	require.NoError(t, err)
	picked, err := signals.ReadDir(env.OutDir)
	require.NoError(t, err)
	assert.Equal(t, "M1, Fz, B", names(picked.Segments[0].Channels))
	env, err = run(t, referenceKind, map[string]any{"ref": []any{"M1"}}, sigIn(env.OutDir))
	require.NoError(t, err)
	ref, err := signals.ReadDir(env.OutDir)
	require.NoError(t, err)
	assert.Equal(t, "Fz, B", names(ref.Segments[0].Channels))
	assert.InDelta(t, float64(set.Segments[0].Channels[1].Data[7]-set.Segments[0].Channels[2].Data[7]), float64(ref.Segments[0].Channels[1].Data[7]), 1e-6)
	_, err = run(t, channelsKind, map[string]any{"drop": []any{"*"}}, sigIn(writeSet(t, set)))
	assert.ErrorContains(t, err, "no channel left")
}

func readSummary(t *testing.T, env *contract.Env, v any) {
	b, err := os.ReadFile(env.Out(contract.SummaryFile))
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(b, v))
}

func TestEpochEvents(t *testing.T) {
	fs := 100.0
	n := 1000
	ramp := make([]float32, n)
	flat := make([]float32, n)
	for i := range ramp {
		ramp[i] = float32(i)
		flat[i] = 1
	}
	flat[705] = 500 // an artefact inside the event at 7 s
	set := &signals.Set{Segments: []*signals.Segment{{Recording: "r1", Subject: "s1", Source: "a.edf", Channels: []*signals.Channel{
		{Name: "A", SampleRate: fs, Data: ramp}, {Name: "B", SampleRate: fs, Data: flat},
	}}}, Annotations: []signals.Annotation{
		{Recording: "r1", Onset: 1, Text: "T1"}, {Recording: "r1", Onset: 3.005, Text: "T2"},
		{Recording: "r1", Onset: 7, Text: "T2"}, {Recording: "r1", Onset: 9.8, Text: "T1"}, // too close to the end
		{Recording: "r1", Onset: 5, Text: "boundary"},
	}}
	env, err := run(t, epochKind, map[string]any{"tmin": -0.2, "tmax": 0.5, "baseline": []any{-0.2, 0}, "reject": 100,
		"event_map": map[string]any{"T1": "rest", "T2": "motor"}, "channels": []any{"B", "A"}}, sigIn(writeSet(t, set)))
	require.NoError(t, err)
	f, err := dataset.ReadFile(env.Out(contract.DataFile))
	require.NoError(t, err)
	require.Equal(t, 2, f.NumRows())
	x := f.Col("x")
	assert.Equal(t, []int{70, 2}, x.Shape)
	assert.Equal(t, `["B","A"]`, x.Meta[MetaChannels])
	feats, err := f.FeatureColumns()
	require.NoError(t, err)
	require.Len(t, feats, 1, "only x is a model input")
	assert.Equal(t, "x", feats[0].Name)
	// Row 0: event at 1 s, window 0.8..1.5 s; channel A (index 1) is the ramp minus its baseline
	// mean over 0.8..1.0 s (samples 80..99, mean 89.5).
	r0 := x.Row(0)
	for tt := 0; tt < 70; tt++ {
		require.InDelta(t, float64(80+tt)-89.5, float64(r0[tt*2+1]), 1e-4)
		require.InDelta(t, 0, float64(r0[tt*2]), 1e-6)
	}
	assert.Equal(t, []string{"motor", "rest"}, f.Classes())
	cls, _, err := f.Labels(nil)
	require.NoError(t, err)
	assert.Equal(t, []int{1, 0}, cls)
	assert.Equal(t, "s1", f.Group().S[0])
	assert.InDelta(t, 3.005, f.Col(ColOnset).F[1], 1e-9)
	var sum EpochSummary
	readSummary(t, env, &sum)
	assert.Equal(t, 2, sum.Epochs)
	assert.Equal(t, 1, sum.Rejected)
	assert.Equal(t, map[string]int{"motor": 1}, sum.RejectedPerClass)
	assert.Equal(t, 1, sum.OutsideRecording)
	assert.Equal(t, map[string]int{"boundary": 1}, sum.IgnoredEvents)
	assert.Equal(t, 1, env.Metrics()["epochs_rejected"])

	set.Segments[0].Channels[1].SampleRate = 50
	_, err = run(t, epochKind, map[string]any{}, sigIn(writeSet(t, set)))
	assert.ErrorContains(t, err, "transform.resample")
}

func TestEpochSliding(t *testing.T) {
	fs := 10.0
	data := make([]float32, 100)
	for i := range data {
		data[i] = float32(i)
	}
	set := &signals.Set{Segments: []*signals.Segment{
		{Recording: "r1", Subject: "s1", Source: "a.edf", Channels: []*signals.Channel{{Name: "A", SampleRate: fs, Data: data}}},
		{Recording: "r2", Subject: "s2", Source: "b.edf", Channels: []*signals.Channel{{Name: "A", SampleRate: fs, Data: data}}},
	}}
	labels := filepath.Join(t.TempDir(), "labels.csv")
	require.NoError(t, os.WriteFile(labels, []byte("source,label,onset,duration\na.edf,sleep,0,5\na.edf,wake,5,3\nb.edf,wake,,\n"), 0o644))
	env, err := run(t, epochKind, map[string]any{"mode": "sliding", "length": 2, "step": 1, "labels": labels}, sigIn(writeSet(t, set)))
	require.NoError(t, err)
	f, err := dataset.ReadFile(env.Out(contract.DataFile))
	require.NoError(t, err)
	// a.edf: windows start 0..8 s, centres 1..9 s: 1-4 sleep, 5-7 wake, 8-9 unlabelled; b.edf: 9 wake.
	assert.Equal(t, 7+9, f.NumRows())
	assert.Equal(t, []string{"sleep", "sleep", "sleep", "sleep", "wake", "wake", "wake"}, f.Label().S[:7])
	assert.Equal(t, []int{20, 1}, f.Col("x").Shape)
	assert.Equal(t, float32(30), f.Col("x").Row(3)[0])
	var sum EpochSummary
	readSummary(t, env, &sum)
	assert.Equal(t, 2, sum.Unlabelled)
	// Without labels: an unlabelled table.
	env, err = run(t, epochKind, map[string]any{"mode": "sliding", "length": 5, "step": 5}, sigIn(writeSet(t, set)))
	require.NoError(t, err)
	f, err = dataset.ReadFile(env.Out(contract.DataFile))
	require.NoError(t, err)
	assert.Equal(t, 4, f.NumRows())
	assert.Nil(t, f.Label())
}

func TestStandardizeChannels(t *testing.T) {
	f := dataset.New()
	// 4 rows of [3 samples, 2 channels]; rows 0-1 train.
	x := []float32{
		1, 10, 2, 20, 3, 30,
		5, 50, 6, 60, 7, 70,
		100, 0, 100, 0, 100, 0,
		4, 40, 4, 40, 4, 40,
	}
	f.Set(&dataset.Column{Name: "x", Kind: dataset.Tensor, Shape: []int{3, 2}, T: x})
	f.Set(&dataset.Column{Name: dataset.ColSplit, Kind: dataset.String, S: []string{"train", "train", "test", "val"}})
	dir := t.TempDir()
	require.NoError(t, f.WriteFile(filepath.Join(dir, contract.DataFile)))
	env, err := run(t, standardizeKind, map[string]any{}, contract.Input{Port: "table", Type: contract.Table, Dir: dir})
	require.NoError(t, err)
	out, err := dataset.ReadFile(env.Out(contract.DataFile))
	require.NoError(t, err)
	// channel 0 train values 1,2,3,5,6,7: mean 4, std sqrt(14/3); channel 1 ten times that.
	std := math.Sqrt(14.0 / 3)
	col := out.Col("x")
	assert.InDelta(t, (1-4)/std, col.T[0], 1e-5)
	assert.InDelta(t, (10-40)/(10*std), col.T[1], 1e-5)
	assert.InDelta(t, (100-4)/std, col.T[12], 1e-4)
	assert.InDelta(t, 0, col.T[18], 1e-5)
	assert.Equal(t, "[4,40]", col.Meta[MetaChannelMean])
}

// TestEEGPipeline runs ingest -> filter -> epoch -> standardise on the synthetic EEG set and
// checks the classes are separable by band power (what the sequence models learn).
func TestEEGPipeline(t *testing.T) {
	dir := t.TempDir()
	o := eeggen.Default()
	o.Subjects, o.Events = 2, 20
	require.NoError(t, eeggen.Generate(dir, o))
	ingest, err := contract.Default.Get("ingest.signals")
	require.NoError(t, err)
	env, err := run(t, ingest, map[string]any{"files": []any{dir}}, contract.Input{})
	require.NoError(t, err)
	env, err = run(t, filterKind, map[string]any{"low": 1, "high": 40, "notch": []any{50}}, sigIn(env.OutDir))
	require.NoError(t, err)
	env, err = run(t, epochKind, map[string]any{"tmin": 0, "tmax": 1, "event_map": map[string]any{"T1": "alpha", "T2": "beta"}, "reject": 400}, sigIn(env.OutDir))
	require.NoError(t, err)
	f, err := dataset.ReadFile(env.Out(contract.DataFile))
	require.NoError(t, err)
	assert.Equal(t, 40, f.NumRows())
	assert.Equal(t, []int{128, 4}, f.Col("x").Shape)
	cls, _, err := f.Labels(nil)
	require.NoError(t, err)
	// log(alpha power at O1 / beta power at C3) separates the classes: threshold at the median
	// (the classes are balanced).
	score := make([]float64, len(cls))
	for r := range cls {
		row := f.Col("x").Row(r)
		o1, c3 := make([]float64, 128), make([]float64, 128)
		for tt := range o1 {
			o1[tt], c3[tt] = float64(row[tt*4+2]), float64(row[tt*4+0])
		}
		score[r] = math.Log(bandPower(o1, 128, 8, 13) / bandPower(c3, 128, 16, 26))
	}
	sorted := append([]float64(nil), score...)
	sort.Float64s(sorted)
	median := (sorted[len(sorted)/2-1] + sorted[len(sorted)/2]) / 2
	correct := 0
	for r, c := range cls {
		if (score[r] > median) == (c == 0) {
			correct++
		}
	}
	assert.GreaterOrEqual(t, correct, 36, "band-power classifier on the synthetic epochs")
}

func bandPower(x []float64, fs, lo, hi float64) float64 {
	p := 0.0
	for f := lo; f <= hi; f += 0.5 {
		var re, im float64
		for i, v := range x {
			ph := 2 * math.Pi * f * float64(i) / fs
			re += v * math.Cos(ph)
			im -= v * math.Sin(ph)
		}
		p += re*re + im*im
	}
	return p / ((hi-lo)/0.5 + 1)
}

// TestCommittedEEGMatchesGenerator keeps testdata/eeg in step with the generator.
func TestCommittedEEGMatchesGenerator(t *testing.T) {
	committed := filepath.Join("..", "..", "..", "testdata", "eeg")
	if _, err := os.Stat(committed); err != nil {
		t.Skip("testdata/eeg not present")
	}
	dir := t.TempDir()
	o := eeggen.Default()
	require.NoError(t, eeggen.Generate(dir, o))
	for i := 0; i < o.Subjects; i++ {
		want, err := os.ReadFile(filepath.Join(dir, eeggen.FileName(i)))
		require.NoError(t, err)
		got, err := os.ReadFile(filepath.Join(committed, eeggen.FileName(i)))
		require.NoError(t, err)
		require.True(t, bytes.Equal(want, got), "%s differs from the generator's output: go run ./testdata/gen/eeggen/cmd -out testdata/eeg", eeggen.FileName(i))
	}
}
