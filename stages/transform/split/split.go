// Package split is the transform.split stage kind: it assigns every row to train, val or
// test (the "split" column), randomly, stratified by class, by group, or by k-fold (the
// "fold" column), reproducibly from the pipeline seed.
package split

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"sort"

	"github.com/biopipe/biopipe/contract"
	"github.com/biopipe/biopipe/dataset"
	"github.com/biopipe/biopipe/stages/transform/internal/tab"
)

// KindName is the registered name of the stage kind.
const KindName = "transform.split"

// Config field names.
const (
	FieldStrategy = "strategy"
	FieldTest     = "test"
	FieldVal      = "val"
	FieldFolds    = "folds"
	FieldFold     = "fold"
	FieldStratify = "stratify"
	FieldGroup    = "group"
)

// Strategies.
const (
	Auto       = "auto"
	Random     = "random"
	Stratified = "stratified"
	Group      = "group"
	KFold      = "kfold"
)

// Fields is the config of transform.split.
var Fields = []contract.Field{
	{Name: FieldStrategy, Type: contract.String, Default: Auto, Enum: []string{Auto, Random, Stratified, Group, KFold},
		Doc: "random; stratified (class proportions kept in every split); group (all rows of a group on one side); kfold (fold column, one fold is test); auto: group when the table has a group column, else stratified for classification, else random"},
	{Name: FieldTest, Type: contract.Float, Default: 0.2, Min: contract.Bound(0), Max: contract.Bound(0.9), Doc: "fraction of rows for the test split (not used by kfold: the test fold is 1/folds)"},
	{Name: FieldVal, Type: contract.Float, Default: 0.1, Min: contract.Bound(0), Max: contract.Bound(0.9), Doc: "fraction of all rows for the validation split (kfold: taken from the non-test folds)"},
	{Name: FieldFolds, Type: contract.Int, Default: 5, Min: contract.Bound(2), Max: contract.Bound(1000), Doc: "kfold: number of folds"},
	{Name: FieldFold, Type: contract.Int, Default: 0, Min: contract.Bound(0), Doc: "kfold: which fold (0-based) is the test split"},
	{Name: FieldStratify, Type: contract.Bool, Default: true, Doc: "kfold: keep class proportions in every fold (classification only)"},
	{Name: FieldGroup, Type: contract.String, Doc: "group column for group and kfold splits (default: the table's group column); kfold keeps groups whole when one is known"},
}

func init() {
	contract.Register(&contract.Kind{
		Name: KindName,
		Doc:  "assign rows to train/val/test (random, stratified, grouped or k-fold), reproducibly from the seed",
		Description: `Writes the "split" column (train, val, test) and, for kfold, the "fold" column. The default
strategy (auto) is group when the table has a group column, else stratified for classification,
else random. Shuffles
with a PCG generator seeded from the pipeline seed, so the same seed gives the same split.
stratified keeps each class's share in every split to within one row; group keeps every row of a
group (patient) on one side; kfold deals rows (or whole groups, balancing classes when stratify is
on) into folds and makes fold "fold" the test split. summary.json counts rows per split and class.`,
		Version: "1",
		Fields:  Fields,
		Inputs:  tab.InputPort,
		Output:  contract.Port{Name: "data", Type: contract.Table, Doc: "the table with split (and fold) columns"},
		New:     New,
		Example: `- id: split
  kind: transform.split
  inputs: [load]
  with: {strategy: kfold, folds: 5, fold: 0, val: 0.1}`,
	})
}

// Options configures a split.
type Options struct {
	Strategy string
	Test     float64
	Val      float64
	Folds    int
	Fold     int
	Stratify bool
	Group    string
}

