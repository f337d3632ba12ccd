package evaluate

import (
	"context"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/biopipe/biopipe/dataset"
	"github.com/biopipe/biopipe/evaluation"
	"github.com/biopipe/biopipe/io/nifti"
	"github.com/biopipe/biopipe/models"
	"github.com/biopipe/biopipe/plots"
)

// segPrediction is a segmentation model's output on one split beside the counts in
// evaluation.Predictions: per row the predicted class of every voxel and the
// probabilities (SegChannels per voxel), for predictions.arrow and the slice figure.
type segPrediction struct {
	spatial []int // the mask's shape
	labels  [][]float32
	probs   [][]float32
}

// predictSegmentation runs a segmentation model on rows: the predicted class per voxel is
// the argmax of the softmax, or foreground where the sigmoid is at or above threshold.
func predictSegmentation(ctx context.Context, model *models.Trained, frame *dataset.Frame, rows []int, opt evaluation.Options, threshold float64) (*evaluation.Predictions, *segPrediction, error) {
	x, err := frame.Features(rows)
	if err != nil {
		return nil, nil, err
	}
	truth, err := frame.Masks(rows, x.Shape)
	if err != nil {
		return nil, nil, err
	}
	probs, err := model.Predict(ctx, x)
	if err != nil {
		return nil, nil, err
	}
	k := len(opt.Classes)
	ch := models.SegChannels(k)
	vox := models.MaskSize(x.Shape)
	p := &evaluation.Predictions{Rows: rows}
	sp := &segPrediction{spatial: x.Shape[:len(x.Shape)-1], probs: probs}
	tl, pl := make([]int, vox), make([]int, vox)
	for i, row := range probs {
		if len(row) != vox*ch {
			return nil, nil, fmt.Errorf("row %d: the model returned %d values, want %d voxels x %d channels", rows[i], len(row), vox, ch)
		}
		labels := make([]float32, vox)
		for v := range vox {
			tl[v] = int(truth[i*vox+v])
			best := 0
			if ch == 1 {
				if float64(row[v]) >= threshold {
					best = 1
				}
			} else {
				for c := 1; c < ch; c++ {
					if row[v*ch+c] > row[v*ch+best] {
						best = c
					}
				}
			}
			pl[v] = best
			labels[v] = float32(best)
		}
		c, err := evaluation.SegCounts(tl, pl, k)
		if err != nil {
			return nil, nil, fmt.Errorf("row %d: %w", rows[i], err)
		}
		p.Seg = append(p.Seg, c)
		sp.labels = append(sp.labels, labels)
	}
	if g := frame.Group(); g != nil {
		for _, r := range rows {
			p.Groups = append(p.Groups, g.Text(r))
		}
	}
	return p, sp, nil
}

// SliceCases is the number of cases the segmentation figure shows.
const SliceCases = 4

// segmentationSlices draws the first SliceCases cases of the primary split: for a volume
// the slice along the first spatial axis (D) with the most true-mask voxels; image, true
// mask and predicted mask.
func segmentationSlices(frame *dataset.Frame, preds map[string]*evaluation.Predictions, segs map[string]*segPrediction, out *evaluation.Output) error {
	res := out.Result
	p, sp := preds[res.Primary], segs[res.Primary]
	if p == nil || sp == nil || len(sp.spatial) < 2 || len(sp.spatial) > 3 {
		return nil
	}
	rows := p.Rows[:min(SliceCases, len(p.Rows))]
	x, err := frame.Features(rows)
	if err != nil {
		return err
	}
	truth, err := frame.Masks(rows, x.Shape)
	if err != nil {
		return err
	}
	ch := x.Shape[len(x.Shape)-1]
	vox := models.MaskSize(x.Shape)
	h, w := sp.spatial[len(sp.spatial)-2], sp.spatial[len(sp.spatial)-1]
	depth := vox / (h * w)
	lo, hi := math.Inf(1), math.Inf(-1)
	var slices []plots.SegSlice
	var where []string
	for i := range rows {
		best, bestN := depth/2, -1
		for d := range depth {
			n := 0
			for j := range h * w {
				if truth[i*vox+d*h*w+j] > 0 {
					n++
				}
			}
			if n > bestN {
				best, bestN = d, n
			}
		}
		s := plots.SegSlice{H: h, W: w, Image: make([]float32, h*w), Truth: make([]int, h*w), Pred: make([]int, h*w)}
		for j := range h * w {
			v := best*h*w + j
			s.Image[j] = x.X[(i*vox+v)*ch] // channel 0
			s.Truth[j] = int(truth[i*vox+v])
			s.Pred[j] = int(sp.labels[i][v])
			lo, hi = math.Min(lo, float64(s.Image[j])), math.Max(hi, float64(s.Image[j]))
		}
		slices = append(slices, s)
		if depth > 1 {
			where = append(where, fmt.Sprintf("row %d slice %d", rows[i], best))
		} else {
			where = append(where, fmt.Sprintf("row %d", rows[i]))
		}
	}
	if hi <= lo {
		hi = lo + 1
	}
	png, err := plots.SegmentationSlices(slices, lo, hi)
	if err != nil {
		return err
	}
	const file = "segmentation_slices.png"
	out.Figures[file] = png
	what := "image"
	if depth > 1 {
		what = "slice along the first axis (D) with the largest true mask"
	}
	res.Figures = append(res.Figures, evaluation.Figure{File: file, Title: "Segmentations",
		Caption: fmt.Sprintf("The first %d %s cases (%s), one %s per row: the image (channel 0), the true mask over it, and the predicted mask over it (class 1 green, 2 red, 3 blue).",
			len(rows), res.Primary, strings.Join(where, "; "), what)})
	return nil
}

