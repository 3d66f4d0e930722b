package server

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"github.com/mark3labs/mcp-go/mcp"
	mcpserver "github.com/mark3labs/mcp-go/server"

	"github.com/tallyfy-mcp/tallyfy-mcp/logsafe"
	"github.com/tallyfy-mcp/tallyfy-mcp/server/approvalpage"
	"github.com/tallyfy-mcp/tallyfy-mcp/server/auth"
	"github.com/tallyfy-mcp/tallyfy-mcp/tallyfy"
	"github.com/tallyfy-mcp/tallyfy-mcp/tools"
)

// HTTPServer is the streamable HTTP (/mcp) and legacy SSE (/sse, /message) endpoints on one
// mux, behind host and origin allowlists, caller authentication and a body limit.
type HTTPServer struct {
	app        *App
	Handler    http.Handler
	streamable *mcpserver.StreamableHTTPServer
	sse        *mcpserver.SSEServer
	sessions   atomic.Int64
	cancels    cancelScope   // 2026-07-28 calls by caller and id
	owners     sessionOwners // streamable-HTTP sessions by the caller that opened them
	inflight   atomic.Int64  // tool calls running
	sseUnsent  sseUnsent     // SSE tool calls whose answer is not yet on the stream
	auth       *auth.Authenticator
	hosts      []string
	connMu     sync.Mutex
	fresh      map[net.Conn]struct{} // connections that have not sent a request yet
	anyHost    bool

	known     knownSessions // registered session IDs: a GET stream needs one
	handshook knownSessions // sessions whose initialize succeeded: an SSE tools/call needs one
}

// CheckHTTPConfig refuses unsafe deployments: off loopback a caller token is required, and TLS
// unless --insecure-http says a proxy in front terminates it.
func CheckHTTPConfig(cfg *Config, authToken string) error {
	host, _, err := net.SplitHostPort(cfg.Addr)
	if err != nil {
		return fmt.Errorf("--addr %q is not host:port: %v", cfg.Addr, err)
	}
	if (cfg.TLSCert == "") != (cfg.TLSKey == "") {
		return errors.New("--tls-cert and --tls-key go together")
	}
	if tallyfy.IsLoopbackHost(host) {
		return nil
	}
	if authToken == "" && cfg.Callers == "" && cfg.OAuthIssuer == "" {
		return fmt.Errorf("--addr %s is not a loopback address: set --auth-token (or MCP_AUTH_TOKEN / --auth-token-file) so that only your agents can call this server", cfg.Addr)
	}
	if cfg.TLSCert == "" && !cfg.InsecureHTTP {
		return fmt.Errorf("--addr %s is not a loopback address: set --tls-cert and --tls-key, or --insecure-http if a reverse proxy in front terminates TLS", cfg.Addr)
	}
	return nil
}

