package dicom_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/biopipe/biopipe/contract"
	"github.com/biopipe/biopipe/dataset"
	"github.com/biopipe/biopipe/io/dicom/dicomgen"
	"github.com/biopipe/biopipe/llm"
	ingest "github.com/biopipe/biopipe/stages/ingest/dicom"
)

type run struct {
	env  *contract.Env
	out  string
	logs *bytes.Buffer
	err  error
}

// runStage validates raw against the kind's spec, builds the stage and runs it with its
// output and log under work.
func runStage(t *testing.T, work string, raw map[string]any, keepGoing bool) run {
	t.Helper()
	k, err := contract.Default.Get(ingest.Kind)
	require.NoError(t, err)
	cfg, issues := contract.Check(k.Fields, raw)
	require.Empty(t, issues)
	st, err := k.New(cfg)
	require.NoError(t, err)
	env := contract.NewEnv(nil)
	env.StageID, env.Kind, env.Config, env.Seed = "scans", ingest.Kind, cfg, 1
	env.OutDir = filepath.Join(work, "out")
	env.WorkDir = work
	env.KeepGoing = keepGoing
	logs := &bytes.Buffer{}
	env.Log = slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	require.NoError(t, os.MkdirAll(env.OutDir, 0o755))
	err = st.Run(context.Background(), env)
	// the log is part of the work dir, as the executor's run log would be
	require.NoError(t, os.WriteFile(filepath.Join(work, "run.log"), logs.Bytes(), 0o644))
	if err != nil {
		require.NoError(t, os.WriteFile(filepath.Join(work, "error.txt"), []byte(err.Error()), 0o644))
	}
	return run{env: env, out: env.OutDir, logs: logs, err: err}
}

func writeSet(t *testing.T, o dicomgen.StudyOptions) (*dicomgen.StudySet, string) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "studies")
	set, err := dicomgen.WriteStudySet(dir, o)
	require.NoError(t, err)
	return set, dir
}

func readSummary(t *testing.T, dir string) ingest.Summary {
	b, err := os.ReadFile(filepath.Join(dir, contract.SummaryFile))
	require.NoError(t, err)
	var s ingest.Summary
	require.NoError(t, json.Unmarshal(b, &s))
	return s
}

func TestIngestCSVLabelsSliceMode(t *testing.T) {
	set, dir := writeSet(t, dicomgen.StudyOptions{Patients: 3, SeriesPerPatient: 2, Slices: 4, Size: 32, Seed: 7})
	work := t.TempDir()
	r := runStage(t, work, map[string]any{
		"path": dir, "labels": filepath.Join(dir, "labels.csv"), "window": "lung", "size": []any{16, 16},
		"salt": "project-salt", "workers": 3, "batch": 5,
	}, false)
	require.NoError(t, r.err)
	f, err := dataset.ReadFile(filepath.Join(r.out, contract.DataFile))
	require.NoError(t, err)
	require.Equal(t, len(set.Files), f.NumRows())
	assert.Equal(t, []int{16, 16, 1}, f.Col("x").Shape)
	assert.Equal(t, []string{dicomgen.Elongated, dicomgen.Round}, f.Classes())
	assert.Equal(t, "patient", f.Meta[dataset.MetaGroup])
	for _, v := range f.Col("x").T {
		require.True(t, v >= 0 && v <= 1, "windowed value %v outside [0,1]", v)
	}
	// labels: per class counts match the generator
	want := map[string]int{}
	for _, sf := range set.Files {
		want[sf.Label]++
	}
	got := map[string]int{}
	for _, l := range f.Col("label").S {
		got[l]++
	}
	assert.Equal(t, want, got)
	// three patients, pseudonymised; each series has one label; slices in instance order
	pat := map[string]bool{}
	seriesLabel := map[string]string{}
	lastInst := map[string]int64{}
	for i := 0; i < f.NumRows(); i++ {
		p := f.Col("patient").S[i]
		assert.Regexp(t, `^P[0-9a-f]{12}$`, p)
		pat[p] = true
		s := f.Col("series").S[i]
		assert.True(t, strings.HasPrefix(s, "2.25."))
		if l, ok := seriesLabel[s]; ok {
			assert.Equal(t, l, f.Col("label").S[i])
		}
		seriesLabel[s] = f.Col("label").S[i]
		inst := f.Col("instance").I[i]
		assert.Greater(t, inst, lastInst[s], "slices of a series in order")
		lastInst[s] = inst
		assert.Len(t, f.Col("source_sha256").S[i], 64)
	}
	assert.Len(t, pat, 3)
	// provenance columns are not features
	feats, err := f.FeatureColumns()
	require.NoError(t, err)
	require.Len(t, feats, 1)
	assert.Equal(t, "x", feats[0].Name)
	m, err := f.Features(nil)
	require.NoError(t, err)
	assert.Equal(t, []int{16, 16, 1}, m.Shape)

	s := readSummary(t, r.out)
	assert.Equal(t, len(set.Files), s.Examples)
	assert.Equal(t, 3, s.Patients)
	assert.Equal(t, 6, s.Series)
	assert.True(t, s.Deidentified)
	assert.Empty(t, s.Quarantined)
	hash := func(v string) string { d := sha256.Sum256([]byte(v)); return hex.EncodeToString(d[:]) }
	for _, v := range set.PHI {
		assert.Contains(t, s.PHIHashes, hash(v), "hash of a PHI value")
		if fam, given, ok := strings.Cut(v, "^"); ok && !strings.Contains(given, "^") {
			// a patient name: the guard also recognises "given family" in free text
			assert.Contains(t, s.PHIHashes, hash(strings.ToLower(given+" "+fam)))
			assert.Contains(t, s.PHIHashes, hash(fam))
		}
	}
	// an LLM guard built from the hashes refuses a prompt naming a patient
	g := llm.NewGuard()
	require.NoError(t, g.AddHashes(s.PHIHashes...))
	name := ""
	for _, v := range set.PHI {
		if fam, given, ok := strings.Cut(v, "^"); ok && !strings.Contains(given, "^") {
			name = given + " " + fam
		}
	}
	require.NotEmpty(t, name)
	assert.Error(t, g.Check("Summarise the scans of "+name+" please"))
	assert.NoError(t, g.Check("Summarise the scans of the test split please"))
}

