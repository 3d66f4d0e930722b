// Package testkit holds the fixtures that the server package's in-process tests and the
// black-box tests in internal/blackbox share: mcp-go clients on each transport at each protocol
// era, a sandbox the tests can see into, tool-call and result helpers, raw HTTP posts, health
// waits and audit-log reading. Starting the built binary is internal/harness's job.
package testkit

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mark3labs/mcp-go/client"
	"github.com/mark3labs/mcp-go/client/transport"
	"github.com/mark3labs/mcp-go/mcp"

	"github.com/tallyfy-mcp/tallyfy-mcp/internal/harness"
	"github.com/tallyfy-mcp/tallyfy-mcp/tallyfy/sandbox"
	"github.com/tallyfy-mcp/tallyfy-mcp/tools"
)

// ---------------------------------------------------------------------------
// Protocol eras and transports.

// Era is an MCP protocol era a client negotiates.
type Era struct {
	Name    string
	Version string // "" = the client's default (2026-07-28)
}

var (
	// Legacy is the 2025-11-25 session-based protocol.
	Legacy = Era{"legacy", mcp.ProtocolVersion20251125}
	// Modern is the client's default, the 2026-07-28 stateless protocol.
	Modern = Era{"modern", ""}
	// Eras is every era the server serves.
	Eras = []Era{Legacy, Modern}
)

// The transports, named as the audit log names them.
const (
	Stdio      = "stdio"
	Streamable = "streamable-http"
	SSE        = "sse"
)

// Kinds is every transport.
var Kinds = []string{Stdio, Streamable, SSE}

// ---------------------------------------------------------------------------
// A sandbox the tests can see into.

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

// ---------------------------------------------------------------------------
// Clients.

// ClientOpts says how a client connects.
type ClientOpts struct {
	Era     Era
	Headers map[string]string
	Elicit  client.ElicitationHandler
	HTTP    *http.Client // nil = the transport's default
}

// Quiet silences the clients' own logs (a stream ending at shutdown is expected there).
var Quiet = slog.New(slog.DiscardHandler)

// ConnectHTTP opens and initializes an mcp-go client on /mcp or /sse of baseURL.
func ConnectHTTP(t testing.TB, kind, baseURL string, o ClientOpts) *client.Client {
	t.Helper()
	c, err := DialHTTP(kind, baseURL, o)
	if err != nil {
		t.Fatalf("connecting over %s (%s): %v", kind, o.Era.Name, err)
	}
	return c
}

// DialHTTP is ConnectHTTP returning the error.
func DialHTTP(kind, baseURL string, o ClientOpts) (*client.Client, error) {
	var tr transport.Interface
	switch kind {
	case Streamable:
		opts := []transport.StreamableHTTPCOption{transport.WithHTTPHeaders(o.Headers), transport.WithHTTPLogger(Quiet)}
		if o.HTTP != nil {
			opts = append(opts, transport.WithHTTPBasicClient(o.HTTP))
		}
		s, err := transport.NewStreamableHTTP(baseURL+"/mcp", opts...)
		if err != nil {
			return nil, err
		}
		tr = s
	case SSE:
		opts := []transport.ClientOption{transport.WithHeaders(o.Headers), transport.WithSSELogger(Quiet)}
		if o.HTTP != nil {
			opts = append(opts, transport.WithHTTPClient(o.HTTP))
		}
		s, err := transport.NewSSE(baseURL+"/sse", opts...)
		if err != nil {
			return nil, err
		}
		tr = s
	default:
		return nil, fmt.Errorf("unknown transport %q", kind)
	}
	return initialize(tr, o)
}

// ConnectStdio starts the binary internal/harness built, with args and a clean environment
// plus env ("K=V" entries), and initializes a client on its pipes.
func ConnectStdio(t testing.TB, env []string, args []string, o ClientOpts) *client.Client {
	t.Helper()
	stderr := &harness.Buffer{}
	tr := harness.StdioTransport(harness.MinimalEnv(t, env...), args, stderr)
	c, err := initialize(tr, o)
	if err != nil {
		t.Fatalf("starting the binary (%s): %v\nstderr:\n%s", o.Era.Name, err, stderr.String())
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("binary stderr:\n%s", stderr.String())
		}
	})
	return c
}