// NewHTTPServer builds the HTTP handler for app.
func NewHTTPServer(app *App, authToken string) *HTTPServer {
	cfg := app.Config
	h := &HTTPServer{app: app, auth: app.authenticator(authToken)}
	host, _, _ := net.SplitHostPort(cfg.Addr)
	h.hosts = append([]string{"localhost", "127.0.0.1", "::1"}, cfg.AllowedHosts...)
	if ip := net.ParseIP(host); host != "" && (ip == nil || !ip.IsUnspecified()) {
		h.hosts = append(h.hosts, host)
	}
	// Bound to every interface with no --allowed-hosts: the caller token (required there) is
	// the guard, since the machine's own names cannot be known here.
	h.anyHost = !tallyfy.IsLoopbackHost(host) && len(cfg.AllowedHosts) == 0
	for i, v := range h.hosts {
		h.hosts[i] = strings.ToLower(strings.Trim(v, "[]"))
	}

	hooks := app.MCP.GetHooks()
	hooks.AddOnRegisterSession(func(ctx context.Context, _ mcpserver.ClientSession) {
		if res, ok := ctx.Value(slotKey{}).(*slot); ok && res.used.CompareAndSwap(false, true) {
			return // counted when capSessions reserved it
		}
		h.sessions.Add(1)
	})
	hooks.AddOnUnregisterSession(func(context.Context, mcpserver.ClientSession) { h.sessions.Add(-1) })
	hooks.AddOnRegisterSession(h.known.add)
	hooks.AddOnUnregisterSession(h.known.remove)
	hooks.AddAfterInitialize(h.handshook.afterInitialize)
	hooks.AddOnUnregisterSession(h.handshook.remove)
	hooks.AddOnRegisterSession(h.owners.registered)
	hooks.AddOnUnregisterSession(h.owners.unregistered)
	hooks.AddBeforeCallTool(h.sseUnsent.called)
	app.MCP.Use(h.trackInflight, newRateLimiter(cfg.RateLimit, cfg.GlobalRateLimit, app.Toolset.RecordRefusedCall).middleware)

	h.streamable = mcpserver.NewStreamableHTTPServer(app.MCP, append(h.sessionOptions(),
		mcpserver.WithSessionIdleTTL(cfg.SessionIdleTTL),
		mcpserver.WithDisableLocalhostProtection(true), // our own allowlists below are stricter and configurable
		// limitBody has read the body within --max-body-bytes; mcp-go's own bound (4 MiB by
		// default) must not be smaller.
		mcpserver.WithMaxRequestBodyBytes(cfg.MaxBodyBytes),
		mcpserver.WithHTTPContextFunc(func(ctx context.Context, r *http.Request) context.Context {
			ctx = context.WithValue(ctx, remoteKey{}, remoteHost(r))
			ctx = approvalpage.WithOrigin(ctx, r, cfg.InsecureHTTP)
			// An older client's answer must reach this replica (see canAsk); 2026-07-28 clients
			// get the question in the result, which any replica can take back.
			return tools.WithTransport(ctx, "streamable-http", h.canAsk())
		}),
		mcpserver.WithStreamableHTTPLogger(app.Logger),
	)...)
	h.sse = mcpserver.NewSSEServer(app.MCP,
		mcpserver.WithKeepAlive(true),
		mcpserver.WithSSEDisableLocalhostProtection(true),
		mcpserver.WithSSEMaxRequestBodyBytes(cfg.MaxBodyBytes),
		mcpserver.WithSessionIDGenerator(h.sseUnsent.sessionID),
		mcpserver.WithSSEContextFunc(func(ctx context.Context, r *http.Request) context.Context {
			ctx = context.WithValue(ctx, sseKey{}, true)
			return tools.WithTransport(ctx, "sse", false) // SSE sessions cannot carry a question to the client
		}),
	)

	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", h.health)
	// The approval page has its own login (server/approvalpage): no bearer, the browser has none.
	mux.Handle("/approve/", h.bodyDeadline(app.approvals.Handler(h.hostAllowed)))
	if app.OAuth != nil {
		for p, doc := range app.OAuth.Metadata() {
			mux.Handle(p, doc) // public, as RFC 9728 requires
		}
	}
	mux.Handle("/mcp", h.bodyDeadline(h.guard(h.limitBody(h.bindSessions(h.checkRPC(h.scopeCancels(h.capSessions(h.streamable, func(r *http.Request) bool {
		// 2026-07-28 requests are stateless (they must name that version in this header):
		// they never open a session, so the cap does not apply to them.
		return r.Method == http.MethodPost && r.Header.Get("Mcp-Session-Id") == "" &&
			!mcp.IsModernProtocol(r.Header.Get(mcp.HeaderProtocolVersion))
	}))))))))
	mux.Handle("/sse", h.bodyDeadline(h.guard(h.bindSessions(h.capSessions(h.sseUnsent.watch(h.sse.SSEHandler()), func(r *http.Request) bool { return r.Method == http.MethodGet })))))
	mux.Handle("/message", h.bodyDeadline(h.guard(h.limitBody(h.bindSessions(h.checkRPC(h.sse.MessageHandler()))))))
	h.Handler = mux
	return h
}

