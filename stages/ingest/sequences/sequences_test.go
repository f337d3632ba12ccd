package sequences

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/biopipe/biopipe/contract"
	"github.com/biopipe/biopipe/dataset"
)

var splice = filepath.Join("..", "..", "..", "testdata", "splice")

func write(t *testing.T, name, text string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	require.NoError(t, os.WriteFile(p, []byte(text), 0o644))
	return p
}

func newStage(t *testing.T, raw map[string]any) (contract.Stage, error) {
	t.Helper()
	k, err := contract.Default.Get(KindName)
	require.NoError(t, err)
	cfg, issues := contract.Check(k.Fields, raw)
	require.Empty(t, issues)
	return k.New(cfg)
}

// The real splice set: labels from labels.csv joined on the id and labels from the header
// pattern agree record for record.
func TestSpliceLabelsFromCSVAndHeaderAgree(t *testing.T) {
	ctx := context.Background()
	byCSV, sum, err := Read(ctx, Options{Path: filepath.Join(splice, "splice.fa.gz"), Alphabet: "dna",
		Labels: filepath.Join(splice, "labels.csv"), LabelsID: "id", Label: "class", Ambiguous: Keep, Invalid: Error, Unlabelled: Error})
	require.NoError(t, err)
	assert.Equal(t, 3186, sum.Records)
	assert.Equal(t, 60, sum.MinLength)
	assert.Equal(t, 60, sum.MaxLength)
	assert.Equal(t, "fasta", sum.Format)
	assert.Equal(t, []string{"EI", "IE", "N"}, sum.Classes)
	assert.Equal(t, map[string]int{"EI": 767, "IE": 765, "N": 1654}, sum.ClassCounts)
	assert.Equal(t, 0, sum.AmbiguousRecords)
	assert.Equal(t, "classification", byCSV.Meta[dataset.MetaTask])
	assert.Equal(t, "class", byCSV.Meta[dataset.MetaLabel])
	assert.Equal(t, RoleSequence, byCSV.Col(ColSequence).Meta[MetaRole])
	assert.Equal(t, "dna", byCSV.Col(ColSequence).Meta[MetaAlphabet])
	_, err = byCSV.FeatureColumns()
	require.NoError(t, err, "the sequence text is a role column, not a text feature")

	byHeader, _, err := Read(ctx, Options{Path: filepath.Join(splice, "splice.fa.gz"), Label: "class",
		LabelPattern: regexp.MustCompile(`class=(\w+)`), Ambiguous: Keep, Invalid: Error, Unlabelled: Error})
	require.NoError(t, err)
	assert.Equal(t, byCSV.Col("class").S, byHeader.Col("class").S)
	assert.Equal(t, byCSV.Col(ColID).S, byHeader.Col(ColID).S)
	assert.Equal(t, "dna", byHeader.Col(ColSequence).Meta[MetaAlphabet], "auto alphabet")
	// Donor sites carry the GT consensus right after the junction.
	gt := 0
	for i, c := range byCSV.Col("class").S {
		if c == "EI" && byCSV.Col(ColSequence).S[i][30:32] == "GT" {
			gt++
		}
	}
	assert.Equal(t, 759, gt)
}

func TestAmbiguityInvalidAndUnlabelled(t *testing.T) {
	fa := write(t, "x.fa", ">a\nACGTN\n>b\nACGRT\n>c\nACGT\n>d\nAC1T\n")
	_, _, err := Read(context.Background(), Options{Path: fa, Alphabet: "dna", Ambiguous: Keep, Invalid: Error})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "x.fa:8: column 3: '1' is not a sequence character")

	fa = write(t, "x.fa", ">a lab=yes\nACGTN\n>b lab=no\nACGRT\n>c\nacgt\n>d lab=no\nACET\n")
	f, sum, err := Read(context.Background(), Options{Path: fa, Alphabet: "dna", Ambiguous: Keep, Invalid: Skip,
		Label: "label", LabelPattern: regexp.MustCompile(`lab=(\w+)`), Unlabelled: Drop})
	require.NoError(t, err)
	assert.Equal(t, []string{"a", "b"}, f.Col(ColID).S, "d skipped (E is not DNA), c unlabelled")
	assert.Equal(t, 1, sum.InvalidSkipped)
	assert.Equal(t, 1, sum.UnlabelledDropped)
	assert.Equal(t, []string{"c"}, sum.FirstUnlabelled)
	assert.Equal(t, 2, sum.AmbiguousRecords)
	assert.Equal(t, 2, sum.AmbiguousResidues)

	_, _, err = Read(context.Background(), Options{Path: fa, Alphabet: "dna", Ambiguous: Error, Invalid: Skip})
	require.Error(t, err)
	assert.Contains(t, err.Error(), `x.fa:1: record "a" holds 1 ambiguity code(s)`)

	f, sum, err = Read(context.Background(), Options{Path: fa, Alphabet: "dna", Ambiguous: Drop, Invalid: Skip})
	require.NoError(t, err)
	assert.Equal(t, []string{"c"}, f.Col(ColID).S)
	assert.Equal(t, "ACGT", f.Col(ColSequence).S[0], "upper-cased")
	assert.Equal(t, 2, sum.AmbiguousDropped)

	_, _, err = Read(context.Background(), Options{Path: fa, Alphabet: "dna", Ambiguous: Keep, Invalid: Skip,
		Label: "label", LabelPattern: regexp.MustCompile(`lab=(\w+)`), Unlabelled: Error})
	require.Error(t, err)
	assert.Contains(t, err.Error(), `x.fa:5: record "c" has no label`)
}

