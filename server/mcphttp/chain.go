package mcphttp

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/mark3labs/mcp-go/mcp"
	mcpserver "github.com/mark3labs/mcp-go/server"

	"github.com/tallyfy-mcp/tallyfy-mcp/logsafe"
	"github.com/tallyfy-mcp/tallyfy-mcp/server/auth"
	"github.com/tallyfy-mcp/tallyfy-mcp/server/jsonrpc"
	"github.com/tallyfy-mcp/tallyfy-mcp/tallyfy"
	"github.com/tallyfy-mcp/tallyfy-mcp/tools"
)

// The three steps in front of /mcp and /message (/sse has no body: edge and identify only):
//   - edge: the body deadline, then the Host and Origin allowlists (DNS-rebinding protection);
//   - identify: Options.Identify, once;
//   - envelope: the body read once within --max-body-bytes and parsed once, into the
//     request's context, where the step-up scope check, session ownership, the JSON-RPC and
//     handshake checks, the cancel scope and the session cap read it (serveMCP, serveMessage).
// The size limit is applied where the body is read, after identify: a refused caller's body is
// never read (bodyDeadline).

// edge applies the body deadline, then the Host and Origin allowlists.
func (s *Server) edge(next http.Handler) http.Handler {
	return s.bodyDeadline(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !s.allow.host(r.Host) {
			jsonRPCError(w, http.StatusForbidden, -32600, fmt.Sprintf("Forbidden: Host %q is not allowed (add it with --allowed-hosts)", logsafe.ClipHeader(r.Host)))
			return
		}
		if o := r.Header.Get("Origin"); o != "" && !s.allow.origin(o) {
			jsonRPCError(w, http.StatusForbidden, -32600, fmt.Sprintf("Forbidden: Origin %q is not allowed (add it with --allowed-origins)", logsafe.ClipHeader(o)))
			return
		}
		next.ServeHTTP(w, r)
	}))
}

// HostAllowed reports whether a Host header names this server.
func (s *Server) HostAllowed(hostport string) bool { return s.allow.host(hostport) }

// allowlist is the Host and Origin allowlists (DNS-rebinding protection).
type allowlist struct {
	hosts   []string
	anyHost bool
	origins []string // --allowed-origins ("*": any)
}

func newAllowlist(l Options) allowlist {
	host, _, _ := net.SplitHostPort(l.Addr)
	a := allowlist{hosts: append([]string{"localhost", "127.0.0.1", "::1"}, l.AllowedHosts...), origins: l.AllowedOrigins}
	if ip := net.ParseIP(host); host != "" && (ip == nil || !ip.IsUnspecified()) {
		a.hosts = append(a.hosts, host)
	}
	// Bound to every interface with no --allowed-hosts: the caller token (required there) is
	// the guard, since the machine's own names cannot be known here.
	a.anyHost = !tallyfy.IsLoopbackHost(host) && len(l.AllowedHosts) == 0
	for i, v := range a.hosts {
		a.hosts[i] = strings.ToLower(strings.Trim(v, "[]"))
	}
	return a
}

func (a allowlist) host(hostport string) bool {
	if a.anyHost {
		return true
	}
	host := hostport
	if hh, _, err := net.SplitHostPort(hostport); err == nil {
		host = hh
	}
	return slices.Contains(a.hosts, strings.ToLower(strings.Trim(host, "[]")))
}

// origin accepts loopback origins (local tools such as the MCP Inspector) and those listed in
// --allowed-origins ("*" allows any).
func (a allowlist) origin(origin string) bool {
	for _, o := range a.origins {
		if o == "*" || strings.EqualFold(strings.TrimRight(o, "/"), origin) {
			return true
		}
	}
	u, err := url.Parse(origin)
	return err == nil && (u.Scheme == "http" || u.Scheme == "https") && tallyfy.IsLoopbackHost(u.Hostname())
}

// identity is what identify learnt of the caller, for the steps after it.
type identity struct {
	key    string      // the caller's Key, else AddrKey: session ownership and cancel scoping
	stepUp auth.StepUp // nil: every tool is covered
}

type identityKey struct{}

