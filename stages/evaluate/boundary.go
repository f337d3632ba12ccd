package evaluate

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sort"
	"strings"

	"github.com/biopipe/biopipe/contract"
	"github.com/biopipe/biopipe/dataset"
	"github.com/biopipe/biopipe/evaluation"
	"github.com/biopipe/biopipe/metrics"
	"github.com/biopipe/biopipe/models"
	"github.com/biopipe/biopipe/models/tensorboard"
	"github.com/biopipe/biopipe/plots"
)

// boundaryGrid is the number of grid cells per axis of the decision-boundary figure.
const boundaryGrid = 150

// BoundaryFile is the decision-boundary figure of a two-feature classifier.
const BoundaryFile = "decision_boundary.png"

// decisionBoundary draws, for a classifier of exactly two input features, the class it
// predicts over the plane spanned by the evaluated rows (with a 10% margin), with the
// primary split's rows on top coloured by their true class. Other models get no figure.
func decisionBoundary(ctx context.Context, model *models.Trained, frame *dataset.Frame, preds map[string]*evaluation.Predictions, opt evaluation.Options, out *evaluation.Output) error {
	card := model.Card()
	if opt.Task != "classification" || len(card.InputShape) != 1 || card.InputShape[0] != 2 {
		return nil
	}
	primary := out.Result.Primary
	p := preds[primary]
	if p == nil {
		return nil
	}
	var all []int
	for _, s := range out.Result.Splits {
		all = append(all, preds[s].Rows...)
	}
	x, err := frame.Features(all)
	if err != nil {
		return err
	}
	x0, x1, y0, y1 := math.Inf(1), math.Inf(-1), math.Inf(1), math.Inf(-1)
	for i := range x.N {
		a, b := float64(x.X[2*i]), float64(x.X[2*i+1])
		x0, x1, y0, y1 = math.Min(x0, a), math.Max(x1, a), math.Min(y0, b), math.Max(y1, b)
	}
	pad := func(lo, hi float64) (float64, float64) {
		m := 0.1 * (hi - lo)
		if m == 0 {
			m = 1
		}
		return lo - m, hi + m
	}
	x0, x1 = pad(x0, x1)
	y0, y1 = pad(y0, y1)
	r := plots.Regions{X0: x0, X1: x1, Y0: y0, Y1: y1, NX: boundaryGrid, NY: boundaryGrid}
	grid := &dataset.Matrix{N: r.NX * r.NY, Shape: []int{2}, X: make([]float32, 0, 2*r.NX*r.NY)}
	for j := range r.NY {
		for i := range r.NX {
			grid.X = append(grid.X,
				float32(x0+(float64(i)+0.5)*(x1-x0)/float64(r.NX)),
				float32(y0+(float64(j)+0.5)*(y1-y0)/float64(r.NY)))
		}
	}
	probs, err := model.Predict(ctx, grid)
	if err != nil {
		return err
	}
	thr := 0.5
	if th := out.Result.Threshold; th != nil {
		thr = th.Value
	}
	pf := make([][]float64, len(probs))
	for i, row := range probs {
		pf[i] = make([]float64, len(row))
		for c, v := range row {
			pf[i][c] = float64(v)
		}
	}
	r.Class = metrics.Predict(pf, thr)
	px, err := frame.Features(p.Rows)
	if err != nil {
		return err
	}
	groups := make([]plots.Group, len(opt.Classes))
	for c, name := range opt.Classes {
		groups[c].Name = name
	}
	for i, c := range p.Truth {
		groups[c].X = append(groups[c].X, float64(px.X[2*i]))
		groups[c].Y = append(groups[c].Y, float64(px.X[2*i+1]))
	}
	names := x.Names
	if len(names) != 2 {
		names = []string{"feature 1", "feature 2"}
	}
	png, err := plots.DecisionBoundary(fmt.Sprintf("Decision regions of %s (%s points)", card.Family, primary), names[0], names[1], r, groups)
	if err != nil {
		return err
	}
	out.Figures[BoundaryFile] = png
	out.Result.Figures = append(out.Result.Figures, evaluation.Figure{File: BoundaryFile, Title: "Decision boundary of " + card.Family,
		Caption: fmt.Sprintf("The class the %s model predicts at each point of the plane of its two input features (shaded), with the %s split's examples coloured by their true class.", card.Family, primary)})
	return nil
}

// writeTensorBoard writes the figures (confusion matrix, curves, decision regions ...) as
// images and the evaluated splits' metrics as scalars to the run's TensorBoard folder for
// this stage, at the step of the model's last epoch.
func writeTensorBoard(env *contract.Env, out *evaluation.Output, step int64) error {
	dir := tensorboard.RunDir(env.RunDir, env.StageID)
	if dir == "" {
		return nil
	}
	w, err := tensorboard.Create(dir)
	if err != nil {
		return err
	}
	var errs []error
	for _, split := range out.Result.Splits {
		s := out.Result.PerSplit[split]
		names := make([]string, 0, len(s.Metrics))
		for name := range s.Metrics {
			names = append(names, name)
		}
		sort.Strings(names)
		for _, name := range names {
			if v := s.Metrics[name].Value; !math.IsNaN(v) && !math.IsInf(v, 0) {
				errs = append(errs, w.Scalar("eval/"+split+"/"+name, step, v))
			}
		}
	}
	files := make([]string, 0, len(out.Figures))
	for f := range out.Figures {
		files = append(files, f)
	}
	sort.Strings(files)
	for _, f := range files {
		errs = append(errs, w.Image("figures/"+strings.TrimSuffix(f, ".png"), step, out.Figures[f]))
	}
	errs = append(errs, w.Close())
	return errors.Join(errs...)
}
