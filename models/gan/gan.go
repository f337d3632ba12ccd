// Package gan registers the "gan" model family: a DCGAN-style generative adversarial
// network for images [H, W, C] and volumes [D, H, W, C], optionally class-conditional.
//
// The generator maps a latent code z ~ N(0, I) (with the class one-hot, when conditional)
// through a dense layer to the coarsest feature map, then per level upsample + "same"
// convolution + LeakyReLU(0.2), and a last convolution with a sigmoid (inputs in [0, 1]) or tanh
// ([-1, 1]) output. The discriminator mirrors it: per level a convolution, LeakyReLU(0.2)
// and 2x average pooling, then a dense logit; a conditional discriminator adds a class
// projection (the inner product of a learned class embedding and its features).
//
// Training is the adversarial objective of package models: on every batch a
// discriminator step, then a generator step, each with its own Adam optimizer (beta1 0.5) and
// learning rate. The discriminator loss uses one-sided label smoothing (real targets 1 - s); the
// generator loss is the non-saturating -log D(G(z)). Every sample_every epochs a fixed
// noise batch (one row per class when conditional) is rendered to
// samples_epoch_<NNN>.png in the model folder, so training can be watched.
//
// Variables: /model/generator/{dense,conv_<i>,output}, /model/discriminator/{conv_<i>,
// logit,projection}.
package gan

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"

	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/ml/layers"
	"github.com/gomlx/gomlx/ml/model"

	"github.com/biopipe/biopipe/contract"
	"github.com/biopipe/biopipe/models"
	"github.com/biopipe/biopipe/models/internal/convnet"
	"github.com/biopipe/biopipe/plots"
)

// Family is the registered family name.
const Family = "gan"

// Network scopes.
const (
	Generator     = "generator"
	Discriminator = "discriminator"
)

// Hyper-parameter names.
const (
	ParamChannels       = "channels"
	ParamKernelSize     = "kernel_size"
	ParamLatentDim      = "latent_dim"
	ParamConditional    = "conditional"
	ParamLabelSmoothing = "label_smoothing"
	ParamGLearningRate  = "generator_learning_rate"
	ParamDLearningRate  = "discriminator_learning_rate"
	ParamOutput         = "output_activation"
	ParamSampleEvery    = "sample_every"
)

// Outputs are the choices of output_activation.
var Outputs = []string{"sigmoid", "tanh"}

// Params are the family's hyper-parameters.
var Params = []contract.Field{
	{Name: ParamChannels, Type: contract.Ints, Default: []any{32, 64}, Min: contract.Bound(1),
		Doc: "discriminator channels per level (conv + LeakyReLU + 2x pooling); the generator mirrors them with upsample + conv"},
	{Name: ParamKernelSize, Type: contract.Int, Default: 3, Min: contract.Bound(1),
		Doc: "convolution kernel size along every spatial axis (\"same\" padding)"},
	{Name: ParamLatentDim, Type: contract.Int, Default: 32, Min: contract.Bound(1), Doc: "size of the generator's latent code"},
	{Name: ParamConditional, Type: contract.Bool, Default: false,
		Doc: "condition both networks on the class label (needs class labels; samples are drawn per class)"},
	{Name: ParamLabelSmoothing, Type: contract.Float, Default: 0.1, Min: contract.Bound(0), Max: contract.Bound(0.5),
		Doc: "one-sided label smoothing: the discriminator's target for real examples is 1 - this"},
	{Name: ParamGLearningRate, Type: contract.Float, Default: 0.0, Min: contract.Bound(0),
		Doc: "the generator's Adam learning rate (0 = optimizer.learning_rate)"},
	{Name: ParamDLearningRate, Type: contract.Float, Default: 0.0, Min: contract.Bound(0),
		Doc: "the discriminator's Adam learning rate (0 = optimizer.learning_rate)"},
	{Name: ParamOutput, Type: contract.String, Default: "sigmoid", Enum: Outputs,
		Doc: "the generator's output: sigmoid for inputs in [0, 1], tanh for [-1, 1]"},
	{Name: ParamSampleEvery, Type: contract.Int, Default: 5, Min: contract.Bound(0),
		Doc: "render the fixed noise batch to samples_epoch_<N>.png every this many epochs (and after the first; 0 = never)"},
}

