package llm

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"
	"unicode"
)

// Guard refuses text that contains an identifier: a value of an id or group column, or a
// DICOM patient attribute seen at ingest. It holds only SHA-256 hashes of the forbidden
// strings, so it can be built from ingest summaries ("phi_hashes") without the values.
//
// A candidate is every run of 1 to MaxWords consecutive words of the text (words are
// split at white space and at punctuation other than . - and _, so a DICOM name DOE^JOHN,
// a path scans/PAT-1/a.dcm or a date 01/02/1950 yields its parts and, as a run, itself),
// taken exactly, lower-cased, and with its words joined by single spaces; each is hashed
// and looked up.
// Forbidden values are registered the same three ways. Values too short to identify
// anyone (under 3 characters, or numbers under 5 digits such as row numbers) are skipped
// so that they cannot block every count in a prompt.
type Guard struct {
	hashes   map[string]bool
	maxWords int
	skipped  int
}

// MaxWords bounds the length of multi-word identifiers (names) the guard recognises.
const MaxWords = 6

// NewGuard returns an empty guard.
func NewGuard() *Guard { return &Guard{hashes: map[string]bool{}, maxWords: 1} }

// Hash returns the hex SHA-256 of s, the form of a "phi_hashes" entry.
func Hash(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:])
}

// AddValues registers forbidden raw values (id and group column values).
func (g *Guard) AddValues(values ...string) {
	for _, v := range values {
		v = strings.TrimSpace(v)
		if weak(v) {
			g.skipped++
			continue
		}
		words := split(v)
		g.maxWords = min(MaxWords, max(g.maxWords, len(words)))
		for _, form := range forms(v, words) {
			g.hashes[Hash(form)] = true
		}
	}
}

// AddHashes registers hex SHA-256 hashes of forbidden strings (as written by ingest
// stages under "phi_hashes"). Malformed entries are an error naming them.
func (g *Guard) AddHashes(hashes ...string) error {
	for i, h := range hashes {
		h = strings.ToLower(strings.TrimSpace(h))
		if len(h) != 64 {
			return fmt.Errorf("phi hash %d: want 64 hex digits, got %d characters", i, len(h))
		}
		if _, err := hex.DecodeString(h); err != nil {
			return fmt.Errorf("phi hash %d: %w", i, err)
		}
		g.hashes[h] = true
	}
	g.maxWords = MaxWords
	return nil
}

// Len returns the number of registered hashes; Skipped the number of values too weak to
// register.
func (g *Guard) Len() int { return len(g.hashes) }

// Skipped returns the number of values too short to register.
func (g *Guard) Skipped() int { return g.skipped }

// ErrIdentifier is returned by Check when text contains an identifier.
type ErrIdentifier struct {
	Word int // 1-based position of the first word of the match
	Line int // 1-based line of the text
}

func (e *ErrIdentifier) Error() string {
	return fmt.Sprintf("prompt refused: line %d, word %d matches an identifier seen at ingest (id/group column or DICOM patient tag); nothing was sent", e.Line, e.Word)
}

// Check returns *ErrIdentifier when text contains a registered identifier (words may span
// lines). The error
// names the position only, never the value.
func (g *Guard) Check(text string) error {
	if len(g.hashes) == 0 {
		return nil
	}
	words := split(text)
	for i := range words {
		for n := 1; n <= g.maxWords && i+n <= len(words); n++ {
			w := words[i : i+n]
			for _, form := range forms(joinExact(text, w), w) {
				if g.hashes[Hash(form)] {
					line := 1 + strings.Count(text[:w[0].start], "\n")
					first := i
					for first > 0 && !strings.Contains(text[words[first-1].end:w[0].start], "\n") {
						first--
					}
					return &ErrIdentifier{Word: i - first + 1, Line: line}
				}
			}
		}
	}
	return nil
}

type word struct {
	text       string
	start, end int // byte offsets in the line
}

func keep(r rune) bool {
	return unicode.IsLetter(r) || unicode.IsDigit(r) || strings.ContainsRune(".-_", r)
}

// split returns the words of s with their offsets; leading and trailing dots, dashes
// and similar are trimmed from each word (sentence punctuation).
func split(s string) []word {
	var out []word
	start := -1
	flush := func(end int) {
		if start < 0 {
			return
		}
		w := s[start:end]
		l := len(w)
		w = strings.TrimLeft(w, ".-_")
		st := start + (l - len(w))
		w = strings.TrimRight(w, ".-_")
		if w != "" {
			out = append(out, word{text: w, start: st, end: st + len(w)})
		}
		start = -1
	}
	for i, r := range s {
		if keep(r) {
			if start < 0 {
				start = i
			}
		} else {
			flush(i)
		}
	}
	flush(len(s))
	return out
}

func joinExact(line string, ws []word) string { return line[ws[0].start:ws[len(ws)-1].end] }

// forms are the three spellings hashed for a value or candidate.
func forms(exact string, ws []word) []string {
	parts := make([]string, len(ws))
	for i, w := range ws {
		parts[i] = strings.ToLower(w.text)
	}
	return []string{exact, strings.ToLower(exact), strings.Join(parts, " ")}
}

func weak(v string) bool {
	if len([]rune(v)) < 3 {
		return true
	}
	digits := true
	for _, r := range v {
		if !unicode.IsDigit(r) {
			digits = false
		}
	}
	return digits && len(v) < 5
}

// Redact replaces every registered identifier in text with "[redacted]" and returns the
// new text and the number of replacements.
func (g *Guard) Redact(text string) (string, int) {
	if len(g.hashes) == 0 {
		return text, 0
	}
	words := split(text)
	var b strings.Builder
	pos, count := 0, 0
	for i := 0; i < len(words); i++ {
		match := 0
		for n := min(g.maxWords, len(words)-i); n >= 1 && match == 0; n-- {
			w := words[i : i+n]
			for _, form := range forms(joinExact(text, w), w) {
				if g.hashes[Hash(form)] {
					match = n
					break
				}
			}
		}
		if match == 0 {
			continue
		}
		b.WriteString(text[pos:words[i].start])
		b.WriteString("[redacted]")
		pos = words[i+match-1].end
		i += match - 1
		count++
	}
	if count == 0 {
		return text, 0
	}
	b.WriteString(text[pos:])
	return b.String(), count
}
