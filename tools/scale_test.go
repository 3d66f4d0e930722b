package tools_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/tallyfy-mcp/tallyfy-mcp/tallyfy/sandbox"
	"github.com/tallyfy-mcp/tallyfy-mcp/tools"
)

// Old organizations and Tallyfy's listing behaviours, through the MCP protocol (issue 18
// points 3, 4 and 5).

const oldOrgUnknownID = "0123456789abcdef0123456789abcdef"

// TestUnknownIDInAnOldOrganization: with thousands of archived items, an unknown ID gets a
// bounded, clear not-found from every tool that looks it up (get, archive, restore, delete),
// never "Unexpected error", and nothing is changed.
func TestUnknownIDInAnOldOrganization(t *testing.T) {
	t.Parallel()
	h := newHarness(t, withSandbox(sandbox.WithArchivedBacklog(2500)))
	h.eachKind(t, func(t *testing.T, h *harness, k kindInfo) {
		// get and delete read first: a clear not-found that says how far it looked.
		for _, tool := range []string{k.get, k.del} {
			mark := h.logLen()
			r := h.call(tool, map[string]any{k.idArg: oldOrgUnknownID}).failed(t, "No ", oldOrgUnknownID, "not among the ", " 1000 archived ", "searched in 11 requests", "Tallyfy's web app")
			if strings.Contains(r.text, "Unexpected error") || strings.Contains(r.text, "may have been permanently deleted") {
				t.Errorf("%s: %s", tool, r.text)
			}
			if w := h.writesSince(mark); len(w) != 0 {
				t.Errorf("%s: writes %q", tool, w)
			}
			if n := lookupRequests(h, mark, k.kind); n > 11 {
				t.Errorf("%s: %d look-up requests, want at most 11", tool, n)
			}
		}
		// archive and restore may send the change first (Tallyfy's 404 changes nothing) and
		// then look: the look-up's bound and words are the same.
		for _, tool := range []string{k.archive, k.restore} {
			mark := h.logLen()
			r := h.call(tool, map[string]any{k.idArg: oldOrgUnknownID}).failed(t, oldOrgUnknownID, "not among the ", " 1000 archived ", "searched in 11 requests")
			if strings.Contains(r.text, "Unexpected error") {
				t.Errorf("%s: %s", tool, r.text)
			}
			if n := lookupRequests(h, mark, k.kind); n > 13 {
				t.Errorf("%s: %d requests on the item, want at most 13", tool, n)
			}
		}
	})
}

// lookupRequests counts the requests since mark to the kind's own collection (the item and its
// listing): not the identity reads a permanent delete may make first.
func lookupRequests(h *harness, mark int, kind string) int {
	collection := map[string]string{"task": "/tasks", "run": "/runs", "template": "/checklists"}[kind]
	n := 0
	for _, line := range h.sb.RequestLog()[mark:] {
		if strings.Contains(line, collection) {
			n++
		}
	}
	return n
}

// TestBulkPlanUnknownIDInAnOldOrganization: inside a bulk plan the unknown item is skipped with
// the bounded search's words, and the rest is planned.
func TestBulkPlanUnknownIDInAnOldOrganization(t *testing.T) {
	t.Parallel()
	h := newHarness(t, withSandbox(sandbox.WithArchivedBacklog(2500)))
	r := h.call("bulk_archive", map[string]any{"type": "run", "ids": []string{oldOrgUnknownID, sandbox.IDs.ActiveRun}}).ok(t)
	var res struct {
		Items []struct {
			ID, Outcome, Reason string
		} `json:"items"`
	}
	if err := json.Unmarshal(r.raw, &res); err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, it := range res.Items {
		got[it.ID] = it.Outcome + ": " + it.Reason
	}
	if s := got[oldOrgUnknownID]; !strings.HasPrefix(s, "skipped: not found: Tallyfy answered 404, and it is not among the most recently started 1000 archived processes") {
		t.Errorf("unknown item: %q", s)
	}
	if s := got[sandbox.IDs.ActiveRun]; s != "planned: " {
		t.Errorf("live run: %q", s)
	}
}

// TestCompletedOneOffTasksAreSeen: where Tallyfy's task list hides completed tasks by default,
// list_tasks, its title search and bulk selection still see completed one-off tasks.
func TestCompletedOneOffTasksAreSeen(t *testing.T) {
	t.Parallel()
	h := newHarness(t, withSandbox(sandbox.WithVariants(sandbox.VariantTasksHideCompleted)))
	completed := seedID("task", "review-q2-marketing-budget")
	if r := h.call("list_tasks", map[string]any{"per_page": 100}).ok(t); !strings.Contains(string(r.raw), completed) {
		t.Errorf("list_tasks lacks the completed one-off task: %s", r.text)
	}
	if r := h.call("list_tasks", map[string]any{"query": "marketing budget"}).ok(t); !strings.Contains(string(r.raw), completed) {
		t.Errorf("the title search lacks the completed one-off task: %s", r.text)
	}
	r := h.call("bulk_archive", map[string]any{"type": "task", "query": "marketing budget"}).ok(t)
	if !strings.Contains(string(r.raw), completed) || !strings.Contains(r.text, "planned") {
		t.Errorf("bulk selection lacks the completed one-off task: %s", r.text)
	}
	// A completed per-assignee task is one-off though it carries its container's run_id.
	r = h.call("list_tasks", map[string]any{"query": "timesheet"}).ok(t)
	var res struct {
		Tasks []struct {
			ID     string `json:"id"`
			OneOff bool   `json:"one_off"`
			Status string `json:"status"`
		} `json:"tasks"`
	}
	if err := json.Unmarshal(r.raw, &res); err != nil {
		t.Fatal(err)
	}
	var done int
	for _, x := range res.Tasks {
		if !x.OneOff {
			t.Errorf("per-assignee task %s listed as a process task", x.ID)
		}
		if x.Status == "completed" {
			done++
		}
	}
	if len(res.Tasks) != 2 || done != 1 {
		t.Errorf("timesheet tasks = %+v", res.Tasks)
	}
}

