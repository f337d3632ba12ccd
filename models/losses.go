package models

import (
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/ml/model"
)

// Classification loss names.
const (
	LossCrossEntropy = "cross_entropy"
	LossFocal        = "focal"
)

// LossNames lists the valid classification losses.
var LossNames = []string{LossCrossEntropy, LossFocal}

// Class weighting choices.
const (
	ClassWeightNone     = "none"
	ClassWeightBalanced = "balanced"
)

// ClassLoss configures the classification loss for imbalanced labels: Name cross_entropy
// (default) or focal (Lin et al. 2017: −(1−p_t)^γ·log p_t, which down-weights the examples
// the model already gets right); class weights scale each example's loss by the weight of
// its class, and the batch loss is the weighted mean Σ w_y·loss / Σ w_y (PyTorch's
// reduction). Balanced weights are n / (classes · n_c) over the training rows
// (scikit-learn's "balanced"); Weights gives them by class name (classes not named: 1).
type ClassLoss struct {
	Name        string             `json:"name,omitempty"`
	FocalGamma  float64            `json:"focal_gamma,omitempty"`
	ClassWeight string             `json:"class_weight,omitempty"`
	Weights     map[string]float64 `json:"class_weights,omitempty"`
	Resolved    []float64          `json:"resolved_weights,omitempty"` // per class index, as trained
}

// isDefault tells the plain, unweighted cross-entropy.
func (c ClassLoss) isDefault() bool {
	return (c.Name == "" || c.Name == LossCrossEntropy) && (c.ClassWeight == "" || c.ClassWeight == ClassWeightNone) && len(c.Weights) == 0
}

// resolve checks the config and computes the per-class weights from the training labels.
func (c *ClassLoss) resolve(task Task, classes []string, train []int) error {
	if c.Name != "" && !slices.Contains(LossNames, c.Name) {
		return fmt.Errorf("unknown loss %q (valid: %s)", c.Name, strings.Join(LossNames, ", "))
	}
	if c.isDefault() {
		return nil
	}
	if task != Classification {
		return fmt.Errorf("loss %q and class weights apply to classification; the task is %s", c.Name, task)
	}
	if c.FocalGamma < 0 || math.IsNaN(c.FocalGamma) {
		return fmt.Errorf("focal_gamma must be >= 0, got %v", c.FocalGamma)
	}
	w := make([]float64, len(classes))
	for i := range w {
		w[i] = 1
	}
	switch c.ClassWeight {
	case "", ClassWeightNone:
	case ClassWeightBalanced:
		if len(c.Weights) > 0 {
			return fmt.Errorf("give class_weight balanced or class_weights, not both")
		}
		counts := make([]int, len(classes))
		for _, y := range train {
			counts[y]++
		}
		for i, n := range counts {
			if n == 0 {
				return fmt.Errorf("class_weight balanced: class %q has no training rows", classes[i])
			}
			w[i] = float64(len(train)) / float64(len(classes)*n)
		}
	default:
		return fmt.Errorf("class_weight %q is not one of none, balanced", c.ClassWeight)
	}
	for name, v := range c.Weights {
		i := slices.Index(classes, name)
		if i < 0 {
			return fmt.Errorf("class_weights: no class %q (classes: %s)", name, strings.Join(classes, ", "))
		}
		if !(v > 0) || math.IsInf(v, 0) {
			return fmt.Errorf("class_weights: %q must be > 0, got %v", name, v)
		}
		w[i] = v
	}
	c.Resolved = w
	return nil
}

// lossFunc is the configured classification loss over logits and int32 labels [B, 1].
func (c ClassLoss) lossFunc() LossFunc {
	weights := c.Resolved
	focal := c.Name == LossFocal
	gamma := c.FocalGamma
	return func(_ *model.Scope, _, y *graph.Node, outs []*graph.Node) *graph.Node {
		logits := flat(outs[0])
		n, k := logits.Shape().Dimensions[0], logits.Shape().Dimensions[1]
		onehot := graph.OneHot(graph.Reshape(y, n), k, logits.DType())
		logp := graph.ReduceSum(graph.Mul(graph.LogSoftmax(logits, -1), onehot), -1) // log p_t, [B]
		per := graph.Neg(logp)
		if focal && gamma > 0 {
			pt := graph.Exp(logp)
			per = graph.Mul(graph.Pow(graph.MaxScalar(graph.OneMinus(pt), 0), graph.ConstAsDType(logits.Graph(), logits.DType(), gamma)), per)
		}
		if weights == nil {
			return graph.ReduceAllMean(per)
		}
		wc := graph.Const(logits.Graph(), toFloat32(weights))
		wy := graph.ReduceSum(graph.Mul(onehot, graph.InsertAxes(graph.ConvertDType(wc, logits.DType()), 0)), -1) // [B]
		return graph.Div(graph.ReduceAllSum(graph.Mul(wy, per)), graph.ReduceAllSum(wy))
	}
}

func toFloat32(v []float64) []float32 {
	out := make([]float32, len(v))
	for i, x := range v {
		out[i] = float32(x)
	}
	return out
}

// applyClassLoss resolves the loss config and, when it is not plain cross-entropy, sets it
// as the network's loss (families with their own loss or objective are left alone, which
// is an error when a loss was asked for).
func applyClassLoss(net *Network, c *ClassLoss, task Task, classes []string, train []int) error {
	if err := c.resolve(task, classes, train); err != nil {
		return err
	}
	if c.isDefault() {
		return nil
	}
	if net.Loss != nil || net.Objective != nil {
		return fmt.Errorf("loss %q / class weights: this model family defines its own loss", c.Name)
	}
	net.Loss = c.lossFunc()
	return nil
}