func init() {
	models.Register(&models.Family{
		Name: Family, Params: Params, Task: models.Generation, Build: Build,
		Doc: "DCGAN-style generative adversarial network for images and volumes (optionally class-conditional)",
	})
}

type config struct {
	channels    []int
	kernel      int
	latent      int
	conditional bool
	classes     int
	smoothing   float64
	tanh        bool
	every       int
	shape       []int
	plan        [][]int
}

// Build returns the GAN for the spec and params.
func Build(spec models.Spec, p contract.Config) (*models.Network, error) {
	if err := convnet.CheckImageShape(Family, spec.InputShape); err != nil {
		return nil, err
	}
	c := &config{
		channels: p.Ints(ParamChannels), kernel: p.Int(ParamKernelSize), latent: p.Int(ParamLatentDim),
		conditional: p.Bool(ParamConditional), classes: spec.NumClasses, smoothing: p.Float(ParamLabelSmoothing),
		tanh: p.String(ParamOutput) == "tanh", every: p.Int(ParamSampleEvery), shape: slices.Clone(spec.InputShape),
	}
	if len(c.channels) == 0 {
		return nil, fmt.Errorf("%s: %s: give at least one level", Family, ParamChannels)
	}
	if c.conditional && c.classes < 2 {
		return nil, fmt.Errorf("%s: %s needs class labels (a label column with at least 2 classes)", Family, ParamConditional)
	}
	c.plan = convnet.Plan(c.shape[:len(c.shape)-1], len(c.channels))
	obj := &models.Objective{Kind: models.ObjectiveAdversarial, NeedsLabels: c.conditional}
	// Each network has its own Adam with DCGAN's beta1 = 0.5 (a learning rate of 0 takes
	// optimizer.learning_rate).
	dOpt := &models.OptimizerConfig{Name: models.OptAdam, LearningRate: p.Float(ParamDLearningRate), Beta1: 0.5}
	gOpt := &models.OptimizerConfig{Name: models.OptAdam, LearningRate: p.Float(ParamGLearningRate), Beta1: 0.5}
	obj.Steps = []models.Step{
		{Name: "d_loss", Net: Discriminator, Optimizer: dOpt, Loss: func(root *model.Scope, x, y *graph.Node) (*graph.Node, *graph.Node) {
			m := obj.Model(root)
			fake := graph.StopGradient(c.generate(m.At(Generator), c.noise(root, x), y))
			real := c.discriminate(m.At(Discriminator), x, y)
			fakeLogit := c.discriminate(m.At(Discriminator), fake, y)
			s := c.smoothing
			lossReal := graph.Add(graph.MulScalar(graph.Softplus(graph.Neg(real)), 1-s), graph.MulScalar(graph.Softplus(real), s))
			return graph.Add(graph.ReduceAllMean(lossReal), graph.ReduceAllMean(graph.Softplus(fakeLogit))), nil
		}},
		{Name: "g_loss", Net: Generator, Optimizer: gOpt, Loss: func(root *model.Scope, x, y *graph.Node) (*graph.Node, *graph.Node) {
			m := obj.Model(root)
			fake := c.generate(m.At(Generator), c.noise(root, x), y)
			return graph.ReduceAllMean(graph.Softplus(graph.Neg(c.discriminate(m.At(Discriminator), fake, y)))), nil
		}},
	}
	if c.every > 0 {
		obj.AfterEpoch = c.renderSamples
	}
	net := &models.Network{
		Objective:   obj,
		OutputNames: []string{"real_logit"},
		Forward: func(scope *model.Scope, x *graph.Node) []*graph.Node {
			return []*graph.Node{c.discriminate(scope.At(Discriminator), x, nil)}
		},
		Sampler: &models.Sampler{NoiseShape: []int{c.latent}, Steps: 1, Conditional: c.conditional,
			Step: func(scope *model.Scope, z, _, labels, _ *graph.Node) *graph.Node {
				return c.generate(scope.At(Generator), z, labels)
			}},
	}
	return net, nil
}

