package seq

import (
	"fmt"
	"slices"
	"strings"
)

// Alphabet names.
const (
	DNA     = "dna"
	RNA     = "rna"
	Protein = "protein"
)

// Alphabets lists the alphabet names.
var Alphabets = []string{DNA, RNA, Protein}

// Alphabet is a residue alphabet: the letters a one-hot encoding has a channel for, the IUPAC
// ambiguity codes (each standing for a set of those letters) and, for nucleotides, the
// complement of each letter and code. Letters are upper case; lookups fold case.
type Alphabet struct {
	Name       string
	Letters    string          // one channel per letter, in this order
	Ambiguous  map[byte]string // code -> the letters it stands for
	Complement map[byte]byte   // nucleotides only: letter or code -> its complement
	index      [256]int8       // letter -> channel, -1 if not a letter
	expand     [256]string     // letter or code -> letters it stands for
}

// nucleotideCodes are the IUPAC nucleotide ambiguity codes in DNA letters.
var nucleotideCodes = map[byte]string{
	'R': "AG", 'Y': "CT", 'S': "CG", 'W': "AT", 'K': "GT", 'M': "AC",
	'B': "CGT", 'D': "AGT", 'H': "ACT", 'V': "ACG", 'N': "ACGT",
}

var dnaComplement = map[byte]byte{
	'A': 'T', 'C': 'G', 'G': 'C', 'T': 'A',
	'R': 'Y', 'Y': 'R', 'S': 'S', 'W': 'W', 'K': 'M', 'M': 'K',
	'B': 'V', 'V': 'B', 'D': 'H', 'H': 'D', 'N': 'N',
}

var alphabets = map[string]*Alphabet{}

func init() {
	rnaCodes := map[byte]string{}
	for k, v := range nucleotideCodes {
		rnaCodes[k] = strings.ReplaceAll(v, "T", "U")
	}
	rnaComp := map[byte]byte{}
	for k, v := range dnaComplement {
		if k == 'T' {
			k = 'U'
		}
		if v == 'T' {
			v = 'U'
		}
		rnaComp[k] = v
	}
	const aa = "ACDEFGHIKLMNPQRSTVWY"
	for _, a := range []*Alphabet{
		{Name: DNA, Letters: "ACGT", Ambiguous: nucleotideCodes, Complement: dnaComplement},
		{Name: RNA, Letters: "ACGU", Ambiguous: rnaCodes, Complement: rnaComp},
		// B = D/N, Z = E/Q, J = I/L, X = any; selenocysteine U and pyrrolysine O are read as
		// the residues they derive from (C and K), as BLOSUM-style encodings do.
		{Name: Protein, Letters: aa, Ambiguous: map[byte]string{'B': "DN", 'Z': "EQ", 'J': "IL", 'X': aa, 'U': "C", 'O': "K"}},
	} {
		for i := range a.index {
			a.index[i] = -1
		}
		for i := range len(a.Letters) {
			a.index[a.Letters[i]] = int8(i)
			a.index[a.Letters[i]+'a'-'A'] = int8(i)
			a.expand[a.Letters[i]] = a.Letters[i : i+1]
			a.expand[a.Letters[i]+'a'-'A'] = a.Letters[i : i+1]
		}
		for k, v := range a.Ambiguous {
			a.expand[k], a.expand[k+'a'-'A'] = v, v
		}
		alphabets[a.Name] = a
	}
}

// Get returns the named alphabet (dna, rna, protein).
func Get(name string) (*Alphabet, error) {
	a, ok := alphabets[strings.ToLower(name)]
	if !ok {
		return nil, fmt.Errorf("unknown alphabet %q (known: %s)", name, strings.Join(Alphabets, ", "))
	}
	return a, nil
}

// Index returns the channel of a letter (either case), or -1 when c is not one of Letters.
func (a *Alphabet) Index(c byte) int { return int(a.index[c]) }

// Expand returns the letters c stands for: itself for a letter, the set for an ambiguity
// code, "" when c is neither (a gap, a stop, or a character outside the alphabet).
func (a *Alphabet) Expand(c byte) string { return a.expand[c] }

// IsAmbiguous reports whether c is an ambiguity code of the alphabet.
func (a *Alphabet) IsAmbiguous(c byte) bool { return a.expand[c] != "" && a.index[c] < 0 }

// IsGap reports whether c is a gap or padding character ('-' or '.').
func IsGap(c byte) bool { return c == '-' || c == '.' }

// ReverseComplement writes the reverse complement of s (nucleotide alphabets only); case is
// kept, gaps stay gaps.
func (a *Alphabet) ReverseComplement(s []byte) ([]byte, error) {
	if a.Complement == nil {
		return nil, fmt.Errorf("the %s alphabet has no complement", a.Name)
	}
	out := make([]byte, len(s))
	for i, c := range s {
		up := c &^ 0x20
		var comp byte
		switch {
		case IsGap(c):
			comp = c
		default:
			v, ok := a.Complement[up]
			if !ok {
				return nil, fmt.Errorf("%q has no complement in the %s alphabet", rune(c), a.Name)
			}
			comp = v
			if c >= 'a' {
				comp |= 0x20
			}
		}
		out[len(s)-1-i] = comp
	}
	return out, nil
}

// Guess names the alphabet of residue counts: nucleotides when at least 90% of the letters
// are A, C, G, T, U or N (RNA when U outnumbers T), else protein.
func Guess(counts map[byte]int64) string {
	var total, nuc, t, u int64
	for c, n := range counts {
		c &^= 0x20
		if c < 'A' || c > 'Z' {
			continue
		}
		total += n
		if strings.IndexByte("ACGTUN", c) >= 0 {
			nuc += n
		}
		switch c {
		case 'T':
			t += n
		case 'U':
			u += n
		}
	}
	switch {
	case total == 0:
		return ""
	case nuc*10 < total*9:
		return Protein
	case u > t:
		return RNA
	}
	return DNA
}

// Letters returns the sorted distinct upper-case residue characters of counts, as a string.
func Letters(counts map[byte]int64) string {
	var out []byte
	for c, n := range counts {
		if n > 0 {
			out = append(out, c)
		}
	}
	slices.Sort(out)
	return string(out)
}