// identify asks who sent the request (Options.Identify, once); the caller reaches the tool
// filter and the handlers through the context.
func (s *Server) identify(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		caller, stepUp, refused := s.opts.Identify(r)
		if refused != nil && stepUp != nil {
			// Refused, but its credential is good for some tools: a call beyond them is answered
			// with the scope it needs, which says more.
			if tool, ok := s.calledTool(r); ok {
				if more := stepUp(tool); more != nil {
					refused = more
				}
			}
		}
		if refuse(w, refused) {
			return
		}
		id := identity{key: AddrKey(RemoteHost(r)), stepUp: stepUp}
		ctx := r.Context()
		if caller != nil {
			if caller.Key() != "" {
				id.key = caller.Key()
			}
			ctx = tools.WithCaller(ctx, *caller)
		}
		ctx = context.WithValue(ctx, identityKey{}, id)
		next.ServeHTTP(w, r.WithContext(ctx))
	})
}

// calledTool is the tool a tools/call POST names, where the envelope does not read it (a
// refused request, /sse): from its 2026-07-28 headers, else its body, read within the limit
// only for this.
func (s *Server) calledTool(r *http.Request) (string, bool) {
	if r.Method != http.MethodPost {
		return "", false
	}
	if tool, settled := headerTool(r); settled {
		return tool, tool != ""
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, s.opts.MaxBodyBytes+1))
	r.Body = io.NopCloser(io.MultiReader(bytes.NewReader(body), r.Body)) // as it came, for what follows
	e := s.parse(body)
	if err != nil || !e.Strict || e.Method != string(mcp.MethodToolsCall) {
		return "", false
	}
	return e.Tool, true
}

// refuse answers a refusal (nil: none) with its status and WWW-Authenticate challenge.
func refuse(w http.ResponseWriter, refused *auth.Refusal) bool {
	if refused != nil {
		w.Header().Set("WWW-Authenticate", refused.Challenge)
		jsonRPCError(w, refused.Status, -32001, refused.Msg)
	}
	return refused != nil
}

func identityOf(r *http.Request) identity {
	id, _ := r.Context().Value(identityKey{}).(identity)
	return id
}

// envelope is what every check reads of a request to /mcp or /message.
type envelope struct {
	jsonrpc.Envelope
	body    []byte // as read; nil when there was none to read
	session string // the session the request names (header, or ?sessionId= on /message)
}

type envelopeKey struct{}

// envelope reads the body (within --max-body-bytes and the deadline) and parses it once. A
// tools/call of a tool the caller's credential does not cover is refused here (403 with the
// scope to step up to), from the 2026-07-28 headers before the body is read when they name it;
// so is a request naming another caller's session (own).
func (s *Server) envelope(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		stepUp := identityOf(r).stepUp
		tool, settled := "", false
		if stepUp != nil && r.Method == http.MethodPost {
			tool, settled = headerTool(r)
		}
		if settled && tool != "" && refuse(w, stepUp(tool)) {
			return
		}
		body, ok := s.readBody(w, r)
		if !ok {
			return
		}
		e := envelope{body: body, session: r.Header.Get(mcpserver.HeaderKeySessionID)}
		if e.session == "" && r.URL.Path == "/message" {
			e.session = r.URL.Query().Get("sessionId") // legacy SSE: the session is in the query
		}
		if body != nil {
			e.Envelope = s.parse(body)
		}
		if stepUp != nil && !settled && r.Method == http.MethodPost && e.Strict && e.Method == string(mcp.MethodToolsCall) && refuse(w, stepUp(e.Tool)) {
			return
		}
		if r, ok = s.own(w, r.WithContext(context.WithValue(r.Context(), envelopeKey{}, e)), e.session); ok {
			next.ServeHTTP(w, r)
		}
	})
}

// headerTool is what a 2026-07-28 request's headers say of the tool it calls, when they settle
// it: the Mcp-Name of a tools/call, or "" for another method. The headers name the call only on
// that protocol, where mcp-go refuses a request whose headers and body disagree; an older
// request is read from its body, whatever its headers claim.
func headerTool(r *http.Request) (tool string, settled bool) {
	m := r.Header.Get("Mcp-Method")
	if m == "" || !modern(r) {
		return "", false
	}
	if m != string(mcp.MethodToolsCall) {
		return "", true
	}
	if n := r.Header.Get("Mcp-Name"); n != "" {
		return mcp.DecodeHeaderValue(n)
	}
	return "", false
}

