package gan_test

import (
	"context"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/biopipe/biopipe/dataset"
	"github.com/biopipe/biopipe/models"
	"github.com/biopipe/biopipe/models/gan"
)

// bars returns n images [size, size, 1] in [0, 1] of one bar: class 0 vertical, class 1
// horizontal, at a random position.
func bars(n, size int, seed uint64) *models.Data {
	r := rand.New(rand.NewPCG(seed, 3))
	d := &models.Data{X: &dataset.Matrix{N: n, Shape: []int{size, size, 1}, X: make([]float32, n*size*size)}}
	for i := range n {
		c := i % 2
		d.Classes = append(d.Classes, c)
		img := d.X.X[i*size*size : (i+1)*size*size]
		pos := r.IntN(size)
		for k := range size {
			if c == 0 {
				img[k*size+pos] = 1
			} else {
				img[pos*size+k] = 1
			}
		}
	}
	return d
}

func TestGANTrains(t *testing.T) {
	for _, cond := range []bool{false, true} {
		opts := models.TrainOptions{
			Family: gan.Family, Params: map[string]any{"channels": []any{8, 16}, "latent_dim": 8, "conditional": cond, "sample_every": 2},
			Train: bars(128, 8, 1), Task: models.Generation, Epochs: 2, BatchSize: 32, Seed: 7, OutDir: t.TempDir(),
		}
		if cond {
			opts.Classes = []string{"vertical", "horizontal"}
		}
		res, err := models.Train(context.Background(), opts)
		require.NoError(t, err)
		_ = res
	}
}
