package tools_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/tallyfy-mcp/tallyfy-mcp/schemas"
	"github.com/tallyfy-mcp/tallyfy-mcp/tallyfy/sandbox"
	"github.com/tallyfy-mcp/tallyfy-mcp/tools"
)

// The refusals for a task inside a process show what the process holds (process_contents.go):
// archive_run or delete_run on it acts on every task in it.

// activeRunTitles are the seed's tasks of sandbox.IDs.ActiveRun, in position order.
var activeRunTitles = []string{"Sign employment contract", "Set up laptop and accounts", "Schedule first-week check-ins"}

// runTaskReads counts the GETs of a process's task list in the sandbox log since mark.
func runTaskReads(h *harness, mark int) int {
	n := 0
	for _, l := range h.sb.RequestLog()[mark:] {
		if strings.HasPrefix(l, "GET ") && strings.Contains(l, "/runs/") && strings.Contains(l, "/tasks") {
			n++
		}
	}
	return n
}

// TestProcessTaskRefusalListsWhatTheProcessHolds: each single task tool refuses a process task
// with the process's name, id and status, its task count, the first titles and how many more,
// and says archive_run/delete_run would act on all of them; nothing is written.
func TestProcessTaskRefusalListsWhatTheProcessHolds(t *testing.T) {
	t.Parallel()
	h := newHarness(t, withConfirm(tools.ConfirmOff), withSandbox(sandbox.WithExtraProcessTasks(6)))
	for _, tool := range []string{"archive_task", "restore_task", "delete_task"} {
		mark := h.logLen()
		r := h.call(tool, map[string]any{"task_id": sandbox.IDs.ProcessTask}).failed(t,
			fmt.Sprintf(`belongs to process "Onboarding - Jane Cooper" (%s, status active)`, sandbox.IDs.ActiveRun),
			"It holds 9 tasks: ",
			`"Generated step 1", "Generated step 2" and 4 more.`,
			"archive_run or delete_run on process "+sandbox.IDs.ActiveRun+" would act on all of them (9 tasks)",
			"show the person this list")
		contains(t, tool, r.text, activeRunTitles...)
		if strings.Contains(r.text, "Generated step 3") {
			t.Errorf("%s lists more than 5 titles: %s", tool, r.text)
		}
		if w := h.writesSince(mark); len(w) != 0 {
			t.Errorf("%s: writes %q", tool, w)
		}
		if n := runTaskReads(h, mark); n != 1 {
			t.Errorf("%s: %d reads of the process's tasks, want 1", tool, n)
		}
	}
	if rec := h.lookup("task", sandbox.IDs.ProcessTask); rec.Archived {
		t.Error("process task archived")
	}
}

// TestProcessTaskRefusalWhenTheContentsCannotBeRead: if the process's tasks cannot be read the
// refusal says so plainly, still refuses, and points at no run tool as a way forward.
func TestProcessTaskRefusalWhenTheContentsCannotBeRead(t *testing.T) {
	t.Parallel()
	h := newHarness(t, withConfirm(tools.ConfirmOff), withMaxTries(1))
	h.sb.SetFaults(sandbox.Fault{Kind: "503", Method: "GET", PathContains: "/runs/" + sandbox.IDs.ActiveRun + "/tasks"})
	for _, tool := range []string{"archive_task", "delete_task"} {
		mark := h.logLen()
		r := h.call(tool, map[string]any{"task_id": sandbox.IDs.ProcessTask}).failed(t,
			"belongs to process \"Onboarding - Jane Cooper\"",
			"What the process holds could not be read (503",
			"do not archive or delete the process until its tasks have been read and shown to the person",
			"nothing was changed")
		for _, bad := range []string{"It holds", "would act on all", "archive_run or delete_run"} {
			if strings.Contains(r.text, bad) {
				t.Errorf("%s: a failed read still says %q: %s", tool, bad, r.text)
			}
		}
		if w := h.writesSince(mark); len(w) != 0 {
			t.Errorf("%s: writes %q", tool, w)
		}
	}
	// The process itself unreadable as well: it is named by ID, and why.
	h.sb.SetFaults(sandbox.Fault{Kind: "503", Method: "GET", PathContains: "/runs/" + sandbox.IDs.ActiveRun})
	h.call("archive_task", map[string]any{"task_id": sandbox.IDs.ProcessTask}).failed(t,
		"belongs to process "+sandbox.IDs.ActiveRun+" (its name and status could not be read: 503",
		"What the process holds could not be read")
}

