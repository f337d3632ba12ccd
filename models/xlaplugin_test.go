package models_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/biopipe/biopipe/models"
)

// TestFindPJRTPlugin: the plugin is found where JAX's wheels and go-xla's installer put it,
// below a folder of PJRT_PLUGIN_LIBRARY_PATH; a folder without one gives an error that names
// the variable and what to install.
func TestFindPJRTPlugin(t *testing.T) {
	touch := func(t *testing.T, path string) string {
		t.Helper()
		require.NoError(t, os.MkdirAll(filepath.Dir(path), 0o755))
		require.NoError(t, os.WriteFile(path, nil, 0o644))
		return path
	}
	cases := []struct {
		name   string
		layout func(dir string) (env, want string)
	}{
		{"jax wheel folder", func(dir string) (string, string) {
			p := touch(t, filepath.Join(dir, "site-packages", "jax_plugins", "xla_cuda12", "xla_cuda_plugin.so"))
			return filepath.Dir(p), p
		}},
		{"jax_plugins folder", func(dir string) (string, string) {
			p := touch(t, filepath.Join(dir, "jax_plugins", "xla_cuda13", "xla_cuda_plugin.so"))
			return filepath.Join(dir, "jax_plugins"), p
		}},
		{"site-packages folder, newest CUDA", func(dir string) (string, string) {
			touch(t, filepath.Join(dir, "site-packages", "jax_plugins", "xla_cuda12", "xla_cuda_plugin.so"))
			p := touch(t, filepath.Join(dir, "site-packages", "jax_plugins", "xla_cuda13", "xla_cuda_plugin.so"))
			return filepath.Join(dir, "site-packages"), p
		}},
		{"go-xla install, second folder of the list", func(dir string) (string, string) {
			p := touch(t, filepath.Join(dir, "go-xla", "nvidia", "pjrt_c_api_cuda_plugin.so"))
			return filepath.Join(dir, "empty") + ":" + filepath.Join(dir, "go-xla"), p
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			env, want := c.layout(t.TempDir())
			t.Setenv(models.PJRTPluginPathEnv, env)
			got, err := models.FindPJRTPlugin("cuda")
			require.NoError(t, err)
			assert.Equal(t, want, got)
		})
	}

	t.Run("none", func(t *testing.T) {
		dir := t.TempDir()
		t.Setenv(models.PJRTPluginPathEnv, dir)
		_, err := models.FindPJRTPlugin("cuda")
		require.Error(t, err)
		for _, want := range []string{models.PJRTPluginPathEnv, dir, "jax-cuda13-pjrt", "jax-cuda12-pjrt", "xla_cuda_plugin.so", "never downloads"} {
			assert.ErrorContains(t, err, want)
		}
		_, err = models.FindPJRTPlugin("cpu")
		assert.ErrorContains(t, err, "pjrt_c_api_cpu_plugin.so")
	})
}
