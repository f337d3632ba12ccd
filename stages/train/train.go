// Package train registers the "train" stage kind: it trains a model of any registered
// family (package models) on the train split of a table and writes a model artifact
// (checkpoint/, model.json, history.json).
package train

import (
	"context"
	"fmt"
	"math"
	"os"
	"slices"
	"strings"

	"github.com/biopipe/biopipe/contract"
	"github.com/biopipe/biopipe/dataset"
	"github.com/biopipe/biopipe/models"
	_ "github.com/biopipe/biopipe/models/all" // every model family
	"github.com/biopipe/biopipe/models/tensorboard"
)

// Kind name and ports.
const (
	KindName = "train"
	PortData = "data"
	PortInit = "init"
)

// Field names.
const (
	FieldModel         = "model"
	FieldEpochs        = "epochs"
	FieldBatchSize     = "batch_size"
	FieldOptimizer     = "optimizer"
	FieldName          = "name"
	FieldLearningRate  = "learning_rate"
	FieldWeightDecay   = "weight_decay"
	FieldEarlyStopping = "early_stopping"
	FieldPatience      = "patience"
	FieldMinDelta      = "min_delta"
	FieldMonitor       = "monitor"
	FieldInitFrom      = "init_from"
	FieldCheckpoint    = "checkpoint_every"

	FieldMomentum       = "momentum"
	FieldNesterov       = "nesterov"
	FieldClipNorm       = "clip_norm"
	FieldClipValue      = "clip_value"
	FieldSchedule       = "lr_schedule"
	FieldWarmupEpochs   = "warmup_epochs"
	FieldStepEpochs     = "step_epochs"
	FieldGamma          = "gamma"
	FieldPeriodEpochs   = "period_epochs"
	FieldPeriodMult     = "period_mult"
	FieldMinLR          = "min_lr"
	FieldRegularization = "regularization"
	FieldL1             = "l1"
	FieldL2             = "l2"
	FieldInitializer    = "initializer"
	FieldCallbacks      = "callbacks"
	FieldKeep           = "checkpoint"
	FieldLoss           = "class_loss"
	FieldFocalGamma     = "focal_gamma"
	FieldClassWeight    = "class_weight"
	FieldClassWeights   = "class_weights"
	FieldOnNaN          = "on_nan"
	FieldCSVLog         = "csv_log"
	FieldTensorBoard    = "tensorboard"

	FieldPretrained   = "pretrained"
	FieldPath         = "path"
	FieldMap          = "map"
	FieldExclude      = "exclude"
	FieldLayout       = "layout"
	FieldFreeze       = "freeze"
	FieldLayerLR      = "layer_lr"
	FieldTrainClasses = "train_classes"
	FieldStreamAbove  = "stream_above"
)