// TestNoPHIInWorkDir scans every file the stage and its log wrote for any identifying
// string of the inputs (names, name parts, IDs, birth dates, accession numbers, dates,
// institution, physician), in several spellings.
func TestNoPHIInWorkDir(t *testing.T) {
	for _, mode := range []string{ingest.ModeSlice, ingest.ModeVolume} {
		t.Run(mode, func(t *testing.T) {
			set, dir := writeSet(t, dicomgen.StudyOptions{Patients: 3, SeriesPerPatient: 2, Slices: 3, Size: 32, Seed: 11})
			work := t.TempDir()
			// a corrupt file too, so that the quarantine path is covered
			require.NoError(t, os.WriteFile(filepath.Join(dir, "round", "broken.dcm"), []byte("DICM? no"), 0o644))
			r := runStage(t, work, map[string]any{"path": dir, "label_from": "folder", "mode": mode, "salt": "s3cret"}, true)
			require.NoError(t, r.err)
			var needles []string
			for _, v := range set.PHI {
				needles = append(needles, v, strings.ToLower(v), strings.ToUpper(v))
				for _, part := range strings.FieldsFunc(v, func(r rune) bool { return r == '^' }) {
					if len(part) >= 3 {
						needles = append(needles, part)
					}
				}
			}
			for _, sf := range set.Files {
				needles = append(needles, sf.SOPInstanceUID, sf.SeriesInstanceUID, sf.StudyInstanceUID)
			}
			n := 0
			require.NoError(t, filepath.WalkDir(work, func(p string, d os.DirEntry, err error) error {
				require.NoError(t, err)
				if !d.Type().IsRegular() {
					return nil
				}
				b, err := os.ReadFile(p)
				require.NoError(t, err)
				n++
				for _, s := range needles {
					if s == "Dr." {
						continue
					}
					assert.False(t, bytes.Contains(b, []byte(s)), "%s contains PHI %q", p, s)
				}
				return nil
			}))
			assert.GreaterOrEqual(t, n, 3, "data.arrow, summary.json and run.log scanned")
			s := readSummary(t, r.out)
			require.Len(t, s.Quarantined, 1)
			assert.Equal(t, "round/broken.dcm", s.Quarantined[0].File)
		})
	}
}

