package models

import (
	"math"
	"testing"

	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/gomlx/gomlx/ml/model/initializer"
	"github.com/gomlx/gomlx/ml/train/optimizer"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// quadraticSteps runs steps of opt on loss = Σ (w - target)² from w = 0 and returns w
// after each step.
func quadraticSteps(t *testing.T, opt optimizer.Interface, target []float32, steps int) [][]float32 {
	t.Helper()
	backend, err := NewBackend("go")
	require.NoError(t, err)
	store := model.NewStore()
	exec, err := model.NewExec(backend, store, func(scope *model.Scope, tgt *graph.Node) *graph.Node {
		w := scope.In("model").WithInitializer(initializer.Zero).VariableWithShape("w", tgt.Shape())
		loss := graph.ReduceAllSum(graph.Square(graph.Sub(w.NodeValue(tgt.Graph()), tgt)))
		opt.UpdateGraph(scope, tgt.Graph(), loss)
		return loss
	})
	require.NoError(t, err)
	var out [][]float32
	for range steps {
		_, err := exec.Call(tensors.FromFlatDataAndDimensions(target, len(target)))
		require.NoError(t, err)
		v := store.GetVariable("/model/w")
		require.NotNil(t, v)
		out = append(out, tensors.MustCopyFlatData[float32](v.MustValue()))
	}
	return out
}

func TestMomentumSGDMatchesHandComputation(t *testing.T) {
	for _, nesterov := range []bool{false, true} {
		lr, mu := 0.1, 0.9
		got := quadraticSteps(t, &momentumSGD{lr: lr, momentum: mu, nesterov: nesterov}, []float32{3}, 4)
		w, b := 0.0, 0.0
		for i := range 4 {
			g := 2 * (w - 3)
			b = mu*b + g
			step := b
			if nesterov {
				step = g + mu*b
			}
			w -= lr * step
			assert.InDelta(t, w, float64(got[i][0]), 1e-5, "nesterov=%v step %d", nesterov, i+1)
		}
	}
}

func TestAdagradMatchesHandComputation(t *testing.T) {
	got := quadraticSteps(t, &adagrad{lr: 0.5, initial: 0.1, epsilon: 1e-7}, []float32{3, -1}, 5)
	w := []float64{0, 0}
	a := []float64{0.1, 0.1}
	tgt := []float64{3, -1}
	for i := range 5 {
		for j := range w {
			g := 2 * (w[j] - tgt[j])
			a[j] += g * g
			w[j] -= 0.5 * g / (math.Sqrt(a[j]) + 1e-7)
			assert.InDelta(t, w[j], float64(got[i][j]), 1e-4, "step %d weight %d", i+1, j)
		}
	}
}

func TestClipGradients(t *testing.T) {
	backend, err := NewBackend("go")
	require.NoError(t, err)
	cases := []struct {
		name        string
		norm, value float64
		want        []float32
	}{
		{"norm", 1, 0, []float32{0.6, 0.8, 0}},    // |(3,4,0)| = 5 -> scaled to 1
		{"norm above", 10, 0, []float32{3, 4, 0}}, // already within the norm
		{"value", 0, 2, []float32{2, 2, 0}},       // each clipped
		{"value then norm", 2, 2, []float32{1.4142135, 1.4142135, 0}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			out, err := graph.ExecOnceN(backend, func(g *graph.Graph) []*graph.Node {
				a := graph.Const(g, []float32{3, 4})
				b := graph.Const(g, []float32{0})
				return ClipGradients([]*graph.Node{a, b}, c.norm, c.value)
			})
			require.NoError(t, err)
			got := append(tensors.MustCopyFlatData[float32](out[0]), tensors.MustCopyFlatData[float32](out[1])...)
			assert.InDeltaSlice(t, c.want, got, 1e-5)
		})
	}
}

