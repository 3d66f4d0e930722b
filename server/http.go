package server

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	mcpserver "github.com/mark3labs/mcp-go/server"

	"github.com/tallyfy-mcp/tallyfy-mcp/server/approvalpage"
	"github.com/tallyfy-mcp/tallyfy-mcp/server/mcphttp"
	"github.com/tallyfy-mcp/tallyfy-mcp/tallyfy"
	"github.com/tallyfy-mcp/tallyfy-mcp/tools"
)

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

// NewHTTPServer builds the HTTP transports (the mcphttp room) for app, built for the http
// transport (its MCP server carries the transport's hooks, see New), with this server's
// callers: the --auth-token, the callers file and OAuth identify who calls.
func NewHTTPServer(app *App, authToken string) *mcphttp.Server {
	if app.tracker == nil {
		panic("server: NewHTTPServer needs an App built with --transport http")
	}
	cfg := app.Config
	var h *mcphttp.Server
	// The approval page has its own login (server/approvalpage): no bearer, the browser has none.
	// It checks the Host header as the MCP endpoints do.
	pages := map[string]http.Handler{"/approve/": app.approvals.Handler(func(host string) bool { return h.HostAllowed(host) })}
	var public map[string]http.Handler
	if app.OAuth != nil {
		public = app.OAuth.Metadata() // public, as RFC 9728 requires
	}
	// What this server's tools read of a streamable-HTTP request: the caller's address (rate
	// limits without a session) and the address the approval page is reached at.
	callContext := func(ctx context.Context, r *http.Request) context.Context {
		ctx = context.WithValue(ctx, remoteKey{}, mcphttp.RemoteHost(r))
		return approvalpage.WithOrigin(ctx, r, cfg.InsecureHTTP)
	}
	h = mcphttp.New(mcphttp.Options{
		MCP: app.MCP, Tracker: app.tracker, Identify: app.authenticator(authToken).Identify, CallContext: callContext,
		BeginShutdown: app.Toolset.BeginShutdown, State: app.State, SessionKeys: app.keys,
		Logger: app.Logger, Version: cfg.Version, Pages: pages, Public: public,
		Addr: cfg.Addr, AllowedHosts: cfg.AllowedHosts, AllowedOrigins: cfg.AllowedOrigins, MaxBodyBytes: cfg.MaxBodyBytes,
		BodyReadTimeout: cfg.BodyReadTimeout, MaxSessions: cfg.MaxSessions, SessionIdleTTL: cfg.SessionIdleTTL, Stateless: cfg.Stateless,
	})
	return h
}

// httpExtension is the HTTP transports' part of the MCP server built for them: the tracker's
// hooks and in-flight count. The rate limits are the tools' judge's (tools/judge.go).
func (a *App) httpExtension() Extension {
	a.tracker = &mcphttp.Tracker{}
	a.Toolset.LimitRate(tools.RateLimit{PerSession: a.Config.RateLimit, Global: a.Config.GlobalRateLimit, Key: rateKey})
	return a.tracker.Register
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
	ln = mcphttp.LimitConns(ln, a.Config.MaxConns, a.Config.MaxConnsPerIP, a.Logger)
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

// remoteKey carries the caller's address: requests without a session (2026-07-28) are rate
// limited per address rather than all in one bucket.
type remoteKey struct{}

// rateKey names the rate limit bucket of a call: its session, else its caller, else its address.
func rateKey(ctx context.Context) string {
	if s := mcpserver.ClientSessionFromContext(ctx); s != nil && s.SessionID() != "" {
		return s.SessionID()
	}
	if key := tools.CallerKey(ctx); key != "" {
		return key // no session: one bucket per authenticated caller (behind a proxy they share an address)
	}
	if addr, ok := ctx.Value(remoteKey{}).(string); ok {
		return mcphttp.AddrKey(addr) // no session (2026-07-28): one bucket per caller address
	}
	return "-"
}
