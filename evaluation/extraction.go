package evaluation

import (
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"

	"github.com/biopipe/biopipe/dataset"
)

// Column metadata of extracted columns (written by extract.llm).
const (
	MetaExtractType  = "biopipe.extract.type"  // enum, float, int, bool or string
	MetaExtractLabel = "biopipe.extract.label" // the labelled column to compare with
	MetaExtractTol   = "biopipe.extract.tolerance"
)

// TaskExtraction is the task of an extraction evaluation.
const TaskExtraction = "extraction"

// ExtractionResult is metrics.json of an extraction evaluation: per extracted field with a
// labelled column, how often the extracted value agrees with the label.
type ExtractionResult struct {
	Task         string                  `json:"task"` // "extraction"
	Rows         int                     `json:"rows"`
	Fields       map[string]*FieldResult `json:"fields"`
	MeanAccuracy float64                 `json:"mean_accuracy"` // over the evaluated fields
	Unlabelled   []string                `json:"unlabelled,omitempty"`
}

// FieldResult scores one extracted field. A row counts as correct when both values are
// null (the note does not say, and the label is empty) or both are equal (numbers: within
// the field's tolerance; text: ignoring case and surrounding space).
type FieldResult struct {
	Type     string  `json:"type"`
	Label    string  `json:"label"`
	N        int     `json:"n"`
	Stated   int     `json:"stated"`   // extracted values that are not null
	Labelled int     `json:"labelled"` // label values that are not null
	Accuracy float64 `json:"accuracy"`
	// F1: enum and string fields the macro F1 over the label's classes (null is a class of
	// its own); bool fields the F1 of true. Absent for numbers.
	F1 *float64 `json:"f1,omitempty"`
	// MAE over rows where both are stated (numbers only).
	MAE *float64 `json:"mae,omitempty"`
}

// EvaluateExtraction scores every column of f marked as extracted that names a labelled
// column. It is an error when no column qualifies.
func EvaluateExtraction(f *dataset.Frame) (*ExtractionResult, error) {
	res := &ExtractionResult{Task: TaskExtraction, Rows: f.NumRows(), Fields: map[string]*FieldResult{}}
	sum := 0.0
	for _, c := range f.Columns {
		typ := c.Meta[MetaExtractType]
		if typ == "" {
			continue
		}
		lname := c.Meta[MetaExtractLabel]
		if lname == "" {
			res.Unlabelled = append(res.Unlabelled, c.Name)
			continue
		}
		l := f.Col(lname)
		if l == nil {
			return nil, fmt.Errorf("extracted column %q: label column %q not in the table", c.Name, lname)
		}
		tol, _ := strconv.ParseFloat(c.Meta[MetaExtractTol], 64)
		fr, err := scoreField(c, l, typ, tol)
		if err != nil {
			return nil, fmt.Errorf("extracted column %q vs %q: %w", c.Name, lname, err)
		}
		res.Fields[c.Name] = fr
		sum += fr.Accuracy
	}
	if len(res.Fields) == 0 {
		return nil, fmt.Errorf("no extracted column has a labelled column to compare with (declare label: COLUMN on an extract.llm field)")
	}
	res.MeanAccuracy = sum / float64(len(res.Fields))
	return res, nil
}

// cell reads a value as text ("" = null), normalised for comparison.
func cell(c *dataset.Column, i int, typ string) (string, float64, bool) {
	if !c.IsValid(i) {
		return "", 0, false
	}
	switch typ {
	case "float", "int":
		if c.Numeric() {
			return "", c.Float64(i), true
		}
		s := strings.TrimSpace(c.Text(i))
		if s == "" {
			return "", 0, false
		}
		v, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return "", math.NaN(), true
		}
		return "", v, true
	case "bool":
		s := strings.ToLower(strings.TrimSpace(c.Text(i)))
		switch s {
		case "":
			return "", 0, false
		case "true", "yes", "1", "y", "t":
			return "true", 0, true
		case "false", "no", "0", "n", "f":
			return "false", 0, true
		}
		return s, 0, true
	}
	s := strings.ToLower(strings.TrimSpace(c.Text(i)))
	return s, 0, s != ""
}

func scoreField(c, l *dataset.Column, typ string, tol float64) (*FieldResult, error) {
	fr := &FieldResult{Type: typ, Label: l.Name, N: c.Len()}
	correct := 0
	var absSum float64
	var absN int
	type pair struct{ pred, truth string }
	var pairs []pair
	for i := range c.Len() {
		ps, pv, pok := cell(c, i, typ)
		ts, tv, tok := cell(l, i, typ)
		if pok {
			fr.Stated++
		}
		if tok {
			fr.Labelled++
		}
		switch typ {
		case "float", "int":
			if pok && tok {
				d := math.Abs(pv - tv)
				absSum += d
				absN++
				if d <= tol+1e-9*math.Max(1, math.Abs(tv)) {
					correct++
				}
			} else if !pok && !tok {
				correct++
			}
		default:
			if ps == ts {
				correct++
			}
			pairs = append(pairs, pair{ps, ts})
		}
	}
	if fr.N > 0 {
		fr.Accuracy = float64(correct) / float64(fr.N)
	}
	if absN > 0 {
		m := absSum / float64(absN)
		fr.MAE = &m
	}
	switch typ {
	case "bool":
		var tp, fp, fn float64
		for _, p := range pairs {
			switch {
			case p.pred == "true" && p.truth == "true":
				tp++
			case p.pred == "true":
				fp++
			case p.truth == "true":
				fn++
			}
		}
		f1 := 0.0
		if tp > 0 {
			f1 = 2 * tp / (2*tp + fp + fn)
		}
		fr.F1 = &f1
	case "enum", "string":
		classes := map[string]bool{}
		for _, p := range pairs {
			classes[p.truth] = true
		}
		names := make([]string, 0, len(classes))
		for k := range classes {
			names = append(names, k)
		}
		sort.Strings(names)
		total := 0.0
		for _, k := range names {
			var tp, fp, fn float64
			for _, p := range pairs {
				switch {
				case p.pred == k && p.truth == k:
					tp++
				case p.pred == k:
					fp++
				case p.truth == k:
					fn++
				}
			}
			if tp > 0 {
				total += 2 * tp / (2*tp + fp + fn)
			}
		}
		f1 := 0.0
		if len(names) > 0 {
			f1 = total / float64(len(names))
		}
		fr.F1 = &f1
	}
	return fr, nil
}
