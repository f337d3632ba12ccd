//go:build xla

package models

// Built with -tags xla: register the XLA backend ("xla:cpu", "xla:cuda"). It is only ever
// selected by name; the default stays "go". go-xla's auto-install (which downloads PJRT
// plugins from the network on first use) is switched off: biopipe only loads a plugin the
// user installed (see xlaPlugin).
import (
	"github.com/gomlx/go-xla/compute/xla"
)

func init() {
	xla.EnableAutoInstall(false)
	xlaResolve = xlaPlugin
}
