package fusedops

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/gomlx/compute"
	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/internal/gobackend"
	_ "github.com/gomlx/compute/internal/gobackend/dot" // DotGeneral, the matmul FusedDense builds on
	_ "github.com/gomlx/compute/internal/gobackend/dot/matmul"
	"github.com/gomlx/compute/shapes"
	"github.com/gomlx/compute/support/testutil"
)

// plainDenseAddBias is the bias pass FusedDense ran before row-wise adds: one modulo per
// element. It is the reference the new kernels must match bit for bit.
func plainDenseAddBias[T float32 | float64](output, bias []T) {
	outFeatures := len(bias)
	for i, v := range output {
		output[i] = v + bias[i%outFeatures]
	}
}

// plainDenseBiasActivation is the reference epilogue: the plain bias pass, then the
// activation pass.
func plainDenseBiasActivation[T float32 | float64](backend *gobackend.Backend, output, bias []T, activation compute.ActivationType) {
	if bias != nil && len(output) > 0 {
		plainDenseAddBias(output, bias)
	}
	buf := &gobackend.Buffer{Flat: output}
	fusedDenseApplyActivation[T](backend, buf, activation)
}

var denseActivations = []compute.ActivationType{
	compute.ActivationNone, compute.ActivationRelu, compute.ActivationGelu,
	compute.ActivationSilu, compute.ActivationHardSwish, compute.ActivationTanh,
}

// denseValues returns n values: mostly normal ones of both signs, with zeros of both signs,
// infinities, NaN and values that the bias brings to exactly zero mixed in.
func denseValues[T float32 | float64](rng *rand.Rand, n int) []T {
	out := make([]T, n)
	for i := range out {
		switch rng.IntN(24) {
		case 0:
			out[i] = T(math.Copysign(0, -1))
		case 1:
			out[i] = 0
		case 2:
			out[i] = T(math.Inf(1 - 2*rng.IntN(2)))
		case 3:
			out[i] = T(math.NaN())
		case 4:
			out[i] = -1 // cancels a bias of 1 below
		default:
			out[i] = T(rng.NormFloat64() * 3)
		}
	}
	return out
}

func sameBits[T float32 | float64](a, b T) bool {
	switch a := any(a).(type) {
	case float32:
		return math.Float32bits(a) == math.Float32bits(any(b).(float32))
	default:
		return math.Float64bits(any(a).(float64)) == math.Float64bits(any(b).(float64))
	}
}

// The row-wise bias kernels (fused with ReLU or followed by the activation pass) give the
// plain epilogue's values bit for bit: every activation, float32 and float64, empty outputs,
// one feature, rows that are not a multiple of a vector, special values.
func TestFusedDenseBiasActivation(t *testing.T) {
	backend := newGoBackend(t).(*gobackend.Backend)
	testBiasActivation[float32](t, backend)
	testBiasActivation[float64](t, backend)
}

func testBiasActivation[T float32 | float64](t *testing.T, backend *gobackend.Backend) {
	rng := rand.New(rand.NewPCG(1, 60))
	for trial := range 300 {
		rows := []int{0, 1, 2, 3, 7, 64, 256, 1 + rng.IntN(300)}[trial%8]
		features := []int{1, 2, 3, 16, 17, 32, 64, 1 + rng.IntN(130)}[rng.IntN(8)]
		activation := denseActivations[trial%len(denseActivations)]
		var bias []T
		if trial%7 != 0 {
			bias = denseValues[T](rng, features)
			bias[0] = 1
		}
		want := denseValues[T](rng, rows*features)
		got := slices.Clone(want)
		plainDenseBiasActivation(backend, want, bias, activation)
		var biasBuf *gobackend.Buffer
		if bias != nil {
			biasBuf = &gobackend.Buffer{Flat: bias}
		}
		fusedDenseBiasActivation[T](backend, &gobackend.Buffer{Flat: got}, biasBuf, activation)
		for i := range want {
			if !sameBits(want[i], got[i]) {
				t.Fatalf("%T rows=%d features=%d activation=%s bias=%v: element %d is %v, want %v",
					want[0], rows, features, activation, bias != nil, i, got[i], want[i])
			}
		}
	}
}

