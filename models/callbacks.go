package models

import (
	"bytes"
	"encoding/csv"
	"fmt"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strconv"

	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"

	"github.com/biopipe/biopipe/dataset"
	"github.com/biopipe/biopipe/models/tensorboard"
)

// Checkpoint choices: which epoch's weights the model artifact keeps.
const (
	CheckpointAuto = "auto" // best with early stopping, else last
	CheckpointBest = "best" // the epoch best by the early-stopping monitor (needs val rows)
	CheckpointLast = "last" // the last epoch trained, even when early stopping stopped
)

// CheckpointChoices lists the valid Callbacks.Checkpoint values.
var CheckpointChoices = []string{CheckpointAuto, CheckpointBest, CheckpointLast}

// On-NaN choices.
const (
	OnNaNFail = "fail" // training fails, naming the step and the variable
	OnNaNStop = "stop" // training stops there and keeps the last finite epoch's weights
)

// OnNaNChoices lists the valid Callbacks.OnNaN values.
var OnNaNChoices = []string{OnNaNFail, OnNaNStop}

// HistoryCSVFile is the per-epoch CSV log written with Callbacks.CSVLog.
const HistoryCSVFile = "history.csv"

// Callbacks are Keras-style additions to the training loop.
type Callbacks struct {
	// Checkpoint chooses the weights kept: CheckpointAuto (default), Best or Last.
	Checkpoint string `json:"checkpoint,omitempty"`
	// OnNaN: OnNaNFail (default) or OnNaNStop when the loss or a weight becomes NaN or
	// infinite. Either way the step and the first variable holding the non-finite value are
	// named (in the error, or in History.NaN).
	OnNaN string `json:"on_nan,omitempty"`
	// CSVLog writes history.csv (one row per epoch) into the model artifact.
	CSVLog bool `json:"csv_log,omitempty"`
	// TensorBoard, when set, is a folder for an event file with per-epoch scalars (losses,
	// metrics, learning rate), histograms of every weight, and a grid of training examples
	// for image inputs. Event files hold wall-clock times: give a folder outside the model
	// artifact (the train stage uses runs/<run id>/tensorboard/<stage id>).
	TensorBoard string `json:"-"`
}

// NaNEvent records where training met a non-finite value.
type NaNEvent struct {
	Epoch    int    `json:"epoch"`
	Step     int    `json:"step"`               // global step, 1-based
	Variable string `json:"variable,omitempty"` // the first variable an update made non-finite
	Message  string `json:"message"`
}

func (c Callbacks) check(hasVal bool) error {
	switch c.Checkpoint {
	case "", CheckpointAuto, CheckpointLast:
	case CheckpointBest:
		if !hasVal {
			return fmt.Errorf("callbacks.checkpoint %q needs val rows (the best epoch is chosen on them)", CheckpointBest)
		}
	default:
		return fmt.Errorf("callbacks.checkpoint %q is not one of %v", c.Checkpoint, CheckpointChoices)
	}
	switch c.OnNaN {
	case "", OnNaNFail, OnNaNStop:
	default:
		return fmt.Errorf("callbacks.on_nan %q is not one of %v", c.OnNaN, OnNaNChoices)
	}
	return nil
}

// keepBest tells whether the best epoch's weights are snapshotted and restored.
func (c Callbacks) keepBest(patience int, hasVal bool) bool {
	switch c.Checkpoint {
	case CheckpointBest:
		return hasVal
	case CheckpointLast:
		return false
	}
	return patience > 0 && hasVal
}

// callbacks is the running state of Callbacks during one Train call.
type callbacks struct {
	cfg      Callbacks
	tb       *tensorboard.Writer
	lastGood map[string]*tensors.Tensor // OnNaNStop: the weights at the end of the last epoch
	log      *slog.Logger
}

func newCallbacks(c Callbacks, hasVal bool, log *slog.Logger) (*callbacks, error) {
	if err := c.check(hasVal); err != nil {
		return nil, err
	}
	cb := &callbacks{cfg: c, log: log}
	if c.TensorBoard != "" {
		w, err := tensorboard.Create(c.TensorBoard)
		if err != nil {
			return nil, err
		}
		cb.tb = w
	}
	return cb, nil
}

