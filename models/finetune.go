package models

import (
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/ml/model"
)

// FreezeEncoder is the freeze entry that names a family's encoder (Family.Encoder).
const FreezeEncoder = "encoder"

// FineTune says which layers train and how fast, for transfer learning.
type FineTune struct {
	// Freeze lists layer prefixes (relative to the model scope: "block_0", "block_0/conv_0",
	// "hidden_") whose variables do not train; "encoder" stands for the family's encoder.
	// Frozen batch-normalization layers still update their running statistics in training.
	Freeze []string `json:"freeze,omitempty"`
	// LayerLR maps layer prefixes to learning-rate multipliers (discriminative learning
	// rates: 0.1 for early layers, 1 for the head); the longest matching prefix wins, other
	// variables keep 1.
	LayerLR map[string]float64 `json:"layer_lr,omitempty"`
}

// Empty reports whether f changes nothing.
func (f FineTune) Empty() bool { return len(f.Freeze) == 0 && len(f.LayerLR) == 0 }

// fineTuner applies a FineTune to a store: frozen variables are marked not trainable; the
// update of a variable with a multiplier m is scaled to m times the optimizer's step.
type fineTuner struct {
	mult   map[*model.Variable]float64
	frozen []string
}

// newFineTuner resolves f against the model's variables; a prefix that matches nothing is an
// error listing the model's layers.
func newFineTuner(store *model.Store, fam *Family, f FineTune) (*fineTuner, error) {
	if f.Empty() {
		return nil, nil
	}
	var vars []*model.Variable
	for v := range store.IterVariables() {
		if isModelVar(v) {
			vars = append(vars, v)
		}
	}
	rel := func(v *model.Variable) string { return strings.TrimPrefix(v.Path(), modelPrefix) }
	layers := func() string {
		set := map[string]bool{}
		for _, v := range vars {
			set[parentOf(rel(v))] = true
		}
		return strings.Join(slices.Sorted(mapsKeys(set)), ", ")
	}
	ft := &fineTuner{mult: map[*model.Variable]float64{}}
	var prefixes []string
	for _, p := range f.Freeze {
		if p == FreezeEncoder {
			if len(fam.Encoder) == 0 {
				return nil, fmt.Errorf("freeze: family %q declares no encoder; name layer prefixes (layers: %s)", fam.Name, layers())
			}
			prefixes = append(prefixes, fam.Encoder...)
			continue
		}
		prefixes = append(prefixes, strings.Trim(p, "/"))
	}
	for _, p := range prefixes {
		n := 0
		for _, v := range vars {
			if strings.HasPrefix(rel(v), p) {
				if v.Trainable {
					v.Trainable = false
					ft.frozen = append(ft.frozen, v.Path())
				}
				n++
			}
		}
		if n == 0 {
			return nil, fmt.Errorf("freeze: %q matches no variable of this %s (layers: %s)", p, fam.Name, layers())
		}
	}
	keys := slices.Sorted(mapsKeys(f.LayerLR))
	for _, p := range keys {
		if m := f.LayerLR[p]; m < 0 {
			return nil, fmt.Errorf("layer_lr: %q: multiplier %g is negative", p, m)
		}
		n := 0
		for _, v := range vars {
			if strings.HasPrefix(rel(v), strings.Trim(p, "/")) {
				n++
			}
		}
		if n == 0 {
			return nil, fmt.Errorf("layer_lr: %q matches no variable of this %s (layers: %s)", p, fam.Name, layers())
		}
	}
	for _, v := range vars {
		best := ""
		for _, p := range keys {
			q := strings.Trim(p, "/")
			if strings.HasPrefix(rel(v), q) && len(q) >= len(best) {
				best = q
				ft.mult[v] = f.LayerLR[p]
			}
		}
		if m, ok := ft.mult[v]; ok && m == 1 {
			delete(ft.mult, v)
		}
	}
	sort.Strings(ft.frozen)
	return ft, nil
}

// before records the values of the scaled variables in graph g, ahead of the optimizer.
func (ft *fineTuner) before(g *graph.Graph) map[*model.Variable]*graph.Node {
	if ft == nil || len(ft.mult) == 0 {
		return nil
	}
	out := make(map[*model.Variable]*graph.Node, len(ft.mult))
	for v := range ft.mult {
		if v.Trainable && v.InUseByGraph(g) {
			out[v] = v.NodeValue(g)
		}
	}
	return out
}

// scale replaces each scaled variable's update old -> new by old + m*(new - old), which is
// the optimizer's step at m times its learning rate (exactly so for SGD and Adam, whose
// steps are proportional to the learning rate).
func (ft *fineTuner) scale(g *graph.Graph, old map[*model.Variable]*graph.Node) {
	for v, o := range old {
		n := v.NodeValue(g)
		v.SetNodeValue(graph.Add(o, graph.MulScalar(graph.Sub(n, o), ft.mult[v])))
	}
}

// FineTuneReport is the model card's record of a FineTune.
type FineTuneReport struct {
	FineTune
	Frozen []string `json:"frozen"` // variable paths that did not train
}

func (ft *fineTuner) report(f FineTune) *FineTuneReport {
	if ft == nil {
		return nil
	}
	return &FineTuneReport{FineTune: f, Frozen: append([]string{}, ft.frozen...)}
}
