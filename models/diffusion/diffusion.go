// Package diffusion registers the "diffusion" model family: a small denoising diffusion
// probabilistic model (DDPM, Ho et al. 2020) for images [H, W, C] and volumes [D, H, W, C]
// with values in [0, 1] (scaled to [-1, 1] inside), optionally class-conditional.
//
// Training adds Gaussian noise to a batch at a random step t of a linear or cosine beta
// schedule of T steps and trains a U-Net-like convolutional network to predict that noise
// (mean squared error): per level two "same" convolutions with the activation, the first
// biased per channel by a sinusoidal step embedding (plus a class embedding when
// conditional) through a small MLP, 2x average pooling down, upsample + conv up, skip
// connections by channel concatenation. The validation loss is the same noise-prediction
// error on the val rows, so early stopping works as for any model.
//
// Sampling is ancestral: from pure noise, T steps of the posterior mean (with the
// predicted clean image clipped to the data range) plus noise of the posterior variance.
// A conditional model trained with label_dropout > 0 also learns the unconditional
// prediction, and guidance w > 0 samples with classifier-free guidance:
// (1 + w) * eps(x, t, y) - w * eps(x, t, none).
//
// Variables: /model/denoiser/{step_mlp_<i>,class_embedding,down_<i>_conv_<j>,
// down_<i>_step,up_<i>_conv,output}.
package diffusion

import (
	"fmt"
	"math"
	"slices"

	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/ml/layers"
	"github.com/gomlx/gomlx/ml/layers/activation"
	"github.com/gomlx/gomlx/ml/model"

	"github.com/biopipe/biopipe/contract"
	"github.com/biopipe/biopipe/models"
	"github.com/biopipe/biopipe/models/internal/convnet"
)

// Family is the registered family name.
const Family = "diffusion"

// Denoiser is the scope of the noise-prediction network.
const Denoiser = "denoiser"

// Hyper-parameter names.
const (
	ParamChannels     = "channels"
	ParamKernelSize   = "kernel_size"
	ParamActivation   = "activation"
	ParamTimesteps    = "timesteps"
	ParamSchedule     = "schedule"
	ParamEmbedding    = "embedding_dim"
	ParamConditional  = "conditional"
	ParamLabelDropout = "label_dropout"
	ParamGuidance     = "guidance"
)

// Schedules are the choices of the schedule param.
var Schedules = []string{"linear", "cosine"}

// Params are the family's hyper-parameters.
var Params = []contract.Field{
	{Name: ParamChannels, Type: contract.Ints, Default: []any{32, 64}, Min: contract.Bound(1),
		Doc: "denoiser channels per level (two convs each; 2x pooling between levels, mirrored by upsample + conv with skip connections)"},
	{Name: ParamKernelSize, Type: contract.Int, Default: 3, Min: contract.Bound(1),
		Doc: "convolution kernel size along every spatial axis (\"same\" padding)"},
	{Name: ParamActivation, Type: contract.String, Default: "swish", Enum: models.Activations,
		Doc: "activation after each convolution and in the step-embedding MLP"},
	{Name: ParamTimesteps, Type: contract.Int, Default: 100, Min: contract.Bound(2), Max: contract.Bound(4000),
		Doc: "number of diffusion steps T (training and ancestral sampling)"},
	{Name: ParamSchedule, Type: contract.String, Default: "cosine", Enum: Schedules,
		Doc: "beta schedule: linear (DDPM's 1e-4..0.02, scaled by 1000/T, at most 0.999) or cosine (Nichol & Dhariwal 2021)"},
	{Name: ParamEmbedding, Type: contract.Int, Default: 64, Min: contract.Bound(2),
		Doc: "width of the sinusoidal step embedding and of its MLP"},
	{Name: ParamConditional, Type: contract.Bool, Default: false,
		Doc: "condition the denoiser on the class label (needs class labels; samples are drawn per class)"},
	{Name: ParamLabelDropout, Type: contract.Float, Default: 0.1, Min: contract.Bound(0), Max: contract.Bound(1),
		Doc: "conditional: share of training examples whose label is replaced by \"none\", so the model also learns the unconditional prediction (classifier-free guidance)"},
	{Name: ParamGuidance, Type: contract.Float, Default: 0.0, Min: contract.Bound(0),
		Doc: "conditional: classifier-free guidance weight w at sampling (0 = plain conditional sampling)"},
}

