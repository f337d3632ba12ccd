package seq

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/biopipe/biopipe/io/inspect"
)

// Stats summarises a sequence file: what `biopipe inspect` shows.
type Stats struct {
	File     string `json:"file"`
	Format   string `json:"format"`
	Records  int    `json:"records"`
	Residues int64  `json:"residues"`
	// Length distribution of the records.
	MinLength    int     `json:"min_length"`
	MedianLength float64 `json:"median_length"`
	MeanLength   float64 `json:"mean_length"`
	MaxLength    int     `json:"max_length"`
	// Alphabet is the guessed alphabet (dna, rna or protein); Letters the distinct residue
	// characters (upper-cased), Counts how often each occurs.
	Alphabet string           `json:"alphabet"`
	Letters  string           `json:"letters"`
	Counts   map[string]int64 `json:"counts"`
	// GC is the fraction of G and C among the unambiguous nucleotides (nucleotide files only).
	GC *float64 `json:"gc,omitempty"`
	// MeanQuality is the mean Phred score of every base (FASTQ only), with the offset that
	// was used: 33 (Sanger, Illumina 1.8+) unless no quality character lies below '@' and
	// some lie above 'J', then 64 (Illumina 1.3-1.7).
	MeanQuality   *float64 `json:"mean_quality,omitempty"`
	QualityOffset int      `json:"quality_offset,omitempty"`
	FirstIDs      []string `json:"first_ids"`
}

// QualityOffset returns the Phred offset of quality characters ranging from lo to hi.
func QualityOffset(lo, hi byte) int {
	if lo >= '@' && hi > 'J' {
		return 64
	}
	return 33
}

// Summarize streams a file and returns its statistics.
func Summarize(ctx context.Context, path string) (*Stats, error) {
	r, err := Open(path)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	s := &Stats{File: path, FirstIDs: []string{}}
	var lengths []int
	var counts [256]int64
	var qsum int64
	qlo, qhi := byte('~'), byte('!')
	for {
		if len(lengths)%4096 == 0 {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
		}
		rec, err := r.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, err
		}
		lengths = append(lengths, len(rec.Seq))
		for _, c := range rec.Seq {
			counts[c]++
		}
		for _, q := range rec.Qual {
			qsum += int64(q)
			qlo, qhi = min(qlo, q), max(qhi, q)
		}
		if len(s.FirstIDs) < 5 {
			s.FirstIDs = append(s.FirstIDs, rec.ID)
		}
	}
	s.Format = r.Format()
	s.Records = len(lengths)
	if s.Records == 0 {
		return nil, fmt.Errorf("%s: no sequence records", path)
	}
	folded := map[byte]int64{}
	for c, n := range counts {
		if n == 0 {
			continue
		}
		b := byte(c)
		if b >= 'a' && b <= 'z' {
			b -= 'a' - 'A'
		}
		folded[b] += n
		s.Residues += n
	}
	s.Counts = map[string]int64{}
	for c, n := range folded {
		s.Counts[string(c)] = n
	}
	s.Letters = Letters(folded)
	s.Alphabet = Guess(folded)
	if s.Alphabet == DNA || s.Alphabet == RNA {
		acgt := folded['A'] + folded['C'] + folded['G'] + folded['T'] + folded['U']
		if acgt > 0 {
			gc := float64(folded['G']+folded['C']) / float64(acgt)
			s.GC = &gc
		}
	}
	slices.Sort(lengths)
	s.MinLength, s.MaxLength = lengths[0], lengths[len(lengths)-1]
	if n := len(lengths); n%2 == 1 {
		s.MedianLength = float64(lengths[n/2])
	} else {
		s.MedianLength = float64(lengths[n/2-1]+lengths[n/2]) / 2
	}
	s.MeanLength = float64(s.Residues) / float64(s.Records)
	if s.Format == FASTQ && s.Residues > 0 {
		s.QualityOffset = QualityOffset(qlo, qhi)
		mq := float64(qsum)/float64(s.Residues) - float64(s.QualityOffset)
		s.MeanQuality = &mq
	}
	return s, nil
}

// WriteText prints the statistics for a terminal.
func (s *Stats) WriteText(w io.Writer) error {
	fmt.Fprintf(w, "%s: %s, %d records, %d residues\n", s.File, strings.ToUpper(s.Format), s.Records, s.Residues)
	fmt.Fprintf(w, "  length:    min %d, median %g, mean %.1f, max %d\n", s.MinLength, s.MedianLength, s.MeanLength, s.MaxLength)
	fmt.Fprintf(w, "  alphabet:  %s (letters %s)\n", s.Alphabet, s.Letters)
	if s.GC != nil {
		fmt.Fprintf(w, "  GC:        %.1f%%\n", 100**s.GC)
	}
	if s.MeanQuality != nil {
		fmt.Fprintf(w, "  quality:   mean Phred %.2f (offset %d)\n", *s.MeanQuality, s.QualityOffset)
	}
	fmt.Fprintf(w, "  first ids: %s\n", strings.Join(s.FirstIDs, ", "))
	return nil
}

// Extensions are the file name endings read as sequence files (each also with .gz).
var Extensions = []string{".fa", ".fasta", ".fna", ".ffn", ".faa", ".fas", ".fq", ".fastq"}

func init() {
	var exts []string
	for _, e := range Extensions {
		exts = append(exts, e, e+".gz")
	}
	inspect.Register(&inspect.Inspector{
		Name:  "sequence",
		Match: func(path string, head []byte) bool { return head != nil && inspect.Ext(path, exts...) },
		Inspect: func(ctx context.Context, path string) (any, error) {
			return Summarize(ctx, path)
		},
		Text: func(w io.Writer, v any) error {
			s, ok := v.(*Stats)
			if !ok {
				return inspect.WriteJSON(w, v)
			}
			return s.WriteText(w)
		},
	})
}
