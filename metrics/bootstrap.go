package metrics

import (
	"encoding/json"
	"math"
	"math/rand/v2"
	"runtime"
	"slices"
	"sort"
	"sync"
)

// Interval is a point estimate with a confidence interval. JSON field names are the
// metrics.json contract: value, ci_low, ci_high, and reason. NaN is written as null; an
// undefined value (one class in the split, constant predictions ...) carries the reason.
type Interval struct {
	Value  float64
	Low    float64
	High   float64
	Reason string // why Value is undefined (NaN); "" when it is defined
}

type intervalJSON struct {
	Value  *float64 `json:"value"`
	Low    *float64 `json:"ci_low"`
	High   *float64 `json:"ci_high"`
	Reason string   `json:"reason,omitempty"`
}

// MarshalJSON writes {"value":..,"ci_low":..,"ci_high":..} with null for NaN, and
// "reason" when the value is undefined.
func (iv Interval) MarshalJSON() ([]byte, error) {
	j := intervalJSON{Value: finite(iv.Value), Low: finite(iv.Low), High: finite(iv.High)}
	if j.Value == nil {
		j.Reason = iv.Reason
	}
	return json.Marshal(j)
}

// UnmarshalJSON reads the form written by MarshalJSON (null becomes NaN).
func (iv *Interval) UnmarshalJSON(b []byte) error {
	var j intervalJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return err
	}
	get := func(p *float64) float64 {
		if p != nil {
			return *p
		}
		return math.NaN()
	}
	iv.Value, iv.Low, iv.High, iv.Reason = get(j.Value), get(j.Low), get(j.High), j.Reason
	return nil
}

func finite(v float64) *float64 {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return nil
	}
	return &v
}

// BootstrapOptions configures Bootstrap.
type BootstrapOptions struct {
	Resamples int     // number of bootstrap resamples (0 = no intervals, Low/High NaN)
	Level     float64 // confidence level, e.g. 0.95
	Seed      uint64  // the resamples are a pure function of Seed
	// Strata, when set, holds a stratum (class) per row: each resample draws the same number
	// of rows (or groups) from each stratum as the data has.
	Strata []int
	// Groups, when set, holds a group (patient) per row: whole groups are resampled
	// (cluster bootstrap); a group's stratum is the stratum of its first row.
	Groups []string
	// Workers bounds the parallelism (0 = GOMAXPROCS). Results do not depend on it.
	Workers int
}

// Bootstrap evaluates fn on all n rows (the point estimates) and on opt.Resamples
// resamples of the row indices, and returns for every metric the percentile interval of
// the resampled values at opt.Level. Resamples where a metric is NaN (say, AUROC of a
// resample with one class) are left out of that metric's interval.
func Bootstrap(n int, opt BootstrapOptions, fn func(idx []int) Scalars) map[string]Interval {
	all := make([]int, n)
	for i := range all {
		all[i] = i
	}
	point := fn(all)
	out := make(map[string]Interval, len(point))
	for k, v := range point {
		out[k] = Interval{Value: v, Low: math.NaN(), High: math.NaN()}
	}
	if opt.Resamples <= 0 || n == 0 {
		return out
	}
	units := bootstrapUnits(n, opt)
	reps := make([]Scalars, opt.Resamples)
	workers := opt.Workers
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	var wg sync.WaitGroup
	next := make(chan int)
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for r := range next {
				rng := rand.New(rand.NewPCG(opt.Seed, uint64(r)+1))
				reps[r] = fn(units.draw(rng))
			}
		}()
	}
	for r := range reps {
		next <- r
	}
	close(next)
	wg.Wait()
	level := opt.Level
	if level <= 0 || level >= 1 {
		level = 0.95
	}
	for k, iv := range out {
		var vals []float64
		for _, rep := range reps {
			if v, ok := rep[k]; ok && !math.IsNaN(v) {
				vals = append(vals, v)
			}
		}
		if len(vals) == 0 {
			continue
		}
		sort.Float64s(vals)
		iv.Low = Quantile(vals, (1-level)/2)
		iv.High = Quantile(vals, 1-(1-level)/2)
		out[k] = iv
	}
	return out
}

// Quantile returns the q-quantile of sorted values with linear interpolation (numpy's default).
func Quantile(sorted []float64, q float64) float64 {
	if len(sorted) == 0 {
		return math.NaN()
	}
	pos := q * float64(len(sorted)-1)
	lo := int(math.Floor(pos))
	hi := int(math.Ceil(pos))
	return sorted[lo] + (sorted[hi]-sorted[lo])*(pos-float64(lo))
}

// units are the resampling units (rows or groups) split by stratum.
type units struct {
	strata [][][]int // stratum -> unit -> rows
	size   int
}

func bootstrapUnits(n int, opt BootstrapOptions) units {
	var unitRows [][]int
	var unitStratum []int
	if len(opt.Groups) == n {
		index := map[string]int{}
		for i, g := range opt.Groups {
			u, ok := index[g]
			if !ok {
				u = len(unitRows)
				index[g] = u
				unitRows = append(unitRows, nil)
				s := 0
				if len(opt.Strata) == n {
					s = opt.Strata[i]
				}
				unitStratum = append(unitStratum, s)
			}
			unitRows[u] = append(unitRows[u], i)
		}
	} else {
		for i := 0; i < n; i++ {
			unitRows = append(unitRows, []int{i})
			s := 0
			if len(opt.Strata) == n {
				s = opt.Strata[i]
			}
			unitStratum = append(unitStratum, s)
		}
	}
	keys := slices.Clone(unitStratum)
	slices.Sort(keys)
	keys = slices.Compact(keys)
	u := units{size: n}
	for _, k := range keys {
		var group [][]int
		for i, s := range unitStratum {
			if s == k {
				group = append(group, unitRows[i])
			}
		}
		u.strata = append(u.strata, group)
	}
	return u
}

func (u units) draw(rng *rand.Rand) []int {
	idx := make([]int, 0, u.size)
	for _, group := range u.strata {
		for range group {
			idx = append(idx, group[rng.IntN(len(group))]...)
		}
	}
	return idx
}
