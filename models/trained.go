package models

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"sort"
	"sync"
	"sync/atomic"

	"github.com/gomlx/compute"
	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/gomlx/gomlx/ml/model/checkpoint"

	"github.com/biopipe/biopipe/dataset"
)

// Trained is a model ready for inference: trained by Train or read by Load.
type Trained struct {
	mu      sync.Mutex
	backend compute.Backend
	store   *model.Store
	net     *Network
	spec    Spec
	card    Card
	predict *model.Exec
	sample  *model.Exec
	// build serialises the predict Exec's graph building: outputs' workers call it with
	// different input shapes (length buckets, the last partial chunk) and the Exec builds
	// those graphs concurrently, but building one writes the shared Store (gomlx's
	// Store.VariableWithShape sets a reused variable's initializer), a data race.
	build sync.Mutex
}

// Card returns the model card.
func (t *Trained) Card() Card { return t.card }

// PredictBatch is the number of rows per inference call; the last chunk is zero-padded so
// one compiled graph serves every call. 256 suits the go backend: per CPU-second, measured
// on the bench networks (bench/train -mode predict, GOMAXPROCS=1), 64 to 1024 rows are within
// 10% of each other for cnn, 128-256 is best for the lstm and mlp (the mlp loses 20% at 64),
// and the 1-D conv net gains ~10% at 64-128 but loses 15% at 512; the chunk's intermediate
// tensors (one set per worker, see outputs) stay moderate (cnn peak RSS 116 MiB at 64 rows,
// 264 MiB at 256, 600 MiB at 1024, one worker).
const PredictBatch = 256

// Output is one named output of a model for N examples.
type Output struct {
	Name   string
	Shape  []int       // per example
	Values [][]float32 // N rows of prod(Shape) values
}

func (t *Trained) outputNames() []string {
	if len(t.net.OutputNames) > 0 {
		return slices.Clone(t.net.OutputNames)
	}
	return []string{"output"}
}

func (t *Trained) forwardExec() (*model.Exec, error) {
	if t.predict != nil {
		return t.predict, nil
	}
	task := t.spec.Task
	e, err := model.NewExec(t.backend, t.store, func(scope *model.Scope, x *graph.Node) []*graph.Node {
		t.build.Lock()
		defer t.build.Unlock()
		outs := slices.Clone(t.net.Forward(scope.In(modelScope), x))
		switch task {
		case Classification:
			outs[0] = graph.Softmax(flat(outs[0]), -1)
		case Segmentation:
			outs[0] = segmentationProbs(outs[0])
		}
		return outs
	})
	if err != nil {
		return nil, err
	}
	e.SetMaxCache(16)
	t.predict = e
	return e, nil
}

// materialize builds the inference graph once on one zero example, and for generative
// networks draws one sample, which creates (and initialises) every variable the network
// uses in inference.
func (t *Trained) materialize() error {
	if err := t.materializeForward(); err != nil {
		return err
	}
	if t.net.Sampler != nil {
		if _, err := t.Sample(context.Background(), 1, nil, 0); err != nil {
			return fmt.Errorf("sampler: %w", err)
		}
	}
	return nil
}

func (t *Trained) materializeForward() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	e, err := t.forwardExec()
	if err != nil {
		return err
	}
	dims := append([]int{1}, t.spec.InputShape...)
	x := tensors.FromFlatDataAndDimensions(make([]float32, dataset.TensorSize(t.spec.InputShape)), dims...)
	outs, err := call(e, x)
	_ = x.FinalizeAll()
	if err != nil {
		return err
	}
	defer finalizeAll(outs)
	if len(outs) == 0 {
		return fmt.Errorf("the network has no outputs")
	}
	if names := t.outputNames(); len(names) != len(outs) {
		return fmt.Errorf("the network returns %d outputs but names %d (%v)", len(outs), len(names), names)
	}
	main := outs[0].Shape().Size()
	if want := t.spec.OutputDim(); main != want {
		return fmt.Errorf("the main output has %d values per example (shape %s), want %d for %s", main, outs[0].Shape(), want, t.spec.Task)
	}
	return nil
}

