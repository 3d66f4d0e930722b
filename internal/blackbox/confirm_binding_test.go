package blackbox

import (
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tallyfy-mcp/tallyfy-mcp/internal/testkit"
	"github.com/tallyfy-mcp/tallyfy-mcp/tallyfy/sandbox"
)

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
	testkit.WaitHealthy(t, http.DefaultClient, url)
	auth := map[string]string{"Authorization": "Bearer " + bearer}
	asker := testkit.ModernClient(t, url, "agent-alpha", auth)
	other := testkit.ModernClient(t, url, "agent-beta", auth)
	ctx := testkit.Context(t, 30*time.Second)
	id := sandbox.IDs.ArchivedRun

	res := testkit.MustCall(t, ctx, asker, "delete_run", map[string]any{"run_id": id})
	tok, _ := testkit.Field(testkit.Structured(t, res), "confirm_token").(string)
	if res.IsError || tok == "" {
		t.Fatalf("no confirm_token: %s", testkit.Text(res))
	}
	// Another client name, same bearer: refused, nothing deleted.
	res = testkit.MustCall(t, ctx, other, "delete_run", map[string]any{"run_id": id, "confirm_token": tok})
	if !res.IsError || !strings.Contains(testkit.Text(res), "different item, tool, organization, session or caller") {
		t.Fatalf("another stateless caller redeemed the token: %s", testkit.Text(res))
	}
	if r := testkit.MustCall(t, ctx, asker, "get_run", map[string]any{"run_id": id}); r.IsError {
		t.Fatalf("the run is gone after a refused redemption: %s", testkit.Text(r))
	}
	// The caller it was issued to: deleted.
	res = testkit.MustCall(t, ctx, asker, "delete_run", map[string]any{"run_id": id, "confirm_token": tok})
	if res.IsError || testkit.Field(testkit.Structured(t, res), "status") != "deleted" {
		t.Fatalf("the caller the token was issued to could not redeem it: %s", testkit.Text(res))
	}
	var refused, deleted int
	for _, r := range testkit.AuditRecords(t, audit) {
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
