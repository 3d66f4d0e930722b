package tools_test

import (
	"testing"

	"github.com/tallyfy-mcp/tallyfy-mcp/tallyfy/sandbox"
	"github.com/tallyfy-mcp/tallyfy-mcp/tools"
)

// TestBulkObeysEachSingleItemTool: for every bulk verb and type, excluding the single-item
// tool (bulk_delete of templates: delete_template) refuses the bulk call of that type, naming
// the tool, audited as refused, with nothing sent to Tallyfy but reads; the other types still
// plan.
func TestBulkObeysEachSingleItemTool(t *testing.T) {
	t.Parallel()
	ids := map[string]map[string]string{ // verb -> type -> an item the verb could act on
		"archive": {"task": sandbox.IDs.LiveTask, "run": sandbox.IDs.ActiveRun, "template": sandbox.IDs.LiveTemplate},
		"restore": {"task": sandbox.IDs.ArchivedTask, "run": sandbox.IDs.ArchivedRun, "template": sandbox.IDs.ArchivedTemplate},
		"delete":  {"task": sandbox.IDs.ArchivedTask, "run": sandbox.IDs.ArchivedRun, "template": sandbox.IDs.ArchivedTemplate},
	}
	single := map[string]map[string]string{
		"archive": {"task": "archive_task", "run": "archive_run", "template": "archive_template"},
		"restore": {"task": "restore_task", "run": "activate_run", "template": "restore_template"},
		"delete":  {"task": "delete_task", "run": "delete_run", "template": "delete_template"},
	}
	for verb, kinds := range single {
		for kind, excluded := range kinds {
			t.Run(excluded, func(t *testing.T) {
				t.Parallel()
				h := newHarness(t, withPolicy(tools.Policy{ExcludeTools: []string{excluded}, MaxDeletesPerHour: -1}))
				mark := h.logLen()
				h.call("bulk_"+verb, map[string]any{"type": kind, "ids": []string{ids[verb][kind]}}).failed(t, excluded, "--exclude-tools", "Nothing was changed")
				h.call("bulk_"+verb, map[string]any{"type": kind, "ids": []string{ids[verb][kind]}, "plan_token": "tcf1.x.y"}).failed(t, excluded)
				if w := h.writesSince(mark); len(w) != 0 {
					t.Fatalf("writes: %v", w)
				}
				recs := h.audit.outcomes()
				if len(recs) != 2 || recs[0].Outcome != "refused" || recs[0].Detail != excluded+" not allowed" {
					t.Fatalf("audit: %+v", recs)
				}
				for other := range kinds {
					if other != kind {
						h.call("bulk_"+verb, map[string]any{"type": other, "ids": []string{ids[verb][other]}}).ok(t)
					}
				}
			})
		}
	}
}