// Predict returns the main output per row: class probabilities (softmax) for
// classification, [value] for regression, the reconstruction (flattened) for autoencoders,
// per-voxel probabilities [spatial..., SegChannels] (flattened) for segmentation.
func (t *Trained) Predict(ctx context.Context, x *dataset.Matrix) ([][]float32, error) {
	outs, err := t.Outputs(ctx, x)
	if err != nil {
		return nil, err
	}
	return outs[0].Values, nil
}

// Outputs returns every output of the model per row (main output first, post-processed as
// in Predict; extra outputs such as a latent code as the network returns them).
func (t *Trained) Outputs(ctx context.Context, x *dataset.Matrix) ([]Output, error) {
	if x == nil {
		return nil, fmt.Errorf("predict: no input matrix")
	}
	size := dataset.TensorSize(t.spec.InputShape)
	if dataset.TensorSize(x.Shape) != size {
		return nil, fmt.Errorf("predict: inputs have shape %v, the model (%s) was trained on %v", x.Shape, t.card.Family, t.spec.InputShape)
	}
	if len(x.X) != x.N*size {
		return nil, fmt.Errorf("predict: input matrix holds %d values, want %d (%d rows of %v)", len(x.X), x.N*size, x.N, x.Shape)
	}
	if err := t.checkColumns(x.Columns); err != nil {
		return nil, err
	}
	if x.Lengths != nil {
		if err := t.checkLengths(x); err != nil {
			return nil, err
		}
	}
	return t.outputs(ctx, matrixRows{x.X, size}, x.N, x.Lengths)
}

// OutputsFrom is Outputs for the rows that desc describes (N, Shape, Columns, Lengths; its X
// is not used) whose inputs are read through rows (a dataset.FeatureStream over data larger
// than memory, desc being its M), PredictBatch rows at a time; desc's feature layout is
// checked against the model's.
func (t *Trained) OutputsFrom(ctx context.Context, rows RowReader, desc *dataset.Matrix) ([]Output, error) {
	if dataset.TensorSize(desc.Shape) != dataset.TensorSize(t.spec.InputShape) {
		return nil, fmt.Errorf("predict: inputs have shape %v, the model (%s) was trained on %v", desc.Shape, t.card.Family, t.spec.InputShape)
	}
	if err := t.checkColumns(desc.Columns); err != nil {
		return nil, err
	}
	if desc.Lengths != nil {
		if err := t.checkLengths(desc); err != nil {
			return nil, err
		}
	}
	return t.outputs(ctx, rows, desc.N, desc.Lengths)
}

// checkLengths checks that the model can predict x's bucketed sequences a bucket at a time.
func (t *Trained) checkLengths(x *dataset.Matrix) error {
	fam, err := Get(t.card.Family)
	if err != nil {
		return fmt.Errorf("predict: %w", err)
	}
	if !fam.VariableLength || len(t.spec.InputShape) < 2 {
		return fmt.Errorf("predict: the rows are bucketed by length (a column with role %q) but the model (%s) takes one input length", dataset.RoleLengthBucket, t.card.Family)
	}
	if len(x.Lengths) != x.N {
		return fmt.Errorf("predict: %d lengths for %d rows", len(x.Lengths), x.N)
	}
	for r, l := range x.Lengths {
		if l < 1 || l > t.spec.InputShape[0] {
			return fmt.Errorf("predict: row %d has length %d, outside 1..%d", r, l, t.spec.InputShape[0])
		}
	}
	return nil
}

// matrixRows reads rows of an in-memory matrix.
type matrixRows struct {
	x    []float32
	size int
}

func (m matrixRows) ReadRows(rows []int, dst []float32) error {
	for i, r := range rows {
		copy(dst[i*m.size:(i+1)*m.size], m.x[r*m.size:(r+1)*m.size])
	}
	return nil
}