// baseFields are the train kind's own fields; family params are appended to them.
func baseFields() []contract.Field {
	return []contract.Field{
		{Name: FieldModel, Type: contract.String, Required: true, Enum: models.Names(),
			Doc: "model family: " + familyList()},
		{Name: FieldEpochs, Type: contract.Int, Default: 20, Min: contract.Bound(1),
			Doc: "maximum number of passes over the training split"},
		{Name: FieldBatchSize, Type: contract.Int, Default: 32, Min: contract.Bound(1),
			Doc: "examples per mini-batch (shuffled with the pipeline seed)"},
		{Name: FieldOptimizer, Type: contract.Object, Doc: "optimizer", Fields: []contract.Field{
			{Name: FieldName, Type: contract.String, Default: models.OptAdam, Enum: models.OptimizerNames,
				Doc: "adam, adamw (decoupled weight decay), sgd (with momentum and nesterov), rmsprop (rho 0.9) or adagrad"},
			{Name: FieldLearningRate, Type: contract.Float, Default: 1e-3, Min: contract.Bound(0),
				Doc: "learning rate"},
			{Name: FieldWeightDecay, Type: contract.Float, Default: 0.0, Min: contract.Bound(0),
				Doc: "weight decay: decoupled for adamw, an L2 penalty on layer weights for the others"},
			{Name: FieldMomentum, Type: contract.Float, Default: 0.0, Min: contract.Bound(0), Max: contract.Bound(0.999),
				Doc: "sgd: momentum (0.9 is usual; 0 = plain sgd)"},
			{Name: FieldNesterov, Type: contract.Bool, Default: false,
				Doc: "sgd: Nesterov momentum (needs momentum > 0)"},
			{Name: FieldClipNorm, Type: contract.Float, Default: 0.0, Min: contract.Bound(0),
				Doc: "clip the gradients' global L2 norm to this value (0 = no clipping)"},
			{Name: FieldClipValue, Type: contract.Float, Default: 0.0, Min: contract.Bound(0),
				Doc: "clip each gradient value to [-clip_value, clip_value] (0 = no clipping)"},
		}},
		{Name: FieldSchedule, Type: contract.Object,
			Doc: "learning-rate schedule over epochs (evaluated every step), after an optional linear warm-up",
			Fields: []contract.Field{
				{Name: FieldName, Type: contract.String, Default: models.SchedConstant, Enum: models.ScheduleNames,
					Doc: "constant; step (x gamma every step_epochs); exponential (x gamma per epoch); cosine (to min_lr over period_epochs, restarting, each period period_mult times longer); plateau (x gamma when the early-stopping monitor, or the train loss without val rows, has not improved for patience epochs)"},
				{Name: FieldWarmupEpochs, Type: contract.Int, Default: 0, Min: contract.Bound(0),
					Doc: "raise the rate linearly from near 0 to learning_rate over this many epochs first"},
				{Name: FieldStepEpochs, Type: contract.Int, Default: 10, Min: contract.Bound(1),
					Doc: "step: epochs between reductions"},
				{Name: FieldGamma, Type: contract.Float, Default: 0.0, Min: contract.Bound(0), Max: contract.Bound(1),
					Doc: "step, exponential, plateau: the factor (0 = the usual: 0.1 for step and plateau, 0.95 for exponential)"},
				{Name: FieldPeriodEpochs, Type: contract.Int, Default: 0, Min: contract.Bound(0),
					Doc: "cosine: epochs of the first cycle (0 = all epochs after warm-up, no restarts)"},
				{Name: FieldPeriodMult, Type: contract.Float, Default: 1.0, Min: contract.Bound(1),
					Doc: "cosine: each cycle is this many times longer than the last"},
				{Name: FieldMinLR, Type: contract.Float, Default: 0.0, Min: contract.Bound(0),
					Doc: "cosine: the rate at the end of a cycle; plateau: the lowest rate"},
				{Name: FieldPatience, Type: contract.Int, Default: 5, Min: contract.Bound(1),
					Doc: "plateau: epochs without improvement before reducing"},
			}},
		{Name: FieldRegularization, Type: contract.Object,
			Doc: "penalties on the dense and convolution kernels added to the training loss",
			Fields: []contract.Field{
				{Name: FieldL1, Type: contract.Float, Default: 0.0, Min: contract.Bound(0), Doc: "L1 penalty: l1 x sum |w|"},
				{Name: FieldL2, Type: contract.Float, Default: 0.0, Min: contract.Bound(0), Doc: "L2 penalty: l2 x sum w^2 (adds to an optimizer's weight_decay)"},
			}},
		{Name: FieldLoss, Type: contract.String, Default: models.LossCrossEntropy, Enum: models.LossNames,
			Doc: "classification loss: cross_entropy, or focal (-(1-p_t)^focal_gamma log p_t: down-weights the examples already right, for imbalanced labels)"},
		{Name: FieldFocalGamma, Type: contract.Float, Default: 2.0, Min: contract.Bound(0),
			Doc: "focal loss: the focusing exponent gamma (0 = cross-entropy)"},
		{Name: FieldClassWeight, Type: contract.String, Default: models.ClassWeightNone, Enum: []string{models.ClassWeightNone, models.ClassWeightBalanced},
			Doc: "classification: weight each example's loss by its class, balanced = n / (classes x n_class) on the train rows (scikit-learn's); the batch loss is the weighted mean"},
		{Name: FieldClassWeights, Type: contract.Map,
			Doc: "classification: explicit class weights by class name, e.g. {benign: 1, malignant: 3} (classes not named: 1)"},
		{Name: FieldCallbacks, Type: contract.Object,
			Doc: "Keras-style callbacks: which weights to keep, what to do on NaN, a CSV log, TensorBoard",
			Fields: []contract.Field{
				{Name: FieldKeep, Type: contract.String, Default: models.CheckpointAuto, Enum: models.CheckpointChoices,
					Doc: "weights the model keeps: best (the epoch best by early_stopping.monitor; needs val rows), last (the final epoch, even after early stopping) or auto (best with early stopping, else last)"},
				{Name: FieldOnNaN, Type: contract.String, Default: models.OnNaNFail, Enum: models.OnNaNChoices,
					Doc: "when the loss or a weight becomes NaN/Inf: fail (the stage fails naming the step and the variable) or stop (training ends there, keeping the last finite epoch's weights; history.json records where)"},
				{Name: FieldCSVLog, Type: contract.Bool, Default: false,
					Doc: "write history.csv (one row per epoch: losses, metrics, learning rate) into the model artifact"},
				{Name: FieldTensorBoard, Type: contract.Bool, Default: true,
					Doc: "write TensorBoard events (per-epoch losses, metrics and learning rate, weight histograms, a grid of image inputs) to runs/<run id>/tensorboard/<stage id>/; view all runs with tensorboard --logdir <workdir>/runs (a cached stage writes none: its events are in the run that trained it)"},
			}},
		{Name: FieldInitializer, Type: contract.String, Default: models.InitHeNormal, Enum: models.InitializerNames,
			Doc: "initial weights: he_normal/he_uniform (He, for relu) or glorot_normal/glorot_uniform (Glorot/Xavier, for tanh and sigmoid); biases start at 0"},
		{Name: FieldEarlyStopping, Type: contract.Object,
			Doc: "stop when the validation metric stops improving, and keep the best epoch's weights (needs val rows)",
			Fields: []contract.Field{
				{Name: FieldPatience, Type: contract.Int, Default: 10, Min: contract.Bound(0),
					Doc: "epochs without improvement before stopping; 0 disables early stopping"},
				{Name: FieldMinDelta, Type: contract.Float, Default: 0.0, Min: contract.Bound(0),
					Doc: "smallest change that counts as an improvement"},
				{Name: FieldMonitor, Type: contract.String, Default: models.MonitorValLoss,
					Enum: []string{models.MonitorValLoss, models.MonitorValAccuracy, models.MonitorValDice},
					Doc:  "val_loss (lower is better), val_accuracy (classification; higher is better) or val_dice (segmentation: mean per-case foreground Dice; higher is better)"},
			}},
		{Name: FieldCheckpoint, Type: contract.Int, Default: 200, Min: contract.Bound(0), NoKey: true, Advanced: true,
			Doc: "write a resumable checkpoint every N optimizer steps (0: only at epoch ends; one is also written at an epoch end when the last is over 2 s old, at the end of training and on Ctrl-C); a killed or interrupted run resumes from the last one"},
		{Name: FieldStreamAbove, Type: contract.Int, Default: 1024, Min: contract.Bound(0), Advanced: true,
			Doc: "stream the data from its Arrow file a record batch at a time when the file is larger than this many MiB (0: always), so data larger than memory trains in bounded memory; each epoch's shuffle then mixes the rows of 4 record batches at a time (a table over 64 MiB is written in record batches of at most 64 MiB)"},
		{Name: FieldTrainClasses, Type: contract.Strings,
			Doc: "train and validate only on rows with one of these labels (e.g. the normal class, for an autoencoder whose reconstruction error then scores anomalies); [] = every row"},
		{Name: FieldInitFrom, Type: contract.Path,
			Doc: "a model artifact or checkpoint folder to initialise from (transfer learning): variables with the same name and shape are loaded, the rest start fresh; or connect a model stage to the \"init\" input; a .safetensors or .onnx file is imported as with pretrained: {path: FILE}"},
		{Name: FieldPretrained, Type: contract.Object, Doc: "weights trained elsewhere (PyTorch, ONNX): tensors matched to this model's layers by a declared or inferred map, layouts converted; `biopipe weights FILE --model ...` shows the mapping",
			Fields: []contract.Field{
				{Name: FieldPath, Type: contract.Path, Doc: "a .safetensors file or an .onnx model"},
				{Name: FieldMap, Type: contract.Map, Doc: "source layer or tensor -> model layer or variable (e.g. features.0: block_0/conv_0); when given, only these load. Default: layers paired in order, convolutions with convolutions, dense with dense",
					Example: "map: {features.0: block_0/conv_0, fc.weight: output/dense/weights}"},
				{Name: FieldExclude, Type: contract.Strings, Doc: "source name prefixes left out of the inferred pairing (e.g. a classifier head of another size)"},
				{Name: FieldLayout, Type: contract.String, Default: models.LayoutPyTorch, Enum: []string{models.LayoutPyTorch, models.LayoutNative},
					Doc: "safetensors layout: pytorch (convolution kernels OIHW, dense [out, in]) or native (already [kh, kw, in, out] and [in, out]); ONNX tensors follow their operators"},
			}},
		{Name: FieldFreeze, Type: contract.Strings, Doc: "layers that do not train: encoder (the family's feature extractor: cnn blocks, mlp hidden layers) or layer prefixes such as block_0 or hidden_0"},
		{Name: FieldLayerLR, Type: contract.Map, Doc: "discriminative learning rates: layer prefix -> multiplier of the learning rate (longest prefix wins; others 1)",
			Example: "layer_lr: {block_0: 0.1, block_1: 0.3}"},
	}
}

