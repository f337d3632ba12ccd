package models

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/gomlx/gomlx/ml/train"
	"github.com/gomlx/gomlx/ml/train/loss"

	"github.com/biopipe/biopipe/contract"
	"github.com/biopipe/biopipe/crashpoint"
	"github.com/biopipe/biopipe/dataset"
)

// Data is a set of examples: inputs and, for supervised tasks, labels.
type Data struct {
	// X holds the inputs; with Rows set it only describes them (N, Shape, Names, Columns)
	// and X.X is nil.
	X       *dataset.Matrix
	Classes []int     // classification: class index per row
	Targets []float64 // regression: target per row
	// Masks (segmentation): per row, MaskSize(X.Shape) class indices, one per voxel in the
	// order of the input's spatial axes.
	Masks []float32

	// Rows, when set, reads the inputs on demand instead of X.X (data larger than memory,
	// streamed from its Arrow file: dataset.FeatureStream). Its reads come from the input
	// pipeline's goroutine, one batch ahead of the step.
	Rows RowReader
	// Chunks, for streamed training data, are the sizes of the consecutive runs of rows
	// that are read together (record batches): each epoch's shuffle then visits a few
	// chunks at a time (StreamWindow), so memory stays bounded. The order is a function of
	// the seed as for in-memory data, but not the same order.
	Chunks []int
}

// RowReader reads the input values of rows on demand.
type RowReader interface {
	// ReadRows copies the inputs of the given rows into dst, one row after the other.
	ReadRows(rows []int, dst []float32) error
}

// Len returns the number of examples (0 for nil).
func (d *Data) Len() int {
	if d == nil || d.X == nil {
		return 0
	}
	return d.X.N
}

// Monitors for early stopping.
const (
	MonitorValLoss     = "val_loss"     // lower is better
	MonitorValAccuracy = "val_accuracy" // higher is better; classification only
	MonitorValDice     = "val_dice"     // higher is better; segmentation only
)

// EarlyStopping stops training when the monitored validation metric has not improved by
// more than MinDelta for Patience epochs, and restores the best epoch's weights.
// Patience 0 disables it.
type EarlyStopping struct {
	Patience int     `json:"patience"`
	MinDelta float64 `json:"min_delta"`
	Monitor  string  `json:"monitor"`
}

// TrainOptions configures Train.
type TrainOptions struct {
	Family string         // registered family name
	Params map[string]any // family hyper-parameters as given (defaults are filled from the family)

	Train *Data // required
	Val   *Data // optional: nil or empty means no validation and no early stopping

	Task         Task     // the data's task; a family with its own Task overrides it
	Classes      []string // class names (classification); len = number of classes
	FeatureNames []string // for the model card

	Epochs        int
	BatchSize     int
	Optimizer     OptimizerConfig
	EarlyStopping EarlyStopping
	// Schedule, Regularization and Initializer: see their types (zero values: a constant
	// rate, no penalties, the default He-normal initialisation).
	Schedule       Schedule
	Regularization Regularization
	Initializer    string
	// Callbacks: checkpoint choice, NaN handling, CSV log, TensorBoard (see Callbacks).
	Callbacks Callbacks
	// Loss: focal loss and class weights for classification (zero value: cross-entropy).
	Loss ClassLoss

	// onStep, when set (FindLR), gets each batch's rate and main loss; false ends training.
	onStep func(lr, loss float64) bool

	Seed    int64
	Backend string // "go" (default), "xla:cpu", "xla:cuda"

	// InitFrom is a model artifact folder (with checkpoint/) or a checkpoint folder whose
	// variables initialise those of the same name and shape (transfer learning).
	InitFrom string
	// InitFromName, when set, is how the model card names InitFrom instead of its path: an
	// upstream artifact's folder lies in a work dir, and a path there would make the same
	// training give a different model artifact in another work dir (biopipe verify).
	InitFromName string
	// Pretrained imports weights trained elsewhere (safetensors, ONNX) after InitFrom.
	Pretrained *Pretrained
	// FineTune freezes layers and scales learning rates per layer (see FineTune).
	FineTune FineTune

	// OutDir, when set, receives checkpoint/, model.json and history.json.
	OutDir string

	// StateDir, when set, holds resumable checkpoints (see resume.go): Train continues from
	// the newest one it finds there; writes one every CheckpointEvery optimizer steps
	// (0: none within an epoch), at an epoch end when the last one is over 2 s old (see
	// epochCheckpointDue), at the end of training, and when ctx is cancelled, before it
	// returns ctx's error. The caller removes the folder once the artifact is stored.
	StateDir        string
	CheckpointEvery int

	// Progress starts a progress display (the train stage passes env.Progress); may be nil.
	Progress func(desc string, total int) contract.Progress
	// OnEpoch is called after every epoch; may be nil.
	OnEpoch func(EpochRecord)
	Log     *slog.Logger
}

