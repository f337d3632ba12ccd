package models

import (
	"fmt"

	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/ml/layers/activation"

	"github.com/biopipe/biopipe/contract"
)

// Activation names.
const (
	ActSigmoid   = "sigmoid"
	ActTanh      = "tanh"
	ActRelu      = "relu"
	ActLeakyRelu = "leaky_relu"
	ActElu       = "elu"
	ActSelu      = "selu"
	ActGelu      = "gelu"
	ActSwish     = "swish"
	ActSoftplus  = "softplus"
	ActMaxout    = "maxout"
)

// Activation params shared by every family with an "activation" param.
const (
	ParamActivation   = "activation"
	ParamLeakySlope   = "leaky_slope"
	ParamMaxoutPieces = "maxout_pieces"
)

// Activations are the activation names every family's "activation" param accepts. A param
// shared by several families must mean the same in each, so they all take their choices
// from here. Maxout changes a layer's width (k linear pieces per unit), so only families
// that build their layers through Activation.Width offer it (ActivationFields with maxout).
var Activations = []string{ActRelu, ActGelu, ActTanh, ActSwish, ActSigmoid, ActLeakyRelu, ActElu, ActSelu, ActSoftplus}

// ActivationsWithMaxout is Activations plus maxout.
var ActivationsWithMaxout = append(append([]string{}, Activations...), ActMaxout)

// Activation is a configured activation function.
type Activation struct {
	Name   string
	Slope  float64 // leaky_relu: the slope for x < 0
	Pieces int     // maxout: linear pieces per unit
}

// ActivationFields declares the activation params of a family: "activation" (with the
// family's default and doc), "leaky_slope" and, when maxout is true, "maxout_pieces".
func ActivationFields(def, doc string, maxout bool) []contract.Field {
	enum := Activations
	if maxout {
		enum = ActivationsWithMaxout
	}
	fs := []contract.Field{
		{Name: ParamActivation, Type: contract.String, Default: def, Enum: enum, Doc: doc},
		{Name: ParamLeakySlope, Type: contract.Float, Default: 0.01, Min: contract.Bound(0), Max: contract.Bound(1),
			Doc: "slope of leaky_relu for negative inputs"},
	}
	if maxout {
		fs = append(fs, contract.Field{Name: ParamMaxoutPieces, Type: contract.Int, Default: 2, Min: contract.Bound(2),
			Doc: "maxout: linear pieces per unit (the layer computes width x pieces and keeps the max of each group)"})
	}
	return fs
}

// ActivationOf reads the activation params declared by ActivationFields from p.
func ActivationOf(p contract.Config) Activation {
	a := Activation{Name: p.String(ParamActivation), Slope: 0.01, Pieces: 1}
	if p.Has(ParamLeakySlope) {
		a.Slope = p.Float(ParamLeakySlope)
	}
	if a.Name == ActMaxout {
		a.Pieces = 2
		if p.Has(ParamMaxoutPieces) {
			a.Pieces = p.Int(ParamMaxoutPieces)
		}
	}
	return a
}

// Check reports an unknown name or a bad setting.
func (a Activation) Check() error {
	if a.Name == ActMaxout {
		if a.Pieces < 2 {
			return fmt.Errorf("activation maxout needs maxout_pieces >= 2, got %d", a.Pieces)
		}
		return nil
	}
	for _, n := range Activations {
		if n == a.Name {
			return nil
		}
	}
	return fmt.Errorf("unknown activation %q (valid: %v)", a.Name, ActivationsWithMaxout)
}

// IsRelu tells plain relu, which some families build with a faster formulation.
func (a Activation) IsRelu() bool { return a.Name == ActRelu }

// Width is the number of pre-activation units a layer of n units needs: n x pieces for
// maxout, n otherwise.
func (a Activation) Width(n int) int {
	if a.Name == ActMaxout {
		return n * a.Pieces
	}
	return n
}

// Apply applies the activation to h. Maxout groups the last axis into units of Pieces
// consecutive values and keeps each group's maximum, so the last axis shrinks by Pieces.
func (a Activation) Apply(h *graph.Node) *graph.Node {
	switch a.Name {
	case ActRelu:
		return activation.Relu(h)
	case ActGelu:
		return activation.Gelu(h)
	case ActTanh:
		return graph.Tanh(h)
	case ActSwish:
		return activation.Swish(h)
	case ActSigmoid:
		return graph.Sigmoid(h)
	case ActLeakyRelu:
		return activation.LeakyReluWith(h, a.Slope)
	case ActElu:
		return elu(h, 1)
	case ActSelu:
		return activation.Selu(h)
	case ActSoftplus:
		return graph.Softplus(h)
	case ActMaxout:
		dims := h.Shape().Dimensions
		last := dims[len(dims)-1]
		if a.Pieces < 2 || last%a.Pieces != 0 {
			panic(fmt.Errorf("maxout: last axis %d is not a multiple of %d pieces", last, a.Pieces))
		}
		grouped := append(append([]int{}, dims[:len(dims)-1]...), last/a.Pieces, a.Pieces)
		return graph.ReduceMax(graph.Reshape(h, grouped...), -1)
	}
	panic(fmt.Errorf("unknown activation %q (valid: %v)", a.Name, ActivationsWithMaxout))
}

// elu is x for x > 0 and alpha (e^x - 1) otherwise (Clevert et al. 2015). The negative
// branch evaluates e^min(x,0) - 1 (Exp, not Expm1, which GoMLX cannot differentiate), so
// large positive x never overflows into the unused branch.
func elu(x *graph.Node, alpha float64) *graph.Node {
	zero := graph.ScalarZero(x.Graph(), x.DType())
	neg := graph.MulScalar(graph.AddScalar(graph.Exp(graph.Min(x, zero)), -1), alpha)
	return graph.Where(graph.GreaterThan(x, zero), x, neg)
}
