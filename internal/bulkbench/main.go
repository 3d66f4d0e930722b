// Command bulkbench measures bulk_archive of 100 processes against a sandbox that answers
// like a slow, rate-limited Tallyfy (make bench-bulk; figures in docs/performance.md): 50 ms
// per request and 20 requests a second per token. The target (issue 11) is that the execute
// call finishes within 1.15 × (the Tallyfy requests it needed ÷ 20 per second), with no 429.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"time"

	"github.com/mark3labs/mcp-go/mcp"

	"github.com/tallyfy-mcp/tallyfy-mcp/internal/inproc"
	"github.com/tallyfy-mcp/tallyfy-mcp/schemas"
	"github.com/tallyfy-mcp/tallyfy-mcp/server"
	"github.com/tallyfy-mcp/tallyfy-mcp/tallyfy"
	"github.com/tallyfy-mcp/tallyfy-mcp/tallyfy/sandbox"
	"github.com/tallyfy-mcp/tallyfy-mcp/tools"
	"github.com/tallyfy-mcp/tallyfy-mcp/tools/audit"
)

func main() {
	rate := flag.Float64("tallyfy-rate", 18, "client pacing (--tallyfy-rate)")
	conc := flag.Int("bulk-concurrency", 4, "items at once (--bulk-concurrency)")
	limit := flag.Float64("limit", 20, "the sandbox's rate limit, requests per second")
	latency := flag.Duration("latency", 50*time.Millisecond, "the sandbox's latency per request")
	items := flag.Int("items", 100, "processes to archive")
	flag.Parse()
	if err := run(*rate, *conc, *limit, *latency, *items); err != nil {
		fmt.Fprintln(os.Stderr, "bench-bulk:", err)
		os.Exit(1)
	}
}

func run(rate float64, conc int, limit float64, latency time.Duration, n int) error {
	sb := sandbox.New(sandbox.WithExtraRuns(n), sandbox.WithLatency(latency), sandbox.WithRateLimit(sandbox.RateLimit{PerSecond: limit}))
	url, hs, err := sandbox.Listen("127.0.0.1:0", sb)
	if err != nil {
		return err
	}
	defer func() { _ = hs.Close() }()
	client, err := tallyfy.New(tallyfy.Config{BaseURL: url, Token: sandbox.AdminToken, OrgID: sandbox.OrgID, Rate: rate})
	if err != nil {
		return err
	}
	ts, err := tools.New(tools.Options{Client: client, Confirm: tools.ConfirmToken, BulkConcurrency: conc,
		Policy: tools.Policy{MaxDeletesPerHour: -1}, Audit: audit.LogRecorder{Logger: slog.New(slog.DiscardHandler)}})
	if err != nil {
		return err
	}
	ctx := context.Background()
	c, err := inproc.Connect(ctx, server.NewMCPServer(ts, "bench", 5*time.Minute, time.Minute, slog.New(slog.NewTextHandler(io.Discard, nil))), "bench-bulk")
	if err != nil {
		return err
	}
	defer func() { _ = c.Close() }()

	// Select by filter: the generated runs are named "Load test run N".
	call := func(args map[string]any) (schemas.BulkResult, time.Duration, int64, error) {
		before := sb.Requests()
		start := time.Now()
		req := mcp.CallToolRequest{}
		req.Params.Name, req.Params.Arguments = "bulk_archive", args
		res, err := c.CallTool(ctx, req)
		took := time.Since(start)
		var out schemas.BulkResult
		if err == nil {
			b, _ := json.Marshal(res.StructuredContent)
			err = json.Unmarshal(b, &out)
			if res.IsError {
				err = fmt.Errorf("bulk_archive failed: %v", res.Content)
			}
		}
		return out, took, sb.Requests() - before, err
	}
	time.Sleep(time.Second) // a fresh rate window
	plan, planTook, planReqs, err := call(map[string]any{"type": "run", "query": "Load test run"})
	if err != nil {
		return err
	}
	if plan.Totals["planned"] != n {
		return fmt.Errorf("planned %d of %d", plan.Totals["planned"], n)
	}
	time.Sleep(time.Second)
	done, took, reqs, err := call(plan.Execute.Arguments)
	if err != nil {
		return err
	}
	floor := time.Duration(float64(reqs) / limit * float64(time.Second))
	ratio := took.Seconds() / floor.Seconds()
	fmt.Printf("| call | items | Tallyfy requests | time | requests ÷ %.0f/s | ratio | 429s |\n|---|---|---|---|---|---|---|\n", limit)
	fmt.Printf("| plan (filter) | %d | %d | %.2f s | %.2f s | %.2f | |\n", n, planReqs, planTook.Seconds(), float64(planReqs)/limit, planTook.Seconds()/(float64(planReqs)/limit))
	fmt.Printf("| execute | %d ok | %d | %.2f s | %.2f s | %.2f | %d |\n", done.Totals["ok"], reqs, took.Seconds(), floor.Seconds(), ratio, sb.RateLimited())
	fmt.Printf("\n--tallyfy-rate %.1f, --bulk-concurrency %d, sandbox %.0f req/s and %s per request. Target: execute ratio ≤ 1.15, zero 429s.\n", rate, conc, limit, latency)
	switch {
	case done.Totals["ok"] != n:
		return fmt.Errorf("archived %d of %d", done.Totals["ok"], n)
	case sb.RateLimited() > 0:
		return fmt.Errorf("%d requests were answered 429", sb.RateLimited())
	case ratio > 1.15:
		return fmt.Errorf("execute took %.2f × the floor, over 1.15", ratio)
	}
	return nil
}