// Result is what Train returns.
type Result struct {
	Card    Card
	History History
	Trained *Trained // the trained model (best weights), ready for Predict
}

// Variables of the network live under this scope; checkpoints hold only them.
const modelScope = "model"

const modelPrefix = "/" + modelScope + "/"

func isModelVar(v *model.Variable) bool { return strings.HasPrefix(v.Path(), modelPrefix) }

// Train trains a model of opts.Family and, when opts.OutDir is set, writes the model artifact.
func Train(ctx context.Context, opts TrainOptions) (*Result, error) {
	start := time.Now()
	fam, err := Get(opts.Family)
	if err != nil {
		return nil, err
	}
	params, err := fam.ResolveParams(opts.Params)
	if err != nil {
		return nil, err
	}
	log := opts.Log
	if log == nil {
		log = slog.Default()
	}
	task := opts.Task
	if fam.Task != "" {
		task = fam.Task
	}
	if err := checkOptions(&opts, task); err != nil {
		return nil, err
	}
	backendName, err := NormalizeBackend(opts.Backend)
	if err != nil {
		return nil, err
	}
	spec := Spec{InputShape: slices.Clone(opts.Train.X.Shape), Task: task, NumClasses: len(opts.Classes), Columns: opts.Train.X.Columns}
	if spec.Lengths, err = checkLengths(fam, task, opts.Train, opts.Val); err != nil {
		return nil, err
	}
	net, err := buildNetwork(fam, spec, params)
	if err != nil {
		return nil, err
	}
	backend, err := NewBackend(backendName)
	if err != nil {
		return nil, err
	}

	store := model.NewStore()
	if err := store.SetRNGStateFromSeed(opts.Seed); err != nil {
		return nil, fmt.Errorf("model %q: seeding: %w", fam.Name, err)
	}
	opt, err := newOptimizer(store, opts.Optimizer)
	if err != nil {
		return nil, err
	}
	if err := opts.Regularization.apply(store); err != nil {
		return nil, err
	}
	if net, err = withInitializer(store, net, opts.Initializer); err != nil {
		return nil, err
	}
	sched, err := newScheduler(store, opts.Schedule, opts.Optimizer.LearningRate, opts.Epochs, dataSteps(opts.Train, opts.BatchSize))
	if err != nil {
		return nil, err
	}
	tm := &Trained{backend: backend, store: store, net: net, spec: spec}

	// Create and initialise the variables once, so init_from can overwrite them and errors
	// in the family's graph show up before training.
	if err := tm.materialize(); err != nil {
		return nil, fmt.Errorf("model %q: building the network: %w", fam.Name, err)
	}
	var initRep *InitReport
	if opts.InitFrom != "" && !isWeightsFile(opts.InitFrom) {
		initRep, err = initFrom(store, opts.InitFrom)
		if err != nil {
			return nil, err
		}
		if opts.InitFromName != "" {
			initRep.From = opts.InitFromName
		}
		log.Info("init_from", "path", opts.InitFrom, "loaded", len(initRep.Loaded), "fresh", len(initRep.Fresh), "shape_mismatch", len(initRep.ShapeMismatch))
	}
	if initRep, err = pretrainedAndFineTune(store, net, fam, &opts, initRep, log); err != nil {
		return nil, err
	}
	tuner, err := newFineTuner(store, fam, opts.FineTune)
	if err != nil {
		return nil, fmt.Errorf("model %q: %w", fam.Name, err)
	}

	if err := applyClassLoss(net, &opts.Loss, task, opts.Classes, opts.Train.Classes); err != nil {
		return nil, fmt.Errorf("model %q: %w", fam.Name, err)
	}
	obj := net.Objective
	if obj == nil {
		obj = defaultObjective(net, task)
	}
	stepExecs := make([]*model.Exec, len(obj.Steps))
	watches := make([]*nanWatch, len(obj.Steps))
	for i, st := range obj.Steps {
		o := opt
		if st.Optimizer != nil {
			c := *st.Optimizer
			if c.Name == "" {
				c.Name = opts.Optimizer.Name
			}
			if c.LearningRate <= 0 {
				c.LearningRate = opts.Optimizer.LearningRate
			}
			if o, err = newOptimizer(store, c); err != nil {
				return nil, fmt.Errorf("model %q: step %q: %w", fam.Name, st.Name, err)
			}
		}
		watch := &nanWatch{}
		watches[i] = watch
		stepExecs[i], err = model.NewExec(backend, store, func(scope *model.Scope, inputs []*graph.Node) []*graph.Node {
			x, y := splitInputs(inputs)
			g := x.Graph()
			store.SetTraining(g, true)
			l, m := st.Loss(scope, x, y)
			mainLoss := scalar(l)
			if m == nil {
				m = zeroMetric(g)
			}
			train.AddMainLoss(mainLoss)
			optScope := scope
			if st.Net != "" {
				optScope = scope.At(modelScope).At("%s", st.Net)
			}
			old := tuner.before(g)
			if st.Update != nil {
				st.Update(scope, x, y)
			} else {
				o.UpdateGraph(optScope, g, train.TotalLoss(g))
			}
			tuner.scale(g, old)
			train.ExecPerStepUpdateGraphFn(g)
			return append([]*graph.Node{mainLoss, m}, watch.outputs(scope, g)...)
		})
		if err != nil {
			return nil, fmt.Errorf("model %q: %w", fam.Name, err)
		}
		stepExecs[i].SetMaxCache(16 + 2*len(spec.Lengths)) // full and last batch per bucket
	}
	var evalExec *model.Exec
	if obj.Validate != nil {
		evalExec, err = model.NewExec(backend, store, func(scope *model.Scope, inputs []*graph.Node) []*graph.Node {
			x, y := splitInputs(inputs)
			l, m := obj.Validate(scope, x, y)
			if m == nil {
				m = zeroMetric(x.Graph())
			}
			b := float64(x.Shape().Dimensions[0])
			return []*graph.Node{graph.MulScalar(scalar(l), b), m}
		})
		if err != nil {
			return nil, fmt.Errorf("model %q: %w", fam.Name, err)
		}
		evalExec.SetMaxCache(16 + 2*len(spec.Lengths))
	}
	withLabels := obj.NeedsLabels && task != Reconstruction

	es := opts.EarlyStopping
	hasVal := opts.Val.Len() > 0 && evalExec != nil
	if !hasVal {
		es.Patience = 0
	}
	if es.Monitor == "" {
		es.Monitor = MonitorValLoss
	}
	hist := History{Monitor: es.Monitor, Epochs: []EpochRecord{}}
	if !hasVal {
		hist.Monitor = ""
	}
	cb, err := newCallbacks(opts.Callbacks, hasVal, log)
	if err != nil {
		return nil, fmt.Errorf("model %q: %w", fam.Name, err)
	}
	defer cb.close()
	cb.start(opts.Train)
	keepBest := opts.Callbacks.keepBest(es.Patience, hasVal)

	// Regression targets are trained standardised (mean and sd of the train rows), so one
	// learning rate suits targets of any scale; losses and MSEs are reported, and
	// predictions returned, in the target's own units.
	trainData, valData := opts.Train, opts.Val
	tgtMean, tgtScale := 0.0, 0.0
	unit := 1.0 // factor from the trained units of loss/MSE to the target's units
	if task == Regression {
		tgtMean, tgtScale = meanSD(opts.Train.Targets)
		trainData = scaledTargets(opts.Train, tgtMean, tgtScale)
		valData = scaledTargets(opts.Val, tgtMean, tgtScale)
		unit = tgtScale * tgtScale
	}
	lossUnit := 1.0
	if net.Loss == nil && net.Objective == nil {
		lossUnit = unit
	}

	fingerprint := resumeFingerprint(fam.Name, params, &opts, task, len(stepExecs))
	st := newLoopState(fingerprint, opts.Train.Len(), len(stepExecs))
	var bestWeights map[string]*tensors.Tensor
	if opts.StateDir != "" {
		if rs, snap := loadResume(opts.StateDir, fingerprint, log.Warn); rs != nil {
			if err := restoreStore(store, snap.sets[resumeSetStore]); err != nil {
				return nil, fmt.Errorf("model %q: %s: %w", fam.Name, opts.StateDir, err)
			}
			if b, ok := snap.sets[resumeSetBest]; ok {
				bestWeights = b.vals
			}
			if err := snap.restoreFiles(opts.OutDir); err != nil {
				return nil, fmt.Errorf("model %q: %w", fam.Name, err)
			}
			st = rs
			sched.restore(st.Schedule)
			log.Info("resuming training", "model", fam.Name, "epoch", st.Epoch, "batch", st.Batch, "step", st.Step, "from", opts.StateDir)
		}
	}
	pcg, err := st.shuffler(opts.Seed)
	if err != nil {
		return nil, err
	}
	if st.Shuffle == nil { // a fresh start: shuffle for epoch 1
		if err := st.startEpoch(pcg, opts.Train.Chunks, opts.Train.X.Lengths, opts.BatchSize); err != nil {
			return nil, err
		}
	}
	if st.History.Epochs != nil {
		hist = st.History
	}
	// lastCheckpoint and checkpointCost are when the last resume checkpoint was written and
	// how long it took: epoch-end checkpoints are rate limited (epochCheckpointDue).
	lastCheckpoint, checkpointCost := time.Now(), time.Duration(0)
	checkpoint := func() error {
		if opts.StateDir == "" {
			return nil
		}
		st.History = hist
		st.Schedule = sched.state()
		vals, trainable, err := storeTensors(store)
		if err != nil {
			return fmt.Errorf("model %q: resume checkpoint: %w", fam.Name, err)
		}
		sets := map[string]tensorSet{resumeSetStore: {vals: vals, trainable: trainable}}
		if bestWeights != nil {
			sets[resumeSetBest] = tensorSet{vals: bestWeights}
		}
		t0 := time.Now()
		if err := saveResume(opts.StateDir, st, sets, opts.OutDir, hist.files()); err != nil {
			return err
		}
		lastCheckpoint, checkpointCost = time.Now(), time.Since(t0)
		return nil
	}
	// interrupted saves the loop's position and returns ctx's error.
	interrupted := func(cause error) error {
		if err := checkpoint(); err != nil {
			return errors.Join(cause, err)
		}
		return fmt.Errorf("model %q: stopped at epoch %d, step %d (checkpoint saved): %w", fam.Name, st.Epoch, st.Step, cause)
	}
	var prog contract.Progress = nopProgress{}
	if opts.Progress != nil {
		prog = opts.Progress("train "+fam.Name, opts.Epochs)
	}
	defer prog.Close()
	prog.Add(st.Epoch - 1)

	// Batches are assembled one ahead of the step, into host tensors reused for the whole
	// run (batches.go); stream is the current epoch's.
	pool := newBatchPool(backend, spec.InputShape, task, withLabels)
	defer pool.close()
	var stream *batchStream
	defer func() {
		if stream != nil {
			stream.close()
		}
	}()
	var valOrder, valEnds []int
	if hasVal {
		valOrder = make([]int, valData.Len())
		for i := range valOrder {
			valOrder[i] = i
		}
		valEnds = bucketEnds(valOrder, valData.X.Lengths, evalBatch(opts.BatchSize))
	}
epochs:
	for !st.Done && st.Epoch <= opts.Epochs {
		epoch := st.Epoch
		t0 := time.Now()
		ends := st.Ends // bucketed sequences: batches of one length each
		if ends == nil {
			ends = uniformEnds(len(st.Order), opts.BatchSize)
		}
		nBatches := len(ends)
		stream = pool.stream(trainData, st.Order, ends, st.Batch)
		for st.Batch < nBatches {
			if err := ctx.Err(); err != nil {
				return nil, interrupted(err)
			}
			if err := sched.beforeStep(epoch, st.Batch); err != nil {
				return nil, fmt.Errorf("model %q: epoch %d: %w", fam.Name, epoch, err)
			}
			args, rows, ok, err := stream.next(ctx)
			if err == nil && !ok {
				err = fmt.Errorf("the input pipeline ended at batch %d of %d", st.Batch, nBatches)
			}
			if err != nil {
				if cerr := ctx.Err(); cerr != nil {
					return nil, interrupted(cerr)
				}
				return nil, fmt.Errorf("model %q: epoch %d: %w", fam.Name, epoch, err)
			}
			for i, e := range stepExecs {
				l, m, bad, err := runStep(e, args, watches[i])
				if err != nil {
					return nil, fmt.Errorf("model %q: epoch %d: training step %q: %w", fam.Name, epoch, obj.Steps[i].Name, err)
				}
				if opts.onStep != nil && i == len(stepExecs)-1 && !opts.onStep(sched.rateOr(opts.Optimizer.LearningRate), l) {
					break epochs
				}
				if bad != "" || !isFinite(l) {
					ev := nanEvent(epoch, int(st.Step)+1, obj.Steps[i].Name, l, bad)
					if opts.Callbacks.OnNaN != OnNaNStop || (cb.lastGood == nil && bestWeights == nil) {
						return nil, fmt.Errorf("model %q: %s", fam.Name, ev.Message)
					}
					log.Warn("stopping on a non-finite value", "model", fam.Name, "msg", ev.Message)
					hist.NaN = &ev
					break epochs
				}
				st.addLoss(i, l*float64(rows))
				if i == len(stepExecs)-1 {
					st.addMetric(m)
				}
			}
			st.Batch++
			st.Step++
			crashpoint.Hit("train.step")
			if opts.CheckpointEvery > 0 && st.Step%int64(opts.CheckpointEvery) == 0 && st.Batch < nBatches {
				if err := checkpoint(); err != nil {
					return nil, err
				}
			}
		}
		stream.close()
		stream = nil
		rec := EpochRecord{Epoch: epoch}
		n := float64(len(st.Order))
		lossSums := st.lossSums()
		rec.TrainLoss = lossSums[len(lossSums)-1] / n * lossUnit
		if len(lossSums) > 1 {
			rec.Losses = map[string]float64{}
			for i, step := range obj.Steps {
				rec.Losses[step.Name] = lossSums[i] / n
			}
		}
		rec.setMetric(obj.Metric, false, st.metricSum()/n*unit)
		if hasVal {
			vl, vm, err := evaluate(ctx, evalExec, pool, valData, valOrder, valEnds)
			if err != nil {
				if cerr := ctx.Err(); cerr != nil {
					return nil, interrupted(cerr)
				}
				return nil, fmt.Errorf("model %q: epoch %d: validation: %w", fam.Name, epoch, err)
			}
			rec.ValLoss = ptr(vl * lossUnit)
			rec.setMetric(obj.Metric, true, vm*unit)
		}
		if obj.AfterEpoch != nil && opts.OutDir != "" {
			files, err := obj.AfterEpoch(ctx, epoch, tm, opts.OutDir)
			if err != nil {
				if cerr := ctx.Err(); cerr != nil {
					return nil, interrupted(cerr)
				}
				return nil, fmt.Errorf("model %q: epoch %d: %w", fam.Name, epoch, err)
			}
			rec.Files = files
		}
		rec.Seconds = time.Since(t0).Seconds()
		sched.record(&rec, es.Monitor, hasVal)
		if err := cb.epochEnd(store, rec, sched.rateOr(opts.Optimizer.LearningRate)); err != nil {
			return nil, fmt.Errorf("model %q: epoch %d: %w", fam.Name, epoch, err)
		}
		hist.Epochs = append(hist.Epochs, rec)
		if sp, ok := prog.(contract.StatusProgress); ok {
			sp.SetStatus(rec.status())
		}
		prog.Add(1)
		log.Debug("epoch", "model", fam.Name, "epoch", epoch, "train_loss", rec.TrainLoss, "val_loss", deref(rec.ValLoss))
		if opts.OnEpoch != nil {
			opts.OnEpoch(rec)
		}

		if !hasVal {
			st.BestEpoch = epoch
		} else {
			cur := rec.monitored(es.Monitor)
			if higherIsBetter(es.Monitor) {
				cur = -cur
			}
			if epoch == 1 || cur < math.Float64frombits(st.Best)-es.MinDelta {
				st.Best, st.BestEpoch, st.SinceBest = math.Float64bits(cur), epoch, 0
				if keepBest {
					if bestWeights, err = snapshot(store); err != nil {
						return nil, err
					}
				}
			} else {
				st.SinceBest++
				if es.Patience > 0 && st.SinceBest >= es.Patience {
					hist.StoppedEarly = true
					st.Done = true
					log.Info("early stopping", "model", fam.Name, "epoch", epoch, "best_epoch", st.BestEpoch, "monitor", es.Monitor)
				}
			}
		}
		st.Epoch++
		if st.Epoch > opts.Epochs {
			st.Done = true
		}
		if !st.Done {
			if err := st.startEpoch(pcg, opts.Train.Chunks, opts.Train.X.Lengths, opts.BatchSize); err != nil {
				return nil, err
			}
		}
		if st.Done || epochCheckpointDue(time.Since(lastCheckpoint), checkpointCost) {
			if err := checkpoint(); err != nil {
				return nil, err
			}
		}
	}
	bestEpoch := st.BestEpoch
	epochsRun := len(hist.Epochs)
	if keepBest && bestWeights != nil && (bestEpoch != epochsRun || hist.NaN != nil) {
		if err := restore(store, bestWeights); err != nil {
			return nil, err
		}
		hist.RestoredBest = true
	} else if !keepBest {
		bestEpoch = epochsRun // no restore: the final weights are the model
		if hist.NaN != nil {  // the last finished epoch's weights, from before the NaN
			if err := restore(store, cb.lastGood); err != nil {
				return nil, err
			}
		}
	}
	hist.BestEpoch = bestEpoch

	card := Card{
		Family:          fam.Name,
		Params:          map[string]any(params),
		Task:            task,
		InputShape:      spec.InputShape,
		LengthBuckets:   spec.Lengths,
		Classes:         opts.Classes,
		FeatureNames:    opts.FeatureNames,
		InputColumns:    cardColumns(spec.Columns),
		Outputs:         tm.outputNames(),
		Standardisation: "none",
		TargetMean:      tgtMean,
		TargetScale:     tgtScale,
		Epochs:          opts.Epochs,
		EpochsRun:       epochsRun,
		BestEpoch:       bestEpoch,
		BatchSize:       opts.BatchSize,
		Optimizer:       opts.Optimizer,
		EarlyStopping:   opts.EarlyStopping,
		Backend:         backendName,
		Seed:            opts.Seed,
		TrainExamples:   opts.Train.Len(),
		ValExamples:     opts.Val.Len(),
		NumParameters:   countParams(store),
		InitFrom:        initRep,
		FineTune:        tuner.report(opts.FineTune),
		TrainSeconds:    time.Since(start).Seconds(),
	}
	recordRecipe(&card, opts)
	if epochsRun > 0 {
		rec := hist.Epochs[bestEpoch-1]
		card.Final = &rec
	}
	tm.card = card
	if opts.OutDir != "" {
		if err := tm.save(opts.OutDir, &hist); err != nil {
			return nil, err
		}
	}
	if err := cb.finish(opts.OutDir, &hist); err != nil {
		return nil, fmt.Errorf("model %q: %w", fam.Name, err)
	}
	return &Result{Card: card, History: hist, Trained: tm}, nil
}

