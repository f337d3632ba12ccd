package models

import (
	"context"

	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/ml/model"
)

// ObjectiveKind names what a model is trained to do.
type ObjectiveKind string

// Objective kinds.
const (
	// ObjectiveSupervised: one network minimises a loss against labels (classification,
	// regression).
	ObjectiveSupervised ObjectiveKind = "supervised"
	// ObjectiveReconstruction: one network reconstructs its input (autoencoders, VAEs).
	ObjectiveReconstruction ObjectiveKind = "reconstruction"
	// ObjectiveAdversarial: a generator and a discriminator, each with its own optimizer,
	// updated in alternating steps on every batch (GANs).
	ObjectiveAdversarial ObjectiveKind = "adversarial"
	// ObjectiveDiffusion: one network learns to predict the noise added to a batch at a
	// random step of a noising schedule (denoising diffusion); samples come from iterating it.
	ObjectiveDiffusion ObjectiveKind = "denoising-diffusion"
)

// BatchFunc builds the graph of one batch: x is float32 [B, InputShape...], y the labels
// (int32 [B, 1] class indices, float32 [B, 1] targets, or nil when the objective uses none).
// scope is the store's root scope; networks live under scope.In("model"), which
// Objective.Model returns. It returns the scalar loss (a non-scalar is averaged) and the
// batch sum of the objective's metric (nil when it has none).
type BatchFunc func(scope *model.Scope, x, y *graph.Node) (loss, metricSum *graph.Node)

// Step is one update of a training step: it minimises Loss over the trainable variables of
// one network with that network's optimizer.
type Step struct {
	// Name is the loss's name in the history ("loss" for one-step objectives; "d_loss",
	// "g_loss" for a GAN).
	Name string
	// Net is the network updated: the variables under /model/<Net>/. "" updates every
	// trainable variable (one-network objectives). The network's optimizer state (learning
	// rate, step counter) lives under its scope, so each network has its own.
	Net string
	// Optimizer, when set, replaces TrainOptions.Optimizer for this network (a GAN's
	// discriminator and generator learning rates).
	Optimizer *OptimizerConfig
	// Loss builds the step's loss in a training graph (scope.IsTraining is true).
	Loss BatchFunc
	// Update, when set, replaces the optimizer: it sets the new values of the network's
	// variables itself (Variable.SetNodeValue) from the batch, for a learning rule that is
	// not gradient descent (Rosenblatt's perceptron rule). Loss is still built and reported.
	Update func(scope *model.Scope, x, y *graph.Node)
}

// Metric names an objective may report per epoch beside its loss.
const (
	MetricAccuracy = "accuracy"
	MetricMSE      = "mse"
)

// Objective is what the one training loop (Train) optimises. The loop owns everything
// else: seeded shuffling and mini-batches, epochs, validation, early stopping with restore
// of the best weights, per-epoch history, progress, checkpoints (every network's variables)
// and init_from. A family sets Network.Objective for anything but the supervised or
// reconstruction objective, which Train derives from Forward, Loss and the task.
type Objective struct {
	Kind ObjectiveKind
	// Steps run in order on every training batch, each compiled once per batch shape. The
	// history's train_loss is the last step's loss; with several steps every step's loss
	// is recorded under its Name too (EpochRecord.Losses).
	Steps []Step
	// Validate computes the loss and metric sum of a batch in inference mode. nil: the
	// objective has no validation loss (a GAN's losses measure a moving game), so there is
	// no early stopping and the final weights are kept.
	Validate BatchFunc
	// Metric is the name of the metric the batch functions return: MetricAccuracy,
	// MetricMSE, MetricDice or "" (none).
	Metric string
	// NeedsLabels: the steps read y (supervised objectives, class-conditional generators).
	NeedsLabels bool
	// AfterEpoch, when set, runs after every epoch with the model as trained so far, e.g. to
	// render a fixed noise batch; files it returns (relative to TrainOptions.OutDir) are
	// listed in the history. It is not called when OutDir is empty.
	AfterEpoch func(ctx context.Context, epoch int, m *Trained, outDir string) ([]string, error)
}

// Model returns the scope networks live under, given the root scope a BatchFunc receives.
// Each call returns a fresh scope, so a network may be applied several times in one graph
// (a discriminator on real and on generated examples): use Model(root).At("net") per call.
func (o *Objective) Model(root *model.Scope) *model.Scope { return root.At(modelScope) }

// defaultObjective is the supervised, segmentation or reconstruction objective of a network: Forward,
// then Network.Loss or the task's loss, one optimizer over every variable.
func defaultObjective(net *Network, task Task) *Objective {
	lossFn := net.Loss
	if lossFn == nil {
		lossFn = defaultLoss(task)
	}
	batch := func(scope *model.Scope, x, y *graph.Node) (*graph.Node, *graph.Node) {
		outs := net.Forward(scope.In(modelScope), x)
		return lossFn(scope, x, y, outs), metricSum(task, x, y, outs[0])
	}
	o := &Objective{Kind: ObjectiveSupervised, Steps: []Step{{Name: "loss", Loss: batch}}, Validate: batch, Metric: MetricMSE}
	switch task {
	case Classification:
		o.Metric, o.NeedsLabels = MetricAccuracy, true
	case Regression:
		o.NeedsLabels = true
	case Segmentation:
		o.Kind, o.Metric, o.NeedsLabels = ObjectiveSegmentation, MetricDice, true
	default:
		o.Kind = ObjectiveReconstruction
	}
	return o
}

// zeroMetric stands in for a batch function's missing metric.
func zeroMetric(g *graph.Graph) *graph.Node { return graph.ScalarZero(g, dtypes.Float32) }
