package models

import (
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/biopipe/biopipe/dataset"
)

// Card is the model card, model.json in a model artifact.
type Card struct {
	Family       string         `json:"family"`
	Params       map[string]any `json:"params"` // resolved hyper-parameters (defaults filled)
	Task         Task           `json:"task"`
	InputShape   []int          `json:"input_shape"` // per example
	Classes      []string       `json:"classes,omitempty"`
	FeatureNames []string       `json:"feature_names,omitempty"`
	// InputColumns, for inputs of several feature columns, is where each lies in an example
	// (models that treat column groups apart, such as fusion, slice them back out).
	InputColumns []dataset.ColumnSlice `json:"input_columns,omitempty"`
	// LengthBuckets: the model was trained on bucketed sequences of these lengths (Spec.Lengths).
	LengthBuckets   []int    `json:"length_buckets,omitempty"`
	Outputs         []string `json:"outputs"`         // names of the model outputs, main first
	Standardisation string   `json:"standardisation"` // "none": inputs are fed as given (standardise upstream)
	// TargetMean and TargetScale: regression targets are trained as (y-mean)/scale (fitted on
	// the train rows) and predictions mapped back; scale 0 means no scaling.
	TargetMean    float64         `json:"target_mean,omitempty"`
	TargetScale   float64         `json:"target_scale,omitempty"`
	Epochs        int             `json:"epochs"` // configured
	EpochsRun     int             `json:"epochs_run"`
	BestEpoch     int             `json:"best_epoch"` // the epoch whose weights were kept (1-based)
	BatchSize     int             `json:"batch_size"`
	Optimizer     OptimizerConfig `json:"optimizer"`
	EarlyStopping EarlyStopping   `json:"early_stopping"`
	// Schedule, Regularization and Initializer are recorded when not the defaults.
	Schedule       *Schedule       `json:"lr_schedule,omitempty"`
	Regularization *Regularization `json:"regularization,omitempty"`
	Initializer    string          `json:"initializer,omitempty"`
	Loss           *ClassLoss      `json:"loss,omitempty"`
	Backend        string          `json:"backend"`
	Seed           int64           `json:"seed"`
	TrainExamples  int             `json:"train_examples"`
	ValExamples    int             `json:"val_examples"`
	NumParameters  int             `json:"num_parameters"` // trainable scalars
	InitFrom       *InitReport     `json:"init_from,omitempty"`
	FineTune       *FineTuneReport `json:"fine_tune,omitempty"` // frozen layers, per-layer learning rates
	Final          *EpochRecord    `json:"final,omitempty"`     // metrics of the kept epoch
	// TrainSeconds is the wall-clock training time, for the caller (log, manifest); it is
	// not written into model.json, so the same seed and inputs give the same artifact bytes.
	TrainSeconds float64 `json:"-"`
}

// EpochRecord is one epoch of training history. Metrics absent for the task or without
// validation data are omitted. Accuracy is for classification, MSE for regression and
// reconstruction, Dice for segmentation.
type EpochRecord struct {
	Epoch         int      `json:"epoch"`
	TrainLoss     float64  `json:"train_loss"` // mean loss over the epoch's batches (training mode)
	ValLoss       *float64 `json:"val_loss,omitempty"`
	TrainAccuracy *float64 `json:"train_accuracy,omitempty"`
	ValAccuracy   *float64 `json:"val_accuracy,omitempty"`
	TrainMSE      *float64 `json:"train_mse,omitempty"`
	ValMSE        *float64 `json:"val_mse,omitempty"`
	TrainDice     *float64 `json:"train_dice,omitempty"` // segmentation: MetricDice
	ValDice       *float64 `json:"val_dice,omitempty"`
	LearningRate  *float64 `json:"learning_rate,omitempty"` // with a schedule: the epoch's last rate
	// Losses holds each step's mean loss for objectives of several steps (a GAN's d_loss
	// and g_loss); train_loss is the last step's.
	Losses map[string]float64 `json:"losses,omitempty"`
	// Files lists files the objective wrote after this epoch (a GAN's sample grid),
	// relative to the model artifact folder.
	Files []string `json:"files,omitempty"`
	// Seconds is the epoch's wall-clock time, for callbacks and logs; it is not written into
	// history.json (artifacts carry no wall-clock times).
	Seconds float64 `json:"-"`
}