func TestFASTQWithCSVLabelsAndProtein(t *testing.T) {
	fq := write(t, "r.fq", "@r1\nACGU\n+\nIIII\n@r2\nAAUU\n+\n####\n@r3\nGGGG\n+\nIIII\n")
	labels := write(t, "y.csv", "read,score\nr1,0.5\nr2,1.5\nr9,2\n")
	f, sum, err := Read(context.Background(), Options{Path: fq, Labels: labels, LabelsID: "read", Label: "score",
		Task: "regression", Ambiguous: Keep, Invalid: Error, Unlabelled: Drop})
	require.NoError(t, err)
	assert.Equal(t, "rna", sum.Alphabet)
	assert.Equal(t, "fastq", sum.Format)
	assert.Equal(t, []string{"IIII", "####"}, f.Col(ColQuality).S)
	assert.Equal(t, []float64{0.5, 1.5}, f.Col("score").F)
	assert.Equal(t, 1, sum.UnlabelledDropped)
	assert.Equal(t, 1, sum.LabelsWithoutMatch)
	assert.Equal(t, "regression", f.Meta[dataset.MetaTask])

	fa := write(t, "p.fa", ">p1\nMKVLAX*\n>p2\nMKBZW\n")
	f, sum, err = Read(context.Background(), Options{Path: fa, Alphabet: "auto", Ambiguous: Keep, Invalid: Error})
	require.NoError(t, err)
	assert.Equal(t, "protein", sum.Alphabet)
	assert.Equal(t, []string{"MKVLAX", "MKBZW"}, f.Col(ColSequence).S, "trailing stop removed")
	assert.Equal(t, 3, sum.AmbiguousResidues)

	dup := write(t, "d.fa", ">a\nAC\n>a\nGT\n")
	_, _, err = Read(context.Background(), Options{Path: dup, Ambiguous: Keep, Invalid: Error})
	assert.ErrorContains(t, err, `d.fa:3: record id "a" appears again (first at line 1)`)
}

func TestConfigErrors(t *testing.T) {
	_, err := newStage(t, map[string]any{"path": "x.fa", "label_pattern": "class=\\w+"})
	assert.ErrorContains(t, err, "needs a capture group")
	_, err = newStage(t, map[string]any{"path": "x.fa", "labels": "y.csv"})
	assert.ErrorContains(t, err, "name the label column")
	_, err = newStage(t, map[string]any{"path": "x.fa", "labels": "y.csv", "label": "y", "label_pattern": "(x)"})
	assert.ErrorContains(t, err, "not both")
	_, err = newStage(t, map[string]any{"path": "x.fa", "task": "regression"})
	assert.ErrorContains(t, err, "task needs labels")
	_, err = newStage(t, map[string]any{"path": "x.fa", "labels": "y.csv", "label": "klass"})
	require.NoError(t, err)
	st, err := newStage(t, map[string]any{"path": filepath.Join(splice, "splice.fa.gz"), "labels": filepath.Join(splice, "labels.csv"), "label": "klass"})
	require.NoError(t, err)
	env := contract.NewEnv(nil)
	env.StageID, env.OutDir = "load", t.TempDir()
	err = st.Run(context.Background(), env)
	assert.ErrorContains(t, err, `label: column "klass" not found (did you mean "class"?)`)
}
