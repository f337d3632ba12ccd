package llm

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// reply is one scripted answer of the fake server.
type reply struct {
	status int
	body   string
	delay  time.Duration
}

// fake is an OpenAI-compatible chat server that checks requests and plays a script.
type fake struct {
	t      *testing.T
	mu     sync.Mutex
	script []reply
	bodies []map[string]any
	auths  []string
}

func (f *fake) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	if r.URL.Path != "/v1/chat/completions" {
		f.t.Errorf("path %q", r.URL.Path)
	}
	b, _ := io.ReadAll(r.Body)
	var req map[string]any
	if err := json.Unmarshal(b, &req); err != nil {
		f.t.Errorf("request is not JSON: %v", err)
	}
	f.bodies = append(f.bodies, req)
	f.auths = append(f.auths, r.Header.Get("Authorization"))
	rep := reply{status: 200, body: "## Abstract\nA.\n## Discussion\nD."}
	if len(f.script) > 0 {
		rep, f.script = f.script[0], f.script[1:]
	}
	f.mu.Unlock()
	if rep.delay > 0 {
		select {
		case <-time.After(rep.delay):
		case <-r.Context().Done():
			return
		}
	}
	if rep.status != 200 {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(rep.status)
		fmt.Fprintf(w, `{"error":{"message":%q,"type":"server_error"}}`, rep.body)
		return
	}
	if s, _ := req["stream"].(bool); s {
		w.Header().Set("Content-Type", "text/event-stream")
		for _, part := range strings.SplitAfter(rep.body, " ") {
			c, _ := json.Marshal(map[string]any{"id": "x", "object": "chat.completion.chunk", "model": "m",
				"choices": []any{map[string]any{"index": 0, "delta": map[string]any{"content": part}}}})
			fmt.Fprintf(w, "data: %s\n\n", c)
		}
		fmt.Fprint(w, "data: [DONE]\n\n")
		return
	}
	if strings.HasPrefix(rep.body, "RAW:") {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, strings.TrimPrefix(rep.body, "RAW:"))
		return
	}
	out, _ := json.Marshal(map[string]any{"id": "x", "object": "chat.completion", "model": "m",
		"choices": []any{map[string]any{"index": 0, "finish_reason": "stop", "message": map[string]any{"role": "assistant", "content": rep.body}}}})
	w.Header().Set("Content-Type", "application/json")
	w.Write(out)
}

func newFake(t *testing.T, script ...reply) (*fake, Config) {
	f := &fake{t: t, script: script}
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	t.Setenv("BIOPIPE_TEST_LLM_KEY", "sk-test-SECRET-99")
	return f, Config{BaseURL: srv.URL + "/v1", Model: "fake-model", APIKeyEnv: "BIOPIPE_TEST_LLM_KEY",
		Temperature: 0.2, MaxTokens: 300, Timeout: 2 * time.Second, Retries: 2, Backoff: 10 * time.Millisecond}
}

var summary = map[string]any{"task": "classification", "test": map[string]any{"auroc": 0.987}}

func TestWrite(t *testing.T) {
	tests := []struct {
		name      string
		stream    bool
		script    []reply
		timeout   time.Duration
		wantErr   string
		wantCalls int
		wantText  string
	}{
		{name: "ok", wantCalls: 1, wantText: "D."},
		{name: "stream", stream: true, script: []reply{{status: 200, body: "## Discussion\nStreamed answer here."}}, wantCalls: 1, wantText: "Streamed answer here."},
		{name: "429 then ok", script: []reply{{status: 429, body: "slow down"}, {status: 200, body: "## Discussion\nsecond"}}, wantCalls: 2, wantText: "second"},
		{name: "5xx exhausts retries", script: []reply{{status: 503, body: "x"}, {status: 500, body: "x"}, {status: 502, body: "x"}}, wantErr: "attempt 3", wantCalls: 3},
		{name: "slow reply times out then ok", timeout: 150 * time.Millisecond,
			script: []reply{{status: 200, body: "late", delay: time.Second}, {status: 200, body: "## Discussion\nfast"}}, wantCalls: 2, wantText: "fast"},
		{name: "malformed JSON is not retried", script: []reply{{status: 200, body: `RAW:{"choices": [ {"message": `}}, wantErr: "attempt 1", wantCalls: 1},
		{name: "no choices", script: []reply{{status: 200, body: `RAW:{"id":"x","choices":[]}`}}, wantErr: "malformed", wantCalls: 1},
		{name: "401 is not retried", script: []reply{{status: 401, body: "bad key sk-test-SECRET-99"}}, wantErr: "401", wantCalls: 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f, cfg := newFake(t, tc.script...)
			cfg.Stream = tc.stream
			if tc.timeout > 0 {
				cfg.Timeout = tc.timeout
			}
			d, err := Write(context.Background(), cfg, NewGuard(), summary, "Breast cancer screening.")
			assert.Len(t, f.bodies, tc.wantCalls)
			if tc.wantErr != "" {
				require.Error(t, err)
				assert.Contains(t, err.Error(), tc.wantErr)
				assert.NotContains(t, err.Error(), "sk-test-SECRET-99", "the key never appears in errors")
				assert.NotContains(t, d.Error, "sk-test-SECRET-99")
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.wantText, d.Sections[Discussion])
			req := f.bodies[len(f.bodies)-1]
			assert.Equal(t, "fake-model", req["model"])
			assert.Equal(t, "Bearer sk-test-SECRET-99", f.auths[0])
			msgs := req["messages"].([]any)
			require.Len(t, msgs, 2)
			user := msgs[1].(map[string]any)["content"].(string)
			assert.Contains(t, user, "0.987")
			assert.Contains(t, user, "Breast cancer screening.")
			assert.InDelta(t, 300, req["max_tokens"], 0)
		})
	}
}

