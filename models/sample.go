package models

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"

	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"

	"github.com/biopipe/biopipe/dataset"
)

// Sampler draws new examples from a generative network: the state starts as standard
// normal noise of NoiseShape per example and Step is applied Steps times, with t counting
// down from Steps-1 to 0; the last state is the sample [B, InputShape...].
//
// All randomness comes from the host (a seeded PCG), so the same seed gives the same
// samples bit for bit on the go backend.
type Sampler struct {
	// NoiseShape is the per-example shape of the initial state: the latent code of a GAN or
	// VAE, the input shape for diffusion.
	NoiseShape []int
	// Steps is the number of Step calls (1 for a GAN or VAE decoder, T for diffusion).
	Steps int
	// StepNoise: every step also gets fresh standard normal noise of the input's shape
	// (ancestral sampling).
	StepNoise bool
	// Conditional: the model is class-conditional (Spec.NumClasses classes); Step gets the
	// labels of the examples to draw.
	Conditional bool
	// Step builds one step in an inference graph: state float32 [B, ...], t an int32
	// scalar (Steps-1 down to 0), labels int32 [B] class indices (nil unless Conditional)
	// and noise float32 [B, InputShape...] (nil without
	// StepNoise). Networks live under scope (the "model" scope, as for Forward).
	Step func(scope *model.Scope, state, t, labels, noise *graph.Node) *graph.Node
}

// sampleChunk is the number of examples per sampling call.
const sampleChunk = 250

// CanSample reports whether the model is generative (has a Sampler).
func (t *Trained) CanSample() bool { return t.net.Sampler != nil }

func (t *Trained) conditional() bool {
	return t.net.Sampler != nil && t.net.Sampler.Conditional && t.spec.NumClasses > 0
}

// Conditional reports whether the model draws class-conditional samples; Classes names
// the classes.
func (t *Trained) Conditional() bool { return t.conditional() }

func (t *Trained) samplerExec() (*model.Exec, error) {
	if t.sample != nil {
		return t.sample, nil
	}
	s := t.net.Sampler
	cond := t.conditional()
	e, err := model.NewExec(t.backend, t.store, func(scope *model.Scope, inputs []*graph.Node) []*graph.Node {
		state, step := inputs[0], inputs[1]
		var labels, noise *graph.Node
		rest := inputs[2:]
		if cond {
			labels, rest = rest[0], rest[1:]
		}
		if s.StepNoise {
			noise = rest[0]
		}
		return []*graph.Node{s.Step(scope.In(modelScope), state, step, labels, noise)}
	})
	if err != nil {
		return nil, err
	}
	e.SetMaxCache(8)
	t.sample = e
	return e, nil
}

// Sample draws n examples with the given seed. labels (class indices, one per example)
// condition a class-conditional model and must be nil for an unconditional one; nil for
// a conditional model cycles through the classes (0, 1, ..., K-1, 0, ...). The result has
// the model's input shape.
func (t *Trained) Sample(ctx context.Context, n int, labels []int, seed uint64) (*dataset.Matrix, error) {
	s := t.net.Sampler
	if s == nil {
		return nil, fmt.Errorf("model %q is not generative: it cannot sample", t.card.Family)
	}
	if n < 1 {
		return nil, fmt.Errorf("sample: n must be at least 1, got %d", n)
	}
	rng := rand.New(rand.NewPCG(seed, 0x73616d706c65)) // "sample"
	noise := &dataset.Matrix{N: n, Shape: slices.Clone(s.NoiseShape), X: normals(rng, n*dataset.TensorSize(s.NoiseShape))}
	return t.sampleFrom(ctx, noise, labels, rng)
}

