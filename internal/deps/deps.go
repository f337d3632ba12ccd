//go:build tools

// Package deps pins modules that stages import, so `go mod tidy` keeps them while the
// packages that use them are written.
package deps

import (
	_ "github.com/apache/arrow-go/v18/arrow/csv"
	_ "github.com/apache/arrow-go/v18/arrow/ipc"
	_ "github.com/apache/arrow-go/v18/parquet/pqarrow"
	_ "github.com/gomlx/compute/gobackend"
	_ "github.com/gomlx/gomlx/ml/layers/lstm"
	_ "github.com/gomlx/gomlx/ml/model/checkpoint"
	_ "github.com/gomlx/gomlx/ml/train"
	_ "github.com/sashabaranov/go-openai"
	_ "github.com/schollz/progressbar/v3"
	_ "github.com/spf13/cobra"
	_ "github.com/spf13/viper"
	_ "github.com/stretchr/testify/require"
	_ "github.com/suyashkumar/dicom"
	_ "gonum.org/v1/gonum/mat"
	_ "gonum.org/v1/plot/plotter"
	_ "gonum.org/v1/plot/vg"
	_ "gopkg.in/yaml.v3"
)
