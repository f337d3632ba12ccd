package expression

import (
	"context"
	"fmt"
	"math"
	"slices"
	"sort"

	"github.com/biopipe/biopipe/contract"
	"github.com/biopipe/biopipe/dataset"
	"github.com/biopipe/biopipe/stages/transform/internal/tab"
)

// NormalizeKind is the registered name of the normalisation stage kind.
const NormalizeKind = "transform.normalize"

// Normalisation config fields.
const (
	FieldMethods   = "methods"
	FieldTargetSum = "target_sum"
	FieldClip      = "clip"
)

// Normalisation methods.
const (
	CPM      = "cpm"
	Log1p    = "log1p"
	Log2     = "log2"
	ZScore   = "zscore"
	Quantile = "quantile"
)

// NormalizeFields is the config of transform.normalize.
var NormalizeFields = []contract.Field{
	columnField(),
	{Name: FieldMethods, Type: contract.Strings, Default: []any{CPM, Log1p}, Enum: []string{CPM, Log1p, Log2, ZScore, Quantile},
		Doc: "steps applied in order: cpm (scale each sample to target_sum), log1p (ln(1+x)), log2 (log2(1+x)), zscore (per gene, mean and sd from the train split), quantile (every sample mapped onto the mean sorted train sample)"},
	{Name: FieldTargetSum, Type: contract.Float, Default: 1e6, Min: contract.Bound(1e-9), Doc: "cpm: the total each sample is scaled to (1e6 = counts per million; 1e4 as scanpy's normalize_total)"},
	{Name: FieldClip, Type: contract.Float, Default: 0, Min: contract.Bound(0), Doc: "zscore: clip values to [-clip, clip] (0 = no clipping; scanpy uses 10)"},
}

func init() {
	contract.Register(&contract.Kind{
		Name: NormalizeKind,
		Doc:  "normalise expression vectors: library size (CPM), log1p, per-gene z-score, quantile",
		Description: `Applies the listed methods in order to the tensor column. cpm and log1p act on each sample
alone; zscore and quantile fit their parameters (gene means and sds, the reference distribution) on
the train split when a split column exists, else on all rows, and apply them to every row. A zero
library size, a negative value before a log, and genes with zero variance (set to 0 by zscore) are
reported. params.json holds the fitted parameters; summary.json the steps and counts.`,
		Version: "1",
		Fields:  NormalizeFields,
		Inputs:  tab.InputPort,
		Output:  contract.Port{Name: "data", Type: contract.Table, Doc: "the table with the normalised tensor column"},
		New:     newNormalize,
		Example: `- id: norm
  kind: transform.normalize
  inputs: [split]
  with: {methods: [cpm, log1p, zscore], target_sum: 10000}`,
	})
}

// NormalizeOptions configures Normalize.
type NormalizeOptions struct {
	Column    string
	Methods   []string
	TargetSum float64
	Clip      float64
}

// NormalizeParams are the fitted parameters and counts, written to params.json.
type NormalizeParams struct {
	Methods        []string  `json:"methods"`
	FitOn          string    `json:"fit_on"`
	FitRows        int       `json:"fit_rows"`
	TargetSum      float64   `json:"target_sum,omitempty"`
	ZeroLibrary    int       `json:"zero_library_samples,omitempty"`
	ConstantGenes  int       `json:"constant_genes,omitempty"`
	Genes          []string  `json:"genes,omitempty"`
	Mean           []float64 `json:"zscore_mean,omitempty"`
	SD             []float64 `json:"zscore_sd,omitempty"`
	QuantileTarget []float64 `json:"quantile_reference,omitempty"`
}

func newNormalize(cfg contract.Config) (contract.Stage, error) {
	o := NormalizeOptions{Column: cfg.String(FieldColumn), Methods: cfg.Strings(FieldMethods),
		TargetSum: cfg.Float(FieldTargetSum), Clip: cfg.Float(FieldClip)}
	if len(o.Methods) == 0 {
		return nil, &contract.ConfigError{Issues: []contract.Issue{{Path: []string{FieldMethods}, Msg: "list at least one method"}}}
	}
	return contract.StageFunc(func(ctx context.Context, env *contract.Env) error {
		f, err := tab.Load(env)
		if err != nil {
			return err
		}
		p, err := Normalize(f, o)
		if err != nil {
			return fmt.Errorf("stage %q: %w", env.StageID, err)
		}
		if p.ZeroLibrary > 0 {
			env.Log.Warn("samples with a zero library size left at zero", "stage", env.StageID, "samples", p.ZeroLibrary)
		}
		if err := tab.Write(env, f, p); err != nil {
			return err
		}
		return dataset.WriteJSON(env.Out(contract.SummaryFile), map[string]any{
			"methods": p.Methods, "fit_on": p.FitOn, "fit_rows": p.FitRows, "rows": f.NumRows(),
			"zero_library_samples": p.ZeroLibrary, "constant_genes": p.ConstantGenes})
	}), nil
}

