package expression

import (
	"bufio"
	"context"
	"fmt"
	"math"
	"os"
	"sort"
	"strings"

	"github.com/biopipe/biopipe/contract"
	"github.com/biopipe/biopipe/dataset"
	"github.com/biopipe/biopipe/stages/transform/internal/tab"
)

// SelectKind is the registered name of the gene-selection stage kind.
const SelectKind = "transform.select_features"

// Gene-selection config fields.
const (
	FieldMinCounts  = "min_counts"
	FieldMinSamples = "min_samples"
	FieldTopN       = "top_n"
	FieldMethod     = "method"
	FieldGenes      = "genes"
	FieldGenesFile  = "genes_file"
	FieldBins       = "bins"
)

// Variability measures for top_n.
const (
	Variance   = "variance"
	Dispersion = "dispersion"
)

// SelectFields is the config of transform.select_features.
var SelectFields = []contract.Field{
	columnField(),
	{Name: FieldMinCounts, Type: contract.Float, Default: 0, Min: contract.Bound(0), Doc: "keep genes whose total over the fit rows is at least this"},
	{Name: FieldMinSamples, Type: contract.Int, Default: 0, Min: contract.Bound(0), Doc: "keep genes with a non-zero value in at least this many fit rows"},
	{Name: FieldTopN, Type: contract.Int, Default: 0, Min: contract.Bound(0), Doc: "then keep the top_n most variable genes (0 = keep all that pass the filters)"},
	{Name: FieldMethod, Type: contract.String, Default: Dispersion, Enum: []string{Variance, Dispersion},
		Doc: "variability for top_n: variance, or dispersion (variance/mean, z-scored within bins of mean expression, as Seurat and scanpy's 'seurat' flavour)"},
	{Name: FieldBins, Type: contract.Int, Default: 20, Min: contract.Bound(1), Advanced: true, Doc: "dispersion: number of mean-expression bins"},
	{Name: FieldGenes, Type: contract.Strings, Doc: "keep exactly these genes, in this order (instead of the filters)"},
	{Name: FieldGenesFile, Type: contract.Path, Doc: "keep the genes listed in this file, one per line (# comments allowed)"},
}

func init() {
	contract.Register(&contract.Kind{
		Name: SelectKind,
		Doc:  "keep a subset of genes: count filters, top-N highly variable genes, or an explicit list",
		Description: `Filters the genes of the tensor column: min_counts and min_samples drop rarely detected genes,
then top_n keeps the most variable ones by variance or normalised dispersion. All statistics come
from the train split when a split column exists, so the choice of genes leaks nothing from
validation or test samples. genes / genes_file keep an explicit list instead; a gene not in the
data is an error naming it (with the closest id). The gene ids in the column metadata follow the
selection; summary.json lists the counts and the first selected genes, params.json all of them.`,
		Version: "1",
		Fields:  SelectFields,
		Inputs:  tab.InputPort,
		Output:  contract.Port{Name: "data", Type: contract.Table, Doc: "the table with the selected genes"},
		New:     newSelect,
		Example: `- id: hvg
  kind: transform.select_features
  inputs: [norm]
  with: {min_samples: 3, top_n: 2000, method: dispersion}`,
	})
}

// SelectOptions configures SelectFeatures.
type SelectOptions struct {
	Column     string
	MinCounts  float64
	MinSamples int
	TopN       int
	Method     string
	Bins       int
	Genes      []string
}

// SelectSummary reports a selection.
type SelectSummary struct {
	FitOn         string   `json:"fit_on"`
	FitRows       int      `json:"fit_rows"`
	GenesIn       int      `json:"genes_in"`
	AfterFilters  int      `json:"genes_after_filters"`
	Selected      int      `json:"genes_selected"`
	Method        string   `json:"method,omitempty"`
	FirstSelected []string `json:"first_selected"`
	Genes         []string `json:"-"`
}

