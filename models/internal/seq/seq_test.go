package seq_test

import (
	"testing"

	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/biopipe/biopipe/models"
	"github.com/biopipe/biopipe/models/internal/seq"
)

// TestConvBlockOutLength checks OutLength against the shape the block builds.
func TestConvBlockOutLength(t *testing.T) {
	backend, err := models.NewBackend("")
	require.NoError(t, err)
	cases := []struct {
		block seq.ConvBlock
		steps int
	}{
		{seq.ConvBlock{Channels: 3, KernelSize: 5, Pool: "max", PoolSize: 4}, 130},
		{seq.ConvBlock{Channels: 3, KernelSize: 4, Stride: 3, Dilation: 2, Pool: "avg", PoolSize: 2}, 31},
		{seq.ConvBlock{Channels: 2, KernelSize: 3, Stride: 2, Residual: true, Normalization: "layer", Pool: "none", PoolSize: 2}, 9},
		{seq.ConvBlock{Channels: 2, KernelSize: 3, Convs: 2, Normalization: "batch", Pool: "max", PoolSize: 8}, 5},
	}
	for _, c := range cases {
		c.block.Activation = models.Activation{Name: models.ActRelu}
		store := model.NewStore()
		require.NoError(t, store.SetRNGStateFromSeed(1))
		exec, err := model.NewExec(backend, store, func(scope *model.Scope, x *graph.Node) *graph.Node {
			return c.block.Apply(scope, x)
		})
		require.NoError(t, err)
		outs, err := exec.Call(tensors.FromFlatDataAndDimensions(make([]float32, 2*c.steps*3), 2, c.steps, 3))
		require.NoError(t, err)
		assert.Equal(t, []int{2, c.block.OutLength(c.steps), c.block.Channels}, outs[0].Shape().Dimensions, "%+v on %d steps", c.block, c.steps)
	}
}

func TestCheckSpec(t *testing.T) {
	cases := []struct {
		spec     models.Spec
		steps, c int
		err      string
	}{
		{models.Spec{InputShape: []int{128, 4}, Task: models.Classification, NumClasses: 2}, 128, 4, ""},
		{models.Spec{InputShape: []int{50}, Task: models.Regression}, 50, 1, ""},
		{models.Spec{InputShape: []int{8, 8, 1}, Task: models.Classification}, 0, 0, "want a sequence tensor column shaped [T, C]"},
		{models.Spec{InputShape: []int{0, 2}, Task: models.Classification}, 0, 0, "empty axis"},
		{models.Spec{InputShape: []int{8, 2}, Task: models.Reconstruction}, 0, 0, "unsupported task"},
	}
	for _, c := range cases {
		steps, ch, err := seq.CheckSpec("fam", c.spec)
		if c.err != "" {
			assert.ErrorContains(t, err, c.err)
			assert.ErrorContains(t, err, "fam: ")
			continue
		}
		require.NoError(t, err)
		assert.Equal(t, [2]int{c.steps, c.c}, [2]int{steps, ch})
	}
}