// noise draws latent codes for a batch like x from the model's seeded RNG.
func (c *config) noise(root *model.Scope, x *graph.Node) *graph.Node {
	return root.RandomNormal(x.Graph(), shapes.Make(dtypes.Float32, x.Shape().Dimensions[0], c.latent))
}

// generate maps codes z [B, latent] (and labels, when conditional) to examples
// [B, spatial..., C].
func (c *config) generate(scope *model.Scope, z, labels *graph.Node) *graph.Node {
	if c.conditional && labels != nil {
		z = graph.Concatenate([]*graph.Node{z, convnet.OneHot(labels, c.classes)}, -1)
	}
	last := c.plan[len(c.plan)-1]
	top := c.channels[len(c.channels)-1]
	n := top
	for _, d := range last {
		n *= d
	}
	h := convnet.Act(layers.DenseWithBias(scope.In("dense"), z, n), "leaky_relu")
	h = convnet.Unflatten(h, last, top)
	for i := len(c.channels) - 1; i >= 0; i-- {
		h = convnet.Act(convnet.UpConv(scope.In("conv_%d", len(c.channels)-1-i), h, c.plan[i], c.channels[i], c.kernel), "leaky_relu")
	}
	out := convnet.ToCL(convnet.Conv(scope.In("output"), h, c.shape[len(c.shape)-1], c.kernel))
	if c.tanh {
		return graph.Tanh(out)
	}
	return graph.Sigmoid(out)
}

// discriminate returns the logit [B, 1] that x [B, spatial..., C] is real; labels (when
// conditional and given) add the class projection.
func (c *config) discriminate(scope *model.Scope, x, labels *graph.Node) *graph.Node {
	h := convnet.ToCF(x)
	for i, ch := range c.channels {
		h = convnet.Down(convnet.Act(convnet.Conv(scope.In("conv_%d", i), h, ch, c.kernel), "leaky_relu"))
	}
	f := convnet.Flatten(h)
	logit := layers.DenseWithBias(scope.In("logit"), f, 1)
	if c.conditional {
		// The projection's variable is created even without labels (Forward), so init_from
		// and Load see it; its value is read only when labels are given (the go backend
		// rejects graphs with unused parameters).
		f0 := f.Shape().Dimensions[1]
		v := scope.In("projection").VariableWithShape("weights", shapes.Make(dtypes.Float32, c.classes, f0))
		if labels != nil {
			emb := graph.MatMul(convnet.OneHot(labels, c.classes), v.NodeValue(x.Graph()))
			logit = graph.Add(logit, graph.ReduceAndKeep(graph.Mul(emb, f), graph.ReduceSum, -1))
		}
	}
	return logit
}

// renderSamples draws the fixed noise batch after epoch 1 and every c.every epochs.
func (c *config) renderSamples(ctx context.Context, epoch int, m *models.Trained, outDir string) ([]string, error) {
	if epoch != 1 && epoch%c.every != 0 {
		return nil, nil
	}
	n, cols := 64, 8
	var labels []int
	if m.Conditional() {
		k := min(c.classes, 10)
		n = k * cols
		for i := range n {
			labels = append(labels, i/cols)
		}
	}
	s, err := m.Sample(ctx, n, labels, FixedNoiseSeed)
	if err != nil {
		return nil, fmt.Errorf("sample grid: %w", err)
	}
	rows := make([][]float32, s.N)
	per := len(s.X) / s.N
	for i := range rows {
		rows[i] = s.X[i*per : (i+1)*per]
	}
	lo := 0.0
	if c.tanh {
		lo = -1
	}
	png, err := plots.ImageGrid(rows, c.shape, cols, lo, 1)
	if err != nil {
		return nil, err
	}
	name := SampleFile(epoch)
	if err := os.WriteFile(filepath.Join(outDir, name), png, 0o644); err != nil {
		return nil, fmt.Errorf("sample grid: %w", err)
	}
	return []string{name}, nil
}

// FixedNoiseSeed seeds the noise batch rendered during training (the same every epoch).
const FixedNoiseSeed = 0x6e6f697365 // "noise"

// SampleFile is the name of the sample grid rendered after an epoch.
func SampleFile(epoch int) string { return fmt.Sprintf("samples_epoch_%03d.png", epoch) }