func newSelect(cfg contract.Config) (contract.Stage, error) {
	o := SelectOptions{Column: cfg.String(FieldColumn), MinCounts: cfg.Float(FieldMinCounts), MinSamples: cfg.Int(FieldMinSamples),
		TopN: cfg.Int(FieldTopN), Method: cfg.String(FieldMethod), Bins: cfg.Int(FieldBins), Genes: cfg.Strings(FieldGenes)}
	file := cfg.String(FieldGenesFile)
	explicit := len(o.Genes) > 0 || file != ""
	var issues []contract.Issue
	if len(o.Genes) > 0 && file != "" {
		issues = append(issues, contract.Issue{Path: []string{FieldGenesFile}, Msg: "give genes or genes_file, not both"})
	}
	if explicit && (o.TopN > 0 || o.MinCounts > 0 || o.MinSamples > 0) {
		issues = append(issues, contract.Issue{Path: []string{FieldGenes}, Msg: "an explicit gene list replaces min_counts, min_samples and top_n; drop those"})
	}
	if !explicit && o.TopN == 0 && o.MinCounts == 0 && o.MinSamples == 0 {
		issues = append(issues, contract.Issue{Msg: "nothing to select: set min_counts, min_samples, top_n, genes or genes_file"})
	}
	if len(issues) > 0 {
		return nil, &contract.ConfigError{Issues: issues}
	}
	return contract.StageFunc(func(ctx context.Context, env *contract.Env) error {
		if file != "" {
			genes, err := readGeneList(file)
			if err != nil {
				return fmt.Errorf("stage %q: %w", env.StageID, err)
			}
			o.Genes = genes
		}
		f, err := tab.Load(env)
		if err != nil {
			return err
		}
		s, err := SelectFeatures(f, o)
		if err != nil {
			return fmt.Errorf("stage %q: %w", env.StageID, err)
		}
		env.SetMetric("genes_selected", s.Selected)
		if err := tab.Write(env, f, map[string]any{"genes": s.Genes}); err != nil {
			return err
		}
		return dataset.WriteJSON(env.Out(contract.SummaryFile), s)
	}), nil
}

func readGeneList(path string) ([]string, error) {
	fh, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer fh.Close()
	var out []string
	sc := bufio.NewScanner(fh)
	for sc.Scan() {
		l := strings.TrimSpace(sc.Text())
		if l == "" || strings.HasPrefix(l, "#") {
			continue
		}
		out = append(out, strings.Fields(l)[0])
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s: no gene ids", path)
	}
	return out, nil
}

// SelectFeatures keeps a subset of the genes of the tensor column of f in place.
func SelectFeatures(f *dataset.Frame, o SelectOptions) (*SelectSummary, error) {
	c, genes, err := exprColumn(f, o.Column)
	if err != nil {
		return nil, err
	}
	rows, which, err := fitRows(f)
	if err != nil {
		return nil, err
	}
	s := &SelectSummary{FitOn: which, FitRows: len(rows), GenesIn: len(genes)}
	var keep []int
	if len(o.Genes) > 0 {
		index := make(map[string]int, len(genes))
		for i, g := range genes {
			index[g] = i
		}
		seen := map[string]bool{}
		for _, g := range o.Genes {
			i, ok := index[g]
			if !ok {
				msg := ""
				if sg := contract.Suggest(g, genes); sg != "" {
					msg = fmt.Sprintf(" (did you mean %q?)", sg)
				}
				return nil, fmt.Errorf("gene %q is not in column %q%s", g, o.Column, msg)
			}
			if seen[g] {
				return nil, fmt.Errorf("gene %q is listed twice", g)
			}
			seen[g] = true
			keep = append(keep, i)
		}
		s.AfterFilters = len(keep)
	} else {
		g := len(genes)
		sum := make([]float64, g)
		nz := make([]int, g)
		for _, r := range rows {
			for j, v := range c.T[r*g : (r+1)*g] {
				sum[j] += float64(v)
				if v != 0 {
					nz[j]++
				}
			}
		}
		for j := range genes {
			if sum[j] >= o.MinCounts && nz[j] >= o.MinSamples {
				keep = append(keep, j)
			}
		}
		s.AfterFilters = len(keep)
		if len(keep) == 0 {
			return nil, fmt.Errorf("no gene passes min_counts %g and min_samples %d on the %d %s rows", o.MinCounts, o.MinSamples, len(rows), which)
		}
		if o.TopN > 0 && o.TopN < len(keep) {
			s.Method = o.Method
			score := variability(c.T, g, rows, keep, o.Method, o.Bins)
			order := make([]int, len(keep))
			for i := range order {
				order[i] = i
			}
			sort.SliceStable(order, func(a, b int) bool { return score[order[a]] > score[order[b]] })
			top := make([]int, o.TopN)
			for k := range top {
				top[k] = keep[order[k]]
			}
			sort.Ints(top) // keep the original gene order
			keep = top
		}
	}
	selectGenes(c, genes, keep)
	s.Selected = len(keep)
	s.Genes, _ = exprNames(c)
	s.FirstSelected = firstN(s.Genes, 20)
	return s, nil
}

