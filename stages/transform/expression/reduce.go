package expression

import (
	"context"
	"fmt"
	"math"
	"os"
	"slices"
	"sort"

	"gonum.org/v1/gonum/mat"

	"github.com/biopipe/biopipe/contract"
	"github.com/biopipe/biopipe/dataset"
	"github.com/biopipe/biopipe/io/expr"
	"github.com/biopipe/biopipe/stages/transform/internal/tab"
)

// ReduceKind is the registered name of the dimensionality-reduction stage kind.
const ReduceKind = "transform.reduce"

// Reduction config fields.
const (
	FieldComponents = "n_components"
	FieldCenter     = "center"
	FieldScale      = "scale"
	FieldOutput     = "output"
	FieldPrefix     = "prefix"
	FieldPlot       = "plot"
)

// Output layouts of transform.reduce.
const (
	OutColumns = "columns"
	OutTensor  = "tensor"
)

// ComponentsFile holds the gene loadings of every component (one row per gene).
const ComponentsFile = "components.arrow"

// ReduceFields is the config of transform.reduce.
var ReduceFields = []contract.Field{
	columnField(),
	{Name: FieldComponents, Type: contract.Int, Default: 50, Min: contract.Bound(1), Doc: "number of principal components (at most the number of fit rows and of genes)"},
	{Name: FieldCenter, Type: contract.Bool, Default: true, Doc: "subtract the per-gene mean (fitted on the train split)"},
	{Name: FieldScale, Type: contract.Bool, Default: false, Doc: "divide each gene by its sd (fitted on the train split) before the PCA"},
	{Name: FieldOutput, Type: contract.String, Default: OutColumns, Enum: []string{OutColumns, OutTensor},
		Doc: "columns: one float column per component (PC1, PC2, ...), handy in pandas and plots; tensor: replace the column by a tensor of the components"},
	{Name: FieldPrefix, Type: contract.String, Default: "PC", Doc: "name prefix of the component columns"},
	{Name: FieldPlot, Type: contract.Bool, Default: true, Doc: "draw pca.png (PC1 against PC2, coloured by label) and scree.png for the report"},
}

func init() {
	contract.Register(&contract.Kind{
		Name: ReduceKind,
		Doc:  "principal component analysis (gonum) of the expression vectors, fitted on the train split",
		Description: `Fits a PCA on the train split (all rows without a split column) and projects every row onto
the first n_components components. Component signs are fixed so that each component's largest
gene loading is positive, so the output does not depend on the solver. summary.json holds the
explained variance (ratio and cumulative) for the report and the top genes of the first components;
components.arrow the loadings (one row per gene, one column per component) and the fitted means.`,
		Version: "1",
		Fields:  ReduceFields,
		Inputs:  tab.InputPort,
		Output:  contract.Port{Name: "data", Type: contract.Table, Doc: "the table with the component scores in place of the expression column"},
		New:     newReduce,
		Example: `- id: pca
  kind: transform.reduce
  inputs: [hvg]
  with: {n_components: 20}`,
	})
}

// ReduceOptions configures PCA.
type ReduceOptions struct {
	Column     string
	Components int
	Center     bool
	Scale      bool
	Output     string
	Prefix     string
	Plot       bool
}

// ReduceSummary is written to summary.json.
type ReduceSummary struct {
	Method          string              `json:"method"`
	FitOn           string              `json:"fit_on"`
	FitRows         int                 `json:"fit_rows"`
	Genes           int                 `json:"genes"`
	Components      int                 `json:"n_components"`
	Explained       []float64           `json:"explained_variance"`
	ExplainedRatio  []float64           `json:"explained_variance_ratio"`
	Cumulative      []float64           `json:"cumulative_variance_ratio"`
	TotalVariance   float64             `json:"total_variance"`
	TopGenes        map[string][]string `json:"top_genes"` // component -> genes with the largest |loading|
	ComponentsNames []string            `json:"component_names"`
	Figures         []Figure            `json:"figures,omitempty"`
}

// PCA is a fitted principal component analysis.
type PCA struct {
	Genes      []string
	Mean, SD   []float64   // per gene (SD all 1 without scaling)
	Components [][]float64 // k x genes, unit vectors
	Summary    ReduceSummary
	scores     []float32 // of the last Reduce, row-major rows x components
}

