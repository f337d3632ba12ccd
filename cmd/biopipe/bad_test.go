package main

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/biopipe/biopipe/io/dicom/dicomgen"
)

// maxCaseAlloc bounds what one bad file may make biopipe allocate: several corrupt headers
// claim gigabytes (a 2 GB pixel element, 99999999 EDF records, 2e9 MatrixMarket entries).
const maxCaseAlloc = 256 << 20

// runBounded runs the CLI in-process and returns its output, exit code and the bytes it
// allocated.
func runBounded(t *testing.T, args ...string) (string, int, uint64) {
	t.Helper()
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	out, code := execute(t, args...)
	runtime.ReadMemStats(&after)
	return out, code, after.TotalAlloc - before.TotalAlloc
}

// assertClean checks an error output: no panic, no stack trace, exit 1 or 2.
func assertClean(t *testing.T, out string, code int, alloc uint64, what string) {
	t.Helper()
	assert.Contains(t, []int{exitFailed, exitUsage}, code, "%s: exit code\n%s", what, out)
	for _, bad := range []string{"panic", "goroutine ", "runtime/debug", ".go:"} {
		assert.NotContains(t, out, bad, "%s: a stack trace or panic", what)
	}
	assert.Less(t, alloc, uint64(maxCaseAlloc), "%s allocated %d MiB", what, alloc>>20)
}

// TestBadInputCorpus runs `biopipe inspect` and `biopipe run` on every file of testdata/bad
// (see its README for how each was made): a clear error naming the file and the place
// (line, byte offset, tag, record), exit 1 or 2, no panic or stack trace, and bounded
// memory, even where a header claims gigabytes.
func TestBadInputCorpus(t *testing.T) {
	bad, err := filepath.Abs("../../testdata/bad")
	require.NoError(t, err)
	tests := []struct {
		file    string
		as      string // inspect --as
		ingest  string // the stage that reads it in `run`
		inspect string // a fragment of inspect's error ("" = inspect summarises it, exit 0)
		run     string // a fragment of run's error ("" = the file is read)
	}{
		{"dicom/truncated.dcm", "", "dicom", "element (7FE0,0010) at byte 562: length 2048 runs past the end (1573 bytes)", "truncated.dcm: not a readable DICOM file"},
		{"dicom/garbled.dcm", "", "dicom", "garbled.dcm: not a readable DICOM file: element (5A58,5A4A) at byte 228", "garbled.dcm: not a readable DICOM file"},
		{"dicom/wrong-vr-length.dcm", "", "dicom", "element (0028,0010) at byte 478: length 65534 runs past the end", "wrong-vr-length.dcm: not a readable DICOM file"},
		{"dicom/pixel-length-2gb.dcm", "", "dicom", "element (7FE0,0010) at byte 562: length 2147483632 runs past the end", "pixel-length-2gb.dcm: not a readable DICOM file"},
		{"edf/wrong-signal-count.edf", "", "signals", "wrong-signal-count.edf: byte 184: number of bytes in header record: 1280 does not match 9 signals", "wrong-signal-count.edf: byte 184"},
		{"edf/wrong-record-count.edf", "", "signals", "wrong-record-count.edf: byte 236: number of data records: header states 99999999 records", "wrong-record-count.edf: byte 236"},
		{"edf/bad-record-duration.edf", "", "signals", `bad-record-duration.edf: byte 244: duration of a data record: "1,0x" is not a number`, "bad-record-duration.edf: byte 244"},
		{"edf/bad-physical-min.edf", "", "signals", `bad-physical-min.edf: byte 672: signal 1 ("C3") physical minimum: "abc" is not a number`, "bad-physical-min.edf: byte 672"},
		{"edf/zero-digital-range.edf", "", "signals", `zero-digital-range.edf: byte 736: signal 1 ("C3") digital minimum/maximum: range [0, 0] is empty`, "zero-digital-range.edf: byte 736"},
		{"bdf/cut-mid-record.bdf", "", "signals", "cut-mid-record.bdf: byte 2048: data record 1: truncated: 384 of 768 bytes present", "cut-mid-record.bdf: byte 2048"},
		// inspect takes a quick look and counts malformed rows; run stops at the first one
		{"csv/ragged.csv", "", "table", "", "ragged.csv:3: row has 4 fields, want 3 (as in the header)"},
		{"csv/invalid-utf8.csv", "", "table", "invalid-utf8.csv:3: column 2: invalid UTF-8 byte 0xff", "invalid-utf8.csv:3: column 2: invalid UTF-8 byte 0xff"},
		{"csv/mixed-line-endings.csv", "", "table", "", ""}, // a lone CR ends a line, as in Python's csv
		{"csv/unterminated-quote.csv.gz", "", "table", "", `unterminated-quote.csv.gz: parse error on line 2, column 3145733: extraneous or missing " in quoted-field`},
		{"expr/duplicate-gene.tsv", "expression", "expression", `duplicate-gene.tsv:4: column 1: duplicated gene id "TP53" (first at`, `duplicate-gene.tsv:4: column 1: duplicated gene id "TP53"`},
		{"expr/duplicate-sample.tsv", "expression", "expression", `duplicate-sample.tsv:1: column 4: duplicated sample id "s1"`, `duplicate-sample.tsv:1: column 4: duplicated sample id "s1"`},
		{"expr/out-of-range.mtx", "expression", "expression", "out-of-range.mtx:4: row index: 4 out of range 1..3", "out-of-range.mtx:4: row index: 4 out of range 1..3"},
		{"expr/nnz-claims-2g.mtx", "expression", "expression", "nnz-claims-2g.mtx:2: 2000000000 entries declared for a 3 x 2 matrix", "nnz-claims-2g.mtx:2: 2000000000 entries declared"},
		{"expr/tenx-missing-barcodes", "expression", "expression", "tenx-missing-barcodes: not a 10x matrix folder: missing barcodes.tsv[.gz]", "tenx-missing-barcodes: not a 10x matrix folder: missing barcodes.tsv[.gz]"},
		{"table/wrong-magic.parquet", "", "table", `wrong-magic.parquet: byte 0: not a Parquet file: starts with "PAR0", want "PAR1"`, `wrong-magic.parquet: byte 0: not a Parquet file`},
	}
	stage := map[string]string{
		"dicom":      `{id: load, kind: ingest.dicom, with: {files: [%q], salt: s}}`,
		"signals":    `{id: load, kind: ingest.signals, with: {files: [%q], salt: s}}`,
		"table":      `{id: load, kind: ingest.table, with: {path: %q}}`,
		"expression": `{id: load, kind: ingest.expression, with: {path: %q}}`,
	}
	seen := map[string]bool{}
	for _, tc := range tests {
		seen[tc.file] = true
		t.Run(tc.file, func(t *testing.T) {
			path := filepath.Join(bad, filepath.FromSlash(tc.file))
			args := []string{"inspect", path}
			if tc.as != "" {
				args = append(args, "--as", tc.as)
			}
			out, code, alloc := runBounded(t, args...)
			if tc.inspect == "" {
				assert.Equal(t, exitOK, code, out)
				assert.Less(t, alloc, uint64(maxCaseAlloc))
			} else {
				assertClean(t, out, code, alloc, "inspect")
				assert.Contains(t, out, tc.inspect)
			}

			dir := t.TempDir()
			spec := filepath.Join(dir, "pipeline.yaml")
			require.NoError(t, os.WriteFile(spec, []byte("name: bad\nstages:\n  - "+fmt.Sprintf(stage[tc.ingest], path)+"\n"), 0o644))
			out, code, alloc = runBounded(t, "run", spec, "--workdir", filepath.Join(dir, "work"), "-q")
			if tc.run == "" {
				assert.Equal(t, exitOK, code, out)
				return
			}
			assertClean(t, out, code, alloc, "run")
			assert.Contains(t, out, tc.run)
		})
	}
	// every file of the corpus is covered
	require.NoError(t, filepath.WalkDir(bad, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || filepath.Ext(p) == ".md" || strings.Contains(p, "/pipelines/") {
			return err
		}
		rel, _ := filepath.Rel(bad, p)
		rel = filepath.ToSlash(rel)
		if strings.HasPrefix(rel, "expr/tenx-missing-barcodes/") {
			rel = "expr/tenx-missing-barcodes"
		}
		assert.True(t, seen[rel], "testdata/bad/%s has no case", rel)
		return nil
	}))
}

