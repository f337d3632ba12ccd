// Package mlp registers the "mlp" model family: a multilayer perceptron over the flattened
// input, for classification and regression.
package mlp

import (
	"fmt"

	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/ml/layers"
	"github.com/gomlx/gomlx/ml/layers/norm"
	"github.com/gomlx/gomlx/ml/model"

	"github.com/biopipe/biopipe/contract"
	"github.com/biopipe/biopipe/models"
)

// Hyper-parameter names.
const (
	ParamHidden        = "hidden"
	ParamActivation    = models.ParamActivation
	ParamDropout       = "dropout"
	ParamNormalization = "normalization"
)

// Params are the family's hyper-parameters.
var Params = append([]contract.Field{
	{Name: ParamHidden, Type: contract.Ints, Default: []any{64, 32}, Min: contract.Bound(1),
		Doc: "hidden layer widths, input to output; [] is a linear model"},
	{Name: ParamDropout, Type: contract.Float, Default: 0.0, Min: contract.Bound(0), Max: contract.Bound(0.95),
		Doc: "dropout rate after each hidden layer (training only)"},
	{Name: ParamNormalization, Type: contract.String, Default: "none", Enum: models.Normalizations,
		Doc: "normalization after each hidden layer's linear transform: none, batch (batch norm) or layer"},
}, models.ActivationFields("relu", "activation after each hidden layer", true)...)

func init() {
	models.Register(&models.Family{
		Name: "mlp",
		// freeze: [encoder] freezes the hidden layers; the output layer trains.
		Encoder:  []string{"hidden_"},
		Doc:      "multilayer perceptron on the flattened input (tabular features, small tensors)",
		Params:   Params,
		Build:    Build,
		Features: Features,
	})
}

// Build returns the MLP network for the spec and params.
func Build(spec models.Spec, p contract.Config) (*models.Network, error) {
	if spec.Task != models.Classification && spec.Task != models.Regression && spec.Task != models.Reconstruction {
		return nil, fmt.Errorf("mlp: unsupported task %q", spec.Task)
	}
	features, err := Features(spec, p)
	if err != nil {
		return nil, err
	}
	outDim := spec.OutputDim()
	forward := func(scope *model.Scope, x *graph.Node) []*graph.Node {
		return []*graph.Node{layers.DenseWithBias(scope.In("output"), features(scope, x), outDim)}
	}
	return &models.Network{Forward: forward, OutputNames: []string{outputName(spec.Task)}}, nil
}

// Features returns the MLP without its output layer: the flattened input through the hidden
// layers (hidden_<i>), [B, last hidden width] ([B, prod(InputShape)] with no hidden layer).
func Features(_ models.Spec, p contract.Config) (models.FeatureFunc, error) {
	hidden := p.Ints(ParamHidden)
	act := models.ActivationOf(p)
	dropout := p.Float(ParamDropout)
	normalization := p.String(ParamNormalization)
	return func(scope *model.Scope, x *graph.Node) *graph.Node {
		b := x.Shape().Dimensions[0]
		h := graph.Reshape(x, b, x.Shape().Size()/b)
		for i, width := range hidden {
			ls := scope.In("hidden_%d", i)
			h = layers.DenseWithBias(ls, h, act.Width(width))
			switch normalization {
			case "batch":
				h = norm.BatchNorm(ls, h, -1).UseBackendInference(false).Done()
			case "layer":
				h = norm.LayerNorm(ls, h, -1).Done()
			}
			h = act.Apply(h)
			h = layers.DropoutStatic(ls, h, dropout)
		}
		return h
	}, nil
}

func outputName(t models.Task) string {
	switch t {
	case models.Classification:
		return "probabilities"
	case models.Regression:
		return "prediction"
	}
	return "reconstruction"
}