// Epoch-end resume checkpoints are written when the last one is at least
// epochCheckpointInterval old and, on a slow disk, at least checkpointCostFactor times as
// old as the last one took to write: the fsyncs of a snapshot (about 15 ms on a local disk)
// then cost at most a few percent of the training time even when epochs last milliseconds,
// and a killed run loses at most that interval (plus the epoch in progress) of work. A
// resume from any snapshot gives the same model bit for bit, so the rate does not change
// what is trained. Checkpoints every CheckpointEvery steps, at the end of training and on
// cancellation are always written.
const (
	epochCheckpointInterval = 2 * time.Second
	checkpointCostFactor    = 50
)

func epochCheckpointDue(since, cost time.Duration) bool {
	return since >= max(epochCheckpointInterval, checkpointCostFactor*cost)
}

func checkOptions(o *TrainOptions, task Task) error {
	if o.Train.Len() == 0 {
		return errors.New("no training examples (split \"train\" is empty)")
	}
	if o.Epochs < 1 {
		return fmt.Errorf("epochs must be at least 1, got %d", o.Epochs)
	}
	if o.BatchSize < 1 {
		return fmt.Errorf("batch_size must be at least 1, got %d", o.BatchSize)
	}
	switch task {
	case Classification:
		if len(o.Classes) < 2 {
			return fmt.Errorf("classification needs at least 2 classes, got %d", len(o.Classes))
		}
	case Segmentation:
		if len(o.Classes) < 2 {
			return fmt.Errorf("segmentation needs at least 2 classes (background and one more), got %d", len(o.Classes))
		}
	case Regression, Reconstruction, Generation:
	default:
		return fmt.Errorf("unknown task %q (want classification, regression, reconstruction, generation or segmentation)", task)
	}
	for _, d := range []*Data{o.Train, o.Val} {
		if d.Len() == 0 {
			continue
		}
		if !slices.Equal(d.X.Shape, o.Train.X.Shape) {
			return fmt.Errorf("validation inputs have shape %v, training inputs %v", d.X.Shape, o.Train.X.Shape)
		}
		if want := d.X.N * dataset.TensorSize(d.X.Shape); d.Rows == nil && len(d.X.X) != want {
			return fmt.Errorf("input matrix holds %d values, want %d (%d rows of shape %v)", len(d.X.X), want, d.X.N, d.X.Shape)
		}
		switch task {
		case Classification:
			if len(d.Classes) != d.X.N {
				return fmt.Errorf("classification needs one class label per row: %d labels for %d rows", len(d.Classes), d.X.N)
			}
			for i, c := range d.Classes {
				if c < 0 || c >= len(o.Classes) {
					return fmt.Errorf("row %d: class index %d out of range (%d classes)", i, c, len(o.Classes))
				}
			}
		case Segmentation:
			if err := checkMasks(d, len(o.Classes)); err != nil {
				return err
			}
		case Regression:
			if len(d.Targets) != d.X.N {
				return fmt.Errorf("regression needs one target per row: %d targets for %d rows", len(d.Targets), d.X.N)
			}
			for i, v := range d.Targets {
				if math.IsNaN(v) || math.IsInf(v, 0) {
					return fmt.Errorf("row %d: regression target is %v", i, v)
				}
			}
		}
	}
	if o.Optimizer.Name == "" {
		o.Optimizer.Name = OptAdam
	}
	if o.Optimizer.LearningRate <= 0 {
		o.Optimizer.LearningRate = 1e-3
	}
	switch o.EarlyStopping.Monitor {
	case "", MonitorValLoss:
	case MonitorValAccuracy:
		if task != Classification {
			return fmt.Errorf("early_stopping.monitor %q needs a classification task (task is %s)", MonitorValAccuracy, task)
		}
	case MonitorValDice:
		if task != Segmentation {
			return fmt.Errorf("early_stopping.monitor %q needs a segmentation task (task is %s)", MonitorValDice, task)
		}
	default:
		return fmt.Errorf("early_stopping.monitor %q is not one of %s, %s, %s", o.EarlyStopping.Monitor, MonitorValLoss, MonitorValAccuracy, MonitorValDice)
	}
	return nil
}