// New builds the stage from a validated config.
func New(cfg contract.Config) (contract.Stage, error) {
	o := Options{
		Strategy: cfg.String(FieldStrategy),
		Test:     cfg.Float(FieldTest),
		Val:      cfg.Float(FieldVal),
		Folds:    cfg.Int(FieldFolds),
		Fold:     cfg.Int(FieldFold),
		Stratify: cfg.Bool(FieldStratify),
		Group:    cfg.String(FieldGroup),
	}
	var issues []contract.Issue
	if o.Strategy != KFold && o.Test+o.Val >= 1 {
		issues = append(issues, contract.Issue{Path: []string{FieldVal}, Msg: fmt.Sprintf("test + val = %g leaves no training rows", o.Test+o.Val)})
	}
	if o.Strategy == KFold && o.Fold >= o.Folds {
		issues = append(issues, contract.Issue{Path: []string{FieldFold}, Msg: fmt.Sprintf("fold %d does not exist with %d folds (0..%d)", o.Fold, o.Folds, o.Folds-1)})
	}
	if o.Strategy == KFold && o.Val >= 1-1/float64(o.Folds) {
		issues = append(issues, contract.Issue{Path: []string{FieldVal}, Msg: "val takes every non-test row"})
	}
	if len(issues) > 0 {
		return nil, &contract.ConfigError{Issues: issues}
	}
	return contract.StageFunc(func(ctx context.Context, env *contract.Env) error {
		f, err := tab.Load(env)
		if err != nil {
			return err
		}
		sum, err := Apply(f, o, env.Seed)
		if err != nil {
			return fmt.Errorf("stage %q: %w", env.StageID, err)
		}
		for s, n := range sum.Rows {
			env.SetMetric(s+"_rows", n)
		}
		if err := tab.Write(env, f, nil); err != nil {
			return err
		}
		return dataset.WriteJSON(env.Out(contract.SummaryFile), sum)
	}), nil
}

// Summary counts rows per split (and per class and fold).
type Summary struct {
	Strategy string                    `json:"strategy"`
	Seed     int64                     `json:"seed"`
	Rows     map[string]int            `json:"rows"`
	Classes  map[string]map[string]int `json:"class_counts,omitempty"` // split -> class -> rows
	Groups   map[string]int            `json:"groups,omitempty"`       // split -> distinct groups
	Folds    []int                     `json:"fold_rows,omitempty"`
	TestFold *int                      `json:"test_fold,omitempty"`
}