func (h *HTTPServer) health(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(healthReport(r.Context(), h.app))
}

// jsonRPCError answers with an HTTP status and a JSON-RPC error body.
func jsonRPCError(w http.ResponseWriter, status, code int, msg string) {
	if status == http.StatusUnauthorized || status == http.StatusForbidden {
		w.Header().Set("Connection", "close") // a refused caller keeps no connection open
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{"jsonrpc": "2.0", "id": nil, "error": map[string]any{"code": code, "message": msg}})
}

// guard applies, in order: Host allowlist, Origin allowlist (DNS-rebinding protection), then
// the caller's bearer token.
func (h *HTTPServer) guard(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !h.hostAllowed(r.Host) {
			jsonRPCError(w, http.StatusForbidden, -32600, fmt.Sprintf("Forbidden: Host %q is not allowed (add it with --allowed-hosts)", clipHeader(r.Host)))
			return
		}
		if o := r.Header.Get("Origin"); o != "" && !h.originAllowed(o) {
			jsonRPCError(w, http.StatusForbidden, -32600, fmt.Sprintf("Forbidden: Origin %q is not allowed (add it with --allowed-origins)", clipHeader(o)))
			return
		}
		caller, refused := h.auth.Identify(r)
		if refused != nil {
			w.Header().Set("WWW-Authenticate", refused.Challenge)
			jsonRPCError(w, refused.Status, -32001, refused.Msg)
			return
		}
		if caller != nil { // the caller reaches the tool filter and the handlers through the context
			r = r.WithContext(tools.WithCaller(r.Context(), *caller))
		}
		next.ServeHTTP(w, r)
	})
}

func clipHeader(s string) string { return logsafe.ClipHeader(s) }

func (h *HTTPServer) hostAllowed(hostport string) bool {
	if h.anyHost {
		return true
	}
	host := hostport
	if hh, _, err := net.SplitHostPort(hostport); err == nil {
		host = hh
	}
	return slices.Contains(h.hosts, strings.ToLower(strings.Trim(host, "[]")))
}

// originAllowed accepts loopback origins (local tools such as the MCP Inspector) and those
// listed in --allowed-origins ("*" allows any).
func (h *HTTPServer) originAllowed(origin string) bool {
	for _, o := range h.app.Config.AllowedOrigins {
		if o == "*" || strings.EqualFold(strings.TrimRight(o, "/"), origin) {
			return true
		}
	}
	u, err := url.Parse(origin)
	return err == nil && (u.Scheme == "http" || u.Scheme == "https") && tallyfy.IsLoopbackHost(u.Hostname())
}

// capSessions refuses a request that would open a new session once --max-sessions are open.
func (h *HTTPServer) capSessions(next http.Handler, opens func(*http.Request) bool) http.Handler {
	limit := int64(h.app.Config.MaxSessions)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if limit <= 0 || !opens(r) {
			next.ServeHTTP(w, r)
			return
		}
		// Reserve the slot before the session exists (checking the count alone lets a burst of
		// concurrent initializes through); the registration hook takes it over, and it is
		// given back if no session comes of the request.
		if h.sessions.Add(1) > limit {
			h.sessions.Add(-1)
			w.Header().Set("Retry-After", "5")
			jsonRPCError(w, http.StatusServiceUnavailable, -32000, fmt.Sprintf("too many open sessions (%d, --max-sessions); retry later", limit))
			return
		}
		res := &slot{}
		defer func() {
			if res.used.CompareAndSwap(false, true) {
				h.sessions.Add(-1)
			}
		}()
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), slotKey{}, res)))
	})
}

func (h *HTTPServer) trackInflight(next mcpserver.ToolHandlerFunc) mcpserver.ToolHandlerFunc {
	return func(ctx context.Context, req mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		h.inflight.Add(1)
		defer h.inflight.Add(-1)
		return next(ctx, req)
	}
}