// checkLengths returns the distinct bucket lengths of bucketed training data (nil when the
// data is not bucketed), after checking that the family and task can use them.
func checkLengths(fam *Family, task Task, train, val *Data) ([]int, error) {
	lengths := train.X.Lengths
	if val.Len() > 0 && (val.X.Lengths == nil) != (lengths == nil) {
		return nil, fmt.Errorf("the training and validation rows disagree on length buckets (one has a %q column, the other not)", dataset.RoleLengthBucket)
	}
	if lengths == nil {
		return nil, nil
	}
	if !fam.VariableLength {
		return nil, fmt.Errorf("model %q: the data is bucketed by length (a column with role %q, as transform.encode_sequence writes with buckets:), "+
			"but this family needs one input length; use cnn1d (global_pool avg or max) or lstm, or encode with length: instead of buckets:", fam.Name, dataset.RoleLengthBucket)
	}
	if task != Classification && task != Regression {
		return nil, fmt.Errorf("model %q: bucketed sequences (a column with role %q) train classification or regression models only, not %s", fam.Name, dataset.RoleLengthBucket, task)
	}
	if len(train.X.Shape) < 2 || len(lengths) != train.X.N {
		return nil, fmt.Errorf("bucketed sequences need inputs [length, channels] and one length per row: shape %v, %d lengths for %d rows", train.X.Shape, len(lengths), train.X.N)
	}
	set := map[int]bool{}
	for _, d := range []*Data{train, val} {
		if d.Len() == 0 {
			continue
		}
		for _, l := range d.X.Lengths {
			set[l] = true
		}
	}
	out := slices.Sorted(maps.Keys(set))
	if out[len(out)-1] > train.X.Shape[0] {
		return nil, fmt.Errorf("bucket length %d exceeds the input length %d", out[len(out)-1], train.X.Shape[0])
	}
	return out, nil
}