// start writes the sample grid of image inputs (step 0).
func (cb *callbacks) start(d *Data) {
	if cb.tb == nil || d.X.X == nil { // streamed data: no sample grid
		return
	}
	png, err := tensorboard.Grid(d.X.X, d.X.Shape, 16)
	if err != nil {
		return // not an image input
	}
	cb.warn(cb.tb.Image("inputs/train_examples", 0, png))
}

func (cb *callbacks) warn(err error) {
	if err != nil {
		cb.log.Warn("tensorboard", "err", err)
	}
}

// epochEnd logs the epoch to TensorBoard and keeps the weights for OnNaNStop.
func (cb *callbacks) epochEnd(store *model.Store, rec EpochRecord, lr float64) error {
	if cb.cfg.OnNaN == OnNaNStop {
		w, err := snapshot(store)
		if err != nil {
			return err
		}
		cb.lastGood = w
	}
	if cb.tb == nil {
		return nil
	}
	step := int64(rec.Epoch)
	for _, c := range csvColumns(nil) {
		if v, ok := c.get(rec); ok && c.tag != "" {
			cb.warn(cb.tb.Scalar(c.tag, step, v))
		}
	}
	for name, v := range rec.Losses {
		cb.warn(cb.tb.Scalar("loss/"+name, step, v))
	}
	cb.warn(cb.tb.Scalar("learning_rate", step, lr))
	var paths []string
	vals := map[string]*model.Variable{}
	for v := range store.IterVariables() {
		if isModelVar(v) && v.Trainable {
			paths = append(paths, v.Path())
			vals[v.Path()] = v
		}
	}
	sort.Strings(paths)
	for _, p := range paths {
		t, err := vals[p].Value()
		if err != nil {
			continue
		}
		flat, err := tensors.CopyFlatData[float32](t)
		if err != nil {
			continue
		}
		f := make([]float64, len(flat))
		for i, x := range flat {
			f[i] = float64(x)
		}
		cb.warn(cb.tb.Histogram("weights"+p[len(modelPrefix)-1:], step, f, 30))
	}
	cb.warn(cb.tb.Flush())
	return nil
}

// finish writes history.csv and closes the event file.
func (cb *callbacks) finish(outDir string, hist *History) error {
	if cb.tb != nil {
		cb.warn(cb.tb.Close())
		cb.tb = nil
	}
	if !cb.cfg.CSVLog || outDir == "" {
		return nil
	}
	return writeHistoryCSV(filepath.Join(outDir, HistoryCSVFile), hist)
}

// close releases the event file when training fails.
func (cb *callbacks) close() {
	if cb != nil && cb.tb != nil {
		_ = cb.tb.Close()
	}
}

type csvColumn struct {
	name, tag string
	get       func(EpochRecord) (float64, bool)
}

func opt(p *float64) (float64, bool) {
	if p == nil {
		return 0, false
	}
	return *p, true
}

// csvColumns are the per-epoch columns of history.csv (and the TensorBoard scalar tags);
// loss names of multi-step objectives follow.
func csvColumns(hist *History) []csvColumn {
	cols := []csvColumn{
		{"epoch", "", func(r EpochRecord) (float64, bool) { return float64(r.Epoch), true }},
		{"train_loss", "loss/train", func(r EpochRecord) (float64, bool) { return r.TrainLoss, true }},
		{"val_loss", "loss/val", func(r EpochRecord) (float64, bool) { return opt(r.ValLoss) }},
		{"train_accuracy", "accuracy/train", func(r EpochRecord) (float64, bool) { return opt(r.TrainAccuracy) }},
		{"val_accuracy", "accuracy/val", func(r EpochRecord) (float64, bool) { return opt(r.ValAccuracy) }},
		{"train_mse", "mse/train", func(r EpochRecord) (float64, bool) { return opt(r.TrainMSE) }},
		{"val_mse", "mse/val", func(r EpochRecord) (float64, bool) { return opt(r.ValMSE) }},
		{"train_dice", "dice/train", func(r EpochRecord) (float64, bool) { return opt(r.TrainDice) }},
		{"val_dice", "dice/val", func(r EpochRecord) (float64, bool) { return opt(r.ValDice) }},
		{"learning_rate", "", func(r EpochRecord) (float64, bool) { return opt(r.LearningRate) }},
	}
	if hist == nil {
		return cols
	}
	// Keep the columns some epoch has; add multi-step losses by name.
	var out []csvColumn
	for _, c := range cols {
		for _, r := range hist.Epochs {
			if _, ok := c.get(r); ok {
				out = append(out, c)
				break
			}
		}
	}
	names := map[string]bool{}
	for _, r := range hist.Epochs {
		for n := range r.Losses {
			names[n] = true
		}
	}
	var sorted []string
	for n := range names {
		sorted = append(sorted, n)
	}
	sort.Strings(sorted)
	for _, n := range sorted {
		out = append(out, csvColumn{n, "", func(r EpochRecord) (float64, bool) {
			v, ok := r.Losses[n]
			return v, ok
		}})
	}
	return out
}

