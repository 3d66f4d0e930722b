package server

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/tallyfy-mcp/tallyfy-mcp/tallyfy/sandbox"
)

// TestConfirmTokenBoundToBearer: several callers sharing one client name but presenting
// different bearers (the server can accept only one bearer today, so the second caller is
// simulated in process: the HTTP layer's context carries the bearer hash) cannot redeem each
// other's tokens.
func TestConfirmTokenBoundToBearer(t *testing.T) {
	t.Parallel()
	bearer := "the-accepted-bearer-" + strings.Repeat("q", 16)
	f := newFixture(t, fixtureOpts{auth: bearer}, "--confirm", "token")
	// /second reaches the same MCP server without the edge and identify steps, as a second accepted bearer would:
	// the bearer's hash still goes into each request's context.
	mux := http.NewServeMux()
	mux.Handle("/second/", http.StripPrefix("/second", f.H.Streamable()))
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
