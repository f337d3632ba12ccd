package models_test

import (
	"bytes"
	"context"
	"log/slog"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/biopipe/biopipe/dataset"
	"github.com/biopipe/biopipe/models"
)

// matrixRows reads rows of an in-memory matrix through models.RowReader, as a
// dataset.FeatureStream reads them from a file.
type matrixRows struct{ m *dataset.Matrix }

func (r matrixRows) ReadRows(rows []int, dst []float32) error {
	size := dataset.TensorSize(r.m.Shape)
	for i, k := range rows {
		copy(dst[i*size:(i+1)*size], r.m.X[k*size:(k+1)*size])
	}
	return nil
}

// streamed returns d with its inputs read through a RowReader in chunks of the given sizes.
func streamed(d *models.Data, chunks []int) *models.Data {
	out := *d
	x := *d.X
	x.X = nil
	out.X, out.Rows, out.Chunks = &x, matrixRows{d.X}, chunks
	return &out
}

// Inputs read through a RowReader train the same model as in memory (one chunk: the same
// order), and streamed data in several chunks resumes bit for bit after an interruption,
// as in-memory data does.
func TestTrainStreamedData(t *testing.T) {
	ctx := context.Background()
	refDir := t.TempDir()
	refRes, err := models.Train(ctx, resumeOpts(refDir, ""))
	require.NoError(t, err)
	ref := readTree(t, filepath.Join(refDir, models.CheckpointDir))

	opts := func(out, state string, chunks []int) models.TrainOptions {
		o := resumeOpts(out, state)
		o.Train, o.Val = streamed(o.Train, chunks), streamed(o.Val, nil)
		return o
	}
	out := t.TempDir()
	_, err = models.Train(ctx, opts(out, "", nil))
	require.NoError(t, err)
	assert.Equal(t, ref, readTree(t, filepath.Join(out, models.CheckpointDir)), "one chunk: the in-memory order and model")

	chunks := []int{40, 40, 40, 20, 10} // 150 rows
	chunkDir := t.TempDir()
	want, err := models.Train(ctx, opts(chunkDir, "", chunks))
	require.NoError(t, err)
	wantCkpt := readTree(t, filepath.Join(chunkDir, models.CheckpointDir))
	assert.NotEqual(t, ref, wantCkpt, "a chunk-local order trains another model")
	assert.InDelta(t, *refRes.Card.Final.ValAccuracy, *want.Card.Final.ValAccuracy, 0.1, "about as accurate as the in-memory order (60 val rows)")

	state := filepath.Join(t.TempDir(), "state")
	sc := &stopAfter{Context: ctx}
	sc.n.Store(8) // epoch 2, mid-epoch
	_, err = models.Train(sc, opts(t.TempDir(), state, chunks))
	require.ErrorIs(t, err, context.Canceled)
	resumed := t.TempDir()
	o := opts(resumed, state, chunks)
	var log bytes.Buffer
	o.Log = slog.New(slog.NewTextHandler(&log, nil))
	got, err := models.Train(ctx, o)
	require.NoError(t, err)
	assert.Contains(t, log.String(), "resuming training")
	assert.Equal(t, wantCkpt, readTree(t, filepath.Join(resumed, models.CheckpointDir)))
	assert.Equal(t, stripSeconds(want.History), stripSeconds(got.History))
}
