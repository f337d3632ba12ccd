package seq

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/csv"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func readAll(t *testing.T, src string) ([]*Record, string, error) {
	t.Helper()
	r, err := NewReader(strings.NewReader(src), "in.fa")
	require.NoError(t, err)
	var out []*Record
	for {
		rec, err := r.Next()
		if err == io.EOF {
			return out, r.Format(), nil
		}
		if err != nil {
			return out, r.Format(), err
		}
		out = append(out, rec)
	}
}

func TestReaderParses(t *testing.T) {
	tests := []struct {
		name, in, format string
		want             []Record
	}{
		{"multi-line FASTA, CRLF, blank lines, comment", ">a first one\r\nACGT\r\nac\r\n\r\n;comment\n>b\nNNNN\n", FASTA,
			[]Record{{ID: "a", Desc: "first one", Seq: []byte("ACGTac"), Line: 1}, {ID: "b", Seq: []byte("NNNN"), Line: 6}}},
		{"empty FASTA record", ">a\n>b\nM-K*\n", FASTA,
			[]Record{{ID: "a", Line: 1}, {ID: "b", Seq: []byte("M-K*"), Line: 2}}},
		{"leading blank lines and tab in header", "\n\n>x\tdesc  here\nAC GT\n", FASTA,
			[]Record{{ID: "x", Desc: "desc  here", Seq: []byte("ACGT"), Line: 3}}},
		{"four-line FASTQ", "@r1 x\nACGT\n+\nII#I\n@r2\nAC\n+r2\n@@\n", FASTQ,
			[]Record{{ID: "r1", Desc: "x", Seq: []byte("ACGT"), Qual: []byte("II#I"), Line: 1},
				{ID: "r2", Seq: []byte("AC"), Qual: []byte("@@"), Line: 5}}},
		{"wrapped FASTQ whose quality starts with @", "@r1\nACG\nTA\n+\n@II\nII\n", FASTQ,
			[]Record{{ID: "r1", Seq: []byte("ACGTA"), Qual: []byte("@IIII"), Line: 1}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			recs, format, err := readAll(t, tt.in)
			require.NoError(t, err)
			assert.Equal(t, tt.format, format)
			require.Len(t, recs, len(tt.want))
			for i := range recs {
				assert.Equal(t, tt.want[i], *recs[i])
			}
		})
	}
}

func TestReaderErrorsNameLine(t *testing.T) {
	tests := []struct{ name, in, want string }{
		{"not a sequence file", "id,label\n", "in.fa:1: not a FASTA or FASTQ file"},
		{"digit in sequence", ">a\nACGT\nAC1T\n", "in.fa:3: column 3: '1' is not a sequence character"},
		{"FASTQ quality too short", "@r\nACGT\n+\nII\n", "in.fa:3: record \"r\": quality has 2 characters, sequence 4"},
		{"FASTQ without +", "@r\nACGT\n", "in.fa:1: record \"r\" ends before its '+' line"},
		{"FASTQ quality too long", "@r\nAC\n+\nIII\n", "in.fa:4: record \"r\": quality has 3 characters, sequence 2"},
		{"FASTQ + names another record", "@r\nAC\n+s\nII\n", "in.fa:3: the '+' line names \"s\""},
		{"FASTQ bad quality char", "@r\nAC\n+\nI\x01\n", "in.fa:4: column 2"},
		{"FASTA record in FASTQ", "@r\nAC\n+\nII\n>s\nAC\n", "in.fa:5: expected a FASTQ header starting with '@'"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := readAll(t, tt.in)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tt.want)
		})
	}
}

func TestGzipAndPlainAgree(t *testing.T) {
	src := ">a\nACGT\nGG\n>b\nTT\n"
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	_, _ = zw.Write([]byte(src))
	require.NoError(t, zw.Close())
	dir := t.TempDir()
	plain, gz := filepath.Join(dir, "x.fa"), filepath.Join(dir, "x.fa.gz")
	require.NoError(t, os.WriteFile(plain, []byte(src), 0o644))
	require.NoError(t, os.WriteFile(gz, buf.Bytes(), 0o644))
	a, _, err := ReadFile(context.Background(), plain)
	require.NoError(t, err)
	b, _, err := ReadFile(context.Background(), gz)
	require.NoError(t, err)
	assert.Equal(t, a, b)
	require.Len(t, a, 2)
	assert.Equal(t, "ACGTGG", string(a[0].Seq))
}

func TestAlphabets(t *testing.T) {
	dna, err := Get("DNA")
	require.NoError(t, err)
	rc, err := dna.ReverseComplement([]byte("ACGTNRYacgt-"))
	require.NoError(t, err)
	assert.Equal(t, "-acgtRYNACGT", string(rc))
	assert.Equal(t, 2, dna.Index('g'))
	assert.Equal(t, -1, dna.Index('N'))
	assert.Equal(t, "ACGT", dna.Expand('n'))
	assert.True(t, dna.IsAmbiguous('R'))
	assert.False(t, dna.IsAmbiguous('A'))
	assert.Equal(t, "", dna.Expand('E'))
	rna, _ := Get("rna")
	rc, err = rna.ReverseComplement([]byte("ACGU"))
	require.NoError(t, err)
	assert.Equal(t, "ACGU", string(rc))
	prot, _ := Get("protein")
	_, err = prot.ReverseComplement([]byte("MK"))
	assert.ErrorContains(t, err, "no complement")
	assert.Equal(t, "DN", prot.Expand('B'))
	_, err = Get("amino")
	assert.ErrorContains(t, err, "known: dna, rna, protein")
	assert.Equal(t, DNA, Guess(map[byte]int64{'A': 5, 'C': 3, 'G': 2, 'T': 1, 'N': 1}))
	assert.Equal(t, RNA, Guess(map[byte]int64{'A': 5, 'C': 3, 'G': 2, 'U': 4}))
	assert.Equal(t, Protein, Guess(map[byte]int64{'M': 5, 'K': 3, 'A': 2, 'L': 4}))
}