// runHTTP serves until ctx ends, then shuts down gracefully: stop accepting, let in-flight
// tool calls finish (bounded by --shutdown-timeout), close the streams, return.
func (a *App) runHTTP(ctx context.Context) error {
	authToken, err := readSecret(a.Config.AuthToken, a.Config.AuthTokenFile, "auth token")
	if err != nil {
		return err
	}
	if err := CheckHTTPConfig(a.Config, authToken); err != nil {
		return err
	}
	if err := a.authenticator(authToken).CheckIdentities(); err != nil {
		return err
	}
	h := NewHTTPServer(a, authToken)
	defer a.Callers.ReloadOnSIGHUP(ctx, a.Logger)()
	srv := &http.Server{Addr: a.Config.Addr, Handler: h.Handler, ReadHeaderTimeout: 10 * time.Second, ConnState: h.ConnState,
		IdleTimeout: 120 * time.Second, MaxHeaderBytes: 64 << 10, ErrorLog: nil}
	ln, err := net.Listen("tcp", a.Config.Addr)
	if err != nil {
		return err
	}
	ln = limitConns(ln, a.Config.MaxConns, a.Config.MaxConnsPerIP, a.Logger)
	select {
	case a.listening <- ln.Addr().String():
	default:
	}
	a.Logger.Info("serving MCP over HTTP", "streamable", "http://"+ln.Addr().String()+"/mcp", "sse", "http://"+ln.Addr().String()+"/sse",
		"tls", a.Config.TLSCert != "", "auth", authToken != "" || a.Callers != nil || a.OAuth != nil, "version", a.Config.Version)
	errc := make(chan error, 1)
	go func() {
		if a.Config.TLSCert != "" {
			errc <- srv.ServeTLS(ln, a.Config.TLSCert, a.Config.TLSKey)
		} else {
			errc <- srv.Serve(ln)
		}
	}()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	return h.Shutdown(srv, a.Config.ShutdownTimeout)
}

// Shutdown stops srv gracefully within timeout.
func (h *HTTPServer) Shutdown(srv *http.Server, timeout time.Duration) error {
	sctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	h.app.Logger.Info("shutting down: finishing in-flight tool calls", "timeout", timeout)
	// The listener is about to close, so a person's answer to an open delete question could
	// not arrive: give those up now (nothing deleted, audited) instead of waiting them out.
	h.app.Toolset.BeginShutdown()
	done := make(chan error, 1)
	go func() { done <- srv.Shutdown(sctx) }() // closes the listener at once
	// Wait for running calls and, for SSE, for their answers to reach the stream: SSE answers
	// are written after the handler returns, and closing the streams first would lose them.
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
drain:
	for h.inflight.Load() > 0 || h.sseUnsent.pending() {
		select {
		case <-tick.C:
		case <-sctx.Done():
			h.app.Logger.Warn("shutdown timeout: some tool calls did not finish")
			break drain
		}
	}
	h.sse.CloseSessions()
	_ = h.streamable.Shutdown(sctx)
	h.closeFresh()
	err := <-done
	if errors.Is(err, context.DeadlineExceeded) {
		_ = srv.Close()
		return nil
	}
	return err
}

type sseKey struct{}

// remoteKey carries the caller's address: requests without a session (2026-07-28) are rate
// limited per address rather than all in one bucket.
type remoteKey struct{}

func remoteHost(r *http.Request) string {
	if host, _, err := net.SplitHostPort(r.RemoteAddr); err == nil {
		return host
	}
	return r.RemoteAddr
}

// slot is a session-count reservation made by capSessions for one request.
type slot struct{ used atomic.Bool }

type slotKey struct{}

// sseUnsent tracks tool calls received over SSE until their answer is written on the session's
// stream (matched by JSON-RPC id).
type sseUnsent struct {
	mu   sync.Mutex
	m    map[string]map[string]int // session ID -> JSON id -> calls
	live map[string]bool           // sessions whose stream is open
}