// outputs runs the inference graph on rows 0..n-1 of src, chunk rows at a time, the last
// chunk zero-padded, so one compiled graph serves every call of the same chunk size. With
// lengths (bucketed sequences) the chunks hold rows of one length each, cut to that length
// (one compiled graph per length); the outputs come back in row order.
//
// On the go backend the chunks run on up to predictWorkers goroutines at once, each with its
// own host input tensors (the backend's own buffers, reused from chunk to chunk): the backend
// runs a graph's ops mostly on one core at these sizes, so whole chunks side by side are what
// keep every core busy. The compiled graph, the variables (on the backend since the first
// call) and the backend's buffer pools are shared. A chunk's values do not depend on which
// worker runs it or on what runs beside it.
func (t *Trained) outputs(ctx context.Context, src RowReader, n int, lengths []int) ([]Output, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	e, err := t.forwardExec()
	if err != nil {
		return nil, err
	}
	p := &predictRun{t: t, e: e, src: src, lengths: lengths, names: t.outputNames(),
		size: dataset.TensorSize(t.spec.InputShape), chunk: min(PredictBatch, max(n, 1))}
	p.res = make([]Output, len(p.names))
	for i := range p.res {
		p.res[i].Name = p.names[i]
		p.res[i].Values = make([][]float32, n)
	}
	p.order = make([]int, n)
	for i := range p.order {
		p.order[i] = i
	}
	p.ends = bucketEnds(p.order, lengths, p.chunk)
	workers := 1
	if t.backend.String() == DefaultBackend {
		workers = min(predictWorkers(p.chunk*p.size*4), len(p.ends))
	}
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var wg sync.WaitGroup
	for range workers - 1 {
		wg.Go(func() { p.work(ctx, cancel) })
	}
	p.work(ctx, cancel)
	wg.Wait()
	if err := context.Cause(ctx); err != nil {
		return nil, err
	}
	return p.res, nil
}

// predictWorkers is the number of chunks outputs runs at once on the go backend, for chunks
// of inputBytes: one per core Go may use, at most 8, and no more than keep the chunks' inputs
// in flight within parallelInputBytes (each worker holds a chunk's intermediate tensors,
// tens of times its input for a convolutional network: large images and volumes run one
// chunk at a time, as before).
func predictWorkers(inputBytes int) int {
	return max(1, min(runtime.GOMAXPROCS(0), 8, parallelInputBytes/max(inputBytes, 1)))
}

// parallelInputBytes bounds the chunk inputs that run side by side (see predictWorkers).
const parallelInputBytes = 64 << 20

// predictRun is one outputs call: the chunks (order cut at ends) that its workers take in
// turn, and the results they fill (each row written by the worker that ran its chunk).
type predictRun struct {
	t       *Trained
	e       *model.Exec
	src     RowReader
	lengths []int
	names   []string
	size    int // values per row
	chunk   int // rows per call
	order   []int
	ends    []int
	next    atomic.Int64 // the next chunk to take
	readMu  sync.Mutex   // src is read by one worker at a time
	res     []Output
}

// work runs chunks until none is left, the context is done or a chunk fails (which cancels
// the others through cancel).
func (p *predictRun) work(ctx context.Context, cancel context.CancelCauseFunc) {
	ins := map[int]*tensors.Tensor{} // input tensor per length (0: the whole shape)
	defer func() {
		for _, in := range ins {
			_ = in.FinalizeAll()
		}
	}()
	var whole []float32 // bucketed rows as read, before they are cut to length
	for {
		b := int(p.next.Add(1) - 1)
		if b >= len(p.ends) || ctx.Err() != nil {
			return
		}
		if err := p.runChunk(b, ins, &whole); err != nil {
			cancel(err)
			return
		}
	}
}

