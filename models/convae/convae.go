// Package convae registers two model families for images [H, W, C] and volumes
// [D, H, W, C]:
//
//   - "conv_autoencoder": a convolutional encoder (per level: a "same" convolution,
//     the activation, 2x average pooling) to a dense latent code, and a decoder that
//     mirrors it with upsample + convolution (nearest-neighbour 2x upsampling, then a
//     "same" convolution: no transposed convolution, so no checkerboard artefacts, and
//     every op has a fast, exact gradient on the go backend through fastconv);
//   - "conv_vae": the same with a variational latent code (mean and log-variance,
//     reparameterisation from the model's seeded RNG in training, beta-weighted KL); it
//     samples from the prior (Trained.Sample) and decodes given codes (Trained.SampleFrom).
//
// loss is mse (linear output) or bce (sigmoid output, for inputs in [0, 1]). The main
// output is the reconstruction, in the input's units; "latent" (the VAE's mean) and, for
// the VAE, "log_variance" follow. Variables: encoder/conv_<i>, encoder/latent,
// encoder/log_variance, decoder/dense, decoder/conv_<i>, decoder/output; the encoder's
// scope names match so init_from can move an encoder between the two.
package convae

import (
	"fmt"
	"math"
	"slices"

	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/ml/layers"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/gomlx/gomlx/ml/model/initializer"
	"github.com/gomlx/gomlx/ml/train/optimizer"

	"github.com/biopipe/biopipe/contract"
	"github.com/biopipe/biopipe/models"
	"github.com/biopipe/biopipe/models/autoencoder"
	"github.com/biopipe/biopipe/models/internal/convnet"
)

// Family names.
const (
	ConvAutoencoder = "conv_autoencoder"
	ConvVAE         = "conv_vae"
)

// Hyper-parameter names (channels, kernel_size, latent_dim, activation, beta and
// kl_warmup_steps mean what they mean in the cnn and vae families).
const (
	ParamChannels   = "channels"
	ParamKernelSize = "kernel_size"
	ParamLatentDim  = "latent_dim"
	ParamActivation = "activation"
	ParamLoss       = "loss"
	ParamBeta       = autoencoder.ParamBeta
	ParamKLWarmup   = autoencoder.ParamKLWarmup
)

// Losses are the choices of the loss param.
var Losses = []string{"mse", "bce"}

func baseParams() []contract.Field {
	return []contract.Field{
		{Name: ParamChannels, Type: contract.Ints, Default: []any{16, 32}, Min: contract.Bound(1),
			Doc: "encoder channels per level, each level a conv + activation + 2x average pooling (the decoder mirrors them with upsample + conv)"},
		{Name: ParamKernelSize, Type: contract.Int, Default: 3, Min: contract.Bound(1),
			Doc: "convolution kernel size along every spatial axis (\"same\" padding)"},
		{Name: ParamLatentDim, Type: contract.Int, Default: 8, Min: contract.Bound(1), Doc: "size of the latent code"},
		{Name: ParamActivation, Type: contract.String, Default: "relu", Enum: models.Activations,
			Doc: "activation after each hidden layer"},
		{Name: ParamLoss, Type: contract.String, Default: "mse", Enum: Losses,
			Doc: "reconstruction loss: mse (linear output) or bce (sigmoid output; inputs in [0, 1])"},
	}
}

// Params are the conv_autoencoder's hyper-parameters; VAEParams the conv_vae's.
var (
	Params    = baseParams()
	VAEParams = append(baseParams(),
		contract.Field{Name: ParamBeta, Type: contract.Float, Default: 1.0, Min: contract.Bound(0),
			Doc: "weight of the KL divergence against the summed squared reconstruction error (beta-VAE; 0 = a plain autoencoder with noise)"},
		contract.Field{Name: ParamKLWarmup, Type: contract.Int, Default: 0, Min: contract.Bound(0),
			Doc: "raise the KL weight linearly from 0 to beta over this many training steps (0 = no warm-up); validation uses the full beta"},
	)
)