func TestVolumeModeAndDICOMDIR(t *testing.T) {
	set, dir := writeSet(t, dicomgen.StudyOptions{Patients: 2, SeriesPerPatient: 2, Slices: 5, Size: 32, Seed: 3, ByPatient: true})
	var rels []string
	for _, f := range set.Files {
		rels = append(rels, f.Path)
	}
	require.NoError(t, dicomgen.WriteDICOMDIR(dir, rels))
	work := t.TempDir()
	r := runStage(t, work, map[string]any{
		"path": filepath.Join(dir, "DICOMDIR"), "mode": "volume", "depth": 4, "size": []any{8, 8},
		"labels": filepath.Join(dir, "labels.csv"), "join_on": "series_instance_uid", "window": "soft_tissue",
		"salt": "x", "channels": 3,
	}, false)
	require.NoError(t, r.err)
	f, err := dataset.ReadFile(filepath.Join(r.out, contract.DataFile))
	require.NoError(t, err)
	require.Equal(t, 4, f.NumRows())
	assert.Equal(t, []int{4, 8, 8, 3}, f.Col("x").Shape)
	s := readSummary(t, r.out)
	assert.Equal(t, 20, s.Files)
	assert.Equal(t, 4, s.Series)
}

// TestSliceOrderFollowsPosition writes a series whose instance numbers run against the
// slice positions: the position along the normal wins; without positions, instance numbers.
func TestSliceOrderFollowsPosition(t *testing.T) {
	for _, withPos := range []bool{true, false} {
		dir := t.TempDir()
		for k := 0; k < 4; k++ {
			in := &dicomgen.Instance{PatientID: "PID-ORDER", SeriesInstanceUID: "1.2.3", StudyInstanceUID: "1.2", SOPInstanceUID: "1.2.3." + string(rune('1'+k)),
				InstanceNumber: 4 - k, Rows: 2, Columns: 2, BitsAllocated: 16,
				Values: []int64{int64(k), int64(k), int64(k), int64(k)}}
			if withPos {
				// oblique orientation; z grows with k while instance numbers fall
				in.ImageOrientationPatient = []float64{1, 0, 0, 0, 0.8, -0.6}
				in.ImagePositionPatient = []float64{0, -0.6 * float64(k), -0.8 * float64(k)}
			}
			require.NoError(t, in.WriteFile(filepath.Join(dir, "in", "f"+string(rune('a'+k))+".dcm")))
		}
		r := runStage(t, dir, map[string]any{"path": filepath.Join(dir, "in"), "normalize": "none", "salt": "x"}, false)
		require.NoError(t, r.err)
		f, err := dataset.ReadFile(filepath.Join(r.out, contract.DataFile))
		require.NoError(t, err)
		var firstPixel []float32
		for i := 0; i < f.NumRows(); i++ {
			firstPixel = append(firstPixel, f.Col("x").Row(i)[0])
		}
		if withPos {
			// normal = row x col = (0,0.6,0.8); position along it = -k: k=3 first
			assert.Equal(t, []float32{3, 2, 1, 0}, firstPixel)
		} else {
			assert.Equal(t, []float32{3, 2, 1, 0}, firstPixel, "instance numbers 1..4 are k=3..0")
		}
		assert.True(t, sort.SliceIsSorted(f.Col("slice").I, func(i, j int) bool { return f.Col("slice").I[i] < f.Col("slice").I[j] }))
	}
}

func TestCorruptFileFailsNamingIt(t *testing.T) {
	_, dir := writeSet(t, dicomgen.StudyOptions{Patients: 1, SeriesPerPatient: 1, Slices: 2, Size: 16})
	p := filepath.Join(dir, "round", "case01_s1", "IM0002.dcm")
	b, err := os.ReadFile(p)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(p, b[:len(b)-300], 0o644))
	r := runStage(t, t.TempDir(), map[string]any{"path": dir, "salt": "x"}, false)
	require.Error(t, r.err)
	assert.Contains(t, r.err.Error(), "round/case01_s1/IM0002.dcm")
	assert.Contains(t, r.err.Error(), "--keep-going")

	r = runStage(t, t.TempDir(), map[string]any{"path": dir, "salt": "x"}, true)
	require.NoError(t, r.err)
	s := readSummary(t, r.out)
	require.Len(t, s.Quarantined, 1)
	assert.Equal(t, "round/case01_s1/IM0002.dcm", s.Quarantined[0].File)
	assert.Equal(t, 1, s.Examples)
}

