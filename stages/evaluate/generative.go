package evaluate

import (
	"context"
	"fmt"
	"math"
	"slices"

	"github.com/biopipe/biopipe/dataset"
	"github.com/biopipe/biopipe/evaluation"
	"github.com/biopipe/biopipe/models"
	"github.com/biopipe/biopipe/plots"
)

// anomalous marks the rows whose class label is label.
func anomalous(frame *dataset.Frame, rows []int, label string) ([]int, error) {
	classes := frame.Classes()
	k := slices.Index(classes, label)
	if k < 0 {
		return nil, fmt.Errorf("%s %q is not a label of the data (labels: %v)", FieldAnomalyLabel, label, classes)
	}
	cls, _, err := frame.Labels(rows)
	if err != nil {
		return nil, err
	}
	if cls == nil {
		return nil, fmt.Errorf("%s: the data has no class labels", FieldAnomalyLabel)
	}
	out := make([]int, len(cls))
	for i, c := range cls {
		if c == k {
			out[i] = 1
		}
	}
	return out, nil
}

// gridRows is the number of examples per row of a figure grid.
const gridRows = 8

// reconstructionFigures draws, for image or volume inputs, the primary split's first
// examples above their reconstructions and, for a model that samples (a VAE), samples from
// the prior and a latent interpolation between two examples.
func reconstructionFigures(ctx context.Context, m *models.Trained, frame *dataset.Frame, out *evaluation.Output, seed uint64) error {
	res := out.Result
	rows := frame.SplitRows(res.Primary)
	if frame.Split() == nil {
		rows = frame.SplitRows(dataset.Test)
	}
	shape := m.Card().InputShape
	if len(rows) < 2 || (len(shape) != 3 && len(shape) != 4) {
		return nil // not images: the error histogram says it all
	}
	rows = rows[:min(gridRows, len(rows))]
	x, err := frame.Features(rows)
	if err != nil {
		return err
	}
	outs, err := m.Outputs(ctx, x)
	if err != nil {
		return err
	}
	size := dataset.TensorSize(shape)
	lo, hi := valueRange(x.X)
	var tiles [][]float32
	for i := range rows {
		tiles = append(tiles, x.X[i*size:(i+1)*size])
	}
	tiles = append(tiles, outs[0].Values...)
	add := func(file, title, caption string, ex [][]float32) error {
		png, err := plots.ImageGrid(ex, shape, gridRows, lo, hi)
		if err != nil {
			return fmt.Errorf("figure %s: %w", file, err)
		}
		out.Figures[file] = png
		res.Figures = append(res.Figures, evaluation.Figure{File: file, Title: title, Caption: caption})
		return nil
	}
	if err := add("reconstructions.png", "Inputs and reconstructions",
		fmt.Sprintf("Top row: the first %d %s examples; bottom row: their reconstructions by the %s.", len(rows), res.Primary, m.Card().Family), tiles); err != nil {
		return err
	}
	if !m.CanSample() {
		return nil
	}
	prior, err := m.Sample(ctx, 2*gridRows, nil, seed)
	if err != nil {
		return err
	}
	if err := add("prior_samples.png", "Samples from the prior",
		fmt.Sprintf("%d images decoded from latent codes drawn from N(0, I) (seed %d).", prior.N, seed), matrixRows(prior)); err != nil {
		return err
	}
	// Interpolate between the latent codes (means) of the first two examples.
	var latent *models.Output
	for i := range outs {
		if outs[i].Name == "latent" {
			latent = &outs[i]
		}
	}
	if latent == nil {
		return nil
	}
	a, b := latent.Values[0], latent.Values[1]
	z := &dataset.Matrix{N: gridRows, Shape: []int{len(a)}}
	for s := range gridRows {
		w := float32(s) / float32(gridRows-1)
		for j := range a {
			z.X = append(z.X, (1-w)*a[j]+w*b[j])
		}
	}
	path, err := m.SampleFrom(ctx, z, nil, seed)
	if err != nil {
		return err
	}
	return add("latent_interpolation.png", "Latent interpolation",
		fmt.Sprintf("Decoded latent codes on the straight line from the code of %s example 1 (left) to that of example 2 (right).", res.Primary), matrixRows(path))
}

func matrixRows(m *dataset.Matrix) [][]float32 {
	size := dataset.TensorSize(m.Shape)
	out := make([][]float32, m.N)
	for i := range out {
		out[i] = m.X[i*size : (i+1)*size]
	}
	return out
}

// valueRange is the min and max of v (0..1 when v is constant).
func valueRange(v []float32) (float64, float64) {
	lo, hi := math.Inf(1), math.Inf(-1)
	for _, x := range v {
		lo, hi = math.Min(lo, float64(x)), math.Max(hi, float64(x))
	}
	if !(hi > lo) {
		return 0, 1
	}
	return lo, hi
}
