package models

import (
	"runtime"
	"testing"

	"github.com/stretchr/testify/assert"
)

// Chunks run side by side one per core, at most 8, and fewer when their inputs are large:
// a chunk of 64 MiB or more runs alone.
func TestPredictWorkers(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(16))
	for _, c := range []struct{ inputBytes, want int }{
		{0, 8},
		{256 * 30 * 4, 8},            // the quickstart mlp
		{256 * 28 * 28 * 4, 8},       // 28x28 images
		{256 * 128 * 128 * 4, 4},     // 128x128 images: 16 MiB a chunk
		{256 * 224 * 224 * 3 * 4, 1}, // 224x224 RGB: 147 MiB a chunk
		{parallelInputBytes / 3, 3},
		{parallelInputBytes, 1},
	} {
		assert.Equal(t, c.want, predictWorkers(c.inputBytes), "%d bytes", c.inputBytes)
	}
	runtime.GOMAXPROCS(2)
	assert.Equal(t, 2, predictWorkers(256*30*4))
	runtime.GOMAXPROCS(1)
	assert.Equal(t, 1, predictWorkers(256*30*4))
}
