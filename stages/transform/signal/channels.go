package signal

import (
	"context"
	"fmt"

	"github.com/biopipe/biopipe/contract"
	"github.com/biopipe/biopipe/dataset"
	"github.com/biopipe/biopipe/stages/ingest/signals"
	"github.com/biopipe/biopipe/stages/transform/signal/dsp"
)

// Field names of transform.resample, transform.reference and transform.channels.
const (
	FieldRate    = "rate"
	FieldRef     = "ref"
	FieldDropRef = "drop_ref"
	FieldPick    = "pick"
	FieldDrop    = "drop"
	FieldRename  = "rename"
)

var resampleKind = &contract.Kind{
	Name:    "transform.resample",
	Doc:     "resample channels to a common rate (anti-aliased, polyphase)",
	Version: "1",
	Description: `Resamples each selected channel to rate Hz by a rational factor up/down with a
Kaiser-windowed sinc FIR low-pass at the lower Nyquist frequency (as scipy.signal.resample_poly),
so content above the new Nyquist frequency is removed before decimation. Annotations keep
their times.`,
	Fields: []contract.Field{
		{Name: FieldRate, Type: contract.Float, Required: true, Min: contract.Bound(0.001), Doc: "target sample rate in Hz"},
		channelsField,
	},
	Inputs:  signalsIn,
	Output:  signalsOut,
	Example: "- id: r128\n  kind: transform.resample\n  inputs: [eeg]\n  with: {rate: 128}",
	New: func(cfg contract.Config) (contract.Stage, error) {
		sel, issues := selector(cfg, FieldChannels)
		if err := configError(issues); err != nil {
			return nil, err
		}
		return contract.StageFunc(func(ctx context.Context, env *contract.Env) error { return runResample(ctx, env, cfg, sel) }), nil
	},
}

func runResample(ctx context.Context, env *contract.Env, cfg contract.Config, sel *signals.Selector) error {
	set, err := loadSignals(env)
	if err != nil {
		return err
	}
	rate := cfg.Float(FieldRate)
	from := map[string]int{}
	err = forChannels(set, sel, func(seg *signals.Segment, c *signals.Channel) error {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if c.SampleRate == rate {
			return nil
		}
		up, down, err := dsp.Ratio(c.SampleRate, rate)
		if err != nil {
			return err
		}
		c.Data = toF32(dsp.ResamplePoly(toF64(c.Data), up, down))
		c.SampleRate = rate
		return nil
	})
	if err != nil {
		return err
	}
	for _, seg := range set.Segments {
		for _, c := range seg.Channels {
			if sel.Match(c.Name) {
				from[c.Name]++
			}
		}
	}
	if err := set.WriteDir(env.OutDir); err != nil {
		return err
	}
	return dataset.WriteJSON(env.Out(contract.SummaryFile), map[string]any{"rate": rate, "channels_resampled": from})
}

var referenceKind = &contract.Kind{
	Name:    "transform.reference",
	Doc:     "re-reference channels to their average or to named reference channels",
	Version: "1",
	Description: `Subtracts a reference from every selected channel, sample by sample: ref: [average]
uses the mean of the selected channels (common average reference); ref: [A1, A2] uses the
mean of those channels (linked mastoids), which are then dropped unless drop_ref is false.
The channels involved must share one sample rate and length (resample first if not).`,
	Fields: []contract.Field{
		{Name: FieldRef, Type: contract.Strings, Default: []string{"average"}, Doc: `"average", or the names of the reference channels`},
		{Name: FieldDropRef, Type: contract.Bool, Default: true, Doc: "drop named reference channels after use"},
		channelsField,
	},
	Inputs:  signalsIn,
	Output:  signalsOut,
	Example: "- id: car\n  kind: transform.reference\n  inputs: [eeg]\n  with: {ref: [average]}",
	New: func(cfg contract.Config) (contract.Stage, error) {
		sel, issues := selector(cfg, FieldChannels)
		if len(cfg.Strings(FieldRef)) == 0 {
			issues = append(issues, contract.Issue{Path: []string{FieldRef}, Msg: `give "average" or channel names`})
		}
		if err := configError(issues); err != nil {
			return nil, err
		}
		return contract.StageFunc(func(ctx context.Context, env *contract.Env) error { return runReference(env, cfg, sel) }), nil
	},
}

