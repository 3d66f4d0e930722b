package server

import (
	"context"
	"testing"

	"github.com/mark3labs/mcp-go/client"
	"github.com/mark3labs/mcp-go/mcp"
	mcpserver "github.com/mark3labs/mcp-go/server"
)

// TestMCPGoGap_ValidationFailureIsOnlyText pins the mcp-go message text that isValidationFailure
// relies on (mcp-go v1.6.0 still has no hook or error type for an input validation failure): a
// call whose arguments break the input schema gets an error result with that text, and the
// tool handler never runs.
func TestMCPGoGap_ValidationFailureIsOnlyText(t *testing.T) {
	t.Parallel()
	s := mcpserver.NewMCPServer("pin", "1", mcpserver.WithInputSchemaValidation())
	ran := false
	s.AddTool(mcp.NewToolWithRawSchema("pin", "", []byte(`{"type":"object","properties":{"id":{"type":"string","pattern":"^[a-f0-9]{32}$"}},"required":["id"]}`)),
		func(context.Context, mcp.CallToolRequest) (*mcp.CallToolResult, error) {
			ran = true
			return mcp.NewToolResultText("ran"), nil
		})
	c, err := client.NewInProcessClient(s)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = c.Close() }()
	ctx := t.Context()
	if err := c.Start(ctx); err != nil {
		t.Fatal(err)
	}
	init := mcp.InitializeRequest{}
	init.Params.ProtocolVersion = mcp.LATEST_PROTOCOL_VERSION
	if _, err := c.Initialize(ctx, init); err != nil {
		t.Fatal(err)
	}
	req := mcp.CallToolRequest{}
	req.Params.Name, req.Params.Arguments = "pin", map[string]any{"id": "NOT-AN-ID"}
	res, err := c.CallTool(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	if ran || !res.IsError || len(res.Content) != 1 {
		t.Fatalf("ran %v, result %+v", ran, res)
	}
	text, ok := res.Content[0].(mcp.TextContent)
	if !ok || !isValidationFailure(text.Text) {
		t.Errorf("mcp-go's validation failure no longer starts with %q: %+v (update mcpgo_text.go)", mcpgoValidationPrefix, res.Content[0])
	}
	if isValidationFailure("Invalid arguments for pin: id: does not match") {
		t.Error("a rewritten message still counts as mcp-go's")
	}
}
