package signals

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/biopipe/biopipe/contract"
	"github.com/biopipe/biopipe/io/edf"
)

// headers is ingest.signals' header check: every channel pattern and the events channel
// must name a channel of every EDF/BDF file, read from the files' headers only. The output
// header lists the channels picked from the first file, in the order the run writes them.
func headers(ctx context.Context, cfg contract.Config, _ []contract.DataHeader) (contract.DataHeader, []contract.Issue) {
	files, err := inputFiles(cfg.Strings(FieldFiles), cfg.String(FieldFormat))
	if errors.Is(err, fs.ErrNotExist) {
		return contract.DataHeader{}, []contract.Issue{{Path: []string{FieldFiles}, Msg: err.Error()}}
	}
	if err != nil {
		return contract.DataHeader{}, nil
	}
	patterns := cfg.Strings(FieldChannels)
	events := cfg.String(FieldEventsChannel)
	type miss struct {
		files []string
		has   []string // the channels of the first file that lacks it
	}
	missing := map[int]*miss{} // pattern index (-1: events channel) -> files lacking it
	var out contract.DataHeader
	for _, f := range files {
		if err := ctx.Err(); err != nil {
			return contract.DataHeader{}, nil
		}
		if detect(f, cfg.String(FieldFormat)) != "edf" {
			continue
		}
		labels, err := edfLabels(f)
		if err != nil {
			continue // a corrupt file is the run's to report (or quarantine)
		}
		lack := UnmatchedPatterns(patterns, labels)
		if events != "" && len(UnmatchedPatterns([]string{events}, labels)) > 0 {
			lack = append(lack, -1)
		}
		for _, i := range lack {
			if missing[i] == nil {
				missing[i] = &miss{has: labels}
			}
			missing[i].files = append(missing[i].files, filepath.Base(f))
		}
		if out.Channels == nil {
			sel, err := NewSelector(patterns)
			if err != nil {
				return contract.DataHeader{}, nil
			}
			chs := make([]*Channel, 0, len(labels))
			for _, l := range labels {
				if l != events {
					chs = append(chs, &Channel{Name: l})
				}
			}
			out.Channels = []string{}
			for _, c := range sel.Order(chs) {
				out.Channels = append(out.Channels, c.Name)
			}
		}
	}
	var issues []contract.Issue
	for i := -1; i < len(patterns); i++ {
		m := missing[i]
		if m == nil {
			continue
		}
		from := m.files[0]
		if len(m.files) > 1 {
			from = fmt.Sprintf("%d files (%s ...)", len(m.files), strings.Join(m.files[:min(3, len(m.files))], ", "))
		}
		if i < 0 {
			issues = append(issues, contract.NameIssue([]string{FieldEventsChannel}, "events channel", events, from, m.has))
		} else {
			issues = append(issues, contract.NameIssue([]string{FieldChannels, strconv.Itoa(i)}, "channel", patterns[i], from, m.has))
		}
	}
	return out, issues
}

// edfLabels returns the data channel labels of an EDF/BDF file, reading its header only.
func edfLabels(path string) ([]string, error) {
	r, err := edf.Open(path)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	h := r.Header()
	var out []string
	for _, i := range h.DataSignals() {
		out = append(out, h.Signals[i].Label)
	}
	return out, nil
}