func buildNetwork(fam *Family, spec Spec, params contract.Config) (net *Network, err error) {
	if perr := catch(func() { net, err = fam.Build(spec, params) }); perr != nil {
		err = perr
	}
	if err != nil {
		return nil, fmt.Errorf("model %q: %w", fam.Name, err)
	}
	if net == nil || net.Forward == nil {
		return nil, fmt.Errorf("model %q: Build returned no Forward function", fam.Name)
	}
	return net, nil
}

// cardColumns is what the model card records of the input columns: their layout when there
// are several (one column is InputShape and FeatureNames already).
func cardColumns(cols []dataset.ColumnSlice) []dataset.ColumnSlice {
	if len(cols) < 2 {
		return nil
	}
	return cols
}

func splitInputs(inputs []*graph.Node) (x, y *graph.Node) {
	x = inputs[0]
	if len(inputs) > 1 {
		y = inputs[1]
	}
	return
}

func scalar(n *graph.Node) *graph.Node {
	if n == nil {
		panic(errors.New("loss function returned nil"))
	}
	if !n.Shape().IsScalar() {
		n = graph.ReduceAllMean(n)
	}
	return graph.ConvertDType(n, dtypes.Float32)
}

// flat reshapes [B, ...] to [B, prod(...)].
func flat(x *graph.Node) *graph.Node {
	b := x.Shape().Dimensions[0]
	return graph.Reshape(x, b, x.Shape().Size()/max(b, 1))
}

