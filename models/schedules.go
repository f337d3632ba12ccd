package models

import (
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/gomlx/gomlx/ml/train/optimizer"
)

// Learning-rate schedule names.
const (
	SchedConstant    = "constant"
	SchedStep        = "step"
	SchedExponential = "exponential"
	SchedCosine      = "cosine"
	SchedPlateau     = "plateau"
)

// ScheduleNames lists the valid schedule names.
var ScheduleNames = []string{SchedConstant, SchedStep, SchedExponential, SchedCosine, SchedPlateau}

// Schedule is a learning-rate schedule over epochs, evaluated at every step (fractional
// epochs), after an optional linear warm-up. The zero value (or Name "constant" without
// warm-up) keeps the optimizer's learning rate.
//
//   - step: lr · gamma^⌊t/StepEpochs⌋ (gamma default 0.1)
//   - exponential: lr · gamma^t (gamma per epoch, default 0.95)
//   - cosine: MinLR + (lr−MinLR)(1+cos(π·tc/P))/2 over cycles of PeriodEpochs (default: the
//     epochs after warm-up, one cycle), each PeriodMult times longer than the last; a new
//     cycle restarts at lr (SGDR, Loshchilov & Hutter 2017)
//   - plateau: multiply by gamma (default 0.1, floor MinLR) when the monitored metric (the
//     early-stopping monitor, or the training loss without validation rows) has not improved
//     for Patience epochs
//
// t counts epochs after warm-up. WarmupEpochs raises the rate linearly from lr/steps to lr
// over its first WarmupEpochs epochs.
type Schedule struct {
	Name         string  `json:"name"`
	WarmupEpochs int     `json:"warmup_epochs,omitempty"`
	StepEpochs   int     `json:"step_epochs,omitempty"`
	Gamma        float64 `json:"gamma,omitempty"`
	PeriodEpochs int     `json:"period_epochs,omitempty"`
	PeriodMult   float64 `json:"period_mult,omitempty"`
	MinLR        float64 `json:"min_lr,omitempty"`
	Patience     int     `json:"patience,omitempty"`

	// The learning-rate range test (FindLR): lr · (rangeMax/lr)^(step/(rangeSteps−1)).
	rangeMax   float64
	rangeSteps int
}

// schedRange is FindLR's geometric ramp; not a user choice.
const schedRange = "lr_range"

// Active tells a schedule that changes the learning rate.
func (s Schedule) Active() bool {
	return (s.Name != "" && s.Name != SchedConstant) || s.WarmupEpochs > 0
}

func (s Schedule) check(epochs int) error {
	if s.Name == schedRange && s.rangeSteps > 1 && s.rangeMax > 0 {
		return nil
	}
	if s.Name != "" && !slices.Contains(ScheduleNames, s.Name) {
		return fmt.Errorf("unknown lr_schedule.name %q (valid: %s)", s.Name, strings.Join(ScheduleNames, ", "))
	}
	switch {
	case s.WarmupEpochs < 0:
		return fmt.Errorf("lr_schedule.warmup_epochs must be >= 0, got %d", s.WarmupEpochs)
	case s.WarmupEpochs >= epochs && s.Active() && s.Name != "" && s.Name != SchedConstant:
		return fmt.Errorf("lr_schedule.warmup_epochs (%d) leaves no epochs for the %s schedule (epochs %d)", s.WarmupEpochs, s.Name, epochs)
	case s.Gamma < 0 || s.Gamma > 1:
		return fmt.Errorf("lr_schedule.gamma must be in (0, 1], got %v", s.Gamma)
	case s.Name == SchedStep && s.StepEpochs < 1:
		return fmt.Errorf("lr_schedule.step_epochs must be >= 1 for the step schedule, got %d", s.StepEpochs)
	case s.PeriodEpochs < 0:
		return fmt.Errorf("lr_schedule.period_epochs must be >= 0, got %d", s.PeriodEpochs)
	case s.PeriodMult != 0 && s.PeriodMult < 1:
		return fmt.Errorf("lr_schedule.period_mult must be >= 1, got %v", s.PeriodMult)
	case s.MinLR < 0:
		return fmt.Errorf("lr_schedule.min_lr must be >= 0, got %v", s.MinLR)
	case s.Name == SchedPlateau && s.Patience < 1:
		return fmt.Errorf("lr_schedule.patience must be >= 1 for the plateau schedule, got %d", s.Patience)
	}
	return nil
}

func (s Schedule) gamma() float64 {
	if s.Gamma > 0 {
		return s.Gamma
	}
	if s.Name == SchedExponential {
		return 0.95
	}
	return 0.1
}

// scheduler sets the optimizer's learning-rate variable before each step.
type scheduler struct {
	s              Schedule
	base           float64
	epochs         int
	stepsPerEpoch  int
	lrVar          *model.Variable
	current        float64 // the rate set for the last step
	plateauFactor  float64 // product of the plateau reductions so far
	best           float64
	sinceBest      int
	plateauStarted bool
}