func TestOptimizerConfigErrors(t *testing.T) {
	cases := []struct {
		c    OptimizerConfig
		want string
	}{
		{OptimizerConfig{Name: "adm"}, `did you mean "adam"`},
		{OptimizerConfig{Name: "adam", Momentum: 0.9}, "sgd only"},
		{OptimizerConfig{Name: "sgd", Nesterov: true}, "needs optimizer.momentum"},
		{OptimizerConfig{Name: "sgd", Momentum: 1}, "[0, 1)"},
		{OptimizerConfig{Name: "rmsprop", ClipNorm: -1}, "clip_norm"},
	}
	for _, c := range cases {
		_, err := newOptimizer(model.NewStore(), c.c)
		assert.ErrorContains(t, err, c.want)
	}
}

func TestScheduleRates(t *testing.T) {
	const base, epochs, spe = 0.1, 20, 4
	rate := func(s Schedule, epoch, step int) float64 {
		sc, err := newScheduler(model.NewStore(), s, base, epochs, spe)
		require.NoError(t, err)
		return sc.Rate(epoch, step)
	}
	cases := []struct {
		name        string
		s           Schedule
		epoch, step int
		want        float64
	}{
		{"warmup first step", Schedule{Name: SchedConstant, WarmupEpochs: 2}, 1, 0, base / 8},
		{"warmup done", Schedule{Name: SchedConstant, WarmupEpochs: 2}, 3, 0, base},
		{"step before", Schedule{Name: SchedStep, StepEpochs: 5}, 5, 3, base},
		{"step after", Schedule{Name: SchedStep, StepEpochs: 5}, 6, 0, base * 0.1},
		{"step gamma", Schedule{Name: SchedStep, StepEpochs: 5, Gamma: 0.5}, 11, 0, base * 0.25},
		{"exponential", Schedule{Name: SchedExponential, Gamma: 0.5}, 3, 2, base * math.Pow(0.5, 2.5)},
		{"cosine start", Schedule{Name: SchedCosine}, 1, 0, base},
		{"cosine middle", Schedule{Name: SchedCosine, MinLR: 0.02}, 11, 0, 0.06},
		{"cosine restart", Schedule{Name: SchedCosine, PeriodEpochs: 4}, 5, 0, base},
		{"cosine longer second cycle", Schedule{Name: SchedCosine, PeriodEpochs: 4, PeriodMult: 2}, 9, 0, base / 2},
		{"warmup then step", Schedule{Name: SchedStep, StepEpochs: 2, WarmupEpochs: 1}, 4, 0, base * 0.1},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			assert.InDelta(t, c.want, rate(c.s, c.epoch, c.step), 1e-12)
		})
	}
}

func TestPlateauSchedule(t *testing.T) {
	sc, err := newScheduler(model.NewStore(), Schedule{Name: SchedPlateau, Patience: 2, MinLR: 0.004}, 0.1, 30, 1)
	require.NoError(t, err)
	losses := []float64{1, 0.9, 0.95, 0.92, 0.91, 0.93, 0.94, 0.8, 0.85, 0.86, 0.9, 0.9, 0.9, 0.9}
	var rates []float64
	for i, l := range losses {
		sc.endEpoch(i+1, l)
		rates = append(rates, sc.Rate(i+2, 0))
	}
	want := []float64{0.1, 0.1, 0.1, 0.01, 0.01, 0.001, 0.001, 0.001, 0.001, 0.0001, 0.0001, 0.00001, 0.00001, 0.000001}
	for i := range want {
		assert.InDelta(t, math.Max(want[i], 0.004), rates[i], 1e-12, "after epoch %d", i+1)
	}
	_, err = newScheduler(model.NewStore(), Schedule{Name: SchedPlateau}, 0.1, 30, 1)
	assert.ErrorContains(t, err, "patience")
	_, err = newScheduler(model.NewStore(), Schedule{Name: "cosin"}, 0.1, 30, 1)
	assert.ErrorContains(t, err, "unknown lr_schedule.name")
}
