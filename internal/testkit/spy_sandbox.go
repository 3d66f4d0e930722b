package testkit

import (
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/tallyfy-mcp/tallyfy-mcp/tallyfy/sandbox"
)

// SandboxRequest is one request the sandbox received, as its handler saw it.
type SandboxRequest struct {
	Method, Path, Auth string
	Start, End         time.Time
	CtxErr             error // the request context's error when the handler returned
}

// SpySandbox serves a sandbox on loopback and records every request: its Authorization header,
// when it started and ended and whether its context was cancelled.
type SpySandbox struct {
	*sandbox.Sandbox
	URL string

	mu   sync.Mutex
	reqs []SandboxRequest
	live map[*http.Request]time.Time
}

// StartSandbox serves a fresh sandbox built with opts on loopback until the test ends, and
// returns it with its base URL.
func StartSandbox(t testing.TB, opts ...sandbox.Option) (*sandbox.Sandbox, string) {
	t.Helper()
	sb := sandbox.New(opts...)
	url, srv, err := sandbox.Listen("127.0.0.1:0", sb)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	return sb, url
}

// NewSpySandbox serves a fresh sandbox on loopback until the test ends.
func NewSpySandbox(t testing.TB) *SpySandbox {
	t.Helper()
	s := &SpySandbox{Sandbox: sandbox.New(), live: map[*http.Request]time.Time{}}
	url, srv, err := sandbox.Listen("127.0.0.1:0", http.HandlerFunc(s.serve))
	if err != nil {
		t.Fatal(err)
	}
	s.URL = url
	t.Cleanup(func() { _ = srv.Close() })
	return s
}

func (s *SpySandbox) serve(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	s.mu.Lock()
	s.live[r] = start
	s.mu.Unlock()
	s.ServeHTTP(w, r)
	s.mu.Lock()
	delete(s.live, r)
	s.reqs = append(s.reqs, SandboxRequest{Method: r.Method, Path: r.URL.Path, Auth: r.Header.Get("Authorization"),
		Start: start, End: time.Now(), CtxErr: r.Context().Err()})
	s.mu.Unlock()
}

// Done returns the requests that have finished.
func (s *SpySandbox) Done() []SandboxRequest {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]SandboxRequest(nil), s.reqs...)
}

// InFlight counts requests the sandbox is still handling.
func (s *SpySandbox) InFlight() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.live)
}
