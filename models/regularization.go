package models

import (
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/gomlx/compute/shapes"
	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/ml/layers/regularizer"
	"github.com/gomlx/gomlx/ml/model"
)

// Initializer names: Glorot (Xavier) and He, uniform or normal. Biases start at zero.
const (
	InitHeNormal      = "he_normal" // GoMLX's default: the weights of every existing model
	InitHeUniform     = "he_uniform"
	InitGlorotNormal  = "glorot_normal"
	InitGlorotUniform = "glorot_uniform"
)

// InitializerNames lists the valid initializer names.
var InitializerNames = []string{InitHeNormal, InitHeUniform, InitGlorotNormal, InitGlorotUniform}

// Regularization adds penalties on the dense and convolution kernels (not biases or
// normalization scales) to the training loss: L1·Σ|w| + L2·Σw². An optimizer's
// weight_decay (adam, sgd, rmsprop, adagrad) adds to L2.
type Regularization struct {
	L1 float64 `json:"l1,omitempty"`
	L2 float64 `json:"l2,omitempty"`
}

func (r Regularization) check() error {
	if r.L1 < 0 || r.L2 < 0 || math.IsNaN(r.L1) || math.IsNaN(r.L2) {
		return fmt.Errorf("regularization l1 and l2 must be >= 0, got %v and %v", r.L1, r.L2)
	}
	return nil
}

// apply sets GoMLX's kernel regularizer params on the store (GoMLX dense and convolution
// layers read them); L2 adds to a weight decay already set by the optimizer.
func (r Regularization) apply(store *model.Store) error {
	if err := r.check(); err != nil {
		return err
	}
	root := store.RootScope()
	if r.L2 > 0 {
		root.SetParam(regularizer.ParamL2, model.GetParamOr(root, regularizer.ParamL2, 0.0)+r.L2)
	}
	if r.L1 > 0 {
		root.SetParam(regularizer.ParamL1, r.L1)
	}
	return nil
}

// withInitializer returns net with its variables initialised by the named scheme, drawn
// from the store's seeded random state (so the same seed gives the same weights). The
// default (he_normal) leaves net as it is. A family's own explicit initializers (e.g. the
// autoencoder's Xavier-uniform code layers) still win.
func withInitializer(store *model.Store, net *Network, name string) (*Network, error) {
	if name == "" || name == InitHeNormal {
		return net, nil
	}
	if !slices.Contains(InitializerNames, name) {
		return nil, fmt.Errorf("unknown initializer %q (valid: %s)", name, strings.Join(InitializerNames, ", "))
	}
	init := initializerFn(store, name)
	out := *net
	forward := net.Forward
	out.Forward = func(scope *model.Scope, x *graph.Node) []*graph.Node {
		return forward(scope.WithInitializer(init), x)
	}
	return &out, nil
}

// initializerFn is the named initializer: weights (rank >= 2) with variance 2/fan_in (He)
// or 2/(fan_in+fan_out) (Glorot), normal or uniform with that variance; the rest zeros.
func initializerFn(store *model.Store, name string) model.VariableInitializer {
	return func(g *graph.Graph, shape shapes.Shape) *graph.Node {
		if !shape.DType.IsFloat() || shape.Rank() <= 1 {
			return graph.Zeros(g, shape)
		}
		fanIn, fanOut := fans(shape)
		variance := 2 / math.Max(1, float64(fanIn))
		if name == InitGlorotNormal || name == InitGlorotUniform {
			variance = 2 / math.Max(1, float64(fanIn+fanOut))
		}
		if name == InitHeNormal || name == InitGlorotNormal {
			return graph.MulScalar(store.RandomNormal(g, shape), math.Sqrt(variance))
		}
		limit := math.Sqrt(3 * variance) // U(-a, a) has variance a²/3
		return graph.AddScalar(graph.MulScalar(store.RandomUniform(g, shape), 2*limit), -limit)
	}
}

// fans are the fan-in and fan-out of a kernel: [in, out] for dense layers and
// [spatial..., in, out] for convolutions (GoMLX's layouts).
func fans(shape shapes.Shape) (int, int) {
	d := shape.Dimensions
	receptive := 1
	for _, s := range d[:len(d)-2] {
		receptive *= s
	}
	return d[len(d)-2] * receptive, d[len(d)-1] * receptive
}

// recordRecipe notes the schedule, penalties and initializer on the card when they are not
// the defaults (so the cards of models trained without them stay as they were).
func recordRecipe(c *Card, o TrainOptions) {
	if o.Schedule.Active() {
		s := o.Schedule
		c.Schedule = &s
	}
	if o.Regularization != (Regularization{}) {
		r := o.Regularization
		c.Regularization = &r
	}
	if o.Initializer != InitHeNormal {
		c.Initializer = o.Initializer
	}
	if !o.Loss.isDefault() {
		l := o.Loss
		c.Loss = &l
	}
}
