package blackbox

import (
	"context"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mark3labs/mcp-go/mcp"

	"github.com/tallyfy-mcp/tallyfy-mcp/internal/harness"
	"github.com/tallyfy-mcp/tallyfy-mcp/internal/testkit"
	"github.com/tallyfy-mcp/tallyfy-mcp/tallyfy/sandbox"
)

// TestCancelledCallStopsTheTallyfyRequest: over stdio, a client that gives up on a call sends
// notifications/cancelled; the server then aborts its request to a hung Tallyfy at once, and
// other calls go on meanwhile.
func TestCancelledCallStopsTheTallyfyRequest(t *testing.T) {
	for _, proto := range []string{mcp.ProtocolVersion20251125, ""} {
		t.Run("protocol="+proto, func(t *testing.T) {
			sb := sandbox.New()
			sb.SetFaults(sandbox.Fault{Kind: "hang", Method: http.MethodGet, PathContains: "/runs/" + sandbox.IDs.ActiveRun})
			var started, aborted atomic.Int32
			var abortedAt atomic.Int64
			url, srv, err := sandbox.Listen("127.0.0.1:0", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				hung := strings.Contains(r.URL.Path, "/runs/"+sandbox.IDs.ActiveRun)
				if hung {
					started.Add(1)
				}
				sb.ServeHTTP(w, r)
				if hung && r.Context().Err() != nil {
					aborted.Add(1)
					abortedAt.Store(time.Now().UnixNano())
				}
			}))
			if err != nil {
				t.Fatal(err)
			}
			defer srv.Close()
			p := harness.Start(t, harness.Config{Env: sandboxEnv(url, sandbox.AdminToken), Protocol: proto})

			done := make(chan error, 1)
			ctx, cancel := context.WithCancel(context.Background())
			go func() {
				req := mcp.CallToolRequest{}
				req.Params.Name, req.Params.Arguments = "get_run", map[string]any{"run_id": sandbox.IDs.ActiveRun}
				_, err := p.Client.CallTool(ctx, req)
				done <- err
			}()
			deadline := time.Now().Add(5 * time.Second)
			for started.Load() == 0 && time.Now().Before(deadline) {
				time.Sleep(5 * time.Millisecond)
			}
			if started.Load() == 0 {
				t.Fatal("the call never reached Tallyfy")
			}
			// Another call is served while the first hangs.
			if res := p.MustCall("get_run", map[string]any{"run_id": sandbox.IDs.CompleteRun}); res.IsError {
				t.Fatalf("second call: %s", testkit.Text(res))
			}
			cancelledAt := time.Now()
			cancel()
			if err := <-done; err == nil {
				t.Fatal("the cancelled call returned no error")
			}
			for aborted.Load() == 0 && time.Since(cancelledAt) < 3*time.Second {
				time.Sleep(5 * time.Millisecond)
			}
			if aborted.Load() != 1 {
				t.Fatalf("the request to Tallyfy was not aborted after notifications/cancelled (started %d)", started.Load())
			}
			if d := time.Duration(abortedAt.Load() - cancelledAt.UnixNano()); d > time.Second {
				t.Errorf("the request to Tallyfy ended %s after the cancel", d)
			}
			if started.Load() != 1 {
				t.Errorf("the cancelled call was retried: %d requests", started.Load())
			}
			if code := p.Stop(); code != 0 {
				t.Errorf("exit %d", code)
			}
		})
	}
}