func TestWriteMissingKey(t *testing.T) {
	_, cfg := newFake(t)
	cfg.APIKeyEnv = "BIOPIPE_TEST_NO_SUCH_KEY"
	_, err := Write(context.Background(), cfg, nil, summary, "")
	assert.ErrorContains(t, err, "BIOPIPE_TEST_NO_SUCH_KEY")
}

func TestGuard(t *testing.T) {
	g := NewGuard()
	g.AddValues("PAT-00417", "17", "Jane Q Doe", "ab")
	require.NoError(t, g.AddHashes(Hash("DOE^JOHN")))
	assert.Equal(t, 2, g.Skipped(), "short and small-number values are not registered")
	tests := []struct {
		text    string
		refused bool
	}{
		{"Test AUROC 0.98 on 17 patients.", false},
		{"The worst case was PAT-00417.", true},
		{"patient pat-00417 again", true},
		{"written by jane q  doe, 2024", true},
		{"name DOE^JOHN in a tag", true},
		{"file scans/PAT-00417/a.dcm was corrupt", true},
		{"nothing here: DOE JOHNSON", false},
	}
	for _, tc := range tests {
		err := g.Check(tc.text)
		if tc.refused {
			var ei *ErrIdentifier
			require.ErrorAs(t, err, &ei, tc.text)
			assert.NotContains(t, err.Error(), "00417")
		} else {
			assert.NoError(t, err, tc.text)
		}
	}
	assert.Error(t, g.AddHashes("xyz"))

	// a refused prompt is never sent
	f, cfg := newFake(t)
	g2 := NewGuard()
	g2.AddValues("PAT-00417")
	d, err := Write(context.Background(), cfg, g2, map[string]any{"worst": "PAT-00417"}, "")
	require.Error(t, err)
	assert.True(t, d.Refused)
	assert.Empty(t, f.bodies)
}

func TestGround(t *testing.T) {
	facts := &Facts{}
	facts.Add(0.98765, 114, 0.95, 0.9123, 0.9987)
	tests := []struct {
		text string
		bad  []string
	}{
		{"AUROC was 0.988 (95% CI 0.91-1.00) on 114 patients.", nil},
		{"AUROC of 0.123 on the test set.", []string{"0.123"}},
		{"We used F1 and 3 seeds; accuracy 98.8%.", nil},
		{"Accuracy 97.0% on 115 cases.", []string{"97.0%", "115"}},
		{"A range 0.91–0.99 and −0.5.", []string{"−0.5"}},
	}
	for _, tc := range tests {
		nums, n := Ground(tc.text, facts)
		var bad []string
		for _, x := range nums {
			if !x.Grounded {
				bad = append(bad, tc.text[x.Start:x.End])
			}
		}
		assert.Equal(t, tc.bad, bad, tc.text)
		assert.Equal(t, len(tc.bad), n)
	}
}

func TestParseSections(t *testing.T) {
	s := ParseSections("Intro line\n## Abstract\nA text.\n**Introduction**\nI text.\n### Discussion:\nD text.\n")
	assert.Equal(t, map[string]string{Abstract: "A text.", Introduction: "I text.", Discussion: "D text."}, s)
	assert.Equal(t, map[string]string{Discussion: "just prose"}, ParseSections("just prose"))
}

func TestRedact(t *testing.T) {
	g := NewGuard()
	g.AddValues("PAT-00417", "Jane Q Doe")
	got, n := g.Redact("scans/PAT-00417/a.dcm: bad; seen by Jane Q Doe twice; PAT-00417.")
	assert.Equal(t, "scans/[redacted]/a.dcm: bad; seen by [redacted] twice; [redacted].", got)
	assert.Equal(t, 3, n)
	same, n := g.Redact("nothing to hide")
	assert.Zero(t, n)
	assert.Equal(t, "nothing to hide", same)
}
