// Package report is the `report` stage kind: it writes the run's paper-style report
// (report.md and one self-contained report.html, see package report) from the metrics
// artifacts on its "metrics" port and every upstream artifact, optionally with an
// LLM-drafted Abstract, Introduction and Discussion (llm: block).
package report

import (
	"context"
	"fmt"

	"github.com/biopipe/biopipe/contract"
	"github.com/biopipe/biopipe/llm"
	doc "github.com/biopipe/biopipe/report"
)

// KindName is the stage kind's name.
const KindName = "report"

// Config field names.
const (
	FieldTitle   = "title"
	FieldContext = "context"
	FieldLLM     = "llm"

	FieldBaseURL     = llm.FieldBaseURL
	FieldModel       = llm.FieldModel
	FieldAPIKeyEnv   = llm.FieldAPIKeyEnv
	FieldTemperature = llm.FieldTemperature
	FieldMaxTokens   = llm.FieldMaxTokens
	FieldTimeout     = llm.FieldTimeout
	FieldStream      = llm.FieldStream
	FieldRetries     = llm.FieldRetries
)

// PortMetrics is the input port of the evaluation artifacts.
const PortMetrics = "metrics"

// LLMFields is the spec of the llm: block (shared with extract.llm, see llm.BlockFields).
var LLMFields = llm.BlockFields(900)

// Fields is the report stage's config spec.
var Fields = []contract.Field{
	{Name: FieldTitle, Type: contract.String, Doc: "report title (default: pipeline name, model and task)"},
	{Name: FieldContext, Type: contract.String, Doc: "a paragraph of background from you: opens the Introduction and frames the LLM's draft"},
	{Name: FieldLLM, Type: contract.Object, Fields: LLMFields, Doc: "optional LLM drafting of Abstract, Introduction and Discussion from an aggregate summary (no rows, no identifiers); numbers are checked against the run"},
}

func init() {
	contract.Register(&contract.Kind{
		Name: KindName,
		Doc:  "paper-style report: report.md and one self-contained report.html",
		Description: `Writes Title, Abstract, Introduction, Data (sources, counts per split and class,
quarantined files), Methods (from the resolved config and the model card), Results (metric tables
with bootstrap CIs, confusion matrix, figures), Discussion and Reproducibility (command, spec
hash, module versions, artifact digests). report.html embeds every figure and its CSS; both files
are also copied into runs/<run-id>/. With an llm: block, an OpenAI-compatible model drafts the
Abstract, Introduction and Discussion; a guard refuses prompts holding identifier values seen
at ingest, numbers that match none of the run's figures are highlighted and counted
(llm_ungrounded_numbers in the manifest), and any failure falls back to the template text with a
visible note.`,
		Version: "1",
		Fields:  Fields,
		Inputs: []contract.Port{
			{Name: PortMetrics, Type: contract.Metrics, Many: true, Doc: "evaluation artifacts"},
		},
		Output: contract.Port{Name: "report", Type: contract.Report, Doc: "report.md, report.html, figures, narrative.json"},
		New:    newStage,
		Example: `- id: report
  kind: report
  inputs: [eval]
  with:
    context: "Fine-needle aspirate features for breast cancer diagnosis."
    llm: {base_url: "http://localhost:11434/v1", model: llama3.1, timeout: 2m}`,
	})
}

func newStage(cfg contract.Config) (contract.Stage, error) {
	lc, err := LLMConfig(cfg.Object(FieldLLM))
	if err != nil {
		return nil, err
	}
	return contract.StageFunc(func(ctx context.Context, env *contract.Env) error { return run(ctx, env, cfg, lc) }), nil
}

// LLMConfig turns the llm: block into an llm.Config; nil when the block sets no server.
func LLMConfig(c contract.Config) (*llm.Config, error) { return llm.FromBlock(c, FieldLLM) }

func run(ctx context.Context, env *contract.Env, cfg contract.Config, lc *llm.Config) error {
	// The report is an artifact: the same inputs give the same bytes. The run id and the
	// command line differ from run to run; they live in the run's manifest.json (and in a
	// report regenerated into the run folder by `biopipe report`), not in the artifact.
	info := env.Pipeline
	info.RunID, info.Command = "", ""
	src := &doc.Source{
		Title: cfg.String(FieldTitle), Context: cfg.String(FieldContext), Pipeline: info,
		Backend: env.Backend, Seed: env.Seed, Artifacts: env.Upstream,
	}
	if len(src.Artifacts) == 0 {
		src.Artifacts = env.Inputs
	}
	for _, in := range env.In(PortMetrics) {
		ev, err := doc.LoadEvaluation(in.StageID, in.Dir)
		if err != nil {
			return fmt.Errorf("stage %q: %w", env.StageID, err)
		}
		src.Evaluations = append(src.Evaluations, ev)
	}
	b, err := doc.Build(ctx, src, doc.Options{LLM: lc, Log: env.Log})
	if err != nil {
		return fmt.Errorf("stage %q: %w", env.StageID, err)
	}
	if b.Draft != nil {
		env.SetMetric("llm_ok", b.Draft.Error == "")
		env.SetMetric("llm_numbers_checked", b.Numbers)
		env.SetMetric("llm_ungrounded_numbers", b.Ungrounded)
		if b.Refused {
			env.SetMetric("llm_refused_identifier", true)
		}
	}
	if b.Redacted > 0 {
		env.SetMetric("report_redacted_identifiers", b.Redacted)
	}
	if err := doc.Write(env.OutDir, b); err != nil {
		return fmt.Errorf("stage %q: %w", env.StageID, err)
	}
	if env.RunDir != "" {
		if err := doc.Write(env.RunDir, b); err != nil {
			return fmt.Errorf("stage %q: %w", env.StageID, err)
		}
	}
	return nil
}
