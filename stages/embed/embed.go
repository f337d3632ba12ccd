// Package embed registers the "embed" stage kind: it runs a trained model (an autoencoder's
// or VAE's encoder, or any model with a named extra output) over every row of a table and
// writes the embedding as a table artifact, with the id, label, group, split and other role
// columns carried over, so it can be clustered or plotted in pandas or R, or used as the
// input of another train stage (a classifier on the latent space). It also draws a 2-D
// scatter of the embedding coloured by label (latent.png).
package embed

import (
	"context"
	"fmt"
	"math"
	"os"
	"slices"
	"strconv"
	"strings"

	"gonum.org/v1/gonum/mat"

	"github.com/biopipe/biopipe/contract"
	"github.com/biopipe/biopipe/dataset"
	"github.com/biopipe/biopipe/models"
	_ "github.com/biopipe/biopipe/models/all" // every model family, for models.Load
)

// KindName is the stage kind's name.
const KindName = "embed"

// Ports.
const (
	PortModel = "model"
	PortData  = "data"
)

// Field names.
const (
	FieldOutput    = "output"
	FieldFormat    = "format"
	FieldPrefix    = "prefix"
	FieldColumn    = "column"
	FieldPlot      = "plot"
	FieldMaxPoints = "max_points"
)

// Formats and plot modes.
const (
	FormatColumns = "columns"
	FormatTensor  = "tensor"
	PlotAuto      = "auto"
	PlotLatent    = "latent"
	PlotPCA       = "pca"
	PlotNone      = "none"
)

// FigureFile is the scatter plot's file name inside the artifact.
const FigureFile = "latent.png"

// Fields is the embed kind's config spec.
var Fields = []contract.Field{
	{Name: FieldOutput, Type: contract.String, Default: "latent",
		Doc: "the model output to export (autoencoder, vae and encoder models name their code \"latent\"; the VAE's is its mean)"},
	{Name: FieldFormat, Type: contract.String, Default: FormatColumns, Enum: []string{FormatColumns, FormatTensor},
		Doc: "columns: one float column per dimension (prefix0, prefix1, ...); tensor: one tensor column"},
	{Name: FieldPrefix, Type: contract.String, Default: "z", Doc: "columns format: name prefix of the dimension columns"},
	{Name: FieldColumn, Type: contract.String, Default: "latent", Doc: "tensor format: name of the tensor column"},
	{Name: FieldPlot, Type: contract.String, Default: PlotAuto, Enum: []string{PlotAuto, PlotLatent, PlotPCA, PlotNone},
		Doc: "2-D scatter coloured by label: latent (the first two dimensions), pca (the first two principal components of the embedding, fitted on the train split), auto (latent for 2 dimensions or fewer, else pca) or none"},
	{Name: FieldMaxPoints, Type: contract.Int, Default: 20000, Min: contract.Bound(100),
		Doc: "plot at most this many rows (an even, deterministic subsample); the table always holds every row"},
}

func init() {
	contract.Register(&contract.Kind{
		Name: KindName,
		Doc:  "export a model's latent code (autoencoder/vae) per row as a table, with a 2-D scatter",
		Description: `Runs the model on every row of the table and writes the chosen output (by default the
"latent" code of an autoencoder, vae or encoder model) as a new table: the role columns of the input
(id, label, group, split, fold, batch and kept annotations) followed by the embedding, as float
columns z0, z1, ... or one tensor column. Label, task and classes carry over, so a train stage can fit
a classifier on the latent space and evaluate can score it. latent.png is a 2-D scatter of the
embedding coloured by label (the first two dimensions, or the first two principal components fitted
on the train split); summary.json lists it under "figures" with the embedding's size, the per-split
counts and, for the PCA, the explained variance.`,
		Version:     "1",
		Fields:      Fields,
		UsesBackend: true,
		Inputs: []contract.Port{
			{Name: PortModel, Type: contract.Model, Doc: "a trained model with the output to export"},
			{Name: PortData, Type: contract.Table, Doc: "the rows to embed (the same features as the model was trained on)"},
		},
		Output: contract.Port{Name: "data", Type: contract.Table, Doc: "data.arrow (role columns + embedding), latent.png, summary.json"},
		New:    New,
		Example: `- id: embed
  kind: embed
  inputs: [vae, scale]
  with: {output: latent, plot: auto}`,
	})
}

// Stage is a configured embed stage.
type Stage struct {
	Output    string
	Format    string
	Prefix    string
	Column    string
	Plot      string
	MaxPoints int
}

