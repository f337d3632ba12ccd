package train

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/biopipe/biopipe/contract"
	"github.com/biopipe/biopipe/dataset"
)

// tensorBatch is rows [lo, lo+n) of a table of dim-value tensor rows whose first 32 values
// carry the class (two Gaussian blobs) and the rest noise, with labels and a split column
// (train, train, train, val, test).
func tensorBatch(lo, n, dim int, seed uint64) *dataset.Frame {
	r := rand.New(rand.NewPCG(seed, uint64(lo)))
	x := &dataset.Column{Name: "x", Kind: dataset.Tensor, Shape: []int{dim}, T: make([]float32, n*dim)}
	label := &dataset.Column{Name: "diagnosis", Kind: dataset.String}
	split := &dataset.Column{Name: dataset.ColSplit, Kind: dataset.String}
	for i := range n {
		c := (lo + i) % 2
		label.S = append(label.S, []string{"benign", "malignant"}[c])
		split.S = append(split.S, []string{"train", "train", "train", "val", "test"}[(lo+i)%5])
		row := x.T[i*dim : (i+1)*dim]
		for j := range row {
			v := float32(r.NormFloat64())
			if j < 32 {
				v += float32(2*c-1) * 0.5
			}
			row[j] = v
		}
	}
	f := dataset.New()
	f.Columns = []*dataset.Column{x, label, split}
	f.Meta[dataset.MetaLabel] = "diagnosis"
	f.Meta[dataset.MetaTask] = "classification"
	f.SetClasses([]string{"benign", "malignant"})
	return f
}

// writeTensorTable writes rows of tensorBatch in record batches of batchRows rows.
func writeTensorTable(t *testing.T, path string, rows, batchRows, dim int) {
	t.Helper()
	w, err := dataset.CreateTable(path)
	require.NoError(t, err)
	for lo := 0; lo < rows; lo += batchRows {
		if err := w.Write(tensorBatch(lo, min(batchRows, rows-lo), dim, 7)); err != nil {
			w.Abort()
			require.NoError(t, err)
		}
	}
	require.NoError(t, w.Close())
}

// streamEnv is a train stage env reading the table in dir (newEnv writes one there first).
func streamEnv(t *testing.T, dir string, raw map[string]any) (*contract.Env, contract.Stage) {
	t.Helper()
	cfg, issues := contract.Check(Fields, raw)
	require.Empty(t, issues)
	st, err := newStage(cfg)
	require.NoError(t, err)
	env := contract.NewEnv(nil)
	env.StageID, env.Kind, env.Config, env.Seed, env.Backend = "train", KindName, cfg, 42, "go"
	env.Inputs = []contract.Input{{StageID: "split", Type: contract.Table, Port: PortData, Dir: dir}}
	env.OutDir = t.TempDir()
	return env, st
}

const streamChildEnv = "BIOPIPE_TEST_STREAM_DIR"

// A table four times larger than the child's memory limit trains (one epoch, with
// validation) in a child process whose peak RSS stays well below the table's size: the
// train stage streams it from the Arrow file a record batch at a time. The child is this
// test binary re-run with GOMEMLIMIT; its peak RSS comes from getrusage (Maxrss).
func TestStreamingTrainsInBoundedMemory(t *testing.T) {
	raw := map[string]any{"model": "mlp", "hidden": []any{8}, "epochs": 1, "batch_size": 256,
		"stream_above": 64, "optimizer": map[string]any{"learning_rate": 0.01}}
	if dir := os.Getenv(streamChildEnv); dir != "" {
		env, st := streamEnv(t, dir, raw)
		require.NoError(t, st.Run(context.Background(), env))
		b, err := json.Marshal(env.Metrics())
		require.NoError(t, err)
		fmt.Printf("METRICS %s\n", b)
		return
	}
	if testing.Short() {
		t.Skip("writes a 256 MiB table")
	}
	const dim, rows, batchRows = 1024, 65536, 1024 // 256 MiB of float32 features, 64 record batches
	dataBytes := int64(rows) * dim * 4
	dir := t.TempDir()
	path := filepath.Join(dir, contract.DataFile)
	t0 := time.Now()
	writeTensorTable(t, path, rows, batchRows, dim)
	t.Logf("table written in %.1f s", time.Since(t0).Seconds())
	fi, err := os.Stat(path)
	require.NoError(t, err)
	require.Greater(t, fi.Size(), dataBytes)

	cmd := exec.Command(os.Args[0], "-test.run", "^TestStreamingTrainsInBoundedMemory$", "-test.v")
	cmd.Env = append(os.Environ(), streamChildEnv+"="+dir, "GOMEMLIMIT=64MiB")
	start := time.Now()
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "child:\n%s", out)
	ru := cmd.ProcessState.SysUsage().(*syscall.Rusage)
	peak := ru.Maxrss << 10 // KiB on Linux
	t.Logf("table %d MiB (%d rows x %d float32, %d record batches); child peak RSS %d MiB, %.1f s",
		fi.Size()>>20, rows, dim, rows/batchRows, peak>>20, time.Since(start).Seconds())
	assert.Less(t, peak, dataBytes/2, "peak RSS of the streaming child")
	assert.Contains(t, string(out), "streaming the data from its file")
	var metrics map[string]float64
	for _, line := range strings.Split(string(out), "\n") {
		if m, ok := strings.CutPrefix(line, "METRICS "); ok {
			require.NoError(t, json.Unmarshal([]byte(m), &metrics))
		}
	}
	require.NotNil(t, metrics, "child output:\n%s", out)
	assert.Greater(t, metrics["val_accuracy"], 0.9, "one epoch on the streamed rows learns the blobs")
}

// With stream_above 0 a table written in several record batches is streamed: training
// works and is reproducible, and the model card is that of the in-memory path.
func TestStreamAboveStreamsSmallTables(t *testing.T) {
	dir := t.TempDir()
	f := blobFrame(300, 5, 1)
	require.NoError(t, f.WriteFileBatched(filepath.Join(dir, contract.DataFile), 32))
	raw := map[string]any{"model": "mlp", "hidden": []any{16}, "epochs": 10, "batch_size": 16,
		"stream_above": 0, "optimizer": map[string]any{"learning_rate": 0.01}}
	run := func() (*contract.Env, string) {
		env, st := streamEnv(t, dir, raw)
		var log strings.Builder
		env.Log = slog.New(slog.NewTextHandler(&log, nil))
		require.NoError(t, st.Run(context.Background(), env))
		return env, log.String()
	}
	env1, log := run()
	assert.Contains(t, log, "streaming the data from its file")
	assert.Contains(t, log, "record_batches=10")
	assert.Greater(t, env1.Metrics()["val_accuracy"], 0.95)
	env2, _ := run()
	assert.Equal(t, readDir(t, env1.Out(contract.CheckpointDir)), readDir(t, env2.Out(contract.CheckpointDir)), "same seed, same streamed model")
	card1, err := os.ReadFile(env1.Out(contract.ModelCardFile))
	require.NoError(t, err)
	assert.Contains(t, string(card1), `"f4"`, "feature names come from the streamed table")
}

// readDir returns the contents of the files in dir by name.
func readDir(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	ents, err := os.ReadDir(dir)
	require.NoError(t, err)
	for _, e := range ents {
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		require.NoError(t, err)
		out[e.Name()] = string(b)
	}
	return out
}
