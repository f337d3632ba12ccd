package models

import (
	"errors"
	"fmt"
	"path"
	"slices"
	"strings"

	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/ml/layers/regularizer"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/gomlx/gomlx/ml/model/initializer"
	"github.com/gomlx/gomlx/ml/train/optimizer"

	"github.com/biopipe/biopipe/contract"
)

// Optimizer names.
const (
	OptAdam    = "adam"
	OptAdamW   = "adamw"
	OptSGD     = "sgd"
	OptRMSProp = "rmsprop"
	OptAdagrad = "adagrad"
)

// OptimizerNames lists the valid optimizer names.
var OptimizerNames = []string{OptAdam, OptAdamW, OptSGD, OptRMSProp, OptAdagrad}

// OptimizerConfig selects the optimizer. WeightDecay is decoupled for adamw and an L2
// penalty on dense/convolution weights for the others. Momentum and Nesterov apply to sgd.
// ClipNorm rescales the gradients so that their global L2 norm is at most ClipNorm;
// ClipValue clips each gradient value to [-ClipValue, ClipValue] (0: no clipping; both
// may be set, value first).
type OptimizerConfig struct {
	Name         string  `json:"name"`
	LearningRate float64 `json:"learning_rate"`
	WeightDecay  float64 `json:"weight_decay"`
	Momentum     float64 `json:"momentum,omitempty"`
	Nesterov     bool    `json:"nesterov,omitempty"`
	ClipNorm     float64 `json:"clip_norm,omitempty"`
	ClipValue    float64 `json:"clip_value,omitempty"`
	// Beta1 is Adam's first-moment decay (0 = the default 0.9; GANs use 0.5).
	Beta1 float64 `json:"beta1,omitempty"`
}

// optimizerScope holds the optimizers' own state variables (moments, velocities,
// accumulators, the learning rate and the step counter), so a checkpoint of the store's
// variables saves it with the model's.
const optimizerScope = optimizer.Scope

// withGradients is implemented by GoMLX's optimizers and ours: an update from given gradients.
type withGradients interface {
	UpdateGraphWithGradients(scope *model.Scope, grads []*graph.Node, lossDType dtypes.DType)
}

// adamBetas sets Adam's beta1 when given (beta2 stays 0.999).
func adamBetas(a *optimizer.AdamConfig, beta1 float64) *optimizer.AdamConfig {
	if beta1 > 0 {
		return a.Betas(beta1, 0.999)
	}
	return a
}

func newOptimizer(store *model.Store, c OptimizerConfig) (optimizer.Interface, error) {
	if err := c.check(); err != nil {
		return nil, err
	}
	var opt optimizer.Interface
	switch c.Name {
	case OptAdam, "":
		opt = adamBetas(optimizer.Adam().LearningRate(c.LearningRate), c.Beta1).Done()
	case OptAdamW:
		opt = adamBetas(optimizer.Adam().LearningRate(c.LearningRate).WeightDecay(c.WeightDecay), c.Beta1).Done()
	case OptSGD:
		if c.Momentum > 0 {
			opt = &momentumSGD{lr: c.LearningRate, momentum: c.Momentum, nesterov: c.Nesterov}
		} else {
			opt = optimizer.StochasticGradientDescent().WithDecay(false).WithLearningRate(c.LearningRate).Done()
		}
	case OptRMSProp:
		// beta2 is RMSProp's rho (0.9, as in Keras and Hinton's lecture); the moving average
		// of squared gradients is bias-corrected.
		opt = optimizer.RMSProp().LearningRate(c.LearningRate).Betas(0.9, 0.9).Done()
	case OptAdagrad:
		opt = &adagrad{lr: c.LearningRate, initial: 0.1, epsilon: 1e-7}
	}
	if c.WeightDecay > 0 && c.Name != OptAdamW {
		store.RootScope().SetParam(regularizer.ParamL2, c.WeightDecay)
	}
	if c.ClipNorm > 0 || c.ClipValue > 0 {
		inner, ok := opt.(withGradients)
		if !ok {
			return nil, fmt.Errorf("optimizer %q does not support gradient clipping", c.Name)
		}
		opt = &clipped{Interface: opt, inner: inner, norm: c.ClipNorm, value: c.ClipValue}
	}
	return opt, nil
}

