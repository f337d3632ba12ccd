package llm

import (
	"fmt"
	"regexp"
	"time"

	"github.com/biopipe/biopipe/contract"
)

// Field names of an llm: block (the report's narrative and extract.llm share it).
const (
	FieldBaseURL     = "base_url"
	FieldModel       = "model"
	FieldAPIKeyEnv   = "api_key_env"
	FieldTemperature = "temperature"
	FieldMaxTokens   = "max_tokens"
	FieldTimeout     = "timeout"
	FieldStream      = "stream"
	FieldRetries     = "retries"
	FieldBackoff     = "backoff"
)

// BlockFields is the spec of an llm: block: which OpenAI-compatible server and model, and
// how to call it. maxTokens is the default answer length limit of the stage using it.
func BlockFields(maxTokens int) []contract.Field {
	return []contract.Field{
		{Name: FieldBaseURL, Type: contract.String, Doc: "OpenAI-compatible API base URL, e.g. https://api.openai.com/v1 or http://localhost:11434/v1 (Ollama); empty = no LLM"},
		{Name: FieldModel, Type: contract.String, Doc: "model name on that server"},
		{Name: FieldAPIKeyEnv, Type: contract.String, Doc: "NAME of the environment variable holding the API key (the key itself never goes in a file); empty for servers without keys"},
		{Name: FieldTemperature, Type: contract.Float, Default: 0.2, Min: contract.Bound(0), Max: contract.Bound(2), Doc: "sampling temperature"},
		{Name: FieldMaxTokens, Type: contract.Int, Default: maxTokens, Min: contract.Bound(16), Max: contract.Bound(32768), Doc: "answer length limit"},
		{Name: FieldTimeout, Type: contract.String, Default: "60s", Doc: "time limit per attempt (Go duration: 30s, 2m)"},
		{Name: FieldStream, Type: contract.Bool, Default: false, Doc: "stream the answer (server-sent events)"},
		{Name: FieldRetries, Type: contract.Int, Default: 3, Min: contract.Bound(0), Max: contract.Bound(10), Doc: "further attempts after 429, 5xx, timeouts and network errors, with exponential backoff"},
		{Name: FieldBackoff, Type: contract.String, Default: "1s", Advanced: true, Doc: "first retry delay, doubled after each retry, with jitter (Go duration)"},
	}
}

var envName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// FromBlock turns an llm: block (validated against BlockFields) into a Config; nil when the
// block sets no server. Issues name the block's field under prefix (e.g. "llm").
func FromBlock(c contract.Config, prefix string) (*Config, error) {
	if c.String(FieldBaseURL) == "" && c.String(FieldModel) == "" {
		return nil, nil
	}
	var issues []contract.Issue
	bad := func(field, msg string) {
		issues = append(issues, contract.Issue{Path: []string{prefix, field}, Msg: msg})
	}
	if c.String(FieldBaseURL) == "" {
		bad(FieldBaseURL, "missing (the model is set)")
	}
	if c.String(FieldModel) == "" {
		bad(FieldModel, "missing (the base_url is set)")
	}
	if k := c.String(FieldAPIKeyEnv); k != "" && !envName.MatchString(k) {
		bad(FieldAPIKeyEnv, "must be the NAME of an environment variable (letters, digits, _), not the key itself")
	}
	timeout, err := time.ParseDuration(c.String(FieldTimeout))
	if err != nil || timeout <= 0 {
		bad(FieldTimeout, fmt.Sprintf("%q is not a positive duration such as 30s or 2m", c.String(FieldTimeout)))
	}
	backoff, err := time.ParseDuration(c.String(FieldBackoff))
	if c.String(FieldBackoff) == "" {
		backoff, err = time.Second, nil
	}
	if err != nil || backoff <= 0 {
		bad(FieldBackoff, fmt.Sprintf("%q is not a positive duration such as 500ms or 2s", c.String(FieldBackoff)))
	}
	if len(issues) > 0 {
		return nil, &contract.ConfigError{Issues: issues}
	}
	return &Config{
		BaseURL: c.String(FieldBaseURL), Model: c.String(FieldModel), APIKeyEnv: c.String(FieldAPIKeyEnv),
		Temperature: c.Float(FieldTemperature), MaxTokens: c.Int(FieldMaxTokens), Timeout: timeout,
		Stream: c.Bool(FieldStream), Retries: c.Int(FieldRetries), Backoff: backoff,
	}, nil
}
