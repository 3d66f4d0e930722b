package blackbox

// A task inside a process, through the built binary on stdio: the refusal shows what the
// process holds before any run tool is named, and says so plainly when it cannot be read
// (issue 18 point 4).

import (
	"fmt"
	"strings"
	"testing"

	"github.com/tallyfy-mcp/tallyfy-mcp/internal/harness"
	"github.com/tallyfy-mcp/tallyfy-mcp/internal/testkit"
	"github.com/tallyfy-mcp/tallyfy-mcp/tallyfy/sandbox"
)

func TestProcessTaskRefusalShowsTheProcessThroughTheBinary(t *testing.T) {
	t.Parallel()
	sb, url := testkit.StartSandbox(t, sandbox.WithExtraProcessTasks(6))
	p := harness.Start(t, harness.Config{Env: sandboxEnv(url, sandbox.AdminToken)})
	args := map[string]any{"task_id": sandbox.IDs.ProcessTask}

	res := p.MustCall("archive_task", args)
	text := testkit.Text(res)
	for _, want := range []string{
		fmt.Sprintf(`belongs to process "Onboarding - Jane Cooper" (%s, status active)`, sandbox.IDs.ActiveRun),
		`It holds 9 tasks: "Sign employment contract", "Set up laptop and accounts", "Schedule first-week check-ins", "Generated step 1", "Generated step 2" and 4 more.`,
		"archive_run or delete_run on process " + sandbox.IDs.ActiveRun + " would act on all of them (9 tasks)",
	} {
		if !res.IsError || !strings.Contains(text, want) {
			t.Errorf("archive_task refusal lacks %q (isError %v):\n%s", want, res.IsError, text)
		}
	}
	if rec, _ := sb.Lookup("task", sandbox.IDs.ProcessTask); rec.Archived {
		t.Fatal("the process task was archived")
	}

	// The bulk plan's skip reason names the process and its count.
	pl := bulkResult(t, p.MustCall("bulk_archive", map[string]any{"type": "task", "ids": []string{sandbox.IDs.ProcessTask, sandbox.IDs.LiveTask}}))
	if it := pl.Items[0]; it.Outcome != "skipped" || !strings.Contains(it.Reason, `process "Onboarding - Jane Cooper"`) || !strings.Contains(it.Reason, "which holds 9 tasks") {
		t.Errorf("bulk skip: %+v", it)
	}

	// The contents unreadable: still refused, said plainly, no run tool offered.
	sb.SetFaults(sandbox.Fault{Kind: "503", Method: "GET", PathContains: "/runs/" + sandbox.IDs.ActiveRun + "/tasks"})
	res = p.MustCall("delete_task", args)
	text = testkit.Text(res)
	if !res.IsError || !strings.Contains(text, "What the process holds could not be read (503") || strings.Contains(text, "archive_run or delete_run") {
		t.Errorf("delete_task with the contents unreadable:\n%s", text)
	}
	if _, ok := sb.Lookup("task", sandbox.IDs.ProcessTask); !ok {
		t.Fatal("the process task was deleted")
	}
}