func init() {
	models.Register(&models.Family{
		Name: Family, Params: Params, Task: models.Generation, Build: Build,
		Doc: "denoising diffusion model (DDPM, U-Net-like conv denoiser, ancestral sampling) for images and volumes, optionally class-conditional",
	})
}

type config struct {
	channels    []int
	kernel      int
	act         string
	steps       int
	emb         int
	conditional bool
	classes     int
	dropout     float64
	guidance    float64
	shape       []int
	plan        [][]int
	// Schedule tables, index t = 0..T-1.
	sqrtAbar, sqrt1mAbar, coef1, coef2, sigma []float32
}

// Build returns the diffusion model for the spec and params.
func Build(spec models.Spec, p contract.Config) (*models.Network, error) {
	if err := convnet.CheckImageShape(Family, spec.InputShape); err != nil {
		return nil, err
	}
	c := &config{
		channels: p.Ints(ParamChannels), kernel: p.Int(ParamKernelSize), act: p.String(ParamActivation),
		steps: p.Int(ParamTimesteps), emb: p.Int(ParamEmbedding), conditional: p.Bool(ParamConditional),
		classes: spec.NumClasses, dropout: p.Float(ParamLabelDropout), guidance: p.Float(ParamGuidance),
		shape: slices.Clone(spec.InputShape),
	}
	if len(c.channels) == 0 {
		return nil, fmt.Errorf("%s: %s: give at least one level", Family, ParamChannels)
	}
	if c.conditional && c.classes < 2 {
		return nil, fmt.Errorf("%s: %s needs class labels (a label column with at least 2 classes)", Family, ParamConditional)
	}
	if c.guidance > 0 && (!c.conditional || c.dropout == 0) {
		return nil, fmt.Errorf("%s: %s needs conditional: true and label_dropout > 0 (the unconditional prediction)", Family, ParamGuidance)
	}
	c.emb += c.emb % 2
	c.plan = convnet.Plan(c.shape[:len(c.shape)-1], len(c.channels)-1)
	c.schedule(p.String(ParamSchedule))

	obj := &models.Objective{Kind: models.ObjectiveDiffusion, NeedsLabels: c.conditional}
	loss := func(root *model.Scope, x, y *graph.Node) (*graph.Node, *graph.Node) {
		g := x.Graph()
		b := x.Shape().Dimensions[0]
		x0 := graph.AddScalar(graph.MulScalar(x, 2), -1)
		u := root.RandomUniform(g, shapes.Make(dtypes.Float32, b))
		t := graph.ConvertDType(graph.StopGradient(graph.MinScalar(graph.Floor(graph.MulScalar(u, float64(c.steps))), float64(c.steps-1))), dtypes.Int32)
		eps := root.RandomNormal(g, x.Shape())
		xt := graph.Add(graph.Mul(perExample(c.lookup(t, c.sqrtAbar), x0), x0), graph.Mul(perExample(c.lookup(t, c.sqrt1mAbar), x0), eps))
		var labels *graph.Node
		if c.conditional {
			labels = graph.Reshape(y, b)
			if c.dropout > 0 && root.IsTraining(g) {
				drop := graph.LessThan(root.RandomUniform(g, shapes.Make(dtypes.Float32, b)), graph.Scalar(g, dtypes.Float32, c.dropout))
				labels = graph.Where(drop, graph.Scalar(g, dtypes.Int32, c.classes), labels)
			}
		}
		pred := c.denoise(obj.Model(root).At(Denoiser), xt, t, labels)
		return graph.ReduceAllMean(graph.Square(graph.Sub(pred, eps))), nil
	}
	obj.Steps = []models.Step{{Name: "loss", Net: Denoiser, Loss: loss}}
	obj.Validate = loss
	net := &models.Network{
		Objective:   obj,
		OutputNames: []string{"noise_norm"},
		// Forward scores an example by the mean square of the noise the denoiser sees in it
		// at the last step (t = 0): small for clean examples like the training data.
		Forward: func(scope *model.Scope, x *graph.Node) []*graph.Node {
			b := x.Shape().Dimensions[0]
			x0 := graph.AddScalar(graph.MulScalar(x, 2), -1)
			t := graph.Zeros(x.Graph(), shapes.Make(dtypes.Int32, b))
			var labels *graph.Node
			if c.conditional {
				labels = graph.AddScalar(t, float64(c.classes)) // "none"
			}
			pred := c.denoise(scope.At(Denoiser), x0, t, labels)
			return []*graph.Node{graph.ReduceAndKeep(graph.Square(flatten(pred)), graph.ReduceMean, -1)}
		},
		Sampler: &models.Sampler{NoiseShape: c.shape, Steps: c.steps, StepNoise: true, Conditional: c.conditional,
			Step: c.sampleStep},
	}
	return net, nil
}

