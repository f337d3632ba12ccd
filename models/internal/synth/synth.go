// Package synth generates tiny synthetic datasets for model tests and benchmarks.
package synth

import (
	"math/rand/v2"

	"github.com/biopipe/biopipe/dataset"
	"github.com/biopipe/biopipe/models"
)

// Blobs returns n examples of two Gaussian blobs in dim dimensions (centres at -sep/2 and
// +sep/2 on every axis, unit variance), labelled 0 and 1.
func Blobs(n, dim int, sep float64, seed uint64) *models.Data {
	r := rand.New(rand.NewPCG(seed, 1))
	d := &models.Data{X: &dataset.Matrix{N: n, Shape: []int{dim}, X: make([]float32, n*dim)}}
	for i := range n {
		c := i % 2
		d.Classes = append(d.Classes, c)
		for j := range dim {
			d.X.X[i*dim+j] = float32(r.NormFloat64() + (float64(c)-0.5)*sep)
		}
	}
	return d
}

// Linear returns n examples of y = w·x + b + noise in dim dimensions, with x standard normal.
func Linear(n, dim int, noise float64, seed uint64) *models.Data {
	r := rand.New(rand.NewPCG(seed, 2))
	d := &models.Data{X: &dataset.Matrix{N: n, Shape: []int{dim}, X: make([]float32, n*dim)}}
	for i := range n {
		y := 0.5
		for j := range dim {
			v := r.NormFloat64()
			d.X.X[i*dim+j] = float32(v)
			y += v * float64(j+1) / float64(dim)
		}
		d.Targets = append(d.Targets, y+noise*r.NormFloat64())
	}
	return d
}