// called is a BeforeCallTool hook.
func (u *sseUnsent) called(ctx context.Context, id any, _ *mcp.CallToolRequest) {
	if ctx.Value(sseKey{}) == nil {
		return
	}
	s := mcpserver.ClientSessionFromContext(ctx)
	b, err := json.Marshal(id)
	if s == nil || err != nil {
		return
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	if !u.live[s.SessionID()] { // its stream is gone: the answer has nowhere to go
		return
	}
	if u.m == nil {
		u.m = map[string]map[string]int{}
	}
	if u.m[s.SessionID()] == nil {
		u.m[s.SessionID()] = map[string]int{}
	}
	u.m[s.SessionID()][string(b)]++
}

func (u *sseUnsent) pending() bool {
	u.mu.Lock()
	defer u.mu.Unlock()
	return len(u.m) > 0
}

// sent notes an answer written on a session's stream.
func (u *sseUnsent) sent(session string, event []byte) {
	u.mu.Lock()
	defer u.mu.Unlock()
	ids := u.m[session]
	if ids == nil {
		return
	}
	_, data, ok := bytes.Cut(event, []byte("data:"))
	if !ok {
		return
	}
	data, _, _ = bytes.Cut(data, []byte("\n"))
	var msg struct {
		ID     json.RawMessage `json:"id"`
		Method string          `json:"method"`
	}
	if json.Unmarshal(data, &msg) != nil || msg.ID == nil || msg.Method != "" {
		return
	}
	if ids[string(msg.ID)]--; ids[string(msg.ID)] <= 0 {
		delete(ids, string(msg.ID))
	}
	if len(ids) == 0 {
		delete(u.m, session)
	}
}

// watch wraps the SSE stream handler to see what it writes; when a stream ends, its
// undelivered answers are forgotten. The stream learns its session ID from mcp-go's session ID
// generator (sessionID below), which runs on the stream's own request before anything is
// written.
func (u *sseUnsent) watch(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sw := &sseWriter{ResponseWriter: w, u: u}
		defer func() {
			u.mu.Lock()
			delete(u.m, sw.session)
			delete(u.live, sw.session)
			u.mu.Unlock()
		}()
		next.ServeHTTP(sw, r.WithContext(context.WithValue(r.Context(), sseStreamKey{}, sw)))
	})
}

type sseStreamKey struct{}

// sessionID is the SSE server's session ID generator (mcp-go's default: a random UUID): it
// also tells the stream being opened, if watched, which session it carries.
func (u *sseUnsent) sessionID(_ context.Context, r *http.Request) (string, error) {
	id := uuid.NewString()
	if sw, ok := r.Context().Value(sseStreamKey{}).(*sseWriter); ok {
		sw.session = id
		u.mu.Lock()
		if u.live == nil {
			u.live = map[string]bool{}
		}
		u.live[id] = true
		u.mu.Unlock()
	}
	return id, nil
}

type sseWriter struct {
	http.ResponseWriter
	u       *sseUnsent
	session string // set by sseUnsent.sessionID before the stream's first write
}

func (w *sseWriter) Write(p []byte) (int, error) {
	n, err := w.ResponseWriter.Write(p)
	if err == nil {
		n = len(p)
		if w.session != "" {
			w.u.sent(w.session, p)
		}
	}
	return n, err
}

func (w *sseWriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func (w *sseWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// ConnState is the http.Server's ConnState hook. It lets Shutdown close connections that
// never carried a request: http.Server.Shutdown waits up to 5 s for those (clients open spare
// connections), which would hold every shutdown that long.
func (h *HTTPServer) ConnState(c net.Conn, state http.ConnState) {
	h.connMu.Lock()
	defer h.connMu.Unlock()
	if state == http.StateNew {
		if h.fresh == nil {
			h.fresh = map[net.Conn]struct{}{}
		}
		h.fresh[c] = struct{}{}
	} else {
		delete(h.fresh, c)
	}
}

func (h *HTTPServer) closeFresh() {
	h.connMu.Lock()
	defer h.connMu.Unlock()
	for c := range h.fresh {
		_ = c.Close()
	}
}
