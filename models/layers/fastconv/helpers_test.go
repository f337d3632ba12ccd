package fastconv

import (
	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	"github.com/gomlx/gomlx/support/exceptions"
)

func shapesOf(dims ...int) shapes.Shape { return shapes.Make(dtypes.Float32, dims...) }

// tryGraph runs fn and returns the panic raised while building a graph as an error.
func tryGraph(fn func()) error { return exceptions.TryCatch[error](fn) }
