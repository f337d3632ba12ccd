package models

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"

	"github.com/biopipe/biopipe/dataset"
)

// Resumable training.
//
// The training loop keeps everything it needs to continue in a loopState plus the values
// of every variable of its store(s): network weights, optimizer moments and step counters,
// the in-graph RNG state (dropout, noise) and the best epoch's weights for early stopping.
// saveResume writes that as one snapshot folder (state.json + one .bin file per tensor
// set), fsynced and renamed into place, so a snapshot either exists whole or not at all;
// loadResume reads the newest readable one. A snapshot is only a means to finish one
// artifact: it lives outside the artifact store (the executor gives the stage a folder
// keyed by its cache key) and is deleted once the artifact is stored.
//
// Every variable of a store is saved, whatever its scope, so a family that trains several
// networks with several optimizers (a GAN's generator and discriminator) is covered as long
// as they live in the stores passed to saveResume; tensor sets are named, so a loop with
// two stores saves two sets.

// resumeFormat versions state.json; a snapshot of another format is ignored.
const resumeFormat = 1

// Names inside a snapshot folder.
const (
	resumeStateFile = "state.json"
	resumePrefix    = "step-"
	resumeTmpPrefix = "tmp-"
	resumeFilesDir  = "files"
)

// loopState is the training loop's position and bookkeeping.
type loopState struct {
	Format      int    `json:"format"`
	Fingerprint string `json:"fingerprint"` // what the snapshot is valid for (resumeFingerprint)

	Epoch int   `json:"epoch"` // the epoch in progress, 1-based; Epochs+1 when all are done
	Batch int   `json:"batch"` // batches of Epoch already trained
	Step  int64 `json:"step"`  // optimizer steps over all epochs
	Done  bool  `json:"done"`  // training finished (last epoch or early stop); only the artifact is left

	Order   []int  `json:"order"`   // the example order of Epoch (already shuffled)
	Shuffle []byte `json:"shuffle"` // the shuffle generator (math/rand/v2 PCG, binary)
	// Ends, for bucketed sequences (Data.X.Lengths), are where each batch of Order ends:
	// batches hold rows of one length. Empty: batches of BatchSize rows.
	Ends []int `json:"ends,omitempty"`
	// Sums over Epoch's batches so far, as float64 bits (exact): one loss per step of the
	// objective, and the metric.
	LossSums []uint64 `json:"loss_sums"`
	MetSum   uint64   `json:"metric_sum"`

	// Early stopping.
	Best      uint64 `json:"best"` // float64 bits of the best monitored value (+Inf before the first)
	BestEpoch int    `json:"best_epoch"`
	SinceBest int    `json:"since_best"`

	History History `json:"history"`

	Schedule *schedState `json:"schedule,omitempty"` // the learning-rate schedule's own state

	// Tensors lists the saved tensors of each set, in file order.
	Tensors map[string][]savedTensor `json:"tensors"`
}

type savedTensor struct {
	Path      string `json:"path"`
	DType     int32  `json:"dtype"`
	DTypeName string `json:"dtype_name"`
	Dims      []int  `json:"dims"`
	Trainable bool   `json:"trainable,omitempty"`
	Bytes     int64  `json:"bytes"`
	SHA256    string `json:"sha256"`
}

func newLoopState(fingerprint string, n, steps int) *loopState {
	st := &loopState{Format: resumeFormat, Fingerprint: fingerprint, Epoch: 1, Best: math.Float64bits(math.Inf(1)),
		LossSums: make([]uint64, steps)}
	st.Order = make([]int, n)
	for i := range st.Order {
		st.Order[i] = i
	}
	return st
}

// shuffler returns the state's shuffle generator.
func (st *loopState) shuffler(seed int64) (*rand.PCG, error) {
	pcg := rand.NewPCG(uint64(seed), 0x62696f70697065) // "biopipe"
	if st.Shuffle != nil {
		if err := pcg.UnmarshalBinary(st.Shuffle); err != nil {
			return nil, fmt.Errorf("resume state: shuffle generator: %w", err)
		}
	}
	return pcg, nil
}

