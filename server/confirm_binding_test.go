package server

import (
	"context"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mark3labs/mcp-go/client"
	"github.com/mark3labs/mcp-go/client/transport"
	"github.com/mark3labs/mcp-go/mcp"

	"github.com/tallyfy-mcp/tallyfy-mcp/tallyfy/sandbox"
)

// modernClient opens a 2026-07-28 (stateless) streamable HTTP client that declares name and
// sends headers.
func modernClient(t *testing.T, url, name string, headers map[string]string) *client.Client {
	t.Helper()
	tr, err := transport.NewStreamableHTTP(url+"/mcp", transport.WithHTTPHeaders(headers), transport.WithHTTPLogger(quiet))
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

// TestConfirmTokenBoundToStatelessCaller: on the 2026-07-28 stateless protocol a confirm_token
// carries no session, so it is bound to what each request does carry: the accepted bearer's
// hash and the client's declared name. Another caller cannot redeem it; the same caller can.
// Through the built binary over HTTP.
func TestConfirmTokenBoundToStatelessCaller(t *testing.T) {
	t.Parallel()
	bearer := "caller-token-" + strings.Repeat("x7", 12)
	audit := filepath.Join(t.TempDir(), "audit.jsonl")
	b := runBinary(t, []string{"MCP_AUTH_TOKEN=" + bearer}, "--sandbox", "--transport", "http", "--addr", "127.0.0.1:0",
		"--confirm", "token", "--audit-log", audit)
	url := b.ListenURL(t)
	waitHealthy(t, http.DefaultClient, url)
	auth := map[string]string{"Authorization": "Bearer " + bearer}
	asker := modernClient(t, url, "agent-alpha", auth)
	other := modernClient(t, url, "agent-beta", auth)
	ctx := ctxT(t, 30*time.Second)
	id := sandbox.IDs.ArchivedRun

	res := mustCall(t, ctx, asker, "delete_run", map[string]any{"run_id": id})
	tok, _ := field(structured(t, res), "confirm_token").(string)
	if res.IsError || tok == "" {
		t.Fatalf("no confirm_token: %s", text(res))
	}
	// Another client name, same bearer: refused, nothing deleted.
	res = mustCall(t, ctx, other, "delete_run", map[string]any{"run_id": id, "confirm_token": tok})
	if !res.IsError || !strings.Contains(text(res), "different item, tool, organization, session or caller") {
		t.Fatalf("another stateless caller redeemed the token: %s", text(res))
	}
	if r := mustCall(t, ctx, asker, "get_run", map[string]any{"run_id": id}); r.IsError {
		t.Fatalf("the run is gone after a refused redemption: %s", text(r))
	}
	// The caller it was issued to: deleted.
	res = mustCall(t, ctx, asker, "delete_run", map[string]any{"run_id": id, "confirm_token": tok})
	if res.IsError || field(structured(t, res), "status") != "deleted" {
		t.Fatalf("the caller the token was issued to could not redeem it: %s", text(res))
	}
	var refused, deleted int
	for _, r := range auditRecords(t, audit) {
		switch {
		case r.Outcome == "refused" && r.ClientName == "agent-beta" && strings.Contains(r.Detail, "caller"):
			refused++
		case r.Outcome == "ok" && r.ClientName == "agent-alpha":
			deleted++
		}
	}
	if refused != 1 || deleted != 1 {
		t.Fatalf("audit: %d refusals of agent-beta, %d deletes by agent-alpha; want 1 and 1", refused, deleted)
	}
}

// TestConfirmTokenBoundToBearer: several callers sharing one client name but presenting
// different bearers (the server can accept only one bearer today, so the second caller is
// simulated in process: the HTTP layer's context carries the bearer hash) cannot redeem each
// other's tokens.
func TestConfirmTokenBoundToBearer(t *testing.T) {
	t.Parallel()
	bearer := "the-accepted-bearer-" + strings.Repeat("q", 16)
	f := newFixture(t, fixtureOpts{auth: bearer}, "--confirm", "token")
	// /second reaches the same MCP server without the guard, as a second accepted bearer would:
	// the bearer's hash still goes into each request's context.
	mux := http.NewServeMux()
	mux.Handle("/second/", http.StripPrefix("/second", f.H.streamable))
	mux.Handle("/", f.H.Handler)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	ts := srv.URL
	a := modernClient(t, ts, "same-name", map[string]string{"Authorization": "Bearer " + bearer})
	bc := modernClient(t, ts+"/second", "same-name", map[string]string{"Authorization": "Bearer another-accepted-bearer"})
	ctx := ctxT(t, 30*time.Second)
	id := sandbox.IDs.ArchivedTemplate
	res := mustCall(t, ctx, a, "delete_template", map[string]any{"template_id": id})
	tok, _ := field(structured(t, res), "confirm_token").(string)
	if tok == "" {
		t.Fatalf("no token: %s", text(res))
	}
	res = mustCall(t, ctx, bc, "delete_template", map[string]any{"template_id": id, "confirm_token": tok})
	if !res.IsError || !strings.Contains(text(res), "caller") {
		t.Fatalf("a caller with another bearer redeemed the token: %s", text(res))
	}
	res = mustCall(t, ctx, a, "delete_template", map[string]any{"template_id": id, "confirm_token": tok})
	if res.IsError {
		t.Fatalf("the same caller could not redeem it: %s", text(res))
	}
}