func TestPseudonymsStableAndSalted(t *testing.T) {
	_, dir := writeSet(t, dicomgen.StudyOptions{Patients: 2, SeriesPerPatient: 1, Slices: 1, Size: 16})
	patients := func(salt string) []string {
		r := runStage(t, t.TempDir(), map[string]any{"path": dir, "salt": salt}, false)
		require.NoError(t, r.err)
		f, err := dataset.ReadFile(filepath.Join(r.out, contract.DataFile))
		require.NoError(t, err)
		return f.Col("patient").S
	}
	a, b, c := patients("one"), patients("one"), patients("two")
	assert.Equal(t, a, b)
	assert.NotEqual(t, a, c)

	t.Setenv("MY_SALT", "")
	r := runStage(t, t.TempDir(), map[string]any{"path": dir, "salt_env": "MY_SALT"}, false)
	require.Error(t, r.err)
	assert.Contains(t, r.err.Error(), "MY_SALT")
	t.Setenv("MY_SALT", "one")
	r = runStage(t, t.TempDir(), map[string]any{"path": dir, "salt_env": "MY_SALT"}, false)
	require.NoError(t, r.err)
}

func TestLabelJoinErrors(t *testing.T) {
	_, dir := writeSet(t, dicomgen.StudyOptions{Patients: 1, SeriesPerPatient: 2, Slices: 2, Size: 16})
	csv := filepath.Join(t.TempDir(), "partial.csv")
	require.NoError(t, os.WriteFile(csv, []byte("path,label\nround/case01_s1/IM0001.dcm,a\nround/case01_s1/IM0002.dcm,a\n"), 0o644))
	r := runStage(t, t.TempDir(), map[string]any{"path": dir, "labels": csv, "salt": "x"}, false)
	require.Error(t, r.err)
	assert.Contains(t, r.err.Error(), "elongated/case01_s2/IM0001.dcm: no label")
	r = runStage(t, t.TempDir(), map[string]any{"path": dir, "labels": csv, "salt": "x", "missing_label": "drop"}, false)
	require.NoError(t, r.err)
	s := readSummary(t, r.out)
	assert.Equal(t, 2, s.Examples)
	assert.Equal(t, 2, s.DroppedUnlabelled)

	r = runStage(t, t.TempDir(), map[string]any{"path": dir, "labels": csv, "label_column": "diagnosis", "salt": "x"}, false)
	require.Error(t, r.err)
	assert.Contains(t, r.err.Error(), `no column "diagnosis"`)
}

func TestConfigChecks(t *testing.T) {
	k, err := contract.Default.Get(ingest.Kind)
	require.NoError(t, err)
	for _, tc := range []struct {
		raw  map[string]any
		want string
	}{
		{map[string]any{}, "exactly one of path or files"},
		{map[string]any{"path": "a", "files": []any{"b"}}, "exactly one of path or files"},
		{map[string]any{"path": "a", "size": []any{3}}, "rows, columns"},
		{map[string]any{"path": "a", "window_center": 40.0}, "go together"},
		{map[string]any{"path": "a", "label_from": "csv"}, "labels"},
		{map[string]any{"path": "a", "channels": 2}, "0, 1 or 3"},
	} {
		cfg, issues := contract.Check(k.Fields, tc.raw)
		require.Empty(t, issues)
		_, err := k.New(cfg)
		require.Error(t, err, "%v", tc.raw)
		assert.Contains(t, err.Error(), tc.want)
	}
	_, issues := contract.Check(k.Fields, map[string]any{"path": "a", "window": "lungs"})
	require.NotEmpty(t, issues)
	assert.Contains(t, issues[0].Error(), `did you mean "lung"`)
}

