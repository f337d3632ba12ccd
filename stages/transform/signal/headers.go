package signal

import (
	"context"
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/biopipe/biopipe/contract"
	"github.com/biopipe/biopipe/stages/ingest/signals"
)

// channelIssues returns an issue for every pattern of the field that picks none of the
// upstream channels (unknown upstream channels: none).
func channelIssues(cfg contract.Config, field string, channels []string) []contract.Issue {
	if channels == nil {
		return nil
	}
	patterns := cfg.Strings(field)
	var issues []contract.Issue
	for _, i := range signals.UnmatchedPatterns(patterns, channels) {
		issues = append(issues, contract.NameIssue([]string{field, strconv.Itoa(i)}, "channel", patterns[i], "the upstream recordings", channels))
	}
	return issues
}

func upstreamChannels(up []contract.DataHeader) []string {
	if len(up) == 0 {
		return nil
	}
	return up[0].Channels
}

// keepChannels is the header check of a stage that keeps its channels (filter, resample):
// its channels field must pick upstream channels.
func keepChannels(_ context.Context, cfg contract.Config, up []contract.DataHeader) (contract.DataHeader, []contract.Issue) {
	chs := upstreamChannels(up)
	return contract.DataHeader{Channels: chs}, channelIssues(cfg, FieldChannels, chs)
}

// referenceHeaders checks transform.reference: named reference channels and the channels
// field must be upstream channels; named references are dropped unless drop_ref is false.
func referenceHeaders(_ context.Context, cfg contract.Config, up []contract.DataHeader) (contract.DataHeader, []contract.Issue) {
	chs := upstreamChannels(up)
	issues := channelIssues(cfg, FieldChannels, chs)
	refs := cfg.Strings(FieldRef)
	if chs == nil || (len(refs) == 1 && refs[0] == "average") {
		return contract.DataHeader{Channels: chs}, issues
	}
	for i, r := range refs {
		if !slices.Contains(chs, r) {
			issues = append(issues, contract.NameIssue([]string{FieldRef, strconv.Itoa(i)}, "reference channel", r, "the upstream recordings", chs))
		}
	}
	out := chs
	if cfg.Bool(FieldDropRef) {
		out = slices.DeleteFunc(slices.Clone(chs), func(c string) bool { return slices.Contains(refs, c) })
	}
	return contract.DataHeader{Channels: out}, issues
}

// channelsHeaders checks transform.channels: pick, drop and the old names of rename must
// name upstream channels; the output is what the stage keeps, renamed.
func channelsHeaders(_ context.Context, cfg contract.Config, up []contract.DataHeader) (contract.DataHeader, []contract.Issue) {
	chs := upstreamChannels(up)
	if chs == nil {
		return contract.DataHeader{}, nil
	}
	issues := append(channelIssues(cfg, FieldPick, chs), channelIssues(cfg, FieldDrop, chs)...)
	rename := cfg.MapOf(FieldRename)
	for _, old := range slices.Sorted(maps.Keys(rename)) {
		if !slices.Contains(chs, old) {
			issues = append(issues, contract.NameIssue([]string{FieldRename, old}, "channel", old, "the upstream recordings", chs))
		}
	}
	pick, err1 := signals.NewSelector(cfg.Strings(FieldPick))
	drop, err2 := signals.NewSelector(cfg.Strings(FieldDrop))
	if err1 != nil || err2 != nil {
		return contract.DataHeader{}, issues
	}
	in := make([]*signals.Channel, len(chs))
	for i, c := range chs {
		in[i] = &signals.Channel{Name: c}
	}
	out := []string{}
	for _, c := range pick.Order(in) {
		if !drop.Empty() && drop.Match(c.Name) {
			continue
		}
		if n, ok := rename[c.Name].(string); ok && strings.TrimSpace(n) != "" {
			out = append(out, n)
		} else {
			out = append(out, c.Name)
		}
	}
	return contract.DataHeader{Channels: out}, issues
}

// epochHeaders checks transform.epoch's channels field; its output is a table.
func epochHeaders(_ context.Context, cfg contract.Config, up []contract.DataHeader) (contract.DataHeader, []contract.Issue) {
	return contract.DataHeader{}, channelIssues(cfg, FieldChannels, upstreamChannels(up))
}

func init() {
	filterKind.Headers = keepChannels
	resampleKind.Headers = keepChannels
	referenceKind.Headers = referenceHeaders
	channelsKind.Headers = channelsHeaders
	epochKind.Headers = epochHeaders
}
