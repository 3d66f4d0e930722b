package preflight

import (
	"context"
	"strings"
	"testing"

	"github.com/tallyfy-mcp/tallyfy-mcp/tallyfy"
	"github.com/tallyfy-mcp/tallyfy-mcp/tallyfy/sandbox"
)

// A permanent delete that never works: the run says which task it left, fails, and the table
// still has every row (observed, or "not observed" with why).
func TestLiveSaysWhatItLeft(t *testing.T) {
	t.Parallel()
	e := startSandbox(t)
	e.sb.SetFaults(mustFault(t, "500:DELETE~/delete")...)
	rep := RunLive(context.Background(), e.client(t, sandbox.AdminToken, sandbox.OrgID))
	left := e.sb.Created()
	if rep.OK || len(rep.Left) != 1 || len(left) != 1 || rep.Left[0] != left[0].ID || !strings.Contains(rep.Cleanup, "could not delete "+left[0].ID) {
		t.Fatalf("live %+v; sandbox holds %+v", rep, left)
	}
	if len(rep.Observed) != len(liveRows) {
		t.Errorf("%d rows, want %d", len(rep.Observed), len(liveRows))
	}
	var b strings.Builder
	rep.writeTable(&b)
	if !strings.Contains(b.String(), "✗ cleanup: could not delete") {
		t.Errorf("table:\n%s", b.String())
	}
}

// A user who may not create tasks: nothing else is tried, nothing is left, the run fails and
// says why.
func TestLiveCannotCreate(t *testing.T) {
	t.Parallel()
	e := startSandbox(t)
	e.sb.SetFaults(mustFault(t, "500:POST~/tasks")...)
	c, err := tallyfy.New(tallyfy.Config{BaseURL: e.base, Token: sandbox.AdminToken, OrgID: sandbox.OrgID, MaxTries: 1})
	if err != nil {
		t.Fatal(err)
	}
	rep := RunLive(context.Background(), c)
	if rep.OK || !strings.Contains(rep.Problem, "did not create the throwaway task (500") || rep.Cleanup != "nothing was created" {
		t.Errorf("%+v", rep)
	}
	for _, l := range e.sb.RequestLog() {
		if !strings.HasPrefix(l, "POST ") && !strings.HasPrefix(l, "GET ") {
			t.Errorf("after a refused create it sent %s", l)
		}
	}
}

func mustFault(t *testing.T, spec string) []sandbox.Fault {
	t.Helper()
	f, err := sandbox.ParseFaults(spec)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// The table keeps its order whatever order rows were observed in, the first observation of a
// row stands, a row never observed says why, and the row off the table (a deleted task that
// still answers) follows the table only when it was observed.
func TestLiveTableOrder(t *testing.T) {
	t.Parallel()
	r := &liveRun{rep: &LiveReport{OK: true}, seen: map[string]Observation{}}
	r.observe(stillAnswers.key, "the task still answers: 200", "GET /tasks/{id} → 200")
	r.observe("task_list_default", "first", "")
	r.observe("task_list_default", "second", "")
	r.observe("archive_archived", "refused: 404", "DELETE /tasks/{id} → 404")
	r.finish()
	got := r.rep.Observed
	if len(got) != len(liveRows)+1 {
		t.Fatalf("%d rows, want %d: %+v", len(got), len(liveRows)+1, got)
	}
	for i, row := range append(liveRows[:len(liveRows):len(liveRows)], stillAnswers) {
		o := got[i]
		want := map[string]string{
			"archive_archived": "refused: 404", "task_list_default": "first", stillAnswers.key: "the task still answers: 200",
			"timestamps": "not observed: no timestamp read",
		}[row.key]
		if want == "" {
			want = "not observed: an earlier step failed"
		}
		if o.Key != row.key || o.Question != row.question || o.Answer != want {
			t.Errorf("row %d = %+v, want key %s, question %q, answer %q", i, o, row.key, row.question, want)
		}
	}
	r = &liveRun{rep: &LiveReport{OK: true}, seen: map[string]Observation{}}
	if r.finish(); len(r.rep.Observed) != len(liveRows) {
		t.Errorf("with nothing observed: %d rows, want the table's %d", len(r.rep.Observed), len(liveRows))
	}
}