func familyList() string {
	var parts []string
	for _, f := range models.Families() {
		parts = append(parts, f.Name+" ("+f.Doc+")")
	}
	return strings.Join(parts, "; ")
}

// familyFields is the union of every family's params as train fields, without defaults (so
// the stage can tell which were given); each doc names the families that use it.
func familyFields(base []contract.Field, fams []*models.Family) []contract.Field {
	var out []contract.Field
	index := map[string]int{}
	for _, b := range base {
		index[b.Name] = -1
	}
	for _, fam := range fams {
		for _, p := range fam.Params {
			doc := fmt.Sprintf("[%s] %s", fam.Name, p.Doc)
			if p.Default != nil {
				doc += fmt.Sprintf(" (default %s)", formatDefault(p.Default))
			}
			i, seen := index[p.Name]
			if seen && i < 0 {
				panic(fmt.Sprintf("stages/train: model %q param %q collides with a train field", fam.Name, p.Name))
			}
			if !seen {
				f := p
				f.Default = nil
				f.Required = false
				f.Doc = doc
				f.Enum = slices.Clone(p.Enum)
				index[p.Name] = len(out)
				out = append(out, f)
				continue
			}
			f := &out[i]
			if f.Type != p.Type {
				panic(fmt.Sprintf("stages/train: param %q is %s in one family and %s in model %q", p.Name, f.Type, p.Type, fam.Name))
			}
			f.Doc += "; " + doc
			for _, e := range p.Enum {
				if !slices.Contains(f.Enum, e) {
					f.Enum = append(f.Enum, e)
				}
			}
			if len(p.Enum) == 0 {
				f.Enum = nil
			}
			if !sameBound(f.Min, p.Min) {
				f.Min = nil
			}
			if !sameBound(f.Max, p.Max) {
				f.Max = nil
			}
		}
	}
	return out
}

