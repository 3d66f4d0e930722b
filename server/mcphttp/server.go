// Package mcphttp serves an MCP server over streamable HTTP (/mcp) and the legacy SSE
// transport (/sse, /message) on one mux, with what mcp-go v1.6.0 leaves to its user: Host and
// Origin allowlists, a body deadline and size limit, caller identification (a function the
// server passes in), session caps, ownership and signing for replicas, per-caller cancel
// scoping, and a graceful shutdown that lets running calls finish. Every request to /mcp and
// /message goes through the same three steps: the edge (deadline, Host, Origin), identify,
// then the envelope, which reads and parses the body once for every check after it.
package mcphttp

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/mark3labs/mcp-go/mcp"
	mcpserver "github.com/mark3labs/mcp-go/server"

	"github.com/tallyfy-mcp/tallyfy-mcp/server/auth"
	"github.com/tallyfy-mcp/tallyfy-mcp/server/jsonrpc"
	"github.com/tallyfy-mcp/tallyfy-mcp/state"
	"github.com/tallyfy-mcp/tallyfy-mcp/tools"
)

// Transport names, as tools.WithTransport records them.
const (
	Streamable = "streamable-http"
	SSE        = "sse"
)

// Options is what the server passes in: the MCP server (built with Tracker's hooks), how to
// identify a caller, what to add to a call's context, the shared state and the limits.
type Options struct {
	MCP     *mcpserver.MCPServer
	Tracker *Tracker // registered on MCP when it was built (Tracker.Register)
	// Identify says who sent a request, or why it is refused, and gives the step-up scope
	// check of an OAuth token (auth.Authenticator.Identify); called once per request.
	Identify func(*http.Request) (*tools.Caller, auth.StepUp, *auth.Refusal)
	// CallContext adds the server's own values to the context of a call on streamable HTTP.
	CallContext func(ctx context.Context, r *http.Request) context.Context
	// BeginShutdown gives up the questions still open to a person when shutdown starts.
	BeginShutdown func()
	State         state.Store // nil: none; a shared one ("redis") signs session ids for every replica
	SessionKeys   [][]byte    // the keys that sign shared session ids (--confirm-key-file)
	Logger        *slog.Logger
	Version       string
	// Pages are mounted behind the body deadline only (the approval page, which checks its own
	// Host and has its own login); Public as they are (OAuth metadata).
	Pages, Public map[string]http.Handler

	// The flags that bound HTTP callers.
	Addr            string   // --addr: its host is allowed as a Host
	AllowedHosts    []string // --allowed-hosts
	AllowedOrigins  []string // --allowed-origins ("*": any)
	MaxBodyBytes    int64
	BodyReadTimeout time.Duration
	MaxSessions     int
	SessionIdleTTL  time.Duration
	Stateless       bool
}

// AddrKey names an anonymous caller (an open loopback server, where no caller authenticates)
// by their address, for session ownership, cancel scoping and rate limits.
func AddrKey(host string) string { return "addr:" + host }

// Server is the HTTP handler of one MCP server.
type Server struct {
	opts       Options
	Handler    http.Handler
	streamable *mcpserver.StreamableHTTPServer
	sse        *mcpserver.SSEServer
	track      *Tracker
	cancels    cancelScope
	allow      allowlist
	shared     bool // session ids signed for every replica (sessions.go)
	health     *health
	fresh      freshConns
	parse      func([]byte) jsonrpc.Envelope // jsonrpc.Parse; a test counts the parses
}

