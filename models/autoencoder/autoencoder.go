// Package autoencoder registers three model families that share one dense encoder:
//
//   - "autoencoder": encoder (hidden widths) -> latent code -> mirrored decoder, trained to
//     reconstruct its input (optionally denoising: Gaussian noise and/or dropout on the
//     inputs during training only);
//   - "vae": a variational autoencoder; the encoder gives a mean and a log-variance, the
//     latent is sampled with the reparameterisation trick from the model's seeded RNG during
//     training (the mean otherwise), and the loss adds a beta-weighted KL divergence;
//   - "encoder": the same encoder with a classification or regression head, to fine-tune a
//     trained autoencoder's or VAE's encoder with init_from.
//
// The autoencoder and vae return the reconstruction as their main output and the latent
// code as the extra output "latent" (the VAE's mean; its log-variance follows as
// "log_variance"). Variables live under stable scopes so init_from can match them:
// encoder/dense_<i>, encoder/latent (the VAE's mean), encoder/log_variance,
// decoder/dense_<i>, decoder/output; the encoder family adds head/dense_<i> and head/output.
package autoencoder

import (
	"fmt"
	"math"

	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/ml/layers"
	"github.com/gomlx/gomlx/ml/layers/norm"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/gomlx/gomlx/ml/model/initializer"
	"github.com/gomlx/gomlx/ml/train/optimizer"

	"github.com/biopipe/biopipe/contract"
	"github.com/biopipe/biopipe/models"
)

// Family names.
const (
	Autoencoder = "autoencoder"
	VAE         = "vae"
	Encoder     = "encoder"
)

// Hyper-parameter names.
const (
	ParamHidden        = "hidden"
	ParamLatentDim     = "latent_dim"
	ParamActivation    = models.ParamActivation
	ParamInputNoise    = "input_noise"
	ParamInputDropout  = "input_dropout"
	ParamBeta          = "beta"
	ParamKLWarmup      = "kl_warmup_steps"
	ParamHead          = "head"
	ParamDropout       = "dropout"
	ParamNormalization = "normalization"
)

// Output names.
const (
	OutReconstruction = "reconstruction"
	OutLatent         = "latent"
	OutLogVariance    = "log_variance"
)

// Scope names (stable: init_from matches variables by them).
const (
	ScopeEncoder     = "encoder"
	ScopeDecoder     = "decoder"
	ScopeHead        = "head"
	ScopeLatent      = "latent"
	ScopeLogVariance = "log_variance"
	ScopeOutput      = "output"
)

func encoderParams(hiddenDoc string) []contract.Field {
	return append([]contract.Field{
		{Name: ParamHidden, Type: contract.Ints, Default: []any{256, 64}, Min: contract.Bound(1), Doc: hiddenDoc},
		{Name: ParamLatentDim, Type: contract.Int, Default: 8, Min: contract.Bound(1),
			Doc: "size of the latent code"},
		{Name: ParamNormalization, Type: contract.String, Default: "none", Enum: models.Normalizations,
			Doc: "normalization after each hidden layer's linear transform (encoder, decoder and head): none, batch (batch norm) or layer"},
	}, models.ActivationFields("relu", "activation after each hidden layer", true)...)
}

func denoiseParams() []contract.Field {
	return []contract.Field{
		{Name: ParamInputNoise, Type: contract.Float, Default: 0.0, Min: contract.Bound(0),
			Doc: "denoising: sd of Gaussian noise added to the inputs (training only; the target stays clean)"},
		{Name: ParamInputDropout, Type: contract.Float, Default: 0.0, Min: contract.Bound(0), Max: contract.Bound(0.95),
			Doc: "denoising: share of input values set to zero (training only; the target stays clean)"},
	}
}

// AutoencoderParams are the autoencoder family's hyper-parameters.
var AutoencoderParams = append(encoderParams(mirroredDoc), denoiseParams()...)

const mirroredDoc = "encoder layer widths from the input to the latent code (the decoder mirrors them)"

// VAEParams are the vae family's hyper-parameters.
var VAEParams = append(append(encoderParams(mirroredDoc), denoiseParams()...),
	contract.Field{Name: ParamBeta, Type: contract.Float, Default: 1.0, Min: contract.Bound(0),
		Doc: "weight of the KL divergence against the summed squared reconstruction error (beta-VAE; 0 = a plain autoencoder with noise)"},
	contract.Field{Name: ParamKLWarmup, Type: contract.Int, Default: 0, Min: contract.Bound(0),
		Doc: "raise the KL weight linearly from 0 to beta over this many training steps (0 = no warm-up); validation uses the full beta"},
)

// EncoderParams are the encoder family's hyper-parameters.
var EncoderParams = append(encoderParams("encoder layer widths from the input to the latent code (as in the autoencoder or vae to fine-tune)"),
	contract.Field{Name: ParamHead, Type: contract.Ints, Default: []any{}, Min: contract.Bound(1),
		Doc: "hidden widths of the head between the latent code and the output ([] = a linear head)"},
	contract.Field{Name: ParamDropout, Type: contract.Float, Default: 0.0, Min: contract.Bound(0), Max: contract.Bound(0.95),
		Doc: "dropout rate after each hidden layer (training only)"},
)

