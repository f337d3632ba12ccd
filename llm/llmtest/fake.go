// Package llmtest is a local fake OpenAI-compatible chat server for tests of the llm
// package and of the stages and example configs that call a model: it records every
// request body and answers through a function the test supplies, which may also return
// errors (429, 5xx), malformed bodies or slow answers.
package llmtest

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"time"
)

// Request is one chat request as the server saw it.
type Request struct {
	Model    string
	System   string // the system message
	User     string // the last user message
	Schema   json.RawMessage
	Body     []byte // the raw request body
	Attempts int    // how many requests with this same user message came before, plus one
}

// Reply is the server's answer to one request.
type Reply struct {
	Status  int           // HTTP status; 0 = 200
	Content string        // the assistant message (a 200 answer)
	Raw     string        // when set, sent as the body instead of a chat completion
	Delay   time.Duration // wait this long first (or until the client gives up)
	// RetryAfter, when set, is sent as the Retry-After header of an error answer.
	RetryAfter string
}

// Server is a running fake server.
type Server struct {
	URL string // base URL, ending in /v1

	srv    *httptest.Server
	answer func(Request) Reply
	mu     sync.Mutex
	reqs   []Request
	seen   map[string]int
}

// New starts a fake server that answers each request with answer(req).
func New(answer func(Request) Reply) *Server {
	s := &Server{answer: answer, seen: map[string]int{}}
	s.srv = httptest.NewServer(s)
	s.URL = s.srv.URL + "/v1"
	return s
}

// Close stops the server.
func (s *Server) Close() { s.srv.Close() }

// Requests returns the requests received so far, in arrival order.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Request(nil), s.reqs...)
}

// Bodies returns every raw request body received, concatenated (for leak checks).
func (s *Server) Bodies() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var b []byte
	for _, r := range s.reqs {
		b = append(b, r.Body...)
		b = append(b, '\n')
	}
	return string(b)
}

type chatRequest struct {
	Model    string `json:"model"`
	Messages []struct {
		Role    string `json:"role"`
		Content string `json:"content"`
	} `json:"messages"`
	ResponseFormat *struct {
		JSONSchema *struct {
			Schema json.RawMessage `json:"schema"`
		} `json:"json_schema"`
	} `json:"response_format"`
}

// ServeHTTP answers POST /v1/chat/completions.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/v1/chat/completions" {
		http.Error(w, `{"error":{"message":"not found"}}`, http.StatusNotFound)
		return
	}
	body, _ := io.ReadAll(r.Body)
	var cr chatRequest
	if err := json.Unmarshal(body, &cr); err != nil {
		http.Error(w, `{"error":{"message":"request is not JSON"}}`, http.StatusBadRequest)
		return
	}
	req := Request{Model: cr.Model, Body: body}
	for _, m := range cr.Messages {
		switch m.Role {
		case "system":
			req.System = m.Content
		case "user":
			req.User = m.Content
		}
	}
	if cr.ResponseFormat != nil && cr.ResponseFormat.JSONSchema != nil {
		req.Schema = cr.ResponseFormat.JSONSchema.Schema
	}
	s.mu.Lock()
	s.seen[req.User]++
	req.Attempts = s.seen[req.User]
	s.reqs = append(s.reqs, req)
	s.mu.Unlock()

	rep := s.answer(req)
	if rep.Delay > 0 {
		select {
		case <-time.After(rep.Delay):
		case <-r.Context().Done():
			return
		}
	}
	w.Header().Set("Content-Type", "application/json")
	if rep.Status != 0 && rep.Status != http.StatusOK {
		if rep.RetryAfter != "" {
			w.Header().Set("Retry-After", rep.RetryAfter)
		}
		w.WriteHeader(rep.Status)
		fmt.Fprintf(w, `{"error":{"message":"fake server: status %d","type":"fake","code":%d}}`, rep.Status, rep.Status)
		return
	}
	if rep.Raw != "" {
		_, _ = io.WriteString(w, rep.Raw)
		return
	}
	_ = json.NewEncoder(w).Encode(map[string]any{
		"id": "chatcmpl-fake", "object": "chat.completion", "created": 0, "model": cr.Model,
		"choices": []map[string]any{{
			"index": 0, "finish_reason": "stop",
			"message": map[string]any{"role": "assistant", "content": rep.Content},
		}},
	})
}