func runReference(env *contract.Env, cfg contract.Config, sel *signals.Selector) error {
	set, err := loadSignals(env)
	if err != nil {
		return err
	}
	refs := cfg.Strings(FieldRef)
	average := len(refs) == 1 && refs[0] == "average"
	for _, seg := range set.Segments {
		var targets, refCh []*signals.Channel
		isRef := map[*signals.Channel]bool{}
		if !average {
			for _, r := range refs {
				c := seg.Channel(r)
				if c == nil {
					return fmt.Errorf("recording %s: reference channel %q not found (channels: %s)", seg.Recording, r, names(seg.Channels))
				}
				refCh = append(refCh, c)
				isRef[c] = true
			}
		}
		for _, c := range seg.Channels {
			if sel.Match(c.Name) && !isRef[c] {
				targets = append(targets, c)
			}
		}
		if average {
			refCh = targets
		}
		if len(targets) == 0 || len(refCh) == 0 {
			continue
		}
		n, rate := len(refCh[0].Data), refCh[0].SampleRate
		for _, c := range append(append([]*signals.Channel(nil), refCh...), targets...) {
			if len(c.Data) != n || c.SampleRate != rate {
				return fmt.Errorf("recording %s: channel %q (%g Hz, %d samples) differs from %q (%g Hz, %d samples): resample first",
					seg.Recording, c.Name, c.SampleRate, len(c.Data), refCh[0].Name, rate, n)
			}
		}
		ref := make([]float64, n)
		for _, c := range refCh {
			for i, v := range c.Data {
				ref[i] += float64(v)
			}
		}
		for i := range ref {
			ref[i] /= float64(len(refCh))
		}
		for _, c := range targets {
			out := make([]float32, n)
			for i, v := range c.Data {
				out[i] = float32(float64(v) - ref[i])
			}
			c.Data = out
		}
		if !average && cfg.Bool(FieldDropRef) {
			var keep []*signals.Channel
			for _, c := range seg.Channels {
				if !isRef[c] {
					keep = append(keep, c)
				}
			}
			seg.Channels = keep
		}
	}
	if err := set.WriteDir(env.OutDir); err != nil {
		return err
	}
	return dataset.WriteJSON(env.Out(contract.SummaryFile), map[string]any{"ref": refs, "dropped_ref": !average && cfg.Bool(FieldDropRef)})
}

func names(chs []*signals.Channel) string {
	s := ""
	for i, c := range chs {
		if i > 0 {
			s += ", "
		}
		s += c.Name
	}
	return s
}

var channelsKind = &contract.Kind{
	Name:    "transform.channels",
	Doc:     "pick, drop and rename channels by name or pattern",
	Version: "1",
	Description: `Keeps the channels matched by pick (all when empty; plain names fix the order), then removes
those matched by drop, then renames (old: new). Patterns are case-insensitive globs or "re:"
regular expressions. A recording left with no channel is an error.`,
	Fields: []contract.Field{
		{Name: FieldPick, Type: contract.Strings, Doc: "channels to keep"},
		{Name: FieldDrop, Type: contract.Strings, Doc: "channels to remove"},
		{Name: FieldRename, Type: contract.Map, Doc: "old name: new name"},
	},
	Inputs:  signalsIn,
	Output:  signalsOut,
	Example: "- id: eegonly\n  kind: transform.channels\n  inputs: [eeg]\n  with: {pick: ['EEG*'], drop: ['EEG A*']}",
	New: func(cfg contract.Config) (contract.Stage, error) {
		pick, issues := selector(cfg, FieldPick)
		drop, more := selector(cfg, FieldDrop)
		issues = append(issues, more...)
		rename := map[string]string{}
		for k, v := range cfg.MapOf(FieldRename) {
			s, ok := v.(string)
			if !ok || s == "" {
				issues = append(issues, contract.Issue{Path: []string{FieldRename, k}, Msg: "new name must be a non-empty string"})
				continue
			}
			rename[k] = s
		}
		if err := configError(issues); err != nil {
			return nil, err
		}
		return contract.StageFunc(func(ctx context.Context, env *contract.Env) error {
			set, err := loadSignals(env)
			if err != nil {
				return err
			}
			kept := map[string]int{}
			for _, seg := range set.Segments {
				var out []*signals.Channel
				for _, c := range pick.Order(seg.Channels) {
					if !drop.Empty() && drop.Match(c.Name) {
						continue
					}
					if n, ok := rename[c.Name]; ok {
						c.Name = n
					}
					out = append(out, c)
					kept[c.Name]++
				}
				if len(out) == 0 {
					return fmt.Errorf("recording %s: no channel left (channels: %s)", seg.Recording, names(seg.Channels))
				}
				seg.Channels = out
			}
			if err := set.WriteDir(env.OutDir); err != nil {
				return err
			}
			return dataset.WriteJSON(env.Out(contract.SummaryFile), map[string]any{"channels": kept})
		}), nil
	},
}

func init() {
	contract.Register(resampleKind)
	contract.Register(referenceKind)
	contract.Register(channelsKind)
}
