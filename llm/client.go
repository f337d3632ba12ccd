// Package llm drafts report prose with any OpenAI-compatible chat server (OpenAI, Azure
// OpenAI, vLLM, Ollama, llama.cpp server) through go-openai. It builds prompts from an
// aggregate summary only, refuses prompts that carry identifier values (Guard), checks
// every number of an answer against the run's figures (Ground), and retries with backoff
// on 429 and 5xx. The API key is read from the environment variable the config names and
// never appears in errors, logs or files.
package llm

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	openai "github.com/sashabaranov/go-openai"
)

// Config configures the client (the report stage's llm: block).
type Config struct {
	BaseURL     string        // e.g. https://api.openai.com/v1, http://localhost:11434/v1
	Model       string        // model name
	APIKeyEnv   string        // NAME of the environment variable holding the key ("" = no key)
	Temperature float64       // sampling temperature
	MaxTokens   int           // answer length limit (0 = server default)
	Timeout     time.Duration // per attempt
	Stream      bool          // use server-sent events
	Retries     int           // further attempts after a 429, 5xx, timeout or network error
	// Backoff is the first retry delay (doubled each time, with jitter); 0 = 1s.
	Backoff time.Duration
}

// Client calls one chat model.
type Client struct {
	cfg    Config
	key    string
	client *openai.Client
}

// New builds a client. A named key variable that is unset or empty is an error naming the
// variable (never its value).
func New(cfg Config) (*Client, error) {
	if cfg.BaseURL == "" {
		return nil, fmt.Errorf("llm: base_url is required")
	}
	if cfg.Model == "" {
		return nil, fmt.Errorf("llm: model is required")
	}
	key := ""
	if cfg.APIKeyEnv != "" {
		key = os.Getenv(cfg.APIKeyEnv)
		if key == "" {
			return nil, fmt.Errorf("llm: environment variable %s (api_key_env) is not set", cfg.APIKeyEnv)
		}
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 60 * time.Second
	}
	if cfg.Backoff <= 0 {
		cfg.Backoff = time.Second
	}
	oc := openai.DefaultConfig(key)
	oc.BaseURL = strings.TrimRight(cfg.BaseURL, "/")
	oc.HTTPClient = &http.Client{Transport: retryAfterTransport{http.DefaultTransport}}
	return &Client{cfg: cfg, key: key, client: openai.NewClientWithConfig(oc)}, nil
}

// Attempt records one call to the server, for the report's record (no prompt text, no key).
type Attempt struct {
	N      int `json:"n"`
	Status int `json:"status,omitempty"` // HTTP status when the server answered with an error
	// RetryAfter is the wait in seconds the server asked for (Retry-After on a 429 or 503).
	RetryAfter float64 `json:"retry_after,omitempty"`
	Error      string  `json:"error,omitempty"`
	Seconds    float64 `json:"seconds"`
	Retrying   bool    `json:"retrying"`
}

// Complete sends a system and a user message and returns the answer text. Each attempt
// has the configured timeout; 429, 5xx, timeouts and network errors are retried with
// exponential backoff; other errors (400, 401, malformed answers) fail at once.
func (c *Client) Complete(ctx context.Context, system, user string) (string, []Attempt, error) {
	req := openai.ChatCompletionRequest{
		Model: c.cfg.Model,
		Messages: []openai.ChatCompletionMessage{
			{Role: openai.ChatMessageRoleSystem, Content: system},
			{Role: openai.ChatMessageRoleUser, Content: user},
		},
		Temperature: float32(c.cfg.Temperature),
		MaxTokens:   c.cfg.MaxTokens,
		Stream:      c.cfg.Stream,
	}
	return c.complete(ctx, req)
}

// Schema is a JSON schema for structured output (OpenAI's response_format json_schema).
type Schema struct {
	Name   string          // letters, digits, _ and -
	Schema json.RawMessage // the schema object
}

// CompleteJSON is Complete with structured output: the server is asked to answer with a
// JSON object that follows schema (strict mode). The answer is returned as text; the
// caller validates it, since not every OpenAI-compatible server enforces the schema.
func (c *Client) CompleteJSON(ctx context.Context, system, user string, schema Schema) (string, []Attempt, error) {
	req := openai.ChatCompletionRequest{
		Model: c.cfg.Model,
		Messages: []openai.ChatCompletionMessage{
			{Role: openai.ChatMessageRoleSystem, Content: system},
			{Role: openai.ChatMessageRoleUser, Content: user},
		},
		Temperature: float32(c.cfg.Temperature),
		MaxTokens:   c.cfg.MaxTokens,
		Stream:      c.cfg.Stream,
		ResponseFormat: &openai.ChatCompletionResponseFormat{
			Type:       openai.ChatCompletionResponseFormatTypeJSONSchema,
			JSONSchema: &openai.ChatCompletionResponseFormatJSONSchema{Name: schema.Name, Schema: schema.Schema, Strict: true},
		},
	}
	return c.complete(ctx, req)
}

