package server

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tallyfy-mcp/tallyfy-mcp/tallyfy/sandbox"
)

// TestPipelineJudgesArguments: the server as production builds it judges a call's arguments in
// the tools' pipeline, before mcp-go would (its own check, whose failure is only text, is off:
// TestMCPGoGap_ValidationFailureIsOnlyText). A bad argument gets the pipeline's sentence, never
// mcp-go's text; it is audited as a refusal naming the argument, not its value; and it never
// reaches Tallyfy.
func TestPipelineJudgesArguments(t *testing.T) {
	t.Parallel()
	audit := filepath.Join(t.TempDir(), "audit.jsonl")
	f := newFixture(t, fixtureOpts{spy: true}, "--audit-log", audit)
	c := connectHTTP(t, kindStreamable, f.URL, clientOpts{era: modernEra})
	ctx := ctxT(t, 30*time.Second)
	before := len(f.SB.Done())
	bad := strings.ToUpper(sandbox.IDs.ActiveRun)
	res := mustCall(t, ctx, c, "archive_run", map[string]any{"run_id": bad})
	got := text(res)
	if !res.IsError || !strings.HasPrefix(got, "Invalid arguments for archive_run: run_id: must be a Tallyfy ID") ||
		!strings.HasSuffix(got, "Nothing was changed. Valid arguments: run_id.") || strings.Contains(got, "input schema validation failed") {
		t.Errorf("isError %v, text %q", res.IsError, got)
	}
	if n := len(f.SB.Done()); n != before {
		t.Errorf("%d requests reached Tallyfy", n-before)
	}
	recs := auditRecords(t, audit)
	if len(recs) != 1 {
		t.Fatalf("%d audit records, want 1: %+v", len(recs), recs)
	}
	r := recs[0]
	if r.Tool != "archive_run" || r.Outcome != "refused" || r.Detail != "invalid arguments: run_id" || r.ResourceID != "" || r.ResourceType != "run" {
		t.Errorf("audit record %+v", r)
	}
	if strings.Contains(r.Detail, bad) {
		t.Error("the audit record carries the argument's value")
	}
}
