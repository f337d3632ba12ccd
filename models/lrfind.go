package models

import (
	"context"
	"fmt"
	"math"
)

// RangeTest configures the learning-rate range test (Smith 2017, "Cyclical learning rates";
// fastai's lr_find): train from the initial weights for Steps mini-batches while the rate
// grows geometrically from MinLR to MaxLR, recording the loss at each step, and stop early
// when the smoothed loss exceeds Diverge times its best.
type RangeTest struct {
	MinLR, MaxLR float64
	Steps        int
	Smoothing    float64 // exponential moving average weight of past losses (0.98 when 0)
	Diverge      float64 // stop when the smoothed loss > Diverge x its minimum (4 when 0)
}

// RangePoint is one step of the range test.
type RangePoint struct {
	LR       float64 `json:"lr"`
	Loss     float64 `json:"loss"`
	Smoothed float64 `json:"smoothed"` // bias-corrected moving average
}

// RangeResult is the range test's curve and suggestions.
type RangeResult struct {
	Points []RangePoint `json:"points"`
	// Steepest is the rate where the smoothed loss falls fastest (per log-rate), before its
	// minimum: a good learning rate. MinLoss is the rate of the smallest smoothed loss; a
	// tenth of it is the other usual choice.
	Steepest float64 `json:"steepest"`
	MinLoss  float64 `json:"min_loss"`
	Diverged bool    `json:"diverged"`
}

// FindLR runs the range test with opts' model, data, optimizer and seed (validation,
// early stopping, schedules, callbacks and the artifact folder are not used).
func FindLR(ctx context.Context, opts TrainOptions, rt RangeTest) (*RangeResult, error) {
	if !(rt.MinLR > 0) || !(rt.MaxLR > rt.MinLR) {
		return nil, fmt.Errorf("lr-find: need 0 < min (%v) < max (%v)", rt.MinLR, rt.MaxLR)
	}
	if rt.Steps < 2 {
		return nil, fmt.Errorf("lr-find: need at least 2 steps, got %d", rt.Steps)
	}
	if rt.Smoothing == 0 {
		rt.Smoothing = 0.98
	}
	if rt.Diverge == 0 {
		rt.Diverge = 4
	}
	if opts.BatchSize < 1 || opts.Train.Len() == 0 {
		return nil, fmt.Errorf("lr-find: no training rows or batch size %d", opts.BatchSize)
	}
	spe := dataSteps(opts.Train, opts.BatchSize)
	opts.Val, opts.OutDir, opts.StateDir = nil, "", ""
	opts.Callbacks = Callbacks{}
	opts.EarlyStopping = EarlyStopping{}
	opts.Epochs = (rt.Steps + spe - 1) / spe
	opts.Optimizer.LearningRate = rt.MinLR
	opts.Schedule = Schedule{Name: schedRange, rangeMax: rt.MaxLR, rangeSteps: rt.Steps}
	res := &RangeResult{}
	var avg float64
	best := math.Inf(1)
	opts.onStep = func(lr, loss float64) bool {
		if len(res.Points) >= rt.Steps {
			return false
		}
		if math.IsNaN(loss) || math.IsInf(loss, 0) {
			res.Diverged = true
			return false
		}
		avg = rt.Smoothing*avg + (1-rt.Smoothing)*loss
		sm := avg / (1 - math.Pow(rt.Smoothing, float64(len(res.Points)+1)))
		res.Points = append(res.Points, RangePoint{LR: lr, Loss: loss, Smoothed: sm})
		best = math.Min(best, sm)
		if len(res.Points) > 1 && sm > rt.Diverge*best {
			res.Diverged = true
			return false
		}
		return true
	}
	if _, err := Train(ctx, opts); err != nil {
		return nil, err
	}
	if len(res.Points) == 0 {
		return nil, fmt.Errorf("lr-find: the loss was not finite at the first step (lr %v)", rt.MinLR)
	}
	res.suggest()
	return res, nil
}

// suggest finds the minimum of the smoothed loss and the steepest fall before it: the
// slope per log-rate over a window of a twentieth of the points, skipping the first tenth
// (where the moving average is still settling).
func (r *RangeResult) suggest() {
	imin := 0
	for i, p := range r.Points {
		if p.Smoothed < r.Points[imin].Smoothed {
			imin = i
		}
	}
	r.MinLoss = r.Points[imin].LR
	r.Steepest = r.MinLoss / 10
	w := max(1, len(r.Points)/20)
	steep := math.Inf(1)
	for i := max(w, len(r.Points)/10); i <= imin; i++ {
		a, b := r.Points[i-w], r.Points[i]
		if d := (b.Smoothed - a.Smoothed) / (math.Log(b.LR) - math.Log(a.LR)); d < steep {
			steep, r.Steepest = d, r.Points[i-w/2].LR
		}
	}
}
