package synth

import (
	"context"
	"testing"

	"github.com/biopipe/biopipe/models"
)

// ArgmaxAccuracy is the share of rows whose highest-probability class is the true class.
func ArgmaxAccuracy(probs [][]float32, truth []int) float64 {
	hit := 0
	for i, p := range probs {
		best := 0
		for k := range p {
			if p[k] > p[best] {
				best = k
			}
		}
		if best == truth[i] {
			hit++
		}
	}
	return float64(hit) / float64(len(truth))
}

// Accuracy predicts d with a trained classifier and returns its accuracy; a prediction
// error fails the test.
func Accuracy(t testing.TB, res *models.Result, d *models.Data) float64 {
	t.Helper()
	p, err := res.Trained.Predict(context.Background(), d.X)
	if err != nil {
		t.Fatalf("predict: %v", err)
	}
	return ArgmaxAccuracy(p, d.Classes)
}