// schedule fills the tables of the beta schedule.
func (c *config) schedule(kind string) {
	T := c.steps
	betas := make([]float64, T)
	if kind == "linear" {
		scale := 1000 / float64(T)
		lo, hi := 1e-4*scale, 0.02*scale
		for t := range betas {
			betas[t] = math.Min(lo+(hi-lo)*float64(t)/float64(T-1), 0.999)
		}
	} else {
		const s = 0.008
		f := func(t float64) float64 { return math.Pow(math.Cos((t/float64(T)+s)/(1+s)*math.Pi/2), 2) }
		for t := range betas {
			betas[t] = math.Min(1-f(float64(t+1))/f(float64(t)), 0.999)
		}
	}
	c.sqrtAbar, c.sqrt1mAbar = make([]float32, T), make([]float32, T)
	c.coef1, c.coef2, c.sigma = make([]float32, T), make([]float32, T), make([]float32, T)
	abar := 1.0
	for t, beta := range betas {
		prev := abar
		abar *= 1 - beta
		c.sqrtAbar[t] = float32(math.Sqrt(abar))
		c.sqrt1mAbar[t] = float32(math.Sqrt(1 - abar))
		// Posterior q(x_{t-1} | x_t, x_0): mean coef1 * x_0 + coef2 * x_t, variance sigma^2.
		c.coef1[t] = float32(beta * math.Sqrt(prev) / (1 - abar))
		c.coef2[t] = float32((1 - prev) * math.Sqrt(1-beta) / (1 - abar))
		c.sigma[t] = float32(math.Sqrt(beta * (1 - prev) / (1 - abar)))
	}
}

// lookup gathers table[t] for int32 steps t [B] (or a scalar): [B] (or a scalar).
func (c *config) lookup(t *graph.Node, table []float32) *graph.Node {
	oh := graph.StopGradient(graph.OneHot(t, c.steps, dtypes.Float32))
	tab := graph.Const(t.Graph(), table)
	if oh.Rank() == 2 {
		tab = graph.Reshape(tab, 1, c.steps)
	}
	return graph.ReduceSum(graph.Mul(oh, tab), -1)
}

// perExample reshapes v [B] to broadcast against x [B, ...].
func perExample(v, x *graph.Node) *graph.Node {
	dims := make([]int, x.Rank())
	for i := range dims {
		dims[i] = 1
	}
	dims[0] = x.Shape().Dimensions[0]
	return graph.Reshape(v, dims...)
}

func flatten(x *graph.Node) *graph.Node {
	b := x.Shape().Dimensions[0]
	return graph.Reshape(x, b, x.Shape().Size()/max(b, 1))
}

