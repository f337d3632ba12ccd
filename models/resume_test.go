package models_test

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/biopipe/biopipe/models"
	"github.com/biopipe/biopipe/models/internal/synth"
)

// stopAfter is a context whose Err turns to Canceled after n calls: the training loop asks
// once per step (and once per validation batch), so it stops at a known point.
type stopAfter struct {
	context.Context
	n atomic.Int64
}

func (c *stopAfter) Err() error {
	if c.n.Add(-1) < 0 {
		return context.Canceled
	}
	return nil
}

// resumeOpts trains an mlp with dropout (in-graph RNG), Adam (optimizer state), a plateau
// learning-rate schedule and early stopping (best weights), so a resume must restore all of
// them to match.
func resumeOpts(out, state string) models.TrainOptions {
	return models.TrainOptions{
		Family: "mlp", Params: map[string]any{"hidden": []any{16, 8}, "dropout": 0.2},
		Train: synth.Blobs(150, 4, 1.0, 1), Val: synth.Blobs(60, 4, 1.0, 2),
		Task: models.Classification, Classes: []string{"neg", "pos"},
		Epochs: 6, BatchSize: 32, Seed: 11, OutDir: out, StateDir: state, CheckpointEvery: 2,
		Optimizer:     models.OptimizerConfig{Name: models.OptAdam, LearningRate: 0.02},
		EarlyStopping: models.EarlyStopping{Patience: 3},
		// The plateau schedule keeps state of its own (reductions so far, patience).
		Schedule: models.Schedule{Name: models.SchedPlateau, Patience: 1, Gamma: 0.5},
	}
}

func TestTrainResumesBitForBit(t *testing.T) {
	ctx := context.Background()
	refDir := t.TempDir()
	ref, err := models.Train(ctx, resumeOpts(refDir, filepath.Join(t.TempDir(), "state")))
	require.NoError(t, err)
	refCkpt := readTree(t, filepath.Join(refDir, models.CheckpointDir))

	// 150 rows in batches of 32: 5 steps per epoch, each asking ctx once, and one
	// validation batch asking once more: 6 calls per epoch.
	for _, tc := range []struct {
		name  string
		calls int64
	}{
		{"first step", 0},
		{"mid-epoch, on a periodic checkpoint", 4},
		{"mid-epoch, between checkpoints", 8},
		{"during validation", 11},
		{"at an epoch start", 12},
	} {
		t.Run(tc.name, func(t *testing.T) {
			state := filepath.Join(t.TempDir(), "state")
			sc := &stopAfter{Context: ctx}
			sc.n.Store(tc.calls)
			_, err := models.Train(sc, resumeOpts(t.TempDir(), state))
			require.ErrorIs(t, err, context.Canceled)
			assert.Contains(t, err.Error(), "checkpoint saved")
			snaps, _ := filepath.Glob(filepath.Join(state, "step-*"))
			require.Len(t, snaps, 1, "one snapshot, the older ones removed")

			out := t.TempDir()
			opts := resumeOpts(out, state)
			var log bytes.Buffer
			opts.Log = slog.New(slog.NewTextHandler(&log, nil))
			res, err := models.Train(ctx, opts)
			require.NoError(t, err)
			assert.Contains(t, log.String(), "resuming training", "the second run must continue, not start afresh")
			assert.NotContains(t, log.String(), "ignoring")
			assert.Equal(t, refCkpt, readTree(t, filepath.Join(out, models.CheckpointDir)), "weights differ from an uninterrupted run")
			assert.Equal(t, stripSeconds(ref.History), stripSeconds(res.History))
			assert.Equal(t, ref.Card.BestEpoch, res.Card.BestEpoch)
		})
	}
}

func TestTrainIgnoresABadSnapshot(t *testing.T) {
	ctx := context.Background()
	state := filepath.Join(t.TempDir(), "state")
	sc := &stopAfter{Context: ctx}
	sc.n.Store(9)
	_, err := models.Train(sc, resumeOpts(t.TempDir(), state))
	require.ErrorIs(t, err, context.Canceled)
	bins, _ := filepath.Glob(filepath.Join(state, "step-*", "store.bin"))
	require.Len(t, bins, 1)
	require.NoError(t, os.WriteFile(bins[0], []byte("garbage"), 0o644))

	// A damaged snapshot is skipped with a warning: training starts afresh and still
	// reaches the uninterrupted result.
	refDir, out := t.TempDir(), t.TempDir()
	_, err = models.Train(ctx, resumeOpts(refDir, ""))
	require.NoError(t, err)
	opts := resumeOpts(out, state)
	var log bytes.Buffer
	opts.Log = slog.New(slog.NewTextHandler(&log, nil))
	_, err = models.Train(ctx, opts)
	require.NoError(t, err)
	assert.Contains(t, log.String(), "ignoring resume checkpoint")
	assert.Contains(t, log.String(), "store.bin")
	assert.Equal(t, readTree(t, filepath.Join(refDir, models.CheckpointDir)), readTree(t, filepath.Join(out, models.CheckpointDir)))
}