// TestProcessTaskReadsNothingOnTheNormalPath: a one-off task's archive reads no process.
func TestProcessTaskReadsNothingOnTheNormalPath(t *testing.T) {
	t.Parallel()
	h := newHarness(t, withConfirm(tools.ConfirmOff))
	mark := h.logLen()
	h.call("archive_task", map[string]any{"task_id": sandbox.IDs.LiveTask}).ok(t)
	for _, l := range h.sb.RequestLog()[mark:] {
		if strings.Contains(l, "/runs") {
			t.Errorf("the normal path read a process: %s", l)
		}
	}
}

// TestBulkPlanNamesTheProcessOfSkippedTasks: a plan's skip reason for a task inside a process
// names the process and its task count, and each process is read once per plan.
func TestBulkPlanNamesTheProcessOfSkippedTasks(t *testing.T) {
	t.Parallel()
	h := newHarness(t, withSandbox(sandbox.WithExtraProcessTasks(2)))
	steps := []string{sandbox.IDs.ProcessTask, seedID("task", "generated-step-1"), seedID("task", "generated-step-2")}
	mark := h.logLen()
	plan := decode[schemas.BulkResult](t, h.call("bulk_archive", map[string]any{"type": "task", "ids": append(steps, sandbox.IDs.LiveTask)}).ok(t))
	want := fmt.Sprintf(`a task inside process "Onboarding - Jane Cooper" (%s, status active), which holds 5 tasks`, sandbox.IDs.ActiveRun)
	for i := range steps {
		it := plan.Items[i]
		if it.Outcome != "skipped" || !strings.Contains(it.Reason, want) || !strings.Contains(it.Reason, "archive_run/delete_run would act on all of them") {
			t.Errorf("item %d: %+v", i, it)
		}
	}
	if plan.Items[3].Outcome != "planned" {
		t.Errorf("one-off task not planned: %+v", plan.Items[3])
	}
	if n := runTaskReads(h, mark); n != 1 {
		t.Errorf("%d reads of the process's tasks for one process, want 1", n)
	}
	// A failed read is said plainly in the reason.
	h.sb.SetFaults(sandbox.Fault{Kind: "503", Method: "GET", PathContains: "/runs/" + sandbox.IDs.ActiveRun + "/tasks"})
	failedPlan := decode[schemas.BulkResult](t, h.call("bulk_archive", map[string]any{"type": "task", "ids": []string{sandbox.IDs.ProcessTask}}).ok(t))
	if r := failedPlan.Items[0].Reason; failedPlan.Items[0].Outcome != "skipped" || !strings.Contains(r, "whose tasks could not be read (503") || strings.Contains(r, "would act on all") {
		t.Errorf("failed read: %+v", failedPlan.Items[0])
	}
}

// TestProcessTaskRefusalWhenStatusAllIsRefused: a Tallyfy that refuses status=all on a
// process's task list is asked again without it; the count is then a floor, and the text says
// completed tasks may be missing.
func TestProcessTaskRefusalWhenStatusAllIsRefused(t *testing.T) {
	t.Parallel()
	wrap := func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if strings.HasSuffix(r.URL.Path, "/runs/"+sandbox.IDs.ActiveRun+"/tasks") && r.URL.Query().Get("status") == "all" {
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(http.StatusUnprocessableEntity)
				_, _ = w.Write([]byte(`{"message":"The given data was invalid.","errors":{"status":["The selected status is invalid."]}}`))
				return
			}
			next.ServeHTTP(w, r)
		})
	}
	h := newHarness(t, withConfirm(tools.ConfirmOff), withWrap(wrap))
	h.call("archive_task", map[string]any{"task_id": sandbox.IDs.ProcessTask}).failed(t,
		"It holds at least 3 tasks",
		"completed tasks may be missing",
		"would act on all of them (at least 3 tasks)")
}
