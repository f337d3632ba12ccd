package metrics

import (
	"math/rand/v2"
	"sort"
	"testing"

	"github.com/stretchr/testify/assert"
)

// order must give exactly the order of a stable sort by score (ties in index order),
// which the AUROC's tie ranks and the curves' thresholds depend on.
func TestOrderMatchesStableSort(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, tc := range []struct {
		name   string
		n      int
		levels int // distinct values: few levels give many ties
	}{
		{"empty", 0, 1}, {"one", 1, 1}, {"all tied", 50, 1}, {"many ties", 500, 7}, {"distinct", 1000, 1 << 30},
	} {
		t.Run(tc.name, func(t *testing.T) {
			score := make([]float64, tc.n)
			for i := range score {
				score[i] = float64(rng.IntN(tc.levels)) / float64(tc.levels)
			}
			want := make([]int, tc.n)
			for i := range want {
				want[i] = i
			}
			sort.SliceStable(want, func(a, b int) bool { return score[want[a]] < score[want[b]] })
			assert.Equal(t, want, order(score))
		})
	}
}

// BenchmarkBootstrapScores times what the evaluate stage does for a 10-class split of 360
// examples (digits' test split): 200 bootstrap resamples of every classification score.
//
//	GOEXPERIMENT=simd go test -run '^$' -bench BootstrapScores ./metrics/
func BenchmarkBootstrapScores(b *testing.B) {
	rng := rand.New(rand.NewPCG(3, 4))
	const n, k = 360, 10
	truth := make([]int, n)
	probs := make([][]float64, n)
	for i := range probs {
		truth[i] = i % k
		p := make([]float64, k)
		var sum float64
		for j := range p {
			p[j] = rng.Float64()
			if j == truth[i] {
				p[j] += 2
			}
			sum += p[j]
		}
		for j := range p {
			p[j] /= sum
		}
		probs[i] = p
	}
	for b.Loop() {
		Bootstrap(n, BootstrapOptions{Resamples: 200, Seed: 1, Workers: 1}, func(idx []int) Scalars {
			t := make([]int, len(idx))
			pr := make([][]float64, len(idx))
			for j, i := range idx {
				t[j], pr[j] = truth[i], probs[i]
			}
			return ClassificationScores(t, pr, 0.5, 10)
		})
	}
}