func sameBound(a, b *float64) bool {
	return (a == nil && b == nil) || (a != nil && b != nil && *a == *b)
}

func formatDefault(v any) string {
	switch x := v.(type) {
	case string:
		return fmt.Sprintf("%q", x)
	case []any:
		var parts []string
		for _, e := range x {
			parts = append(parts, fmt.Sprint(e))
		}
		return "[" + strings.Join(parts, ", ") + "]"
	}
	return fmt.Sprint(v)
}

// Fields is the train kind's config spec: its own fields plus every family's params.
var Fields = func() []contract.Field {
	base := baseFields()
	return append(base, familyFields(base, models.Families())...)
}()

func init() {
	contract.Register(&contract.Kind{
		Name: KindName,
		Doc:  "train a model (mlp, ...) on the train split; validate on val",
		Description: "Trains a model of the chosen family on the rows whose split is \"train\" and " +
			"reports per-epoch loss and accuracy (classification) or MSE (regression) on the train and val " +
			"splits. Classification uses softmax cross-entropy (binary = 2 classes), regression mean squared " +
			"error. With val rows, early stopping keeps the best epoch's weights. Inputs are used as given: " +
			"standardise them upstream. Family hyper-parameters are fields of this stage; each says which " +
			"family uses it, and giving one the chosen family does not use is an error.",
		Version:     "1",
		Fields:      Fields,
		UsesBackend: true,
		Inputs: []contract.Port{
			{Name: PortData, Type: contract.Table, Doc: "the split dataset (split column train/val/test)"},
			{Name: PortInit, Type: contract.Model, Optional: true, Doc: "a trained model to initialise from (same as init_from)"},
		},
		Output: contract.Port{Name: "model", Type: contract.Model, Doc: "checkpoint/, model.json (model card), history.json"},
		New:    newStage,
		Example: `- id: train
  kind: train
  inputs: [split]
  with:
    model: mlp
    hidden: [64, 32]
    epochs: 40
    batch_size: 64
    optimizer: {name: adam, learning_rate: 0.001}
    early_stopping: {patience: 10}
`,
	})
}

