package blackbox

import (
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tallyfy-mcp/tallyfy-mcp/internal/harness"
	"github.com/tallyfy-mcp/tallyfy-mcp/internal/testkit"
	"github.com/tallyfy-mcp/tallyfy-mcp/tallyfy/sandbox"
)

// TestDeleteBudgetRace pipelines thousands of delete_run calls, 32 in flight, into the built
// binary with a member token whose role cannot be read (every delete that reaches Tallyfy fails
// with 403 and gives its budget slot back), --max-deletes-per-hour 1 and --confirm off. Slots are taken and given
// back all the time, so a refusal computed apart from the take could find the budget free
// again and be nil (once a recovered panic and a JSON-RPC error with no audit record). Every
// call must get a tool result, and every call an audit record that says what happened.
func TestDeleteBudgetRace(t *testing.T) {
	t.Parallel()
	const calls, inFlight = 4000, 32
	sb, url := testkit.StartSandbox(t)
	// The member's role cannot be read, so the server cannot refuse the delete for it in advance
	// (tools/role.go): every delete reaches Tallyfy, which answers 403.
	sb.SetFaults(mustFaults(t, "500:GET~/me/organizations")...)
	audit := testkit.AuditPath(t)
	p := harness.Start(t, harness.Config{
		Args: []string{"--confirm", "off", "--max-deletes-per-hour", "1", "--audit-log", audit, "--log-level", "warn"},
		Env:  sandboxEnv(url, sandbox.MemberToken),
	})
	start := time.Now()
	var next, budgetRefused, forbidden, other atomic.Int64
	var wg sync.WaitGroup
	for range inFlight {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for next.Add(1) <= calls && time.Since(start) < 60*time.Second {
				res, err := p.Call("delete_run", map[string]any{"run_id": sandbox.IDs.ArchivedRun})
				switch {
				case err != nil:
					t.Errorf("JSON-RPC error: %v", err)
				case !res.IsError:
					t.Errorf("a member's delete succeeded: %s", testkit.Text(res))
				case strings.Contains(testkit.Text(res), "delete budget of 1"):
					budgetRefused.Add(1)
				case strings.Contains(testkit.Text(res), "admin"):
					forbidden.Add(1)
				default:
					other.Add(1)
					t.Errorf("unexpected answer: %s", testkit.Text(res))
				}
			}
		}()
	}
	wg.Wait()
	took := time.Since(start)
	done := budgetRefused.Load() + forbidden.Load() + other.Load()
	if done != calls {
		t.Fatalf("%d of %d calls answered within %s", done, calls, took)
	}
	if p.Stop() != 0 {
		t.Errorf("exit code non-zero; stderr:\n%s", tail(p.Stderr.Bytes(), 2000))
	}
	if budgetRefused.Load() == 0 || forbidden.Load() == 0 {
		t.Fatalf("budget refusals %d, 403s %d: both paths must be reached", budgetRefused.Load(), forbidden.Load())
	}
	deletes := 0
	for _, r := range sb.RequestLog() {
		if strings.HasPrefix(r, "DELETE ") && strings.HasSuffix(r, "/delete") {
			deletes++
		}
	}
	counts := map[string]int{}
	for _, rec := range auditLines(t, audit) {
		outcome, _ := rec["outcome"].(string)
		detail, _ := rec["detail"].(string)
		switch {
		case outcome == "refused" && detail == "delete budget spent":
			counts["budget"]++
		case outcome == "failed" && rec["http_status"] == float64(403):
			counts["403"]++
		case outcome == "intent":
			counts["intent"]++
		default:
			counts["other"]++
		}
	}
	want := map[string]int{"budget": int(budgetRefused.Load()), "403": int(forbidden.Load()), "intent": int(forbidden.Load())}
	for k, n := range want {
		if counts[k] != n {
			t.Errorf("audit: %d %s records, want %d (all: %v)", counts[k], k, n, counts)
		}
	}
	if counts["other"] != 0 || deletes != int(forbidden.Load()) {
		t.Errorf("audit %v; %d deletes reached Tallyfy, %d answered 403", counts, deletes, forbidden.Load())
	}
	t.Logf("%d calls, %d in flight, in %s: %d refused by the budget, %d refused by Tallyfy (403)", calls, inFlight, took.Round(time.Millisecond), budgetRefused.Load(), forbidden.Load())
}
