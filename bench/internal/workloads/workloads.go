// Package workloads lists the training benchmarks of `make bench`: for each, the biopipe
// model family and params the train stage would get from a config, the per-example input
// shape, the batch size and optimizer. bench/train builds them through models' registry
// (the code the train stage runs); bench/train/torch_train.py holds the same networks in
// PyTorch under the same names; bench/all runs both and prints the ratios.
package workloads

import (
	"fmt"
	"slices"
	"strings"
)

// Workload is one training benchmark.
type Workload struct {
	Name   string         // the name printed in the ratio lines
	Family string         // biopipe model family (models.Get)
	Params map[string]any // the family's params, as a config writes them
	Input  []int          // per-example input shape
	// Classes is the number of classes of the classification task; 0: the family sets its
	// own task (reconstruction for autoencoders).
	Classes      int
	Batch        int
	LearningRate float64 // Adam
	// Uniform: inputs uniform in [0, 1) (images); otherwise standard normal (z-scored features).
	Uniform bool
	// Steps is the default number of timed training steps per round, chosen so that the
	// whole `make bench` stays near 10 minutes on a 2-core machine.
	Steps int
	// PredictRows is the number of examples each timed predict pass runs (0: no predict line).
	PredictRows int
	Source      string // where the shapes come from
}

// All are the workloads in the order of the report.
var All = []Workload{
	{Name: "mlp", Family: "mlp", Params: map[string]any{"hidden": []any{64, 32}},
		Input: []int{30}, Classes: 2, Batch: 64, LearningRate: 1e-3, Steps: 400, PredictRows: 65536,
		Source: "configs/quickstart.yaml (30 features, hidden [64, 32], 2 classes, batch 64, adam 1e-3)"},
	{Name: "cnn", Family: "cnn", Params: map[string]any{"channels": []any{16, 32}, "kernel_size": 3, "pool": "max", "pool_size": 2, "global_pool": "flatten"},
		Input: []int{28, 28, 1}, Classes: 10, Batch: 64, LearningRate: 1e-3, Uniform: true, Steps: 40, PredictRows: 2048,
		Source: "bench/cnn: 28x28x1, conv3x3(16)-relu-maxpool2-conv3x3(32)-relu-maxpool2-dense(10), batch 64"},
	{Name: "lstm", Family: "lstm", Params: map[string]any{"channels": []any{16, 32}, "kernel_size": 7, "pool_size": 4, "units": 32, "bidirectional": true},
		Input: []int{128, 4}, Classes: 2, Batch: 32, LearningRate: 3e-3, Steps: 60, PredictRows: 2048,
		Source: "configs/eeg-lstm.yaml: [128 samples, 4 channels], conv front end [16, 32] k7 pool 4, bidirectional LSTM(32), batch 32"},
	{Name: "cnn1d", Family: "cnn1d", Params: map[string]any{"channels": []any{16, 32}, "kernel_size": 7, "pool_size": 4},
		Input: []int{128, 4}, Classes: 2, Batch: 32, LearningRate: 3e-3, Steps: 80, PredictRows: 4096,
		Source: "configs/eeg-lstm.yaml's note: cnn1d with channels [16, 32], kernel_size 7, pool_size 4, batch 32"},
	{Name: "transformer", Family: "transformer", Params: map[string]any{"channels": []any{16, 32}, "kernel_size": 7, "pool_size": 4, "patch_size": 1, "units": 32, "heads": 4, "layers": 1},
		Input: []int{128, 4}, Classes: 2, Batch: 32, LearningRate: 3e-3, Steps: 60,
		Source: "models/transformer's documented setting on configs/eeg-lstm.yaml's data (no config uses the family): front end [16, 32] k7 pool 4, patch 1 (8 tokens), units 32, 4 heads, 1 layer, batch 32"},
	{Name: "conv_autoencoder", Family: "conv_autoencoder", Params: map[string]any{"channels": []any{16, 32}, "latent_dim": 16, "loss": "mse"},
		Input: []int{32, 32, 1}, Batch: 16, LearningRate: 3e-3, Uniform: true, Steps: 20,
		Source: "configs/dicom-anomaly.yaml: 32x32x1 slices, channels [16, 32], latent 16, mse, batch 16, adam 3e-3"},
}

// Get returns the workload with this name; a miss lists the valid names.
func Get(name string) (Workload, error) {
	for _, w := range All {
		if w.Name == name {
			return w, nil
		}
	}
	return Workload{}, fmt.Errorf("unknown benchmark %q (known: %s)", name, strings.Join(Names(), ", "))
}

// Names returns the workload names in report order.
func Names() []string {
	var out []string
	for _, w := range All {
		out = append(out, w.Name)
	}
	return out
}

// Predictable returns the names of the workloads with a predict line.
func Predictable() []string {
	var out []string
	for _, w := range All {
		if w.PredictRows > 0 {
			out = append(out, w.Name)
		}
	}
	return out
}

// InputSize is the number of values per example.
func (w Workload) InputSize() int {
	n := 1
	for _, d := range w.Input {
		n *= d
	}
	return n
}

// Unit is what one example is called in the human-readable lines.
func (w Workload) Unit() string {
	if len(w.Input) == 3 {
		return "images"
	}
	return "examples"
}

// Shape formats the input shape as 28x28x1.
func (w Workload) Shape() string {
	s := make([]string, len(w.Input))
	for i, d := range w.Input {
		s[i] = fmt.Sprint(d)
	}
	return strings.Join(s, "x")
}

// Validate checks a list of names.
func Validate(names []string) error {
	known := Names()
	for _, n := range names {
		if !slices.Contains(known, n) {
			return fmt.Errorf("unknown benchmark %q (known: %s)", n, strings.Join(known, ", "))
		}
	}
	return nil
}
