// Package encodeseq is the transform.encode_sequence stage kind: it turns the sequence column
// that ingest.sequences writes into a tensor column, as a one-hot matrix [L, alphabet] padded
// or trimmed to one length (for cnn1d and lstm) or as k-mer counts (for mlp), and can add the
// reverse complement of every train row of a DNA/RNA table as augmentation.
package encodeseq

import (
	"context"
	"fmt"
	"math"
	"slices"
	"strconv"

	"github.com/biopipe/biopipe/contract"
	"github.com/biopipe/biopipe/dataset"
	"github.com/biopipe/biopipe/io/seq"
	"github.com/biopipe/biopipe/stages/ingest/sequences"
	"github.com/biopipe/biopipe/stages/transform/augment"
	"github.com/biopipe/biopipe/stages/transform/internal/tab"
)

// KindName is the registered name of the stage kind.
const KindName = "transform.encode_sequence"

// Config field names.
const (
	FieldColumn      = "column"
	FieldEncoding    = "encoding"
	FieldLength      = "length"
	FieldBuckets     = "buckets"
	FieldAlign       = "align"
	FieldAmbiguity   = "ambiguity"
	FieldK           = "k"
	FieldNormalize   = "normalize"
	FieldReverseComp = "reverse_complement"
	FieldName        = "name"
	FieldKeep        = "keep_sequence"
)

// Choices.
const (
	OneHot  = "onehot"
	KMer    = "kmer"
	Left    = "left"
	Right   = "right"
	Center  = "center"
	Uniform = "uniform"
	Zero    = "zero"
)

// ColLengthBucket is the int column (role dataset.RoleLengthBucket) that onehot with
// buckets writes: the bucket length of each row.
const ColLengthBucket = "seq_len_bucket"

// MaxKMerFeatures bounds alphabet^k.
const MaxKMerFeatures = 1 << 16

// Fields is the config of transform.encode_sequence.
var Fields = []contract.Field{
	{Name: FieldColumn, Type: contract.String, Doc: "the sequence column (default: the column ingest.sequences marked as the sequence)"},
	{Name: FieldEncoding, Type: contract.String, Default: OneHot, Enum: []string{OneHot, KMer},
		Doc: "onehot: a [length, alphabet] matrix per row (one channel per letter, channels last) for cnn1d/lstm; kmer: the counts of every k-mer, a [alphabet^k] vector for mlp"},
	{Name: FieldLength, Type: contract.Int, Default: 0, Min: contract.Bound(0),
		Doc: "onehot: rows are padded (zeros) or trimmed to this many positions; 0 = the longest sequence of the table"},
	{Name: FieldBuckets, Type: contract.Ints, Default: []any{},
		Doc: "onehot: per-batch length bucketing, e.g. [64, 128, 256]: each sequence is padded (zeros, at the end) to the smallest bucket that holds it (trimmed at the largest); the tensor column keeps the largest bucket's shape and the int column " + ColLengthBucket + " (role " + dataset.RoleLengthBucket + ") records each row's bucket. train then forms each batch from rows of one bucket and feeds it cut to that length (one compiled graph per bucket; short sequences cost less), and evaluation predicts per bucket. Only for families that take variable lengths (cnn1d with avg or max global_pool, lstm). Excludes length and needs align: left; [] = off"},
	{Name: FieldAlign, Type: contract.String, Default: Left, Enum: []string{Left, Right, Center},
		Doc: "onehot: where a sequence sits in the length: left (pad/trim at the end), right (at the start), center (both ends evenly)"},
	{Name: FieldAmbiguity, Type: contract.String, Default: Uniform, Enum: []string{Uniform, Zero},
		Doc: "an IUPAC ambiguity code (N, R, Y ... / B, Z, X): uniform spreads one over the letters it stands for (N = 0.25 on each of ACGT), zero leaves the position empty like a gap"},
	{Name: FieldK, Type: contract.Int, Default: 3, Min: contract.Bound(1), Max: contract.Bound(8),
		Doc: "kmer: k-mer length (alphabet^k features; at most 65536)"},
	{Name: FieldNormalize, Type: contract.Bool, Default: true,
		Doc: "kmer: divide the counts by the number of k-mers of the sequence (frequencies, comparable across lengths)"},
	{Name: FieldReverseComp, Type: contract.Bool, Default: false,
		Doc: "DNA/RNA: append the reverse complement of every train row as an augmented copy (needs a split column; val/test rows are never copied)"},
	{Name: FieldName, Type: contract.String, Default: dataset.ColTensor, Doc: "name of the tensor column"},
	{Name: FieldKeep, Type: contract.Bool, Default: false, Doc: "keep the sequence column (a role column, not a feature) beside the tensor"},
}