type stage struct {
	fam    *models.Family
	params map[string]any
	cfg    contract.Config
}

func newStage(cfg contract.Config) (contract.Stage, error) {
	fam, err := models.Get(cfg.String(FieldModel))
	if err != nil {
		return nil, &contract.ConfigError{Issues: []contract.Issue{{Path: []string{FieldModel}, Msg: err.Error()}}}
	}
	params, issues := familyParams(fam, cfg, Fields[len(baseFields()):], models.Families())
	es := cfg.Object(FieldEarlyStopping)
	if es.String(FieldMonitor) == models.MonitorValAccuracy && fam.Task != "" && fam.Task != models.Classification {
		issues = append(issues, contract.Issue{Path: []string{FieldEarlyStopping, FieldMonitor},
			Msg: fmt.Sprintf("val_accuracy needs a classification model; %q is a %s model", fam.Name, fam.Task)})
	}
	if es.String(FieldMonitor) == models.MonitorValDice && fam.Task != models.Segmentation {
		issues = append(issues, contract.Issue{Path: []string{FieldEarlyStopping, FieldMonitor},
			Msg: fmt.Sprintf("val_dice needs a segmentation model (unet); %q is not one", fam.Name)})
	}
	if len(issues) > 0 {
		return nil, &contract.ConfigError{Issues: issues}
	}
	return &stage{fam: fam, params: params, cfg: cfg}, nil
}

// familyParams picks the family's params out of the stage config; a param of another
// family (one of union) is an issue naming the families that use it.
func familyParams(fam *models.Family, cfg contract.Config, union []contract.Field, fams []*models.Family) (map[string]any, []contract.Issue) {
	var issues []contract.Issue
	params := map[string]any{}
	own := map[string]bool{}
	var famNames []string
	for _, p := range fam.Params {
		own[p.Name] = true
		famNames = append(famNames, p.Name)
	}
	for _, f := range union {
		if !cfg.Has(f.Name) {
			continue
		}
		if !own[f.Name] {
			var users []string
			for _, o := range fams {
				for _, p := range o.Params {
					if p.Name == f.Name {
						users = append(users, o.Name)
					}
				}
			}
			mine := "none"
			if len(famNames) > 0 {
				mine = strings.Join(famNames, ", ")
			}
			issues = append(issues, contract.Issue{Path: []string{f.Name}, Msg: fmt.Sprintf(
				"not a parameter of model %q (used by %s); %s params: %s", fam.Name, strings.Join(users, ", "), fam.Name, mine)})
			continue
		}
		params[f.Name] = cfg[f.Name]
	}
	if len(issues) == 0 {
		// Issues keep their field paths (encoders.image.channels ...) so the YAML position of
		// each is found; the message names the model.
		_, iss := fam.CheckParams(params)
		for _, is := range iss {
			is.Msg = fmt.Sprintf("model %q: %s", fam.Name, is.Msg)
			issues = append(issues, is)
		}
	}
	return params, issues
}

