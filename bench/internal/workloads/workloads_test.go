package workloads

import (
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestTorchPeerTable: bench/train/torch_train.py's WORKLOADS table has every workload with
// the same input shape, classes, batch, learning rate, input distribution and defaults.
func TestTorchPeerTable(t *testing.T) {
	src, err := os.ReadFile("../../train/torch_train.py")
	require.NoError(t, err)
	row := regexp.MustCompile(`(?m)^\s*"([a-z_0-9]+)": \(\(([\d, ]+)\), (\d+), (\d+), ([\de.-]+), (True|False), (\d+), (\d+)\),$`)
	rows := map[string][]string{}
	for _, m := range row.FindAllStringSubmatch(string(src), -1) {
		rows[m[1]] = m[2:]
	}
	require.Len(t, rows, len(All), "WORKLOADS rows in torch_train.py")
	for _, w := range All {
		t.Run(w.Name, func(t *testing.T) {
			r, ok := rows[w.Name]
			require.True(t, ok, "no WORKLOADS row for %s", w.Name)
			var shape []int
			for _, f := range strings.Split(r[0], ",") {
				if f = strings.TrimSpace(f); f != "" {
					d, err := strconv.Atoi(f)
					require.NoError(t, err)
					shape = append(shape, d)
				}
			}
			lr, err := strconv.ParseFloat(r[3], 64)
			require.NoError(t, err)
			assert.Equal(t, w.Input, shape, "input shape")
			assert.Equal(t, strconv.Itoa(w.Classes), r[1], "classes")
			assert.Equal(t, strconv.Itoa(w.Batch), r[2], "batch")
			assert.InDelta(t, w.LearningRate, lr, 1e-12, "learning rate")
			assert.Equal(t, w.Uniform, r[4] == "True", "uniform inputs")
			assert.Equal(t, strconv.Itoa(w.Steps), r[5], "steps")
			assert.Equal(t, strconv.Itoa(w.PredictRows), r[6], "predict rows")
		})
	}
}

func TestGetAndValidate(t *testing.T) {
	w, err := Get("cnn")
	require.NoError(t, err)
	assert.Equal(t, "28x28x1", w.Shape())
	assert.Equal(t, 784, w.InputSize())
	_, err = Get("rnn")
	assert.ErrorContains(t, err, "known: mlp, cnn")
	assert.ErrorContains(t, Validate([]string{"mlp", "gan"}), `"gan"`)
	assert.Equal(t, []string{"mlp", "cnn", "lstm", "cnn1d"}, Predictable())
}
