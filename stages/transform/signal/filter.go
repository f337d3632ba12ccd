package signal

import (
	"context"
	"fmt"

	"github.com/biopipe/biopipe/contract"
	"github.com/biopipe/biopipe/dataset"
	"github.com/biopipe/biopipe/stages/ingest/signals"
	"github.com/biopipe/biopipe/stages/transform/signal/dsp"
)

// Field names of transform.filter.
const (
	FieldLow        = "low"
	FieldHigh       = "high"
	FieldOrder      = "order"
	FieldNotch      = "notch"
	FieldNotchWidth = "notch_width"
	FieldNotchOrder = "notch_order"
)

var filterKind = &contract.Kind{
	Name:    "transform.filter",
	Doc:     "zero-phase Butterworth band-pass, high-pass, low-pass and notch filtering",
	Version: "1",
	Description: `Filters each selected channel forward and backward (zero phase; the magnitude response is
squared) with a Butterworth filter designed as second-order sections: low alone is a
high-pass, high alone a low-pass, both a band-pass. notch removes narrow bands (line noise
and harmonics) with band-stop Butterworth filters of notch_width Hz. Edges are handled as
scipy.signal.sosfiltfilt does (odd extension, steady-state initial conditions).`,
	Fields: []contract.Field{
		{Name: FieldLow, Type: contract.Float, Min: contract.Bound(0), Doc: "high-pass edge in Hz (0 or absent = none)"},
		{Name: FieldHigh, Type: contract.Float, Min: contract.Bound(0), Doc: "low-pass edge in Hz (0 or absent = none)"},
		{Name: FieldOrder, Type: contract.Int, Default: 4, Min: contract.Bound(1), Max: contract.Bound(12), Doc: "Butterworth order"},
		{Name: FieldNotch, Type: contract.Floats, Min: contract.Bound(0), Doc: "notch frequencies in Hz, e.g. [50, 100]"},
		{Name: FieldNotchWidth, Type: contract.Float, Default: 2.0, Min: contract.Bound(0.01), Doc: "width of each notch in Hz"},
		{Name: FieldNotchOrder, Type: contract.Int, Default: 2, Min: contract.Bound(1), Max: contract.Bound(8), Doc: "Butterworth order of each notch"},
		channelsField,
	},
	Inputs: signalsIn,
	Output: signalsOut,
	Example: `- id: filtered
  kind: transform.filter
  inputs: [eeg]
  with: {low: 1, high: 40, order: 4, notch: [50]}`,
	New: newFilter,
}

func init() { contract.Register(filterKind) }

type filterStage struct {
	cfg contract.Config
	sel *signals.Selector
}

func newFilter(cfg contract.Config) (contract.Stage, error) {
	sel, issues := selector(cfg, FieldChannels)
	lo, hi := cfg.Float(FieldLow), cfg.Float(FieldHigh)
	if lo > 0 && hi > 0 && lo >= hi {
		issues = append(issues, contract.Issue{Path: []string{FieldLow}, Msg: fmt.Sprintf("low (%g Hz) must be below high (%g Hz)", lo, hi)})
	}
	if lo == 0 && hi == 0 && len(cfg.Floats(FieldNotch)) == 0 {
		issues = append(issues, contract.Issue{Msg: "set low, high or notch"})
	}
	if err := configError(issues); err != nil {
		return nil, err
	}
	return &filterStage{cfg: cfg, sel: sel}, nil
}

// Design returns the filter cascade for a sample rate: the band filter then the notches.
func designFilters(cfg contract.Config, fs float64) ([]dsp.SOS, error) {
	var out []dsp.SOS
	lo, hi, order := cfg.Float(FieldLow), cfg.Float(FieldHigh), cfg.Int(FieldOrder)
	var sos dsp.SOS
	var err error
	switch {
	case lo > 0 && hi > 0:
		sos, err = dsp.Butter(order, []float64{lo, hi}, dsp.Bandpass, fs)
	case lo > 0:
		sos, err = dsp.Butter(order, []float64{lo}, dsp.Highpass, fs)
	case hi > 0:
		sos, err = dsp.Butter(order, []float64{hi}, dsp.Lowpass, fs)
	}
	if err != nil {
		return nil, fmt.Errorf("at %g Hz: %w", fs, err)
	}
	if sos != nil {
		out = append(out, sos)
	}
	w := cfg.Float(FieldNotchWidth)
	for _, f := range cfg.Floats(FieldNotch) {
		if f+w/2 >= fs/2 {
			continue // the notch lies above the Nyquist frequency: nothing to remove
		}
		n, err := dsp.Butter(cfg.Int(FieldNotchOrder), []float64{f - w/2, f + w/2}, dsp.Bandstop, fs)
		if err != nil {
			return nil, fmt.Errorf("notch %g Hz at %g Hz: %w", f, fs, err)
		}
		out = append(out, n)
	}
	return out, nil
}

func (s *filterStage) Run(ctx context.Context, env *contract.Env) error {
	set, err := loadSignals(env)
	if err != nil {
		return err
	}
	designs := map[float64][]dsp.SOS{}
	for _, seg := range set.Segments {
		for _, c := range seg.Channels {
			if _, ok := designs[c.SampleRate]; ok || !s.sel.Match(c.Name) {
				continue
			}
			d, err := designFilters(s.cfg, c.SampleRate)
			if err != nil {
				return fmt.Errorf("channel %q of %s: %w", c.Name, seg.Recording, err)
			}
			designs[c.SampleRate] = d
		}
	}
	filtered := 0
	err = forChannels(set, s.sel, func(seg *signals.Segment, c *signals.Channel) error {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		x := toF64(c.Data)
		for _, sos := range designs[c.SampleRate] {
			sos.FiltFilt(x)
		}
		c.Data = toF32(x)
		return nil
	})
	if err != nil {
		return err
	}
	for _, seg := range set.Segments {
		for _, c := range seg.Channels {
			if s.sel.Match(c.Name) {
				filtered++
			}
		}
	}
	env.SetMetric("channels_filtered", filtered)
	if err := set.WriteDir(env.OutDir); err != nil {
		return err
	}
	return dataset.WriteJSON(env.Out(contract.SummaryFile), map[string]any{
		"channels_filtered": filtered, "low": s.cfg.Float(FieldLow), "high": s.cfg.Float(FieldHigh),
		"order": s.cfg.Int(FieldOrder), "notch": s.cfg.Floats(FieldNotch), "zero_phase": true,
	})
}