func initialize(tr transport.Interface, o ClientOpts) (*client.Client, error) {
	var opts []client.ClientOption
	if o.Era.Version != "" {
		opts = append(opts, client.WithProtocolVersion(o.Era.Version))
	}
	if o.Elicit != nil {
		opts = append(opts, client.WithElicitationHandler(o.Elicit))
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
	req.Params.ProtocolVersion = o.Era.Version
	if _, err := c.Initialize(ctx, req); err != nil {
		_ = c.Close()
		return nil, err
	}
	return c, nil
}

// ModernClient opens a 2026-07-28 (stateless) streamable HTTP client that declares name and
// sends headers, and fails unless the stateless protocol was negotiated.
func ModernClient(t testing.TB, url, name string, headers map[string]string) *client.Client {
	t.Helper()
	tr, err := transport.NewStreamableHTTP(url+"/mcp", transport.WithHTTPHeaders(headers), transport.WithHTTPLogger(Quiet))
	if err != nil {
		t.Fatal(err)
	}
	c := client.NewClient(tr)
	if err := c.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	req := mcp.InitializeRequest{}
	req.Params.ClientInfo = mcp.Implementation{Name: name, Version: "1"}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if _, err := c.Initialize(ctx, req); err != nil {
		t.Fatalf("initialize %s: %v", name, err)
	}
	if v := c.ProtocolVersion(); v != mcp.LATEST_PROTOCOL_VERSION {
		t.Fatalf("%s negotiated %q, want the stateless %s", name, v, mcp.LATEST_PROTOCOL_VERSION)
	}
	return c
}

// ---------------------------------------------------------------------------
// Calls and results.

// Context is a context that ends after d or with the test.
func Context(t testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// Call calls a tool; a JSON-RPC error is returned as err.
func Call(ctx context.Context, c *client.Client, name string, args map[string]any) (*mcp.CallToolResult, error) {
	req := mcp.CallToolRequest{}
	req.Params.Name = name
	req.Params.Arguments = args
	return c.CallTool(ctx, req)
}

// MustCall calls a tool and fails on a protocol error (a tool error is returned).
func MustCall(t testing.TB, ctx context.Context, c *client.Client, name string, args map[string]any) *mcp.CallToolResult {
	t.Helper()
	res, err := Call(ctx, c, name, args)
	if err != nil {
		t.Fatalf("%s(%v): %v", name, args, err)
	}
	return res
}

// Text joins a result's text content ("" for no result).
func Text(res *mcp.CallToolResult) string {
	if res == nil {
		return ""
	}
	var parts []string
	for _, c := range res.Content {
		if tc, ok := c.(mcp.TextContent); ok {
			parts = append(parts, tc.Text)
		}
	}
	return strings.Join(parts, "\n")
}

// Structured decodes a result's structuredContent into a map.
func Structured(t testing.TB, res *mcp.CallToolResult) map[string]any {
	t.Helper()
	b, err := json.Marshal(res.StructuredContent)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil || m == nil {
		t.Fatalf("structuredContent %s is not an object (text: %s)", b, Text(res))
	}
	return m
}

// Field walks a structured result: Field(m, "resource", "state").
func Field(m map[string]any, path ...string) any {
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

// ToolNames lists the tools the server offers c.
func ToolNames(t testing.TB, ctx context.Context, c *client.Client) []string {
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

// Eventually polls cond until it holds, failing the test when d passes first.
func Eventually(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("after %s: %s", d, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// ---------------------------------------------------------------------------
// Raw HTTP.

// InitBody is a legacy initialize request.
const InitBody = `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"raw","version":"1"}}}`

// RawPost posts body to url with headers ("Host" sets the request's host) and returns the
// status, headers and body.
func RawPost(t testing.TB, url, body string, headers map[string]string) (int, http.Header, string) {
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
	return Do(t, req)
}

// Do sends req with the default client and returns the status, headers and body.
func Do(t testing.TB, req *http.Request) (int, http.Header, string) {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(b)
}

// WaitHealthy polls url's /healthz until it answers 200.
func WaitHealthy(t testing.TB, hc *http.Client, url string) {
	t.Helper()
	Eventually(t, 10*time.Second, "the server to answer /healthz", func() bool {
		resp, err := hc.Get(url + "/healthz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
}

// ---------------------------------------------------------------------------
// Files the server reads and writes.

// AuditRecords reads an audit log, one record a line.
func AuditRecords(t testing.TB, path string) []tools.Record {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatalf("audit log: %v", err)
	}
	defer f.Close()
	var out []tools.Record
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var r tools.Record
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatalf("audit line %q is not JSON: %v", sc.Text(), err)
		}
		out = append(out, r)
	}
	return out
}

// TokenSHA256 is the hex SHA-256 a callers file stores for a bearer token.
func TokenSHA256(tok string) string {
	s := sha256.Sum256([]byte(tok))
	return hex.EncodeToString(s[:])
}

// WriteCallers writes a callers file holding entries.
func WriteCallers(t testing.TB, path string, entries ...map[string]any) {
	t.Helper()
	b, err := json.MarshalIndent(map[string]any{"callers": entries}, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
}
