package mcphttp

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"

	"github.com/mark3labs/mcp-go/mcp"
	mcpserver "github.com/mark3labs/mcp-go/server"

	"github.com/tallyfy-mcp/tallyfy-mcp/server/mcphttp/sessionid"
)

// Tracker is what the HTTP transport learns from the MCP server's hooks: sessions open
// (against --max-sessions), known and handshaken, who opened each, the tool calls running and
// the SSE answers not yet on their stream. Its hooks are registered when the MCP server for
// HTTP is built (Register), never added to a running one.
type Tracker struct {
	sessions  atomic.Int64
	known     sync.Map      // registered session IDs: a GET stream needs one
	handshook sync.Map      // sessions whose initialize succeeded: an SSE tools/call needs one
	owners    sessionOwners // sessions by the caller that opened them
	inflight  atomic.Int64  // tool calls running
	sseUnsent sseUnsent     // SSE tool calls whose answer is not yet on the stream
}

// Register adds t's hooks to those of the MCP server being built and returns its tool
// middleware (it counts the calls running, for a graceful shutdown).
func (t *Tracker) Register(hooks *mcpserver.Hooks) []mcpserver.ToolHandlerMiddleware {
	hooks.AddOnRegisterSession(t.registered)
	hooks.AddOnUnregisterSession(t.unregistered)
	hooks.AddAfterInitialize(t.initialized)
	hooks.AddBeforeCallTool(t.sseUnsent.called)
	return []mcpserver.ToolHandlerMiddleware{t.trackInflight}
}

// registered counts a new session against --max-sessions (unless capSessions reserved its
// slot already), and notes it and the caller who opened it.
func (t *Tracker) registered(ctx context.Context, cs mcpserver.ClientSession) {
	if res, ok := ctx.Value(slotKey{}).(*atomic.Bool); !ok || !res.CompareAndSwap(false, true) {
		t.sessions.Add(1)
	}
	t.known.Store(cs.SessionID(), struct{}{})
	t.owners.registered(ctx, cs)
}

func (t *Tracker) unregistered(_ context.Context, cs mcpserver.ClientSession) {
	t.sessions.Add(-1)
	t.known.Delete(cs.SessionID())
	t.handshook.Delete(cs.SessionID())
	t.owners.unregistered(cs)
}

// initialized is an AfterInitialize hook (it runs only when initialize succeeded).
func (t *Tracker) initialized(ctx context.Context, _ any, _ *mcp.InitializeRequest, _ *mcp.InitializeResult) {
	if s := mcpserver.ClientSessionFromContext(ctx); s != nil && s.SessionID() != "" {
		t.handshook.Store(s.SessionID(), struct{}{})
	}
}

func (t *Tracker) trackInflight(next mcpserver.ToolHandlerFunc) mcpserver.ToolHandlerFunc {
	return func(ctx context.Context, req mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		t.inflight.Add(1)
		defer t.inflight.Add(-1)
		return next(ctx, req)
	}
}

// sessionKnown lets a GET (the stream of server messages) or DELETE on /mcp through only with
// the Mcp-Session-Id of a session initialize opened: mcp-go would register a new session for a
// GET without one, or with an ID it never issued, outside --max-sessions. A request that
// declares protocol 2026-07-28, which has no sessions, goes on to mcp-go's 405.
func (s *Server) sessionKnown(w http.ResponseWriter, r *http.Request) bool {
	if modern(r) {
		return true
	}
	id := r.Header.Get(mcpserver.HeaderKeySessionID)
	if id == "" {
		jsonRPCError(w, http.StatusBadRequest, -32600, fmt.Sprintf("%s /mcp needs the Mcp-Session-Id header that initialize returned", r.Method))
		return false
	}
	if s.shared {
		// Ids are signed for every replica (sessions.go): one opened through another replica is
		// good here although this process never registered it; mcp-go's signed-id manager checks
		// the signature, the caller and the expiry, and answers 404 to anything else.
		return true
	}
	if _, ok := s.track.known.Load(id); !ok {
		jsonRPCError(w, http.StatusNotFound, -32600, "unknown or expired session: send initialize again")
		return false
	}
	return true
}

