package models

import (
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/biopipe/biopipe/dataset"
)

// With bucketed sequences every epoch's batches hold rows of one length, at most
// batch_size of them, cover every row once, number dataSteps, and are a function of the
// seed (and of the generator's state, which the resume state saves); epochs differ.
func TestBucketedEpochs(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 3))
	const n, batch = 203, 16
	lengths := make([]int, n)
	for i := range lengths {
		lengths[i] = []int{8, 8, 8, 8, 16, 16, 32}[r.IntN(7)]
	}
	d := &Data{X: &dataset.Matrix{N: n, Shape: []int{32, 4}, Lengths: lengths}}
	for _, chunks := range [][]int{nil, {50, 50, 50, 53}, {20, 20, 20, 20, 20, 20, 20, 20, 20, 20, 3}} {
		epochs := func(seed int64) (orders, ends [][]int) {
			st := newLoopState("x", n, 1)
			pcg, err := st.shuffler(seed)
			require.NoError(t, err)
			for range 3 {
				require.NoError(t, st.startEpoch(pcg, chunks, lengths, batch))
				orders, ends = append(orders, slices.Clone(st.Order)), append(ends, slices.Clone(st.Ends))
			}
			return orders, ends
		}
		orders, ends := epochs(7)
		for e := range orders {
			order, ends := orders[e], ends[e]
			require.Equal(t, n, ends[len(ends)-1], "chunks %v", chunks)
			if chunks == nil {
				assert.Len(t, ends, dataSteps(d, batch))
			}
			lo := 0
			for _, hi := range ends {
				require.Greater(t, hi, lo)
				assert.LessOrEqual(t, hi-lo, batch)
				for _, row := range order[lo:hi] {
					assert.Equal(t, lengths[order[lo]], lengths[row], "one length per batch")
				}
				lo = hi
			}
			sorted := slices.Sorted(slices.Values(order))
			for i, row := range sorted {
				require.Equal(t, i, row, "every row once")
			}
		}
		assert.NotEqual(t, orders[0], orders[1], "each epoch is shuffled anew")
		again, againEnds := epochs(7)
		assert.Equal(t, orders, again, "same seed, same batches")
		assert.Equal(t, ends, againEnds)
		other, _ := epochs(8)
		assert.NotEqual(t, orders[0], other[0])
	}
	// Batches of every length come in a shuffled order, not grouped by length.
	st := newLoopState("x", n, 1)
	pcg, _ := st.shuffler(1)
	require.NoError(t, st.startEpoch(pcg, nil, lengths, batch))
	first := make([]int, len(st.Ends))
	for i, hi := range st.Ends {
		first[i] = lengths[st.Order[hi-1]]
	}
	assert.False(t, slices.IsSorted(first), "batch lengths %v", first)
}

// bucketEnds groups rows by length for evaluation and prediction.
func TestBucketEnds(t *testing.T) {
	order := []int{0, 1, 2, 3, 4, 5, 6}
	lengths := []int{4, 2, 4, 2, 4, 4, 1}
	ends := bucketEnds(order, lengths, 2)
	assert.Equal(t, []int{6, 1, 3, 0, 2, 4, 5}, order)
	assert.Equal(t, []int{1, 3, 5, 7}, ends)
	assert.Equal(t, []int{3, 6, 7}, bucketEnds([]int{0, 1, 2, 3, 4, 5, 6}, nil, 3))
	assert.Equal(t, 4, dataSteps(&Data{X: &dataset.Matrix{N: 7, Lengths: lengths}}, 2))
}