func (c OptimizerConfig) check() error {
	if c.WeightDecay < 0 {
		return fmt.Errorf("optimizer.weight_decay must be >= 0, got %v", c.WeightDecay)
	}
	if c.Name != "" && !slices.Contains(OptimizerNames, c.Name) {
		msg := fmt.Sprintf("unknown optimizer %q (valid optimizers: %s)", c.Name, strings.Join(OptimizerNames, ", "))
		if s := contract.Suggest(c.Name, OptimizerNames); s != "" {
			msg = fmt.Sprintf("unknown optimizer %q (did you mean %q?)", c.Name, s)
		}
		return errors.New(msg)
	}
	if c.Momentum < 0 || c.Momentum >= 1 {
		return fmt.Errorf("optimizer.momentum must be in [0, 1), got %v", c.Momentum)
	}
	if (c.Momentum > 0 || c.Nesterov) && c.Name != OptSGD {
		return fmt.Errorf("optimizer.momentum and optimizer.nesterov apply to sgd only (optimizer is %q; adam and rmsprop keep their own moments)", c.Name)
	}
	if c.Nesterov && c.Momentum == 0 {
		return errors.New("optimizer.nesterov needs optimizer.momentum > 0")
	}
	if c.ClipNorm < 0 || c.ClipValue < 0 {
		return fmt.Errorf("optimizer.clip_norm and clip_value must be >= 0, got %v and %v", c.ClipNorm, c.ClipValue)
	}
	return nil
}

// trainableVars lists the trainable variables the graph uses, in the order of
// scope.BuildTrainableVariablesGradientsGraph's gradients.
func trainableVars(scope *model.Scope, g *graph.Graph) []*model.Variable {
	var out []*model.Variable
	for v := range scope.IterVariables() {
		if v.Trainable && v.InUseByGraph(g) {
			out = append(out, v)
		}
	}
	return out
}

// stateVar is an optimizer state variable shaped like v (zeros, or init), under
// /optimizers/<name>/<v's scope>/<v's name>_<suffix>.
func stateVar(scope *model.Scope, name string, v *model.Variable, suffix string, dtype dtypes.DType, init float64) *model.Variable {
	shape := v.Shape().Clone()
	shape.DType = dtype
	s := scope.Store().Scope(path.Join("/", optimizerScope, name, v.Scope()))
	if init == 0 {
		s = s.WithInitializer(initializer.Zero)
	} else {
		s = s.WithInitializer(func(g *graph.Graph, sh shapes.Shape) *graph.Node {
			return graph.AddScalar(graph.Zeros(g, sh), init)
		})
	}
	return s.VariableWithShape(v.Name()+"_"+suffix, shape).SetTrainable(false)
}

// momentumSGD is stochastic gradient descent with (heavy-ball or Nesterov) momentum, in
// PyTorch's form: b = momentum*b + g; step = g + momentum*b (Nesterov) or b; w -= lr*step.
type momentumSGD struct {
	lr, momentum float64
	nesterov     bool
}

func (o *momentumSGD) UpdateGraph(scope *model.Scope, g *graph.Graph, loss *graph.Node) {
	o.UpdateGraphWithGradients(scope, scope.BuildTrainableVariablesGradientsGraph(loss), loss.DType())
}

func (o *momentumSGD) UpdateGraphWithGradients(scope *model.Scope, grads []*graph.Node, dtype dtypes.DType) {
	if len(grads) == 0 {
		return
	}
	g := grads[0].Graph()
	lr := optimizer.LearningRateVar(scope, dtype, o.lr).NodeValue(g)
	_ = optimizer.IncrementGlobalStep(g, dtype)
	for i, v := range trainableVars(scope, g) {
		grad := convert(grads[i], dtype)
		bv := stateVar(scope, "sgd", v, "velocity", dtype, 0)
		b := graph.Add(graph.MulScalar(bv.NodeValue(g), o.momentum), grad)
		bv.SetNodeValue(b)
		step := b
		if o.nesterov {
			step = graph.Add(grad, graph.MulScalar(b, o.momentum))
		}
		setUpdated(v, g, graph.Mul(step, lr))
	}
}

