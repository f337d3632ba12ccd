package models

import (
	"fmt"
	"math"

	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/ml/model"
)

// Segmentation: the network labels every voxel (pixel) of its input [spatial..., C]. The
// target is a mask with a class index per voxel (Data.Masks; 0 is the background), fed to
// the loss as float32 [B, spatial..., 1]. The main output is per-voxel logits
// [B, spatial..., SegChannels(K)]: one channel (a sigmoid: the foreground probability) for
// K = 2 classes, K channels (a softmax) otherwise. Predict returns the per-voxel
// probabilities of that output.
const Segmentation Task = "segmentation"

// ObjectiveSegmentation: one network minimises a per-voxel loss against a mask (package
// doc of Segmentation); its metric is the mean per-example Dice of the foreground classes.
const ObjectiveSegmentation ObjectiveKind = "segmentation"

// MetricDice is the segmentation objective's per-epoch metric: the hard Dice
// 2|P∩T| / (|P|+|T|) of each example, averaged over the foreground classes (a class absent
// from both the prediction and the mask counts as 1 here; package evaluation leaves such
// cases out instead), then over the examples.
const MetricDice = "dice"

// SegChannels is the number of output channels of a segmentation network for k classes
// (background included): 1 for k <= 2 (sigmoid), else k (softmax).
func SegChannels(k int) int {
	if k <= 2 {
		return 1
	}
	return k
}

// SegmentationLoss is the segmentation objective's loss: the mean per-voxel cross-entropy
// (binary cross-entropy on a one-channel output, softmax cross-entropy on K channels) plus
// DiceWeight times the soft Dice loss 1 - mean over examples and foreground classes of
// (2 Σ p·t + 1) / (Σ p + Σ t + 1), p the predicted probability and t the one-hot mask
// (Milletari et al. 2016, with +1 smoothing so an empty mask predicted empty has no loss).
type SegmentationLoss struct {
	DiceWeight float64
}

// Check reports a bad setting.
func (s SegmentationLoss) Check() error {
	if s.DiceWeight < 0 || math.IsNaN(s.DiceWeight) || math.IsInf(s.DiceWeight, 0) {
		return fmt.Errorf("dice weight must be a finite number >= 0, got %v", s.DiceWeight)
	}
	return nil
}

// Func returns the loss as a LossFunc (outs[0]: logits [B, spatial..., channels]; y: the
// mask, float32 class indices [B, spatial..., 1]).
func (s SegmentationLoss) Func() LossFunc {
	w := s.DiceWeight
	return func(_ *model.Scope, _, y *graph.Node, outs []*graph.Node) *graph.Node {
		logits := outs[0]
		probs, onehot, ce := segTerms(logits, y)
		l := ce
		if w > 0 {
			l = graph.Add(l, graph.MulScalar(softDiceLoss(probs, onehot), w))
		}
		return l
	}
}

// segTerms returns, for logits [B, spatial..., ch] and the mask y [B, spatial..., 1], the
// foreground probabilities and one-hot targets as [B, voxels, foreground classes] and the
// mean per-voxel cross-entropy.
func segTerms(logits, y *graph.Node) (probs, onehot, ce *graph.Node) {
	dims := logits.Shape().Dimensions
	b, ch := dims[0], dims[len(dims)-1]
	vox := logits.Shape().Size() / (b * ch)
	z := graph.Reshape(logits, b, vox, ch)
	t := graph.ConvertDType(graph.Reshape(y, b, vox, 1), logits.DType())
	if ch == 1 {
		// BCE with logits, stable: max(z,0) - z·t + log(1 + e^-|z|).
		bce := graph.Add(graph.Sub(graph.MaxScalar(z, 0), graph.Mul(z, t)), graph.Log1p(graph.Exp(graph.Neg(graph.Abs(z)))))
		return graph.Sigmoid(z), t, graph.ReduceAllMean(bce)
	}
	idx := graph.Reshape(graph.ConvertDType(graph.Round(t), dtypes.Int32), b, vox)
	oh := graph.OneHot(idx, ch, logits.DType())
	logp := graph.LogSoftmax(z, -1)
	ce = graph.Neg(graph.ReduceAllMean(graph.ReduceSum(graph.Mul(oh, logp), -1)))
	fg := func(n *graph.Node) *graph.Node {
		return graph.Slice(n, graph.AxisRange(), graph.AxisRange(), graph.AxisRange(1, ch))
	}
	return fg(graph.Exp(logp)), fg(oh), ce
}