func init() {
	models.Register(&models.Family{
		Name:   Autoencoder,
		Doc:    "dense autoencoder (optionally denoising); exports the latent code as output \"latent\"",
		Params: AutoencoderParams,
		Task:   models.Reconstruction,
		Build:  BuildAutoencoder,
	})
	models.Register(&models.Family{
		Name:   VAE,
		Doc:    "variational autoencoder (reparameterisation, beta-weighted KL); exports the latent mean as output \"latent\"",
		Params: VAEParams,
		Task:   models.Reconstruction,
		Build:  BuildVAE,
	})
	models.Register(&models.Family{
		Name:   Encoder,
		Doc:    "the autoencoder/vae encoder with a classification or regression head; fine-tune one with init_from",
		Params: EncoderParams,
		Build:  BuildEncoder,
	})
}

// config is the parsed shared hyper-parameters.
type config struct {
	hidden     []int
	latent     int
	act        models.Activation
	norm       string
	noise      float64
	inDropout  float64
	inputShape []int
	inputSize  int
}

func parse(spec models.Spec, p contract.Config, denoise bool) (config, error) {
	c := config{
		hidden:     p.Ints(ParamHidden),
		latent:     p.Int(ParamLatentDim),
		act:        models.ActivationOf(p),
		norm:       p.String(ParamNormalization),
		inputShape: spec.InputShape,
		inputSize:  1,
	}
	for _, d := range spec.InputShape {
		c.inputSize *= d
	}
	if c.inputSize < 1 {
		return c, fmt.Errorf("input shape %v has no values", spec.InputShape)
	}
	if c.latent < 1 {
		return c, fmt.Errorf("%s must be at least 1, got %d", ParamLatentDim, c.latent)
	}
	if denoise {
		c.noise = p.Float(ParamInputNoise)
		c.inDropout = p.Float(ParamInputDropout)
	}
	return c, nil
}

// corrupt applies the denoising corruption to the flattened input in training graphs.
func (c config) corrupt(scope *model.Scope, h *graph.Node) *graph.Node {
	g := h.Graph()
	if !scope.IsTraining(g) {
		return h
	}
	if c.noise > 0 {
		h = graph.Add(h, graph.MulScalar(scope.RandomNormal(g, h.Shape()), c.noise))
	}
	if c.inDropout > 0 {
		h = layers.DropoutStatic(scope, h, c.inDropout)
	}
	return h
}

// encode runs the hidden encoder layers on the flattened input under enc (the "encoder" scope).
func (c config) encode(enc *model.Scope, h *graph.Node, dropout float64) *graph.Node {
	for i, w := range c.hidden {
		ls := enc.In("dense_%d", i)
		h = c.act.Apply(c.normalize(ls, layers.DenseWithBias(ls, h, c.act.Width(w))))
		h = layers.DropoutStatic(ls, h, dropout)
	}
	return h
}

// normalize applies the normalization choice to a hidden layer's linear output [B, units].
func (c config) normalize(scope *model.Scope, h *graph.Node) *graph.Node {
	switch c.norm {
	case "batch":
		return norm.BatchNorm(scope, h, -1).UseBackendInference(false).Done()
	case "layer":
		return norm.LayerNorm(scope, h, -1).Done()
	}
	return h
}

// decode runs the mirrored decoder from the latent code and reshapes to the input shape.
func (c config) decode(scope *model.Scope, z *graph.Node) *graph.Node {
	dec := scope.In(ScopeDecoder)
	h := z
	for i := len(c.hidden) - 1; i >= 0; i-- {
		ls := dec.In("dense_%d", len(c.hidden)-1-i)
		h = c.act.Apply(c.normalize(ls, layers.DenseWithBias(ls, h, c.act.Width(c.hidden[i]))))
	}
	out := linear(dec.In(ScopeOutput), h, c.inputSize)
	b := z.Shape().Dimensions[0]
	return graph.Reshape(out, append([]int{b}, c.inputShape...)...)
}

// linear is a dense layer without activation (latent code, log-variance, reconstruction)
// initialised Xavier-uniform, so the initial code and reconstruction are small (the default
// He initialisation, right for ReLU layers, makes an 8 -> 2,000 decoder output's variance
// twice its input's and swamps the first epochs with reconstruction error).
func linear(scope *model.Scope, x *graph.Node, width int) *graph.Node {
	return layers.DenseWithBias(scope.WithInitializer(initializer.XavierUniformFn(scope)), x, width)
}

func flatten(x *graph.Node) *graph.Node {
	b := x.Shape().Dimensions[0]
	return graph.Reshape(x, b, x.Shape().Size()/max(b, 1))
}