func init() {
	models.Register(&models.Family{
		Name: ConvAutoencoder, Params: Params, Task: models.Reconstruction, Build: Build,
		Doc: "convolutional autoencoder for images [H,W,C] and volumes [D,H,W,C] (upsample+conv decoder); exports the latent code as output \"latent\"",
	})
	models.Register(&models.Family{
		Name: ConvVAE, Params: VAEParams, Task: models.Reconstruction, Build: BuildVAE,
		Doc: "convolutional variational autoencoder for images and volumes; samples from the prior (generate stage)",
	})
}

type config struct {
	channels []int
	kernel   int
	latent   int
	act      string
	bce      bool
	shape    []int   // per example [spatial..., C]
	plan     [][]int // spatial size per level
	size     int
}

func parse(family string, spec models.Spec, p contract.Config) (*config, error) {
	if err := convnet.CheckImageShape(family, spec.InputShape); err != nil {
		return nil, err
	}
	c := &config{
		channels: p.Ints(ParamChannels), kernel: p.Int(ParamKernelSize), latent: p.Int(ParamLatentDim),
		act: p.String(ParamActivation), bce: p.String(ParamLoss) == "bce", shape: slices.Clone(spec.InputShape),
	}
	if len(c.channels) == 0 {
		return nil, fmt.Errorf("%s: %s: give at least one level", family, ParamChannels)
	}
	if c.latent < 1 {
		return nil, fmt.Errorf("%s: %s must be at least 1", family, ParamLatentDim)
	}
	c.plan = convnet.Plan(c.shape[:len(c.shape)-1], len(c.channels))
	c.size = 1
	for _, d := range c.shape {
		c.size *= d
	}
	return c, nil
}

// encode returns the flattened last feature map [B, F] of x [B, spatial..., C].
func (c *config) encode(enc *model.Scope, x *graph.Node) *graph.Node {
	h := convnet.ToCF(x)
	for i, ch := range c.channels {
		h = convnet.Down(convnet.Act(convnet.Conv(enc.In("conv_%d", i), h, ch, c.kernel), c.act))
	}
	return convnet.Flatten(h)
}

// decode maps codes z [B, latent] to reconstructions [B, spatial..., C] in data units.
func (c *config) decode(dec *model.Scope, z *graph.Node) *graph.Node {
	last := c.plan[len(c.plan)-1]
	top := c.channels[len(c.channels)-1]
	n := top
	for _, d := range last {
		n *= d
	}
	h := convnet.Act(layers.DenseWithBias(dec.In("dense"), z, n), c.act)
	h = convnet.Unflatten(h, last, top)
	for i := len(c.channels) - 1; i >= 0; i-- {
		h = convnet.Act(convnet.UpConv(dec.In("conv_%d", len(c.channels)-1-i), h, c.plan[i], c.channels[i], c.kernel), c.act)
	}
	out := convnet.Conv(dec.In("output"), h, c.shape[len(c.shape)-1], c.kernel)
	out = convnet.ToCL(out)
	if c.bce {
		out = graph.Sigmoid(out)
	}
	return out
}

// reconError is the per-example summed reconstruction error [B]: squared error (mse) or
// binary cross-entropy (bce), of reconstructions r and inputs x.
func (c *config) reconError(x, r *graph.Node) *graph.Node {
	fx, fr := flatten(x), flatten(r)
	if !c.bce {
		return graph.ReduceSum(graph.Square(graph.Sub(fr, fx)), -1)
	}
	const eps = 1e-6
	p := graph.ClipScalar(fr, eps, 1-eps)
	ce := graph.Add(graph.Mul(fx, graph.Log(p)), graph.Mul(graph.OneMinus(fx), graph.Log(graph.OneMinus(p))))
	return graph.Neg(graph.ReduceSum(ce, -1))
}

