package encodeseq

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/biopipe/biopipe/dataset"
	"github.com/biopipe/biopipe/stages/ingest/sequences"
	"github.com/biopipe/biopipe/stages/transform/augment"
)

// table builds an ingest.sequences-like table with a split column.
func table(alphabet string, seqs []string, splits []string) *dataset.Frame {
	f := dataset.New()
	f.Meta[dataset.MetaID], f.Meta[dataset.MetaLabel] = "id", "y"
	id := &dataset.Column{Name: "id", Kind: dataset.String}
	y := &dataset.Column{Name: "y", Kind: dataset.String}
	for i := range seqs {
		id.S = append(id.S, string(rune('a'+i)))
		y.S = append(y.S, []string{"p", "q"}[i%2])
	}
	sc := &dataset.Column{Name: "sequence", Kind: dataset.String, S: seqs,
		Meta: map[string]string{sequences.MetaRole: sequences.RoleSequence, sequences.MetaAlphabet: alphabet}}
	f.Columns = []*dataset.Column{id, sc, y}
	if splits != nil {
		f.Columns = append(f.Columns, &dataset.Column{Name: dataset.ColSplit, Kind: dataset.String, S: splits})
	}
	return f
}

func TestOneHotPadTrimAlignAmbiguity(t *testing.T) {
	const (
		A = "1000"
		C = "0100"
		G = "0010"
		T = "0001"
		N = "qqqq" // 0.25 each
		R = "h0h0" // A/G: 0.5 each
		o = "0000"
	)
	render := func(v []float32) string {
		out := make([]byte, len(v))
		for i, x := range v {
			switch x {
			case 0:
				out[i] = '0'
			case 1:
				out[i] = '1'
			case 0.5:
				out[i] = 'h'
			case 0.25:
				out[i] = 'q'
			default:
				out[i] = '?'
			}
		}
		return string(out)
	}
	tests := []struct {
		name   string
		o      Options
		seq    string
		want   string
		padded bool
	}{
		{"left pads at the end", Options{Length: 5, Align: Left}, "ACG", A + C + G + o + o, true},
		{"right pads at the start", Options{Length: 5, Align: Right}, "ACG", o + o + A + C + G, true},
		{"center pads both ends", Options{Length: 5, Align: Center}, "ACG", o + A + C + G + o, true},
		{"left trims the end", Options{Length: 2, Align: Left}, "ACGT", A + C, false},
		{"right trims the start", Options{Length: 2, Align: Right}, "ACGT", G + T, false},
		{"center trims both ends", Options{Length: 2, Align: Center}, "ACGTA", C + G, false},
		{"uniform ambiguity, gap", Options{Length: 4, Ambiguity: Uniform}, "NR-a", N + R + o + A, false},
		{"zero ambiguity", Options{Length: 4, Ambiguity: Zero}, "NR-a", o + o + o + A, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.o.Encoding = OneHot
			out, sum, err := Encode(context.Background(), table("dna", []string{tt.seq}, nil), tt.o)
			require.NoError(t, err)
			x := out.Col(dataset.ColTensor)
			require.NotNil(t, x)
			assert.Equal(t, []int{tt.o.Length, 4}, x.Shape)
			assert.Equal(t, tt.want, render(x.Row(0)))
			assert.Nil(t, out.Col("sequence"), "replaced by the tensor")
			if tt.padded {
				assert.Equal(t, 1, sum.Padded)
			}
		})
	}
}

func TestOneHotDefaultLengthAndProtein(t *testing.T) {
	out, _, err := Encode(context.Background(), table("protein", []string{"MK", "WYV"}, nil), Options{Encoding: OneHot, Keep: true})
	require.NoError(t, err)
	x := out.Col("x")
	assert.Equal(t, []int{3, 20}, x.Shape, "longest sequence, 20 amino acids")
	assert.Equal(t, "sequence", out.Columns[1].Name)
	assert.Equal(t, "x", out.Columns[2].Name, "kept sequence, then the tensor")
	row := x.Row(1)
	// W is the 19th letter of ACDEFGHIKLMNPQRSTVWY.
	assert.Equal(t, float32(1), row[18])
	_, err = out.FeatureColumns()
	require.NoError(t, err)
}