func envelopeOf(r *http.Request) envelope {
	e, _ := r.Context().Value(envelopeKey{}).(envelope)
	return e
}

// checkMessage refuses a POSTed message that is not one JSON-RPC message with a usable id, and
// hands mcp-go the message with the client's self-description bounded (jsonrpc package).
func checkMessage(w http.ResponseWriter, r *http.Request, e envelope) bool {
	if refusal := e.Refusal(e.body); refusal != nil {
		writeJSONRPC(w, http.StatusBadRequest, refusal)
		return false
	}
	data := jsonrpc.BoundClientText(e.body)
	r.Body, r.ContentLength = io.NopCloser(bytes.NewReader(data)), int64(len(data))
	return true
}

// serveMCP is /mcp once the envelope is in (and the session the request names is its caller's).
func (s *Server) serveMCP(w http.ResponseWriter, r *http.Request) {
	e := envelopeOf(r)
	switch {
	case r.Method == http.MethodGet || r.Method == http.MethodDelete:
		if !s.sessionKnown(w, r) {
			return
		}
	case r.Method == http.MethodPost && e.body != nil:
		if !checkMessage(w, r, e) {
			return
		}
		if e.Method == string(mcp.MethodInitialize) {
			s.initialize(w, r)
			return
		}
	}
	if r.Method == http.MethodPost && modern(r) {
		s.scopeCancel(w, r, e)
		return
	}
	s.openSession(w, r)
}

// openSession passes a request to mcp-go, counting the session it opens against
// --max-sessions. 2026-07-28 requests are stateless (they must name that version in the
// protocol header): they never open a session, so the cap does not apply to them.
func (s *Server) openSession(w http.ResponseWriter, r *http.Request) {
	opens := r.Method == http.MethodPost && r.Header.Get(mcpserver.HeaderKeySessionID) == "" && !modern(r)
	s.capSessions(w, r, opens, s.streamable)
}

// serveMessage is /message (legacy SSE: the client's messages) once the envelope is in.
func (s *Server) serveMessage(w http.ResponseWriter, r *http.Request) {
	e := envelopeOf(r)
	if r.Method == http.MethodPost && e.body != nil {
		if !checkMessage(w, r, e) {
			return
		}
		if e.IsRequest() && !s.handshaken(e, r.URL.Query().Get("sessionId")) {
			writeJSONRPC(w, http.StatusBadRequest, mcp.NewJSONRPCError(mcp.NewRequestId(e.ID), mcp.INVALID_REQUEST, logsafe.ClipHeader(e.Method)+
				" before initialize: send initialize first on this SSE session", nil))
			return
		}
	}
	s.sse.MessageHandler().ServeHTTP(w, r)
}

// serveSSE is /sse (legacy SSE: the stream of server messages). It has no body to read, but a
// POST naming a tool beyond the caller's scope gets the step-up answer, as on /mcp.
func (s *Server) serveSSE(w http.ResponseWriter, r *http.Request) {
	if stepUp := identityOf(r).stepUp; stepUp != nil {
		if tool, ok := s.calledTool(r); ok && refuse(w, stepUp(tool)) {
			return
		}
	}
	r, ok := s.own(w, r, r.Header.Get(mcpserver.HeaderKeySessionID))
	if !ok {
		return
	}
	s.capSessions(w, r, r.Method == http.MethodGet, s.track.sseUnsent.watch(s.sse.SSEHandler()))
}

// handshaken reports whether an SSE request may run: its session (the one mcp-go serves it on,
// named by ?sessionId=) completed initialize, or it
// is initialize or ping, or it declares protocol 2026-07-28 (as stdio's refusal before
// initialize allows). mcp-go's SSE transport runs a tools/call on a session that never sent
// initialize. Streamable HTTP needs no such check: its sessions exist only once initialize has
// answered.
func (s *Server) handshaken(e envelope, session string) bool {
	if e.Method == string(mcp.MethodInitialize) || e.Method == string(mcp.MethodPing) {
		return true
	}
	if _, ok := s.track.handshook.Load(session); ok {
		return true
	}
	return mcp.IsModernProtocol(e.Protocol)
}