// TestDecodeFailureQuarantined covers a file whose header reads but whose pixel data is
// short: the decode pass names it, or quarantines it with keep-going.
func TestDecodeFailureQuarantined(t *testing.T) {
	dir := t.TempDir()
	good := &dicomgen.Instance{PatientID: "PID-Q", SeriesInstanceUID: "1.5", SOPInstanceUID: "1.5.1", InstanceNumber: 1,
		Rows: 4, Columns: 4, BitsAllocated: 16, Values: make([]int64, 16), WindowCenter: 10, WindowWidth: 20}
	require.NoError(t, good.WriteFile(filepath.Join(dir, "in", "good.dcm")))
	bad := *good
	bad.SOPInstanceUID, bad.InstanceNumber = "1.5.2", 2
	bad.PixelDataBytesOverride = make([]byte, 10) // 5 samples for a 4x4 image
	require.NoError(t, bad.WriteFile(filepath.Join(dir, "in", "short.dcm")))

	r := runStage(t, t.TempDir(), map[string]any{"path": filepath.Join(dir, "in"), "salt": "x", "window": "file"}, false)
	require.Error(t, r.err)
	assert.Contains(t, r.err.Error(), "short.dcm")
	assert.Contains(t, r.err.Error(), "PixelData")

	r = runStage(t, t.TempDir(), map[string]any{"path": filepath.Join(dir, "in"), "salt": "x", "window": "file"}, true)
	require.NoError(t, r.err)
	s := readSummary(t, r.out)
	require.Len(t, s.Quarantined, 1)
	assert.Equal(t, "short.dcm", s.Quarantined[0].File)
	f, err := dataset.ReadFile(filepath.Join(r.out, contract.DataFile))
	require.NoError(t, err)
	require.Equal(t, 1, f.NumRows())
	// stored 0 with window 10 +- 10 maps to 0
	assert.Equal(t, float32(0), f.Col("x").Row(0)[0])
}

// TestPydicomDICOMDIR ingests the DICOMDIR of pydicom's test set (written by other tools:
// mixed CT/MR/CR, several patients) when python3-pydicom is installed.
func TestPydicomDICOMDIR(t *testing.T) {
	dd := "/usr/lib/python3/dist-packages/pydicom/data/test_files/dicomdirtests/DICOMDIR"
	if _, err := os.Stat(dd); err != nil {
		t.Skip("python3-pydicom test files not installed")
	}
	r := runStage(t, t.TempDir(), map[string]any{"path": dd, "size": []any{32, 32}, "channels": 1, "salt": "x"}, false)
	require.NoError(t, r.err)
	s := readSummary(t, r.out)
	assert.Equal(t, 31, s.Files, "pydicom counts 31 ReferencedFileID records")
	assert.Equal(t, 2, s.Patients)
	assert.Empty(t, s.Quarantined)
}

// TestJoinKeysAndFileLists joins the generator's labels.csv on each supported key and
// reads the files from a list instead of a folder.
func TestJoinKeysAndFileLists(t *testing.T) {
	set, dir := writeSet(t, dicomgen.StudyOptions{Patients: 2, SeriesPerPatient: 2, Slices: 2, Size: 16, Seed: 5})
	var files []any
	for _, f := range set.Files {
		files = append(files, filepath.Join(dir, filepath.FromSlash(f.Path)))
	}
	want := map[string]int{}
	for _, f := range set.Files {
		want[f.Label]++
	}
	for _, tc := range []struct {
		join string
		raw  map[string]any
	}{
		{"path", map[string]any{"path": dir}},
		{"sop_instance_uid", map[string]any{"files": files}},
		{"series_instance_uid", map[string]any{"path": dir}},
	} {
		t.Run(tc.join, func(t *testing.T) {
			raw := tc.raw
			raw["labels"], raw["join_on"], raw["salt"] = filepath.Join(dir, "labels.csv"), tc.join, "x"
			r := runStage(t, t.TempDir(), raw, false)
			require.NoError(t, r.err)
			f, err := dataset.ReadFile(filepath.Join(r.out, contract.DataFile))
			require.NoError(t, err)
			got := map[string]int{}
			for _, l := range f.Col("label").S {
				got[l]++
			}
			assert.Equal(t, want, got)
		})
	}
	// patient_id: each patient has both classes, so a per-patient CSV is built here
	csv := filepath.Join(t.TempDir(), "patients.csv")
	body := "patient_id,label\n"
	seen := map[string]bool{}
	for _, f := range set.Files {
		if !seen[f.PatientID] {
			body += f.PatientID + ",cohort-" + f.PatientID[len(f.PatientID)-1:] + "\n"
			seen[f.PatientID] = true
		}
	}
	require.NoError(t, os.WriteFile(csv, []byte(body), 0o644))
	r := runStage(t, t.TempDir(), map[string]any{"path": dir, "labels": csv, "join_on": "patient_id", "salt": "x"}, false)
	require.NoError(t, r.err)
	f, err := dataset.ReadFile(filepath.Join(r.out, contract.DataFile))
	require.NoError(t, err)
	for i := 0; i < f.NumRows(); i++ {
		assert.True(t, strings.HasPrefix(f.Col("label").S[i], "cohort-"))
	}
}
