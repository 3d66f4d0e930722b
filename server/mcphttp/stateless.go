package mcphttp

import (
	"net/http"

	mcpserver "github.com/mark3labs/mcp-go/server"

	"github.com/tallyfy-mcp/tallyfy-mcp/server/mcphttp/sessionid"
)

// sessionOptions chooses how streamable HTTP keeps sessions (older protocols; 2026-07-28
// requests have none):
//   - --stateless: none at all, so any replica answers any request; the legacy GET stream is
//     off (every stream would share one session), and older clients confirm deletes with a
//     confirm_token; 2026-07-28 clients get the question in the tool result, whose sealed state
//     any replica can check.
//   - --state shared, not stateless: ids signed with the shared key, bound to the caller, with
//     an expiry, so any replica accepts them; a question to an older client could be answered
//     through another replica, so those confirm with a token (canAsk in New).
//   - otherwise: kept in this process; an id it never issued gets 404.
func (s *Server) sessionOptions() []mcpserver.StreamableHTTPOption {
	switch {
	case s.opts.Limits.Stateless:
		return []mcpserver.StreamableHTTPOption{mcpserver.WithStateLess(true), mcpserver.WithDisableStreaming(true)}
	case s.shared:
		o := s.opts
		who := func(r *http.Request) string { return identityOf(r).key }
		return []mcpserver.StreamableHTTPOption{mcpserver.WithSessionIdManagerResolver(sessionid.NewResolver(o.SessionKeys, o.State, o.Logger, who))}
	}
	return []mcpserver.StreamableHTTPOption{mcpserver.WithStateful(true)}
}