// New builds the stage from a validated config.
func New(cfg contract.Config) (contract.Stage, error) {
	s := &Stage{
		Output: cfg.String(FieldOutput), Format: cfg.String(FieldFormat), Prefix: cfg.String(FieldPrefix),
		Column: cfg.String(FieldColumn), Plot: cfg.String(FieldPlot), MaxPoints: cfg.Int(FieldMaxPoints),
	}
	var issues []contract.Issue
	if s.Output == "" {
		issues = append(issues, contract.Issue{Path: []string{FieldOutput}, Msg: "must name a model output"})
	}
	if s.Format == FormatColumns && s.Prefix == "" {
		issues = append(issues, contract.Issue{Path: []string{FieldPrefix}, Msg: "must not be empty"})
	}
	if s.Format == FormatTensor && s.Column == "" {
		issues = append(issues, contract.Issue{Path: []string{FieldColumn}, Msg: "must not be empty"})
	}
	if len(issues) > 0 {
		return nil, &contract.ConfigError{Issues: issues}
	}
	return s, nil
}

// Figure describes a PNG in the artifact (the same shape as an evaluate figure).
type Figure = contract.SummaryFigure

// Summary is written to summary.json.
type Summary struct {
	Model     string         `json:"model"`
	Output    string         `json:"output"`
	Rows      int            `json:"rows"`
	Dims      int            `json:"latent_dims"`
	Columns   []string       `json:"columns"`
	PerSplit  map[string]int `json:"rows_per_split,omitempty"`
	Plot      string         `json:"plot,omitempty"` // latent or pca
	Plotted   int            `json:"plotted_rows,omitempty"`
	Explained []float64      `json:"pca_explained_variance_ratio,omitempty"`
	Figures   []Figure       `json:"figures,omitempty"`
}

// Run embeds every row of the input table.
func (s *Stage) Run(ctx context.Context, env *contract.Env) error {
	mi, err := env.One(PortModel)
	if err != nil {
		return err
	}
	di, err := env.One(PortData)
	if err != nil {
		return err
	}
	path := di.File(contract.DataFile)
	frame, err := dataset.ReadFile(path)
	if err != nil {
		return fmt.Errorf("stage %q: %w", env.StageID, err)
	}
	m, err := models.Load(mi.Dir, env.Backend)
	if err != nil {
		return fmt.Errorf("stage %q: %w", env.StageID, err)
	}
	out, sum, err := s.Embed(ctx, m, frame)
	if err != nil {
		return fmt.Errorf("stage %q: %s: %w", env.StageID, path, err)
	}
	if err := out.WriteFile(env.Out(contract.DataFile)); err != nil {
		return fmt.Errorf("stage %q: %w", env.StageID, err)
	}
	if s.Plot != PlotNone {
		png, err := s.scatter(out, sum)
		if err != nil {
			return fmt.Errorf("stage %q: %w", env.StageID, err)
		}
		if err := os.WriteFile(env.Out(FigureFile), png, 0o644); err != nil {
			return fmt.Errorf("stage %q: %w", env.StageID, err)
		}
	}
	env.SetMetric("latent_dims", sum.Dims)
	env.SetMetric("rows", sum.Rows)
	return dataset.WriteJSON(env.Out(contract.SummaryFile), sum)
}