// softDiceLoss is 1 - the mean smoothed soft Dice over examples and classes of probs and
// onehot [B, voxels, classes].
func softDiceLoss(probs, onehot *graph.Node) *graph.Node {
	inter := graph.ReduceSum(graph.Mul(probs, onehot), 1)
	denom := graph.Add(graph.ReduceSum(probs, 1), graph.ReduceSum(onehot, 1))
	dice := graph.Div(graph.AddScalar(graph.MulScalar(inter, 2), 1), graph.AddScalar(denom, 1))
	return graph.OneMinus(graph.ReduceAllMean(dice))
}

// segDiceSum is the batch sum of each example's hard Dice, averaged over the foreground
// classes (a class absent from both prediction and mask: 1).
func segDiceSum(logits, y *graph.Node) *graph.Node {
	dims := logits.Shape().Dimensions
	b, ch := dims[0], dims[len(dims)-1]
	vox := logits.Shape().Size() / (b * ch)
	z := graph.Reshape(logits, b, vox, ch)
	t := graph.Reshape(graph.ConvertDType(graph.Round(graph.ConvertDType(y, dtypes.Float32)), dtypes.Int32), b, vox)
	var pred *graph.Node
	k := ch
	if ch == 1 {
		pred = graph.ConvertDType(graph.GreaterOrEqual(graph.Reshape(z, b, vox), graph.ScalarZero(z.Graph(), z.DType())), dtypes.Int32)
		k = 2
	} else {
		pred = graph.ArgMax(z, -1, dtypes.Int32)
	}
	p := graph.Slice(graph.OneHot(pred, k, dtypes.Float32), graph.AxisRange(), graph.AxisRange(), graph.AxisRange(1, k))
	o := graph.Slice(graph.OneHot(t, k, dtypes.Float32), graph.AxisRange(), graph.AxisRange(), graph.AxisRange(1, k))
	inter := graph.ReduceSum(graph.Mul(p, o), 1)                     // [B, k-1]
	denom := graph.Add(graph.ReduceSum(p, 1), graph.ReduceSum(o, 1)) // [B, k-1]
	empty := graph.Equal(denom, graph.ScalarZero(z.Graph(), dtypes.Float32))
	dice := graph.Where(empty, graph.OnesLike(denom), graph.Div(graph.MulScalar(inter, 2), graph.MaxScalar(denom, 1)))
	return graph.ReduceAllSum(graph.ReduceMean(dice, -1))
}

// segmentationProbs turns logits [B, spatial..., ch] into probabilities: a sigmoid for one
// channel, a softmax over the channels otherwise.
func segmentationProbs(logits *graph.Node) *graph.Node {
	if logits.Shape().Dimensions[logits.Rank()-1] == 1 {
		return graph.Sigmoid(logits)
	}
	return graph.Softmax(logits, -1)
}

// MaskSize is the number of mask values per example for an input shape [spatial..., C].
func MaskSize(inputShape []int) int {
	n := 1
	for _, d := range inputShape[:max(len(inputShape)-1, 0)] {
		n *= d
	}
	return n
}

// checkMasks checks that d has one mask of MaskSize values per row, each a class index in
// [0, classes).
func checkMasks(d *Data, classes int) error {
	size := MaskSize(d.X.Shape)
	if len(d.Masks) != d.X.N*size {
		return fmt.Errorf("segmentation needs one mask of %d values per row (input shape %v): %d values for %d rows", size, d.X.Shape, len(d.Masks), d.X.N)
	}
	for i, v := range d.Masks {
		if v != float32(math.Round(float64(v))) || v < 0 || int(v) >= classes {
			return fmt.Errorf("row %d, voxel %d: mask value %v is not a class index in 0..%d", i/size, i%size, v, classes-1)
		}
	}
	return nil
}

// maxMaskClass bounds the class indices MaskClasses counts: a larger value is no label
// (checkMasks then names it).
const maxMaskClass = 255

// MaskClasses names the classes of masks holding class indices 0..K-1 (K the largest value
// + 1, at least 2): "background", then "foreground" for a binary mask, else "label_<k>".
func MaskClasses(masks []float32) []string {
	top := float32(1)
	for _, v := range masks {
		if v > top && v <= maxMaskClass {
			top = v
		}
	}
	k := int(top) + 1
	if k == 2 {
		return []string{"background", "foreground"}
	}
	out := []string{"background"}
	for i := 1; i < k; i++ {
		out = append(out, fmt.Sprintf("label_%d", i))
	}
	return out
}