// New builds the handler.
func New(o Options) *Server {
	s := &Server{opts: o, track: o.Tracker, parse: jsonrpc.Parse, allow: newAllowlist(o),
		health: &health{store: o.State, logger: o.Logger, version: o.Version}}
	s.shared = !o.Stateless && o.State != nil && o.State.Shared() && len(o.SessionKeys) > 0
	// An older client's answer must reach this replica; 2026-07-28 clients get the question in
	// the result, which any replica can take back.
	canAsk := !o.Stateless && !s.shared
	s.streamable = mcpserver.NewStreamableHTTPServer(o.MCP, append(s.sessionOptions(),
		mcpserver.WithSessionIdleTTL(o.SessionIdleTTL),
		mcpserver.WithDisableLocalhostProtection(true), // our own allowlists are stricter and configurable
		// The envelope has read the body within --max-body-bytes; mcp-go's own bound (4 MiB by
		// default) must not be smaller.
		mcpserver.WithMaxRequestBodyBytes(o.MaxBodyBytes),
		mcpserver.WithHTTPContextFunc(func(ctx context.Context, r *http.Request) context.Context {
			return tools.WithTransport(o.CallContext(ctx, r), Streamable, canAsk)
		}),
		mcpserver.WithStreamableHTTPLogger(o.Logger),
	)...)
	s.sse = mcpserver.NewSSEServer(o.MCP,
		mcpserver.WithKeepAlive(true),
		mcpserver.WithSSEDisableLocalhostProtection(true),
		mcpserver.WithSSEMaxRequestBodyBytes(o.MaxBodyBytes),
		mcpserver.WithSessionIDGenerator(s.track.sseUnsent.sessionID),
		mcpserver.WithSSEContextFunc(func(ctx context.Context, r *http.Request) context.Context {
			ctx = context.WithValue(ctx, sseKey{}, true)
			return tools.WithTransport(ctx, SSE, false) // SSE sessions cannot carry a question to the client
		}),
	)

	mux := http.NewServeMux()
	mux.Handle("GET /healthz", s.health)
	for p, h := range o.Pages {
		mux.Handle(p, s.bodyDeadline(h))
	}
	for p, h := range o.Public {
		mux.Handle(p, h)
	}
	mcpRoute, sseRoute, messageRoute := http.HandlerFunc(s.serveMCP), http.HandlerFunc(s.serveSSE), http.HandlerFunc(s.serveMessage)
	mux.Handle("/mcp", s.edge(s.identify(s.envelope(mcpRoute))))
	mux.Handle("/sse", s.edge(s.identify(sseRoute)))
	mux.Handle("/message", s.edge(s.identify(s.envelope(messageRoute))))
	s.Handler = mux
	return s
}

// Streamable is mcp-go's streamable-HTTP handler alone, none of this package's checks (tests
// mount it to reach a session from a second address).
func (s *Server) Streamable() http.Handler { return s.streamable }

// OpenSessions is the number of sessions open or reserved against --max-sessions.
func (s *Server) OpenSessions() int64 { return s.track.sessions.Load() }

// CloseStreams ends every SSE session and the streamable-HTTP sessions.
func (s *Server) CloseStreams(ctx context.Context) {
	s.sse.CloseSessions()
	_ = s.streamable.Shutdown(ctx)
}

// Shutdown stops srv gracefully within timeout: stop accepting, let in-flight tool calls
// finish, close the streams.
func (s *Server) Shutdown(srv *http.Server, timeout time.Duration) error {
	sctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	s.opts.Logger.Info("shutting down: finishing in-flight tool calls", "timeout", timeout)
	// The listener is about to close, so a person's answer to an open delete question could
	// not arrive: give those up now (nothing deleted, audited) instead of waiting them out.
	s.opts.BeginShutdown()
	done := make(chan error, 1)
	go func() { done <- srv.Shutdown(sctx) }() // closes the listener at once
	// Wait for running calls and, for SSE, for their answers to reach the stream: SSE answers
	// are written after the handler returns, and closing the streams first would lose them.
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
drain:
	for s.track.inflight.Load() > 0 || s.track.sseUnsent.pending() {
		select {
		case <-tick.C:
		case <-sctx.Done():
			s.opts.Logger.Warn("shutdown timeout: some tool calls did not finish")
			break drain
		}
	}
	s.CloseStreams(sctx)
	s.fresh.close()
	err := <-done
	if errors.Is(err, context.DeadlineExceeded) {
		_ = srv.Close()
		return nil
	}
	return err
}

// ConnState is the http.Server's ConnState hook. It lets Shutdown close connections that
// never carried a request: http.Server.Shutdown waits up to 5 s for those (clients open spare
// connections), which would hold every shutdown that long.
func (s *Server) ConnState(c net.Conn, state http.ConnState) { s.fresh.track(c, state) }

// freshConns are the connections that have not sent a request yet.
type freshConns struct {
	mu sync.Mutex
	m  map[net.Conn]struct{}
}

func (f *freshConns) track(c net.Conn, state http.ConnState) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if state == http.StateNew {
		if f.m == nil {
			f.m = map[net.Conn]struct{}{}
		}
		f.m[c] = struct{}{}
	} else {
		delete(f.m, c)
	}
}

func (f *freshConns) close() {
	f.mu.Lock()
	defer f.mu.Unlock()
	for c := range f.m {
		_ = c.Close()
	}
}

type sseKey struct{}

// RemoteHost is the address a request came from, without its port.
func RemoteHost(r *http.Request) string { return hostOf(r.RemoteAddr) }

// hostOf is addr without its port.
func hostOf(addr string) string {
	if host, _, err := net.SplitHostPort(addr); err == nil {
		return host
	}
	return addr
}

// modern reports whether r declares protocol 2026-07-28 in its header.
func modern(r *http.Request) bool {
	return mcp.IsModernProtocol(r.Header.Get(mcp.HeaderProtocolVersion))
}