// reference is one record of Biostrings' reading of an example file.
type reference struct {
	name                     string
	width, gc, acgt, qualsum int
}

func loadReference(t *testing.T, r io.Reader) map[string][]reference {
	rows, err := csv.NewReader(r).ReadAll()
	require.NoError(t, err)
	out := map[string][]reference{}
	for _, row := range rows[1:] {
		var n [4]int
		for i := range n {
			n[i], err = strconv.Atoi(row[2+i])
			require.NoError(t, err)
		}
		out[row[0]] = append(out[row[0]], reference{row[1], n[0], n[1], n[2], n[3]})
	}
	return out
}

var biostringsFiles = []string{"fastaEx.fa", "someORF.fa.gz", "s_1_sequence.txt.gz"}

// The Go reader agrees with Biostrings on the files Biostrings ships: the committed
// reference, and Biostrings itself when R has it.
func TestAgreesWithBiostrings(t *testing.T) {
	dir := filepath.Join("testdata", "biostrings")
	f, err := os.Open(filepath.Join(dir, "reference.csv"))
	require.NoError(t, err)
	defer f.Close()
	refs := map[string]map[string][]reference{"committed reference.csv": loadReference(t, f)}
	if _, err := exec.LookPath("Rscript"); err != nil {
		t.Log("Rscript not installed (Debian r-base-core, r-bioc-biostrings): checking the committed reference only")
	} else {
		cmd := exec.Command("Rscript", append([]string{"reference.R"}, biostringsFiles...)...)
		cmd.Dir = dir
		out, err := cmd.Output()
		if err != nil {
			t.Logf("Biostrings not usable (%v): checking the committed reference only", err)
		} else {
			refs["live Biostrings"] = loadReference(t, bytes.NewReader(out))
		}
	}
	for src, ref := range refs {
		for _, file := range biostringsFiles {
			recs, _, err := ReadFile(context.Background(), filepath.Join(dir, file))
			require.NoError(t, err, file)
			want := ref[file]
			require.Len(t, recs, len(want), "%s: %s", src, file)
			for i, rec := range recs {
				name := rec.ID
				if rec.Desc != "" {
					name += " " + rec.Desc
				}
				var gc, acgt, qs int
				for _, c := range bytes.ToUpper(rec.Seq) {
					switch c {
					case 'G', 'C':
						gc++
						acgt++
					case 'A', 'T':
						acgt++
					}
				}
				for _, q := range rec.Qual {
					qs += int(q)
				}
				assert.Equal(t, want[i], reference{name, len(rec.Seq), gc, acgt, qs}, "%s: %s record %d", src, file, i)
			}
		}
	}
}

func TestSummarize(t *testing.T) {
	s, err := Summarize(context.Background(), filepath.Join("testdata", "biostrings", "s_1_sequence.txt.gz"))
	require.NoError(t, err)
	assert.Equal(t, FASTQ, s.Format)
	assert.Equal(t, 256, s.Records)
	assert.Equal(t, 36, s.MinLength)
	assert.Equal(t, 36, s.MaxLength)
	assert.Equal(t, DNA, s.Alphabet)
	assert.Equal(t, 64, s.QualityOffset, "Illumina 1.3 qualities")
	require.NotNil(t, s.MeanQuality)
	require.NotNil(t, s.GC)
	// Recompute from the reference rows.
	f, err := os.Open(filepath.Join("testdata", "biostrings", "reference.csv"))
	require.NoError(t, err)
	defer f.Close()
	var qs, w, gc, acgt int
	for _, r := range loadReference(t, f)["s_1_sequence.txt.gz"] {
		qs += r.qualsum
		w += r.width
		gc += r.gc
		acgt += r.acgt
	}
	assert.InDelta(t, float64(qs)/float64(w)-64, *s.MeanQuality, 1e-9)
	assert.InDelta(t, float64(gc)/float64(acgt), *s.GC, 1e-9)

	s, err = Summarize(context.Background(), filepath.Join("testdata", "biostrings", "someORF.fa.gz"))
	require.NoError(t, err)
	assert.Equal(t, 7, s.Records)
	assert.Nil(t, s.MeanQuality)
	assert.Equal(t, []string{"YAL001C", "YAL002W", "YAL003W", "YAL005C", "YAL007C"}, s.FirstIDs)
	var buf bytes.Buffer
	require.NoError(t, s.WriteText(&buf))
	assert.Contains(t, buf.String(), "FASTA, 7 records")
}

// FuzzReader: any input either parses or gives a positioned error; it never panics, and a
// parsed record's quality string (FASTQ) is as long as its sequence.
func FuzzReader(f *testing.F) {
	for _, name := range biostringsFiles {
		b, err := os.ReadFile(filepath.Join("testdata", "biostrings", name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte(">a\nAC\n>b\n"))
	f.Add([]byte("@r\nACG\nT\n+\n@II\nI\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := NewReader(bytes.NewReader(data), "fuzz")
		if err != nil {
			return
		}
		for range 10000 {
			rec, err := r.Next()
			if err != nil {
				if err != io.EOF && !strings.HasPrefix(err.Error(), "fuzz") {
					t.Fatalf("error without the file name: %v", err)
				}
				return
			}
			if r.Format() == FASTQ && len(rec.Qual) != len(rec.Seq) {
				t.Fatalf("record %q: %d quality characters for %d residues", rec.ID, len(rec.Qual), len(rec.Seq))
			}
		}
	})
}