// Embed runs the model on every row of frame and returns the embedding table (role columns
// first, then the embedding) and its summary (without the figure).
func (s *Stage) Embed(ctx context.Context, m *models.Trained, frame *dataset.Frame) (*dataset.Frame, *Summary, error) {
	card := m.Card()
	if !slices.Contains(card.Outputs, s.Output) {
		return nil, nil, fmt.Errorf("model %q has no output %q (its outputs: %s); train an autoencoder, vae or encoder model, or name one of those outputs in %q",
			card.Family, s.Output, strings.Join(card.Outputs, ", "), FieldOutput)
	}
	x, err := frame.Features(nil)
	if err != nil {
		return nil, nil, err
	}
	outs, err := m.Outputs(ctx, x)
	if err != nil {
		return nil, nil, err
	}
	var emb models.Output
	for _, o := range outs {
		if o.Name == s.Output {
			emb = o
		}
	}
	dims := dataset.TensorSize(emb.Shape)
	n := frame.NumRows()
	res := &dataset.Frame{Meta: map[string]string{}}
	for _, k := range []string{dataset.MetaLabel, dataset.MetaGroup, dataset.MetaID, dataset.MetaTask, dataset.MetaClasses, dataset.MetaSource} {
		if v, ok := frame.Meta[k]; ok {
			res.Meta[k] = v
		}
	}
	roles := frame.RoleColumns()
	for _, c := range frame.Columns {
		if slices.Contains(roles, c.Name) {
			res.Columns = append(res.Columns, c)
		}
	}
	sum := &Summary{Model: card.Family, Output: s.Output, Rows: n, Dims: dims}
	switch s.Format {
	case FormatTensor:
		if res.Col(s.Column) != nil {
			return nil, nil, fmt.Errorf("the embedding column %q would replace the role column of that name; choose another %q", s.Column, FieldColumn)
		}
		t := make([]float32, 0, n*dims)
		for _, row := range emb.Values {
			t = append(t, row...)
		}
		res.Columns = append(res.Columns, &dataset.Column{Name: s.Column, Kind: dataset.Tensor, T: t, Shape: slices.Clone(emb.Shape)})
		sum.Columns = []string{s.Column}
	default:
		for j := range dims {
			name := s.Prefix + strconv.Itoa(j)
			if res.Col(name) != nil {
				return nil, nil, fmt.Errorf("the embedding column %q would replace the role column of that name; choose another %q", name, FieldPrefix)
			}
			col := &dataset.Column{Name: name, Kind: dataset.Float, F: make([]float64, n)}
			for i, row := range emb.Values {
				col.F[i] = float64(row[j])
			}
			res.Columns = append(res.Columns, col)
			sum.Columns = append(sum.Columns, name)
		}
	}
	if err := res.Validate(); err != nil {
		return nil, nil, err
	}
	if sc := frame.Split(); sc != nil {
		sum.PerSplit = map[string]int{}
		for _, v := range sc.S {
			sum.PerSplit[v]++
		}
	}
	return res, sum, nil
}

// matrix returns the embedding of every row as an n x dims matrix.
func matrix(f *dataset.Frame, cols []string) *mat.Dense {
	n := f.NumRows()
	if len(cols) == 1 && f.Col(cols[0]).Kind == dataset.Tensor {
		c := f.Col(cols[0])
		d := dataset.TensorSize(c.Shape)
		data := make([]float64, n*d)
		for i, v := range c.T {
			data[i] = float64(v)
		}
		return mat.NewDense(n, d, data)
	}
	m := mat.NewDense(n, len(cols), nil)
	for j, name := range cols {
		for i, v := range f.Col(name).F {
			m.Set(i, j, v)
		}
	}
	return m
}

// project returns the 2-D coordinates to plot: the first two dimensions (a second axis of
// zeros for a 1-D embedding), or the first two principal components fitted on fitRows.
func project(z *mat.Dense, mode string, fitRows []int) (x, y []float64, explained []float64, err error) {
	n, d := z.Dims()
	x, y = make([]float64, n), make([]float64, n)
	if mode == PlotLatent {
		for i := range n {
			x[i] = z.At(i, 0)
			if d > 1 {
				y[i] = z.At(i, 1)
			}
		}
		return x, y, nil, nil
	}
	if len(fitRows) < 2 {
		return nil, nil, nil, fmt.Errorf("PCA of the embedding needs at least 2 rows to fit on, got %d", len(fitRows))
	}
	mean := make([]float64, d)
	for _, r := range fitRows {
		for j := range d {
			mean[j] += z.At(r, j)
		}
	}
	for j := range mean {
		mean[j] /= float64(len(fitRows))
	}
	fit := mat.NewDense(len(fitRows), d, nil)
	for i, r := range fitRows {
		for j := range d {
			fit.Set(i, j, z.At(r, j)-mean[j])
		}
	}
	var svd mat.SVD
	if !svd.Factorize(fit, mat.SVDThinV) {
		return nil, nil, nil, fmt.Errorf("PCA of the embedding: SVD did not converge")
	}
	var v mat.Dense
	svd.VTo(&v)
	sv := svd.Values(nil)
	var total float64
	for _, s := range sv {
		total += s * s
	}
	k := min(2, len(sv))
	for c := range k {
		if total > 0 {
			explained = append(explained, sv[c]*sv[c]/total)
		}
		// A deterministic sign: the largest loading of each component is positive.
		sign := 1.0
		best := 0.0
		for j := range d {
			if a := math.Abs(v.At(j, c)); a > best {
				best, sign = a, math.Copysign(1, v.At(j, c))
			}
		}
		dst := x
		if c == 1 {
			dst = y
		}
		for i := range n {
			var s float64
			for j := range d {
				s += (z.At(i, j) - mean[j]) * v.At(j, c)
			}
			dst[i] = sign * s
		}
	}
	return x, y, explained, nil
}
