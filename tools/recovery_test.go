package tools_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/mark3labs/mcp-go/mcp"

	"github.com/tallyfy-mcp/tallyfy-mcp/tallyfy/sandbox"
	"github.com/tallyfy-mcp/tallyfy-mcp/tools"
)

// TestPanicIsRecovered: a handler that panics becomes a JSON-RPC error for that call; the
// server (and the test process) carries on. The production server hides tools that are not
// in the table, so the panicking handler replaces a table tool's.
func TestPanicIsRecovered(t *testing.T) {
	t.Parallel()
	forEachProtocol(t, func(t *testing.T, p protocol) {
		h := newHarness(t, withProto(p))
		row, _ := tools.ByName("get_template")
		h.srv.AddTool(tools.MCPTool(row), func(context.Context, mcp.CallToolRequest) (*mcp.CallToolResult, error) {
			panic("kaboom")
		})
		r := h.call("get_template", map[string]any{"template_id": sandbox.IDs.LiveTemplate})
		if r.err == nil {
			t.Fatalf("want a JSON-RPC error, got %+v", r.res)
		}
		if !errors.Is(r.err, mcp.ErrInternalError) || !strings.Contains(r.err.Error(), "panic recovered") {
			t.Errorf("error %v", r.err)
		}
		// Everything else still works.
		h.call("get_run", map[string]any{"run_id": sandbox.IDs.ActiveRun}).ok(t)
		lifecycle(t, h, "archive_run", "run_id", sandbox.IDs.ActiveRun)
	})
}
