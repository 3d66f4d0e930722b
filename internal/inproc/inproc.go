// Package inproc connects an initialized in-process MCP client to a server: the one way the
// packaging checks, benchmarks and tests outside tools/ talk to the server without a transport.
package inproc

import (
	"context"

	"github.com/mark3labs/mcp-go/client"
	"github.com/mark3labs/mcp-go/mcp"
	"github.com/mark3labs/mcp-go/server"
)

// Connect starts an in-process client of s and initializes it at protocol 2025-11-25 (what
// hosts speak today). The caller closes the client.
func Connect(ctx context.Context, s *server.MCPServer, clientName string) (*client.Client, error) {
	c, err := client.NewInProcessClient(s)
	if err != nil {
		return nil, err
	}
	if err := c.Start(ctx); err != nil {
		_ = c.Close()
		return nil, err
	}
	init := mcp.InitializeRequest{}
	init.Params.ProtocolVersion = mcp.ProtocolVersion20251125
	init.Params.ClientInfo = mcp.Implementation{Name: clientName, Version: "0"}
	if _, err := c.Initialize(ctx, init); err != nil {
		_ = c.Close()
		return nil, err
	}
	return c, nil
}
