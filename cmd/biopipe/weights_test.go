package main

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

// TestWeights lists a PyTorch-exported ONNX file and dry-runs the import of its safetensors
// twin into a cnn (files from testdata/transfer/export.py).
func TestWeights(t *testing.T) {
	out, code := execute(t, "weights", "../../testdata/transfer/cnn.onnx")
	assert.Equal(t, 0, code, out)
	golden(t, "weights_list_onnx", out)

	out, code = execute(t, "weights", "../../testdata/transfer/cnn.safetensors", "--model", "cnn", "--input", "8,8,2", "--classes", "3",
		"--param", "channels=[4,8]", "--param", "hidden=[16]", "--exclude", "10.")
	assert.Equal(t, 0, code, out)
	golden(t, "weights_dryrun", out)

	out, code = execute(t, "weights", "../../testdata/transfer/cnn.safetensors", "--model", "cnn", "--input", "8,8,2", "--classes", "3",
		"--param", "channels=[4,16]", "--param", "hidden=[16]")
	assert.Equal(t, 1, code)
	assert.Contains(t, out, "3.weight [8 4 3 3] (OIHW -> spatial,in,out: [3 3 4 8]) does not fit /model/block_1/conv_0/weights [3 3 4 16]")
}
