package blackbox

import (
	"strings"
	"testing"
	"time"

	"github.com/mark3labs/mcp-go/mcp"

	"github.com/tallyfy-mcp/tallyfy-mcp/internal/harness"
	"github.com/tallyfy-mcp/tallyfy-mcp/tallyfy/sandbox"
)

// TestOldOrganizationThroughTheBinary: the built binary against a Tallyfy with thousands of
// archived items whose task list hides completed tasks by default (issue 18 points 3 and 4).
// An unknown ID gets a bounded, clear not-found (isError, how far it looked, in a bounded
// number of requests and time); completed one-off tasks are listed and found by title.
func TestOldOrganizationThroughTheBinary(t *testing.T) {
	t.Parallel()
	sb := sandbox.New(sandbox.WithArchivedBacklog(4000), sandbox.WithVariants(sandbox.VariantTasksHideCompleted))
	url, srv, err := sandbox.Listen("127.0.0.1:0", sb)
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	p := harness.Start(t, harness.Config{Env: sandboxEnv(url, sandbox.AdminToken)})
	defer p.Stop()

	text := func(res *mcp.CallToolResult) string {
		var b strings.Builder
		for _, c := range res.Content {
			if tc, ok := c.(mcp.TextContent); ok {
				b.WriteString(tc.Text)
			}
		}
		return b.String()
	}
	const unknown = "0123456789abcdef0123456789abcdef"
	for _, call := range []struct{ tool, arg, collection string }{{"get_task", "task_id", "/tasks"}, {"get_run", "run_id", "/runs"}, {"delete_template", "template_id", "/checklists"}} {
		mark := len(sb.RequestLog())
		start := time.Now()
		res := p.MustCall(call.tool, map[string]any{call.arg: unknown})
		took := time.Since(start)
		s := text(res)
		if !res.IsError || !strings.Contains(s, "No ") || !strings.Contains(s, "not among the ") || !strings.Contains(s, "1000 archived") ||
			!strings.Contains(s, "searched in 11 requests") || strings.Contains(s, "Unexpected") {
			t.Errorf("%s(unknown): isError %v: %s", call.tool, res.IsError, s)
		}
		// The look-up's own requests (a permanent delete may read the caller's role first).
		n := 0
		for _, line := range sb.RequestLog()[mark:] {
			if strings.Contains(line, call.collection) {
				n++
			}
		}
		if n > 11 {
			t.Errorf("%s(unknown): %d look-up requests, want at most 11", call.tool, n)
		}
		if took > 20*time.Second {
			t.Errorf("%s(unknown) took %s", call.tool, took)
		}
		t.Logf("%s(unknown) in an organization with 4000 archived items of each kind: %d look-up requests, %s", call.tool, n, took.Round(time.Millisecond))
	}

	completed := "Review Q2 marketing budget draft"
	for _, args := range []map[string]any{{"per_page": 100}, {"query": "marketing budget"}} {
		res := p.MustCall("list_tasks", args)
		if res.IsError || !strings.Contains(text(res), completed) {
			t.Errorf("list_tasks %v lacks the completed one-off task %q: %s", args, completed, text(res))
		}
	}
}