// Apply writes the split (and fold) columns into f.
func Apply(f *dataset.Frame, o Options, seed int64) (*Summary, error) {
	if o.Strategy == Auto || o.Strategy == "" {
		switch {
		case o.Group != "" || f.Meta[dataset.MetaGroup] != "":
			o.Strategy = Group
		case f.Label() != nil && f.Meta[dataset.MetaTask] != "regression":
			o.Strategy = Stratified
		default:
			o.Strategy = Random
		}
	}
	n := f.NumRows()
	rng := rand.New(rand.NewPCG(uint64(seed), 0x9e3779b97f4a7c15))
	all := make([]int, n)
	for i := range all {
		all[i] = i
	}
	var cls []int
	classification := f.Meta[dataset.MetaTask] != "regression" && f.Label() != nil
	if (o.Strategy == Stratified || (o.Strategy == KFold && o.Stratify)) && classification {
		var err error
		if cls, _, err = f.Labels(nil); err != nil {
			return nil, err
		}
	} else if o.Strategy == Stratified {
		return nil, fmt.Errorf("stratified split needs a classification label (the table has %s); use strategy: random or group", describeLabel(f))
	}
	var groups []int
	gname := o.Group
	if gname == "" {
		gname = f.Meta[dataset.MetaGroup]
	}
	if gname != "" && (o.Strategy == Group || o.Strategy == KFold) {
		gc := f.Col(gname)
		if gc == nil {
			return nil, fmt.Errorf("group column %q not found", gname)
		}
		groups = groupIDs(gc)
	} else if o.Strategy == Group {
		return nil, fmt.Errorf("group split needs a group column (set group: here or in the ingest stage)")
	}

	split := make([]string, n)
	sum := &Summary{Strategy: o.Strategy, Seed: seed}
	switch o.Strategy {
	case Random:
		assign(split, all, nil, nil, o.Test, o.Val, rng)
	case Stratified:
		assign(split, all, cls, nil, o.Test, o.Val, rng)
	case Group:
		assign(split, all, nil, groups, o.Test, o.Val, rng)
	case KFold:
		fold := kfold(all, cls, groups, o.Folds, rng)
		var rest []int
		counts := make([]int, o.Folds)
		for i, k := range fold {
			counts[k]++
			if k == o.Fold {
				split[i] = dataset.Test
			} else {
				rest = append(rest, i)
			}
		}
		val := 0.0
		if len(rest) > 0 {
			val = o.Val * float64(n) / float64(len(rest))
		}
		assign(split, rest, cls, groups, 0, val, rng)
		fc := &dataset.Column{Name: dataset.ColFold, Kind: dataset.Int, I: make([]int64, n)}
		for i, k := range fold {
			fc.I[i] = int64(k)
		}
		f.Set(fc)
		sum.Folds = counts
		sum.TestFold = &o.Fold
	default:
		return nil, fmt.Errorf("unknown strategy %q", o.Strategy)
	}
	f.Set(&dataset.Column{Name: dataset.ColSplit, Kind: dataset.String, S: split})
	sum.Rows = map[string]int{dataset.Train: 0, dataset.Val: 0, dataset.Test: 0}
	for _, s := range split {
		sum.Rows[s]++
	}
	if lc := f.Label(); lc != nil && classification {
		sum.Classes = map[string]map[string]int{}
		for i, s := range split {
			if sum.Classes[s] == nil {
				sum.Classes[s] = map[string]int{}
			}
			sum.Classes[s][lc.Text(i)]++
		}
	}
	if groups != nil {
		sum.Groups = map[string]int{}
		seen := map[[2]any]bool{}
		for i, s := range split {
			k := [2]any{s, groups[i]}
			if !seen[k] {
				seen[k] = true
				sum.Groups[s]++
			}
		}
	}
	return sum, nil
}

func describeLabel(f *dataset.Frame) string {
	if f.Label() == nil {
		return "no label column"
	}
	return "a regression label"
}

// groupIDs numbers the groups in order of first appearance; a row without a group value
// is a group of its own.
func groupIDs(c *dataset.Column) []int {
	ids := make([]int, c.Len())
	index := map[string]int{}
	next := 0
	for i := range ids {
		if !c.IsValid(i) {
			ids[i] = next
			next++
			continue
		}
		k := c.Text(i)
		id, ok := index[k]
		if !ok {
			id = next
			index[k] = id
			next++
		}
		ids[i] = id
	}
	return ids
}

func count(n int, frac float64) int { return int(math.Round(float64(n) * frac)) }

// assign sets split[i] for every i in rows: test and val fractions of rows, the rest train.
// With groups, whole groups are assigned; else with classes, each class is split on its own.
func assign(split []string, rows []int, cls, groups []int, test, val float64, rng *rand.Rand) {
	switch {
	case groups != nil:
		// Shuffle the groups, then fill test, then val, taking a group when that brings the
		// count closer to the target.
		members := map[int][]int{}
		var order []int
		for _, r := range rows {
			g := groups[r]
			if _, ok := members[g]; !ok {
				order = append(order, g)
			}
			members[g] = append(members[g], r)
		}
		rng.Shuffle(len(order), func(i, j int) { order[i], order[j] = order[j], order[i] })
		nTest, nVal := float64(len(rows))*test, float64(len(rows))*val
		var inTest, inVal float64
		for _, g := range order {
			size := float64(len(members[g]))
			s := dataset.Train
			switch {
			case inTest < nTest && inTest+size-nTest <= nTest-inTest:
				s, inTest = dataset.Test, inTest+size
			case inVal < nVal && inVal+size-nVal <= nVal-inVal:
				s, inVal = dataset.Val, inVal+size
			}
			for _, r := range members[g] {
				split[r] = s
			}
		}
	case cls != nil:
		byClass := map[int][]int{}
		var keys []int
		for _, r := range rows {
			if _, ok := byClass[cls[r]]; !ok {
				keys = append(keys, cls[r])
			}
			byClass[cls[r]] = append(byClass[cls[r]], r)
		}
		sort.Ints(keys)
		for _, k := range keys {
			assign(split, byClass[k], nil, nil, test, val, rng)
		}
	default:
		idx := slices.Clone(rows)
		rng.Shuffle(len(idx), func(i, j int) { idx[i], idx[j] = idx[j], idx[i] })
		nTest, nVal := count(len(idx), test), count(len(idx), val)
		if nTest+nVal > len(idx) {
			nVal = len(idx) - nTest
		}
		for i, r := range idx {
			switch {
			case i < nTest:
				split[r] = dataset.Test
			case i < nTest+nVal:
				split[r] = dataset.Val
			default:
				split[r] = dataset.Train
			}
		}
	}
}