// runChunk runs chunk b: reads its rows into the worker's input tensor for their length, runs
// the graph and stores every output row.
func (p *predictRun) runChunk(b int, ins map[int]*tensors.Tensor, whole *[]float32) error {
	t, size, chunk := p.t, p.size, p.chunk
	lo, hi := 0, p.ends[b]
	if b > 0 {
		lo = p.ends[b-1]
	}
	idx := p.order[lo:hi]
	length, used := 0, size
	if p.lengths != nil {
		length = p.lengths[idx[0]]
		used = size / t.spec.InputShape[0] * length
	}
	in := ins[length]
	if in == nil {
		dims := append([]int{chunk}, t.spec.InputShape...)
		if length > 0 {
			dims[1] = length
		}
		var err error
		if in, err = tensors.FromShapeForBackend(t.backend, 0, shapes.Make(dtypes.Float32, dims...)); err != nil {
			return fmt.Errorf("predict: %w", err)
		}
		ins[length] = in
	}
	var rerr error
	if err := tensors.MutableFlatData(in, func(x []float32) {
		p.readMu.Lock()
		defer p.readMu.Unlock()
		if used == size {
			rerr = p.src.ReadRows(idx, x[:len(idx)*size])
		} else {
			*whole = slices.Grow((*whole)[:0], len(idx)*size)[:len(idx)*size]
			if rerr = p.src.ReadRows(idx, *whole); rerr == nil {
				for i := range idx {
					copy(x[i*used:(i+1)*used], (*whole)[i*size:i*size+used])
				}
			}
		}
		clear(x[len(idx)*used:])
	}); err != nil {
		return fmt.Errorf("predict rows %d-%d: %w", lo, hi-1, err)
	}
	if rerr != nil {
		return fmt.Errorf("predict rows %d-%d: %w", lo, hi-1, rerr)
	}
	outs, err := call(p.e, in)
	if err != nil {
		return fmt.Errorf("predict rows %d-%d: %w", lo, hi-1, err)
	}
	defer finalizeAll(outs)
	if b == 0 { // the per-example shapes, as the first chunk has them
		for i, o := range outs {
			p.res[i].Shape = slices.Clone(o.Shape().Dimensions[1:])
			if i == 0 && (t.spec.Task == Classification || len(p.res[i].Shape) == 0) {
				p.res[i].Shape = []int{o.Shape().Size() / chunk}
			}
		}
	}
	for i, o := range outs {
		vals, err := tensors.CopyFlatData[float32](o)
		if err != nil {
			return fmt.Errorf("predict: output %q: %w", p.names[i], err)
		}
		per := len(vals) / chunk
		if i == 0 && t.spec.Task == Regression && t.card.TargetScale != 0 {
			for j := range vals {
				vals[j] = float32(float64(vals[j])*t.card.TargetScale + t.card.TargetMean)
			}
		}
		for j, r := range idx {
			p.res[i].Values[r] = vals[j*per : (j+1)*per : (j+1)*per]
		}
	}
	return nil
}

// save writes checkpoint/ (the model's variables only), model.json and history.json.
func (t *Trained) save(dir string, hist *History) error {
	ckpt := filepath.Join(dir, CheckpointDir)
	if err := os.MkdirAll(ckpt, 0o755); err != nil {
		return fmt.Errorf("model artifact: %w", err)
	}
	saveStore := model.NewStore()
	var paths []string
	vars := map[string]*model.Variable{}
	for v := range t.store.IterVariables() {
		if isModelVar(v) {
			paths = append(paths, v.Path())
			vars[v.Path()] = v
		}
	}
	sort.Strings(paths)
	for _, p := range paths {
		val, err := vars[p].Value()
		if err != nil {
			return fmt.Errorf("checkpoint: variable %s: %w", p, err)
		}
		c, err := val.LocalClone()
		if err != nil {
			return fmt.Errorf("checkpoint: variable %s: %w", p, err)
		}
		if _, err := saveStore.CreateVariable(p, c); err != nil {
			return fmt.Errorf("checkpoint: variable %s: %w", p, err)
		}
	}
	err := catch(func() {
		h, err := checkpoint.Build(saveStore).Dir(ckpt).Done()
		if err == nil {
			err = h.Save()
		}
		if err != nil {
			panic(err)
		}
	})
	if err != nil {
		return fmt.Errorf("checkpoint %s: %w", ckpt, err)
	}
	if err := stableCheckpointNames(ckpt); err != nil {
		return err
	}
	if err := dataset.WriteJSON(filepath.Join(dir, CardFile), t.card); err != nil {
		return err
	}
	return dataset.WriteJSON(filepath.Join(dir, HistoryFile), hist)
}