func init() {
	contract.Register(&contract.Kind{
		Name: KindName,
		Doc:  "encode a sequence column as one-hot [length, alphabet] or k-mer counts, with reverse-complement augmentation",
		Description: `Reads the alphabet from the sequence column's metadata (ingest.sequences writes it). onehot: position
i of the (padded, trimmed) sequence becomes channel j = 1 when its residue is letter j of the alphabet
(ACGT, ACGU, or the 20 amino acids in alphabetical one-letter order); gaps and padding are all zeros;
an ambiguity code is spread over its letters (ambiguity: uniform) or zero. kmer: counts of each k-mer
in lexicographic order of the alphabet (AAA, AAC, ...), k-mers with an ambiguity code spread over the
k-mers they stand for (or skipped), gaps breaking k-mers. reverse_complement: every train row gets a
copy encoding its reverse complement, appended with its label, group and split (role column
"augment" = 1 on copies, as transform.augment writes; an id gets the suffix "#rc"); put
transform.split first. buckets (onehot): each row is padded to the smallest listed length that holds
it, inside a tensor of the largest; the int column seq_len_bucket (role length_bucket) records it, and
train, evaluate and predictions then work a bucket at a time on inputs cut to that length.`,
		Version: "1",
		Fields:  Fields,
		Inputs:  tab.InputPort,
		Output:  contract.Port{Name: "data", Type: contract.Table, Doc: "the table with the tensor column"},
		New:     New,
		Example: `- id: onehot
  kind: transform.encode_sequence
  inputs: [split]
  with: {encoding: onehot, length: 60, reverse_complement: true}`,
	})
}

// Options are the encoding settings.
type Options struct {
	Column      string
	Encoding    string
	Length      int
	Buckets     []int
	Align       string
	Ambiguity   string
	K           int
	Normalize   bool
	ReverseComp bool
	Name        string
	Keep        bool
}

// Summary is written to summary.json.
type Summary struct {
	Column   string `json:"column"`
	Alphabet string `json:"alphabet"`
	Encoding string `json:"encoding"`
	Shape    []int  `json:"shape"`
	// Buckets (onehot with buckets): rows per bucket length, in increasing length.
	Buckets     []BucketCount `json:"buckets,omitempty"`
	Trimmed     int           `json:"rows_trimmed"` // onehot: sequences longer than length
	Padded      int           `json:"rows_padded"`
	AddedRows   int           `json:"reverse_complement_rows"`
	OutputRows  int           `json:"output_rows"`
	Ambiguities int           `json:"ambiguous_residues"`
}

// BucketCount is how many rows went to one bucket length.
type BucketCount struct {
	Length int `json:"length"`
	Rows   int `json:"rows"`
}

