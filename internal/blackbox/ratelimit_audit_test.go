package blackbox

import (
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tallyfy-mcp/tallyfy-mcp/internal/testkit"
	"github.com/tallyfy-mcp/tallyfy-mcp/tallyfy/sandbox"
)

// TestRateLimitedCallsAreAudited: every lifecycle or permanent call refused by the per-session
// or the global rate limit leaves an audit record (outcome refused, with the reason and the
// item), as the README promises; reads stay unaudited. Through the built binary over HTTP.
func TestRateLimitedCallsAreAudited(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name   string
		limits []string
		detail string
	}{
		{"per session", []string{"--rate-limit", "1"}, "rate limited: too many tool calls on this session"},
		{"global", []string{"--rate-limit", "0", "--global-rate-limit", "1"}, "rate limited: too many tool calls on this server"},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			audit := filepath.Join(t.TempDir(), "audit.jsonl")
			args := append([]string{"--sandbox", "--transport", "http", "--addr", "127.0.0.1:0", "--audit-log", audit}, c.limits...)
			b := runBinary(t, nil, args...)
			url := b.ListenURL(t)
			testkit.WaitHealthy(t, http.DefaultClient, url)
			cl := testkit.ConnectHTTP(t, testkit.Streamable, url, testkit.ClientOpts{Era: testkit.Legacy})
			t.Cleanup(func() { _ = cl.Close() })
			ctx := testkit.Context(t, 30*time.Second)
			const n = 16
			var mu sync.Mutex
			limited := 0
			var wg sync.WaitGroup
			for i := range n {
				wg.Add(1)
				go func() {
					defer wg.Done()
					tool := []string{"archive_run", "activate_run"}[i%2]
					res := testkit.MustCall(t, ctx, cl, tool, map[string]any{"run_id": sandbox.IDs.ActiveRun})
					if res.IsError && strings.Contains(testkit.Text(res), "Retry after") {
						mu.Lock()
						limited++
						mu.Unlock()
					}
				}()
			}
			wg.Wait()
			// A read over the limit is refused too, and not audited.
			for range 4 {
				testkit.MustCall(t, ctx, cl, "get_run", map[string]any{"run_id": sandbox.IDs.ActiveRun})
			}
			if limited < n/2 {
				t.Fatalf("only %d of %d rapid calls were rate limited: the test proves nothing", limited, n)
			}
			var refused int
			for _, r := range testkit.AuditRecords(t, audit) {
				if r.Detail != c.detail {
					continue
				}
				refused++
				if r.Outcome != "refused" || r.ResourceID != sandbox.IDs.ActiveRun || r.ResourceType != "run" ||
					(r.Tool != "archive_run" && r.Tool != "activate_run") || r.Transport != "streamable-http" || r.Session == "" {
					t.Errorf("rate-limit record %+v", r)
				}
			}
			if refused != limited {
				t.Fatalf("%d calls were rate limited, %d audit records say so", limited, refused)
			}
		})
	}
}