// checkpointStamp is the wall-clock time GoMLX puts in checkpoint file names
// (checkpoint-n0000000-20260101-120000-initial.bin).
var checkpointStamp = regexp.MustCompile(`^(checkpoint-n[0-9]+)-[0-9]{8}-[0-9]{6}(-.*)$`)

// stableCheckpointNames drops the wall-clock time from the checkpoint file names in dir, so
// the same seed and inputs give a model artifact with the same files and digest
// (checkpoint-n0000000-initial.bin). GoMLX's loader takes any checkpoint-*.json, in name
// order; a model artifact holds one checkpoint, so the order is unchanged.
func stableCheckpointNames(dir string) error {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("checkpoint %s: %w", dir, err)
	}
	for _, e := range entries {
		m := checkpointStamp.FindStringSubmatch(e.Name())
		if e.IsDir() || m == nil {
			continue
		}
		if err := os.Rename(filepath.Join(dir, e.Name()), filepath.Join(dir, m[1]+m[2])); err != nil {
			return fmt.Errorf("checkpoint %s: %w", dir, err)
		}
	}
	return nil
}

// Load reads a model artifact folder (model.json + checkpoint/) for inference on the named
// backend ("" = "go").
func Load(dir string, backend string) (*Trained, error) {
	card, err := ReadCard(dir)
	if err != nil {
		return nil, err
	}
	fam, err := Get(card.Family)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", filepath.Join(dir, CardFile), err)
	}
	params, err := fam.ResolveParams(card.Params)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", filepath.Join(dir, CardFile), err)
	}
	spec := Spec{InputShape: card.InputShape, Task: card.Task, NumClasses: len(card.Classes), Columns: card.InputColumns, Lengths: card.LengthBuckets}
	if len(spec.Columns) == 0 && len(card.FeatureNames) == 1 {
		spec.Columns = []dataset.ColumnSlice{{Name: card.FeatureNames[0], Shape: slices.Clone(card.InputShape)}}
	}
	net, err := buildNetwork(fam, spec, params)
	if err != nil {
		return nil, err
	}
	b, err := NewBackend(backend)
	if err != nil {
		return nil, err
	}
	vals, err := readCheckpoint(dir)
	if err != nil {
		return nil, err
	}
	store := model.NewStore()
	for p, v := range vals {
		if _, err := store.CreateVariable(p, v); err != nil {
			return nil, fmt.Errorf("%s: variable %s: %w", dir, p, err)
		}
	}
	t := &Trained{backend: b, store: store, net: net, spec: spec, card: card}
	if err := t.materialize(); err != nil {
		return nil, fmt.Errorf("model %s: %w", dir, err)
	}
	for v := range store.IterVariables() {
		if isModelVar(v) {
			if _, ok := vals[v.Path()]; !ok {
				return nil, fmt.Errorf("model %s: variable %s is not in the checkpoint (was the model trained with other params or code?)", dir, v.Path())
			}
		}
	}
	return t, nil
}

// readCheckpoint loads every variable of a checkpoint folder, or of the checkpoint/
// folder inside a model artifact.
func readCheckpoint(path string) (map[string]*tensors.Tensor, error) {
	dir := path
	if fi, err := os.Stat(filepath.Join(path, CheckpointDir)); err == nil && fi.IsDir() {
		dir = filepath.Join(path, CheckpointDir)
	}
	if _, err := os.Stat(dir); err != nil {
		return nil, fmt.Errorf("checkpoint: %w", err)
	}
	src := model.NewStore()
	err := catch(func() {
		if _, err := checkpoint.Load(src).Dir(dir).Immediate().Done(); err != nil {
			panic(err)
		}
	})
	if err != nil {
		return nil, fmt.Errorf("checkpoint %s: %w", dir, err)
	}
	out := map[string]*tensors.Tensor{}
	for v := range src.IterVariables() {
		val, err := v.Value()
		if err != nil {
			return nil, fmt.Errorf("checkpoint %s: variable %s: %w", dir, v.Path(), err)
		}
		out[v.Path()] = val
	}
	return out, nil
}