// New builds the stage from a validated config.
func New(cfg contract.Config) (contract.Stage, error) {
	o := Options{
		Column: cfg.String(FieldColumn), Encoding: cfg.String(FieldEncoding), Length: cfg.Int(FieldLength),
		Align: cfg.String(FieldAlign), Ambiguity: cfg.String(FieldAmbiguity), K: cfg.Int(FieldK),
		Normalize: cfg.Bool(FieldNormalize), ReverseComp: cfg.Bool(FieldReverseComp), Name: cfg.String(FieldName),
		Keep: cfg.Bool(FieldKeep), Buckets: cfg.Ints(FieldBuckets),
	}
	return contract.StageFunc(func(ctx context.Context, env *contract.Env) error {
		f, err := tab.Load(env)
		if err != nil {
			return err
		}
		out, sum, err := Encode(ctx, f, o)
		if err != nil {
			return fmt.Errorf("stage %q: %w", env.StageID, err)
		}
		env.SetMetric("tensor_shape", fmt.Sprint(sum.Shape))
		if sum.AddedRows > 0 {
			env.SetMetric("augmented_rows", sum.AddedRows)
		}
		if err := tab.Write(env, out, nil); err != nil {
			return err
		}
		return dataset.WriteJSON(env.Out(contract.SummaryFile), sum)
	}), nil
}

// sequenceColumn finds the named column, or the one marked as the sequence.
func sequenceColumn(f *dataset.Frame, name string) (*dataset.Column, error) {
	if name != "" {
		c := f.Col(name)
		if c == nil {
			return nil, fmt.Errorf("column: %q not found%s", name, contract.DidYouMean(name, f.Names()))
		}
		if c.Kind != dataset.String {
			return nil, fmt.Errorf("column: %q is a %s column, not sequences", name, c.Kind)
		}
		return c, nil
	}
	for _, c := range f.Columns {
		if c.Meta[sequences.MetaRole] == sequences.RoleSequence {
			return c, nil
		}
	}
	return nil, fmt.Errorf("no sequence column (ingest.sequences writes one; or name a text column with column:)")
}

// Encode returns f with the sequence column encoded as a tensor column (and the reverse
// complements of the train rows appended when o.ReverseComp).
func Encode(ctx context.Context, f *dataset.Frame, o Options) (*dataset.Frame, *Summary, error) {
	sc, err := sequenceColumn(f, o.Column)
	if err != nil {
		return nil, nil, err
	}
	if err := checkBuckets(o); err != nil {
		return nil, nil, err
	}
	name := sc.Meta[sequences.MetaAlphabet]
	if name == "" {
		counts := map[byte]int64{}
		for _, s := range sc.S {
			for i := range len(s) {
				counts[s[i]&^0x20]++
			}
		}
		name = seq.Guess(counts)
	}
	alpha, err := seq.Get(name)
	if err != nil {
		return nil, nil, fmt.Errorf("column %q: %w", sc.Name, err)
	}
	if o.Name == "" {
		o.Name = dataset.ColTensor
	}
	if c := f.Col(o.Name); c != nil && c != sc {
		return nil, nil, fmt.Errorf("name: a column %q exists already", o.Name)
	}
	n := f.NumRows()
	rows := make([]int, n)
	for i := range rows {
		rows[i] = i
	}
	var train []int
	if o.ReverseComp {
		if alpha.Complement == nil {
			return nil, nil, fmt.Errorf("reverse_complement: the %s alphabet has no complement (DNA and RNA only)", alpha.Name)
		}
		if f.Split() == nil {
			return nil, nil, fmt.Errorf("reverse_complement: no %q column; put transform.split first so that a train row's copy never lands in val or test", dataset.ColSplit)
		}
		if f.Col(augment.ColAugment) != nil {
			return nil, nil, fmt.Errorf("reverse_complement: the table already has an %q column (augment once)", augment.ColAugment)
		}
		train = f.SplitRows(dataset.Train)
		rows = append(rows, train...)
	}
	seqs := make([][]byte, len(rows))
	for i, r := range rows {
		if !sc.IsValid(r) {
			return nil, nil, fmt.Errorf("column %q: row %d has no sequence", sc.Name, r)
		}
		seqs[i] = []byte(sc.S[r])
		if i >= n {
			if seqs[i], err = alpha.ReverseComplement(seqs[i]); err != nil {
				return nil, nil, fmt.Errorf("column %q: row %d: %w", sc.Name, r, err)
			}
		}
	}
	sum := &Summary{Column: sc.Name, Alphabet: alpha.Name, Encoding: o.Encoding, AddedRows: len(rows) - n, OutputRows: len(rows)}
	var col *dataset.Column
	switch o.Encoding {
	case KMer:
		col, err = kmers(ctx, seqs, alpha, o, sum)
	default:
		col, err = oneHot(ctx, seqs, alpha, o, sum)
	}
	if err != nil {
		return nil, nil, err
	}
	col.Name = o.Name
	var bucketCol *dataset.Column
	if len(o.Buckets) > 0 {
		if f.Col(ColLengthBucket) != nil {
			return nil, nil, fmt.Errorf("%s: the table already has a %q column (encode once)", FieldBuckets, ColLengthBucket)
		}
		bucketCol = &dataset.Column{Name: ColLengthBucket, Kind: dataset.Int, I: make([]int64, len(seqs)),
			Meta: map[string]string{dataset.MetaRole: dataset.RoleLengthBucket}}
		counts := make([]int, len(o.Buckets))
		for i, s := range seqs {
			b := bucketOf(o.Buckets, len(s))
			bucketCol.I[i] = int64(o.Buckets[b])
			counts[b]++
		}
		for b, l := range o.Buckets {
			sum.Buckets = append(sum.Buckets, BucketCount{Length: l, Rows: counts[b]})
		}
	}
	out := f
	if len(rows) > n {
		out = f.Rows(rows)
		out.Meta = maps(f.Meta)
		aug := &dataset.Column{Name: augment.ColAugment, Kind: dataset.Int, I: make([]int64, len(rows)), Meta: map[string]string{sequences.MetaRole: augment.ColAugment}}
		for i := n; i < len(rows); i++ {
			aug.I[i] = 1
		}
		if idc := out.Col(f.Meta[dataset.MetaID]); idc != nil && idc.Kind == dataset.String {
			for i := n; i < len(rows); i++ {
				idc.S[i] += "#rc"
			}
		}
		out.Set(aug)
	} else {
		out = &dataset.Frame{Columns: slices.Clone(f.Columns), Meta: f.Meta}
	}
	at := out.Index(sc.Name)
	if o.Keep {
		out.Columns = slices.Insert(out.Columns, at+1, col)
	} else {
		out.Columns[at] = col
	}
	if bucketCol != nil {
		out.Columns = slices.Insert(out.Columns, out.Index(col.Name)+1, bucketCol)
	}
	return out, sum, out.Validate()
}

