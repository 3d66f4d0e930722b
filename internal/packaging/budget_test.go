package packaging

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/mark3labs/mcp-go/mcp"

	"github.com/tallyfy-mcp/tallyfy-mcp/internal/inproc"
	"github.com/tallyfy-mcp/tallyfy-mcp/server"
)

// What hosts put in the model's context is paid for in every conversation: keep it small
// (issue 11 set these with the bulk tools and the list filters in).
const (
	maxContextBytes   = 12 << 10 // every default tool's name, title, description and input schema (issue 11; 12 KiB since issue 20: clear bulk arguments)
	maxToolsListBytes = 28 << 10 // the whole tools/list result (issue 11; 28 KiB since issue 21)
)

func TestContextBudget(t *testing.T) {
	cfg, err := server.ParseConfig([]string{"--sandbox"}, func(string) string { return "" }, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	app, err := server.New(cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer app.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := inproc.Connect(ctx, app.MCP, "budget")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	res, err := c.ListTools(ctx, mcp.ListToolsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Tools) != 18 {
		t.Fatalf("%d tools by default, want 18", len(res.Tools))
	}
	contextBytes := 0
	for _, tool := range res.Tools {
		b, _ := json.Marshal(map[string]any{"name": tool.Name, "title": tool.Title, "description": tool.Description, "inputSchema": tool.InputSchema})
		contextBytes += len(b)
	}
	whole, _ := json.Marshal(res)
	t.Logf("model context: %d bytes (~%d tokens); tools/list: %d bytes (~%d tokens)", contextBytes, contextBytes/4, len(whole), len(whole)/4)
	if contextBytes > maxContextBytes {
		t.Errorf("tool names, titles, descriptions and input schemas take %d bytes, over the %d budget: tighten descriptions", contextBytes, maxContextBytes)
	}
	if len(whole) > maxToolsListBytes {
		t.Errorf("tools/list is %d bytes, over the %d budget", len(whole), maxToolsListBytes)
	}
}
