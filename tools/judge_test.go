package tools_test

import (
	"context"
	"testing"

	"github.com/tallyfy-mcp/tallyfy-mcp/tallyfy/sandbox"
	"github.com/tallyfy-mcp/tallyfy-mcp/tools"
)

// TestRateLimitStage: past the burst (twice the rate), a call is refused by the judge with how
// long to wait, nothing reaches Tallyfy, and a lifecycle call's refusal is recorded naming its
// item; a read call's is not (read calls have no records). Another bucket is not affected.
func TestRateLimitStage(t *testing.T) {
	t.Parallel()
	key := "a"
	h := newHarness(t)
	h.ts.LimitRate(tools.RateLimit{PerSession: 1, Key: func(context.Context) string { return key }})
	h.call("get_run", map[string]any{"run_id": sandbox.IDs.ActiveRun}).ok(t)
	h.call("get_run", map[string]any{"run_id": sandbox.IDs.ActiveRun}).ok(t)
	before := h.sb.Requests()
	h.call("get_run", map[string]any{"run_id": sandbox.IDs.ActiveRun}).failed(t, "Too many tool calls on this session (limit 1 per second): nothing was done. Retry after")
	h.call("archive_run", map[string]any{"run_id": sandbox.IDs.ActiveRun}).failed(t, "Too many tool calls on this session")
	if h.sb.Requests() != before {
		t.Error("a rate-limited call reached Tallyfy")
	}
	recs := h.audit.outcomes()
	if len(recs) != 1 || recs[0].Tool != "archive_run" || recs[0].Outcome != "refused" || recs[0].ResourceID != sandbox.IDs.ActiveRun ||
		recs[0].Detail != "rate limited: too many tool calls on this session" {
		t.Errorf("records %+v", recs)
	}
	key = "b"
	h.call("get_run", map[string]any{"run_id": sandbox.IDs.ActiveRun}).ok(t)
}