// initialize passes an initialize on and, if it failed, ends the session mcp-go registered
// for it anyway (mcp-go registers after any answer, error or not), which gives its
// --max-sessions slot back at once instead of after --session-idle-ttl.
func (s *Server) initialize(w http.ResponseWriter, r *http.Request) {
	tw := &teeWriter{passWriter: passWriter{w}}
	s.openSession(tw, r)
	id := w.Header().Get(mcpserver.HeaderKeySessionID)
	var answer struct {
		Error json.RawMessage `json:"error"`
	}
	failed := tw.status >= 300 || json.Unmarshal(tw.head.Bytes(), &answer) == nil && answer.Error != nil
	if id == "" || !failed {
		return
	}
	del, err := http.NewRequestWithContext(context.WithoutCancel(r.Context()), http.MethodDelete, "/mcp", nil)
	if err != nil {
		return
	}
	del.Header.Set(mcpserver.HeaderKeySessionID, id)
	s.streamable.ServeHTTP(&discardWriter{header: http.Header{}}, del)
}

// teeWriter keeps the status and the first 64 KB of a response.
type teeWriter struct {
	passWriter
	status int
	head   bytes.Buffer
}

func (t *teeWriter) WriteHeader(code int) {
	if t.status == 0 {
		t.status = code
	}
	t.ResponseWriter.WriteHeader(code)
}

func (t *teeWriter) Write(p []byte) (int, error) {
	if t.status == 0 {
		t.status = http.StatusOK
	}
	if room := 64<<10 - t.head.Len(); room > 0 {
		t.head.Write(p[:min(len(p), room)])
	}
	return t.ResponseWriter.Write(p)
}

// passWriter wraps a ResponseWriter and keeps its Flush (SSE and streamed answers) and Unwrap.
type passWriter struct{ http.ResponseWriter }

func (w passWriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func (w passWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

type discardWriter struct{ header http.Header }

func (d *discardWriter) Header() http.Header         { return d.header }
func (d *discardWriter) WriteHeader(int)             {}
func (d *discardWriter) Write(p []byte) (int, error) { return len(p), nil }

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
	case s.opts.Stateless:
		return []mcpserver.StreamableHTTPOption{mcpserver.WithStateLess(true), mcpserver.WithDisableStreaming(true)}
	case s.shared:
		o := s.opts
		who := func(r *http.Request) string { return identityOf(r).key }
		return []mcpserver.StreamableHTTPOption{mcpserver.WithSessionIdManagerResolver(sessionid.NewResolver(o.SessionKeys, o.State, o.Logger, who))}
	}
	return []mcpserver.StreamableHTTPOption{mcpserver.WithStateful(true)}
}

// sessionOwners binds each streamable-HTTP or SSE session (older protocols) to the caller that
// opened it: mcp-go checks only that a session id exists, so a caller who learned another's
// id could otherwise use that session, its client capabilities and its questions to the person.
// Ids never issued already get 404 from mcp-go's stateful manager; ids of another caller get
// the same 404 here.
type sessionOwners struct {
	mu     sync.Mutex
	owners map[string]string // session id -> identity.key
}

type ownerKey struct{}

func (s *sessionOwners) registered(ctx context.Context, cs mcpserver.ClientSession) {
	owner, ok := ctx.Value(ownerKey{}).(string)
	if !ok || cs.SessionID() == "" {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.owners == nil {
		s.owners = map[string]string{}
	}
	s.owners[cs.SessionID()] = owner
}

func (s *sessionOwners) unregistered(cs mcpserver.ClientSession) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.owners, cs.SessionID())
}

func (s *sessionOwners) ownedByOther(id, who string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	owner, known := s.owners[id]
	return known && owner != who
}

// own marks the request with its caller, for the registration hook, and answers 404 to a
// session id that another caller opened.
func (s *Server) own(w http.ResponseWriter, r *http.Request, session string) (*http.Request, bool) {
	who := identityOf(r).key
	if session != "" && s.track.owners.ownedByOther(session, who) {
		http.Error(w, "Invalid session ID", http.StatusNotFound) // as mcp-go answers an unknown one
		return r, false
	}
	return r.WithContext(context.WithValue(r.Context(), ownerKey{}, who)), true
}