// startEpoch shuffles the order for st.Epoch and resets the epoch's sums. chunks, for
// streamed data (Data.Chunks), makes the order chunk-local (chunkedOrder); otherwise the
// order is a permutation of the previous epoch's. lengths, for bucketed sequences, makes
// every batch hold rows of one length (bucketBatches, within each window of chunks).
func (st *loopState) startEpoch(pcg *rand.PCG, chunks []int, lengths []int, batchSize int) error {
	rng := rand.New(pcg)
	windows := []int{len(st.Order)}
	if len(chunks) > 1 {
		windows = chunkedOrder(st.Order, chunks, rng)
	} else {
		rng.Shuffle(len(st.Order), func(i, j int) { st.Order[i], st.Order[j] = st.Order[j], st.Order[i] })
	}
	st.Ends = nil
	if lengths != nil {
		lo := 0
		for _, hi := range windows {
			for _, e := range bucketBatches(st.Order[lo:hi], lengths, batchSize, rng) {
				st.Ends = append(st.Ends, lo+e)
			}
			lo = hi
		}
	}
	b, err := pcg.MarshalBinary()
	if err != nil {
		return err
	}
	st.Shuffle = b
	st.Batch, st.MetSum = 0, 0
	clear(st.LossSums)
	return nil
}

// StreamWindow is the number of chunks (record batches) a streamed epoch visits at a time:
// chunkedOrder shuffles the chunks, then the rows within each run of StreamWindow chunks,
// so a pass decodes each chunk about once while holding StreamWindow of them (a reader's
// cache should hold StreamWindow+1).
const StreamWindow = 4

// chunkedOrder fills order (rows 0..n-1 in chunks of the given sizes) with a shuffle that
// keeps memory bounded for data streamed in chunks: the chunks in random order, and the
// rows of every StreamWindow consecutive chunks of that order shuffled together. It returns
// where each such window ends in order.
func chunkedOrder(order []int, chunks []int, rng *rand.Rand) (windows []int) {
	starts := make([]int, len(chunks)+1)
	for i, c := range chunks {
		starts[i+1] = starts[i] + c
	}
	perm := rng.Perm(len(chunks))
	pos := 0
	for w := 0; w < len(perm); w += StreamWindow {
		begin := pos
		for _, c := range perm[w:min(w+StreamWindow, len(perm))] {
			for r := starts[c]; r < starts[c+1]; r++ {
				order[pos] = r
				pos++
			}
		}
		seg := order[begin:pos]
		rng.Shuffle(len(seg), func(i, j int) { seg[i], seg[j] = seg[j], seg[i] })
		windows = append(windows, pos)
	}
	return windows
}

// bucketBatches rearranges seg (rows already shuffled) into batches of at most batchSize
// rows of one length each (lengths[row]): the rows of each length keep their shuffled
// order, and the batches are put in an order drawn from rng. It returns the batch ends
// within seg.
func bucketBatches(seg []int, lengths []int, batchSize int, rng *rand.Rand) []int {
	grouped := slices.Clone(seg)
	ends := bucketEnds(grouped, lengths, batchSize)
	perm := rng.Perm(len(ends))
	out := make([]int, 0, len(ends))
	pos := 0
	for _, b := range perm {
		lo := 0
		if b > 0 {
			lo = ends[b-1]
		}
		pos += copy(seg[pos:], grouped[lo:ends[b]])
		out = append(out, pos)
	}
	return out
}

func (st *loopState) addLoss(step int, v float64) {
	st.LossSums[step] = math.Float64bits(math.Float64frombits(st.LossSums[step]) + v)
}

func (st *loopState) addMetric(v float64) {
	st.MetSum = math.Float64bits(math.Float64frombits(st.MetSum) + v)
}

func (st *loopState) lossSums() []float64 {
	out := make([]float64, len(st.LossSums))
	for i, b := range st.LossSums {
		out[i] = math.Float64frombits(b)
	}
	return out
}

func (st *loopState) metricSum() float64 { return math.Float64frombits(st.MetSum) }

