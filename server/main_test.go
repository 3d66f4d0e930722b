package server

// Shared fixtures of the transport tests: the built binary (stdio and process-level tests), an
// app served over httptest exactly as production builds it, a sandbox the tests can see into,
// and mcp-go clients on each transport at each protocol era.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mark3labs/mcp-go/client"
	"github.com/mark3labs/mcp-go/client/transport"
	"github.com/mark3labs/mcp-go/mcp"

	"github.com/tallyfy-mcp/tallyfy-mcp/internal/harness"
	"github.com/tallyfy-mcp/tallyfy-mcp/tallyfy/sandbox"
)

func TestMain(m *testing.M) { harness.Main(m) }

// ---------------------------------------------------------------------------
// Protocol eras and transports.

type era struct {
	name    string
	version string // "" = the client's default (2026-07-28)
}

var (
	legacyEra = era{"legacy", mcp.ProtocolVersion20251125}
	modernEra = era{"modern", ""}
	eras      = []era{legacyEra, modernEra}
)

const (
	kindStdio      = "stdio"
	kindStreamable = "streamable-http"
	kindSSE        = "sse"
)

var kinds = []string{kindStdio, kindStreamable, kindSSE}

// ---------------------------------------------------------------------------
// Logs.

// logBuffer is a goroutine-safe writer the app's logger writes to.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// ---------------------------------------------------------------------------
// A sandbox the tests can see into.

// sbRequest is one request the sandbox received, as its handler saw it.
type sbRequest struct {
	Method, Path, Auth string
	Start, End         time.Time
	CtxErr             error // the request context's error when the handler returned
}

// spySandbox serves a sandbox on loopback and records every request: its Authorization header,
// when it started and ended and whether its context was cancelled.
type spySandbox struct {
	*sandbox.Sandbox
	URL string

	mu   sync.Mutex
	reqs []sbRequest
	live map[*http.Request]time.Time
}

func newSpySandbox(t testing.TB) *spySandbox {
	t.Helper()
	s := &spySandbox{Sandbox: sandbox.New(), live: map[*http.Request]time.Time{}}
	url, srv, err := sandbox.Listen("127.0.0.1:0", http.HandlerFunc(s.serve))
	if err != nil {
		t.Fatal(err)
	}
	s.URL = url
	t.Cleanup(func() { _ = srv.Close() })
	return s
}

func (s *spySandbox) serve(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	s.mu.Lock()
	s.live[r] = start
	s.mu.Unlock()
	s.ServeHTTP(w, r)
	s.mu.Lock()
	delete(s.live, r)
	s.reqs = append(s.reqs, sbRequest{Method: r.Method, Path: r.URL.Path, Auth: r.Header.Get("Authorization"),
		Start: start, End: time.Now(), CtxErr: r.Context().Err()})
	s.mu.Unlock()
}

// done returns the requests that have finished.
func (s *spySandbox) done() []sbRequest {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]sbRequest(nil), s.reqs...)
}

// inFlight counts requests the sandbox is still handling.
func (s *spySandbox) inFlight() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.live)
}

// ---------------------------------------------------------------------------
// The app over HTTP.

type fixture struct {
	App  *App
	H    *HTTPServer
	TS   *httptest.Server
	URL  string
	Logs *logBuffer
	SB   *spySandbox // nil with --sandbox
}

type fixtureOpts struct {
	spy  bool   // use a spySandbox instead of --sandbox
	auth string // caller token
}

// newFixture builds the app with ParseConfig + New + NewHTTPServer, as production does, and
// serves it with httptest. Logs are captured at debug level.
func newFixture(t testing.TB, o fixtureOpts, args ...string) *fixture {
	t.Helper()
	f := &fixture{Logs: &logBuffer{}}
	env := map[string]string{}
	all := []string{"--transport", "http", "--log-level", "debug"}
	if o.spy {
		f.SB = newSpySandbox(t)
		env["TALLYFY_ACCESS_TOKEN"] = sandbox.AdminToken
		all = append(all, "--base-url", f.SB.URL, "--org-id", sandbox.OrgID)
	} else {
		all = append(all, "--sandbox")
	}
	all = append(all, args...)
	cfg, err := ParseConfig(all, func(k string) string { return env[k] }, io.Discard)
	if err != nil {
		t.Fatalf("ParseConfig(%q): %v", all, err)
	}
	cfg.Version = "test"
	app, err := New(cfg, NewLogger(f.Logs, cfg.LogLevel, cfg.LogFormat))
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	f.App = app
	f.H = NewHTTPServer(app, o.auth)
	f.TS = httptest.NewServer(f.H.Handler)
	f.URL = f.TS.URL
	t.Cleanup(func() {
		f.H.sse.CloseSessions()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = f.H.streamable.Shutdown(ctx)
		f.TS.CloseClientConnections()
		f.TS.Close()
		_ = app.Close()
	})
	return f
}

// ---------------------------------------------------------------------------
// Clients.

type clientOpts struct {
	era     era
	headers map[string]string
	elicit  client.ElicitationHandler
	http    *http.Client
}

// quiet silences the clients' own logs (a stream ending at shutdown is expected there).
var quiet = slog.New(slog.DiscardHandler)

// connectHTTP opens and initializes an mcp-go client on /mcp or /sse of baseURL.
func connectHTTP(t testing.TB, kind, baseURL string, o clientOpts) *client.Client {
	t.Helper()
	c, err := dialHTTP(kind, baseURL, o)
	if err != nil {
		t.Fatalf("connecting over %s (%s): %v", kind, o.era.name, err)
	}
	return c
}

