package report

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestWithArticle(t *testing.T) {
	for f, want := range map[string]string{"mlp": "an MLP", "cnn": "a CNN", "unet": "a U-Net", "autoencoder": "an autoencoder", "": "a model", "lstm": "an LSTM"} {
		assert.Equal(t, want, withArticle(f), f)
	}
}
