//go:build xla

package models

// Built with -tags xla: register the XLA backend ("xla:cpu", "xla:cuda"). It is only ever
// selected by name; the default stays "go".
import _ "github.com/gomlx/go-xla/compute/xla"

func init() { xlaAvailable = true }