// dialHTTP is connectHTTP returning the error.
func dialHTTP(kind, baseURL string, o clientOpts) (*client.Client, error) {
	var tr transport.Interface
	switch kind {
	case kindStreamable:
		opts := []transport.StreamableHTTPCOption{transport.WithHTTPHeaders(o.headers), transport.WithHTTPLogger(quiet)}
		if o.http != nil {
			opts = append(opts, transport.WithHTTPBasicClient(o.http))
		}
		s, err := transport.NewStreamableHTTP(baseURL+"/mcp", opts...)
		if err != nil {
			return nil, err
		}
		tr = s
	case kindSSE:
		opts := []transport.ClientOption{transport.WithHeaders(o.headers), transport.WithSSELogger(quiet)}
		if o.http != nil {
			opts = append(opts, transport.WithHTTPClient(o.http))
		}
		s, err := transport.NewSSE(baseURL+"/sse", opts...)
		if err != nil {
			return nil, err
		}
		tr = s
	default:
		return nil, fmt.Errorf("unknown transport %q", kind)
	}
	return start(tr, o)
}

// connectStdio starts the built binary with args and a clean environment plus env.
func connectStdio(t testing.TB, env []string, args []string, o clientOpts) *client.Client {
	t.Helper()
	stderr := &logBuffer{}
	tr := harness.StdioTransport(harness.MinimalEnv(t, env...), args, stderr)
	c, err := start(tr, o)
	if err != nil {
		t.Fatalf("starting the binary (%s): %v\nstderr:\n%s", o.era.name, err, stderr.String())
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("binary stderr:\n%s", stderr.String())
		}
	})
	return c
}

func start(tr transport.Interface, o clientOpts) (*client.Client, error) {
	var opts []client.ClientOption
	if o.era.version != "" {
		opts = append(opts, client.WithProtocolVersion(o.era.version))
	}
	if o.elicit != nil {
		opts = append(opts, client.WithElicitationHandler(o.elicit))
	}
	c := client.NewClient(tr, opts...)
	// The Start context governs the SSE stream and the child process: it must outlive the test.
	if err := c.Start(context.Background()); err != nil {
		_ = c.Close()
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	req := mcp.InitializeRequest{}
	req.Params.ClientInfo = mcp.Implementation{Name: "server-test", Version: "1"}
	req.Params.ProtocolVersion = o.era.version
	if _, err := c.Initialize(ctx, req); err != nil {
		_ = c.Close()
		return nil, err
	}
	return c, nil
}

// connect opens a client on any transport: stdio runs the binary with args, the HTTP kinds
// build an app from args and serve it.
func connect(t *testing.T, kind string, args []string, o clientOpts) *client.Client {
	t.Helper()
	var c *client.Client
	if kind == kindStdio {
		c = connectStdio(t, nil, append([]string{"--sandbox", "--log-level", "debug"}, args...), o)
	} else {
		f := newFixture(t, fixtureOpts{}, args...)
		c = connectHTTP(t, kind, f.URL, o)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// ---------------------------------------------------------------------------
// Calls and results.

func ctxT(t testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

func call(ctx context.Context, c *client.Client, name string, args map[string]any) (*mcp.CallToolResult, error) {
	req := mcp.CallToolRequest{}
	req.Params.Name = name
	req.Params.Arguments = args
	return c.CallTool(ctx, req)
}

// mustCall calls a tool and fails on a protocol error (a tool error is returned).
func mustCall(t testing.TB, ctx context.Context, c *client.Client, name string, args map[string]any) *mcp.CallToolResult {
	t.Helper()
	res, err := call(ctx, c, name, args)
	if err != nil {
		t.Fatalf("%s(%v): %v", name, args, err)
	}
	return res
}

func text(res *mcp.CallToolResult) string {
	var parts []string
	for _, c := range res.Content {
		if tc, ok := c.(mcp.TextContent); ok {
			parts = append(parts, tc.Text)
		}
	}
	return strings.Join(parts, "\n")
}

// structured decodes a result's structuredContent into a map.
func structured(t testing.TB, res *mcp.CallToolResult) map[string]any {
	t.Helper()
	b, err := json.Marshal(res.StructuredContent)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil || m == nil {
		t.Fatalf("structuredContent %s is not an object (text: %s)", b, text(res))
	}
	return m
}

// field walks a structured result: field(m, "resource", "state").
func field(m map[string]any, path ...string) any {
	var v any = m
	for _, p := range path {
		mm, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = mm[p]
	}
	return v
}

func toolNames(t testing.TB, ctx context.Context, c *client.Client) []string {
	t.Helper()
	res, err := c.ListTools(ctx, mcp.ListToolsRequest{})
	if err != nil {
		t.Fatalf("tools/list: %v", err)
	}
	var names []string
	for _, tl := range res.Tools {
		names = append(names, tl.Name)
	}
	return names
}

// eventually polls cond until it holds or d passes.
func eventually(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("after %s: %s", d, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// initBody is a legacy initialize request.
const initBody = `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"raw","version":"1"}}}`

// rawPost posts body to url with headers and returns the status, headers and body.
func rawPost(t testing.TB, url, body string, headers map[string]string) (int, http.Header, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	for k, v := range headers {
		if strings.EqualFold(k, "Host") {
			req.Host = v
			continue
		}
		req.Header.Set(k, v)
	}
	return do(t, req)
}

func do(t testing.TB, req *http.Request) (int, http.Header, string) {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(b)
}