func TestKMers(t *testing.T) {
	out, _, err := Encode(context.Background(), table("dna", []string{"AACGN", "A-AA"}, nil), Options{Encoding: KMer, K: 2, Normalize: false, Ambiguity: Uniform})
	require.NoError(t, err)
	x := out.Col("x")
	assert.Equal(t, []int{16}, x.Shape)
	idx := func(s string) int {
		return 4*map[byte]int{'A': 0, 'C': 1, 'G': 2, 'T': 3}[s[0]] + map[byte]int{'A': 0, 'C': 1, 'G': 2, 'T': 3}[s[1]]
	}
	r0 := x.Row(0)
	assert.Equal(t, float32(1), r0[idx("AA")])
	assert.Equal(t, float32(1), r0[idx("AC")])
	assert.Equal(t, float32(1), r0[idx("CG")])
	for _, k := range []string{"GA", "GC", "GG", "GT"} {
		assert.Equal(t, float32(0.25), r0[idx(k)], "GN spreads over four 2-mers")
	}
	assert.Equal(t, []float32{1, 0, 0, 0}, x.Row(1)[:4], "the gap breaks A-A; only AA at the end counts")

	out, _, err = Encode(context.Background(), table("dna", []string{"AACGN"}, nil), Options{Encoding: KMer, K: 2, Normalize: true, Ambiguity: Zero})
	require.NoError(t, err)
	r0 = out.Col("x").Row(0)
	assert.InDelta(t, 1.0/3, r0[idx("AA")], 1e-6, "three unambiguous 2-mers")
	assert.Equal(t, float32(0), r0[idx("GA")])

	_, _, err = Encode(context.Background(), table("protein", []string{"MK"}, nil), Options{Encoding: KMer, K: 4})
	assert.ErrorContains(t, err, "exceed 65536 features")
}

func TestReverseComplementTrainRowsOnly(t *testing.T) {
	f := table("dna", []string{"AACG", "TTTT", "GGCA", "ACGN"}, []string{"train", "val", "test", "train"})
	out, sum, err := Encode(context.Background(), f, Options{Encoding: OneHot, ReverseComp: true, Keep: true})
	require.NoError(t, err)
	assert.Equal(t, 2, sum.AddedRows)
	assert.Equal(t, 6, out.NumRows())
	assert.Equal(t, []string{"a", "b", "c", "d", "a#rc", "d#rc"}, out.Col("id").S)
	assert.Equal(t, []string{"train", "val", "test", "train", "train", "train"}, out.Col(dataset.ColSplit).S)
	assert.Equal(t, []int64{0, 0, 0, 0, 1, 1}, out.Col(augment.ColAugment).I)
	assert.Equal(t, []string{"p", "q", "p", "q", "p", "q"}, out.Col("y").S, "copies keep their label")
	x := out.Col("x")
	// CGTT: the reverse complement of AACG.
	assert.Equal(t, []float32{0, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0, 0, 0, 1}, x.Row(4))
	// NCGT: N stays N (uniform), then C G T.
	assert.Equal(t, []float32{0.25, 0.25, 0.25, 0.25}, x.Row(5)[:4])
	assert.Contains(t, out.RoleColumns(), augment.ColAugment)

	_, _, err = Encode(context.Background(), table("dna", []string{"AC"}, nil), Options{ReverseComp: true})
	assert.ErrorContains(t, err, "put transform.split first")
	_, _, err = Encode(context.Background(), table("protein", []string{"MK"}, []string{"train"}), Options{ReverseComp: true})
	assert.ErrorContains(t, err, "has no complement")
	_, _, err = Encode(context.Background(), table("dna", []string{"AC"}, nil), Options{Column: "sequense"})
	assert.ErrorContains(t, err, `column: "sequense" not found (did you mean "sequence"?)`)
}

