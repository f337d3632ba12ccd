// Package files lists the data files under a folder and labels them from their class folder
// or from a labels table joined on their relative path: what ingest.images and
// ingest.volumes share.
package files

import (
	"context"
	"fmt"
	"io/fs"
	"path"
	"path/filepath"
	"sort"
	"strings"

	"github.com/biopipe/biopipe/contract"
	"github.com/biopipe/biopipe/dataset"
	"github.com/biopipe/biopipe/io/arrowio"
)

// Where labels come from.
const (
	LabelAuto   = "auto"
	LabelCSV    = "csv"
	LabelFolder = "folder"
	LabelNone   = "none"
)

// List returns the files under root whose name matches (hidden files and folders skipped)
// as slash-separated relative paths, sorted.
func List(root string, match func(name string) bool) ([]string, error) {
	var out []string
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if p != root && strings.HasPrefix(d.Name(), ".") {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		if d.IsDir() || !match(d.Name()) {
			return nil
		}
		rel, err := filepath.Rel(root, p)
		if err != nil {
			return err
		}
		out = append(out, filepath.ToSlash(rel))
		return nil
	})
	if err != nil {
		return nil, err
	}
	sort.Strings(out)
	return out, nil
}

// SortByName orders relative paths by file name, then path.
func SortByName(files []string) {
	sort.SliceStable(files, func(i, j int) bool {
		a, b := path.Base(files[i]), path.Base(files[j])
		if a != b {
			return a < b
		}
		return files[i] < files[j]
	})
}

// Labels says how files get their label.
type Labels struct {
	From   string // csv, folder or none
	Table  string // the labels table (csv)
	Key    string // its column of relative paths
	Column string // its label column
}

// Assign returns a one-column frame with each file's label (a text column for folder labels,
// the table column's own type for csv labels), whether each file has one, and how many rows
// of the labels table name no file.
func Assign(ctx context.Context, files []string, l Labels) (*dataset.Frame, []bool, int, error) {
	has := make([]bool, len(files))
	switch l.From {
	case LabelNone:
		return nil, has, 0, nil
	case LabelFolder:
		c := &dataset.Column{Kind: dataset.String, S: make([]string, len(files))}
		for i, f := range files {
			if j := strings.IndexByte(f, '/'); j > 0 {
				c.S[i], has[i] = f[:j], true
			}
		}
		return &dataset.Frame{Columns: []*dataset.Column{c}}, has, 0, nil
	}
	lt, _, err := arrowio.Read(ctx, l.Table, arrowio.Options{CSV: arrowio.CSVOptions{Types: map[string]dataset.Kind{l.Key: dataset.String}}})
	if err != nil {
		return nil, nil, 0, err
	}
	for _, want := range [][2]string{{"key_column", l.Key}, {"label_column", l.Column}} {
		if lt.Col(want[1]) == nil {
			return nil, nil, 0, fmt.Errorf("%s: %s: column %q not found%s (columns: %v)", l.Table, want[0], want[1], contract.DidYouMean(want[1], lt.Names()), lt.Names())
		}
	}
	kc, lc := lt.Col(l.Key), lt.Col(l.Column)
	if lc.Kind == dataset.Tensor {
		return nil, nil, 0, fmt.Errorf("%s: label column %q is a tensor", l.Table, l.Column)
	}
	byKey := map[string]int{}
	for i := range kc.Len() {
		k := path.Clean(filepath.ToSlash(kc.Text(i)))
		if _, dup := byKey[k]; dup {
			return nil, nil, 0, fmt.Errorf("%s: %q appears on more than one row of column %q", l.Table, k, l.Key)
		}
		byKey[k] = i
	}
	idx := make([]int, len(files))
	matched := 0
	for i, f := range files {
		if j, ok := byKey[f]; ok {
			matched++
			idx[i] = j
			has[i] = lc.IsValid(j) && lc.Text(j) != ""
		}
	}
	return (&dataset.Frame{Columns: []*dataset.Column{lc}}).Rows(idx), has, len(byKey) - matched, nil
}

// MissingReason says why a file has no label, for errors.
func (l Labels) MissingReason() string {
	if l.From == LabelFolder {
		return "it is not inside a class_name/ folder under path"
	}
	return fmt.Sprintf("no row of %s has it in column %q", filepath.Base(l.Table), l.Key)
}
