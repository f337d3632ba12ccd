package ops

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/gomlx/compute"
	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/internal/gobackend"
	"github.com/gomlx/compute/shapes"
)

// ulpDiff is the distance in units in the last place between two float32 values (0 when
// both are NaN or equal, including +0 and -0).
func ulpDiff(a, b float32) int64 {
	if a == b || (a != a && b != b) {
		return 0
	}
	if a != a || b != b {
		return math.MaxInt64
	}
	// Map the bit patterns onto a line where adjacent floats differ by one.
	key := func(f float32) int64 {
		u := int64(math.Float32bits(f))
		if u&(1<<31) != 0 {
			return -(u &^ (1 << 31))
		}
		return u
	}
	d := key(a) - key(b)
	if d < 0 {
		d = -d
	}
	return d
}

// float32Inputs returns the test inputs: a dense sweep of [-20, 20], every power of two with
// both signs (from subnormals to the largest), random bit patterns (any exponent), the edges
// of the fast exp's range and the special values.
func float32Inputs() []float32 {
	var xs []float32
	for i := -200000; i <= 200000; i++ {
		xs = append(xs, float32(i)/10000)
	}
	for e := -149; e <= 127; e++ {
		v := float32(math.Ldexp(1, e))
		xs = append(xs, v, -v, v*1.37, -v*1.37)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for range 200000 {
		xs = append(xs, math.Float32frombits(rng.Uint32()))
	}
	for _, v := range []float32{86.99, 87, 87.01, 88.7, 88.8, 103.9, 104, 0.625, 0.62500006, 9, 9.01, 17.5, 44.4} {
		xs = append(xs, v, -v, math.Nextafter32(v, 0), -math.Nextafter32(v, 0))
	}
	return append(xs, 0, float32(math.Copysign(0, -1)), float32(math.Inf(1)), float32(math.Inf(-1)), float32(math.NaN()),
		math.MaxFloat32, -math.MaxFloat32, math.SmallestNonzeroFloat32, -math.SmallestNonzeroFloat32)
}

// TestFloat32TanhLogistic compares the float32 kernels with the correctly rounded float64
// results (what the generic kernels return) on float32Inputs: at most 3 ulp apart for tanh
// and 4 for the logistic, identical for NaN, ±Inf, ±0 and the values the fast path does not
// take.
func TestFloat32TanhLogistic(t *testing.T) {
	xs := float32Inputs()
	got := make([]float32, len(xs))
	want := make([]float32, len(xs))
	for _, tc := range []struct {
		name  string
		fast  func(in, out []float32)
		plain func(in, out []float32)
		ulps  int64
	}{
		{"tanh", tanhFloat32, execTanhGeneric[float32], 3},
		{"logistic", logisticFloat32, execLogisticGeneric[float32], 4},
	} {
		tc.fast(xs, got)
		tc.plain(xs, want)
		var worst int64
		at := -1
		for i := range xs {
			d := ulpDiff(got[i], want[i])
			if d > worst {
				worst, at = d, i
			}
			x := xs[i]
			special := x != x || math.IsInf(float64(x), 0) || x == 0
			if special && math.Float32bits(got[i]) != math.Float32bits(want[i]) && !(x != x && got[i] != got[i]) {
				t.Errorf("%s(%g) = %g, want %g exactly (bits %08x vs %08x)", tc.name, x, got[i], want[i],
					math.Float32bits(got[i]), math.Float32bits(want[i]))
			}
		}
		if worst > tc.ulps {
			t.Errorf("%s(%g) = %g, want %g: %d ulp apart (at most %d)", tc.name, xs[at], got[at], want[at], worst, tc.ulps)
		}
		t.Logf("%s: %d inputs, at most %d ulp from the correctly rounded result", tc.name, len(xs), worst)
	}
}

// TestFloat32TanhLogisticOp runs the ops' executors on random shapes (empty, size-1 axes,
// large) in float32 (the fast kernels, within the ulp bounds above) and float64 (unchanged,
// bit for bit the generic kernels).
func TestFloat32TanhLogisticOp(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for _, op := range []struct {
		opType compute.OpType
		exec   func(*gobackend.Backend, *gobackend.Node, []*gobackend.Buffer, []bool) (*gobackend.Buffer, error)
		plain  func(in, out []float32)
		ulps   int64
	}{
		{compute.OpTypeTanh, execTanh, execTanhGeneric[float32], 3},
		{compute.OpTypeLogistic, execLogistic, execLogisticGeneric[float32], 4},
	} {
		for _, dims := range [][]int{{0}, {1}, {3, 0, 2}, {1, 1, 1}, {7}, {2, 32, 96}, {5, 1, 33}, {1 << 17}} {
			for _, dtype := range []dtypes.DType{dtypes.Float32, dtypes.Float64} {
				in := emptyBuffer(t, shapes.Make(dtype, dims...))
				switch v := in.Flat.(type) {
				case []float32:
					for i := range v {
						v[i] = float32(rng.NormFloat64() * 6)
					}
				case []float64:
					for i := range v {
						v[i] = rng.NormFloat64() * 6
					}
				}
				out, err := op.exec(testBackend(), &gobackend.Node{OpType: op.opType}, []*gobackend.Buffer{in}, []bool{false})
				if err != nil {
					t.Fatalf("%s %s%v: %+v", op.opType, dtype, dims, err)
				}
				switch v := in.Flat.(type) {
				case []float32:
					want := make([]float32, len(v))
					op.plain(v, want)
					for i, w := range want {
						if d := ulpDiff(out.Flat.([]float32)[i], w); d > op.ulps {
							t.Fatalf("%s float32%v: element %d: got %g, want %g (%d ulp)", op.opType, dims, i, out.Flat.([]float32)[i], w, d)
						}
					}
				case []float64:
					want := make([]float64, len(v))
					if op.opType == compute.OpTypeTanh {
						execTanhGeneric(v, want)
					} else {
						execLogisticGeneric(v, want)
					}
					for i, w := range want {
						if out.Flat.([]float64)[i] != w {
							t.Fatalf("%s float64%v: element %d: got %g, want %g", op.opType, dims, i, out.Flat.([]float64)[i], w)
						}
					}
				}
			}
		}
	}
}

// BenchmarkTanhLogistic times the generic (float64 math) and float32 kernels on an LSTM
// step's gate shapes ([2, 32, 32] tanh, [2, 32, 96] sigmoid) and a larger activation
// (benchLoop: wall and CPU time per op).
func BenchmarkTanhLogistic(b *testing.B) {
	rng := rand.New(rand.NewPCG(5, 6))
	for _, n := range []int{2 * 32 * 32, 2 * 32 * 96, 1 << 16} {
		in := make([]float32, n)
		for i := range in {
			in[i] = float32(rng.NormFloat64() * 2)
		}
		out := make([]float32, n)
		for _, k := range []struct {
			name string
			fn   func(in, out []float32)
		}{
			{"tanh/plain", execTanhGeneric[float32]}, {"tanh/float32-scalar", tanhFloat32Scalar}, {"tanh/float32", tanhFloat32},
			{"logistic/plain", execLogisticGeneric[float32]}, {"logistic/float32-scalar", logisticFloat32Scalar}, {"logistic/float32", logisticFloat32},
		} {
			b.Run(k.name+"/"+itoa(n), func(b *testing.B) {
				benchLoop(b, func() { k.fn(in, out) })
			})
		}
	}
}

func itoa(n int) string {
	s := ""
	for {
		s = string(rune('0'+n%10)) + s
		n /= 10
		if n == 0 {
			return s
		}
	}
}