// buckets: each row is padded to the smallest bucket that holds it (trimmed at the
// largest) inside a tensor of the largest bucket's shape, the length column records the
// bucket, and the model's feature matrix carries it as Matrix.Lengths.
func TestOneHotBuckets(t *testing.T) {
	seqs := []string{"AC", "ACGTA", "ACGTACGT", "ACGTACGTAC", "ACGTACGTACGTACGTA", "ACG"}
	f := table("dna", seqs, []string{"train", "train", "val", "test", "train", "train"})
	out, sum, err := Encode(context.Background(), f, Options{Encoding: OneHot, Buckets: []int{4, 8, 16}, Align: Left, ReverseComp: true})
	require.NoError(t, err)
	x := out.Col("x")
	assert.Equal(t, []int{16, 4}, x.Shape, "the largest bucket's shape")
	bc := out.Col(ColLengthBucket)
	require.NotNil(t, bc)
	assert.Equal(t, dataset.RoleLengthBucket, bc.Meta[dataset.MetaRole])
	// Rows 6-9 are the reverse complements of the train rows 0, 1, 4, 5: same lengths.
	assert.Equal(t, []int64{4, 8, 8, 16, 16, 4, 4, 8, 16, 4}, bc.I)
	assert.Equal(t, []BucketCount{{4, 4}, {8, 3}, {16, 3}}, sum.Buckets)
	assert.Equal(t, 2, sum.Trimmed, "17 > 16: row 4 and its copy")
	assert.Equal(t, 7, sum.Padded, "AC, ACGTA, ACGTACGTAC, ACG and their copies; ACGTACGT fills its bucket")
	for r := range out.NumRows() {
		row := x.Row(r)
		n := 0 // the last position with a letter
		for p := range 16 {
			s := row[4*p] + row[4*p+1] + row[4*p+2] + row[4*p+3]
			if s > 0 {
				n = p + 1
			}
		}
		assert.LessOrEqual(t, n, int(bc.I[r]), "row %d: nothing beyond its bucket", r)
	}
	assert.Equal(t, []float32{1, 0, 0, 0, 0, 1, 0, 0}, x.Row(0)[:8])
	assert.Equal(t, make([]float32, 56), x.Row(0)[8:], "AC: zeros after it")
	assert.Equal(t, float32(1), x.Row(4)[15*4+3], "position 16 of the trimmed row is T")

	m, err := out.Features(nil)
	require.NoError(t, err)
	assert.Equal(t, []int{4, 8, 8, 16, 16, 4, 4, 8, 16, 4}, m.Lengths)
	sub, err := out.Features([]int{3, 0})
	require.NoError(t, err)
	assert.Equal(t, []int{16, 4}, sub.Lengths)
	assert.Contains(t, out.RoleColumns(), ColLengthBucket, "not a feature")

	for _, c := range []struct {
		o    Options
		want string
	}{
		{Options{Encoding: KMer, Buckets: []int{4}}, `buckets: length buckets apply to encoding "onehot" only`},
		{Options{Encoding: OneHot, Buckets: []int{4}, Length: 4}, "give either length (one length) or buckets"},
		{Options{Encoding: OneHot, Buckets: []int{4}, Align: Right}, "padded at the end (align: left)"},
		{Options{Encoding: OneHot, Buckets: []int{8, 4}}, "buckets[1]: 4: list the lengths in increasing order"},
		{Options{Encoding: OneHot, Buckets: []int{0, 4}}, "buckets[0]: 0 is not a positive length"},
	} {
		_, _, err := Encode(context.Background(), table("dna", seqs, nil), c.o)
		assert.ErrorContains(t, err, c.want)
	}
}
