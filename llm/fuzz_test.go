package llm

import (
	"strings"
	"testing"
)

func FuzzGround(f *testing.F) {
	for _, s := range []string{"AUROC 0.97 (95% CI 0.91–0.99)", "−0.5 and 1,234.5%", "F1 0.9-0.95", "", "1e-3 x86_64 0.123."} {
		f.Add(s)
	}
	facts := &Facts{}
	facts.Add(0.97, 0.91, 0.99, 1234.5)
	f.Fuzz(func(t *testing.T, text string) {
		nums, bad := Ground(text, facts)
		n := 0
		for _, x := range nums {
			if x.Start < 0 || x.End > len(text) || x.Start > x.End {
				t.Fatalf("number %q at [%d,%d) outside the text of %d bytes", x.Text, x.Start, x.End, len(text))
			}
			if !x.Grounded {
				n++
			}
		}
		if n != bad {
			t.Fatalf("counted %d ungrounded, listed %d", bad, n)
		}
	})
}

func FuzzParseSections(f *testing.F) {
	f.Add("## Abstract\nA\n## Discussion\nD")
	f.Add("**Introduction**\nI")
	f.Fuzz(func(t *testing.T, text string) {
		for name, body := range ParseSections(text) {
			if !strings.Contains(text, body) {
				t.Fatalf("section %s body %q is not in the text", name, body)
			}
		}
	})
}

func FuzzGuard(f *testing.F) {
	f.Add("PAT-00417", "case PAT-00417 here")
	f.Add("Jane Q Doe", "by jane q doe.")
	f.Fuzz(func(t *testing.T, value, text string) {
		g := NewGuard()
		g.AddValues(value)
		_ = g.Check(text)
		// a registered value is always found in a text that is just that value
		if g.Len() > 0 && len(split(value)) > 0 && len(split(value)) <= MaxWords && g.Check(strings.TrimSpace(value)) == nil {
			t.Fatalf("value %q not found in itself", value)
		}
	})
}
