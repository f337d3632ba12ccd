package evaluation

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"

	"github.com/biopipe/biopipe/contract"
	"github.com/biopipe/biopipe/metrics"
)

// Result is metrics.json, the evaluate stage's main output.
type Result struct {
	Task      string            `json:"task"`              // "classification", "regression", "reconstruction" or "segmentation"
	Classes   []string          `json:"classes,omitempty"` // class names, index = class id
	Model     string            `json:"model,omitempty"`   // model family
	Threshold *Threshold        `json:"threshold,omitempty"`
	Bootstrap BootstrapInfo     `json:"bootstrap"`
	Splits    []string          `json:"splits"` // evaluated splits, in order
	Primary   string            `json:"primary"`
	PerSplit  map[string]*Split `json:"-"` // written as top-level keys named by split
	Figures   []Figure          `json:"figures"`
}

// Threshold says how the binary decision threshold was chosen.
type Threshold struct {
	Rule     string  `json:"rule"` // fixed, youden, sensitivity
	Value    float64 `json:"value"`
	FittedOn string  `json:"fitted_on,omitempty"` // "val" when fitted
	Target   float64 `json:"target_sensitivity,omitempty"`
	Note     string  `json:"note,omitempty"`
}

// BootstrapInfo describes how the confidence intervals were computed.
type BootstrapInfo struct {
	Resamples  int     `json:"resamples"`
	Level      float64 `json:"level"`
	Seed       uint64  `json:"seed"`
	Stratified bool    `json:"stratified"`
	Grouped    bool    `json:"grouped"` // whole groups (patients) were resampled
}

// Figure is a PNG in the artifact folder.
type Figure = contract.SummaryFigure

// Split holds the results on one split. Its metrics are written as keys of the split
// object next to n, class_counts, confusion and threshold:
// {"n": 114, "auroc": {"value": .., "ci_low": .., "ci_high": ..}, "confusion": [[..]], ...}.
type Split struct {
	N           int                         `json:"n"`
	ClassCounts map[string]int              `json:"class_counts,omitempty"`
	Metrics     map[string]metrics.Interval `json:"-"`
	Confusion   metrics.Confusion           `json:"confusion,omitempty"`
	Threshold   *float64                    `json:"threshold,omitempty"`
	Calibration []metrics.Bin               `json:"calibration,omitempty"`
}

type splitJSON Split

// MarshalJSON flattens the metrics into the split object.
func (s *Split) MarshalJSON() ([]byte, error) {
	b, err := json.Marshal((*splitJSON)(s))
	if err != nil {
		return nil, err
	}
	m := map[string]json.RawMessage{}
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, err
	}
	for k, v := range s.Metrics {
		vb, err := json.Marshal(v)
		if err != nil {
			return nil, err
		}
		m[k] = vb
	}
	return json.Marshal(m)
}

// UnmarshalJSON reads the flattened form.
func (s *Split) UnmarshalJSON(b []byte) error {
	if err := json.Unmarshal(b, (*splitJSON)(s)); err != nil {
		return err
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(b, &m); err != nil {
		return err
	}
	s.Metrics = map[string]metrics.Interval{}
	for k, v := range m {
		switch k {
		case "n", "class_counts", "confusion", "threshold", "calibration":
			continue
		}
		var iv metrics.Interval
		if err := json.Unmarshal(v, &iv); err != nil {
			return fmt.Errorf("metric %q: %w", k, err)
		}
		s.Metrics[k] = iv
	}
	return nil
}

// MetricNames returns the split's metric names in display order: the headline metrics
// first, then the rest alphabetically.
func (s *Split) MetricNames() []string {
	order := []string{
		metrics.NameAUROC, metrics.NameAUPRC, metrics.NameAccuracy, metrics.NameBalancedAccuracy,
		metrics.NameSensitivity, metrics.NameSpecificity, metrics.NamePPV, metrics.NameNPV,
		metrics.NameF1, metrics.NameF1Macro, metrics.NameF1Micro, metrics.NameECE, metrics.NameBrier,
		metrics.NameRMSE, metrics.NameMSE, metrics.NameMAE, metrics.NameR2,
		NameDice, NameIoU, NameVoxelAccuracy,
	}
	seen := map[string]bool{}
	var out []string
	for _, n := range order {
		if _, ok := s.Metrics[n]; ok {
			out = append(out, n)
			seen[n] = true
		}
	}
	var rest []string
	for n := range s.Metrics {
		if !seen[n] {
			rest = append(rest, n)
		}
	}
	sort.Strings(rest)
	return append(out, rest...)
}

type resultJSON Result

// MarshalJSON writes each split as a top-level key ("val", "test", ...).
func (r *Result) MarshalJSON() ([]byte, error) {
	b, err := json.Marshal((*resultJSON)(r))
	if err != nil {
		return nil, err
	}
	m := map[string]json.RawMessage{}
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, err
	}
	for name, s := range r.PerSplit {
		sb, err := json.Marshal(s)
		if err != nil {
			return nil, err
		}
		m[name] = sb
	}
	return json.Marshal(m)
}

// UnmarshalJSON reads the form written by MarshalJSON.
func (r *Result) UnmarshalJSON(b []byte) error {
	if err := json.Unmarshal(b, (*resultJSON)(r)); err != nil {
		return err
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(b, &m); err != nil {
		return err
	}
	r.PerSplit = map[string]*Split{}
	for _, name := range r.Splits {
		raw, ok := m[name]
		if !ok {
			return fmt.Errorf("split %q listed but missing", name)
		}
		s := &Split{}
		if err := json.Unmarshal(raw, s); err != nil {
			return fmt.Errorf("split %q: %w", name, err)
		}
		r.PerSplit[name] = s
	}
	return nil
}

// ReadResult reads metrics.json from an evaluate artifact folder.
func ReadResult(dir string) (*Result, error) {
	path := filepath.Join(dir, contract.MetricsFile)
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("metrics artifact: %w", err)
	}
	r := &Result{}
	if err := json.Unmarshal(b, r); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return r, nil
}