// trainOptions reads the stage's input and config into the options of models.Train; it
// also returns the train and val rows.
// The caller calls done (never nil) once training is over: it closes a streamed file.
func (s *stage) trainOptions(env *contract.Env) (_ models.TrainOptions, trainRows, valRows []int, done func(), err error) {
	done = func() {}
	in, err := env.One(PortData)
	if err != nil {
		return models.TrainOptions{}, nil, nil, done, err
	}
	path := in.File(contract.DataFile)
	frame, table, err := s.openData(path)
	if err != nil {
		return models.TrainOptions{}, nil, nil, done, fmt.Errorf("stage %q: %w", env.StageID, err)
	}
	if table != nil {
		env.Log.Info("streaming the data from its file", "stage", env.StageID, "file", path, "rows", table.NumRows(), "record_batches", table.NumBatches())
		defer func() {
			if err != nil {
				table.Close()
			}
		}()
		done = func() { table.Close() }
	}
	task := models.Task(frame.Meta[dataset.MetaTask])
	if s.fam.Task != "" {
		task = s.fam.Task
	} else if task == "" {
		task = models.Classification
	}
	if frame.Split() == nil {
		env.Log.Warn("no split column: training on every row without validation", "stage", env.StageID, "file", path)
		trainRows = frame.SplitRows(dataset.Train)
	} else {
		trainRows = frame.SplitRows(dataset.Train)
		valRows = frame.SplitRows(dataset.Val)
	}
	if keep := s.cfg.Strings(FieldTrainClasses); len(keep) > 0 {
		if trainRows, err = onlyClasses(frame, trainRows, keep); err != nil {
			return models.TrainOptions{}, nil, nil, done, fmt.Errorf("stage %q: %s: %s: %w", env.StageID, path, FieldTrainClasses, err)
		}
		if valRows, err = onlyClasses(frame, valRows, keep); err != nil {
			return models.TrainOptions{}, nil, nil, done, fmt.Errorf("stage %q: %s: %s: %w", env.StageID, path, FieldTrainClasses, err)
		}
	}
	if len(trainRows) == 0 {
		return models.TrainOptions{}, nil, nil, done, fmt.Errorf("stage %q: %s: no rows with split %q", env.StageID, path, dataset.Train)
	}
	trainData, err := readData(frame, table, trainRows, task)
	if err != nil {
		return models.TrainOptions{}, nil, nil, done, fmt.Errorf("stage %q: %s: train split: %w", env.StageID, path, err)
	}
	var valData *models.Data
	if len(valRows) > 0 {
		if valData, err = readData(frame, table, valRows, task); err != nil {
			return models.TrainOptions{}, nil, nil, done, fmt.Errorf("stage %q: %s: val split: %w", env.StageID, path, err)
		}
	} else {
		env.Log.Info("no val rows: training without validation or early stopping", "stage", env.StageID)
	}
	initFrom, initFromName := s.cfg.String(FieldInitFrom), ""
	if ins := env.In(PortInit); len(ins) > 0 {
		if initFrom != "" {
			return models.TrainOptions{}, nil, nil, done, fmt.Errorf("stage %q: give init_from or connect an %q input, not both", env.StageID, PortInit)
		}
		if len(ins) > 1 {
			return models.TrainOptions{}, nil, nil, done, fmt.Errorf("stage %q: port %q has %d inputs, want at most 1", env.StageID, PortInit, len(ins))
		}
		initFrom = ins[0].Dir
		initFromName = fmt.Sprintf("stage %q (%s)", ins[0].StageID, ins[0].Digest)
	}
	pre, ft, err := fineTuning(s.cfg)
	if err != nil {
		return models.TrainOptions{}, nil, nil, done, fmt.Errorf("stage %q: %w", env.StageID, err)
	}
	opt := s.cfg.Object(FieldOptimizer)
	es := s.cfg.Object(FieldEarlyStopping)
	reg := s.cfg.Object(FieldRegularization)
	var classes []string
	if task == models.Classification || (task == models.Generation && trainData.Classes != nil) {
		classes = frame.Classes()
	}
	if task == models.Segmentation {
		classes = models.MaskClasses(trainData.Masks)
	}
	return models.TrainOptions{
		Family:       s.fam.Name,
		Params:       s.params,
		Train:        trainData,
		Val:          valData,
		Task:         task,
		Classes:      classes,
		FeatureNames: trainData.X.Names,
		Epochs:       s.cfg.Int(FieldEpochs),
		BatchSize:    s.cfg.Int(FieldBatchSize),
		Optimizer: models.OptimizerConfig{
			Name:         opt.String(FieldName),
			LearningRate: opt.Float(FieldLearningRate),
			WeightDecay:  opt.Float(FieldWeightDecay),
			Momentum:     opt.Float(FieldMomentum),
			Nesterov:     opt.Bool(FieldNesterov),
			ClipNorm:     opt.Float(FieldClipNorm),
			ClipValue:    opt.Float(FieldClipValue),
		},
		Schedule:       schedule(s.cfg.Object(FieldSchedule)),
		Regularization: models.Regularization{L1: reg.Float(FieldL1), L2: reg.Float(FieldL2)},
		Initializer:    s.cfg.String(FieldInitializer),
		Callbacks:      callbacks(s.cfg.Object(FieldCallbacks), env),
		Loss:           classLoss(s.cfg),
		EarlyStopping: models.EarlyStopping{
			Patience: es.Int(FieldPatience),
			MinDelta: es.Float(FieldMinDelta),
			Monitor:  es.String(FieldMonitor),
		},
		Seed:            env.Seed,
		Backend:         env.Backend,
		InitFrom:        initFrom,
		InitFromName:    initFromName,
		Pretrained:      pre,
		FineTune:        ft,
		OutDir:          env.OutDir,
		StateDir:        env.StateDir,
		CheckpointEvery: s.cfg.Int(FieldCheckpoint),
		Progress:        env.Progress,
		Log:             env.Log,
	}, trainRows, valRows, done, nil
}