// embed is the step (and class) embedding [B, emb] of steps t [B].
func (c *config) embed(scope *model.Scope, t, labels *graph.Node) *graph.Node {
	e := convnet.StepEmbedding(t, c.emb)
	e = activation.Apply(activation.FromName(c.act), layers.DenseWithBias(scope.In("step_mlp_0"), e, c.emb))
	e = layers.DenseWithBias(scope.In("step_mlp_1"), e, c.emb)
	if c.conditional && labels != nil {
		e = graph.Add(e, layers.Dense(scope.In("class_embedding"), convnet.OneHot(labels, c.classes+1), false, c.emb))
	}
	return activation.Apply(activation.FromName(c.act), e)
}

// denoise predicts the noise in xt [B, spatial..., C] at steps t [B] (labels [B]: class
// indices, c.classes meaning "none"; nil when unconditional).
func (c *config) denoise(scope *model.Scope, xt, t, labels *graph.Node) *graph.Node {
	e := c.embed(scope, t, labels)
	h := convnet.ToCF(xt)
	var skips []*graph.Node
	last := len(c.channels) - 1
	for i, ch := range c.channels {
		if i > 0 {
			h = convnet.Down(h)
		}
		h = convnet.Conv(scope.In("down_%d_conv_0", i), h, ch, c.kernel)
		h = convnet.Act(convnet.ChannelBias(h, layers.DenseWithBias(scope.In("down_%d_step", i), e, ch)), c.act)
		h = convnet.Act(convnet.Conv(scope.In("down_%d_conv_1", i), h, ch, c.kernel), c.act)
		if i < last {
			skips = append(skips, h)
		}
	}
	for i := last - 1; i >= 0; i-- {
		h = convnet.Up(h, c.plan[i])
		h = graph.Concatenate([]*graph.Node{h, skips[i]}, 0)
		h = convnet.Act(convnet.Conv(scope.In("up_%d_conv", i), h, c.channels[i], c.kernel), c.act)
	}
	return convnet.ToCL(convnet.Conv(scope.In("output"), h, c.shape[len(c.shape)-1], c.kernel))
}

// sampleStep is one ancestral sampling step from x_t to x_{t-1}; at t = 0 it returns the
// posterior mean mapped back to [0, 1].
func (c *config) sampleStep(scope *model.Scope, xt, t, labels, noise *graph.Node) *graph.Node {
	g := xt.Graph()
	b := xt.Shape().Dimensions[0]
	tb := graph.BroadcastToDims(graph.Reshape(t, 1), b)
	var eps *graph.Node
	if c.conditional && c.guidance > 0 {
		// One batch of 2B: the conditional and the unconditional ("none") predictions.
		none := graph.BroadcastToDims(graph.Scalar(g, dtypes.Int32, c.classes), b)
		both := c.denoise(scope.At(Denoiser), graph.Concatenate([]*graph.Node{xt, xt}, 0),
			graph.Concatenate([]*graph.Node{tb, tb}, 0), graph.Concatenate([]*graph.Node{labels, none}, 0))
		cond := graph.Slice(both, graph.AxisRange(0, b))
		uncond := graph.Slice(both, graph.AxisRange(b, 2*b))
		eps = graph.Sub(graph.MulScalar(cond, 1+c.guidance), graph.MulScalar(uncond, c.guidance))
	} else {
		eps = c.denoise(scope.At(Denoiser), xt, tb, labels)
	}
	x0 := graph.Div(graph.Sub(xt, graph.Mul(c.lookup(t, c.sqrt1mAbar), eps)), c.lookup(t, c.sqrtAbar))
	x0 = graph.ClipScalar(x0, -1, 1)
	mean := graph.Add(graph.Mul(c.lookup(t, c.coef1), x0), graph.Mul(c.lookup(t, c.coef2), xt))
	next := graph.Add(mean, graph.Mul(c.lookup(t, c.sigma), noise))
	last := graph.ConvertDType(graph.Equal(t, graph.ScalarZero(g, dtypes.Int32)), dtypes.Float32)
	final := graph.MulScalar(graph.AddScalar(mean, 1), 0.5)
	return graph.Add(graph.Mul(last, final), graph.Mul(graph.OneMinus(last), next))
}
