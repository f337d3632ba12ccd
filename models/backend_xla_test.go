//go:build xla

package models_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/biopipe/biopipe/models"
)

// TestXLANoPlugin (built with -tags xla): backend xla:cuda with no PJRT plugin installed
// fails at once, naming PJRT_PLUGIN_LIBRARY_PATH and the JAX wheel to install, and
// downloads nothing.
func TestXLANoPlugin(t *testing.T) {
	empty := t.TempDir()
	for _, env := range []string{"empty dir", "unset"} {
		t.Run(env, func(t *testing.T) {
			if env == "unset" {
				if _, err := os.Stat("/usr/local/lib/go-xla"); err == nil {
					t.Skip("/usr/local/lib/go-xla exists on this machine: a plugin may be installed there")
				}
				t.Setenv("HOME", empty) // ~/.local/lib/go-xla: nothing there
				t.Setenv(models.PJRTPluginPathEnv, "")
				require.NoError(t, os.Unsetenv(models.PJRTPluginPathEnv))
			} else {
				t.Setenv(models.PJRTPluginPathEnv, empty)
			}
			_, err := models.NewBackend("xla:cuda")
			require.Error(t, err)
			for _, want := range []string{`backend "xla:cuda"`, models.PJRTPluginPathEnv, "jax-cuda13-pjrt", "xla_cuda_plugin.so", "never downloads"} {
				assert.ErrorContains(t, err, want)
			}
			o := blobOpts(t, "")
			o.Epochs, o.Backend = 1, "xla:cuda"
			_, err = models.Train(context.Background(), o)
			assert.ErrorContains(t, err, models.PJRTPluginPathEnv)
		})
	}
}

// TestXLABrokenPlugin (built with -tags xla): a file with the plugin's name that is not a
// loadable library is an error naming the backend, not a crash.
func TestXLABrokenPlugin(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "jax_plugins", "xla_cuda12")
	require.NoError(t, os.MkdirAll(dir, 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "xla_cuda_plugin.so"), []byte("not an ELF file"), 0o644))
	t.Setenv(models.PJRTPluginPathEnv, dir)
	_, err := models.NewBackend("xla:cuda")
	require.Error(t, err)
	assert.ErrorContains(t, err, `backend "xla:cuda"`)
	assert.ErrorContains(t, err, "xla_cuda_plugin.so")
}
