package server

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
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

	"github.com/mark3labs/mcp-go/mcp"
	mcpserver "github.com/mark3labs/mcp-go/server"

	"github.com/tallyfy-mcp/tallyfy-mcp/tallyfy"
	"github.com/tallyfy-mcp/tallyfy-mcp/tools"
)

func init() { serveHTTPImpl = (*App).runHTTP }

// HTTPServer is the streamable HTTP (/mcp) and legacy SSE (/sse, /message) endpoints on one
// mux, behind host and origin allowlists, caller authentication and a body limit.
type HTTPServer struct {
	app        *App
	Handler    http.Handler
	streamable *mcpserver.StreamableHTTPServer
	sse        *mcpserver.SSEServer
	sessions   atomic.Int64
	inflight   sync.WaitGroup
	authHash   [32]byte
	hasAuth    bool
	hosts      []string
	anyHost    bool
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
	if authToken == "" {
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
	h := &HTTPServer{app: app}
	if authToken != "" {
		h.hasAuth, h.authHash = true, sha256.Sum256([]byte(authToken))
	}
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
	hooks.AddOnRegisterSession(func(context.Context, mcpserver.ClientSession) { h.sessions.Add(1) })
	hooks.AddOnUnregisterSession(func(context.Context, mcpserver.ClientSession) { h.sessions.Add(-1) })
	app.MCP.Use(h.trackInflight, newRateLimiter(cfg.RateLimit, cfg.GlobalRateLimit).middleware)

	h.streamable = mcpserver.NewStreamableHTTPServer(app.MCP,
		mcpserver.WithStateful(true),
		mcpserver.WithSessionIdleTTL(cfg.SessionIdleTTL),
		mcpserver.WithDisableLocalhostProtection(true), // our own allowlists below are stricter and configurable
		mcpserver.WithHTTPContextFunc(func(ctx context.Context, r *http.Request) context.Context {
			return tools.WithTransport(ctx, "streamable-http", true)
		}),
		mcpserver.WithStreamableHTTPLogger(app.Logger),
	)
	h.sse = mcpserver.NewSSEServer(app.MCP,
		mcpserver.WithKeepAlive(true),
		mcpserver.WithSSEDisableLocalhostProtection(true),
		mcpserver.WithSSEContextFunc(func(ctx context.Context, r *http.Request) context.Context {
			return tools.WithTransport(ctx, "sse", false) // SSE sessions cannot carry a question to the client
		}),
	)

	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", h.health)
	mux.Handle("/mcp", h.guard(h.limitBody(h.capSessions(h.streamable, func(r *http.Request) bool {
		return r.Method == http.MethodPost && r.Header.Get("Mcp-Session-Id") == ""
	}))))
	mux.Handle("/sse", h.guard(h.capSessions(h.sse.SSEHandler(), func(r *http.Request) bool { return r.Method == http.MethodGet })))
	mux.Handle("/message", h.guard(h.limitBody(h.sse.MessageHandler())))
	h.Handler = mux
	return h
}

func (h *HTTPServer) health(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{"status": "ok", "name": "tallyfy-mcp", "version": h.app.Config.Version})
}

// jsonRPCError answers with an HTTP status and a JSON-RPC error body.
func jsonRPCError(w http.ResponseWriter, status, code int, msg string) {
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
		if h.hasAuth && !h.authorized(r) {
			w.Header().Set("WWW-Authenticate", `Bearer realm="tallyfy-mcp"`)
			jsonRPCError(w, http.StatusUnauthorized, -32001, "Unauthorized: send Authorization: Bearer <the server's MCP auth token>")
			return
		}
		next.ServeHTTP(w, r)
	})
}

func clipHeader(s string) string {
	if len(s) > 100 {
		return s[:100] + "…"
	}
	return s
}

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

// authorized compares the bearer token in constant time (hashes first, so length leaks nothing).
func (h *HTTPServer) authorized(r *http.Request) bool {
	scheme, tok, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return false
	}
	sum := sha256.Sum256([]byte(strings.TrimSpace(tok)))
	return subtle.ConstantTimeCompare(sum[:], h.authHash[:]) == 1
}

func (h *HTTPServer) limitBody(next http.Handler) http.Handler {
	limit := h.app.Config.MaxBodyBytes
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.ContentLength > limit {
			jsonRPCError(w, http.StatusRequestEntityTooLarge, -32600, fmt.Sprintf("request body is larger than %d bytes (--max-body-bytes)", limit))
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, limit)
		next.ServeHTTP(w, r)
	})
}

// capSessions refuses a request that would open a new session once --max-sessions are open.
func (h *HTTPServer) capSessions(next http.Handler, opens func(*http.Request) bool) http.Handler {
	limit := int64(h.app.Config.MaxSessions)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if limit > 0 && opens(r) && h.sessions.Load() >= limit {
			w.Header().Set("Retry-After", "5")
			jsonRPCError(w, http.StatusServiceUnavailable, -32000, fmt.Sprintf("too many open sessions (%d, --max-sessions); retry later", limit))
			return
		}
		next.ServeHTTP(w, r)
	})
}

func (h *HTTPServer) trackInflight(next mcpserver.ToolHandlerFunc) mcpserver.ToolHandlerFunc {
	return func(ctx context.Context, req mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		h.inflight.Add(1)
		defer h.inflight.Done()
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
	h := NewHTTPServer(a, authToken)
	srv := &http.Server{Addr: a.Config.Addr, Handler: h.Handler, ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout: 120 * time.Second, MaxHeaderBytes: 64 << 10, ErrorLog: nil}
	ln, err := net.Listen("tcp", a.Config.Addr)
	if err != nil {
		return err
	}
	a.Logger.Info("serving MCP over HTTP", "streamable", "http://"+ln.Addr().String()+"/mcp", "sse", "http://"+ln.Addr().String()+"/sse",
		"tls", a.Config.TLSCert != "", "auth", authToken != "", "version", a.Config.Version)
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
	done := make(chan error, 1)
	go func() { done <- srv.Shutdown(sctx) }() // closes the listener at once
	finished := make(chan struct{})
	go func() { h.inflight.Wait(); close(finished) }()
	select {
	case <-finished:
	case <-sctx.Done():
		h.app.Logger.Warn("shutdown timeout: some tool calls did not finish")
	}
	h.sse.CloseSessions()
	_ = h.streamable.Shutdown(sctx)
	err := <-done
	if errors.Is(err, context.DeadlineExceeded) {
		_ = srv.Close()
		return nil
	}
	return err
}