// TestBadPipelineCorpus validates and runs every pipeline file of testdata/bad/pipelines:
// each mistake is reported at file:line:col (exit 2) before anything runs.
func TestBadPipelineCorpus(t *testing.T) {
	want := map[string]string{
		"alias-bomb.yaml":       "alias-bomb.yaml:3:19: more than 200000 values once YAML aliases are expanded",
		"column-typo.yaml":      `column-typo.yaml:5:54: stage "load": field "label": label column "tagret" not found in breast_cancer.csv (did you mean "target"?)`,
		"cycle.yaml":            `cycle.yaml:5:5: stage "a": cycle: a -> b -> a`,
		"dangling-input.yaml":   `dangling-input.yaml:8:14: stage "split": input "lod" is not a stage of this pipeline (did you mean "load"?)`,
		"duplicate-id.yaml":     `duplicate-id.yaml:6:9: stage "load": duplicate stage id (first used by stage 1)`,
		"empty.yaml":            "empty.yaml:1:1: empty file",
		"missing-file.yaml":     `missing-file.yaml:5:18: stage "load": field "path": ../../ehr/no-such-file.csv: no such file or folder`,
		"missing-required.yaml": `missing-required.yaml:5:5: stage "load": field "path": missing required field`,
		"tabs.yaml":             "tabs.yaml:3:1: YAML syntax: found character that cannot start any token",
		"undefined-var.yaml":    `undefined-var.yaml:6:18: undefined variable "dta" (did you mean "data"?)`,
		"unknown-key.yaml":      `unknown-key.yaml:6:5: stage "load": unknown key "input" (did you mean "inputs"?)`,
		"unknown-kind.yaml":     `unknown-kind.yaml:4:11: stage "load": unknown stage kind "ingest.tabel" (did you mean "ingest.table"?)`,
		"wrong-type.yaml":       `wrong-type.yaml:9:40: stage "split": field "test": want a number, got the string "lots"`,
		"yaml-syntax.yaml":      "yaml-syntax.yaml:4:1: YAML syntax: did not find expected ',' or '}'",
	}
	files, err := filepath.Glob("../../testdata/bad/pipelines/*.yaml")
	require.NoError(t, err)
	require.Len(t, files, len(want), "one expectation per file")
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			w, ok := want[filepath.Base(f)]
			require.True(t, ok, "no expectation for %s", f)
			for _, cmd := range []string{"validate", "run"} {
				args := []string{cmd, f}
				if cmd == "run" {
					args = append(args, "--workdir", filepath.Join(t.TempDir(), "work"))
				}
				out, code, alloc := runBounded(t, args...)
				assertClean(t, out, code, alloc, cmd)
				assert.Equal(t, exitUsage, code, out)
				assert.Contains(t, out, w, cmd)
			}
		})
	}
}