// defaultLoss is the task's loss: softmax cross-entropy, mean squared error, or the
// per-voxel cross-entropy of segmentation (SegmentationLoss without a Dice term).
func defaultLoss(task Task) LossFunc {
	return func(_ *model.Scope, x, y *graph.Node, outs []*graph.Node) *graph.Node {
		out := outs[0]
		switch task {
		case Classification:
			return loss.SparseCategoricalCrossEntropyLogits([]*graph.Node{y}, []*graph.Node{flat(out)})
		case Regression:
			return loss.MeanSquaredError([]*graph.Node{y}, []*graph.Node{flat(out)})
		case Segmentation:
			return SegmentationLoss{}.Func()(nil, x, y, outs)
		}
		return loss.MeanSquaredError([]*graph.Node{flat(x)}, []*graph.Node{flat(out)})
	}
}

// metricSum is the batch sum of the task metric: correct predictions (classification) or
// per-example squared error (regression; reconstruction: mean over the example's values),
// or per-example Dice (segmentation, MetricDice).
func metricSum(task Task, x, y, out *graph.Node) *graph.Node {
	if task == Segmentation {
		return segDiceSum(out, y)
	}
	out = flat(out)
	switch task {
	case Classification:
		pred := graph.ArgMax(out, -1, dtypes.Int32)
		hit := graph.Equal(pred, graph.Reshape(y, y.Shape().Dimensions[0]))
		return graph.ReduceAllSum(graph.ConvertDType(hit, dtypes.Float32))
	case Regression:
		return graph.ReduceAllSum(graph.Square(graph.Sub(out, y)))
	}
	fx := flat(x)
	d := float64(fx.Shape().Dimensions[1])
	return graph.DivScalar(graph.ReduceAllSum(graph.Square(graph.Sub(out, fx))), d)
}

