package mcphttp

import (
	"bufio"
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	mcpserver "github.com/mark3labs/mcp-go/server"
)

// TestSSEStreamKnowsItsSession: a watched SSE stream is marked live under the session ID
// mcp-go announces to the client (learnt from the session ID generator, not from the bytes),
// and forgotten when the stream ends.
func TestSSEStreamKnowsItsSession(t *testing.T) {
	t.Parallel()
	var u sseUnsent
	sse := mcpserver.NewSSEServer(mcpserver.NewMCPServer("t", "1"), mcpserver.WithSessionIDGenerator(u.sessionID))
	srv := httptest.NewServer(u.watch(sse.SSEHandler()))
	defer srv.Close()
	ctx, cancel := context.WithCancel(t.Context())
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+"/sse", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	sc := bufio.NewScanner(resp.Body)
	var announced string
	for announced == "" && sc.Scan() {
		if data, ok := strings.CutPrefix(sc.Text(), "data: "); ok {
			if u, err := url.Parse(strings.TrimSpace(data)); err == nil {
				announced = u.Query().Get("sessionId")
			}
		}
	}
	if announced == "" {
		t.Fatal("no endpoint event naming the session")
	}
	u.mu.Lock()
	live := u.live[announced]
	u.mu.Unlock()
	if !live {
		t.Errorf("session %s announced but not marked live", announced)
	}
	cancel()
	deadline := time.Now().Add(5 * time.Second)
	for {
		u.mu.Lock()
		live = u.live[announced]
		u.mu.Unlock()
		if !live {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("session still live after its stream ended")
		}
		time.Sleep(5 * time.Millisecond)
	}
}
