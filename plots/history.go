package plots

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"
)

// History is a training history: one map of numeric values per epoch ("epoch",
// "train_loss", "val_loss", "train_accuracy", ...).
type History []map[string]float64

// ParseHistory reads history.json in either form a model artifact may use: a list of
// per-epoch objects, or an object whose "epochs" key holds that list. Non-numeric values
// are ignored; an epoch without "epoch" is numbered by position (1-based).
func ParseHistory(b []byte) (History, error) {
	var list []map[string]any
	if err := json.Unmarshal(b, &list); err != nil {
		var obj struct {
			Epochs []map[string]any `json:"epochs"`
		}
		if err2 := json.Unmarshal(b, &obj); err2 != nil {
			return nil, fmt.Errorf("history: neither a list of epochs nor an object with \"epochs\": %w", err)
		}
		list = obj.Epochs
	}
	h := make(History, 0, len(list))
	for i, e := range list {
		row := map[string]float64{}
		for k, v := range e {
			if f, ok := v.(float64); ok {
				row[k] = f
			}
		}
		if _, ok := row["epoch"]; !ok {
			row["epoch"] = float64(i + 1)
		}
		h = append(h, row)
	}
	return h, nil
}

// Metrics returns the names X for which the history has train_X or val_X, sorted, with
// "loss" first when present.
func (h History) Metrics() []string {
	set := map[string]bool{}
	for _, e := range h {
		for k := range e {
			for _, p := range []string{"train_", "val_"} {
				if name, ok := strings.CutPrefix(k, p); ok {
					set[name] = true
				}
			}
		}
	}
	var out []string
	for k := range set {
		if k != "loss" {
			out = append(out, k)
		}
	}
	sort.Strings(out)
	if set["loss"] {
		out = append([]string{"loss"}, out...)
	}
	return out
}

// Series returns the train and validation series of one metric (empty ones left out).
func (h History) Series(metric string) []Series {
	var out []Series
	for _, p := range []struct{ key, name string }{{"train_", "train"}, {"val_", "validation"}} {
		s := Series{Name: p.name}
		for _, e := range h {
			if v, ok := e[p.key+metric]; ok {
				s.X = append(s.X, e["epoch"])
				s.Y = append(s.Y, v)
			}
		}
		if len(s.X) > 0 {
			out = append(out, s)
		}
	}
	return out
}

// Curve draws the per-epoch curve of one metric (train and validation).
func (h History) Curve(metric string) ([]byte, error) {
	title := strings.ToUpper(metric[:1]) + strings.ReplaceAll(metric[1:], "_", " ")
	return Lines(title+" per epoch", "Epoch", metric, h.Series(metric))
}
