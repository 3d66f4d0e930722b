package server_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/mark3labs/mcp-go/mcp"

	"github.com/tallyfy-mcp/tallyfy-mcp/internal/harness"
	"github.com/tallyfy-mcp/tallyfy-mcp/internal/inproc"
	"github.com/tallyfy-mcp/tallyfy-mcp/server"
)

// TestShapeWarningsReachTheServerLog: a field in a shape no published source shows is
// logged through the server's logger (field path and JSON type, never the value), and the
// call still answers.
func TestShapeWarningsReachTheServerLog(t *testing.T) {
	const org, runID, marker = "0123456789abcdef0123456789abcdef", "c15bf2be31c3a7fbded5d13fce7aaab9", "PRIVATE-VALUE"
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"data":{"id":"`+runID+`","name":"Q3 review","status":"active","archived_at":null,"progress":["`+marker+`"]}}`)
	}))
	defer api.Close()
	env := map[string]string{"TALLYFY_ACCESS_TOKEN": "tok-0000", "TALLYFY_ORG_ID": org, "TALLYFY_BASE_URL": api.URL}
	cfg, err := server.ParseConfig(nil, func(k string) string { return env[k] }, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	var logs harness.Buffer // the logger and the test share it
	app, err := server.New(cfg, slog.New(slog.NewTextHandler(&logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer app.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := inproc.Connect(ctx, app.MCP, "shape-log")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	req := mcp.CallToolRequest{}
	req.Params.Name = "get_run"
	req.Params.Arguments = map[string]any{"run_id": runID}
	res, err := c.CallTool(ctx, req)
	if err != nil || res.IsError {
		t.Fatalf("get_run: %v %+v", err, res)
	}
	l := logs.String()
	if !strings.Contains(l, "level=WARN") || !strings.Contains(l, "field=run.progress") || !strings.Contains(l, "json_type=array") {
		t.Errorf("no shape warning in the server log:\n%s", l)
	}
	if strings.Contains(l, marker) {
		t.Errorf("the warning carries the value:\n%s", l)
	}
}
