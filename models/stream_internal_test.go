package models

import (
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// chunkedOrder is a permutation whose every run of StreamWindow chunks (in the shuffled
// chunk order) covers exactly those chunks' rows, a function of the generator's state.
func TestChunkedOrder(t *testing.T) {
	for _, chunks := range [][]int{{5}, {3, 3}, {4, 1, 7, 2, 2, 6, 3, 5, 1, 9, 4}, {1, 1, 1, 1, 1, 1, 1, 1, 1}} {
		n := 0
		starts := []int{0}
		for _, c := range chunks {
			n += c
			starts = append(starts, n)
		}
		chunkOf := func(r int) int {
			for i := range chunks {
				if r < starts[i+1] {
					return i
				}
			}
			return -1
		}
		order := make([]int, n)
		chunkedOrder(order, chunks, rand.New(rand.NewPCG(1, 2)))
		sorted := slices.Sorted(slices.Values(order))
		for i := range sorted {
			require.Equal(t, i, sorted[i], "a permutation of 0..%d", n-1)
		}
		// Walk the order: each window's rows come from at most StreamWindow chunks, and
		// every chunk's rows all lie in one window.
		windowOf := map[int]int{}
		pos, w := 0, 0
		for pos < n {
			seen := map[int]bool{}
			size := 0
			for len(seen) <= StreamWindow && pos+size < n {
				c := chunkOf(order[pos+size])
				if !seen[c] && len(seen) == StreamWindow {
					break
				}
				seen[c] = true
				size++
			}
			for k := range seen {
				_, dup := windowOf[k]
				assert.False(t, dup, "chunk %d spans two windows", k)
				windowOf[k] = w
			}
			pos += size
			w++
		}
		again := make([]int, n)
		chunkedOrder(again, chunks, rand.New(rand.NewPCG(1, 2)))
		assert.Equal(t, order, again, "same generator state, same order")
	}
}