// resumeFingerprint digests what a snapshot must agree with beyond the stage's cache key
// (which already covers config, inputs, seed and backend): a defence against a state
// folder reused by other code.
func resumeFingerprint(family string, params map[string]any, o *TrainOptions, task Task, steps int) string {
	doc := map[string]any{"steps": steps,
		"family": family, "params": params, "task": task, "train": o.Train.Len(), "val": o.Val.Len(),
		"shape": o.Train.X.Shape, "epochs": o.Epochs, "batch": o.BatchSize, "seed": o.Seed,
		"optimizer": o.Optimizer, "early_stopping": o.EarlyStopping, "classes": o.Classes, "schedule": o.Schedule,
	}
	if len(o.Train.Chunks) > 1 {
		doc["chunks"] = o.Train.Chunks // a streamed order (chunkedOrder)
	}
	if l := o.Train.X.Lengths; l != nil {
		h := sha256.New()
		for _, v := range l {
			_, _ = fmt.Fprintf(h, "%d,", v)
		}
		doc["lengths"] = hex.EncodeToString(h.Sum(nil)) // bucketed batches (bucketBatches)
	}
	b, _ := json.Marshal(doc)
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

// storeTensors clones the value of every variable of store.
func storeTensors(store *model.Store) (map[string]*tensors.Tensor, map[string]bool, error) {
	vals := map[string]*tensors.Tensor{}
	trainable := map[string]bool{}
	for v := range store.IterVariables() {
		if !v.HasValue() {
			continue
		}
		val, err := v.Value()
		if err != nil {
			return nil, nil, fmt.Errorf("variable %s: %w", v.Path(), err)
		}
		c, err := val.LocalClone()
		if err != nil {
			return nil, nil, fmt.Errorf("variable %s: %w", v.Path(), err)
		}
		vals[v.Path()] = c
		trainable[v.Path()] = v.Trainable
	}
	return vals, trainable, nil
}

// tensorSet is a named set of tensors in a snapshot, with the trainable flag of each
// (for store variables).
type tensorSet struct {
	vals      map[string]*tensors.Tensor
	trainable map[string]bool
}

// saveResume writes a snapshot of st, the tensor sets and the named files of outDir
// (files an objective wrote after earlier epochs, which the resumed run's fresh output
// folder must hold too) into dir, atomically, and removes the older snapshots. The
// caller's tensors are not modified.
func saveResume(dir string, st *loopState, sets map[string]tensorSet, outDir string, files []string) (err error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("resume checkpoint: %w", err)
	}
	tmp, err := os.MkdirTemp(dir, resumeTmpPrefix)
	if err != nil {
		return fmt.Errorf("resume checkpoint: %w", err)
	}
	defer func() {
		if err != nil {
			_ = os.RemoveAll(tmp)
		}
	}()
	st.Tensors = map[string][]savedTensor{}
	for _, name := range slices.Sorted(maps.Keys(sets)) {
		list, err := writeTensorSet(filepath.Join(tmp, name+".bin"), sets[name])
		if err != nil {
			return fmt.Errorf("resume checkpoint %s: %w", dir, err)
		}
		st.Tensors[name] = list
	}
	for _, f := range files {
		if err := copyFile(filepath.Join(outDir, f), filepath.Join(tmp, resumeFilesDir, f)); err != nil {
			return fmt.Errorf("resume checkpoint: %w", err)
		}
	}
	if err := dataset.WriteJSON(filepath.Join(tmp, resumeStateFile), st); err != nil {
		return fmt.Errorf("resume checkpoint: %w", err)
	}
	if err := syncDir(tmp); err != nil {
		return fmt.Errorf("resume checkpoint %s: %w", tmp, err)
	}
	final := filepath.Join(dir, fmt.Sprintf("%s%012d-%04d", resumePrefix, st.Step, st.Epoch))
	_ = os.RemoveAll(final) // a snapshot of the same step from a killed attempt
	if err := os.Rename(tmp, final); err != nil {
		return fmt.Errorf("resume checkpoint: %w", err)
	}
	if err := syncDir(dir); err != nil {
		return fmt.Errorf("resume checkpoint %s: %w", dir, err)
	}
	// The new snapshot is in place: older ones and stray temporaries can go.
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		if p := filepath.Join(dir, e.Name()); p != final && (strings.HasPrefix(e.Name(), resumePrefix) || strings.HasPrefix(e.Name(), resumeTmpPrefix)) {
			_ = os.RemoveAll(p)
		}
	}
	return nil
}