func newReduce(cfg contract.Config) (contract.Stage, error) {
	o := ReduceOptions{Column: cfg.String(FieldColumn), Components: cfg.Int(FieldComponents), Center: cfg.Bool(FieldCenter),
		Scale: cfg.Bool(FieldScale), Output: cfg.String(FieldOutput), Prefix: cfg.String(FieldPrefix), Plot: cfg.Bool(FieldPlot)}
	return contract.StageFunc(func(ctx context.Context, env *contract.Env) error {
		f, err := tab.Load(env)
		if err != nil {
			return err
		}
		p, err := Reduce(f, o)
		if err != nil {
			return fmt.Errorf("stage %q: %w", env.StageID, err)
		}
		s := &p.Summary
		if o.Plot && s.Components >= 2 {
			png, caption, err := pcaScatter(f, p.scores, s.Components, s)
			if err != nil {
				return fmt.Errorf("stage %q: pca.png: %w", env.StageID, err)
			}
			if err := os.WriteFile(env.Out("pca.png"), png, 0o644); err != nil {
				return err
			}
			s.Figures = append(s.Figures, Figure{File: "pca.png", Title: "PCA", Caption: caption})
		}
		if o.Plot {
			png, err := scree(s)
			if err != nil {
				return fmt.Errorf("stage %q: scree.png: %w", env.StageID, err)
			}
			if err := os.WriteFile(env.Out("scree.png"), png, 0o644); err != nil {
				return err
			}
			s.Figures = append(s.Figures, Figure{File: "scree.png", Title: "PCA explained variance",
				Caption: fmt.Sprintf("Share of the variance of %d genes explained by each of %d components, and cumulatively (%.1f%%).", s.Genes, s.Components, 100*s.Cumulative[len(s.Cumulative)-1])})
		}
		if s.Components < o.Components {
			env.Log.Warn("fewer components than asked", "stage", env.StageID, "asked", o.Components, "got", s.Components)
		}
		env.SetMetric("pca_variance_explained", s.Cumulative[len(s.Cumulative)-1])
		if err := f.WriteFile(env.Out(contract.DataFile)); err != nil {
			return err
		}
		if err := p.componentsFrame().WriteFile(env.Out(ComponentsFile)); err != nil {
			return err
		}
		return dataset.WriteJSON(env.Out(contract.SummaryFile), s)
	}), nil
}

func (p *PCA) componentsFrame() *dataset.Frame {
	f := dataset.New()
	f.Meta[dataset.MetaID] = "gene"
	f.Set(&dataset.Column{Name: "gene", Kind: dataset.String, S: p.Genes})
	f.Set(&dataset.Column{Name: "mean", Kind: dataset.Float, F: p.Mean})
	f.Set(&dataset.Column{Name: "sd", Kind: dataset.Float, F: p.SD})
	for k, comp := range p.Components {
		f.Set(&dataset.Column{Name: p.Summary.ComponentsNames[k], Kind: dataset.Float, F: comp})
	}
	return f
}

// Reduce fits a PCA on the fit rows of f and replaces the tensor column by the scores.
func Reduce(f *dataset.Frame, o ReduceOptions) (*PCA, error) {
	c, genes, err := exprColumn(f, o.Column)
	if err != nil {
		return nil, err
	}
	rows, which, err := fitRows(f)
	if err != nil {
		return nil, err
	}
	p, err := FitPCA(c.T, genes, rows, o)
	if err != nil {
		return nil, err
	}
	p.Summary.FitOn = which
	scores := p.Transform(c.T, c.Len())
	p.scores = scores
	k := len(p.Components)
	if o.Output == OutTensor {
		c.T = scores
		c.Shape = []int{k}
		meta := map[string]string{}
		for key, v := range c.Meta {
			meta[key] = v
		}
		c.Meta = expr.SetFeatureNames(meta, p.Summary.ComponentsNames)
		return p, nil
	}
	idx := f.Index(c.Name)
	n := c.Len()
	var cols []*dataset.Column
	for j := range k {
		name := p.Summary.ComponentsNames[j]
		if f.Col(name) != nil && name != c.Name {
			return nil, fmt.Errorf("output column %q exists already; set prefix", name)
		}
		col := &dataset.Column{Name: name, Kind: dataset.Float, F: make([]float64, n)}
		for r := range n {
			col.F[r] = float64(scores[r*k+j])
		}
		cols = append(cols, col)
	}
	f.Columns = slices.Concat(f.Columns[:idx], cols, f.Columns[idx+1:])
	return p, f.Validate()
}

