package models

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// PJRTPluginPathEnv names the folders (":"-separated) searched for XLA's PJRT plugins.
const PJRTPluginPathEnv = "PJRT_PLUGIN_LIBRARY_PATH"

// xlaResolve maps "xla:cuda" / "xla:cpu" to the backend configuration that loads an installed
// plugin; set by backend_xla.go (nil in a build without -tags xla).
var xlaResolve func(name string) (string, error)

// pluginFiles are the file names a PJRT plugin for device is found under, in the order
// tried: go-xla's names (its installer and github.com/gomlx/pjrt-cpu-binaries) and, for
// CUDA, the name JAX's wheels use (jax-cuda12-pjrt / jax-cuda13-pjrt ship
// site-packages/jax_plugins/xla_cuda12/xla_cuda_plugin.so).
func pluginFiles(device string) []string {
	names := []string{"pjrt_c_api_" + device + "_plugin.so", "pjrt-plugin-" + device + ".so", "pjrt_plugin_" + device + ".so"}
	if device == "cuda" {
		names = append(names, "xla_cuda_plugin.so")
	}
	return names
}

// pluginDirs returns the folders searched for plugins: those of PJRT_PLUGIN_LIBRARY_PATH
// when it is set (even to an empty value), otherwise go-xla's install folders.
func pluginDirs() (dirs []string, fromEnv bool) {
	if v, ok := os.LookupEnv(PJRTPluginPathEnv); ok {
		for _, d := range strings.Split(v, ":") {
			if d != "" {
				dirs = append(dirs, d)
			}
		}
		return dirs, true
	}
	if home, err := os.UserHomeDir(); err == nil {
		dirs = append(dirs, filepath.Join(home, ".local", "lib", "go-xla"))
	}
	return append(dirs, "/usr/local/lib/go-xla"), false
}

// FindPJRTPlugin returns the path of an installed PJRT plugin for device ("cuda" or "cpu"),
// searching each folder of PJRT_PLUGIN_LIBRARY_PATH (or, when it is unset,
// ~/.local/lib/go-xla and /usr/local/lib/go-xla), then its subfolders one and two levels
// down (so the folder may be JAX's site-packages/jax_plugins, or go-xla's lib/go-xla with
// its nvidia/ subfolder); of several matches in one folder, the last in name order (the
// newest CUDA). It never downloads anything; when nothing is found the error names
// PJRT_PLUGIN_LIBRARY_PATH, the folders searched and what to install.
func FindPJRTPlugin(device string) (string, error) {
	dirs, fromEnv := pluginDirs()
	names := pluginFiles(device)
	for _, dir := range dirs {
		for _, pattern := range []string{"", "*", filepath.Join("*", "*")} {
			for _, name := range names {
				matches, _ := filepath.Glob(filepath.Join(dir, pattern, name))
				slices.Sort(matches) // newest CUDA first: jax_plugins/xla_cuda13 before xla_cuda12
				slices.Reverse(matches)
				for _, m := range matches {
					if fi, err := os.Stat(m); err == nil && fi.Mode().IsRegular() {
						abs, err := filepath.Abs(m)
						if err != nil {
							return "", err
						}
						return abs, nil
					}
				}
			}
		}
	}
	where := fmt.Sprintf("%s is not set; searched %s", PJRTPluginPathEnv, strings.Join(dirs, ", "))
	if fromEnv {
		where = fmt.Sprintf("searched %s=%q", PJRTPluginPathEnv, os.Getenv(PJRTPluginPathEnv))
	}
	install := "install JAX's CUDA PJRT plugin (pip install jax-cuda13-pjrt, or jax-cuda12-pjrt for CUDA 12, with the NVIDIA libraries, e.g. pip install \"jax[cuda13]\"): " +
		"it ships site-packages/jax_plugins/xla_cuda13/xla_cuda_plugin.so; set " + PJRTPluginPathEnv + " to that folder (or to site-packages/jax_plugins)"
	if device != "cuda" {
		install = "download pjrt_c_api_" + device + "_plugin.so (github.com/gomlx/pjrt-cpu-binaries releases) into a folder and set " + PJRTPluginPathEnv + " to it"
	}
	return "", fmt.Errorf("no %s PJRT plugin found (%s; looked for %s): %s; biopipe never downloads plugins",
		strings.ToUpper(device), where, strings.Join(names, ", "), install)
}

// xlaPlugin resolves "xla:<device>" to "xla:<absolute plugin path>".
func xlaPlugin(name string) (string, error) {
	device := strings.TrimPrefix(name, "xla:")
	path, err := FindPJRTPlugin(device)
	if err != nil {
		return "", fmt.Errorf("backend %q: %w", name, err)
	}
	return "xla:" + path, nil
}
