package report

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"

	"github.com/biopipe/biopipe/contract"
	"github.com/biopipe/biopipe/manifest"
	"gopkg.in/yaml.v3"
)

// Regenerate rebuilds the report of a finished run from its folder (runs/<run-id>) and
// writes report.md, report.html and the figures into that folder, returning the path of
// report.html. It reads the manifest and the artifacts it names in the store (relative
// artifact folders are taken from workDir, or from the manifest's work dir when workDir
// is ""). The LLM is not called again: an earlier draft (narrative.json in the report
// artifact) is reused, with its grounding checked anew; otherwise the template narrative
// is written. Runs without a report stage get a report of every evaluate stage.
func Regenerate(ctx context.Context, runDir, workDir string) (string, error) {
	m, err := manifest.Read(runDir)
	if err != nil {
		return "", fmt.Errorf("regenerate report: %w", err)
	}
	if workDir == "" {
		workDir = m.WorkDir
	}
	specYAML, _ := yaml.Marshal(m.Spec)
	withs := specWiths(m.Spec)
	info := contract.PipelineInfo{
		Name: m.Pipeline, File: m.File, SpecHash: m.SpecHash, SpecYAML: string(specYAML),
		Version: m.Biopipe, Modules: m.Modules,
	}
	// RunID and Command stay out, as in the report stage's artifact: a regenerated report is
	// the same document, and the run's own record is the manifest beside it.
	records := map[string]*manifest.StageRecord{}
	for _, r := range m.Stages {
		records[r.ID] = r
		info.Stages = append(info.Stages, contract.StageInfo{ID: r.ID, Kind: r.Kind, Inputs: r.Inputs, Config: resolve(r.Kind, withs[r.ID])})
	}
	var reportRec *manifest.StageRecord
	for _, r := range m.Stages {
		if r.Kind == KindReport {
			reportRec = r
			break
		}
	}
	input := func(r *manifest.StageRecord) (contract.Input, bool) {
		if r == nil || r.Artifact == nil {
			return contract.Input{}, false
		}
		dir := r.Artifact.Dir
		if !filepath.IsAbs(dir) {
			dir = filepath.Join(workDir, dir)
		}
		return contract.Input{StageID: r.ID, Kind: r.Kind, Type: r.Artifact.Type, Dir: dir, Digest: r.Artifact.Digest,
			Config: resolve(r.Kind, withs[r.ID])}, true
	}
	src := &Source{Pipeline: info, Backend: m.Backend, Seed: m.Seed}
	// the report's upstream: every transitive input of the report stage, or all stages
	need := map[string]bool{}
	var mark func(id string)
	mark = func(id string) {
		if r := records[id]; r != nil {
			for _, in := range r.Inputs {
				if !need[in] {
					need[in] = true
					mark(in)
				}
			}
		}
	}
	var opt Options
	opt.Log = slog.Default()
	if reportRec != nil {
		mark(reportRec.ID)
		cfg := resolve(reportRec.Kind, withs[reportRec.ID])
		src.Title, src.Context = cfg.String("title"), cfg.String("context")
		if in, ok := input(reportRec); ok {
			d, err := ReadDraft(in.Dir)
			if err != nil {
				return "", fmt.Errorf("regenerate report: %w", err)
			}
			opt.Draft = d
		}
	}
	for _, r := range m.Stages {
		if reportRec != nil && !need[r.ID] || r.Kind == KindReport {
			continue
		}
		in, ok := input(r)
		if !ok {
			continue
		}
		src.Artifacts = append(src.Artifacts, in)
		direct := reportRec == nil || contains(reportRec.Inputs, r.ID)
		if in.Type == contract.Metrics && direct {
			ev, err := LoadEvaluation(r.ID, in.Dir)
			if err != nil {
				return "", fmt.Errorf("regenerate report: %w", err)
			}
			src.Evaluations = append(src.Evaluations, ev)
		}
		src.Quarantined = append(src.Quarantined, r.Quarantined...)
	}
	b, err := Build(ctx, src, opt)
	if err != nil {
		return "", fmt.Errorf("regenerate report: %w", err)
	}
	if err := Write(runDir, b); err != nil {
		return "", err
	}
	return filepath.Join(runDir, contract.ReportHTML), nil
}

// KindReport is the report stage kind's name (stages/report registers it).
const KindReport = "report"

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// specWiths returns each stage's raw with: block from a manifest's spec.
func specWiths(spec map[string]any) map[string]map[string]any {
	out := map[string]map[string]any{}
	list, _ := spec["stages"].([]any)
	for _, s := range list {
		m, ok := s.(map[string]any)
		if !ok {
			continue
		}
		id, _ := m["id"].(string)
		w, _ := m["with"].(map[string]any)
		out[id] = w
	}
	return out
}

// resolve fills a raw config's defaults with the kind's spec when the kind is registered.
func resolve(kind string, raw map[string]any) contract.Config {
	if raw == nil {
		raw = map[string]any{}
	}
	k, err := contract.Default.Get(kind)
	if err != nil {
		return contract.Config(raw)
	}
	cfg, _ := contract.Check(k.Fields, raw)
	return cfg
}
