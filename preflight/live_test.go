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