// FitPCA fits the PCA on the given rows of x (row-major, len(genes) values per row).
func FitPCA(x []float32, genes []string, rows []int, o ReduceOptions) (*PCA, error) {
	g := len(genes)
	n := len(rows)
	k := o.Components
	if lim := min(n, g); k > lim {
		k = lim
	}
	if n < 2 {
		return nil, fmt.Errorf("PCA needs at least 2 fit rows, got %d", n)
	}
	p := &PCA{Genes: genes, Mean: make([]float64, g), SD: make([]float64, g)}
	for _, r := range rows {
		for j, v := range x[r*g : (r+1)*g] {
			p.Mean[j] += float64(v)
		}
	}
	for j := range p.Mean {
		p.Mean[j] /= float64(n)
		if !o.Center {
			p.Mean[j] = 0
		}
	}
	for j := range p.SD {
		p.SD[j] = 1
	}
	if o.Scale {
		sd := make([]float64, g)
		for _, r := range rows {
			for j, v := range x[r*g : (r+1)*g] {
				d := float64(v) - p.Mean[j]
				sd[j] += d * d
			}
		}
		for j := range sd {
			sd[j] = math.Sqrt(sd[j] / float64(n-1))
			if sd[j] > 0 {
				p.SD[j] = sd[j]
			}
		}
	}
	a := mat.NewDense(n, g, nil)
	for i, r := range rows {
		row := a.RawRowView(i)
		for j, v := range x[r*g : (r+1)*g] {
			row[j] = (float64(v) - p.Mean[j]) / p.SD[j]
		}
	}
	// eigen-decompose the smaller Gram matrix: A Aᵀ (n x n) or Aᵀ A (g x g)
	var vals []float64
	var vecs mat.Dense
	var eig mat.EigenSym
	var gram mat.SymDense
	small := n <= g
	if small {
		gram.SymOuterK(1, a)
	} else {
		gram.SymOuterK(1, a.T())
	}
	if ok := eig.Factorize(&gram, true); !ok {
		return nil, fmt.Errorf("PCA: eigen-decomposition did not converge")
	}
	vals = eig.Values(nil)
	eig.VectorsTo(&vecs)
	order := make([]int, len(vals))
	for i := range order {
		order[i] = i
	}
	sort.SliceStable(order, func(i, j int) bool { return vals[order[i]] > vals[order[j]] })
	var total float64
	for _, v := range vals {
		total += max(v, 0)
	}
	s := &p.Summary
	s.Method, s.FitRows, s.Genes = "pca", n, g
	s.TotalVariance = total / float64(n-1)
	s.TopGenes = map[string][]string{}
	prefix := o.Prefix
	if prefix == "" {
		prefix = "PC"
	}
	for c := 0; c < k; c++ {
		ev := max(vals[order[c]], 0)
		comp := make([]float64, g)
		if small {
			// v = Aᵀ u / sigma
			sigma := math.Sqrt(ev)
			if sigma == 0 {
				break
			}
			u := vecs.ColView(order[c])
			var v mat.VecDense
			v.MulVec(a.T(), u)
			for j := range comp {
				comp[j] = v.AtVec(j) / sigma
			}
		} else {
			for j := range comp {
				comp[j] = vecs.At(j, order[c])
			}
		}
		// sign: the largest |loading| is positive
		best := 0
		for j := range comp {
			if math.Abs(comp[j]) > math.Abs(comp[best]) {
				best = j
			}
		}
		if comp[best] < 0 {
			for j := range comp {
				comp[j] = -comp[j]
			}
		}
		p.Components = append(p.Components, comp)
		name := fmt.Sprintf("%s%d", prefix, c+1)
		s.ComponentsNames = append(s.ComponentsNames, name)
		s.Explained = append(s.Explained, ev/float64(n-1))
		ratio := 0.0
		if total > 0 {
			ratio = ev / total
		}
		s.ExplainedRatio = append(s.ExplainedRatio, ratio)
		cum := ratio
		if c > 0 {
			cum += s.Cumulative[c-1]
		}
		s.Cumulative = append(s.Cumulative, cum)
		if c < 5 {
			idx := make([]int, g)
			for j := range idx {
				idx[j] = j
			}
			sort.SliceStable(idx, func(i, j int) bool { return math.Abs(comp[idx[i]]) > math.Abs(comp[idx[j]]) })
			var top []string
			for _, j := range idx[:min(10, g)] {
				top = append(top, genes[j])
			}
			s.TopGenes[name] = top
		}
	}
	s.Components = len(p.Components)
	if s.Components == 0 {
		return nil, fmt.Errorf("PCA: the fit rows have no variance")
	}
	return p, nil
}

// Transform projects n rows of x onto the components (row-major n x k float32 scores).
func (p *PCA) Transform(x []float32, n int) []float32 {
	g := len(p.Genes)
	k := len(p.Components)
	out := make([]float32, n*k)
	buf := make([]float64, g)
	for r := range n {
		for j, v := range x[r*g : (r+1)*g] {
			buf[j] = (float64(v) - p.Mean[j]) / p.SD[j]
		}
		for c, comp := range p.Components {
			var s float64
			for j, w := range comp {
				s += buf[j] * w
			}
			out[r*k+c] = float32(s)
		}
	}
	return out
}