// Run implements contract.Stage.
func (s *stage) Run(ctx context.Context, env *contract.Env) error {
	opts, trainRows, valRows, done, err := s.trainOptions(env)
	if err != nil {
		return err
	}
	defer done()
	res, err := models.Train(ctx, opts)
	if err != nil {
		return fmt.Errorf("stage %q: %w", env.StageID, err)
	}
	c := res.Card
	env.SetMetric("epochs_run", c.EpochsRun)
	env.SetMetric("best_epoch", c.BestEpoch)
	env.SetMetric("num_parameters", c.NumParameters)
	if f := c.Final; f != nil {
		env.SetMetric("train_loss", f.TrainLoss)
		setOpt(env, "val_loss", f.ValLoss)
		setOpt(env, "train_accuracy", f.TrainAccuracy)
		setOpt(env, "val_accuracy", f.ValAccuracy)
		setOpt(env, "train_mse", f.TrainMSE)
		setOpt(env, "val_mse", f.ValMSE)
		setOpt(env, "train_dice", f.TrainDice)
		setOpt(env, "val_dice", f.ValDice)
	}
	summary := map[string]any{
		"model": c.Family, "task": c.Task, "train_rows": len(trainRows), "val_rows": len(valRows),
		"epochs_run": c.EpochsRun, "best_epoch": c.BestEpoch, "stopped_early": res.History.StoppedEarly,
		"num_parameters": c.NumParameters, "backend": c.Backend,
	}
	var figures []contract.SummaryFigure
	for _, e := range res.History.Epochs {
		for _, f := range e.Files {
			if strings.HasSuffix(f, ".png") {
				figures = append(figures, contract.SummaryFigure{File: f, Title: fmt.Sprintf("Samples after epoch %d", e.Epoch),
					Caption: fmt.Sprintf("The %s's samples from a fixed noise batch after epoch %d of %d (the same noise every time, so the sequence shows training progress).", c.Family, e.Epoch, c.EpochsRun)})
			}
		}
	}
	if len(figures) > 0 {
		summary["figures"] = figures
	}
	if c.InitFrom != nil {
		summary["init_loaded"] = len(c.InitFrom.Loaded)
		summary["init_fresh"] = len(c.InitFrom.Fresh) + len(c.InitFrom.ShapeMismatch)
	}
	return dataset.WriteJSON(env.Out(contract.SummaryFile), summary)
}

func setOpt(env *contract.Env, name string, v *float64) {
	if v != nil {
		env.SetMetric(name, *v)
	}
}

// onlyClasses keeps the rows whose class label is one of keep.
func onlyClasses(f *dataset.Frame, rows []int, keep []string) ([]int, error) {
	classes := f.Classes()
	want := map[int]bool{}
	for _, k := range keep {
		i := slices.Index(classes, k)
		if i < 0 {
			return nil, fmt.Errorf("%q is not a class label of the data (labels: %s)", k, strings.Join(classes, ", "))
		}
		want[i] = true
	}
	if len(rows) == 0 {
		return rows, nil
	}
	cls, _, err := f.Labels(rows)
	if err != nil {
		return nil, err
	}
	if cls == nil {
		return nil, fmt.Errorf("the data has no class labels")
	}
	var out []int
	for i, r := range rows {
		if want[cls[i]] {
			out = append(out, r)
		}
	}
	return out, nil
}

// openData reads the table at path whole, or, when the file is larger than stream_above
// MiB, opens it for streaming: then frame holds only the role columns (split, label ...)
// and table reads the features.
func (s *stage) openData(path string) (frame *dataset.Frame, table *dataset.Table, err error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, nil, err
	}
	if fi.Size() <= int64(s.cfg.Int(FieldStreamAbove))<<20 {
		frame, err := dataset.ReadFile(path)
		return frame, nil, err
	}
	table, err = dataset.OpenTable(path)
	if err != nil {
		return nil, nil, err
	}
	return table.Roles(), table, nil
}