// newScheduler returns nil for a constant rate (the variable is left alone, as before
// schedules existed). It creates the optimizer's learning-rate variable so that the first
// step already runs at the scheduled rate.
func newScheduler(store *model.Store, s Schedule, base float64, epochs, stepsPerEpoch int) (*scheduler, error) {
	if err := s.check(epochs); err != nil {
		return nil, err
	}
	if !s.Active() {
		return nil, nil
	}
	sc := &scheduler{s: s, base: base, epochs: epochs, stepsPerEpoch: max(stepsPerEpoch, 1), plateauFactor: 1, best: math.Inf(1)}
	if err := catch(func() {
		sc.lrVar = optimizer.LearningRateVarWithValue(store.RootScope(), dtypes.Float32, base)
	}); err != nil {
		return nil, fmt.Errorf("lr_schedule: %w", err)
	}
	return sc, nil
}

// Rate is the learning rate at step (0-based) of epoch (1-based).
func (sc *scheduler) Rate(epoch, step int) float64 {
	s := sc.s
	spe := float64(sc.stepsPerEpoch)
	global := float64(epoch-1)*spe + float64(step)
	if w := float64(s.WarmupEpochs) * spe; global < w {
		return sc.base * (global + 1) / w
	}
	t := (global - float64(s.WarmupEpochs)*spe) / spe // epochs after warm-up
	switch s.Name {
	case schedRange:
		return sc.base * math.Pow(s.rangeMax/sc.base, math.Min(global/float64(s.rangeSteps-1), 1))
	case SchedStep:
		return sc.base * math.Pow(s.gamma(), math.Floor(t/float64(s.StepEpochs)))
	case SchedExponential:
		return sc.base * math.Pow(s.gamma(), t)
	case SchedCosine:
		period := float64(s.PeriodEpochs)
		if period == 0 {
			period = float64(sc.epochs - s.WarmupEpochs)
		}
		mult := s.PeriodMult
		if mult == 0 {
			mult = 1
		}
		for t >= period {
			t -= period
			period *= mult
		}
		return s.MinLR + (sc.base-s.MinLR)*(1+math.Cos(math.Pi*t/period))/2
	case SchedPlateau:
		return math.Max(sc.base*sc.plateauFactor, math.Min(s.MinLR, sc.base))
	}
	return sc.base
}

// beforeStep sets the variable to the step's rate when it changed.
func (sc *scheduler) beforeStep(epoch, step int) error {
	if sc == nil {
		return nil
	}
	lr := sc.Rate(epoch, step)
	if lr == sc.current {
		return nil
	}
	sc.current = lr
	t := tensors.FromScalar(float32(lr))
	return catch(func() {
		if err := sc.lrVar.SetValue(t); err != nil {
			panic(err)
		}
	})
}

// endEpoch feeds the plateau schedule the epoch's monitored value (lower is better) and
// returns whether it reduced the rate.
func (sc *scheduler) endEpoch(epoch int, monitored float64) bool {
	if sc == nil || sc.s.Name != SchedPlateau || epoch <= sc.s.WarmupEpochs || math.IsNaN(monitored) {
		return false
	}
	if !sc.plateauStarted || monitored < sc.best {
		sc.plateauStarted = true
		sc.best, sc.sinceBest = monitored, 0
		return false
	}
	sc.sinceBest++
	if sc.sinceBest < sc.s.Patience {
		return false
	}
	sc.sinceBest = 0
	sc.plateauFactor *= sc.s.gamma()
	return true
}

// record notes the epoch's (last step's) rate in rec and feeds the plateau schedule the
// monitored metric: the early-stopping monitor, or the training loss without validation.
func (sc *scheduler) record(rec *EpochRecord, monitor string, hasVal bool) {
	if sc == nil {
		return
	}
	rec.LearningRate = ptr(sc.current)
	v := rec.TrainLoss
	if hasVal {
		v = rec.monitored(monitor)
		if higherIsBetter(monitor) {
			v = -v
		}
	}
	sc.endEpoch(rec.Epoch, v)
}

// dataSteps is the number of batches of an epoch over d: stepsPerEpoch, or for bucketed
// sequences the batches of each length.
func dataSteps(d *Data, batch int) int {
	if d.Len() == 0 || d.X.Lengths == nil || batch < 1 {
		return stepsPerEpoch(d.Len(), batch)
	}
	counts := map[int]int{}
	for _, l := range d.X.Lengths {
		counts[l]++
	}
	n := 0
	for _, c := range counts {
		n += stepsPerEpoch(c, batch)
	}
	return n
}

func stepsPerEpoch(n, batch int) int {
	if batch < 1 {
		return 1
	}
	return (n + batch - 1) / batch
}

// rateOr is the rate of the last step, or base without a schedule.
func (sc *scheduler) rateOr(base float64) float64 {
	if sc == nil {
		return base
	}
	return sc.current
}