// runBatch executes a 2-output (loss, metric) exec on a batch and returns the values.
func runBatch(e *model.Exec, args []any) (float64, float64, error) {
	outs, err := call(e, args...)
	if err != nil {
		return 0, 0, err
	}
	defer finalizeAll(outs)
	l, err := scalarValue(outs[0])
	if err != nil {
		return 0, 0, err
	}
	m, err := scalarValue(outs[1])
	return l, m, err
}

// evaluate returns the mean loss and mean metric over the rows of d in order, in the
// batches that end at ends (bucketEnds), assembled by pool one batch ahead. Every call on
// data of the same size runs the same compiled graphs: one for the full batches and one
// for a smaller last batch (of each length, for bucketed sequences).
func evaluate(ctx context.Context, e *model.Exec, pool *batchPool, d *Data, order, ends []int) (float64, float64, error) {
	var lossSum, metSum float64
	s := pool.stream(d, order, ends, 0)
	defer s.close()
	for {
		if err := ctx.Err(); err != nil {
			return 0, 0, err
		}
		args, _, ok, err := s.next(ctx)
		if err != nil {
			return 0, 0, err
		}
		if !ok {
			break
		}
		l, m, err := runBatch(e, args)
		if err != nil {
			return 0, 0, err
		}
		lossSum += l
		metSum += m
	}
	n := float64(len(order))
	return lossSum / n, metSum / n, nil
}

