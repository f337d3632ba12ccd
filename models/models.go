// Package models holds biopipe's model families and the one training loop they share.
//
// The loop is driven by a training Objective (objective.go): the update steps run on each
// batch, each minimising one loss over one network's variables with that network's
// optimizer, and the validation loss. Supervised and reconstruction objectives are derived
// from a Network's Forward and Loss; a GAN (adversarial: discriminator and generator steps)
// or a diffusion model (noise prediction) sets Network.Objective, and a generative family
// sets Network.Sampler so Trained.Sample can draw examples. Early stopping, checkpoints
// (every network's variables, under /model/<net>/), history, progress and init_from work
// the same for every objective.
//
// A family (models/mlp, models/cnn, ...) registers itself by name with its hyper-parameters
// declared once as []contract.Field, and a Build function that returns a Network: a GoMLX
// graph-building function of a batch of inputs of any shape [N, ...]. Train runs the shared
// loop (optimizer, task loss or the family's own, seeded mini-batches, early stopping with
// restore of the best weights, per-epoch history, GoMLX checkpoint, model card); Load reads a
// trained model artifact back for prediction.
//
// # Writing a family
//
// A family is a package under models/ that registers itself in an init function and is
// blank-imported by models/all (which the train stage imports):
//
//	func init() {
//		models.Register(&models.Family{
//			Name:   "cnn",
//			Doc:    "one line for `biopipe stages train`",
//			Params: []contract.Field{{Name: "filters", Type: contract.Ints, Default: []any{16, 32}, Doc: "..."}},
//			Build:  build,
//		})
//	}
//
//	func build(spec models.Spec, p contract.Config) (*models.Network, error) {
//		// spec.InputShape is the per-example shape ([H, W, C], [T, C], [F] ...), spec.Task the
//		// task, spec.OutputDim() the size of the main output. Check params here and return
//		// an error naming the field; p holds every param with its default filled.
//		return &models.Network{Forward: func(scope *model.Scope, x *graph.Node) []*graph.Node {
//			// x: float32 [B, InputShape...]. Build with GoMLX layers on scope.
//			return []*graph.Node{logits}
//		}}, nil
//	}
//
// Param names must not collide with the train stage's own fields (model, epochs, batch_size,
// optimizer, early_stopping, init_from); a name shared by several families must have the same
// type in each. The main output is: logits [B, classes] (classification), [B, 1]
// (regression) or the reconstruction [B, InputShape...] (Task Reconstruction: autoencoders;
// labels are not needed). Extra outputs (e.g. a latent code) follow it, named by
// Network.OutputNames, and come back from Trained.Outputs. Network.Loss replaces the task's
// loss (a VAE: reconstruction + KL); terms that should count in training only may be added
// with train.AddRegularizationLoss. Variables live under the scope "/model/..."; init_from
// matches them by that path and shape, so keep scope names stable (e.g. "encoder") for
// transfer learning. Forward is called for training graphs (scope.IsTraining(g) true),
// validation graphs and inference graphs; for any ops the pure-Go backend lacks (it has no
// BatchNormForInference, for instance), use a formulation it runs.
package models

import (
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"

	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/ml/model"

	"github.com/biopipe/biopipe/contract"
	"github.com/biopipe/biopipe/dataset"
)

// Task is what a model learns.
type Task string

// Tasks.
const (
	// Classification: the main output is logits [B, classes]; loss is softmax cross-entropy
	// (binary problems are two classes); Predict returns per-class probabilities.
	Classification Task = "classification"
	// Regression: the main output is [B, 1]; loss is mean squared error; Predict returns [value].
	Regression Task = "regression"
	// Reconstruction: unsupervised; the main output has the shape of the input [B, ...] and
	// the loss is the mean squared error against the input (autoencoders). Labels are not used.
	Reconstruction Task = "reconstruction"
	// Generation: a generative model (GAN, diffusion) learns the distribution of its inputs;
	// class labels, when the data has them, may condition it. Trained.Sample draws examples.
	Generation Task = "generation"
)

// Normalizations are the choices of the families' "normalization" param.
var Normalizations = []string{"none", "batch", "layer"}