// kfold returns the fold of every row. Without groups, rows are shuffled and dealt round
// robin (per class when stratified, continuing the deal across classes so folds stay equal
// in size). With groups, whole groups are placed largest first into the fold where they
// add the least squared deviation from equal class counts (or, without classes, into the
// smallest fold).
func kfold(rows []int, cls, groups []int, k int, rng *rand.Rand) []int {
	fold := make([]int, len(rows))
	if groups == nil {
		deal := 0
		if cls == nil {
			idx := slices.Clone(rows)
			rng.Shuffle(len(idx), func(i, j int) { idx[i], idx[j] = idx[j], idx[i] })
			for j, r := range idx {
				fold[r] = j % k
			}
			return fold
		}
		byClass := map[int][]int{}
		var keys []int
		for _, r := range rows {
			if _, ok := byClass[cls[r]]; !ok {
				keys = append(keys, cls[r])
			}
			byClass[cls[r]] = append(byClass[cls[r]], r)
		}
		sort.Ints(keys)
		for _, c := range keys {
			idx := byClass[c]
			rng.Shuffle(len(idx), func(i, j int) { idx[i], idx[j] = idx[j], idx[i] })
			for _, r := range idx {
				fold[r] = deal % k
				deal++
			}
		}
		return fold
	}
	members := map[int][]int{}
	var order []int
	for _, r := range rows {
		g := groups[r]
		if _, ok := members[g]; !ok {
			order = append(order, g)
		}
		members[g] = append(members[g], r)
	}
	rng.Shuffle(len(order), func(i, j int) { order[i], order[j] = order[j], order[i] })
	sort.SliceStable(order, func(i, j int) bool { return len(members[order[i]]) > len(members[order[j]]) })
	nClass := 1
	for _, r := range rows {
		if cls != nil && cls[r]+1 > nClass {
			nClass = cls[r] + 1
		}
	}
	classOf := func(r int) int {
		if cls == nil {
			return 0
		}
		return cls[r]
	}
	total := make([]float64, nClass)
	for _, r := range rows {
		total[classOf(r)]++
	}
	counts := make([][]float64, k)
	sizes := make([]int, k)
	for i := range counts {
		counts[i] = make([]float64, nClass)
	}
	gc := make([]float64, nClass)
	for _, g := range order {
		clear(gc)
		for _, r := range members[g] {
			gc[classOf(r)]++
		}
		best, bestCost := 0, math.Inf(1)
		for f := range k {
			cost := 0.0
			for c := range nClass {
				target := total[c] / float64(k)
				after := counts[f][c] + gc[c] - target
				before := counts[f][c] - target
				cost += after*after - before*before
			}
			if cost < bestCost || (cost == bestCost && sizes[f] < sizes[best]) {
				best, bestCost = f, cost
			}
		}
		for c := range nClass {
			counts[best][c] += gc[c]
		}
		sizes[best] += len(members[g])
		for _, r := range members[g] {
			fold[r] = best
		}
	}
	return fold
}
