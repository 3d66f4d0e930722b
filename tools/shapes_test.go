package tools_test

import (
	"strings"
	"testing"

	"github.com/tallyfy-mcp/tallyfy-mcp/schemas"
	"github.com/tallyfy-mcp/tallyfy-mcp/tallyfy/sandbox"
	"github.com/tallyfy-mcp/tallyfy-mcp/tools"
)

// The richer shapes the sandbox serves (tallyfy/sandbox/inference.go, "Response shapes"),
// through the tools.

// TestPerAssigneeOneOffTask: a one-off task created once per assignee carries its
// container's run_id with is_oneoff_task true; it is a one-off task to every tool.
func TestPerAssigneeOneOffTask(t *testing.T) {
	t.Parallel()
	forEachProtocol(t, func(t *testing.T, p protocol) {
		h := newHarness(t, withProto(p), withConfirm(tools.ConfirmOff))
		id, run := sandbox.IDs.PerAssigneeTask, sandbox.IDs.TimesheetsRun
		r := h.call("get_task", map[string]any{"task_id": id}).ok(t)
		v := decode[schemas.GetTaskResult](t, r).Task
		if !v.OneOff || v.RunID != run || v.Archived == nil || *v.Archived {
			t.Errorf("get_task = %+v, want one-off, run_id %s, live", v, run)
		}
		if strings.Contains(r.text, "inside process") {
			t.Errorf("get_task text calls it a process task: %s", r.text)
		}
		listed := decode[schemas.ListTasksResult](t, h.call("list_tasks", map[string]any{"per_page": 100}).ok(t)).Tasks
		found := false
		for _, x := range listed {
			found = found || x.ID == id
		}
		if !found {
			t.Errorf("list_tasks does not list %s", id)
		}

		res := decode[schemas.LifecycleResult](t, h.call("archive_task", map[string]any{"task_id": id}).ok(t))
		if !res.Changed || res.Resource.State != "archived" || !h.lookup("task", id).Archived {
			t.Errorf("archive_task = %+v", res)
		}
		res = decode[schemas.LifecycleResult](t, h.call("restore_task", map[string]any{"task_id": id}).ok(t))
		if !res.Changed || res.Resource.State != "live" || h.lookup("task", id).Archived {
			t.Errorf("restore_task = %+v", res)
		}
		h.call("archive_task", map[string]any{"task_id": id}).ok(t)
		del := decode[schemas.DeleteResult](t, h.call("delete_task", map[string]any{"task_id": id}).ok(t))
		if del.Status != "deleted" || !h.gone("task", id) {
			t.Errorf("delete_task = %+v", del)
		}
		// Its container run is untouched.
		if rec := h.lookup("run", run); rec.Archived {
			t.Errorf("the container run changed: %+v", rec)
		}
	})
}

// TestRunProgressObject: the sandbox sends progress as {complete, total, percent}.
func TestRunProgressObject(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	r := h.call("get_run", map[string]any{"run_id": sandbox.IDs.ActiveRun}).ok(t)
	if v := decode[schemas.GetRunResult](t, r).Run; v.Progress == nil || *v.Progress != 25 {
		t.Errorf("progress = %v, want 25", v.Progress)
	}
	contains(t, "get_run text", r.text, "25% done")
	// archive_run's answer has progress as a bare number (docs archive-process).
	res := decode[schemas.LifecycleResult](t, h.call("archive_run", map[string]any{"run_id": sandbox.IDs.ActiveRun}).ok(t))
	if !res.Changed || res.Resource.Status != "archived" {
		t.Errorf("archive_run = %+v", res)
	}
}

// TestIncludeListingSaysUnknown: template list items carry no archived_at, so a listing
// that mixes live and archived ones says archived: null; restore still works, as it decides
// from the archived listing.
func TestIncludeListingSaysUnknown(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	r := h.call("list_templates", map[string]any{"archived": "include", "per_page": 100}).ok(t)
	for _, x := range decode[schemas.ListTemplatesResult](t, r).Templates {
		if x.Archived != nil {
			t.Errorf("%s: archived %v in an include listing of items without archived_at", x.ID, *x.Archived)
		}
	}
	contains(t, "list text", r.text, "Tallyfy did not say")
	only := decode[schemas.ListTemplatesResult](t, h.call("list_templates", map[string]any{"archived": "only"}).ok(t)).Templates
	if len(only) == 0 || only[0].Archived == nil || !*only[0].Archived {
		t.Fatalf("archived=only: %+v", only)
	}
	got := decode[schemas.GetTemplateResult](t, h.call("get_template", map[string]any{"template_id": sandbox.IDs.ArchivedTemplate}).ok(t)).Template
	if got.Archived == nil || !*got.Archived {
		t.Errorf("get_template(archived) = %+v", got)
	}
	res := decode[schemas.LifecycleResult](t, h.call("restore_template", map[string]any{"template_id": sandbox.IDs.ArchivedTemplate}).ok(t))
	if !res.Changed || res.Resource.State != "live" || h.lookup("template", sandbox.IDs.ArchivedTemplate).Archived {
		t.Errorf("restore_template = %+v", res)
	}
}