// TestKeepGoingQuarantinesBadFiles mixes the corpus's corrupt DICOM and EDF files into
// folders of good ones: with --keep-going the run finishes on the good files, the manifest
// lists every bad one with its reason, and the report names the quarantined DICOM files.
func TestKeepGoingQuarantinesBadFiles(t *testing.T) {
	bad, err := filepath.Abs("../../testdata/bad")
	require.NoError(t, err)
	dir := t.TempDir()
	ct := filepath.Join(dir, "ct")
	_, err = dicomgen.WriteStudySet(ct, dicomgen.StudyOptions{Patients: 3, SeriesPerPatient: 2, Slices: 2, Size: 32, ByPatient: true})
	require.NoError(t, err)
	eeg := filepath.Join(dir, "eeg")
	require.NoError(t, os.MkdirAll(eeg, 0o755))
	copyFile := func(from, to string) {
		b, err := os.ReadFile(from)
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(to, b, 0o644))
	}
	copyFile("../../testdata/eeg/sub-01.edf", filepath.Join(eeg, "sub-01.edf"))
	copyFile("../../testdata/eeg/sub-02.edf", filepath.Join(eeg, "sub-02.edf"))
	var badDCM, badEDF []string
	for _, f := range []string{"truncated.dcm", "garbled.dcm", "wrong-vr-length.dcm", "pixel-length-2gb.dcm"} {
		copyFile(filepath.Join(bad, "dicom", f), filepath.Join(ct, "case01", f))
		badDCM = append(badDCM, "case01/"+f)
	}
	for _, f := range []string{"wrong-record-count.edf", "bad-physical-min.edf"} {
		copyFile(filepath.Join(bad, "edf", f), filepath.Join(eeg, f))
		badEDF = append(badEDF, f)
	}
	spec := filepath.Join(dir, "pipeline.yaml")
	require.NoError(t, os.WriteFile(spec, []byte(fmt.Sprintf(`name: keep-going
seed: 2
stages:
  - {id: scans, kind: ingest.dicom, with: {path: %q, labels: %q, missing_label: drop, size: [16, 16], salt: s}}
  - {id: eeg, kind: ingest.signals, with: {files: [%q], salt: s}}
  - {id: split, kind: transform.split, inputs: [scans], with: {strategy: group, test: 0.34, val: 0}}
  - {id: train, kind: train, inputs: [split], with: {model: mlp, hidden: [8], epochs: 1, batch_size: 8}}
  - {id: eval, kind: evaluate, inputs: [train, split], with: {bootstrap: 10}}
  - {id: report, kind: report, inputs: [eval]}
`, ct, filepath.Join(ct, "labels.csv"), eeg)), 0o644))
	work := filepath.Join(dir, "work")
	out, code := execute(t, "run", spec, "--workdir", work, "-q")
	assert.Equal(t, exitFailed, code, "without --keep-going the first corrupt file stops the run:\n%s", out)
	out, code = execute(t, "run", spec, "--workdir", work, "-q", "--keep-going")
	require.Equal(t, exitOK, code, out)

	runs, err := filepath.Glob(filepath.Join(work, "runs", "*", "manifest.json"))
	require.NoError(t, err)
	require.NotEmpty(t, runs)
	var latest string
	for _, r := range runs {
		if latest == "" || r > latest {
			latest = r
		}
	}
	m, err := os.ReadFile(latest)
	require.NoError(t, err)
	for _, f := range append(badDCM, badEDF...) {
		assert.Contains(t, string(m), filepath.Base(f), "the manifest lists the quarantined %s", f)
	}
	md, err := os.ReadFile(filepath.Join(filepath.Dir(latest), "report.md"))
	require.NoError(t, err)
	for _, f := range badDCM {
		assert.Contains(t, string(md), f, "the report lists the quarantined %s", f)
	}
}