// BuildAutoencoder returns the autoencoder network.
func BuildAutoencoder(spec models.Spec, p contract.Config) (*models.Network, error) {
	c, err := parse(spec, p, true)
	if err != nil {
		return nil, err
	}
	forward := func(scope *model.Scope, x *graph.Node) []*graph.Node {
		h := c.corrupt(scope, flatten(x))
		enc := scope.In(ScopeEncoder)
		h = c.encode(enc, h, 0)
		z := linear(enc.In(ScopeLatent), h, c.latent)
		return []*graph.Node{c.decode(scope, z), z}
	}
	return &models.Network{Forward: forward, OutputNames: []string{OutReconstruction, OutLatent}}, nil
}

// BuildVAE returns the variational autoencoder network. Its loss per example is
// (sum of squared reconstruction errors + w * KL(q(z|x) || N(0, I))) / input size, averaged
// over the batch, where w is beta (ramped up over kl_warmup_steps in training).
func BuildVAE(spec models.Spec, p contract.Config) (*models.Network, error) {
	c, err := parse(spec, p, true)
	if err != nil {
		return nil, err
	}
	beta := p.Float(ParamBeta)
	warmup := p.Int(ParamKLWarmup)
	if beta < 0 || math.IsNaN(beta) {
		return nil, fmt.Errorf("%s must be >= 0, got %v", ParamBeta, beta)
	}
	forward := func(scope *model.Scope, x *graph.Node) []*graph.Node {
		g := x.Graph()
		h := c.corrupt(scope, flatten(x))
		enc := scope.In(ScopeEncoder)
		h = c.encode(enc, h, 0)
		mean := linear(enc.In(ScopeLatent), h, c.latent)
		logVar := linear(enc.In(ScopeLogVariance), h, c.latent)
		// Keep exp(logVar) in a finite range early in training.
		logVar = graph.ClipScalar(logVar, -10, 10)
		z := mean
		if scope.IsTraining(g) {
			eps := scope.RandomNormal(g, shapes.Make(dtypes.Float32, mean.Shape().Dimensions...))
			z = graph.Add(mean, graph.Mul(graph.Exp(graph.MulScalar(logVar, 0.5)), eps))
		}
		return []*graph.Node{c.decode(scope, z), mean, logVar}
	}
	loss := func(scope *model.Scope, x, _ *graph.Node, outs []*graph.Node) *graph.Node {
		g := x.Graph()
		sse := graph.ReduceSum(graph.Square(graph.Sub(flatten(outs[0]), flatten(x))), -1) // [B]
		kl := KL(outs[1], outs[2])                                                        // [B]
		w := graph.Scalar(g, dtypes.Float32, beta)
		if warmup > 0 && beta > 0 && scope.IsTraining(g) {
			step := graph.ConvertDType(optimizer.GetGlobalStepVar(scope).NodeValue(g), dtypes.Float32)
			ramp := graph.MinScalar(graph.DivScalar(step, float64(warmup)), 1)
			w = graph.MulScalar(ramp, beta)
		}
		per := graph.DivScalar(graph.Add(sse, graph.Mul(w, kl)), float64(c.inputSize))
		return graph.ReduceAllMean(per)
	}
	return &models.Network{Forward: forward, Loss: loss, OutputNames: []string{OutReconstruction, OutLatent, OutLogVariance}}, nil
}

// KL is the KL divergence of N(mean, exp(logVar)) from N(0, I) per example:
// 0.5 * sum(exp(logVar) + mean^2 - 1 - logVar) over the last axis.
func KL(mean, logVar *graph.Node) *graph.Node {
	t := graph.Sub(graph.Add(graph.Exp(logVar), graph.Square(mean)), graph.OnePlus(logVar))
	return graph.MulScalar(graph.ReduceSum(t, -1), 0.5)
}

// BuildEncoder returns the encoder with a classification or regression head.
func BuildEncoder(spec models.Spec, p contract.Config) (*models.Network, error) {
	if spec.Task != models.Classification && spec.Task != models.Regression {
		return nil, fmt.Errorf("encoder: task %q is not supported (classification or regression; use autoencoder or vae to reconstruct)", spec.Task)
	}
	c, err := parse(spec, p, false)
	if err != nil {
		return nil, err
	}
	head := p.Ints(ParamHead)
	dropout := p.Float(ParamDropout)
	outDim := spec.OutputDim()
	name := "probabilities"
	if spec.Task == models.Regression {
		name = "prediction"
	}
	forward := func(scope *model.Scope, x *graph.Node) []*graph.Node {
		enc := scope.In(ScopeEncoder)
		h := c.encode(enc, flatten(x), dropout)
		z := linear(enc.In(ScopeLatent), h, c.latent)
		h = z
		hs := scope.In(ScopeHead)
		for i, w := range head {
			ls := hs.In("dense_%d", i)
			h = c.act.Apply(c.normalize(ls, layers.DenseWithBias(ls, h, c.act.Width(w))))
			h = layers.DropoutStatic(ls, h, dropout)
		}
		return []*graph.Node{layers.DenseWithBias(hs.In(ScopeOutput), h, outDim), z}
	}
	return &models.Network{Forward: forward, OutputNames: []string{name, OutLatent}}, nil
}
