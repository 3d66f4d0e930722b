package tools

import (
	"context"

	"github.com/mark3labs/mcp-go/server"
)

// What a tool call learns from its context: the transport that carried it, its session and
// its client. (The caller, set by the HTTP transports, is in caller.go.)

type transportKey struct{}

type transportInfo struct {
	name   string
	canAsk bool
}

// WithTransport marks ctx with the transport's name and whether it can carry a server-to-client
// question (elicitation). The server sets it per request; unmarked contexts (stdio,
// in-process) can.
func WithTransport(ctx context.Context, name string, canAsk bool) context.Context {
	return context.WithValue(ctx, transportKey{}, transportInfo{name: name, canAsk: canAsk})
}

// transportCanAsk reports whether the request's transport can carry an elicitation.
func transportCanAsk(ctx context.Context) bool {
	ti, ok := ctx.Value(transportKey{}).(transportInfo)
	return !ok || ti.canAsk
}

func transportName(ctx context.Context) string {
	if ti, ok := ctx.Value(transportKey{}).(transportInfo); ok {
		return ti.name
	}
	return "in-process"
}

func clientInfo(ctx context.Context) (name, version string) {
	if info := server.RequestProtocolInfoFromContext(ctx); info != nil && info.ClientInfo != nil {
		return info.ClientInfo.Name, info.ClientInfo.Version
	}
	if s, ok := server.ClientSessionFromContext(ctx).(server.SessionWithClientInfo); ok {
		ci := s.GetClientInfo()
		return ci.Name, ci.Version
	}
	return "", ""
}

// sessionID identifies the MCP session a token is bound to ("" where the transport has none).
func sessionID(ctx context.Context) string {
	if s := server.ClientSessionFromContext(ctx); s != nil {
		return s.SessionID()
	}
	return ""
}
