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
//     through another replica, so those confirm with a token (see canAsk).
//   - otherwise: kept in this process; an id it never issued gets 404.
func (s *Server) sessionOptions() []mcpserver.StreamableHTTPOption {
	switch {
	case s.opts.Limits.Stateless:
		return []mcpserver.StreamableHTTPOption{mcpserver.WithStateLess(true), mcpserver.WithDisableStreaming(true)}
	case s.sharedSessions():
		o := s.opts
		who := func(r *http.Request) string { return identityOf(r).Key }
		return []mcpserver.StreamableHTTPOption{mcpserver.WithSessionIdManagerResolver(sessionid.NewResolver(o.SessionKeys, o.State, o.Logger, who))}
	}
	return []mcpserver.StreamableHTTPOption{mcpserver.WithStateful(true)}
}

// sharedSessions reports whether session ids are signed for every replica.
func (s *Server) sharedSessions() bool {
	st := s.opts.State
	return !s.opts.Limits.Stateless && st != nil && st.Shared() && len(s.opts.SessionKeys) > 0
}

// canAsk reports whether a question (elicitation) can travel to an older client on streamable
// HTTP: only when its answer is sure to come back to this replica.
func (s *Server) canAsk() bool { return !s.opts.Limits.Stateless && !s.sharedSessions() }
