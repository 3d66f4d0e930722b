package mcphttp

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mark3labs/mcp-go/mcp"
	mcpserver "github.com/mark3labs/mcp-go/server"

	"github.com/tallyfy-mcp/tallyfy-mcp/server/auth"
	"github.com/tallyfy-mcp/tallyfy-mcp/server/jsonrpc"
	"github.com/tallyfy-mcp/tallyfy-mcp/tools"
)

// countedBody counts what is read of a request body as it arrives.
type countedBody struct {
	io.ReadCloser
	bytes, eofs *atomic.Int64
}

func (b countedBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	b.bytes.Add(int64(n))
	if err == io.EOF {
		b.eofs.Add(1)
	}
	return n, err
}

// newTestServer serves an MCP server with one tool, "echo", built with the Tracker's hooks as
// the server package builds it, behind identify.
func newTestServer(identify func(*http.Request) (*tools.Caller, auth.StepUp, *auth.Refusal)) *Server {
	hooks := &mcpserver.Hooks{}
	track := &Tracker{}
	opts := []mcpserver.ServerOption{mcpserver.WithHooks(hooks)}
	for _, mw := range track.Register(hooks) {
		opts = append(opts, mcpserver.WithToolHandlerMiddleware(mw))
	}
	mcpSrv := mcpserver.NewMCPServer("t", "1", opts...)
	mcpSrv.AddTool(mcp.NewTool("echo"), func(context.Context, mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		return mcp.NewToolResultText("echoed"), nil
	})
	return New(Options{
		MCP: mcpSrv, Tracker: track, Identify: identify,
		CallContext:   func(ctx context.Context, _ *http.Request) context.Context { return ctx },
		BeginShutdown: func() {},
		Logger:        slog.New(slog.DiscardHandler),
		Addr:          "127.0.0.1:0", MaxBodyBytes: 1 << 20, BodyReadTimeout: 5 * time.Second, MaxSessions: 10,
		SessionIdleTTL: time.Minute,
	})
}

// TestToolsCallBodyParsedOnce pins what the envelope promises: a tools/call's body is read from
// the connection once and parsed once by this package, and the step-up scope check, the JSON-RPC
// checks, session ownership and the 2026-07-28 cancel scope all work from that one parse (mcp-go
// then decodes the copy it is handed, once, as it must). Before the envelope, this server read a
// tools/call up to three times and parsed it up to three (OAuth's calledTool, limitBody, the
// JSON-RPC check, the cancel scope).
func TestToolsCallBodyParsedOnce(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	var steppedUp []string
	s := newTestServer(func(*http.Request) (*tools.Caller, auth.StepUp, *auth.Refusal) {
		return &tools.Caller{Binding: "test"}, func(tool string) *auth.Refusal {
			mu.Lock()
			defer mu.Unlock()
			steppedUp = append(steppedUp, tool)
			return nil
		}, nil
	})
	var parses atomic.Int64
	s.parse = func(b []byte) jsonrpc.Envelope { parses.Add(1); return jsonrpc.Parse(b) }
	var read, eofs atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.Body = countedBody{ReadCloser: r.Body, bytes: &read, eofs: &eofs}
		s.Handler.ServeHTTP(w, r)
	}))
	defer srv.Close()

	post := func(body string, headers map[string]string) (int, string, http.Header) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodPost, srv.URL+"/mcp", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Accept", "application/json, text/event-stream")
		for k, v := range headers {
			req.Header.Set(k, v)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b), resp.Header
	}
	// An older client: initialize opens a session, then the tools/call on it.
	code, body, hdr := post(`{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"t","version":"1"}}}`, nil)
	session := hdr.Get("Mcp-Session-Id")
	if code != http.StatusOK || session == "" {
		t.Fatalf("initialize: %d %s", code, body)
	}
	post(`{"jsonrpc":"2.0","method":"notifications/initialized"}`, map[string]string{"Mcp-Session-Id": session, "Mcp-Protocol-Version": "2025-11-25"})

	for _, tc := range []struct {
		name, body string
		headers    map[string]string
	}{
		{"2025-11-25 tools/call", `{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"echo","arguments":{}}}`,
			map[string]string{"Mcp-Session-Id": session, "Mcp-Protocol-Version": "2025-11-25"}},
		// The headers name the tool here, so the step-up check runs before the body is read.
		{"2026-07-28 tools/call", `{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"echo","arguments":{},` +
			`"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientInfo":{"name":"t","version":"1"},"io.modelcontextprotocol/clientCapabilities":{}}}}`,
			map[string]string{"Mcp-Protocol-Version": "2026-07-28", "Mcp-Method": "tools/call", "Mcp-Name": "echo"}},
	} {
		parses.Store(0)
		read.Store(0)
		eofs.Store(0)
		mu.Lock()
		steppedUp = nil
		mu.Unlock()
		code, body, _ := post(tc.body, tc.headers)
		if code != http.StatusOK || !strings.Contains(body, "echoed") {
			t.Fatalf("%s: %d %s", tc.name, code, body)
		}
		if n := parses.Load(); n != 1 {
			t.Errorf("%s: the body was parsed %d times here, want 1", tc.name, n)
		}
		if n, e := read.Load(), eofs.Load(); n != int64(len(tc.body)) || e != 1 {
			t.Errorf("%s: %d bytes of %d read from the connection, to its end %d times; want all of it, once", tc.name, n, len(tc.body), e)
		}
		mu.Lock()
		if len(steppedUp) != 1 || steppedUp[0] != "echo" {
			t.Errorf("%s: the step-up check saw %q, want [echo] once", tc.name, steppedUp)
		}
		mu.Unlock()
	}
}
