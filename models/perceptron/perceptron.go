// Package perceptron registers the "perceptron" model family: Rosenblatt's (1958)
// perceptron, a single layer of linear threshold units trained with the perceptron learning
// rule rather than gradient descent.
//
// Each class c has a weight vector w_c and a bias b_c (all starting at zero); an example x
// is assigned the class with the largest score w_c·x + b_c (for two classes this is the
// classic threshold unit sign((w_1−w_0)·x + b_1−b_0)). Training looks at each example in
// turn and, when it is misclassified as class p instead of its class y, moves the weights:
//
//	w_y ← w_y + η·x,  b_y ← b_y + η
//	w_p ← w_p − η·x,  b_p ← b_p − η
//
// Correct examples change nothing. With batch_size 1 this is the online rule; a larger
// batch adds up the batch's corrections (the batch perceptron). The optimizer, schedule and
// penalties of the train stage are not used. The rule converges when the classes are
// linearly separable and cycles forever when they are not (XOR: Minsky & Papert, 1969).
// The reported loss is the perceptron criterion, mean(max_c score_c − score_y), which is 0
// exactly when every example is classified correctly.
package perceptron

import (
	"fmt"

	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/gomlx/gomlx/ml/model/initializer"

	"github.com/biopipe/biopipe/contract"
	"github.com/biopipe/biopipe/models"
)

// Name is the family name.
const Name = "perceptron"

// ParamEta is the learning rate of the perceptron rule.
const ParamEta = "eta"

// Variable names (under /model/).
const (
	VarWeights = "weights"
	VarBias    = "bias"
)

// Params are the family's hyper-parameters.
var Params = []contract.Field{
	{Name: ParamEta, Type: contract.Float, Default: 1.0, Min: contract.Bound(1e-12),
		Doc: "learning rate η of Rosenblatt's rule: a misclassified example adds η·x to its class's weights and subtracts it from the predicted class's (weights start at 0; the optimizer is not used)"},
}

func init() {
	models.Register(&models.Family{
		Name:   Name,
		Doc:    "Rosenblatt's perceptron: linear threshold units trained with the perceptron rule, not gradient descent",
		Params: Params,
		Build:  Build,
	})
}

// Build returns the perceptron for a classification spec.
func Build(spec models.Spec, p contract.Config) (*models.Network, error) {
	if spec.Task != models.Classification {
		return nil, fmt.Errorf("perceptron: the perceptron classifies; task %q needs another family (mlp)", spec.Task)
	}
	eta := p.Float(ParamEta)
	features := 1
	for _, d := range spec.InputShape {
		features *= d
	}
	classes := spec.NumClasses
	forward := func(scope *model.Scope, x *graph.Node) []*graph.Node {
		w, b := variables(scope, features, classes)
		return []*graph.Node{scores(x, w.NodeValue(x.Graph()), b.NodeValue(x.Graph()))}
	}
	net := &models.Network{Forward: forward, OutputNames: []string{"probabilities"}}
	batch := func(root *model.Scope, x, y *graph.Node) (*graph.Node, *graph.Node) {
		z := forward(root.In("model"), x)[0]
		return criterion(z, y), correct(z, y)
	}
	update := func(root *model.Scope, x, y *graph.Node) {
		g := x.Graph()
		store := root.Store()
		w := store.GetVariable("/model/" + VarWeights)
		b := store.GetVariable("/model/" + VarBias)
		if w == nil || b == nil {
			panic(fmt.Errorf("perceptron: variables /model/%s and /model/%s not found", VarWeights, VarBias))
		}
		wv, bv := w.NodeValue(g), b.NodeValue(g)
		xf := flat(x)
		z := scores(xf, wv, bv)
		n := z.Shape().Dimensions[0]
		pred := graph.ArgMax(z, -1, dtypes.Int32)
		// d[i] = onehot(y_i) − onehot(pred_i): +1 on the true class and −1 on the predicted
		// one for a mistake, all zeros for a correct example.
		d := graph.Sub(graph.OneHot(graph.Reshape(y, n), classes, dtypes.Float32), graph.OneHot(pred, classes, dtypes.Float32))
		w.SetNodeValue(graph.Add(wv, graph.MulScalar(graph.MatMul(graph.Transpose(xf, 0, 1), d), eta)))
		b.SetNodeValue(graph.Add(bv, graph.MulScalar(graph.ReduceSum(d, 0), eta)))
	}
	net.Objective = &models.Objective{
		Kind:        models.ObjectiveSupervised,
		Steps:       []models.Step{{Name: "loss", Loss: batch, Update: update}},
		Validate:    batch,
		Metric:      models.MetricAccuracy,
		NeedsLabels: true,
	}
	return net, nil
}

// variables are the weights [features, classes] and biases [classes], zero at the start.
func variables(scope *model.Scope, features, classes int) (w, b *model.Variable) {
	s := scope.WithInitializer(initializer.Zero)
	w = s.VariableWithShape(VarWeights, shapes.Make(dtypes.Float32, features, classes))
	b = s.VariableWithShape(VarBias, shapes.Make(dtypes.Float32, classes))
	return w, b
}

func flat(x *graph.Node) *graph.Node {
	n := x.Shape().Dimensions[0]
	return graph.Reshape(x, n, x.Shape().Size()/max(n, 1))
}

// scores are x·W + b, [B, classes].
func scores(x, w, b *graph.Node) *graph.Node {
	return graph.Add(graph.MatMul(flat(x), w), graph.InsertAxes(b, 0))
}

// criterion is the perceptron criterion mean(max_c z_c − z_y).
func criterion(z, y *graph.Node) *graph.Node {
	n, classes := z.Shape().Dimensions[0], z.Shape().Dimensions[1]
	zy := graph.ReduceSum(graph.Mul(z, graph.OneHot(graph.Reshape(y, n), classes, dtypes.Float32)), -1)
	return graph.ReduceAllMean(graph.Sub(graph.ReduceMax(z, -1), zy))
}

// correct counts the examples whose highest score is their class.
func correct(z, y *graph.Node) *graph.Node {
	n := z.Shape().Dimensions[0]
	hit := graph.Equal(graph.ArgMax(z, -1, dtypes.Int32), graph.Reshape(y, n))
	return graph.ReduceAllSum(graph.ConvertDType(hit, dtypes.Float32))
}
