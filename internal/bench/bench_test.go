package main

import (
	"context"
	"io"
	"log/slog"
	"testing"

	"github.com/mark3labs/mcp-go/client"
	"github.com/mark3labs/mcp-go/mcp"

	"github.com/tallyfy-mcp/tallyfy-mcp/internal/inproc"
	"github.com/tallyfy-mcp/tallyfy-mcp/server"
	"github.com/tallyfy-mcp/tallyfy-mcp/tallyfy/sandbox"
)

// newClient is an initialized in-process client of a server on the sandbox.
func newClient(b *testing.B) *client.Client {
	b.Helper()
	cfg, err := server.ParseConfig([]string{"--sandbox"}, func(string) string { return "" }, io.Discard)
	if err != nil {
		b.Fatal(err)
	}
	app, err := server.New(cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = app.Close() })
	c, err := inproc.Connect(context.Background(), app.MCP, "bench")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = c.Close() })
	return c
}

func call(b *testing.B, c *client.Client, name string, args map[string]any) {
	req := mcp.CallToolRequest{}
	req.Params.Name, req.Params.Arguments = name, args
	res, err := c.CallTool(context.Background(), req)
	if err != nil || res.IsError {
		b.Fatalf("%s: %v %v", name, err, res)
	}
}

func BenchmarkGetRunInProcess(b *testing.B) {
	c := newClient(b)
	args := map[string]any{"run_id": sandbox.IDs.ActiveRun}
	b.ReportAllocs()
	for b.Loop() {
		call(b, c, "get_run", args)
	}
}

func BenchmarkListRunsInProcess(b *testing.B) {
	c := newClient(b)
	args := map[string]any{"archived": "include", "per_page": 20}
	b.ReportAllocs()
	for b.Loop() {
		call(b, c, "list_runs", args)
	}
}

func BenchmarkArchiveActivateInProcess(b *testing.B) {
	c := newClient(b)
	args := map[string]any{"run_id": sandbox.IDs.CompleteRun}
	b.ReportAllocs()
	for b.Loop() {
		call(b, c, "archive_run", args)
		call(b, c, "activate_run", args)
	}
}

// list_tasks with a query reads Tallyfy's search and the one-off listing at once (and, on a
// large organization, up to four more pages of titles).
func BenchmarkListTasksQueryInProcess(b *testing.B) {
	c := newClient(b)
	args := map[string]any{"query": "ssl", "archived": "include"}
	b.ReportAllocs()
	for b.Loop() {
		call(b, c, "list_tasks", args)
	}
}

func BenchmarkListTasksInProcess(b *testing.B) {
	c := newClient(b)
	args := map[string]any{"archived": "include"}
	b.ReportAllocs()
	for b.Loop() {
		call(b, c, "list_tasks", args)
	}
}
