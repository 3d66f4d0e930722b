package tools_test

import (
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tallyfy-mcp/tallyfy-mcp/schemas"
	"github.com/tallyfy-mcp/tallyfy-mcp/tallyfy"
	"github.com/tallyfy-mcp/tallyfy-mcp/tallyfy/sandbox"
	"github.com/tallyfy-mcp/tallyfy-mcp/tools"
)

// requestsSince returns "METHOD kind-path" for each request since mark, in the order the
// sandbox received them, the query left out.
func (h *harness) requestsSince(mark int) []string {
	var out []string
	for _, l := range h.sb.RequestLog()[mark:] {
		if i := strings.IndexByte(l, '?'); i >= 0 {
			l = l[:i]
		}
		method, path, _ := strings.Cut(l, " ")
		parts := strings.Split(path, "/")
		// /api/organizations/{org}/{collection}/{id}[/suffix]
		tail := strings.Join(parts[min(4, len(parts)):], "/")
		for _, id := range []string{sandbox.IDs.ActiveRun, sandbox.IDs.LiveTask, sandbox.IDs.LiveTemplate, sandbox.IDs.ArchivedRun, sandbox.IDs.ArchivedTask, sandbox.IDs.ArchivedTemplate, sandbox.IDs.ProcessTask} {
			tail = strings.ReplaceAll(tail, id, "{id}")
		}
		out = append(out, method+" "+tail)
	}
	return out
}

// TestLifecycleRequestsPerCall: archive_run sends its change alone (its answer is the run);
// every other archive or restore reads the item first, then sends the change, one after the
// other: never two requests whose meaning depends on the order Tallyfy serves them
// (lifecycle.go). A no-op is decided from the read and sends no change at all. Each result is
// checked against the sandbox's state.
func TestLifecycleRequestsPerCall(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	cases := []struct {
		tool, idArg, id string
		want            []string
		changed         bool
	}{
		{"archive_run", "run_id", sandbox.IDs.ActiveRun, []string{"DELETE runs/{id}"}, true},
		{"activate_run", "run_id", sandbox.IDs.ArchivedRun, []string{"GET runs/{id}", "PUT runs/{id}/activate"}, true},
		{"activate_run", "run_id", sandbox.IDs.ActiveRun, []string{"GET runs/{id}"}, false},
		{"archive_template", "template_id", sandbox.IDs.LiveTemplate, []string{"GET checklists/{id}", "DELETE checklists/{id}"}, true},
		{"archive_template", "template_id", sandbox.IDs.ArchivedTemplate, []string{"GET checklists/{id}", "GET checklists"}, false},
		{"restore_template", "template_id", sandbox.IDs.ArchivedTemplate, []string{"GET checklists/{id}", "GET checklists", "PUT checklists/{id}/restore"}, true},
		{"restore_template", "template_id", sandbox.IDs.LiveTemplate, []string{"GET checklists/{id}"}, false},
		{"archive_task", "task_id", sandbox.IDs.LiveTask, []string{"GET tasks/{id}", "DELETE tasks/{id}"}, true},
		{"restore_task", "task_id", sandbox.IDs.ArchivedTask, []string{"GET tasks/{id}", "GET tasks", "PUT tasks/{id}/restore"}, true},
		{"restore_task", "task_id", sandbox.IDs.LiveTask, []string{"GET tasks/{id}"}, false},
	}
	for _, c := range cases {
		h.run(t, c.tool+"/"+map[bool]string{true: "changes", false: "noop"}[c.changed], func(t *testing.T) {
			kind := kindOf(c.tool).kind
			before := h.lookup(kind, c.id)
			mark := h.logLen()
			res, r := lifecycle(t, h, c.tool, c.idArg, c.id)
			if got := h.requestsSince(mark); !slices.Equal(got, c.want) {
				t.Errorf("requests %v, want %v", got, c.want)
			}
			if res.Changed != c.changed || res.Resource.Name != before.Name || res.Resource.ID != c.id {
				t.Errorf("result %+v, want changed %v, name %q", res, c.changed, before.Name)
			}
			archive := strings.HasPrefix(c.tool, "archive_")
			now := h.lookup(kind, c.id)
			if now.Archived != archive || (res.Resource.State == "archived") != archive {
				t.Errorf("sandbox archived %v, result state %s, want archived %v", now.Archived, res.Resource.State, archive)
			}
			if (now.LastUpdated != before.LastUpdated) != c.changed {
				t.Errorf("sandbox last_updated %s -> %s, result changed %v", before.LastUpdated, now.LastUpdated, res.Changed)
			}
			if !c.changed && !strings.Contains(r.text, "already") {
				t.Errorf("no-op text: %s", r.text)
			}
			if outs := h.audit.outcomes(); len(outs) != 1 || outs[0].ResourceName != before.Name ||
				string(outs[0].Outcome) != map[bool]string{true: "ok", false: "noop"}[c.changed] {
				t.Errorf("outcome records %+v", outs)
			}
			if ins := h.audit.intents(); len(ins) != map[bool]int{true: 1, false: 0}[c.changed] {
				t.Errorf("%d intent records, want one exactly when a change is sent", len(ins))
			}
		})
	}
}

