package llm

import (
	"math"
	"regexp"
	"strconv"
	"strings"
)

// Facts are the numbers a narrative may cite: the run's metrics, intervals, counts and
// configuration values.
type Facts struct{ values []float64 }

// Add registers numbers.
func (f *Facts) Add(v ...float64) {
	for _, x := range v {
		if !math.IsNaN(x) && !math.IsInf(x, 0) {
			f.values = append(f.values, x)
		}
	}
}

// Len returns the number of registered values.
func (f *Facts) Len() int { return len(f.values) }

// Number is a number found in a text, with its byte offsets.
type Number struct {
	Text       string
	Start, End int
	Grounded   bool
}

// numberRE finds decimal numbers, optionally signed and followed by a percent sign, that
// do not sit inside a word (F1, ResNet50, 1e-3 as a unit-less token are left alone).
var numberRE = regexp.MustCompile(`[-−]?\d+(?:[.,]\d+)*(?:\s?%)?`)

// Ground finds every number in text and reports whether each matches a fact within the
// rounding the text shows (0.97 matches 0.9712; 97.1% matches 0.9712 and 97.1). Plain
// integers from 0 to 10 are treated as grounded: in prose they are mostly ordinals and
// small counts ("two classes", "Figure 3"). The second result counts the ungrounded ones.
func Ground(text string, facts *Facts) ([]Number, int) {
	var out []Number
	bad := 0
	for _, loc := range numberRE.FindAllStringIndex(text, -1) {
		s, e := loc[0], loc[1]
		if s > 0 && isWordByte(text[s-1]) {
			// a range (0.91-0.99) or a hyphenated word: the dash is not a sign
			if text[s] == '-' {
				s++
			} else if strings.HasPrefix(text[s:], "−") {
				s += len("−")
			}
		}
		if s > 0 && isWordByte(text[s-1]) || e < len(text) && isWordByte(text[e]) && text[e-1] != '%' {
			continue // part of an identifier such as F1 or x86_64
		}
		raw := strings.TrimSpace(text[s:e])
		n := Number{Text: raw, Start: s, End: s + len(strings.TrimRight(text[s:e], " "))}
		n.Grounded = facts.match(raw)
		if !n.Grounded {
			bad++
		}
		out = append(out, n)
	}
	return out, bad
}

func isWordByte(b byte) bool {
	return b == '_' || b >= 'a' && b <= 'z' || b >= 'A' && b <= 'Z' || b >= '0' && b <= '9'
}

func (f *Facts) match(raw string) bool {
	pct := strings.HasSuffix(raw, "%")
	s := strings.TrimSpace(strings.TrimSuffix(raw, "%"))
	s = strings.ReplaceAll(s, "−", "-")
	// thousands separators: 1,234 -> 1234 (a comma followed by exactly three digits)
	if strings.Contains(s, ",") {
		s = strings.ReplaceAll(s, ",", "")
	}
	x, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return false
	}
	decimals := 0
	if i := strings.IndexByte(s, '.'); i >= 0 {
		decimals = len(s) - i - 1
	}
	if decimals == 0 && !pct && x >= 0 && x <= 10 {
		return true
	}
	tol := 0.5*math.Pow(10, -float64(decimals)) + 1e-9
	for _, v := range f.values {
		cands := []float64{v}
		if pct {
			cands = append(cands, v*100)
		}
		for _, c := range cands {
			if math.Abs(c-x) <= tol {
				return true
			}
		}
	}
	return false
}