// TestListPagingFromTotal: page_info.has_more and total_pages come from total and the items
// seen, where Tallyfy's total_pages is computed with another page size.
func TestListPagingFromTotal(t *testing.T) {
	t.Parallel()
	h := newHarness(t, withSandbox(sandbox.WithArchivedBacklog(45), sandbox.WithVariants(sandbox.VariantTotalPagesOtherSize)))
	r := h.call("list_runs", map[string]any{"archived": "only", "per_page": 20}).ok(t)
	var res struct {
		Page struct {
			Total      int  `json:"total"`
			TotalPages int  `json:"total_pages"`
			HasMore    bool `json:"has_more"`
		} `json:"page_info"`
	}
	if err := json.Unmarshal(r.raw, &res); err != nil {
		t.Fatal(err)
	}
	if !res.Page.HasMore || res.Page.TotalPages != (res.Page.Total+19)/20 || !strings.Contains(r.text, "More: call again with page=2") {
		t.Errorf("page_info %+v; text %s", res.Page, r.text)
	}
}

// TestProcessTaskRefusalShowsWhatTheProcessHolds: a task that Tallyfy says sits in a process is
// refused, and the refusal never just says "archive the process": a run_id may be the container
// of one-off tasks, and archiving or deleting it acts on every task in it.
func TestProcessTaskRefusalShowsWhatTheProcessHolds(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	for _, tool := range []string{"archive_task", "delete_task"} {
		mark := h.logLen()
		h.call(tool, map[string]any{"task_id": sandbox.IDs.ProcessTask}).failed(t, "belongs to process", "It holds 3 tasks", "would act on all of them", "show the person this list")
		if w := h.writesSince(mark); len(w) != 0 {
			t.Errorf("%s: writes %q", tool, w)
		}
	}
	r := h.call("bulk_archive", map[string]any{"type": "task", "ids": []string{sandbox.IDs.ProcessTask, sandbox.IDs.LiveTask}}).ok(t)
	if !strings.Contains(r.text, "which holds 3 tasks: it changes only with its process, and archive_run/delete_run would act on all of them") {
		t.Errorf("bulk plan: %s", r.text)
	}
}

// TestUnclearDeleteInAnOldOrganization: a delete whose answer is lost is settled by a bounded
// look-up; in an archive too large to read to its end the result says the outcome is unknown
// and how far it looked, never "deleted" nor "still there" unproven.
func TestUnclearDeleteInAnOldOrganization(t *testing.T) {
	t.Parallel()
	h := newHarness(t, withConfirm(tools.ConfirmOff), withSandbox(sandbox.WithArchivedBacklog(2500)))
	_, _, old := sandbox.BacklogIDs(5) // found among the newest, then deleted: no longer there to find
	h.sb.SetFaults(sandbox.Fault{Kind: "reset-after", Method: "DELETE", PathContains: "/delete", Times: 1})
	r := h.call("delete_template", map[string]any{"template_id": old}).failed(t, "unknown whether", "not among the most recently updated 1000 archived templates", "searched in 11 requests")
	if strings.Contains(r.text, "still there") || strings.Contains(r.text, "was permanently deleted") {
		t.Errorf("claims more than it read: %s", r.text)
	}
	if !h.gone("template", old) {
		t.Error("the sandbox did not delete; the test setup is wrong")
	}
}

// TestBulkPlanSharesTheArchivedListing: planning a bulk restore of archived templates (which
// Tallyfy's GET answers 404) reads each archived listing page once for the whole plan, not
// once per item; the execution reads every item again.
func TestBulkPlanSharesTheArchivedListing(t *testing.T) {
	t.Parallel()
	h := newHarness(t, withSandbox(sandbox.WithArchivedBacklog(300)))
	var ids []string
	for i := range 20 {
		_, _, id := sandbox.BacklogIDs(i)
		ids = append(ids, id)
	}
	mark := h.logLen()
	r := h.call("bulk_restore", map[string]any{"type": "template", "ids": ids}).ok(t)
	if !strings.Contains(r.text, "restore 20 templates") {
		t.Errorf("plan: %s", r.text)
	}
	listings := 0
	for _, line := range h.sb.RequestLog()[mark:] {
		if strings.Contains(line, "archived=only") {
			listings++
		}
	}
	if n := h.logLen() - mark; n > 20+2 || listings != 1 {
		t.Errorf("the plan sent %d requests, %d of them archived listings; want 20 GETs and 1 listing page", n, listings)
	}
}