// TestLifecycleProcessTaskSendsNoChange: a process task is refused after the read, without a write.
func TestLifecycleProcessTaskSendsNoChange(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	for _, tool := range []string{"archive_task", "restore_task"} {
		h.run(t, tool, func(t *testing.T) {
			mark := h.logLen()
			h.call(tool, map[string]any{"task_id": sandbox.IDs.ProcessTask}).failed(t, "belongs to process", "archive_run")
			if w := h.writesSince(mark); len(w) != 0 {
				t.Errorf("writes sent for a process task: %v", w)
			}
			if len(h.audit.intents()) != 0 {
				t.Error("an intent was recorded for a refused call")
			}
		})
	}
}

// TestLifecycleProtectedSendsNothing: the protect list refuses by ID, before any request.
func TestLifecycleProtectedSendsNothing(t *testing.T) {
	t.Parallel()
	h := newHarness(t, withPolicy(tools.Policy{Protect: []string{sandbox.IDs.ActiveRun, sandbox.IDs.LiveTemplate}, MaxDeletesPerHour: -1}))
	for _, c := range [][2]string{{"archive_run", "run_id"}, {"archive_template", "template_id"}} {
		id := map[string]string{"run_id": sandbox.IDs.ActiveRun, "template_id": sandbox.IDs.LiveTemplate}[c[1]]
		mark := h.logLen()
		h.call(c[0], map[string]any{c[1]: id}).failed(t, "protect")
		if n := h.logLen() - mark; n != 0 {
			t.Errorf("%s of a protected item sent %d requests", c[0], n)
		}
	}
}

// TestLifecycleUnderFaults: a change whose answer was lost and whose retry met the result
// (404) is reported as done; a read that fails sends no change.
func TestLifecycleUnderFaults(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.run(t, "retry meets its own archive", func(t *testing.T) {
		h.sb.SetFaults(sandbox.Fault{Kind: "reset-after", Times: 1, Method: http.MethodDelete, PathContains: "/runs/"})
		res, _ := lifecycle(t, h, "archive_run", "run_id", sandbox.IDs.ActiveRun)
		if !res.Changed || res.Resource.State != "archived" || !h.lookup("run", sandbox.IDs.ActiveRun).Archived {
			t.Errorf("%+v", res)
		}
	})
	h.run(t, "the read fails: nothing is sent", func(t *testing.T) {
		h.sb.SetFaults(sandbox.Fault{Kind: "500", Method: http.MethodGet})
		mark := h.logLen()
		h.call("archive_task", map[string]any{"task_id": sandbox.IDs.LiveTask}).failed(t, "500")
		if w := h.writesSince(mark); len(w) != 0 || h.lookup("task", sandbox.IDs.LiveTask).Archived {
			t.Errorf("a change was sent after a failed read: %v", w)
		}
	})
}

// TestLifecycleChangedWhileThisCallRan: the item changes between the read and the change, so
// Tallyfy refuses the change; the result says "Tallyfy refused (status)", the state read back,
// and "changed while this call ran" because last_updated moved, and claims no change.
func TestLifecycleChangedWhileThisCallRan(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.run(t, "restore_task", func(t *testing.T) {
		// The tool's PUT waits 300 ms; meanwhile someone else restores the task.
		h.sb.SetFaults(sandbox.Fault{Kind: "latency", Param: "300ms", Times: 1, Method: http.MethodPut})
		done := make(chan result, 1)
		go func() { done <- h.call("restore_task", map[string]any{"task_id": sandbox.IDs.ArchivedTask}) }()
		time.Sleep(100 * time.Millisecond)
		other := h.api()
		if _, err := other.Restore(t.Context(), tallyfy.KindTask, sandbox.IDs.ArchivedTask); err != nil {
			t.Fatal(err)
		}
		r := (<-done).ok(t)
		contains(t, "text", r.text, "Tallyfy refused (422", "read back just now it is live", "changed while this call ran", "This call changed nothing")
		if res := decode[schemas.LifecycleResult](t, r); res.Changed || res.Resource.State != "live" {
			t.Errorf("%+v", res)
		}
		if outs := h.audit.outcomes(); len(outs) != 1 || outs[0].Outcome != "noop" || outs[0].HTTPStatus != 422 {
			t.Errorf("outcome records %+v", outs)
		}
	})
	h.run(t, "archive_template refused, still live", func(t *testing.T) {
		h.sb.SetFaults(sandbox.Fault{Kind: "503", Method: http.MethodDelete})
		r := h.call("archive_template", map[string]any{"template_id": sandbox.IDs.LiveTemplate}).failed(t, "Tallyfy refused (503", "Read back just now, it is live", "Nothing was changed by this call")
		if strings.Contains(r.text, "changed while this call ran") {
			t.Errorf("claims a change nobody made: %s", r.text)
		}
	})
}
