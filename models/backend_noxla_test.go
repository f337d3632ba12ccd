//go:build !xla

package models_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/biopipe/biopipe/models"
)

// TestXLAWithoutTag: a binary built without -tags xla asked for an XLA backend says so.
func TestXLAWithoutTag(t *testing.T) {
	for _, name := range []string{"xla:cuda", "xla:cpu"} {
		_, err := models.NewBackend(name)
		assert.ErrorContains(t, err, "built without -tags xla", name)
		o := blobOpts(t, "")
		o.Epochs, o.Backend = 1, name
		_, err = models.Train(context.Background(), o)
		assert.ErrorContains(t, err, "built without -tags xla", name)
	}
}
