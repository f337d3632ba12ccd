package pipelines

import (
	"fmt"
	"sort"
	"strings"
)

// Pos is a position in a pipeline file (1-based line and column); Origin names a
// non-file source such as a --set flag or an environment variable.
type Pos struct {
	File   string
	Line   int
	Col    int
	Origin string
}

func (p Pos) String() string {
	if p.Origin != "" {
		return p.Origin
	}
	if p.Line == 0 {
		return p.File
	}
	return fmt.Sprintf("%s:%d:%d", p.File, p.Line, p.Col)
}

// SpecError is one problem in a pipeline file, with its position and the stage it concerns.
type SpecError struct {
	Pos     Pos
	StageID string // "" for pipeline-level problems
	Field   string // dotted field path inside the stage's with: block, or the top-level key
	Msg     string
}

func (e *SpecError) Error() string {
	var b strings.Builder
	b.WriteString(e.Pos.String())
	b.WriteString(": ")
	if e.StageID != "" {
		fmt.Fprintf(&b, "stage %q: ", e.StageID)
	}
	if e.Field != "" {
		fmt.Fprintf(&b, "field %q: ", e.Field)
	}
	b.WriteString(e.Msg)
	return b.String()
}

// SpecErrors is every problem found in a pipeline file; the CLI exits with code 2 on it.
type SpecErrors []*SpecError

func (es SpecErrors) Error() string {
	es.sort()
	parts := make([]string, len(es))
	for i, e := range es {
		parts[i] = e.Error()
	}
	return strings.Join(parts, "\n")
}

func (es SpecErrors) sort() {
	sort.SliceStable(es, func(i, j int) bool {
		if es[i].Pos.Line != es[j].Pos.Line {
			return es[i].Pos.Line < es[j].Pos.Line
		}
		return es[i].Pos.Col < es[j].Pos.Col
	})
}

func (es SpecErrors) orNil() error {
	if len(es) == 0 {
		return nil
	}
	es.sort()
	return es
}
