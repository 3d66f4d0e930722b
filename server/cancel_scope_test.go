package server

import (
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tallyfy-mcp/tallyfy-mcp/tallyfy/sandbox"
)

// modernPost sends one 2026-07-28 message as caller token.
func modernPost(t *testing.T, base, token, method, name, body string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, base+"/mcp", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Mcp-Protocol-Version", "2026-07-28")
	req.Header.Set("Mcp-Method", method)
	if name != "" {
		req.Header.Set("Mcp-Name", name)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Error(err)
		return 0, ""
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

const modernMeta = `"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientInfo":{"name":"raw","version":"1"},"io.modelcontextprotocol/clientCapabilities":{}}`

// twoCallersServer serves the app over HTTP with a callers file of anna (token "tok-anna") and
// ben ("tok-ben"), both acting with the admin token, against a spy sandbox.
func twoCallersServer(t *testing.T, extra ...string) (*httptest.Server, *spySandbox) {
	t.Helper()
	dir := t.TempDir()
	file := filepath.Join(dir, "callers.json")
	writeCallers(t, file,
		map[string]any{"name": "anna", "token_sha256": sha("tok-anna"), "tallyfy_token_env": "T"},
		map[string]any{"name": "ben", "token_sha256": sha("tok-ben"), "tallyfy_token_env": "T"})
	sb := newSpySandbox(t)
	ts := serveQuiet(t, append([]string{"--transport", "http", "--base-url", sb.URL, "--org-id", sandbox.OrgID, "--callers", file}, extra...),
		"T", sandbox.AdminToken)
	return ts, sb
}

// TestCancelIsScopedToTheCaller: on the 2026-07-28 protocol (no sessions), caller B's
// notifications/cancelled for id 7 does not stop caller A's call with id 7; A's own does.
func TestCancelIsScopedToTheCaller(t *testing.T) {
	t.Parallel()
	ts, sb := twoCallersServer(t)

	callBody := `{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"get_run","arguments":{"run_id":"` + sandbox.IDs.ActiveRun + `"},` + modernMeta + `}}`
	cancelBody := `{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":7,"reason":"test",` + modernMeta + `}}`
	type answer struct {
		status int
		body   string
	}
	start := func() chan answer {
		out := make(chan answer, 1)
		go func() {
			s, b := modernPost(t, ts.URL, "tok-anna", "tools/call", "get_run", callBody)
			out <- answer{s, b}
		}()
		eventually(t, 5*time.Second, "anna's call to reach Tallyfy", func() bool { return sb.InFlight() == 1 })
		return out
	}

	// Ben cancels "7": anna's call must finish normally.
	sb.SetFaults(sandbox.Fault{Kind: "latency", Param: "700ms", PathContains: sandbox.IDs.ActiveRun})
	done := start()
	if s, _ := modernPost(t, ts.URL, "tok-ben", "notifications/cancelled", "", cancelBody); s != http.StatusAccepted {
		t.Fatalf("ben's cancel: status %d", s)
	}
	a := <-done
	if a.status != 200 || !strings.Contains(a.body, `"result"`) || strings.Contains(a.body, `"isError":true`) {
		t.Fatalf("anna's call after ben's cancel: %d %s", a.status, a.body)
	}
	for _, r := range sb.Done() {
		if r.CtxErr != nil {
			t.Fatalf("ben's cancel cancelled anna's request to Tallyfy: %+v", r)
		}
	}

	// Anna cancels her own: it stops at once.
	sb.SetFaults(sandbox.Fault{Kind: "hang", PathContains: sandbox.IDs.ActiveRun})
	done = start()
	cancelled := time.Now()
	if s, _ := modernPost(t, ts.URL, "tok-anna", "notifications/cancelled", "", cancelBody); s != http.StatusAccepted {
		t.Fatalf("anna's cancel: status %d", s)
	}
	select {
	case <-done:
	case <-time.After(3 * time.Second):
		t.Fatal("anna's own cancel did not stop her call")
	}
	eventually(t, 2*time.Second, "the request to Tallyfy to be cancelled", func() bool { return sb.InFlight() == 0 })
	reqs := sb.Done()
	if last := reqs[len(reqs)-1]; last.CtxErr == nil || last.End.Sub(cancelled) > time.Second {
		t.Fatalf("anna's request to Tallyfy was not cancelled promptly: %+v", last)
	}
}

// TestSessionsBelongToTheirCaller: an older-protocol session opened by anna is refused (404)
// to ben, and a well-formed session id never issued is refused to anyone.
func TestSessionsBelongToTheirCaller(t *testing.T) {
	t.Parallel()
	ts, _ := twoCallersServer(t)
	bearer := func(tok string) map[string]string { return map[string]string{"Authorization": "Bearer " + tok} }
	status, hdr, body := rawPost(t, ts.URL+"/mcp", initBody, bearer("tok-anna"))
	id := hdr.Get("Mcp-Session-Id")
	if status != 200 || id == "" {
		t.Fatalf("anna's initialize: %d %q %s", status, id, body)
	}
	list := `{"jsonrpc":"2.0","id":2,"method":"tools/list"}`
	with := func(tok, session string) int {
		h := bearer(tok)
		h["Mcp-Session-Id"] = session
		h["Mcp-Protocol-Version"] = "2025-11-25"
		s, _, _ := rawPost(t, ts.URL+"/mcp", list, h)
		return s
	}
	if s := with("tok-anna", id); s != 200 {
		t.Fatalf("anna in her own session: %d", s)
	}
	if s := with("tok-ben", id); s != 404 {
		t.Fatalf("ben in anna's session: %d, want 404", s)
	}
	if s := with("tok-anna", "mcp-session-6f1d2c3b-4a5e-4f60-8a7b-9c0d1e2f3a4b"); s != 404 {
		t.Fatalf("a forged session id: %d, want 404", s)
	}
}

// TestSSESessionsBelongToTheirCaller: ben cannot post into anna's SSE session (404); anna can.
func TestSSESessionsBelongToTheirCaller(t *testing.T) {
	t.Parallel()
	ts, _ := twoCallersServer(t)
	req, _ := http.NewRequest(http.MethodGet, ts.URL+"/sse", nil)
	req.Header.Set("Authorization", "Bearer tok-anna")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	buf := make([]byte, 512)
	n, _ := resp.Body.Read(buf)
	_, rest, ok := strings.Cut(string(buf[:n]), "sessionId=")
	if !ok {
		t.Fatalf("no endpoint event: %q", buf[:n])
	}
	session := strings.Fields(rest)[0]
	post := func(tok string) int {
		s, _, _ := rawPost(t, ts.URL+"/message?sessionId="+session, initBody, map[string]string{"Authorization": "Bearer " + tok})
		return s
	}
	if s := post("tok-ben"); s != 404 {
		t.Fatalf("ben posting into anna's SSE session: %d, want 404", s)
	}
	if s := post("tok-anna"); s != 202 && s != 200 {
		t.Fatalf("anna posting into her own SSE session: %d", s)
	}
}

// TestRateLimitPerCaller: 2026-07-28 requests have no session; two callers behind one address
// (a reverse proxy) each get their own rate-limit bucket.
func TestRateLimitPerCaller(t *testing.T) {
	t.Parallel()
	ts, _ := twoCallersServer(t, "--rate-limit", "0.1") // burst 1 (2x, rounded down), then one call per 10 s
	body := `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"get_task","arguments":{"task_id":"` + sandbox.IDs.LiveTask + `"},` + modernMeta + `}}`
	limited := func(tok string) bool {
		_, b := modernPost(t, ts.URL, tok, "tools/call", "get_task", body)
		return strings.Contains(b, "Retry after")
	}
	for i := 0; !limited("tok-anna"); i++ {
		if i == 10 {
			t.Fatal("anna was never rate limited")
		}
	}
	if limited("tok-ben") {
		t.Fatal("anna's spent bucket limited ben: callers share one bucket")
	}
}