// writeHistoryCSV writes one row per epoch (no wall-clock column: the file is part of the
// artifact); missing values are empty cells.
func writeHistoryCSV(path string, hist *History) error {
	cols := csvColumns(hist)
	var buf bytes.Buffer
	w := csv.NewWriter(&buf)
	head := make([]string, len(cols))
	for i, c := range cols {
		head[i] = c.name
	}
	_ = w.Write(head)
	for _, r := range hist.Epochs {
		row := make([]string, len(cols))
		for i, c := range cols {
			if v, ok := c.get(r); ok {
				row[i] = strconv.FormatFloat(v, 'g', -1, 64)
			}
		}
		_ = w.Write(row)
	}
	w.Flush()
	if err := w.Error(); err != nil {
		return err
	}
	return dataset.AtomicWrite(path, func(f *os.File) error {
		_, err := f.Write(buf.Bytes())
		return err
	})
}

// nanWatch adds to a training step's graph one output: for each model variable the step
// updates (sorted by path), 1 when its new value holds a NaN or an infinity.
type nanWatch struct {
	names []string
}

// outputs builds the watch's output for graph g (after the update).
func (w *nanWatch) outputs(scope *model.Scope, g *graph.Graph) []*graph.Node {
	vars := map[string]*model.Variable{}
	w.names = w.names[:0]
	for v := range scope.IterVariables() {
		if isModelVar(v) && v.InUseByGraph(g) && v.Shape().DType.IsFloat() {
			w.names = append(w.names, v.Path())
			vars[v.Path()] = v
		}
	}
	if len(w.names) == 0 {
		return nil
	}
	sort.Strings(w.names)
	flags := make([]*graph.Node, len(w.names))
	for i, p := range w.names {
		finite := graph.LogicalAll(graph.IsFinite(vars[p].NodeValue(g)))
		flags[i] = graph.Reshape(graph.ConvertDType(graph.LogicalNot(finite), dtypes.Float32), 1)
	}
	return []*graph.Node{graph.Concatenate(flags, 0)}
}

// runStep runs a training step and returns its loss, metric sum and the first variable
// the update made non-finite ("" when none).
func runStep(e *model.Exec, args []any, w *nanWatch) (float64, float64, string, error) {
	outs, err := call(e, args...)
	if err != nil {
		return 0, 0, "", err
	}
	defer finalizeAll(outs)
	l, err := scalarValue(outs[0])
	if err != nil {
		return 0, 0, "", err
	}
	m, err := scalarValue(outs[1])
	if err != nil || len(outs) < 3 {
		return l, m, "", err
	}
	flags, err := tensors.CopyFlatData[float32](outs[2])
	if err != nil {
		return l, m, "", err
	}
	for i, f := range flags {
		if f != 0 && i < len(w.names) {
			return l, m, w.names[i], nil
		}
	}
	return l, m, "", nil
}

// nanEvent describes a non-finite loss or weight at a step.
func nanEvent(epoch, step int, stepName string, loss float64, variable string) NaNEvent {
	ev := NaNEvent{Epoch: epoch, Step: step, Variable: variable}
	where := fmt.Sprintf("epoch %d, step %d", epoch, step)
	if variable != "" {
		ev.Message = fmt.Sprintf("%s: the %q update made variable %s non-finite (NaN or Inf; the loss was %v): lower the learning rate or clip the gradients (optimizer.clip_norm)", where, stepName, variable, loss)
	} else {
		ev.Message = fmt.Sprintf("%s: training loss %q is %v while every weight is finite, so it overflowed in the forward pass of this batch: lower the learning rate, or standardise the inputs/targets", where, stepName, loss)
	}
	return ev
}

func isFinite(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }
