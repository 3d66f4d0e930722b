// Package telemetry is what is observed of each tool call: a debug log line (LogCalls), and
// with --otel an OpenTelemetry span and two metrics (OTel). Never arguments or tokens.
package telemetry

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/mark3labs/mcp-go/mcp"
	mcpserver "github.com/mark3labs/mcp-go/server"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/exporters/otlp/otlpmetric/otlpmetrichttp"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/metric"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.26.0"
	"go.opentelemetry.io/otel/trace"
)

// OTel is the optional OpenTelemetry instrumentation of tool calls: one span per call (tool
// name, outcome, duration; never arguments or tokens) and two metrics.
type OTel struct {
	tracer   trace.Tracer
	calls    metric.Int64Counter
	duration metric.Float64Histogram
	shutdown func(context.Context) error // flushes the exporters; nil: nothing to flush
}

// New instruments with the given providers (tests pass in-memory ones, and no shutdown).
func New(tp trace.TracerProvider, mp metric.MeterProvider, shutdown func(context.Context) error) (*OTel, error) {
	meter := mp.Meter("github.com/tallyfy-mcp/tallyfy-mcp")
	calls, err := meter.Int64Counter("tallyfy_mcp.tool.calls", metric.WithDescription("Tool calls by tool and outcome"))
	if err != nil {
		return nil, err
	}
	dur, err := meter.Float64Histogram("tallyfy_mcp.tool.duration", metric.WithUnit("s"), metric.WithDescription("Tool call duration"))
	if err != nil {
		return nil, err
	}
	return &OTel{tracer: tp.Tracer("github.com/tallyfy-mcp/tallyfy-mcp"), calls: calls, duration: dur, shutdown: shutdown}, nil
}

// NewOTLP exports over OTLP/HTTP, configured by the standard OTEL_* variables
// (OTEL_EXPORTER_OTLP_ENDPOINT, OTEL_EXPORTER_OTLP_HEADERS, OTEL_SERVICE_NAME, …).
func NewOTLP(ctx context.Context, version string) (*OTel, error) {
	res, err := resource.Merge(resource.Default(), resource.NewWithAttributes(semconv.SchemaURL,
		semconv.ServiceName("tallyfy-mcp"), semconv.ServiceVersion(version)))
	if err != nil {
		return nil, err
	}
	if env, err := resource.New(ctx, resource.WithFromEnv()); err == nil {
		if merged, err := resource.Merge(res, env); err == nil {
			res = merged
		}
	}
	te, err := otlptracehttp.New(ctx)
	if err != nil {
		return nil, err
	}
	me, err := otlpmetrichttp.New(ctx)
	if err != nil {
		return nil, err
	}
	tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(te), sdktrace.WithResource(res))
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(sdkmetric.NewPeriodicReader(me)), sdkmetric.WithResource(res))
	return New(tp, mp, func(ctx context.Context) error { return errors.Join(tp.Shutdown(ctx), mp.Shutdown(ctx)) })
}

// Extend is the instrumentation's extension of the MCP server (server.Extension): Middleware on every tool call.
func (t *OTel) Extend(*mcpserver.Hooks) []mcpserver.ToolHandlerMiddleware {
	return []mcpserver.ToolHandlerMiddleware{t.Middleware}
}

// Close flushes what is buffered, within 5 s.
func (t *OTel) Close() error {
	if t.shutdown == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return t.shutdown(ctx)
}

// spanStatus describes a call that did not end ok, on its span.
var spanStatus = map[string]string{"error": "handler error", "error_result": "tool error result"}

// Middleware wraps every tool call in a span and records the metrics.
func (t *OTel) Middleware(next mcpserver.ToolHandlerFunc) mcpserver.ToolHandlerFunc {
	return func(ctx context.Context, req mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		name := req.Params.Name
		ctx, span := t.tracer.Start(ctx, "tools/call "+name, trace.WithSpanKind(trace.SpanKindServer),
			trace.WithAttributes(attribute.String("mcp.tool.name", name), attribute.String("mcp.method.name", "tools/call")))
		start := time.Now()
		res, err := next(ctx, req)
		outcome := callOutcome(res, err)
		if outcome != "ok" {
			span.SetStatus(codes.Error, spanStatus[outcome])
		}
		d := time.Since(start).Seconds()
		attrs := []attribute.KeyValue{attribute.String("mcp.tool.name", name), attribute.String("outcome", outcome)}
		span.SetAttributes(attribute.String("outcome", outcome), attribute.Float64("duration_s", d))
		span.End()
		t.calls.Add(ctx, 1, metric.WithAttributes(attrs...))
		t.duration.Record(ctx, d, metric.WithAttributes(attrs...))
		return res, err
	}
}

// LogCalls logs each tool call at debug level: tool, outcome and duration, never arguments.
func LogCalls(logger *slog.Logger) mcpserver.ToolHandlerMiddleware {
	return func(next mcpserver.ToolHandlerFunc) mcpserver.ToolHandlerFunc {
		return func(ctx context.Context, req mcp.CallToolRequest) (*mcp.CallToolResult, error) {
			if !logger.Enabled(ctx, slog.LevelDebug) {
				return next(ctx, req)
			}
			start := time.Now()
			res, err := next(ctx, req)
			logger.DebugContext(ctx, "tool call", "tool", req.Params.Name, "outcome", callOutcome(res, err), "duration", time.Since(start))
			return res, err
		}
	}
}

// callOutcome names how a tool call ended, in the debug log and on spans and metrics: ok,
// error (the handler failed) or error_result (a result with isError).
func callOutcome(res *mcp.CallToolResult, err error) string {
	switch {
	case err != nil:
		return "error"
	case res != nil && res.IsError:
		return "error_result"
	}
	return "ok"
}
