package contract

import (
	"context"
	"fmt"
	"strings"
)

// DataHeader is what the headers of a stage's data say before anything runs: the column
// names of a table, the channel labels of recordings. A nil list is unknown (a stage that
// declares no header check, or one whose output depends on values, not headers).
type DataHeader struct {
	Columns  []string // table column names
	Channels []string // signal channel labels
}

// HeaderCheck checks a stage's config against the headers of its data, reading only
// headers (a table's first row or schema, an EDF header, a labels CSV's first row), never
// the data. upstream holds the headers its input stages will produce, in the order of the
// stage's inputs (zero values where unknown). It returns the header of what this stage
// will produce (zero when unknown) and every issue found, each at the config field it
// concerns (Issue.Path), with a "did you mean" where a name is close to a real one.
// Path fields arrive resolved (a missing file is reported before the check is called); a
// file that cannot be read is left to the run, which reports (or, with --keep-going,
// quarantines) it.
type HeaderCheck func(ctx context.Context, cfg Config, upstream []DataHeader) (DataHeader, []Issue)

// PassHeader is the HeaderCheck of a stage that keeps its input's columns and channels
// (filters, scalers): it forwards its first input's header.
func PassHeader(_ context.Context, _ Config, upstream []DataHeader) (DataHeader, []Issue) {
	if len(upstream) == 0 {
		return DataHeader{}, nil
	}
	return upstream[0], nil
}

// NameIssue is the issue for a name at path that is not among known: it says where the
// names come from and suggests the closest one (or lists a few known names).
func NameIssue(path []string, what, name, from string, known []string) Issue {
	msg := fmt.Sprintf("%s %q not found in %s", what, name, from)
	if dym := DidYouMean(name, known); dym != "" {
		msg += dym
	} else if len(known) > 0 && len(known) <= 20 {
		msg += " (has: " + strings.Join(known, ", ") + ")"
	}
	return Issue{Path: path, Msg: msg}
}
