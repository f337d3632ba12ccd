package models_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/gomlx/gomlx/ml/model/initializer"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/biopipe/biopipe/contract"
	"github.com/biopipe/biopipe/dataset"
	"github.com/biopipe/biopipe/models"
	"github.com/biopipe/biopipe/models/internal/synth"
)

// A two-network family with a two-step objective: step "a_loss" updates net a only (its
// loss also pulls b towards 5, which must not move b), step "b_loss" updates net b with its
// own optimizer (SGD) towards 2. The sampler maps noise z to a*z + b.
func init() {
	scalarVar := func(scope *model.Scope, net string, g *graph.Graph) *graph.Node {
		return scope.At("%s", net).WithInitializer(initializer.Zero).VariableWithShape("v", shapes.Make(dtypes.Float32)).NodeValue(g)
	}
	sq := func(v *graph.Node, c float64) *graph.Node { return graph.Square(graph.AddScalar(v, -c)) }
	models.Register(&models.Family{
		Name: "test_pair",
		Doc:  "test two-network objective",
		Task: models.Generation,
		Build: func(spec models.Spec, _ contract.Config) (*models.Network, error) {
			obj := &models.Objective{Kind: models.ObjectiveAdversarial}
			obj.Steps = []models.Step{
				{Name: "a_loss", Net: "a", Loss: func(root *model.Scope, x, _ *graph.Node) (*graph.Node, *graph.Node) {
					g := x.Graph()
					m := obj.Model(root)
					return graph.Add(sq(scalarVar(m, "a", g), 1), sq(scalarVar(m, "b", g), 5)), nil
				}},
				{Name: "b_loss", Net: "b", Optimizer: &models.OptimizerConfig{Name: models.OptSGD, LearningRate: 0.1},
					Loss: func(root *model.Scope, x, _ *graph.Node) (*graph.Node, *graph.Node) {
						return sq(scalarVar(obj.Model(root), "b", x.Graph()), 2), nil
					}},
			}
			return &models.Network{
				Objective: obj,
				Forward: func(scope *model.Scope, x *graph.Node) []*graph.Node {
					g := x.Graph()
					s := graph.ReduceSum(x, -1)
					return []*graph.Node{graph.Reshape(graph.Add(graph.Mul(s, scalarVar(scope, "a", g)), scalarVar(scope, "b", g)), -1, 1)}
				},
				Sampler: &models.Sampler{NoiseShape: spec.InputShape, Steps: 1,
					Step: func(scope *model.Scope, z, _, _, _ *graph.Node) *graph.Node {
						g := z.Graph()
						return graph.Add(graph.Mul(z, scalarVar(scope, "a", g)), scalarVar(scope, "b", g))
					}},
			}, nil
		},
	})
}

func TestMultiNetworkObjective(t *testing.T) {
	out := t.TempDir()
	opts := models.TrainOptions{
		Family: "test_pair", Train: synth.Blobs(64, 4, 1, 1), Val: synth.Blobs(16, 4, 1, 2),
		Epochs: 40, BatchSize: 8, Seed: 3, OutDir: out,
		Optimizer: models.OptimizerConfig{Name: models.OptAdam, LearningRate: 0.05},
	}
	prog := &statusProgress{}
	opts.Progress = func(string, int) contract.Progress { return prog }
	res, err := models.Train(context.Background(), opts)
	require.NoError(t, err)
	assert.Regexp(t, `^a_loss \S+ b_loss \S+$`, prog.status, "the progress line shows every network's loss")
	h := res.History
	require.Len(t, h.Epochs, 40)
	last := h.Epochs[len(h.Epochs)-1]
	require.Contains(t, last.Losses, "a_loss")
	require.Contains(t, last.Losses, "b_loss")
	assert.Equal(t, last.Losses["b_loss"], last.TrainLoss, "train_loss is the last step's loss")
	assert.Nil(t, last.ValLoss, "an objective without Validate has no validation loss")
	assert.Equal(t, 40, res.Card.BestEpoch, "no early stopping: the final weights are kept")

	// Step a moved only a (to 1), step b only b (to 2, not pulled towards 5 by a's loss).
	ones := onesMatrix(2, 4)
	s, err := res.Trained.Sample(context.Background(), 2, nil, 1)
	require.NoError(t, err)
	require.Equal(t, []int{4}, s.Shape)
	pred, err := res.Trained.Predict(context.Background(), ones)
	require.NoError(t, err)
	assert.InDelta(t, 4*1+2, pred[0][0], 0.05, "a*sum(x)+b with a=1, b=2")

	// The checkpoint holds both networks; Load and init_from see them.
	back, err := models.Load(out, "")
	require.NoError(t, err)
	pred2, err := back.Predict(context.Background(), ones)
	require.NoError(t, err)
	assert.Equal(t, pred, pred2)
	s2, err := back.Sample(context.Background(), 2, nil, 1)
	require.NoError(t, err)
	assert.Equal(t, s.X, s2.X, "same seed, same samples")
	s3, err := back.Sample(context.Background(), 2, nil, 2)
	require.NoError(t, err)
	assert.NotEqual(t, s.X, s3.X, "another seed, other samples")

	opts.OutDir, opts.InitFrom, opts.Epochs, opts.Progress = "", filepath.Join(out, models.CheckpointDir), 1, nil
	res2, err := models.Train(context.Background(), opts)
	require.NoError(t, err)
	assert.ElementsMatch(t, []string{"/model/a/v", "/model/b/v"}, res2.Card.InitFrom.Loaded)
}

type statusProgress struct{ status string }

func (p *statusProgress) Add(int)            {}
func (p *statusProgress) Close()             {}
func (p *statusProgress) SetStatus(s string) { p.status = s }

func onesMatrix(n, d int) *dataset.Matrix {
	x := make([]float32, n*d)
	for i := range x {
		x[i] = 1
	}
	return &dataset.Matrix{N: n, Shape: []int{d}, X: x}
}