// FusedDense nodes (owning the matmul's buffer or copying it, both layouts, with and without
// bias, every activation) equal the plain epilogue applied to the same graph's DotGeneral.
func TestFusedDenseExecutorBias(t *testing.T) {
	backend := newGoBackend(t)
	rng := rand.New(rand.NewPCG(2, 60))
	for trial := range 48 {
		rows, in, out := 1+rng.IntN(70), 1+rng.IntN(40), 1+rng.IntN(70)
		activation := denseActivations[trial%len(denseActivations)]
		layout := []compute.DenseLayout{compute.DenseLayoutInputOutputs, compute.DenseLayoutOutputsInput}[trial/6%2]
		withBias, shared := trial/12%2 == 0, trial/24 == 1
		x := randomMatrix(rng, rows, in)
		w := randomMatrix(rng, in, out)
		contract := 0
		if layout == compute.DenseLayoutOutputsInput {
			w, contract = randomMatrix(rng, out, in), 1
		}
		inputs := []any{x, w}
		if withBias {
			inputs = append(inputs, denseValues[float32](rng, out))
		}
		name := fmt.Sprintf("rows=%d in=%d out=%d activation=%s layout=%d bias=%v matmul shared=%v", rows, in, out, activation, layout, withBias, shared)
		outs, err := testutil.Exec(backend, inputs, func(f compute.Function, p []compute.Value) ([]compute.Value, error) {
			var bias compute.Value
			if withBias {
				bias = p[2]
			}
			dense, err := f.FusedDense(p[0], p[1], bias, compute.DenseConfig{Activation: activation, WeightLayout: layout})
			if err != nil {
				return nil, err
			}
			if !shared {
				return []compute.Value{dense}, nil
			}
			dot, err := f.DotGeneral(p[0], []int{1}, nil, p[1], []int{contract}, nil, compute.DotGeneralConfig{})
			return []compute.Value{dense, dot}, err
		})
		if err != nil {
			t.Fatalf("%s: %+v", name, err)
		}
		dots, err := testutil.Exec(backend, inputs[:2], func(f compute.Function, p []compute.Value) ([]compute.Value, error) {
			dot, err := f.DotGeneral(p[0], []int{1}, nil, p[1], []int{contract}, nil, compute.DotGeneralConfig{})
			return []compute.Value{dot}, err
		})
		if err != nil {
			t.Fatalf("%s: %+v", name, err)
		}
		want := slices.Concat(dots[0].([][]float32)...)
		var bias []float32
		if withBias {
			bias = inputs[2].([]float32)
		}
		plainDenseBiasActivation(backend.(*gobackend.Backend), want, bias, activation)
		got := slices.Concat(outs[0].([][]float32)...)
		for i := range want {
			if !sameBits(want[i], got[i]) {
				t.Fatalf("%s: element %d is %v, want %v", name, i, got[i], want[i])
			}
		}
	}
}

func randomMatrix(rng *rand.Rand, rows, cols int) [][]float32 {
	m := make([][]float32, rows)
	for i := range m {
		m[i] = make([]float32, cols)
		for j := range m[i] {
			m[i][j] = float32(rng.NormFloat64())
		}
	}
	return m
}

// BenchmarkFusedDenseBias times the epilogue of FusedDense (bias + activation on the matmul's
// output) on an MLP's layer shapes: plain (a modulo per element, then the activation pass)
// against the row-wise kernels; wall and CPU ns/op.
func BenchmarkFusedDenseBias(b *testing.B) {
	backend, err := gobackend.New("")
	if err != nil {
		b.Fatal(err)
	}
	gb := backend.(*gobackend.Backend)
	for _, c := range []struct {
		rows, features int
		activation     compute.ActivationType
	}{
		{256, 64, compute.ActivationRelu},
		{256, 32, compute.ActivationRelu},
		{256, 2, compute.ActivationNone},
		{64, 64, compute.ActivationRelu},
		{4096, 128, compute.ActivationNone},
	} {
		rng := rand.New(rand.NewPCG(3, 60))
		out := make([]float32, c.rows*c.features)
		for i := range out {
			out[i] = float32(rng.NormFloat64())
		}
		bias := make([]float32, c.features)
		for i := range bias {
			bias[i] = float32(rng.NormFloat64()) * 0.1
		}
		work := make([]float32, len(out))
		shape := shapes.Make(dtypes.Float32, c.rows, c.features)
		for _, impl := range []string{"plain", "rows"} {
			b.Run(fmt.Sprintf("%s/%s/%s", shape, c.activation, impl), func(b *testing.B) {
				start := cpuNanos()
				for b.Loop() {
					copy(work, out)
					if impl == "plain" {
						plainDenseBiasActivation(gb, work, bias, c.activation)
					} else {
						fusedDenseBiasActivation[float32](gb, &gobackend.Buffer{Flat: work}, &gobackend.Buffer{Flat: bias}, c.activation)
					}
				}
				if end := cpuNanos(); start > 0 && b.N > 0 {
					b.ReportMetric(float64(end-start)/float64(b.N), "cpu-ns/op")
				}
			})
		}
	}
}