// readData builds the model inputs and labels of the given rows of f, or, with table set,
// the labels from f (the table's role columns) and a stream of the inputs.
func readData(f *dataset.Frame, table *dataset.Table, rows []int, task models.Task) (*models.Data, error) {
	var d *models.Data
	if table != nil {
		fs, err := table.Features(rows)
		if err != nil {
			return nil, err
		}
		fs.CacheBatches = models.StreamWindow + 1
		d = &models.Data{X: fs.M, Rows: fs, Chunks: fs.ChunkSizes()}
	} else {
		x, err := f.Features(rows)
		if err != nil {
			return nil, err
		}
		d = &models.Data{X: x}
	}
	if task == models.Reconstruction {
		return d, nil
	}
	if task == models.Segmentation {
		// The mask column is a role column: in memory also when the inputs are streamed.
		masks, err := f.Masks(rows, d.X.Shape)
		if err != nil {
			return nil, err
		}
		d.Masks = masks
		return d, nil
	}
	if task == models.Generation {
		// Class labels, when the data has them, may condition a generator.
		if f.Meta[dataset.MetaLabel] != "" && len(f.Classes()) > 0 {
			cls, _, err := f.Labels(rows)
			if err != nil {
				return nil, err
			}
			d.Classes = cls
		}
		return d, nil
	}
	cls, reg, err := f.Labels(rows)
	if err != nil {
		return nil, err
	}
	switch task {
	case models.Classification:
		if cls == nil {
			return nil, fmt.Errorf("task is classification but the labels are not class labels")
		}
		d.Classes = cls
	case models.Regression:
		d.Targets = reg
	}
	return d, nil
}

// schedule reads the lr_schedule object.
func schedule(c contract.Config) models.Schedule {
	return models.Schedule{
		Name:         c.String(FieldName),
		WarmupEpochs: c.Int(FieldWarmupEpochs),
		StepEpochs:   c.Int(FieldStepEpochs),
		Gamma:        c.Float(FieldGamma),
		PeriodEpochs: c.Int(FieldPeriodEpochs),
		PeriodMult:   c.Float(FieldPeriodMult),
		MinLR:        c.Float(FieldMinLR),
		Patience:     c.Int(FieldPatience),
	}
}

// callbacks reads the callbacks object; TensorBoard events go to the run's folder, outside
// the cached artifact (they hold wall-clock times).
func callbacks(c contract.Config, env *contract.Env) models.Callbacks {
	cb := models.Callbacks{
		Checkpoint: c.String(FieldKeep),
		OnNaN:      c.String(FieldOnNaN),
		CSVLog:     c.Bool(FieldCSVLog),
	}
	if c.Bool(FieldTensorBoard) {
		cb.TensorBoard = tensorboard.RunDir(env.RunDir, env.StageID)
	}
	return cb
}

// classLoss reads the loss and class-weight fields.
func classLoss(c contract.Config) models.ClassLoss {
	l := models.ClassLoss{Name: c.String(FieldLoss), FocalGamma: c.Float(FieldFocalGamma), ClassWeight: c.String(FieldClassWeight)}
	if l.Name != models.LossFocal {
		l.FocalGamma = 0
	}
	for k, v := range c.MapOf(FieldClassWeights) {
		if l.Weights == nil {
			l.Weights = map[string]float64{}
		}
		switch x := v.(type) {
		case float64:
			l.Weights[k] = x
		case int:
			l.Weights[k] = float64(x)
		case int64:
			l.Weights[k] = float64(x)
		default:
			l.Weights[k] = math.NaN() // not a number: models reports the class
		}
	}
	return l
}

// FindLR runs the learning-rate range test (models.FindLR) for a train stage's config on
// the input artifacts in env (the data port, and init when connected), as the stage would
// train: same model, data, optimizer and seed.
func FindLR(ctx context.Context, cfg contract.Config, env *contract.Env, rt models.RangeTest) (*models.RangeResult, error) {
	st, err := newStage(cfg)
	if err != nil {
		return nil, err
	}
	opts, _, _, done, err := st.(*stage).trainOptions(env)
	if err != nil {
		return nil, err
	}
	defer done()
	return models.FindLR(ctx, opts, rt)
}
