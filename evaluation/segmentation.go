package evaluation

import (
	"fmt"
	"math"

	"github.com/biopipe/biopipe/metrics"
	"github.com/biopipe/biopipe/plots"
)

// Segmentation metric names: the mean over the foreground classes (every class but 0, the
// background) of each class's mean per-case Dice or IoU; per class as dice_<class> and
// iou_<class>; and the fraction of voxels labelled right over all cases.
const (
	NameDice          = "dice"
	NameIoU           = "iou"
	NameVoxelAccuracy = "voxel_accuracy"
)

// SegCase is one case's (image's or volume's) per-class voxel counts of a predicted mask
// against the true one; index = class, 0 the background.
type SegCase struct {
	TP, FP, FN []int
	Voxels     int // voxels in the case
	Correct    int // voxels whose predicted class is the true one
}

// SegCounts counts, per class 0..k-1, the true positive, false positive and false negative
// voxels of pred against truth (class indices per voxel).
func SegCounts(truth, pred []int, k int) (SegCase, error) {
	if len(truth) != len(pred) {
		return SegCase{}, fmt.Errorf("true mask has %d voxels, predicted mask %d", len(truth), len(pred))
	}
	c := SegCase{TP: make([]int, k), FP: make([]int, k), FN: make([]int, k), Voxels: len(truth)}
	for i, t := range truth {
		p := pred[i]
		if t < 0 || t >= k || p < 0 || p >= k {
			return SegCase{}, fmt.Errorf("voxel %d: class %d (true) or %d (predicted) is not in 0..%d", i, t, p, k-1)
		}
		if t == p {
			c.TP[t]++
			c.Correct++
			continue
		}
		c.FP[p]++
		c.FN[t]++
	}
	return c, nil
}

// CaseDice is a case's Dice averaged over the foreground classes present in its true or
// predicted mask (NaN when none is).
func (c SegCase) CaseDice() float64 { return c.meanFG(metrics.DiceCounts) }

// CaseIoU is CaseDice for IoU.
func (c SegCase) CaseIoU() float64 { return c.meanFG(metrics.IoUCounts) }

func (c SegCase) meanFG(f func(tp, fp, fn int) float64) float64 {
	var sum float64
	n := 0
	for k := 1; k < len(c.TP); k++ {
		if v := f(c.TP[k], c.FP[k], c.FN[k]); !math.IsNaN(v) {
			sum += v
			n++
		}
	}
	if n == 0 {
		return math.NaN()
	}
	return sum / float64(n)
}

// SegmentationScores computes the segmentation metrics of cases (classes: class names,
// index = class). Per class, Dice and IoU are averaged over the cases where the class is in
// the true or the predicted mask; a case where it is in neither has no defined overlap and
// is left out of that class's mean (as MONAI's ignore_empty and nnU-Net do), not counted
// as 1. A class absent from every case is NaN (undefined), and so is the mean over classes
// when every class is. dice and iou average the defined per-class values.
func SegmentationScores(cases []SegCase, classes []string) metrics.Scalars {
	out := metrics.Scalars{}
	var meanD, meanI float64
	nd := 0
	for k := 1; k < len(classes); k++ {
		var sd, si float64
		n := 0
		for _, c := range cases {
			if d := metrics.DiceCounts(c.TP[k], c.FP[k], c.FN[k]); !math.IsNaN(d) {
				sd += d
				si += metrics.IoUCounts(c.TP[k], c.FP[k], c.FN[k])
				n++
			}
		}
		d, i := math.NaN(), math.NaN()
		if n > 0 {
			d, i = sd/float64(n), si/float64(n)
			meanD += d
			meanI += i
			nd++
		}
		out[NameDice+"_"+classes[k]] = d
		out[NameIoU+"_"+classes[k]] = i
	}
	out[NameDice], out[NameIoU] = math.NaN(), math.NaN()
	if nd > 0 {
		out[NameDice], out[NameIoU] = meanD/float64(nd), meanI/float64(nd)
	}
	var correct, vox int
	for _, c := range cases {
		correct += c.Correct
		vox += c.Voxels
	}
	out[NameVoxelAccuracy] = math.NaN()
	if vox > 0 {
		out[NameVoxelAccuracy] = float64(correct) / float64(vox)
	}
	return out
}

// segmentationUndefined gives the reason of each metric that is NaN on cases.
func segmentationUndefined(classes []string) map[string]string {
	out := map[string]string{
		NameDice: "no foreground class is present in any true or predicted mask of this split",
		NameIoU:  "no foreground class is present in any true or predicted mask of this split",
	}
	for _, c := range classes[1:] {
		why := fmt.Sprintf("class %q is absent from every true and predicted mask of this split (its overlap is undefined, not 1)", c)
		out[NameDice+"_"+c], out[NameIoU+"_"+c] = why, why
	}
	return out
}

// evalSegmentation fills a split of a segmentation model: the metrics with intervals from
// resampling whole cases.
func evalSegmentation(p *Predictions, opt Options, bopt metrics.BootstrapOptions, s *Split) error {
	if len(p.Seg) != p.Len() {
		return fmt.Errorf("%d rows but %d segmentation cases", p.Len(), len(p.Seg))
	}
	if len(opt.Classes) < 2 {
		return fmt.Errorf("segmentation needs at least 2 classes, got %v", opt.Classes)
	}
	for i, c := range p.Seg {
		if len(c.TP) != len(opt.Classes) {
			return fmt.Errorf("row %d: counts for %d classes, want %d", p.Rows[i], len(c.TP), len(opt.Classes))
		}
	}
	s.Metrics = metrics.Bootstrap(p.Len(), bopt, func(idx []int) metrics.Scalars {
		cs := make([]SegCase, len(idx))
		for j, i := range idx {
			cs[j] = p.Seg[i]
		}
		return SegmentationScores(cs, opt.Classes)
	})
	explain(s, segmentationUndefined(opt.Classes))
	s.ClassCounts = map[string]int{}
	for k, name := range opt.Classes {
		n := 0
		for _, c := range p.Seg {
			if c.TP[k]+c.FN[k] > 0 {
				n++
			}
		}
		s.ClassCounts[name] = n // cases whose true mask has the class
	}
	return nil
}

// segmentationFigures draws the distribution of the per-case Dice of the primary split.
func segmentationFigures(add func(file, title, caption string, b []byte, err error) error, p *Predictions, where string) error {
	var dice []float64
	for _, c := range p.Seg {
		if d := c.CaseDice(); !math.IsNaN(d) {
			dice = append(dice, d)
		}
	}
	if len(dice) == 0 {
		return nil
	}
	b, err := plots.Histogram("Dice per case", "Dice (mean over the foreground classes present)", dice, 20)
	return add("dice_per_case.png", "Dice per case", fmt.Sprintf("Distribution of the per-case Dice%s; %d of %d cases have a foreground class in the true or predicted mask.", where, len(dice), p.Len()), b, err)
}