func evalBatch(train int) int { return max(train, 256) }

func call(e *model.Exec, args ...any) (outs []*tensors.Tensor, err error) {
	if perr := catch(func() { outs, err = e.Call(args...) }); perr != nil {
		return nil, perr
	}
	return outs, err
}

func scalarValue(t *tensors.Tensor) (float64, error) {
	v, err := tensors.CopyFlatData[float32](t)
	if err != nil {
		return 0, err
	}
	if len(v) != 1 {
		return 0, fmt.Errorf("expected a scalar, got shape %s", t.Shape())
	}
	return float64(v[0]), nil
}

func finalizeArgs(args []any) {
	for _, a := range args {
		if t, ok := a.(*tensors.Tensor); ok {
			_ = t.FinalizeAll()
		}
	}
}

func finalizeAll(ts []*tensors.Tensor) {
	for _, t := range ts {
		_ = t.FinalizeAll()
	}
}

// snapshot copies the values of the model's variables.
func snapshot(store *model.Store) (map[string]*tensors.Tensor, error) {
	out := map[string]*tensors.Tensor{}
	for v := range store.IterVariables() {
		if !isModelVar(v) {
			continue
		}
		val, err := v.Value()
		if err != nil {
			return nil, fmt.Errorf("variable %s: %w", v.Path(), err)
		}
		c, err := val.LocalClone()
		if err != nil {
			return nil, fmt.Errorf("variable %s: %w", v.Path(), err)
		}
		out[v.Path()] = c
	}
	return out, nil
}

func restore(store *model.Store, vals map[string]*tensors.Tensor) error {
	for v := range store.IterVariables() {
		if t, ok := vals[v.Path()]; ok {
			if err := v.SetValue(t); err != nil {
				return fmt.Errorf("restoring variable %s: %w", v.Path(), err)
			}
		}
	}
	return nil
}

func countParams(store *model.Store) int {
	n := 0
	for v := range store.IterVariables() {
		if isModelVar(v) && v.Trainable {
			n += v.Shape().Size()
		}
	}
	return n
}

func catch(fn func()) (err error) {
	defer func() {
		if r := recover(); r != nil {
			if e, ok := r.(error); ok {
				err = e
				return
			}
			err = fmt.Errorf("%v", r)
		}
	}()
	fn()
	return nil
}

type nopProgress struct{}

func (nopProgress) Add(int) {}
func (nopProgress) Close()  {}

func ptr(v float64) *float64 { return &v }

func deref(p *float64) float64 {
	if p == nil {
		return math.NaN()
	}
	return *p
}

// meanSD returns the mean and population standard deviation of v (sd 1 when v is constant).
func meanSD(v []float64) (float64, float64) {
	if len(v) == 0 {
		return 0, 1
	}
	var sum float64
	for _, x := range v {
		sum += x
	}
	mean := sum / float64(len(v))
	var ss float64
	for _, x := range v {
		ss += (x - mean) * (x - mean)
	}
	sd := math.Sqrt(ss / float64(len(v)))
	if sd == 0 || math.IsNaN(sd) {
		sd = 1
	}
	return mean, sd
}

// scaledTargets returns d with its regression targets standardised.
func scaledTargets(d *Data, mean, scale float64) *Data {
	if d == nil {
		return nil
	}
	out := *d
	out.Targets = make([]float64, len(d.Targets))
	for i, y := range d.Targets {
		out.Targets[i] = (y - mean) / scale
	}
	return &out
}