// complete sends req with the retry policy of Complete.
func (c *Client) complete(ctx context.Context, req openai.ChatCompletionRequest) (string, []Attempt, error) {
	var attempts []Attempt
	delay := c.cfg.Backoff
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 1))
	for n := 1; ; n++ {
		start := time.Now()
		ra := &retryAfter{}
		text, err := c.once(context.WithValue(ctx, retryAfterKey{}, ra), req)
		a := Attempt{N: n, Seconds: time.Since(start).Seconds(), RetryAfter: ra.d.Seconds()}
		if err == nil {
			attempts = append(attempts, a)
			return text, attempts, nil
		}
		err = c.redact(err)
		a.Error = err.Error()
		a.Status = statusOf(err)
		retry := retryable(ctx, err) && n <= c.cfg.Retries
		a.Retrying = retry
		attempts = append(attempts, a)
		if !retry {
			return "", attempts, fmt.Errorf("llm %s (model %s): attempt %d: %w", c.cfg.BaseURL, c.cfg.Model, n, err)
		}
		wait := delay + time.Duration(rng.Int64N(int64(delay)/2+1))
		wait = max(wait, ra.d) // the server's Retry-After, when longer
		select {
		case <-ctx.Done():
			return "", attempts, fmt.Errorf("llm %s: %w", c.cfg.BaseURL, ctx.Err())
		case <-time.After(wait):
		}
		delay *= 2
	}
}

func (c *Client) once(ctx context.Context, req openai.ChatCompletionRequest) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, c.cfg.Timeout)
	defer cancel()
	if !req.Stream {
		resp, err := c.client.CreateChatCompletion(ctx, req)
		if err != nil {
			return "", err
		}
		if len(resp.Choices) == 0 {
			return "", errMalformed("answer has no choices")
		}
		text := resp.Choices[0].Message.Content
		if strings.TrimSpace(text) == "" {
			return "", errMalformed("answer is empty")
		}
		return text, nil
	}
	stream, err := c.client.CreateChatCompletionStream(ctx, req)
	if err != nil {
		return "", err
	}
	defer stream.Close()
	var b strings.Builder
	for {
		chunk, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return "", err
		}
		for _, ch := range chunk.Choices {
			b.WriteString(ch.Delta.Content)
		}
	}
	if strings.TrimSpace(b.String()) == "" {
		return "", errMalformed("streamed answer is empty")
	}
	return b.String(), nil
}

// ErrMalformed marks an answer the server sent that is not a usable chat completion.
var ErrMalformed = errors.New("malformed answer")

func errMalformed(msg string) error { return fmt.Errorf("%w: %s", ErrMalformed, msg) }

// redact removes the API key from an error's text, in case a server echoes it.
func (c *Client) redact(err error) error {
	if c.key == "" || !strings.Contains(err.Error(), c.key) {
		return err
	}
	return &redacted{msg: strings.ReplaceAll(err.Error(), c.key, "[redacted]"), err: err}
}

type redacted struct {
	msg string
	err error
}

func (r *redacted) Error() string { return r.msg }

// Is lets errors.Is and statusOf see the wrapped error without exposing its text.
func (r *redacted) Unwrap() error { return r.err }

func statusOf(err error) int {
	var api *openai.APIError
	if errors.As(err, &api) {
		return api.HTTPStatusCode
	}
	var re *openai.RequestError
	if errors.As(err, &re) {
		return re.HTTPStatusCode
	}
	return 0
}

// malformed reports whether the server's answer could not be decoded.
func malformed(err error) bool {
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	return errors.Is(err, ErrMalformed) || errors.As(err, &se) || errors.As(err, &te) || errors.Is(err, io.ErrUnexpectedEOF)
}

func retryable(ctx context.Context, err error) bool {
	if ctx.Err() != nil {
		return false // the caller gave up
	}
	if s := statusOf(err); s != 0 {
		return s == http.StatusTooManyRequests || s >= 500
	}
	if malformed(err) {
		return false
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return true // this attempt's timeout
	}
	var ne interface{ Timeout() bool }
	if errors.As(err, &ne) {
		return true
	}
	// connection refused/reset and similar transport errors
	msg := err.Error()
	return strings.Contains(msg, "connection") || strings.Contains(msg, "EOF")
}

// MaxRetryAfter caps the wait a server may ask for with Retry-After.
const MaxRetryAfter = 2 * time.Minute

type retryAfterKey struct{}

// retryAfter receives the Retry-After of an attempt's response.
type retryAfter struct{ d time.Duration }

// retryAfterTransport records the Retry-After header of 429 and 503 responses in the
// request context's *retryAfter, so the retry loop waits as long as the server asked.
type retryAfterTransport struct{ base http.RoundTripper }

func (t retryAfterTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := t.base.RoundTrip(r)
	if err != nil || (resp.StatusCode != http.StatusTooManyRequests && resp.StatusCode != http.StatusServiceUnavailable) {
		return resp, err
	}
	if ra, ok := r.Context().Value(retryAfterKey{}).(*retryAfter); ok {
		ra.d = ParseRetryAfter(resp.Header.Get("Retry-After"), time.Now())
	}
	return resp, err
}

// ParseRetryAfter reads a Retry-After value (seconds, or an HTTP date) as a wait from now,
// capped at MaxRetryAfter; 0 when absent or malformed.
func ParseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	var d time.Duration
	if secs, err := strconv.ParseFloat(v, 64); err == nil {
		if secs <= 0 || math.IsNaN(secs) {
			return 0
		}
		d = time.Duration(math.Min(secs, MaxRetryAfter.Seconds()) * float64(time.Second))
	} else if t, err := http.ParseTime(v); err == nil {
		d = t.Sub(now)
	}
	return min(max(d, 0), MaxRetryAfter)
}
