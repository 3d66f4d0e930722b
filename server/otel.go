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
	shutdown func(context.Context) error
}

// NewTelemetry instruments with the given providers (tests pass in-memory ones).
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
	if shutdown == nil {
		shutdown = func(context.Context) error { return nil }
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

// Shutdown flushes what is buffered.
func (t *Telemetry) Shutdown(ctx context.Context) error { return t.shutdown(ctx) }

// Middleware wraps every tool call in a span and records the metrics.
func (t *Telemetry) Middleware(next mcpserver.ToolHandlerFunc) mcpserver.ToolHandlerFunc {
	return func(ctx context.Context, req mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		name := req.Params.Name
		ctx, span := t.tracer.Start(ctx, "tools/call "+name, trace.WithSpanKind(trace.SpanKindServer),
			trace.WithAttributes(attribute.String("mcp.tool.name", name), attribute.String("mcp.method.name", "tools/call")))
		start := time.Now()
		res, err := next(ctx, req)
		outcome := "ok"
		switch {
		case err != nil:
			outcome = "error"
			span.SetStatus(codes.Error, "handler error")
		case res != nil && res.IsError:
			outcome = "error_result"
			span.SetStatus(codes.Error, "tool error result")
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