// SampleFrom runs the sampler from the given initial states (rows of the sampler's noise
// shape: a VAE's or GAN's latent codes, e.g. an interpolation between two codes). Step
// noise, for samplers that use it, comes from seed. labels are as for Sample.
func (t *Trained) SampleFrom(ctx context.Context, init *dataset.Matrix, labels []int, seed uint64) (*dataset.Matrix, error) {
	s := t.net.Sampler
	if s == nil {
		return nil, fmt.Errorf("model %q is not generative: it cannot sample", t.card.Family)
	}
	if init == nil || init.N < 1 || dataset.TensorSize(init.Shape) != dataset.TensorSize(s.NoiseShape) || len(init.X) != init.N*dataset.TensorSize(s.NoiseShape) {
		return nil, fmt.Errorf("sample: initial states must be rows of shape %v", s.NoiseShape)
	}
	return t.sampleFrom(ctx, init, labels, rand.New(rand.NewPCG(seed, 0x73616d706c65)))
}

func (t *Trained) sampleFrom(ctx context.Context, init *dataset.Matrix, labels []int, rng *rand.Rand) (*dataset.Matrix, error) {
	s := t.net.Sampler
	n := init.N
	if t.conditional() {
		if labels == nil {
			labels = make([]int, n)
			for i := range labels {
				labels[i] = i % t.spec.NumClasses
			}
		}
		if len(labels) != n {
			return nil, fmt.Errorf("sample: %d labels for %d samples", len(labels), n)
		}
		for i, c := range labels {
			if c < 0 || c >= t.spec.NumClasses {
				return nil, fmt.Errorf("sample: label %d of sample %d is out of range (%d classes)", c, i, t.spec.NumClasses)
			}
		}
	} else if labels != nil {
		return nil, fmt.Errorf("sample: model %q is not class-conditional: give no labels", t.card.Family)
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	e, err := t.samplerExec()
	if err != nil {
		return nil, err
	}
	size := dataset.TensorSize(t.spec.InputShape)
	noiseSize := dataset.TensorSize(s.NoiseShape)
	out := &dataset.Matrix{N: n, Shape: slices.Clone(t.spec.InputShape), X: make([]float32, 0, n*size)}
	steps := max(s.Steps, 1)
	for lo := 0; lo < n; lo += sampleChunk {
		hi := min(lo+sampleChunk, n)
		b := hi - lo
		state := tensors.FromFlatDataAndDimensions(slices.Clone(init.X[lo*noiseSize:hi*noiseSize]), append([]int{b}, s.NoiseShape...)...)
		var lab *tensors.Tensor
		if t.conditional() {
			l := make([]int32, b)
			for i := range l {
				l[i] = int32(labels[lo+i])
			}
			lab = tensors.FromFlatDataAndDimensions(l, b)
		}
		for k := steps - 1; k >= 0; k-- {
			if err := ctx.Err(); err != nil {
				_ = state.FinalizeAll()
				return nil, err
			}
			args := []any{state, tensors.FromScalar(int32(k))}
			if lab != nil {
				args = append(args, lab)
			}
			if s.StepNoise {
				args = append(args, tensors.FromFlatDataAndDimensions(normals(rng, b*size), append([]int{b}, t.spec.InputShape...)...))
			}
			outs, err := call(e, args...)
			for _, a := range args[1:] {
				if a != lab {
					_ = a.(*tensors.Tensor).FinalizeAll()
				}
			}
			_ = state.FinalizeAll()
			if err != nil {
				return nil, fmt.Errorf("sample: step %d: %w", k, err)
			}
			state = outs[0]
		}
		vals, err := tensors.CopyFlatData[float32](state)
		_ = state.FinalizeAll()
		if lab != nil {
			_ = lab.FinalizeAll()
		}
		if err != nil {
			return nil, fmt.Errorf("sample: %w", err)
		}
		if len(vals) != b*size {
			return nil, fmt.Errorf("sample: the sampler returned %d values for %d examples of shape %v", len(vals), b, t.spec.InputShape)
		}
		out.X = append(out.X, vals...)
	}
	return out, nil
}

// normals returns n standard normal float32 values.
func normals(rng *rand.Rand, n int) []float32 {
	v := make([]float32, n)
	for i := range v {
		v[i] = float32(rng.NormFloat64())
	}
	return v
}
