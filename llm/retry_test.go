package llm_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/biopipe/biopipe/llm"
	"github.com/biopipe/biopipe/llm/llmtest"
)

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	cases := []struct {
		v    string
		want time.Duration
	}{
		{"", 0},
		{"3", 3 * time.Second},
		{"0.5", 500 * time.Millisecond},
		{"-1", 0},
		{"soon", 0},
		{"86400", llm.MaxRetryAfter},
		{now.Add(7 * time.Second).Format(http.TimeFormat), 7 * time.Second},
		{now.Add(-time.Hour).Format(http.TimeFormat), 0},
	}
	for _, c := range cases {
		assert.Equal(t, c.want, llm.ParseRetryAfter(c.v, now), c.v)
	}
}

// TestRetryAfter: a 429 with Retry-After makes the client wait that long, not its (much
// shorter) backoff, and the attempt records the wait.
func TestRetryAfter(t *testing.T) {
	srv := llmtest.New(func(r llmtest.Request) llmtest.Reply {
		if r.Attempts == 1 {
			return llmtest.Reply{Status: http.StatusTooManyRequests, RetryAfter: "1"}
		}
		return llmtest.Reply{Content: "ok"}
	})
	defer srv.Close()
	c, err := llm.New(llm.Config{BaseURL: srv.URL, Model: "m", Retries: 2, Backoff: time.Millisecond, Timeout: 5 * time.Second})
	require.NoError(t, err)
	start := time.Now()
	text, attempts, err := c.Complete(context.Background(), "s", "u")
	require.NoError(t, err)
	assert.Equal(t, "ok", text)
	assert.GreaterOrEqual(t, time.Since(start), time.Second)
	require.Len(t, attempts, 2)
	assert.Equal(t, 429, attempts[0].Status)
	assert.Equal(t, 1.0, attempts[0].RetryAfter)
}
