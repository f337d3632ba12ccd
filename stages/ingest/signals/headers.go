package signals

import (
	"bufio"
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/biopipe/biopipe/contract"
	"github.com/biopipe/biopipe/io/edf"
)

// headers is ingest.signals' header check: every channel pattern and the events channel
// must name a channel of every recording (EDF/BDF signal labels, a CSV header row, raw
// channel names), and a CSV time column must be in every CSV header, read from the files'
// headers only. The output
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
	var timeMissing *contract.Issue
	var out contract.DataHeader
	for _, f := range files {
		if err := ctx.Err(); err != nil {
			return contract.DataHeader{}, nil
		}
		labels, err := fileLabels(f, cfg)
		if err != nil {
			continue // a corrupt file is the run's to report (or quarantine)
		}
		if tc := cfg.Object(FieldCSV).String(FieldTimeColumn); tc != "" && detect(f, cfg.String(FieldFormat)) == "csv" && timeMissing == nil {
			if head, err := csvLabels(f, cfg.Object(FieldCSV).String(FieldDelimiter), ""); err == nil && !slices.Contains(head, tc) {
				is := contract.NameIssue([]string{FieldCSV, FieldTimeColumn}, "time column", tc, filepath.Base(f), head)
				timeMissing = &is
			}
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
	if timeMissing != nil {
		issues = append(issues, *timeMissing)
	}
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

// fileLabels returns the channel names of a recording as the run will name them, reading
// headers only: an EDF/BDF file's signal labels, a CSV file's header row (without the time
// column), a raw file's raw.channel_names (else ch1..chN).
func fileLabels(path string, cfg contract.Config) ([]string, error) {
	switch detect(path, cfg.String(FieldFormat)) {
	case "edf":
		return edfLabels(path)
	case "raw":
		raw := cfg.Object(FieldRaw)
		if names := raw.Strings(FieldChannelNames); len(names) > 0 {
			return names, nil
		}
		n := raw.Int(FieldNChannels)
		if n <= 0 {
			return nil, fmt.Errorf("raw.channels not set")
		}
		out := make([]string, n)
		for i := range out {
			out[i] = fmt.Sprintf("ch%d", i+1)
		}
		return out, nil
	case "csv":
		c := cfg.Object(FieldCSV)
		return csvLabels(path, c.String(FieldDelimiter), c.String(FieldTimeColumn))
	}
	return nil, fmt.Errorf("%s: unknown format", path)
}

// csvLabels reads the header row of a CSV recording: its channel names, less the time column.
func csvLabels(path, delimiter, timeColumn string) ([]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	cr := csv.NewReader(bufio.NewReader(io.LimitReader(f, 1<<20)))
	if r := []rune(delimiter); len(r) == 1 {
		cr.Comma = r[0]
	}
	head, err := cr.Read()
	if err != nil {
		return nil, err
	}
	out := make([]string, 0, len(head))
	for _, h := range head {
		if h != timeColumn || timeColumn == "" {
			out = append(out, h)
		}
	}
	return out, nil
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