func writeTensorSet(path string, set tensorSet) ([]savedTensor, error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o644)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	w := bufio.NewWriterSize(f, 1<<20)
	var list []savedTensor
	for _, p := range slices.Sorted(maps.Keys(set.vals)) {
		t := set.vals[p]
		sh := t.Shape()
		rec := savedTensor{Path: p, DType: int32(sh.DType), DTypeName: sh.DType.String(), Dims: slices.Clone(sh.Dimensions), Trainable: set.trainable[p]}
		var werr error
		if err := t.ConstBytes(func(b []byte) {
			h := sha256.Sum256(b)
			rec.SHA256 = hex.EncodeToString(h[:])
			rec.Bytes = int64(len(b))
			_, werr = w.Write(b)
		}); err != nil {
			return nil, fmt.Errorf("tensor %s: %w", p, err)
		}
		if werr != nil {
			return nil, fmt.Errorf("%s: writing: %w", path, werr)
		}
		list = append(list, rec)
	}
	if err := w.Flush(); err != nil {
		return nil, fmt.Errorf("%s: writing: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		return nil, fmt.Errorf("%s: sync: %w", path, err)
	}
	return list, f.Close()
}

func readTensorSet(path string, list []savedTensor) (tensorSet, error) {
	set := tensorSet{vals: map[string]*tensors.Tensor{}, trainable: map[string]bool{}}
	f, err := os.Open(path)
	if err != nil {
		return set, err
	}
	defer f.Close()
	r := bufio.NewReaderSize(f, 1<<20)
	for _, rec := range list {
		dt := dtypes.DType(rec.DType)
		if dt.String() != rec.DTypeName {
			return set, fmt.Errorf("%s: tensor %s: dtype %d is %s here, %s when saved", path, rec.Path, rec.DType, dt, rec.DTypeName)
		}
		t := tensors.FromShape(shapes.Make(dt, rec.Dims...))
		var rerr error
		if err := t.MutableBytes(func(b []byte) {
			if int64(len(b)) != rec.Bytes {
				rerr = fmt.Errorf("tensor %s: %d bytes, want %d", rec.Path, rec.Bytes, len(b))
				return
			}
			if _, rerr = io.ReadFull(r, b); rerr != nil {
				return
			}
			h := sha256.Sum256(b)
			if hex.EncodeToString(h[:]) != rec.SHA256 {
				rerr = fmt.Errorf("tensor %s: checksum mismatch", rec.Path)
			}
		}); err != nil {
			return set, fmt.Errorf("%s: tensor %s: %w", path, rec.Path, err)
		}
		if rerr != nil {
			return set, fmt.Errorf("%s: %w", path, rerr)
		}
		set.vals[rec.Path] = t
		set.trainable[rec.Path] = rec.Trainable
	}
	return set, nil
}

// loadResume reads the newest readable snapshot in dir made for fingerprint. It returns
// nil (and no error) when there is none; unreadable or foreign snapshots are reported to
// warn and skipped.
func loadResume(dir, fingerprint string, warn func(msg string, args ...any)) (*loopState, *resumeSnapshot) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, nil
	}
	var names []string
	for _, e := range ents {
		if e.IsDir() && strings.HasPrefix(e.Name(), resumePrefix) {
			names = append(names, e.Name())
		}
	}
	sort.Sort(sort.Reverse(sort.StringSlice(names)))
	for _, name := range names {
		st, sets, err := readSnapshot(filepath.Join(dir, name), fingerprint)
		if err == nil {
			return st, &resumeSnapshot{dir: filepath.Join(dir, name), sets: sets, files: st.History.files()}
		}
		warn("ignoring resume checkpoint", "path", filepath.Join(dir, name), "error", err)
	}
	return nil, nil
}

// resumeSnapshot is a snapshot read back: its tensor sets and the files it holds.
type resumeSnapshot struct {
	dir   string
	sets  map[string]tensorSet
	files []string
}