func (o *momentumSGD) Clear(scope *model.Scope) error {
	return scope.Store().Scope(path.Join("/", optimizerScope, "sgd")).DeleteVariablesInScope()
}

// adagrad accumulates squared gradients per weight (starting at initial, as Keras does) and
// divides each step by the accumulator's square root: a = a + g²; w -= lr*g/(√a + ε).
type adagrad struct {
	lr, initial, epsilon float64
}

func (o *adagrad) UpdateGraph(scope *model.Scope, g *graph.Graph, loss *graph.Node) {
	o.UpdateGraphWithGradients(scope, scope.BuildTrainableVariablesGradientsGraph(loss), loss.DType())
}

func (o *adagrad) UpdateGraphWithGradients(scope *model.Scope, grads []*graph.Node, dtype dtypes.DType) {
	if len(grads) == 0 {
		return
	}
	g := grads[0].Graph()
	lr := optimizer.LearningRateVar(scope, dtype, o.lr).NodeValue(g)
	_ = optimizer.IncrementGlobalStep(g, dtype)
	for i, v := range trainableVars(scope, g) {
		grad := convert(grads[i], dtype)
		av := stateVar(scope, "adagrad", v, "accumulator", dtype, o.initial)
		a := graph.Add(av.NodeValue(g), graph.Square(grad))
		av.SetNodeValue(a)
		step := graph.Div(grad, graph.AddScalar(graph.Sqrt(a), o.epsilon))
		setUpdated(v, g, graph.Mul(step, lr))
	}
}

func (o *adagrad) Clear(scope *model.Scope) error {
	return scope.Store().Scope(path.Join("/", optimizerScope, "adagrad")).DeleteVariablesInScope()
}

func convert(n *graph.Node, dtype dtypes.DType) *graph.Node {
	if n.DType() != dtype {
		return graph.ConvertDType(n, dtype)
	}
	return n
}

// setUpdated sets v to v - step (step in any float dtype).
func setUpdated(v *model.Variable, g *graph.Graph, step *graph.Node) {
	value := v.NodeValue(g)
	v.SetNodeValue(graph.Sub(value, convert(step, value.DType())))
}

// clipped clips the gradients (each value to ±value, then the global norm to norm) before
// the wrapped optimizer's update.
type clipped struct {
	optimizer.Interface
	inner       withGradients
	norm, value float64
}

func (c *clipped) UpdateGraph(scope *model.Scope, g *graph.Graph, loss *graph.Node) {
	grads := scope.BuildTrainableVariablesGradientsGraph(loss)
	c.inner.UpdateGraphWithGradients(scope, ClipGradients(grads, c.norm, c.value), loss.DType())
}

// ClipGradients clips each gradient value to [-value, value] (value > 0), then rescales all
// gradients together so that their global L2 norm is at most norm (norm > 0), as Keras'
// clipvalue and PyTorch's clip_grad_norm_ do.
func ClipGradients(grads []*graph.Node, norm, value float64) []*graph.Node {
	if len(grads) == 0 {
		return grads
	}
	out := make([]*graph.Node, len(grads))
	copy(out, grads)
	if value > 0 {
		for i, gr := range out {
			out[i] = graph.ClipScalar(gr, -value, value)
		}
	}
	if norm > 0 {
		var sq *graph.Node
		for _, gr := range out {
			s := graph.ReduceAllSum(graph.Square(convert(gr, dtypes.Float32)))
			if sq == nil {
				sq = s
			} else {
				sq = graph.Add(sq, s)
			}
		}
		total := graph.Sqrt(sq)
		// scale = min(1, norm/total); a zero total keeps scale 1.
		scale := graph.Min(graph.OnesLike(total), graph.Reciprocal(graph.MulScalar(graph.MaxScalar(total, 1e-12), 1/norm)))
		for i, gr := range out {
			out[i] = graph.Mul(gr, convert(scale, gr.DType()))
		}
	}
	return out
}
