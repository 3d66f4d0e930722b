package telemetry_test

import (
	"context"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/mark3labs/mcp-go/mcp"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/tallyfy-mcp/tallyfy-mcp/internal/inproc"
	"github.com/tallyfy-mcp/tallyfy-mcp/server"
	"github.com/tallyfy-mcp/tallyfy-mcp/server/telemetry"
	"github.com/tallyfy-mcp/tallyfy-mcp/tallyfy/sandbox"
)

// TestTelemetrySpansAndMetrics: one span per tool call with tool name and outcome, metrics
// by tool and outcome, and no argument value or token anywhere in them.
func TestTelemetrySpansAndMetrics(t *testing.T) {
	exp := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	tel, err := telemetry.New(tp, mp, nil)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := server.ParseConfig([]string{"--sandbox"}, func(string) string { return "" }, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	app, err := server.New(cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer app.Close()
	app.MCP.Use(tel.Middleware)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := inproc.Connect(ctx, app.MCP, "otel-test")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	calls := []struct {
		tool    string
		args    map[string]any
		outcome string
	}{
		{"get_run", map[string]any{"run_id": sandbox.IDs.ActiveRun}, "ok"},
		{"archive_run", map[string]any{"run_id": sandbox.IDs.CompleteRun}, "ok"},
		{"delete_run", map[string]any{"run_id": sandbox.IDs.ActiveRun}, "error_result"}, // live: refused
	}
	for _, call := range calls {
		req := mcp.CallToolRequest{}
		req.Params.Name, req.Params.Arguments = call.tool, call.args
		if _, err := c.CallTool(ctx, req); err != nil {
			t.Fatal(err)
		}
	}
	spans := exp.GetSpans()
	if len(spans) != len(calls) {
		t.Fatalf("%d spans for %d calls", len(spans), len(calls))
	}
	for i, s := range spans {
		if s.Name != "tools/call "+calls[i].tool {
			t.Errorf("span %d named %q", i, s.Name)
		}
		attrs := map[string]string{}
		for _, kv := range s.Attributes {
			attrs[string(kv.Key)] = kv.Value.String()
			for _, secret := range []string{sandbox.AdminToken, sandbox.IDs.ActiveRun, sandbox.IDs.CompleteRun} {
				if strings.Contains(kv.Value.String(), secret) {
					t.Errorf("span %s attribute %s carries %q", s.Name, kv.Key, secret)
				}
			}
		}
		if attrs["mcp.tool.name"] != calls[i].tool || attrs["outcome"] != calls[i].outcome || attrs["duration_s"] == "" {
			t.Errorf("span %s attributes %v, want tool %s outcome %s and a duration", s.Name, attrs, calls[i].tool, calls[i].outcome)
		}
	}
	var rm metricdata.ResourceMetrics
	if err := reader.Collect(ctx, &rm); err != nil {
		t.Fatal(err)
	}
	var total int64
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			if sum, ok := m.Data.(metricdata.Sum[int64]); ok && m.Name == "tallyfy_mcp.tool.calls" {
				for _, dp := range sum.DataPoints {
					total += dp.Value
				}
			}
		}
	}
	if total != int64(len(calls)) {
		t.Errorf("tallyfy_mcp.tool.calls = %d, want %d", total, len(calls))
	}
}
