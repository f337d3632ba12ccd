package models_test

import (
	"context"
	"syscall"
	"testing"
	"time"

	"github.com/biopipe/biopipe/models"
	_ "github.com/biopipe/biopipe/models/cnn"
	_ "github.com/biopipe/biopipe/models/cnn1d"
	"github.com/biopipe/biopipe/models/internal/synth"
	_ "github.com/biopipe/biopipe/models/lstm"
)

// BenchmarkTrainLoop times whole epochs of models.Train (batches, steps, validation,
// callbacks) for the shapes of three example configs: quickstart's mlp (455 rows of 30
// features, batch 64), digits-cnn's cnn (1,257 8x8 images, batch 32) and eeg-lstm's lstm
// (sequences of 128 samples x 4 channels, batch 32), each with a validation split, with and
// without a resume state folder (a checkpoint at every epoch end, as the train stage has).
// Graph compilation is amortised over b.N epochs. Reported: ns/op (one epoch), CPU ms per
// epoch (user+system, robust to a loaded machine) and examples per second.
//
//	GOEXPERIMENT=simd go test -run '^$' -bench TrainLoop -benchtime 20x ./models/
func BenchmarkTrainLoop(b *testing.B) {
	type tc struct {
		name       string
		family     string
		params     map[string]any
		train, val *models.Data
		batch      int
	}
	digits := func(n int, seed uint64) *models.Data {
		d := synth.Blobs(n, 64, 1, seed)
		d.X.Shape = []int{8, 8, 1}
		return d
	}
	cases := []tc{
		{"mlp", "mlp", map[string]any{"hidden": []any{64, 32}}, synth.Blobs(455, 30, 1, 1), synth.Blobs(57, 30, 1, 2), 64},
		{"cnn", "cnn", map[string]any{"channels": []any{32, 64}, "global_pool": "flatten", "hidden": []any{64}, "dropout": 0.1},
			digits(1257, 1), digits(180, 2), 32},
		{"lstm", "lstm", map[string]any{"channels": []any{16, 32}, "kernel_size": 7, "pool_size": 4, "units": 32, "bidirectional": true},
			synth.Sines(240, 128, 4, 0.5, 1), synth.Sines(48, 128, 4, 0.5, 2), 32},
	}
	for _, c := range cases {
		for _, state := range []bool{false, true} {
			name := c.name
			if state {
				name += "/resume-state"
			}
			b.Run(name, func(b *testing.B) {
				opts := models.TrainOptions{
					Family: c.family, Params: c.params, Train: c.train, Val: c.val,
					Task: models.Classification, Classes: []string{"a", "b"},
					Epochs: b.N, BatchSize: c.batch, Seed: 1,
				}
				if state {
					opts.StateDir = b.TempDir()
				}
				cpu0 := cpuTime(b)
				b.ResetTimer()
				if _, err := models.Train(context.Background(), opts); err != nil {
					b.Fatal(err)
				}
				b.StopTimer()
				cpu := cpuTime(b) - cpu0
				b.ReportMetric(float64(cpu.Milliseconds())/float64(b.N), "cpu-ms/epoch")
				b.ReportMetric(float64(c.train.Len()*b.N)/b.Elapsed().Seconds(), "examples/s")
			})
		}
	}
}

// cpuTime is the process's user+system CPU time so far.
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkBucketedEpoch times epochs of a cnn1d on length-skewed sequences (about half of
// 512 rows fit 64 samples, a quarter 128, an eighth 256, the rest 512; 4 channels; batch
// 32; validation on 128 rows), padded to 512 (every batch [32, 512, 4]) against bucketed
// (transform.encode_sequence buckets: [64, 128, 256, 512]: batches of one bucket, cut to its
// length). Same data, same model; the bucketed run compiles one graph per bucket length.
//
//	GOEXPERIMENT=simd go test -run '^$' -bench BucketedEpoch -benchtime 5x -count 3 ./models/
func BenchmarkBucketedEpoch(b *testing.B) {
	buckets := []int{64, 128, 256, 512}
	bucketed, bval := synth.SkewedSines(512, buckets, 4, 0.3, 1), synth.SkewedSines(128, buckets, 4, 0.3, 2)
	unbucket := func(d *models.Data) *models.Data {
		out := *d
		x := *d.X
		x.Lengths = nil
		out.X = &x
		return &out
	}
	padded, pval := unbucket(bucketed), unbucket(bval)
	for _, c := range []struct {
		name       string
		train, val *models.Data
	}{{"padded", padded, pval}, {"bucketed", bucketed, bval}} {
		b.Run(c.name, func(b *testing.B) {
			opts := models.TrainOptions{
				Family: "cnn1d", Params: map[string]any{"channels": []any{16, 32}, "kernel_size": 7},
				Train: c.train, Val: c.val, Task: models.Classification, Classes: []string{"slow", "fast"},
				Epochs: b.N, BatchSize: 32, Seed: 1,
			}
			cpu0 := cpuTime(b)
			b.ResetTimer()
			if _, err := models.Train(context.Background(), opts); err != nil {
				b.Fatal(err)
			}
			b.StopTimer()
			b.ReportMetric(float64((cpuTime(b)-cpu0).Milliseconds())/float64(b.N), "cpu-ms/epoch")
		})
	}
}
