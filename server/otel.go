package server

import (
	"context"
	"errors"
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

// Telemetry is the optional OpenTelemetry instrumentation of tool calls: one span per call
// (tool name, outcome, duration; never arguments or tokens) and two metrics.
type Telemetry struct {
	tracer   trace.Tracer
	calls    metric.Int64Counter
	duration metric.Float64Histogram
	shutdown func(context.Context) error // flushes the exporters; nil: nothing to flush
}

// NewTelemetry instruments with the given providers (tests pass in-memory ones, and no shutdown).
func NewTelemetry(tp trace.TracerProvider, mp metric.MeterProvider, shutdown func(context.Context) error) (*Telemetry, error) {
	meter := mp.Meter("github.com/tallyfy-mcp/tallyfy-mcp")
	calls, err := meter.Int64Counter("tallyfy_mcp.tool.calls", metric.WithDescription("Tool calls by tool and outcome"))
	if err != nil {
		return nil, err
	}
	dur, err := meter.Float64Histogram("tallyfy_mcp.tool.duration", metric.WithUnit("s"), metric.WithDescription("Tool call duration"))
	if err != nil {
		return nil, err
	}
	return &Telemetry{tracer: tp.Tracer("github.com/tallyfy-mcp/tallyfy-mcp"), calls: calls, duration: dur, shutdown: shutdown}, nil
}

// NewOTLPTelemetry exports over OTLP/HTTP, configured by the standard OTEL_* variables
// (OTEL_EXPORTER_OTLP_ENDPOINT, OTEL_EXPORTER_OTLP_HEADERS, OTEL_SERVICE_NAME, …).
func NewOTLPTelemetry(ctx context.Context, version string) (*Telemetry, error) {
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
	return NewTelemetry(tp, mp, func(ctx context.Context) error { return errors.Join(tp.Shutdown(ctx), mp.Shutdown(ctx)) })
}

// Extend is the telemetry's Extension of the MCP server: Middleware on every tool call.
func (t *Telemetry) Extend(*mcpserver.Hooks) []mcpserver.ToolHandlerMiddleware {
	return []mcpserver.ToolHandlerMiddleware{t.Middleware}
}

// Close flushes what is buffered, within 5 s.
func (t *Telemetry) Close() error {
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
func (t *Telemetry) Middleware(next mcpserver.ToolHandlerFunc) mcpserver.ToolHandlerFunc {
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