// segmentationColumns are predictions.arrow's columns for a segmentation model: per row
// its Dice and IoU (null where undefined), the predicted class per voxel (mask_pred, the
// shape of the input's mask with a channel of 1) and the probabilities.
func segmentationColumns(res *evaluation.Result, preds map[string]*evaluation.Predictions, segs map[string]*segPrediction) []*dataset.Column {
	row := &dataset.Column{Name: "row", Kind: dataset.Int, Meta: map[string]string{dataset.MetaRole: "row"}}
	split := &dataset.Column{Name: dataset.ColSplit, Kind: dataset.String}
	dice := &dataset.Column{Name: "dice", Kind: dataset.Float}
	iou := &dataset.Column{Name: "iou", Kind: dataset.Float}
	var mask, prob *dataset.Column
	for _, s := range res.Splits {
		p, sp := preds[s], segs[s]
		if mask == nil {
			shape := append(append([]int{}, sp.spatial...), 1)
			mask = &dataset.Column{Name: "mask_pred", Kind: dataset.Tensor, Shape: shape, Meta: map[string]string{dataset.MetaRole: "prediction"}}
			ch := 0
			if len(sp.probs) > 0 {
				ch = len(sp.probs[0]) / dataset.TensorSize(sp.spatial)
			}
			prob = &dataset.Column{Name: "probabilities", Kind: dataset.Tensor, Shape: append(append([]int{}, sp.spatial...), ch), Meta: map[string]string{dataset.MetaRole: "prediction"}}
		}
		for i, r := range p.Rows {
			row.I = append(row.I, int64(r))
			split.S = append(split.S, s)
			for _, c := range []struct {
				col *dataset.Column
				v   float64
			}{{dice, p.Seg[i].CaseDice()}, {iou, p.Seg[i].CaseIoU()}} {
				c.col.F = append(c.col.F, c.v)
				c.col.Valid = append(c.col.Valid, !math.IsNaN(c.v))
			}
			mask.T = append(mask.T, sp.labels[i]...)
			prob.T = append(prob.T, sp.probs[i]...)
		}
	}
	return []*dataset.Column{row, split, dice, iou, mask, prob}
}

// MaskDir is the folder of the evaluate artifact that holds the predicted masks as NIfTI.
const MaskDir = "predicted_masks"

// writeMaskVolumes writes every evaluated row's predicted mask as a NIfTI-1 uint8 volume
// (class index per voxel) on the grid of the row's stored volume, so it overlays the
// (reoriented, resampled) input in any viewer: MaskDir/<split>/<id>, the id being the row's
// relative file path (ingest.volumes' "file"), with .nii.gz. Rows need the affine column
// (role affine, as ingest.volumes writes) and 3-D masks; without them it writes nothing and
// says why. It returns the number of files written.
func writeMaskVolumes(outDir string, frame *dataset.Frame, res *evaluation.Result, preds map[string]*evaluation.Predictions, segs map[string]*segPrediction) (int, string, error) {
	ac := frame.ColumnWithRole(dataset.RoleAffine)
	idc := frame.Col(frame.Meta[dataset.MetaID])
	switch {
	case ac == nil:
		return 0, "the dataset has no affine column (role affine; ingest.volumes writes one)", nil
	case idc == nil:
		return 0, "the dataset has no id column to name the files", nil
	case !slices.Equal(ac.Shape, []int{4, 4}):
		return 0, "", fmt.Errorf("affine column %q has shape %v, want [4 4]", ac.Name, ac.Shape)
	}
	n := 0
	for _, split := range res.Splits {
		p, sp := preds[split], segs[split]
		if len(sp.spatial) != 3 {
			return 0, fmt.Sprintf("masks of shape %v are not volumes", sp.spatial), nil
		}
		shape := []int{sp.spatial[2], sp.spatial[1], sp.spatial[0]} // x fastest, as stored
		for i, r := range p.Rows {
			id := idc.Text(r)
			rel := filepath.Clean(filepath.FromSlash(id))
			if id == "" || filepath.IsAbs(rel) || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
				return n, "", fmt.Errorf("row %d: id %q is not a relative file path", r, id)
			}
			rel = strings.TrimSuffix(strings.TrimSuffix(rel, ".gz"), ".nii") + ".nii.gz"
			var aff nifti.Affine
			m := ac.Row(r)
			for a := range 4 {
				for b := range 4 {
					aff[a][b] = float64(m[a*4+b])
				}
			}
			path := filepath.Join(outDir, MaskDir, split, rel)
			if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
				return n, "", err
			}
			if err := nifti.Write(path, shape, sp.labels[i], aff, nifti.WriteOptions{Datatype: nifti.Uint8, Description: "biopipe predicted mask"}); err != nil {
				return n, "", fmt.Errorf("row %d: %w", r, err)
			}
			n++
		}
	}
	return n, "", nil
}
