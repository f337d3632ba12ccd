package evaluate

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/biopipe/biopipe/contract"
	"github.com/biopipe/biopipe/dataset"
	"github.com/biopipe/biopipe/models"
)

// Evaluating a table streamed from its file (stream_above 0, several record batches)
// gives the same metrics and predictions, byte for byte, as reading it whole.
func TestStreamedEvaluationMatchesInMemory(t *testing.T) {
	dir := t.TempDir()
	frame := blobs(700) // 420 train rows: one full prediction chunk of 256 rows and a partial one
	// A third feature, so the in-memory run draws no decision-region figure either (it
	// needs every row's inputs, which a streamed run does not hold).
	c := &dataset.Column{Name: "c", Kind: dataset.Float}
	for i := range 700 {
		c.F = append(c.F, float64(i%7)/7)
	}
	frame.Columns = append([]*dataset.Column{c}, frame.Columns...)
	dataDir := filepath.Join(dir, "data")
	require.NoError(t, os.MkdirAll(dataDir, 0o755))
	require.NoError(t, frame.WriteFileBatched(filepath.Join(dataDir, contract.DataFile), 64))

	modelDir := filepath.Join(dir, "model")
	rows := frame.SplitRows(dataset.Train)
	x, err := frame.Features(rows)
	require.NoError(t, err)
	cls, _, err := frame.Labels(rows)
	require.NoError(t, err)
	_, err = models.Train(context.Background(), models.TrainOptions{
		Family: "mlp", Params: map[string]any{"hidden": []any{8}}, Train: &models.Data{X: x, Classes: cls},
		Task: models.Classification, Classes: []string{"0", "1"}, Epochs: 3, BatchSize: 32, Seed: 1, OutDir: modelDir,
	})
	require.NoError(t, err)

	kind, err := contract.Default.Get(KindName)
	require.NoError(t, err)
	evaluate := func(streamAbove int) (string, map[string]string) {
		cfg, issues := contract.Check(kind.Fields, map[string]any{"bootstrap": 50, "stream_above": streamAbove, "tensorboard": false})
		require.Empty(t, issues)
		st, err := kind.New(cfg)
		require.NoError(t, err)
		env := contract.NewEnv(nil)
		env.StageID, env.Config, env.Seed, env.Backend = "eval", cfg, 42, "go"
		env.OutDir = t.TempDir()
		var log strings.Builder
		env.Log = slog.New(slog.NewTextHandler(&log, nil))
		env.Inputs = []contract.Input{
			{StageID: "train", Type: contract.Model, Port: PortModel, Dir: modelDir},
			{StageID: "split", Type: contract.Table, Port: PortData, Dir: dataDir},
		}
		require.NoError(t, st.Run(context.Background(), env))
		out := map[string]string{}
		for _, name := range []string{contract.MetricsFile, contract.PredictionsFile} {
			b, err := os.ReadFile(env.Out(name))
			require.NoError(t, err)
			out[name] = string(b)
		}
		return log.String(), out
	}
	logWhole, whole := evaluate(1024)
	logStreamed, streamed := evaluate(0)
	assert.NotContains(t, logWhole, "streaming")
	assert.Contains(t, logStreamed, "streaming the data from its file")
	assert.Contains(t, logStreamed, "record_batches=11")
	assert.Equal(t, whole, streamed)
	assert.Contains(t, whole[contract.MetricsFile], `"auroc"`)
}
