package models

import (
	"fmt"
	"strings"
	"sync"

	"github.com/gomlx/compute"
	_ "github.com/gomlx/compute/gobackend" // the pure-Go backend, registered as "go"
)

// DefaultBackend is the embedded pure-Go backend; it needs nothing installed.
const DefaultBackend = "go"

var (
	backendsMu sync.Mutex
	backends   = map[string]compute.Backend{}
)

// NormalizeBackend maps "" to DefaultBackend and checks the name: "go" (optionally with the
// Go backend's options, "go:parallelism=4"), "xla:cpu" or "xla:cuda". XLA backends are only
// available in binaries built with -tags xla; they load an installed PJRT plugin (see
// FindPJRTPlugin) and never download one.
func NormalizeBackend(name string) (string, error) {
	name = strings.TrimSpace(name)
	switch name {
	case "", DefaultBackend:
		return DefaultBackend, nil
	case "xla:cpu", "xla:cuda":
		if xlaResolve == nil {
			return "", fmt.Errorf("backend %q: this binary was built without -tags xla (no XLA support); rebuild with `go build -tags xla` "+
				"and install a PJRT plugin (for xla:cuda, JAX's jax-cuda13-pjrt or jax-cuda12-pjrt; see %s), or use backend \"go\"", name, PJRTPluginPathEnv)
		}
		return name, nil
	}
	if strings.HasPrefix(name, DefaultBackend+":") {
		return name, nil // the go backend with options, e.g. "go:parallelism=4"
	}
	return "", fmt.Errorf("unknown backend %q (valid backends: go, xla:cpu, xla:cuda)", name)
}

// NewBackend returns the compute backend with this name ("" = "go"). Backends are created
// once per process and shared.
func NewBackend(name string) (compute.Backend, error) {
	name, err := NormalizeBackend(name)
	if err != nil {
		return nil, err
	}
	backendsMu.Lock()
	defer backendsMu.Unlock()
	if b, ok := backends[name]; ok {
		return b, nil
	}
	config := name
	if strings.HasPrefix(name, "xla:") {
		if config, err = xlaResolve(name); err != nil {
			return nil, err
		}
	}
	var b compute.Backend
	if perr := catch(func() { b, err = compute.NewWithConfig(config) }); perr != nil {
		err = perr
	}
	if err != nil {
		return nil, fmt.Errorf("backend %q: %w", name, err)
	}
	backends[name] = b
	return b, nil
}