// checkBuckets validates the buckets field against the others.
func checkBuckets(o Options) error {
	if len(o.Buckets) == 0 {
		return nil
	}
	switch {
	case o.Encoding != OneHot:
		return fmt.Errorf("%s: length buckets apply to encoding %q only (%s has one length per row already)", FieldBuckets, OneHot, o.Encoding)
	case o.Length != 0:
		return fmt.Errorf("%s: give either %s (one length) or %s, not both (the largest bucket is the length)", FieldBuckets, FieldLength, FieldBuckets)
	case o.Align != "" && o.Align != Left:
		return fmt.Errorf("%s: bucketed sequences are padded at the end (align: left); align is %q", FieldBuckets, o.Align)
	}
	for i, l := range o.Buckets {
		if l < 1 {
			return fmt.Errorf("%s[%d]: %d is not a positive length", FieldBuckets, i, l)
		}
		if i > 0 && l <= o.Buckets[i-1] {
			return fmt.Errorf("%s[%d]: %d: list the lengths in increasing order, each once", FieldBuckets, i, l)
		}
	}
	return nil
}

// bucketOf is the index of the smallest bucket that holds n positions (the largest when
// none does: the sequence is trimmed).
func bucketOf(buckets []int, n int) int {
	i, _ := slices.BinarySearch(buckets, n)
	return min(i, len(buckets)-1)
}

