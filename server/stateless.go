package server

import mcpserver "github.com/mark3labs/mcp-go/server"

// sessionOptions chooses how streamable HTTP keeps sessions. By default they are kept in this
// process (an unknown session id gets 404). With --stateless there are none: any replica
// answers any request, and the legacy GET stream is off (every stream would share one
// session); older clients then confirm deletes with a confirm_token, and 2026-07-28 clients
// get the question in the tool result, whose sealed state any replica can check.
func sessionOptions(cfg *Config) []mcpserver.StreamableHTTPOption {
	if cfg.Stateless {
		return []mcpserver.StreamableHTTPOption{mcpserver.WithStateLess(true), mcpserver.WithDisableStreaming(true)}
	}
	return []mcpserver.StreamableHTTPOption{mcpserver.WithStateful(true)}
}
