package server

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mark3labs/mcp-go/client"
	"github.com/mark3labs/mcp-go/client/transport"
	"github.com/mark3labs/mcp-go/mcp"

	"github.com/tallyfy-mcp/tallyfy-mcp/internal/testkit"
	"github.com/tallyfy-mcp/tallyfy-mcp/tallyfy/sandbox"
	"github.com/tallyfy-mcp/tallyfy-mcp/tools"
)

// checkJSONRPCError asserts body is a JSON-RPC error response and returns its code and message.
func checkJSONRPCError(t testing.TB, body string) (int, string) {
	t.Helper()
	var m struct {
		JSONRPC string `json:"jsonrpc"`
		Error   *struct {
			Code    int    `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}
	if err := json.Unmarshal([]byte(body), &m); err != nil || m.JSONRPC != "2.0" || m.Error == nil {
		t.Fatalf("want a JSON-RPC error body, got %q (%v)", body, err)
	}
	return m.Error.Code, m.Error.Message
}

// getStatus sends a GET (e.g. /sse) and returns the status without reading an endless stream.
func getStatus(t testing.TB, url string, headers map[string]string) (int, http.Header, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	req.Header.Set("Accept", "text/event-stream")
	testkit.SetHeaders(req, headers)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	var body string
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		body = string(b)
	}
	return resp.StatusCode, resp.Header, body
}

// TestAuth: without the caller token (or with a wrong one) every MCP endpoint answers 401 with
// a Bearer challenge; with it both transports work; /healthz needs none; the token is never
// logged, never in a tool result and never sent to Tallyfy. Not parallel: it captures the
// process-wide default logger too.
func TestAuth(t *testing.T) {
	const secret = "caller-secret-7f3a9c2e51d8"
	defaultLogs := &logBuffer{}
	prev := slog.Default()
	slog.SetDefault(slog.New(slog.NewTextHandler(defaultLogs, &slog.HandlerOptions{Level: slog.LevelDebug})))
	t.Cleanup(func() { slog.SetDefault(prev) })

	f := newFixture(t, fixtureOpts{spy: true, auth: secret})
	good := map[string]string{"Authorization": "Bearer " + secret}

	t.Run("raw requests are refused", func(t *testing.T) {
		for _, h := range []map[string]string{
			nil,
			{"Authorization": "Bearer wrong-token"},
			{"Authorization": "Bearer " + secret + "x"},
			{"Authorization": "Basic " + secret},
			{"Authorization": secret},
		} {
			for _, ep := range []string{"/mcp", "/message?sessionId=x"} {
				status, hdr, body := rawPost(t, f.URL+ep, initBody, h)
				if status != http.StatusUnauthorized || !strings.HasPrefix(hdr.Get("WWW-Authenticate"), "Bearer") {
					t.Fatalf("POST %s with %v: status %d, WWW-Authenticate %q; want 401 Bearer", ep, h, status, hdr.Get("WWW-Authenticate"))
				}
				checkJSONRPCError(t, body)
				if strings.Contains(body, secret) {
					t.Fatal("the 401 body holds the token")
				}
			}
			status, hdr, _ := getStatus(t, f.URL+"/sse", h)
			if status != http.StatusUnauthorized || !strings.HasPrefix(hdr.Get("WWW-Authenticate"), "Bearer") {
				t.Fatalf("GET /sse with %v: status %d; want 401 Bearer", h, status)
			}
		}
		if f.H.OpenSessions() != 0 {
			t.Fatalf("refused requests opened %d sessions", f.H.OpenSessions())
		}
	})

	t.Run("mcp-go clients are refused", func(t *testing.T) {
		for _, kind := range []string{kindStreamable, kindSSE} {
			for _, h := range []map[string]string{nil, {"Authorization": "Bearer nope"}} {
				for _, e := range eras {
					c, err := dialHTTP(kind, f.URL, clientOpts{era: e, headers: h})
					if err == nil {
						_ = c.Close()
						t.Fatalf("%s/%s with %v: connected without the token", kind, e.Name, h)
					}
					if !errors.Is(err, transport.ErrAuthorizationRequired) {
						t.Fatalf("%s/%s with %v: want ErrAuthorizationRequired, got %v", kind, e.Name, h, err)
					}
				}
			}
		}
	})

	var results []string
	t.Run("with the token", func(t *testing.T) {
		for _, kind := range []string{kindStreamable, kindSSE} {
			for _, e := range eras {
				c := connectHTTP(t, kind, f.URL, clientOpts{era: e, headers: good})
				ctx := ctxT(t, 10*time.Second)
				if n := len(toolNames(t, ctx, c)); n != len(tools.All) {
					t.Fatalf("%s/%s: %d tools", kind, e.Name, n)
				}
				for _, tc := range []struct {
					name string
					args map[string]any
				}{
					{"get_run", map[string]any{"run_id": sandbox.IDs.ActiveRun}},
					{"archive_run", map[string]any{"run_id": sandbox.IDs.ActiveRun}},
					{"activate_run", map[string]any{"run_id": sandbox.IDs.ActiveRun}},
					{"delete_template", map[string]any{"template_id": sandbox.IDs.ArchivedTemplate}},
					{"get_task", map[string]any{"task_id": "not-an-id"}},
				} {
					res := mustCall(t, ctx, c, tc.name, tc.args)
					b, _ := json.Marshal(res)
					results = append(results, string(b))
				}
				if res := mustCall(t, ctx, c, "archive_run", map[string]any{"run_id": sandbox.IDs.ActiveRun}); res.IsError {
					t.Fatalf("%s/%s: archive_run: %s", kind, e.Name, text(res))
				}
				_ = c.Close()
			}
		}
	})

	t.Run("healthz needs no token and tells none", func(t *testing.T) {
		req, _ := http.NewRequest(http.MethodGet, f.URL+"/healthz", nil)
		status, _, body := do(t, req)
		if status != http.StatusOK || !strings.Contains(body, `"ok"`) {
			t.Fatalf("/healthz: %d %s", status, body)
		}
		if strings.Contains(body, secret) || strings.Contains(body, sandbox.AdminToken) {
			t.Fatalf("/healthz tells a token: %s", body)
		}
	})

	t.Run("the token stays secret", func(t *testing.T) {
		if len(results) == 0 {
			t.Fatal("no tool results to check")
		}
		for _, r := range results {
			if strings.Contains(r, secret) || strings.Contains(r, sandbox.AdminToken) {
				t.Fatalf("a tool result holds a token: %s", r)
			}
		}
		logs := f.Logs.String() + defaultLogs.String()
		if !strings.Contains(f.Logs.String(), "archive_run") {
			t.Fatalf("the debug log has no audit record of archive_run, so it was not captured:\n%s", f.Logs.String())
		}
		for _, tok := range []string{secret, sandbox.AdminToken} {
			if strings.Contains(logs, tok) {
				t.Fatalf("the log holds the token %q:\n%s", tok, logs)
			}
		}
		reqs := f.SB.Done()
		if len(reqs) < 10 {
			t.Fatalf("the sandbox saw only %d requests", len(reqs))
		}
		for _, r := range reqs {
			if r.Auth != "Bearer "+sandbox.AdminToken || strings.Contains(r.Auth, secret) {
				t.Fatalf("%s %s reached Tallyfy with Authorization %q", r.Method, r.Path, r.Auth)
			}
		}
	})
}

// TestHostAndOrigin: DNS-rebinding protection with the allowlists.
func TestHostAndOrigin(t *testing.T) {
	t.Parallel()
	plain := newFixture(t, fixtureOpts{})
	listed := newFixture(t, fixtureOpts{}, "--allowed-origins", "https://app.example", "--allowed-hosts", "mcp.example")
	for _, tc := range []struct {
		name    string
		f       *fixture
		headers map[string]string
		want    int
	}{
		{"evil host", plain, map[string]string{"Host": "evil.example"}, http.StatusForbidden},
		{"evil host with port", listed, map[string]string{"Host": "evil.example:8080"}, http.StatusForbidden},
		{"evil origin", plain, map[string]string{"Origin": "https://evil.example"}, http.StatusForbidden},
		{"evil origin, lists set", listed, map[string]string{"Origin": "https://evil.example"}, http.StatusForbidden},
		{"localhost-looking origin", plain, map[string]string{"Origin": "http://localhost.evil.example"}, http.StatusForbidden},
		{"null origin", plain, map[string]string{"Origin": "null"}, http.StatusForbidden},
		{"unlisted app origin", plain, map[string]string{"Origin": "https://app.example"}, http.StatusForbidden},
		{"unlisted host", plain, map[string]string{"Host": "mcp.example"}, http.StatusForbidden},
		{"no origin", plain, nil, http.StatusOK},
		{"localhost host", plain, map[string]string{"Host": "localhost:9999"}, http.StatusOK},
		{"inspector origin", plain, map[string]string{"Origin": "http://localhost:6274"}, http.StatusOK},
		{"loopback ip origin", plain, map[string]string{"Origin": "http://127.0.0.1:6274"}, http.StatusOK},
		{"allowed origin", listed, map[string]string{"Origin": "https://app.example"}, http.StatusOK},
		{"allowed host", listed, map[string]string{"Host": "mcp.example"}, http.StatusOK},
		{"allowed host with port", listed, map[string]string{"Host": "MCP.example:443"}, http.StatusOK},
	} {
		status, _, body := rawPost(t, tc.f.URL+"/mcp", initBody, tc.headers)
		if status != tc.want {
			t.Errorf("%s: POST /mcp with %v: %d %s, want %d", tc.name, tc.headers, status, body, tc.want)
			continue
		}
		if tc.want == http.StatusForbidden {
			_, msg := checkJSONRPCError(t, body)
			if !strings.Contains(msg, "Forbidden") {
				t.Errorf("%s: message %q", tc.name, msg)
			}
			// The same on the SSE endpoints.
			if s, _, _ := getStatus(t, tc.f.URL+"/sse", tc.headers); s != http.StatusForbidden {
				t.Errorf("%s: GET /sse: %d, want 403", tc.name, s)
			}
			if s, _, _ := rawPost(t, tc.f.URL+"/message?sessionId=x", initBody, tc.headers); s != http.StatusForbidden {
				t.Errorf("%s: POST /message: %d, want 403", tc.name, s)
			}
		}
	}
	if n := plain.H.OpenSessions() + listed.H.OpenSessions(); n != 7 {
		t.Errorf("%d sessions opened, want one per allowed initialize (7)", n)
	}
}

// paddedCall is a tools/call of archive_run whose JSON carries pad bytes of whitespace, so
// that it is valid at any size.
func paddedCall(runID string, pad int) string {
	return `{"jsonrpc":"2.0",` + strings.Repeat(" ", pad) + `"id":7,"method":"tools/call","params":{"name":"archive_run","arguments":{"run_id":"` + runID + `"}}}`
}

// chunkedReader hides the length so that the request is sent chunked.
type chunkedReader struct{ r io.Reader }

func (c chunkedReader) Read(p []byte) (int, error) { return c.r.Read(p) }

func postBody(t testing.TB, url string, body io.Reader, headers map[string]string) (int, string, int64) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, url, body)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	cl := req.ContentLength
	status, _, b := do(t, req)
	return status, b, cl
}

// TestBodyLimit: a body over --max-body-bytes is refused with 413 when its length is known and
// with a JSON-RPC error when chunked, on /mcp and /message; nothing runs.
func TestBodyLimit(t *testing.T) {
	t.Parallel()
	f := newFixture(t, fixtureOpts{spy: true}, "--max-body-bytes", "2048")
	status, hdr, body := rawPost(t, f.URL+"/mcp", initBody, nil)
	sid := hdr.Get("Mcp-Session-Id")
	if status != http.StatusOK || sid == "" {
		t.Fatalf("initialize: %d %s", status, body)
	}
	mcpHeaders := map[string]string{"Mcp-Session-Id": sid, "MCP-Protocol-Version": mcp.ProtocolVersion20251125}

	sse := connectHTTP(t, kindSSE, f.URL, clientOpts{era: legacyEra})
	t.Cleanup(func() { _ = sse.Close() })
	endpoint := sse.GetTransport().(*transport.SSE).GetEndpoint().String()

	runs := []string{sandbox.IDs.ActiveRun, sandbox.IDs.CompleteRun}
	big := paddedCall(sandbox.IDs.ActiveRun, 4000)
	for _, ep := range []struct {
		name, url string
		headers   map[string]string
	}{{"/mcp", f.URL + "/mcp", mcpHeaders}, {"/message", endpoint, nil}} {
		status, body, cl := postBody(t, ep.url, strings.NewReader(big), ep.headers)
		if cl != int64(len(big)) || status != http.StatusRequestEntityTooLarge {
			t.Fatalf("%s: %d-byte body with Content-Length %d: status %d %s, want 413", ep.name, len(big), cl, status, body)
		}
		if _, msg := checkJSONRPCError(t, body); !strings.Contains(msg, "2048") {
			t.Fatalf("%s: 413 message %q does not say the limit", ep.name, msg)
		}
		status, body, cl = postBody(t, ep.url, chunkedReader{strings.NewReader(big)}, ep.headers)
		if cl != 0 || status < 400 {
			t.Fatalf("%s: chunked oversized body: status %d %s, want an error", ep.name, status, body)
		}
		checkJSONRPCError(t, body)
	}
	time.Sleep(100 * time.Millisecond) // an SSE call would run asynchronously
	for _, id := range runs {
		if rec, _ := f.SB.Lookup("run", id); rec.Archived {
			t.Fatalf("run %s was archived by an oversized request", id)
		}
	}
	for _, r := range f.SB.Done() {
		if r.Method != http.MethodGet {
			t.Fatalf("an oversized request reached Tallyfy: %s %s", r.Method, r.Path)
		}
	}

	// Control: the same call under the limit runs, on both endpoints.
	small := paddedCall(sandbox.IDs.ActiveRun, 1000)
	if status, body, _ := postBody(t, f.URL+"/mcp", strings.NewReader(small), mcpHeaders); status != http.StatusOK || strings.Contains(body, `"isError":true`) {
		t.Fatalf("a %d-byte call: %d %s", len(small), status, body)
	}
	if status, body, _ := postBody(t, endpoint, chunkedReader{strings.NewReader(paddedCall(sandbox.IDs.CompleteRun, 1000))}, nil); status != http.StatusAccepted {
		t.Fatalf("a small chunked call on /message: %d %s", status, body)
	}
	eventually(t, 5*time.Second, "both runs archived by the small calls", func() bool {
		a, _ := f.SB.Lookup("run", sandbox.IDs.ActiveRun)
		b, _ := f.SB.Lookup("run", sandbox.IDs.CompleteRun)
		return a.Archived && b.Archived
	})
}

// TestSessionCap: --max-sessions 2 refuses a third session with 503 on either transport until
// one is closed.
func TestSessionCap(t *testing.T) {
	t.Parallel()
	f := newFixture(t, fixtureOpts{}, "--max-sessions", "2")
	ctx := ctxT(t, 20*time.Second)
	c1 := connectHTTP(t, kindStreamable, f.URL, clientOpts{era: legacyEra})
	c2 := connectHTTP(t, kindSSE, f.URL, clientOpts{era: legacyEra})
	t.Cleanup(func() { _ = c1.Close(); _ = c2.Close() })
	if n := f.H.OpenSessions(); n != 2 {
		t.Fatalf("%d sessions open, want 2", n)
	}

	status, hdr, body := rawPost(t, f.URL+"/mcp", initBody, nil)
	if status != http.StatusServiceUnavailable || hdr.Get("Retry-After") == "" {
		t.Fatalf("third initialize: %d (Retry-After %q) %s, want 503", status, hdr.Get("Retry-After"), body)
	}
	if _, msg := checkJSONRPCError(t, body); !strings.Contains(msg, "--max-sessions") {
		t.Fatalf("503 message %q", msg)
	}
	if s, _, _ := getStatus(t, f.URL+"/sse", nil); s != http.StatusServiceUnavailable {
		t.Fatalf("third session over SSE: %d, want 503", s)
	}
	if c, err := dialHTTP(kindStreamable, f.URL, clientOpts{era: legacyEra}); err == nil {
		_ = c.Close()
		t.Fatal("a third mcp-go client connected")
	}
	// Open sessions keep working.
	if res := mustCall(t, ctx, c1, "list_runs", nil); res.IsError {
		t.Fatalf("an open session stopped working: %s", text(res))
	}

	// Closing one (mcp-go sends DELETE /mcp with its session id) makes room.
	_ = c1.Close()
	eventually(t, 5*time.Second, "the closed session to be released", func() bool { return f.H.OpenSessions() == 1 })
	c3 := connectHTTP(t, kindStreamable, f.URL, clientOpts{era: legacyEra})
	t.Cleanup(func() { _ = c3.Close() })
	if res := mustCall(t, ctx, c3, "list_runs", nil); res.IsError {
		t.Fatalf("new session: %s", text(res))
	}

	// A raw DELETE with the session id releases it too.
	_ = c2.Close() // SSE: dropping the stream ends the session
	eventually(t, 5*time.Second, "the SSE session to be released", func() bool { return f.H.OpenSessions() == 1 })
	status, hdr, _ = rawPost(t, f.URL+"/mcp", initBody, nil)
	sid := hdr.Get("Mcp-Session-Id")
	if status != http.StatusOK || sid == "" {
		t.Fatalf("initialize after the SSE close: %d", status)
	}
	if s, _, _ := rawPost(t, f.URL+"/mcp", initBody, nil); s != http.StatusServiceUnavailable {
		t.Fatalf("over the cap again: %d, want 503", s)
	}
	req, _ := http.NewRequest(http.MethodDelete, f.URL+"/mcp", nil)
	req.Header.Set("Mcp-Session-Id", sid)
	req.Header.Set("MCP-Protocol-Version", mcp.ProtocolVersion20251125)
	if s, _, b := do(t, req); s != http.StatusOK && s != http.StatusNoContent {
		t.Fatalf("DELETE /mcp: %d %s", s, b)
	}
	eventually(t, 5*time.Second, "the deleted session to be released", func() bool { return f.H.OpenSessions() == 1 })
	if s, _, b := rawPost(t, f.URL+"/mcp", initBody, nil); s != http.StatusOK {
		t.Fatalf("initialize after DELETE: %d %s", s, b)
	}
}

// TestSessionCapUnderBurst: a burst of concurrent initializes cannot exceed --max-sessions,
// and refused ones leave no count behind.
func TestSessionCapUnderBurst(t *testing.T) {
	t.Parallel()
	f := newFixture(t, fixtureOpts{}, "--max-sessions", "3")
	// A slow initialize widens the window between admitting a request and registering its
	// session, where a check of the count alone lets everyone in.
	f.App.MCP.GetHooks().AddBeforeInitialize(func(context.Context, any, *mcp.InitializeRequest) { time.Sleep(20 * time.Millisecond) })
	start := make(chan struct{})
	var mu sync.Mutex
	var ids []string
	var wg sync.WaitGroup
	for i := 0; i < 150; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			if s, hdr, _ := rawPost(t, f.URL+"/mcp", initBody, nil); s == http.StatusOK {
				mu.Lock()
				ids = append(ids, hdr.Get("Mcp-Session-Id"))
				mu.Unlock()
			} else if s != http.StatusServiceUnavailable {
				t.Errorf("initialize in a burst: %d", s)
			}
		}()
	}
	close(start)
	wg.Wait()
	if len(ids) != 3 || f.H.OpenSessions() != 3 {
		t.Fatalf("%d initializes accepted and %d sessions counted with --max-sessions 3", len(ids), f.H.OpenSessions())
	}
	for _, id := range ids {
		req, _ := http.NewRequest(http.MethodDelete, f.URL+"/mcp", nil)
		req.Header.Set("Mcp-Session-Id", id)
		req.Header.Set("MCP-Protocol-Version", mcp.ProtocolVersion20251125)
		do(t, req)
	}
	eventually(t, 5*time.Second, "every session to be released", func() bool { return f.H.OpenSessions() == 0 })
}

// TestSessionIdleExpiry: an abandoned session is dropped after --session-idle-ttl.
func TestSessionIdleExpiry(t *testing.T) {
	t.Parallel()
	f := newFixture(t, fixtureOpts{}, "--session-idle-ttl", "300ms")
	status, hdr, _ := rawPost(t, f.URL+"/mcp", initBody, nil)
	sid := hdr.Get("Mcp-Session-Id")
	if status != http.StatusOK || sid == "" {
		t.Fatalf("initialize: %d", status)
	}
	headers := map[string]string{"Mcp-Session-Id": sid, "MCP-Protocol-Version": mcp.ProtocolVersion20251125}
	list := `{"jsonrpc":"2.0","id":2,"method":"tools/list"}`
	if s, _, b := rawPost(t, f.URL+"/mcp", list, headers); s != http.StatusOK {
		t.Fatalf("tools/list on a fresh session: %d %s", s, b)
	}
	if f.H.OpenSessions() != 1 {
		t.Fatalf("%d sessions, want 1", f.H.OpenSessions())
	}
	start := time.Now()
	eventually(t, 5*time.Second, "the idle session to be dropped", func() bool { return f.H.OpenSessions() == 0 })
	if d := time.Since(start); d < 250*time.Millisecond {
		t.Fatalf("dropped after %s, before the TTL", d)
	}
	if s, _, b := rawPost(t, f.URL+"/mcp", list, headers); s != http.StatusNotFound {
		t.Fatalf("tools/list on the dropped session: %d %s, want 404", s, b)
	}
}

// burstAtOnce sends n list_runs calls on c at the same time and returns how many were rate
// limited, checking each refusal as burst does.
func burstAtOnce(t *testing.T, ctx context.Context, c *client.Client, n int, want string) int {
	t.Helper()
	results := make([]*mcp.CallToolResult, n)
	var wg sync.WaitGroup
	for i := range results {
		wg.Go(func() {
			req := mcp.CallToolRequest{}
			req.Params.Name = "list_runs"
			res, err := c.CallTool(ctx, req)
			if err != nil {
				t.Errorf("call %d: %v", i, err)
				return
			}
			results[i] = res
		})
	}
	wg.Wait()
	limited := 0
	for _, res := range results {
		if res == nil || !res.IsError {
			continue
		}
		m := retryAfter.FindStringSubmatch(text(res))
		if m == nil || !strings.Contains(text(res), want) {
			t.Fatalf("refusal %q: want %q and a Retry after N ms", text(res), want)
		}
		limited++
	}
	return limited
}

var retryAfter = regexp.MustCompile(`Retry after (\d+) ms`)

// burst calls list_runs n times as fast as possible and returns how many were rate limited,
// checking each refusal says when to retry.
func burst(t *testing.T, ctx context.Context, c *client.Client, n int, want string) (limited int) {
	t.Helper()
	for i := 0; i < n; i++ {
		res := mustCall(t, ctx, c, "list_runs", nil)
		if !res.IsError {
			continue
		}
		m := retryAfter.FindStringSubmatch(text(res))
		if m == nil || !strings.Contains(text(res), want) {
			t.Fatalf("refusal %q: want %q and a Retry after N ms", text(res), want)
		}
		if ms, _ := strconv.Atoi(m[1]); ms <= 0 || ms > 1001 {
			t.Fatalf("retry after %d ms", ms)
		}
		limited++
	}
	return limited
}

// TestRateLimits: --rate-limit is per session (SSE and streamable alike), --global-rate-limit
// for all together; refusals are tool results that say when to retry.
func TestRateLimits(t *testing.T) {
	t.Parallel()
	t.Run("per session", func(t *testing.T) {
		t.Parallel()
		f := newFixture(t, fixtureOpts{spy: true}, "--rate-limit", "2")
		for _, kind := range []string{kindStreamable, kindSSE} {
			a := connectHTTP(t, kind, f.URL, clientOpts{era: legacyEra})
			b := connectHTTP(t, kind, f.URL, clientOpts{era: legacyEra})
			ctx := ctxT(t, 60*time.Second)
			// A request is counted once its handler returns, which may be just after the
			// client has its answer: count only with none in flight.
			settled := func() int {
				for deadline := time.Now().Add(10 * time.Second); f.SB.InFlight() > 0 && time.Now().Before(deadline); {
					time.Sleep(5 * time.Millisecond)
				}
				time.Sleep(20 * time.Millisecond)
				return len(f.SB.Done())
			}
			before := settled()
			start := time.Now()
			limited := burstAtOnce(t, ctx, a, 12, "on this session")
			// Burst 4, refilling at 2/s while the burst lasts: the bound follows the time the
			// calls really took, so a busy machine (slow calls, more refill) cannot fail it.
			took := time.Since(start)
			if passed, most := 12-limited, 4+int(2*took.Seconds())+1; passed > most {
				t.Fatalf("%s: %d of 12 calls sent at once passed in %s, want at most %d", kind, passed, took, most)
			}
			if got := settled() - before; got != 12-limited {
				t.Fatalf("%s: %d calls reached Tallyfy, want %d (limited calls must do nothing)", kind, got, 12-limited)
			}
			if res := mustCall(t, ctx, b, "list_runs", nil); res.IsError {
				t.Fatalf("%s: another session was limited too: %s", kind, text(res))
			}
			_ = a.Close()
			_ = b.Close()
		}
	})
	t.Run("global", func(t *testing.T) {
		t.Parallel()
		f := newFixture(t, fixtureOpts{}, "--rate-limit", "0", "--global-rate-limit", "2")
		a := connectHTTP(t, kindStreamable, f.URL, clientOpts{era: legacyEra})
		b := connectHTTP(t, kindSSE, f.URL, clientOpts{era: legacyEra})
		t.Cleanup(func() { _ = a.Close(); _ = b.Close() })
		ctx := ctxT(t, 20*time.Second)
		limited := burst(t, ctx, a, 4, "for all sessions") + burst(t, ctx, b, 4, "for all sessions") +
			burst(t, ctx, a, 4, "for all sessions")
		if limited < 6 {
			t.Fatalf("only %d of 12 rapid calls over two sessions were limited", limited)
		}
	})
	t.Run("off", func(t *testing.T) {
		t.Parallel()
		f := newFixture(t, fixtureOpts{}, "--rate-limit", "0")
		a := connectHTTP(t, kindStreamable, f.URL, clientOpts{era: legacyEra})
		t.Cleanup(func() { _ = a.Close() })
		if n := burst(t, ctxT(t, 20*time.Second), a, 50, ""); n != 0 {
			t.Fatalf("%d calls limited with --rate-limit 0", n)
		}
	})
}

// TestSessionCapIgnoresStatelessRequests: 2026-07-28 requests carry no session and open none,
// so the cap must not refuse them.
func TestSessionCapIgnoresStatelessRequests(t *testing.T) {
	t.Parallel()
	f := newFixture(t, fixtureOpts{}, "--max-sessions", "1")
	legacy := connectHTTP(t, kindStreamable, f.URL, clientOpts{era: legacyEra})
	t.Cleanup(func() { _ = legacy.Close() })
	if s, _, _ := rawPost(t, f.URL+"/mcp", initBody, nil); s != http.StatusServiceUnavailable {
		t.Fatalf("second legacy session: %d, want 503", s)
	}
	modern := connectHTTP(t, kindStreamable, f.URL, clientOpts{era: modernEra})
	t.Cleanup(func() { _ = modern.Close() })
	ctx := ctxT(t, 10*time.Second)
	if v := modern.ProtocolVersion(); v != mcp.LATEST_PROTOCOL_VERSION {
		t.Fatalf("modern client negotiated %q", v)
	}
	if !slices.Contains(toolNames(t, ctx, modern), "archive_run") {
		t.Fatal("no archive_run")
	}
	if res := mustCall(t, ctx, modern, "list_runs", nil); res.IsError {
		t.Fatalf("list_runs: %s", text(res))
	}
	if n := f.H.OpenSessions(); n != 1 {
		t.Fatalf("%d sessions counted, want 1", n)
	}
}