// Spec describes the data a Network is built for.
type Spec struct {
	InputShape []int // per-example shape, without the batch axis
	Task       Task
	NumClasses int // classification; segmentation: the mask's classes, background included
	// Columns locates each feature column in an example (see dataset.ColumnSlice), in
	// order: one column whose shape is InputShape, or several flattened one after the other
	// into InputShape [width]. Families that treat column groups apart (fusion) use it.
	Columns []dataset.ColumnSlice
	// Lengths, for bucketed sequences, are the lengths (increasing) of InputShape[0] that
	// batches may have: each batch is [B, L, InputShape[1:]...] for one L of them, the
	// largest being InputShape[0]. nil: every batch has the whole InputShape. Only families
	// with VariableLength get them.
	Lengths []int
}

// ColumnsOrDefault returns Columns, or, when they are not known (a spec built by hand), one
// column named "input" spanning the whole example.
func (s Spec) ColumnsOrDefault() []dataset.ColumnSlice {
	if len(s.Columns) > 0 {
		return s.Columns
	}
	return []dataset.ColumnSlice{{Name: "input", Shape: slices.Clone(s.InputShape)}}
}

// OutputDim is the size of the main output per example: classes for classification, 1 for
// regression, prod(InputShape) for reconstruction, voxels x SegChannels(classes) for
// segmentation.
func (s Spec) OutputDim() int {
	switch s.Task {
	case Classification:
		return s.NumClasses
	case Regression:
		return 1
	case Generation:
		return 1 // Forward scores an example (a discriminator's logit)
	case Segmentation:
		return MaskSize(s.InputShape) * SegChannels(s.NumClasses)
	}
	n := 1
	for _, d := range s.InputShape {
		n *= d
	}
	return n
}

// LossFunc computes a scalar loss from the batch input x, the labels (int32 [B,1] class
// indices for classification, float32 [B,1] for regression, nil for reconstruction) and the
// outputs of Forward. It is used for training and for validation loss.
type LossFunc func(scope *model.Scope, x, labels *graph.Node, outputs []*graph.Node) *graph.Node

// Network is what a family builds for one Spec and set of hyper-parameters.
type Network struct {
	// Forward builds the model for a float32 batch x of shape [B, InputShape...] and returns
	// the main output first (classification: logits [B, classes]; regression: [B, 1];
	// reconstruction: same shape as x, or [B, prod(InputShape)]) followed by any extra outputs
	// (e.g. an autoencoder's latent code). Use scope for variables (GoMLX layers take it);
	// scope.IsTraining(x.Graph()) tells training graphs (dropout, batch norm) from inference.
	// Extra loss terms (a VAE's KL divergence) may be added with train.AddRegularizationLoss;
	// they count in training only.
	Forward func(scope *model.Scope, x *graph.Node) []*graph.Node
	// OutputNames names Forward's outputs, main output first. Default: {"output"}.
	OutputNames []string
	// Loss, when set, replaces the task's default loss (training and validation).
	Loss LossFunc
	// Objective, when set, is what Train optimises (a GAN's alternating steps, a diffusion
	// model's noise prediction); nil: the supervised or reconstruction objective built from
	// Forward and Loss.
	Objective *Objective
	// Sampler, for generative families, draws new examples (Trained.Sample).
	Sampler *Sampler
	// Flatten, for networks that flatten a feature map [spatial..., C] into the dense layer
	// FlattenInto (a layer path such as "hidden_0"), lets weights from channels-first
	// frameworks (PyTorch, ONNX: flattened C, spatial...) be reordered on import.
	Flatten     []int
	FlattenInto string
}

