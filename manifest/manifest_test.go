package manifest

import (
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestWriteConcurrentRuns is the points of a workflow finishing at once in one work dir: every
// manifest is written, and runs/latest names one of them.
func TestWriteConcurrentRuns(t *testing.T) {
	runs := filepath.Join(t.TempDir(), "runs")
	const n = 16
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		dir := filepath.Join(runs, fmt.Sprintf("run-%02d", i))
		require.NoError(t, os.MkdirAll(dir, 0o755))
		wg.Go(func() { errs[i] = Write(dir, &Manifest{RunID: filepath.Base(dir)}) })
	}
	wg.Wait()
	for i, err := range errs {
		require.NoError(t, err, "run %d", i)
	}
	m, err := Read(filepath.Join(runs, "latest"))
	require.NoError(t, err)
	require.Regexp(t, `^run-\d\d$`, m.RunID)
	list, err := List(filepath.Dir(runs))
	require.NoError(t, err)
	require.Len(t, list, n)
}
