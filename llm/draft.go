package llm

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strings"
)

// Section names the model is asked to write.
const (
	Abstract     = "abstract"
	Introduction = "introduction"
	Discussion   = "discussion"
)

// SystemPrompt sets the model's role and rules.
const SystemPrompt = `You are helping a biomedical researcher write up a deep-learning experiment.
Write in plain, careful scientific English. Use only the numbers given in the summary, with
the rounding given there; never invent a number, a dataset property or a reference. State
uncertainty using the confidence intervals. Answer with exactly three sections, each
starting with its heading on its own line: "## Abstract" (at most 150 words),
"## Introduction" (one paragraph framing the task, using the researcher's context when
given) and "## Discussion" (one or two paragraphs: what the results show, their limits,
what to try next).`

// Prompt builds the user message from an aggregate summary (metrics, counts, config; no
// rows, no identifiers) and the researcher's context paragraph.
func Prompt(summary any, userContext string) (string, error) {
	b, err := json.MarshalIndent(summary, "", "  ")
	if err != nil {
		return "", fmt.Errorf("llm prompt: %w", err)
	}
	var p strings.Builder
	if c := strings.TrimSpace(userContext); c != "" {
		p.WriteString("Researcher's context:\n")
		p.WriteString(c)
		p.WriteString("\n\n")
	}
	p.WriteString("Summary of the experiment (JSON):\n")
	p.Write(b)
	p.WriteString("\n\nWrite the Abstract, Introduction and Discussion.")
	return p.String(), nil
}

// Draft is an LLM-written narrative and the record of how it was obtained.
type Draft struct {
	BaseURL  string            `json:"base_url"`
	Model    string            `json:"model"`
	Sections map[string]string `json:"sections,omitempty"`
	Text     string            `json:"text,omitempty"` // the whole answer
	Attempts []Attempt         `json:"attempts,omitempty"`
	Refused  bool              `json:"refused,omitempty"` // the guard stopped the prompt
	Error    string            `json:"error,omitempty"`
}

// Write asks the model for the narrative. The guard checks the prompt first; a refusal
// returns *ErrIdentifier and sends nothing. On any failure the Draft records the error
// (the caller falls back to its template narrative).
func Write(ctx context.Context, cfg Config, guard *Guard, summary any, userContext string) (*Draft, error) {
	d := &Draft{BaseURL: cfg.BaseURL, Model: cfg.Model}
	fail := func(err error) (*Draft, error) {
		d.Error = err.Error()
		return d, err
	}
	user, err := Prompt(summary, userContext)
	if err != nil {
		return fail(err)
	}
	if guard != nil {
		if err := guard.Check(user); err != nil { // the system prompt is a constant
			var ei *ErrIdentifier
			d.Refused = errors.As(err, &ei)
			return fail(err)
		}
	}
	c, err := New(cfg)
	if err != nil {
		return fail(err)
	}
	text, attempts, err := c.Complete(ctx, SystemPrompt, user)
	d.Attempts = attempts
	if err != nil {
		return fail(err)
	}
	d.Text = text
	d.Sections = ParseSections(text)
	return d, nil
}

var headingRE = regexp.MustCompile(`(?im)^\s{0,3}(?:#{1,6}\s*|\*\*)?\s*(abstract|introduction|discussion)\s*(?:\*\*)?\s*:?\s*$`)

// ParseSections splits an answer at its "## Abstract", "## Introduction" and
// "## Discussion" headings (any heading level, bold or a bare line). Text without any
// heading becomes the Discussion.
func ParseSections(text string) map[string]string {
	out := map[string]string{}
	locs := headingRE.FindAllStringSubmatchIndex(text, -1)
	if len(locs) == 0 {
		if t := strings.TrimSpace(text); t != "" {
			out[Discussion] = t
		}
		return out
	}
	for i, l := range locs {
		name := strings.ToLower(text[l[2]:l[3]])
		end := len(text)
		if i+1 < len(locs) {
			end = locs[i+1][0]
		}
		if body := strings.TrimSpace(text[l[1]:end]); body != "" {
			out[name] = body
		}
	}
	if pre := strings.TrimSpace(text[:locs[0][0]]); pre != "" && out[Abstract] == "" {
		out[Abstract] = pre
	}
	return out
}