func stripSeconds(h models.History) models.History {
	h.Epochs = append([]models.EpochRecord(nil), h.Epochs...)
	for i := range h.Epochs {
		h.Epochs[i].Seconds = 0
	}
	return h
}

// readTree returns the content of every file under dir that holds variable values
// (checkpoint file names carry a wall-clock time, so files are keyed by extension).
func readTree(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	ents, err := os.ReadDir(dir)
	require.NoError(t, err)
	for _, e := range ents {
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		require.NoError(t, err)
		out[filepath.Ext(e.Name())] += string(b)
	}
	return out
}

// Two networks with their own optimizers (Adam for a, SGD for b): the snapshot holds both.
func TestTrainResumesTwoNetworks(t *testing.T) {
	ctx := context.Background()
	opts := func(out, state string) models.TrainOptions {
		return models.TrainOptions{
			Family: "test_pair", Train: synth.Blobs(64, 4, 1, 1),
			Epochs: 4, BatchSize: 8, Seed: 3, OutDir: out, StateDir: state, CheckpointEvery: 3,
			Optimizer: models.OptimizerConfig{Name: models.OptAdam, LearningRate: 0.05},
		}
	}
	refDir := t.TempDir()
	ref, err := models.Train(ctx, opts(refDir, ""))
	require.NoError(t, err)

	state := filepath.Join(t.TempDir(), "state")
	sc := &stopAfter{Context: ctx}
	sc.n.Store(13) // 8 steps per epoch, no validation: epoch 2, step 14
	_, err = models.Train(sc, opts(t.TempDir(), state))
	require.ErrorIs(t, err, context.Canceled)
	out := t.TempDir()
	o := opts(out, state)
	var log bytes.Buffer
	o.Log = slog.New(slog.NewTextHandler(&log, nil))
	res, err := models.Train(ctx, o)
	require.NoError(t, err)
	assert.Contains(t, log.String(), "resuming training")
	assert.Equal(t, readTree(t, filepath.Join(refDir, models.CheckpointDir)), readTree(t, filepath.Join(out, models.CheckpointDir)))
	assert.Equal(t, stripSeconds(ref.History), stripSeconds(res.History))
}

// Bucketed sequences (one-length batches whose order is drawn per epoch and kept in the
// resume state) resume bit for bit too.
func TestTrainResumesBucketed(t *testing.T) {
	ctx := context.Background()
	opts := func(out, state string) models.TrainOptions {
		buckets := []int{8, 16, 32}
		return models.TrainOptions{
			Family: "cnn1d", Params: map[string]any{"channels": []any{4}, "dropout": 0.1},
			Train: synth.SkewedSines(96, buckets, 2, 0.3, 1), Val: synth.SkewedSines(32, buckets, 2, 0.3, 2),
			Task: models.Classification, Classes: []string{"slow", "fast"},
			Epochs: 3, BatchSize: 16, Seed: 5, OutDir: out, StateDir: state, CheckpointEvery: 2,
		}
	}
	refDir := t.TempDir()
	_, err := models.Train(ctx, opts(refDir, filepath.Join(t.TempDir(), "state")))
	require.NoError(t, err)
	state := filepath.Join(t.TempDir(), "state")
	sc := &stopAfter{Context: ctx}
	sc.n.Store(11) // in the second epoch
	_, err = models.Train(sc, opts(t.TempDir(), state))
	require.ErrorIs(t, err, context.Canceled)
	out := t.TempDir()
	o := opts(out, state)
	var log bytes.Buffer
	o.Log = slog.New(slog.NewTextHandler(&log, nil))
	_, err = models.Train(ctx, o)
	require.NoError(t, err)
	assert.Contains(t, log.String(), "resuming training")
	assert.Equal(t, readTree(t, filepath.Join(refDir, models.CheckpointDir)), readTree(t, filepath.Join(out, models.CheckpointDir)))
}