func exprNames(c *dataset.Column) ([]string, error) {
	_, genes, err := exprColumn(&dataset.Frame{Columns: []*dataset.Column{c}}, c.Name)
	return genes, err
}

// variability scores the genes keep (indices into the g-wide rows) over the fit rows.
func variability(x []float32, g int, rows, keep []int, method string, bins int) []float64 {
	mean := make([]float64, len(keep))
	v := make([]float64, len(keep))
	for _, r := range rows {
		row := x[r*g : (r+1)*g]
		for k, j := range keep {
			mean[k] += float64(row[j])
		}
	}
	n := float64(len(rows))
	for k := range mean {
		mean[k] /= n
	}
	for _, r := range rows {
		row := x[r*g : (r+1)*g]
		for k, j := range keep {
			d := float64(row[j]) - mean[k]
			v[k] += d * d
		}
	}
	for k := range v {
		if n > 1 {
			v[k] /= n - 1
		}
	}
	if method == Variance {
		return v
	}
	// normalised dispersion: log(var/mean), z-scored within bins of log mean
	score := make([]float64, len(keep))
	logMean := make([]float64, len(keep))
	lo, hi := math.Inf(1), math.Inf(-1)
	for k := range keep {
		if mean[k] <= 0 || v[k] <= 0 {
			score[k] = math.Inf(-1)
			continue
		}
		score[k] = math.Log(v[k] / mean[k])
		logMean[k] = math.Log1p(mean[k])
		lo, hi = min(lo, logMean[k]), max(hi, logMean[k])
	}
	if math.IsInf(lo, 1) {
		return score
	}
	width := (hi - lo) / float64(bins)
	bin := make([]int, len(keep))
	type acc struct{ n, s, s2 float64 }
	accs := make([]acc, bins)
	for k := range keep {
		if math.IsInf(score[k], -1) {
			continue
		}
		b := 0
		if width > 0 {
			b = min(bins-1, int((logMean[k]-lo)/width))
		}
		bin[k] = b
		accs[b].n++
		accs[b].s += score[k]
		accs[b].s2 += score[k] * score[k]
	}
	for k := range keep {
		if math.IsInf(score[k], -1) {
			continue
		}
		a := accs[bin[k]]
		m := a.s / a.n
		sd := 0.0
		if a.n > 1 {
			sd = math.Sqrt(max(0, (a.s2-a.n*m*m)/(a.n-1)))
		}
		if sd == 0 {
			// a bin with one gene (or identical dispersions): as scanpy, score it as 1 sd
			score[k] = 1
			continue
		}
		score[k] = (score[k] - m) / sd
	}
	return score
}