// Normalize applies the methods to the tensor column of f in place.
func Normalize(f *dataset.Frame, o NormalizeOptions) (*NormalizeParams, error) {
	c, genes, err := exprColumn(f, o.Column)
	if err != nil {
		return nil, err
	}
	rows, which, err := fitRows(f)
	if err != nil {
		return nil, err
	}
	p := &NormalizeParams{Methods: o.Methods, FitOn: which, FitRows: len(rows)}
	n, g := c.Len(), c.Shape[0]
	ids := f.Col(f.Meta[dataset.MetaID])
	sampleName := func(r int) string {
		if ids != nil && ids.Kind == dataset.String {
			return fmt.Sprintf("sample %q", ids.S[r])
		}
		return fmt.Sprintf("row %d", r+1)
	}
	for _, m := range o.Methods {
		switch m {
		case CPM:
			p.TargetSum = o.TargetSum
			for r := range n {
				row := c.T[r*g : (r+1)*g]
				var s float64
				for _, v := range row {
					s += float64(v)
				}
				if s == 0 {
					p.ZeroLibrary++
					continue
				}
				k := o.TargetSum / s
				for j := range row {
					row[j] = float32(float64(row[j]) * k)
				}
			}
		case Log1p, Log2:
			scale := 1.0
			if m == Log2 {
				scale = 1 / math.Ln2
			}
			for i, v := range c.T {
				if v < 0 {
					r, j := i/g, i%g
					return nil, fmt.Errorf("%s: %s, gene %q: value %g is negative (%s needs counts or normalised counts; put it before zscore)",
						m, sampleName(r), genes[j], v, m)
				}
				c.T[i] = float32(math.Log1p(float64(v)) * scale)
			}
		case ZScore:
			mean := make([]float64, g)
			sd := make([]float64, g)
			for _, r := range rows {
				for j, v := range c.T[r*g : (r+1)*g] {
					mean[j] += float64(v)
				}
			}
			for j := range mean {
				mean[j] /= float64(len(rows))
			}
			for _, r := range rows {
				for j, v := range c.T[r*g : (r+1)*g] {
					d := float64(v) - mean[j]
					sd[j] += d * d
				}
			}
			p.ConstantGenes = 0
			for j := range sd {
				if len(rows) > 1 {
					sd[j] = math.Sqrt(sd[j] / float64(len(rows)-1))
				} else {
					sd[j] = 0
				}
				if sd[j] == 0 {
					p.ConstantGenes++
				}
			}
			for r := range n {
				row := c.T[r*g : (r+1)*g]
				for j, v := range row {
					if sd[j] == 0 {
						row[j] = 0
						continue
					}
					z := (float64(v) - mean[j]) / sd[j]
					if o.Clip > 0 {
						z = max(-o.Clip, min(o.Clip, z))
					}
					row[j] = float32(z)
				}
			}
			p.Genes, p.Mean, p.SD = genes, mean, sd
		case Quantile:
			ref := make([]float64, g)
			buf := make([]float32, g)
			for _, r := range rows {
				copy(buf, c.T[r*g:(r+1)*g])
				slices.Sort(buf)
				for j, v := range buf {
					ref[j] += float64(v)
				}
			}
			for j := range ref {
				ref[j] /= float64(len(rows))
			}
			// prefix sums of the reference for averaging over ties
			pre := make([]float64, g+1)
			for j, v := range ref {
				pre[j+1] = pre[j] + v
			}
			idx := make([]int, g)
			for r := range n {
				row := c.T[r*g : (r+1)*g]
				for j := range idx {
					idx[j] = j
				}
				sort.SliceStable(idx, func(a, b int) bool { return row[idx[a]] < row[idx[b]] })
				out := make([]float32, g)
				for lo := 0; lo < g; {
					hi := lo + 1
					for hi < g && row[idx[hi]] == row[idx[lo]] {
						hi++
					}
					v := float32((pre[hi] - pre[lo]) / float64(hi-lo))
					for k := lo; k < hi; k++ {
						out[idx[k]] = v
					}
					lo = hi
				}
				copy(row, out)
			}
			p.QuantileTarget = ref
		default:
			return nil, fmt.Errorf("unknown normalisation method %q", m)
		}
	}
	return p, nil
}