func maps(m map[string]string) map[string]string {
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// oneHot encodes each sequence as [length, letters].
func oneHot(ctx context.Context, seqs [][]byte, alpha *seq.Alphabet, o Options, sum *Summary) (*dataset.Column, error) {
	length := o.Length
	if len(o.Buckets) > 0 {
		length = o.Buckets[len(o.Buckets)-1]
	}
	if length == 0 {
		for _, s := range seqs {
			length = max(length, len(s))
		}
		if length == 0 {
			return nil, fmt.Errorf("every sequence is empty")
		}
	}
	a := len(alpha.Letters)
	size := length * a
	col := &dataset.Column{Kind: dataset.Tensor, Shape: []int{length, a}, T: make([]float32, len(seqs)*size),
		Meta: map[string]string{"biopipe.alphabet": alpha.Name, "biopipe.channels": alpha.Letters}}
	sum.Shape = col.Shape
	for r, s := range seqs {
		if r%4096 == 0 {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
		}
		// src is where position 0 of the output reads in s (negative: padding first).
		var src int
		switch d := len(s) - length; o.Align {
		case Right:
			src = d
		case Center:
			src = int(math.Floor(float64(d) / 2))
		}
		switch {
		case len(s) > length:
			sum.Trimmed++
		case len(o.Buckets) > 0:
			if len(s) < o.Buckets[bucketOf(o.Buckets, len(s))] {
				sum.Padded++ // padded to its bucket
			}
		case len(s) < length:
			sum.Padded++
		}
		dst := col.T[r*size : (r+1)*size]
		for p := range length {
			i := src + p
			if i < 0 || i >= len(s) {
				continue
			}
			c := s[i]
			if j := alpha.Index(c); j >= 0 {
				dst[p*a+j] = 1
				continue
			}
			e := alpha.Expand(c)
			if e == "" {
				continue // gap
			}
			sum.Ambiguities++
			if o.Ambiguity == Zero {
				continue
			}
			w := 1 / float32(len(e))
			for k := range len(e) {
				dst[p*a+alpha.Index(e[k])] += w
			}
		}
	}
	return col, nil
}

// kmers encodes each sequence as its k-mer counts (or frequencies).
func kmers(ctx context.Context, seqs [][]byte, alpha *seq.Alphabet, o Options, sum *Summary) (*dataset.Column, error) {
	a, k := len(alpha.Letters), o.K
	size := 1
	for range k {
		size *= a
		if size > MaxKMerFeatures {
			return nil, fmt.Errorf("k: %d^%d k-mers of the %s alphabet exceed %d features; lower k", a, k, alpha.Name, MaxKMerFeatures)
		}
	}
	col := &dataset.Column{Kind: dataset.Tensor, Shape: []int{size}, T: make([]float32, len(seqs)*size),
		Meta: map[string]string{"biopipe.alphabet": alpha.Name, "biopipe.kmer": strconv.Itoa(k)}}
	sum.Shape = col.Shape
	var codes []int
	var weights []float64
	for r, s := range seqs {
		if r%4096 == 0 {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
		}
		for _, c := range s {
			if alpha.IsAmbiguous(c) {
				sum.Ambiguities++
			}
		}
		dst := col.T[r*size : (r+1)*size]
		total := 0.0
		for i := 0; i+k <= len(s); i++ {
			// Every k-mer this window stands for, with its weight.
			codes, weights = append(codes[:0], 0), append(weights[:0], 1)
			for _, c := range s[i : i+k] {
				e := alpha.Expand(c)
				if o.Ambiguity == Zero && alpha.IsAmbiguous(c) {
					e = ""
				}
				if e == "" {
					codes = codes[:0]
					break
				}
				next, nw := make([]int, 0, len(codes)*len(e)), make([]float64, 0, len(codes)*len(e))
				for m, code := range codes {
					for q := range len(e) {
						next = append(next, code*a+alpha.Index(e[q]))
						nw = append(nw, weights[m]/float64(len(e)))
					}
				}
				codes, weights = next, nw
			}
			for m, code := range codes {
				dst[code] += float32(weights[m])
				total += weights[m]
			}
		}
		if o.Normalize && total > 0 {
			for j := range dst {
				dst[j] = float32(float64(dst[j]) / total)
			}
		}
	}
	return col, nil
}