// Family is a registered model family.
type Family struct {
	Name string
	Doc  string // one line
	// Description (Markdown paragraphs) and Example (a train stage's with: block, YAML),
	// when set, go on the family's docs page; without Example the page shows the defaults.
	Description string
	Example     string
	// Params are the family's hyper-parameters; the train stage lists the union of all
	// families' params as its own fields. Defaults given here are applied by Train.
	Params []contract.Field
	// Task, when set, forces the task whatever the data's labels say (Reconstruction for
	// autoencoders). Empty: the task follows the data (classification or regression).
	Task Task
	// Build returns the network for the spec and the validated, default-filled params.
	Build func(spec Spec, params contract.Config) (*Network, error)
	// Encoder lists the variable prefixes (under the model scope) that `freeze: [encoder]`
	// freezes: the feature extractor, as opposed to the head.
	Encoder []string
	// Features, when set, builds the family's network without its output layer: a function
	// of a batch [B, InputShape...] that returns features [B, F] (after global pooling and
	// the hidden layers: what the output layer would read). Another family uses it to embed
	// one of its inputs (the fusion family's encoders). spec.Task and spec.NumClasses are
	// those of the whole model; the family ignores them. Families without it serve as
	// encoders through Build (their output layer then projects to the embedding size).
	Features func(spec Spec, params contract.Config) (FeatureFunc, error)
	// Check, when set, validates what the field declarations cannot (nested blocks, values
	// that depend on each other) after Params are checked and defaults filled; it may
	// normalise p (fill nested defaults) and returns it. Issues name the field path.
	Check func(p contract.Config) (contract.Config, []contract.Issue)
	// VariableLength: the network takes sequences [B, L, C] of any length L (Spec.Lengths),
	// so bucketed sequences may be trained and predicted a bucket at a time. Build still
	// refuses params that need one length (naming the param).
	VariableLength bool
}

// FeatureFunc maps a batch x [B, InputShape...] to features [B, F], creating variables under
// scope; see Family.Features.
type FeatureFunc func(scope *model.Scope, x *graph.Node) *graph.Node

var (
	regMu    sync.RWMutex
	families = map[string]*Family{}
)

// Register adds a family; it panics on a duplicate or malformed declaration (a programming
// error at init time).
func Register(f *Family) {
	if f.Name == "" || f.Build == nil {
		panic(fmt.Sprintf("models: family %q needs a name and a Build function", f.Name))
	}
	regMu.Lock()
	defer regMu.Unlock()
	if _, dup := families[f.Name]; dup {
		panic(fmt.Sprintf("models: family %q registered twice", f.Name))
	}
	families[f.Name] = f
}

// Get returns the family with this name; a miss lists the valid names.
func Get(name string) (*Family, error) {
	regMu.RLock()
	f, ok := families[name]
	regMu.RUnlock()
	if ok {
		return f, nil
	}
	names := Names()
	if s := contract.Suggest(name, names); s != "" {
		return nil, fmt.Errorf("unknown model family %q (did you mean %q? known families: %s)", name, s, strings.Join(names, ", "))
	}
	return nil, fmt.Errorf("unknown model family %q (known families: %s)", name, strings.Join(names, ", "))
}

// Names returns the registered family names, sorted.
func Names() []string {
	regMu.RLock()
	defer regMu.RUnlock()
	out := make([]string, 0, len(families))
	for n := range families {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// Families returns the registered families in name order.
func Families() []*Family {
	var out []*Family
	for _, n := range Names() {
		f, _ := Get(n)
		out = append(out, f)
	}
	return out
}

// ResolveParams validates raw hyper-parameter values (as decoded from YAML or JSON) against
// the family's Params and fills defaults. Unknown names are errors naming the field.
func (f *Family) ResolveParams(raw map[string]any) (contract.Config, error) {
	cfg, issues := f.CheckParams(raw)
	if len(issues) > 0 {
		var parts []string
		for _, is := range issues {
			parts = append(parts, is.Error())
		}
		return nil, fmt.Errorf("model %q: %s", f.Name, strings.Join(parts, "; "))
	}
	return cfg, nil
}

// CheckParams is ResolveParams returning every issue with its field path (relative to the
// params block), so a caller can point at the YAML position of each.
func (f *Family) CheckParams(raw map[string]any) (contract.Config, []contract.Issue) {
	in := make(map[string]any, len(raw))
	for k, v := range raw {
		in[k] = rawValue(v)
	}
	cfg, issues := contract.Check(f.Params, in)
	if len(issues) == 0 && f.Check != nil {
		cfg, issues = f.Check(cfg)
	}
	return cfg, issues
}

// rawValue turns normalised config values (typed slices, Config) back into the shapes
// contract.Check accepts from decoded YAML/JSON.
func rawValue(v any) any {
	switch x := v.(type) {
	case []int:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = e
		}
		return out
	case []float64:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = e
		}
		return out
	case []string:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = e
		}
		return out
	case contract.Config:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[k] = rawValue(e)
		}
		return out
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[k] = rawValue(e)
		}
		return out
	}
	return v
}
