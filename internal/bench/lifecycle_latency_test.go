package main

import (
	"context"
	"io"
	"log/slog"
	"slices"
	"testing"
	"time"

	"github.com/mark3labs/mcp-go/client"
	"github.com/mark3labs/mcp-go/mcp"

	"github.com/tallyfy-mcp/tallyfy-mcp/internal/inproc"
	"github.com/tallyfy-mcp/tallyfy-mcp/server"
	"github.com/tallyfy-mcp/tallyfy-mcp/tallyfy"
	"github.com/tallyfy-mcp/tallyfy-mcp/tallyfy/sandbox"
	"github.com/tallyfy-mcp/tallyfy-mcp/tools"
)

// lifecycleLatency is the sandbox's delay on every request, like a real round trip to Tallyfy.
const lifecycleLatency = 50 * time.Millisecond

// BenchmarkLifecycleLatency50ms reports, for each archive/restore pair, the median call time
// as a multiple of one bare request (x_request_*) on a sandbox that delays every request by
// 50 ms. Each loop archives and restores the same item, so both calls change something. Correctness
// comes first (issue 18, point 1; tools/lifecycle.go): archive_run sends one request, every
// other call reads first, then changes, so the targets are at most 2.1× where the read is one
// GET, and 3.1× where an archived item's GET answers 404 and the archived listing is read too
// (restore_task, restore_template). No target is below 2.1×.
func BenchmarkLifecycleLatency50ms(b *testing.B) {
	pairs := []struct {
		name, archive, restore, idArg, id string
	}{
		{"run", "archive_run", "activate_run", "run_id", sandbox.IDs.CompleteRun},
		{"template", "archive_template", "restore_template", "template_id", sandbox.IDs.LiveTemplate},
		{"task", "archive_task", "restore_task", "task_id", sandbox.IDs.LiveTask},
	}
	for _, p := range pairs {
		b.Run(p.name, func(b *testing.B) {
			api, c := latencyServer(b)
			ctx := context.Background()
			bare := make([]time.Duration, 0, 15)
			for range cap(bare) {
				t0 := time.Now()
				if _, err := api.Find(ctx, tallyfy.KindRun, sandbox.IDs.ActiveRun); err != nil {
					b.Fatal(err)
				}
				bare = append(bare, time.Since(t0))
			}
			args := map[string]any{p.idArg: p.id}
			var archives, restores []time.Duration
			for b.Loop() {
				t0 := time.Now()
				callTool(b, c, p.archive, args)
				t1 := time.Now()
				callTool(b, c, p.restore, args)
				archives, restores = append(archives, t1.Sub(t0)), append(restores, time.Since(t1))
			}
			one := median(bare)
			b.ReportMetric(float64(one.Microseconds())/1000, "ms_request")
			b.ReportMetric(float64(median(archives))/float64(one), "x_request_"+p.archive)
			b.ReportMetric(float64(median(restores))/float64(one), "x_request_"+p.restore)
		})
	}
}

// latencyServer is a server on a sandbox that delays every request: its own Tallyfy client,
// unpaced like --sandbox, and an in-process MCP client.
func latencyServer(b *testing.B) (*tallyfy.Client, *client.Client) {
	b.Helper()
	sb := sandbox.New()
	sb.SetFaults(sandbox.Fault{Kind: "latency", Param: lifecycleLatency.String()})
	url, hs, err := sandbox.Listen("127.0.0.1:0", sb)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = hs.Close() })
	api, err := tallyfy.New(tallyfy.Config{BaseURL: url, Token: sandbox.AdminToken, OrgID: sandbox.OrgID})
	if err != nil {
		b.Fatal(err)
	}
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	ts, err := tools.New(tools.Options{Client: api, Confirm: tools.ConfirmToken, Logger: logger})
	if err != nil {
		b.Fatal(err)
	}
	c, err := inproc.Connect(context.Background(), server.NewMCPServer(ts, "bench", time.Minute, time.Minute, logger), "bench")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = c.Close() })
	return api, c
}

func callTool(b *testing.B, c *client.Client, name string, args map[string]any) {
	b.Helper()
	req := mcp.CallToolRequest{}
	req.Params.Name, req.Params.Arguments = name, args
	res, err := c.CallTool(context.Background(), req)
	if err != nil || res.IsError {
		b.Fatalf("%s: %v %+v", name, err, res)
	}
	if sc, ok := res.StructuredContent.(map[string]any); ok && sc["changed"] == false {
		b.Fatalf("%s changed nothing: %+v", name, sc)
	}
}

func median(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2]
}