func (r *EpochRecord) setMetric(metric string, val bool, v float64) {
	switch {
	case metric == MetricAccuracy && val:
		r.ValAccuracy = ptr(v)
	case metric == MetricAccuracy:
		r.TrainAccuracy = ptr(v)
	case metric == MetricMSE && val:
		r.ValMSE = ptr(v)
	case metric == MetricMSE:
		r.TrainMSE = ptr(v)
	case metric == MetricDice && val:
		r.ValDice = ptr(v)
	case metric == MetricDice:
		r.TrainDice = ptr(v)
	}
}

func (r *EpochRecord) monitored(monitor string) float64 {
	switch monitor {
	case MonitorValAccuracy:
		return deref(r.ValAccuracy)
	case MonitorValDice:
		return deref(r.ValDice)
	}
	return deref(r.ValLoss)
}

// higherIsBetter tells the monitors that improve upwards (accuracy, Dice) from the loss.
func higherIsBetter(monitor string) bool {
	return monitor == MonitorValAccuracy || monitor == MonitorValDice
}

// History is history.json in a model artifact.
type History struct {
	Monitor      string `json:"monitor,omitempty"` // early-stopping metric ("" without validation data)
	BestEpoch    int    `json:"best_epoch"`
	StoppedEarly bool   `json:"stopped_early"`
	RestoredBest bool   `json:"restored_best"` // the best epoch's weights replaced the last epoch's
	// NaN: with callbacks.on_nan "stop", where training met a non-finite loss or weight.
	NaN    *NaNEvent     `json:"nan,omitempty"`
	Epochs []EpochRecord `json:"epochs"`
}

// ReadCard reads model.json from a model artifact folder.
func ReadCard(dir string) (Card, error) {
	var c Card
	path := filepath.Join(dir, CardFile)
	b, err := os.ReadFile(path)
	if err != nil {
		return c, fmt.Errorf("model artifact: %w", err)
	}
	if err := json.Unmarshal(b, &c); err != nil {
		return c, fmt.Errorf("%s: %w", path, err)
	}
	if c.Family == "" {
		return c, fmt.Errorf("%s: no \"family\"", path)
	}
	return c, nil
}

// ReadHistory reads history.json from a model artifact folder.
func ReadHistory(dir string) (History, error) {
	var h History
	path := filepath.Join(dir, HistoryFile)
	b, err := os.ReadFile(path)
	if err != nil {
		return h, fmt.Errorf("model artifact: %w", err)
	}
	if err := json.Unmarshal(b, &h); err != nil {
		return h, fmt.Errorf("%s: %w", path, err)
	}
	return h, nil
}

// File names inside a model artifact (the same as contract.ModelCardFile etc.).
const (
	CardFile      = "model.json"
	HistoryFile   = "history.json"
	CheckpointDir = "checkpoint"
)

// status is the epoch's losses for a progress line: every step's loss for objectives of
// several steps (a GAN's d_loss and g_loss), else loss and val_loss.
func (r *EpochRecord) status() string {
	var parts []string
	if len(r.Losses) > 0 {
		for _, k := range slices.Sorted(maps.Keys(r.Losses)) {
			parts = append(parts, fmt.Sprintf("%s %.4g", k, r.Losses[k]))
		}
	} else {
		parts = append(parts, fmt.Sprintf("loss %.4g", r.TrainLoss))
	}
	if r.ValLoss != nil {
		parts = append(parts, fmt.Sprintf("val_loss %.4g", *r.ValLoss))
	}
	return strings.Join(parts, " ")
}