// InitReport says which variables init_from loaded.
type InitReport struct {
	From          string   `json:"from"`
	Loaded        []string `json:"loaded"`                   // same name and shape: copied
	Fresh         []string `json:"fresh,omitempty"`          // not in the source: freshly initialised
	ShapeMismatch []string `json:"shape_mismatch,omitempty"` // in the source with another shape: freshly initialised
	Unused        []string `json:"unused,omitempty"`         // in the source, not in this model
	// Format and Mapping: weights from another framework (see Pretrained).
	Format  string    `json:"format,omitempty"`
	Mapping []Mapping `json:"mapping,omitempty"`
}

func initFrom(store *model.Store, path string) (*InitReport, error) {
	vals, err := readCheckpoint(path)
	if err != nil {
		return nil, fmt.Errorf("init_from %s: %w", path, err)
	}
	rep := &InitReport{From: path, Loaded: []string{}}
	used := map[string]bool{}
	for v := range store.IterVariables() {
		if !isModelVar(v) {
			continue
		}
		src, ok := vals[v.Path()]
		switch {
		case !ok:
			rep.Fresh = append(rep.Fresh, v.Path())
		case !src.Shape().Equal(v.Shape()):
			rep.ShapeMismatch = append(rep.ShapeMismatch, fmt.Sprintf("%s (source %v, model %v)", v.Path(), src.Shape().Dimensions, v.Shape().Dimensions))
			used[v.Path()] = true
		default:
			c, err := src.LocalClone()
			if err != nil {
				return nil, fmt.Errorf("init_from %s: %s: %w", path, v.Path(), err)
			}
			if err := v.SetValue(c); err != nil {
				return nil, fmt.Errorf("init_from %s: %s: %w", path, v.Path(), err)
			}
			rep.Loaded = append(rep.Loaded, v.Path())
			used[v.Path()] = true
		}
	}
	for p := range vals {
		if !used[p] {
			rep.Unused = append(rep.Unused, p)
		}
	}
	sort.Strings(rep.Loaded)
	sort.Strings(rep.Fresh)
	sort.Strings(rep.ShapeMismatch)
	sort.Strings(rep.Unused)
	if len(rep.Loaded) == 0 {
		return nil, fmt.Errorf("init_from %s: no variable matches this model by name and shape (source has %d variables; this model's: %v)", path, len(vals), append(rep.Fresh, rep.ShapeMismatch...))
	}
	return rep, nil
}

// checkColumns makes sure inputs of several feature columns come in the layout the model was
// trained on: same names, shapes and order (a model slicing column groups apart would read
// the wrong values otherwise). Inputs without a recorded layout are taken as they come.
func (t *Trained) checkColumns(got []dataset.ColumnSlice) error {
	want := t.card.InputColumns
	if len(want) == 0 || len(got) == 0 {
		return nil
	}
	name := func(cs []dataset.ColumnSlice) []string {
		out := make([]string, len(cs))
		for i, c := range cs {
			out[i] = fmt.Sprintf("%s%v", c.Name, c.Shape)
		}
		return out
	}
	if len(got) != len(want) {
		return fmt.Errorf("predict: inputs have feature columns %v, the model (%s) was trained on %v", name(got), t.card.Family, name(want))
	}
	for i := range want {
		if got[i].Name != want[i].Name || !slices.Equal(got[i].Shape, want[i].Shape) || got[i].Offset != want[i].Offset {
			return fmt.Errorf("predict: input feature column %d is %s%v, the model (%s) was trained with %s%v there (columns %v)",
				i, got[i].Name, got[i].Shape, t.card.Family, want[i].Name, want[i].Shape, name(want))
		}
	}
	return nil
}
