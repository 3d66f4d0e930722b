package tools_test

import (
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/tallyfy-mcp/tallyfy-mcp/tallyfy/sandbox"
	"github.com/tallyfy-mcp/tallyfy-mcp/tools"
)

// requestsSince returns "METHOD kind-path" for each request since mark, the query left out.
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
	slices.Sort(out) // the GET and the change leave together: their order is not part of the claim
	return out
}

// TestLifecycleRequestsPerCall: a single archive or restore sends the change and at most one
// GET with it, as lifecycle_at_once.go claims, and says what happened truthfully. A 20 ms
// latency on every request lets the GET that goes along reach the sandbox first.
func TestLifecycleRequestsPerCall(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	latency := func() { h.sb.SetFaults(sandbox.Fault{Kind: "latency", Param: "20ms"}) }
	cases := []struct {
		tool, idArg, id string
		want            []string
		changed         bool
		name            string
	}{
		{"archive_run", "run_id", sandbox.IDs.ActiveRun, []string{"DELETE runs/{id}"}, true, ""},
		{"activate_run", "run_id", sandbox.IDs.ArchivedRun, []string{"GET runs/{id}", "PUT runs/{id}/activate"}, true, ""},
		{"activate_run", "run_id", sandbox.IDs.ActiveRun, []string{"GET runs/{id}", "PUT runs/{id}/activate"}, false, ""},
		{"archive_template", "template_id", sandbox.IDs.LiveTemplate, []string{"DELETE checklists/{id}", "GET checklists/{id}"}, true, ""},
		{"restore_template", "template_id", sandbox.IDs.ArchivedTemplate, []string{"PUT checklists/{id}/restore"}, true, ""},
		{"archive_task", "task_id", sandbox.IDs.LiveTask, []string{"DELETE tasks/{id}", "GET tasks/{id}"}, true, "known"},
		{"restore_task", "task_id", sandbox.IDs.ArchivedTask, []string{"PUT tasks/{id}/restore"}, true, "known"},
	}
	for _, c := range cases {
		h.run(t, c.tool+"/"+map[bool]string{true: "changes", false: "noop"}[c.changed], func(t *testing.T) {
			kind := kindOf(c.tool).kind
			before := h.lookup(kind, c.id)
			if c.name == "known" { // a task is known one-off from an earlier read
				h.call("list_tasks", map[string]any{"archived": "include", "per_page": 100}).ok(t)
			}
			latency()
			mark := h.logLen()
			res, r := lifecycle(t, h, c.tool, c.idArg, c.id)
			got := h.requestsSince(mark)
			if !slices.Equal(got, c.want) {
				// When Tallyfy serves the GET that goes along after the archive, an archived
				// task or template answers it 404 and the name is read after: the look-up's
				// GET and archived listing, never another write.
				coll := strings.Fields(c.want[0])[1]
				coll = coll[:strings.IndexByte(coll, '/')]
				late := append(slices.Clone(c.want), "GET "+coll, "GET "+coll+"/{id}")
				slices.Sort(late)
				if !strings.HasPrefix(c.tool, "archive_") || c.tool == "archive_run" || !slices.Equal(got, late) {
					t.Errorf("requests %v, want %v", got, c.want)
				} else {
					t.Logf("the GET was served after the change: requests %v", got)
				}
			}
			if res.Changed != c.changed || res.Resource.Name != before.Name || res.Resource.ID != c.id {
				t.Errorf("result %+v, want changed %v, name %q", res, c.changed, before.Name)
			}
			archive := strings.HasPrefix(c.tool, "archive_")
			if now := h.lookup(kind, c.id); now.Archived != archive || (res.Resource.State == "archived") != archive {
				t.Errorf("sandbox archived %v, result state %s, want archived %v", now.Archived, res.Resource.State, archive)
			}
			if !c.changed && !strings.Contains(r.text, "already") {
				t.Errorf("no-op text: %s", r.text)
			}
			if outs := h.audit.outcomes(); len(outs) != 1 || outs[0].ResourceName != before.Name ||
				outs[0].Outcome != map[bool]string{true: "ok", false: "noop"}[c.changed] {
				t.Errorf("outcome records %+v", outs)
			}
			if ins := h.audit.intents(); len(ins) != 1 {
				t.Errorf("%d intent records, want 1 before the change", len(ins))
			}
		})
	}
}

// TestLifecycleReadsTaskFirstUnlessKnownOneOff: a task never read before is read before any
// change is sent; a process task is refused without a write, whether read before or not.
func TestLifecycleReadsTaskFirstUnlessKnownOneOff(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.run(t, "unknown one-off: read, then change", func(t *testing.T) {
		mark := h.logLen()
		res, _ := lifecycle(t, h, "archive_task", "task_id", sandbox.IDs.LiveTask)
		log := h.sb.RequestLog()[mark:]
		if len(log) != 2 || !strings.HasPrefix(log[0], http.MethodGet+" ") || !strings.HasPrefix(log[1], http.MethodDelete+" ") {
			t.Errorf("requests %v, want GET then DELETE", log)
		}
		if !res.Changed {
			t.Errorf("%+v", res)
		}
	})
	for _, tool := range []string{"archive_task", "restore_task"} {
		h.run(t, tool+" of a process task never read", func(t *testing.T) {
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
	h.run(t, "process task read before", func(t *testing.T) {
		h.call("get_task", map[string]any{"task_id": sandbox.IDs.ProcessTask}).ok(t)
		h.call("list_tasks", map[string]any{"archived": "include", "per_page": 100}).ok(t)
		mark := h.logLen()
		h.call("archive_task", map[string]any{"task_id": sandbox.IDs.ProcessTask}).failed(t, "belongs to process")
		if w := h.writesSince(mark); len(w) != 0 {
			t.Errorf("writes sent for a process task: %v", w)
		}
	})
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

// TestLifecycleAtOnceUnderFaults: a change whose answer was lost and whose retry met the
// result (404) is reported as done; a change that went through while the GET that goes
// along failed says so, naming the item by ID.
func TestLifecycleAtOnceUnderFaults(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.run(t, "retry meets its own archive", func(t *testing.T) {
		h.sb.SetFaults(sandbox.Fault{Kind: "reset-after", Times: 1, Method: http.MethodDelete, PathContains: "/runs/"})
		res, _ := lifecycle(t, h, "archive_run", "run_id", sandbox.IDs.ActiveRun)
		if !res.Changed || res.Resource.State != "archived" || !h.lookup("run", sandbox.IDs.ActiveRun).Archived {
			t.Errorf("%+v", res)
		}
	})
	h.run(t, "read fails, change goes through", func(t *testing.T) {
		h.call("get_task", map[string]any{"task_id": sandbox.IDs.LiveTask}).ok(t)
		h.sb.SetFaults(sandbox.Fault{Kind: "500", Method: http.MethodGet})
		res, r := lifecycle(t, h, "archive_task", "task_id", sandbox.IDs.LiveTask)
		if !res.Changed || res.Resource.State != "archived" || !h.lookup("task", sandbox.IDs.LiveTask).Archived {
			t.Errorf("%+v", res)
		}
		contains(t, "text", r.text, sandbox.IDs.LiveTask+" (its name could not be read) is now archived", "restore_task")
	})
}
