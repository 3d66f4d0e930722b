package blackbox

import (
	"os"
	"regexp"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/tallyfy-mcp/tallyfy-mcp/internal/harness"
	"github.com/tallyfy-mcp/tallyfy-mcp/internal/testkit"
	"github.com/tallyfy-mcp/tallyfy-mcp/tallyfy/sandbox"
)

// startSandboxBinary runs `tallyfy-mcp sandbox` with args and returns its base URL and a stop
// function that ends it and returns what it logged.
func startSandboxBinary(t *testing.T, args ...string) (string, func() string) {
	t.Helper()
	b := harness.Run(t, harness.CleanEnv(nil), append([]string{"sandbox", "--addr", "127.0.0.1:0"}, args...)...)
	urlRe := regexp.MustCompile(`url=(http://\S+/api)`)
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if m := urlRe.FindStringSubmatch(b.Stderr.String()); m != nil {
			return m[1], func() string {
				_ = b.Cmd.Process.Signal(os.Interrupt)
				b.Wait(t, 10*time.Second)
				return b.Stderr.String()
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("the sandbox did not say where it listens:\n%s", b.Stderr.String())
	return "", nil
}

// burstOfReads makes n get and list calls from 4 goroutines at once and fails on any error result.
func burstOfReads(t *testing.T, p *harness.Proc, n int) {
	t.Helper()
	calls := []struct {
		name string
		args map[string]any
	}{
		{"get_run", map[string]any{"run_id": sandbox.IDs.ActiveRun}},
		{"list_runs", map[string]any{}},
		{"get_task", map[string]any{"task_id": sandbox.IDs.LiveTask}},
		{"list_templates", map[string]any{}},
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	next := 0
	for range 4 {
		wg.Go(func() {
			for {
				mu.Lock()
				i := next
				next++
				mu.Unlock()
				if i >= n {
					return
				}
				c := calls[i%len(calls)]
				if res := p.MustCall(c.name, c.args); res.IsError {
					t.Errorf("%s: %s", c.name, testkit.Text(res))
				}
			}
		})
	}
	wg.Wait()
}

var sandboxTotals = regexp.MustCompile(`sandbox: stopped.* requests=(\d+) rate_limited=(\d+)`)

// totals reads the sandbox's exit line: requests received and refused.
func totals(t *testing.T, log string) (requests, refused int) {
	t.Helper()
	m := sandboxTotals.FindStringSubmatch(log)
	if m == nil {
		t.Fatalf("no totals in the sandbox's log:\n%s", log)
	}
	requests, _ = strconv.Atoi(m[1])
	refused, _ = strconv.Atoi(m[2])
	return requests, refused
}

// TestPacingThroughTheBinaries: `tallyfy-mcp sandbox --rate-limit 5 --latency 20ms` and the
// server with --tallyfy-rate 3: a burst of get and list calls over stdio, four at a time, is
// never refused by the sandbox; the same burst unpaced is (so the limit really bites).
func TestPacingThroughTheBinaries(t *testing.T) {
	const calls = 12
	for _, tc := range []struct {
		rate    string
		refused bool
	}{{"3", false}, {"0", true}} {
		t.Run("tallyfy-rate="+tc.rate, func(t *testing.T) {
			url, stop := startSandboxBinary(t, "--rate-limit", "5", "--latency", "20ms")
			env := sandboxEnv(url, sandbox.AdminToken)
			env["TALLYFY_RATE"] = tc.rate
			p := harness.Start(t, harness.Config{Env: env})
			start := time.Now()
			burstOfReads(t, p, calls)
			took := time.Since(start)
			if code := p.Stop(); code != 0 {
				t.Fatalf("server exit %d\n%s", code, p.Stderr.String())
			}
			requests, refused := totals(t, stop())
			if requests < calls {
				t.Fatalf("the sandbox saw %d requests for %d calls", requests, calls)
			}
			if tc.refused && refused == 0 {
				t.Fatalf("unpaced: %d requests in %s and none refused: the limit did not bite", requests, took)
			}
			if !tc.refused && refused != 0 {
				t.Fatalf("paced at 3/s under a 5/s limit: the sandbox refused %d of %d requests", refused, requests)
			}
			t.Logf("--tallyfy-rate %s: %d calls, %d requests, %d refused, %s", tc.rate, calls, requests, refused, took.Round(time.Millisecond))
		})
	}
}
