package all_test

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/biopipe/biopipe/contract"
	"github.com/biopipe/biopipe/io/dicom/dicomgen"
	"github.com/biopipe/biopipe/io/edf"
	"github.com/biopipe/biopipe/llm/llmtest"
	"github.com/biopipe/biopipe/pipelines"
	_ "github.com/biopipe/biopipe/stages/all"
)

// TestNoIdentifierLeaves is the end-to-end leak test: DICOM files, an EDF recording and an
// EHR table whose identifiers are known strings (names, ids, birth dates, UIDs, free-text
// notes) go through ingest, a patient-grouped split, training, evaluation and a report
// drafted by an LLM (a local fake server). Then every file in the work dir, every log line
// (debug level) and every request the server received are searched for those strings and
// their common reformattings, and for the API key: none may appear.
func TestNoIdentifierLeaves(t *testing.T) {
	dir := t.TempDir()
	const apiKey = "sk-leak-SECRET-31337"
	t.Setenv("BIOPIPE_LEAK_KEY", apiKey)
	t.Setenv("BIOPIPE_SALT", "") // the work dir's random project salt

	// DICOM: names, patient ids, birth dates, accession numbers, dates, institution,
	// physician (set.PHI) and the instance, series and study UIDs.
	set, err := dicomgen.WriteStudySet(filepath.Join(dir, "ct"), dicomgen.StudyOptions{Patients: 3, SeriesPerPatient: 2, Slices: 2, Size: 32, ByPatient: true})
	require.NoError(t, err)
	phi := append([]string(nil), set.PHI...)
	for _, f := range set.Files {
		phi = append(phi, f.SOPInstanceUID, f.SeriesInstanceUID, f.StudyInstanceUID, f.PatientID)
	}

	// EDF: the patient and recording fields hold a code, a birth date, a name, an
	// admin code and a technician.
	const edfPatient, edfRecording = "MRN-EEG-4711 F 02-MAR-1961 Smith_Alicia", "Startdate 02-MAR-2021 EEG-77-ADMIN Dr_Hausmann Bicetre"
	h := edf.Header{Format: edf.EDF, Patient: edfPatient, Recording: edfRecording, Start: time.Date(2021, 3, 2, 9, 30, 0, 0, time.UTC), RecordDuration: 1}
	var samples [][]float64
	for _, l := range []string{"C3", "C4"} {
		h.Signals = append(h.Signals, edf.SignalHeader{Label: l, PhysicalDimension: "uV", PhysicalMin: -500, PhysicalMax: 500, DigitalMin: -32768, DigitalMax: 32767, SamplesPerRecord: 64})
		s := make([]float64, 4*64)
		for i := range s {
			s[i] = float64(i%16) - 8
		}
		samples = append(samples, s)
	}
	edfPath := filepath.Join(dir, "eeg", "rec.edf")
	require.NoError(t, os.MkdirAll(filepath.Dir(edfPath), 0o755))
	require.NoError(t, edf.WriteFile(edfPath, h, samples, nil))
	phi = append(phi, "MRN-EEG-4711", "02-MAR-1961", "Smith_Alicia", "Smith Alicia", "Alicia", "EEG-77-ADMIN", "Dr_Hausmann", "Hausmann")

	// EHR table: mrn (id) and patient (group) are pseudonymised; name, birth date and the
	// free-text note are dropped by the config.
	var tbl strings.Builder
	tbl.WriteString("mrn,patient,name,birth_date,notes,age,marker,outcome\n")
	for i := range 30 {
		p := i / 3
		fmt.Fprintf(&tbl, "MRN-TBL-%05d,PID-TBL-%04d,Zebulon Quixote%d,1957-08-%02d,\"Seen by Dr. Xavier Lumen on 2019-04-02; lives at 12 Elm Street\",%d,%.2f,%s\n",
			90210+i, p, p, 10+p, 40+p, float64(i%7)/3, []string{"no", "yes"}[(p+i)%2])
	}
	tablePath := filepath.Join(dir, "ehr.csv")
	require.NoError(t, os.WriteFile(tablePath, []byte(tbl.String()), 0o644))
	for i := range 30 {
		phi = append(phi, fmt.Sprintf("MRN-TBL-%05d", 90210+i), fmt.Sprintf("PID-TBL-%04d", i/3))
	}
	phi = append(phi, "Zebulon", "Quixote", "1957-08-10", "Xavier Lumen", "Lumen", "Elm Street")

	// The report's model answers with a short draft and records every request.
	srv := llmtest.New(func(r llmtest.Request) llmtest.Reply {
		return llmtest.Reply{Content: "## Abstract\nA model was trained.\n\n## Introduction\nAn experiment.\n\n## Discussion\nSmall data."}
	})
	t.Cleanup(srv.Close)

	spec := fmt.Sprintf(`name: leak
seed: 5
stages:
  - {id: scans, kind: ingest.dicom, with: {path: %[1]q, labels: %[5]q, window: soft_tissue, size: [16, 16]}}
  - {id: eeg, kind: ingest.signals, with: {files: [%[2]q]}}
  - {id: ehr, kind: ingest.table, with: {path: %[3]q, label: outcome, id: mrn, group: patient, drop: [name, birth_date, notes]}}
  - {id: ehrsplit, kind: transform.split, inputs: [ehr], with: {strategy: group, test: 0.3, val: 0.2}}
  - {id: split, kind: transform.split, inputs: [scans], with: {strategy: group, test: 0.34, val: 0}}
  - {id: train, kind: train, inputs: [split], with: {model: mlp, hidden: [8], epochs: 2, batch_size: 8}}
  - {id: eval, kind: evaluate, inputs: [train, split], with: {bootstrap: 20}}
  - id: report
    kind: report
    inputs: [eval]
    with: {llm: {base_url: %[4]q, model: fake, api_key_env: BIOPIPE_LEAK_KEY, retries: 0}}
`, filepath.Join(dir, "ct"), edfPath, tablePath, srv.URL, filepath.Join(dir, "ct", "labels.csv"))
	specPath := filepath.Join(dir, "pipeline.yaml")
	require.NoError(t, os.WriteFile(specPath, []byte(spec), 0o644))
	src, err := pipelines.Load(specPath, nil)
	require.NoError(t, err)
	plan, err := pipelines.Validate(src, contract.Default)
	require.NoError(t, err)
	var logs bytes.Buffer
	work := filepath.Join(dir, "work")
	m, err := pipelines.Run(context.Background(), plan, pipelines.Options{WorkDir: work, Jobs: 2,
		Log: slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	require.NoError(t, err)
	for _, s := range m.Stages {
		require.Equal(t, "ok", s.Status, "stage %s: %s", s.ID, s.Error)
	}
	require.NotEmpty(t, srv.Requests(), "the report asked the model")

	needles := map[string]string{apiKey: "the API key"}
	for _, v := range phi {
		for _, f := range reformat(v) {
			if len(f) >= 5 {
				needles[f] = v
			}
		}
	}
	haystacks := map[string]string{"log": logs.String(), "requests to the model": srv.Bodies()}
	files := 0
	require.NoError(t, filepath.WalkDir(work, func(p string, d os.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		b, err := os.ReadFile(p)
		require.NoError(t, err)
		haystacks[p] = string(b)
		files++
		return nil
	}))
	assert.Greater(t, files, 20)
	for where, text := range haystacks {
		for needle, from := range needles {
			if strings.Contains(text, needle) {
				t.Errorf("%s contains %q (from %q)", where, needle, from)
			}
		}
	}
	t.Logf("searched %d files, %d log bytes and %d requests for %d strings", files, logs.Len(), len(srv.Requests()), len(needles))
}

// reformat returns v and the forms an identifier commonly takes elsewhere: DICOM person
// names and EDF subfields with spaces or parts alone, other letter cases, dates as YYYYMMDD, YYYY-MM-DD,
// MM/DD/YYYY and DD.MM.YYYY.
func reformat(v string) []string {
	out := []string{v, strings.ToLower(v), strings.ToUpper(v), strings.ReplaceAll(v, "^", " "), strings.ReplaceAll(v, "_", " ")}
	for _, sep := range []string{"^", "_"} { // person-name and EDF subfield separators
		for _, part := range strings.Split(v, sep) {
			out = append(out, part)
		}
	}
	for _, layout := range []string{"20060102", "2006-01-02", "02-Jan-2006"} {
		if d, err := time.Parse(layout, v); err == nil {
			out = append(out, d.Format("20060102"), d.Format("2006-01-02"), d.Format("01/02/2006"), d.Format("02.01.2006"), strings.ToUpper(d.Format("02-Jan-2006")))
		}
	}
	return out
}