// restoreFiles copies the snapshot's files into outDir ("" : nowhere).
func (s *resumeSnapshot) restoreFiles(outDir string) error {
	if outDir == "" {
		return nil
	}
	for _, f := range s.files {
		if err := copyFile(filepath.Join(s.dir, resumeFilesDir, f), filepath.Join(outDir, f)); err != nil {
			return fmt.Errorf("resume: %w", err)
		}
	}
	return nil
}

// files lists the files the history's epochs name (relative to the model folder).
func (h *History) files() []string {
	var out []string
	for _, e := range h.Epochs {
		out = append(out, e.Files...)
	}
	return out
}

func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return err
	}
	out, err := os.Create(dst)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return fmt.Errorf("copying %s to %s: %w", src, dst, err)
	}
	if err := out.Sync(); err != nil {
		out.Close()
		return fmt.Errorf("%s: sync: %w", dst, err)
	}
	return out.Close()
}

var errForeignSnapshot = errors.New("made for another training configuration")

func readSnapshot(snap, fingerprint string) (*loopState, map[string]tensorSet, error) {
	b, err := os.ReadFile(filepath.Join(snap, resumeStateFile))
	if err != nil {
		return nil, nil, err
	}
	var st loopState
	if err := json.Unmarshal(b, &st); err != nil {
		return nil, nil, fmt.Errorf("%s: %w", resumeStateFile, err)
	}
	if st.Format != resumeFormat {
		return nil, nil, fmt.Errorf("format %d, want %d", st.Format, resumeFormat)
	}
	if st.Fingerprint != fingerprint {
		return nil, nil, errForeignSnapshot
	}
	sets := map[string]tensorSet{}
	for name, list := range st.Tensors {
		s, err := readTensorSet(filepath.Join(snap, name+".bin"), list)
		if err != nil {
			return nil, nil, err
		}
		sets[name] = s
	}
	return &st, sets, nil
}

// restoreStore gives every variable of set its saved value and trainable flag, creating
// those the store does not have yet (optimizer state is created when the training graph is
// first built; a variable that exists then keeps its restored value).
func restoreStore(store *model.Store, set tensorSet) error {
	for _, p := range slices.Sorted(maps.Keys(set.vals)) {
		val := set.vals[p]
		v := store.GetVariable(p)
		if v == nil {
			nv, err := store.CreateVariable(p, val)
			if err != nil {
				return fmt.Errorf("resume: variable %s: %w", p, err)
			}
			nv.Trainable = set.trainable[p]
			continue
		}
		if !v.Shape().Equal(val.Shape()) {
			return fmt.Errorf("resume: variable %s has shape %s, the checkpoint %s", p, v.Shape(), val.Shape())
		}
		if err := v.SetValue(val); err != nil {
			return fmt.Errorf("resume: variable %s: %w", p, err)
		}
		v.Trainable = set.trainable[p]
	}
	return nil
}

// syncDir makes the entries of dir durable (its files are synced as they are written).
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// Tensor sets of the training loop's snapshot.
const (
	resumeSetStore = "store" // every variable of the training store
	resumeSetBest  = "best"  // the best epoch's network weights (early stopping)
)

// schedState is a learning-rate scheduler's state beyond the step position (the plateau
// schedule's reductions and patience), as float64 bits where exactness matters.
type schedState struct {
	Current       uint64 `json:"current"` // the rate of the last step (its variable is restored with the store)
	PlateauFactor uint64 `json:"plateau_factor"`
	Best          uint64 `json:"best"`
	SinceBest     int    `json:"since_best"`
	Started       bool   `json:"started"`
}

func (sc *scheduler) state() *schedState {
	if sc == nil {
		return nil
	}
	return &schedState{Current: math.Float64bits(sc.current), PlateauFactor: math.Float64bits(sc.plateauFactor), Best: math.Float64bits(sc.best),
		SinceBest: sc.sinceBest, Started: sc.plateauStarted}
}

func (sc *scheduler) restore(s *schedState) {
	if sc == nil || s == nil {
		return
	}
	sc.current = math.Float64frombits(s.Current)
	sc.plateauFactor, sc.best = math.Float64frombits(s.PlateauFactor), math.Float64frombits(s.Best)
	sc.sinceBest, sc.plateauStarted = s.SinceBest, s.Started
}