// Build returns the conv_autoencoder network.
func Build(spec models.Spec, p contract.Config) (*models.Network, error) {
	c, err := parse(ConvAutoencoder, spec, p)
	if err != nil {
		return nil, err
	}
	forward := func(scope *model.Scope, x *graph.Node) []*graph.Node {
		enc := scope.In("encoder")
		z := linear(enc.In("latent"), c.encode(enc, x), c.latent)
		return []*graph.Node{c.decode(scope.In("decoder"), z), z}
	}
	loss := func(_ *model.Scope, x, _ *graph.Node, outs []*graph.Node) *graph.Node {
		return graph.DivScalar(graph.ReduceAllMean(c.reconError(x, outs[0])), float64(c.size))
	}
	return &models.Network{Forward: forward, Loss: loss, OutputNames: []string{"reconstruction", "latent"}}, nil
}

// BuildVAE returns the conv_vae network. Its loss per example is (summed reconstruction
// error + w * KL(q(z|x) || N(0, I))) / input size, averaged over the batch; w is beta,
// ramped up over kl_warmup_steps in training.
func BuildVAE(spec models.Spec, p contract.Config) (*models.Network, error) {
	c, err := parse(ConvVAE, spec, p)
	if err != nil {
		return nil, err
	}
	beta, warmup := p.Float(ParamBeta), p.Int(ParamKLWarmup)
	if beta < 0 || math.IsNaN(beta) {
		return nil, fmt.Errorf("%s: %s must be >= 0, got %v", ConvVAE, ParamBeta, beta)
	}
	forward := func(scope *model.Scope, x *graph.Node) []*graph.Node {
		g := x.Graph()
		enc := scope.In("encoder")
		h := c.encode(enc, x)
		mean := linear(enc.In("latent"), h, c.latent)
		logVar := graph.ClipScalar(linear(enc.In("log_variance"), h, c.latent), -10, 10)
		z := mean
		if scope.IsTraining(g) {
			eps := scope.RandomNormal(g, shapes.Make(dtypes.Float32, mean.Shape().Dimensions...))
			z = graph.Add(mean, graph.Mul(graph.Exp(graph.MulScalar(logVar, 0.5)), eps))
		}
		return []*graph.Node{c.decode(scope.In("decoder"), z), mean, logVar}
	}
	loss := func(scope *model.Scope, x, _ *graph.Node, outs []*graph.Node) *graph.Node {
		g := x.Graph()
		w := graph.Scalar(g, dtypes.Float32, beta)
		if warmup > 0 && beta > 0 && scope.IsTraining(g) {
			step := graph.ConvertDType(optimizer.GetGlobalStepVar(scope).NodeValue(g), dtypes.Float32)
			w = graph.MulScalar(graph.MinScalar(graph.DivScalar(step, float64(warmup)), 1), beta)
		}
		per := graph.Add(c.reconError(x, outs[0]), graph.Mul(w, autoencoder.KL(outs[1], outs[2])))
		return graph.DivScalar(graph.ReduceAllMean(per), float64(c.size))
	}
	sampler := &models.Sampler{NoiseShape: []int{c.latent}, Steps: 1,
		Step: func(scope *model.Scope, z, _, _, _ *graph.Node) *graph.Node {
			return c.decode(scope.In("decoder"), z)
		}}
	return &models.Network{Forward: forward, Loss: loss, Sampler: sampler,
		OutputNames: []string{"reconstruction", autoencoder.OutLatent, autoencoder.OutLogVariance}}, nil
}

// linear is a dense layer without activation, initialised Xavier-uniform (small codes).
func linear(scope *model.Scope, x *graph.Node, width int) *graph.Node {
	return layers.DenseWithBias(scope.WithInitializer(initializer.XavierUniformFn(scope)), x, width)
}

func flatten(x *graph.Node) *graph.Node {
	b := x.Shape().Dimensions[0]
	return graph.Reshape(x, b, x.Shape().Size()/max(b, 1))
}
