// Package server builds the MCP server from the configuration and the tool table (policy
// filter, recovery, hooks) and serves it over stdio, SSE or streamable HTTP. It
// knows nothing of Tallyfy's endpoints.
package server

import (
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os/user"
	"time"

	"github.com/mark3labs/mcp-go/mcp"
	mcpserver "github.com/mark3labs/mcp-go/server"

	"github.com/tallyfy-mcp/tallyfy-mcp/server/approvalpage"
	"github.com/tallyfy-mcp/tallyfy-mcp/server/auth"
	"github.com/tallyfy-mcp/tallyfy-mcp/server/mcphttp"
	"github.com/tallyfy-mcp/tallyfy-mcp/server/stdio"
	"github.com/tallyfy-mcp/tallyfy-mcp/server/telemetry"
	"github.com/tallyfy-mcp/tallyfy-mcp/state"
	"github.com/tallyfy-mcp/tallyfy-mcp/tallyfy"
	"github.com/tallyfy-mcp/tallyfy-mcp/tallyfy/sandbox"
	"github.com/tallyfy-mcp/tallyfy-mcp/tools"
	"github.com/tallyfy-mcp/tallyfy-mcp/tools/audit"
	"github.com/tallyfy-mcp/tallyfy-mcp/tools/confirm"
)

// Instructions is the short guide hosts give the model with this server.
const Instructions = `Tallyfy lifecycle server: look up, archive, restore and permanently delete one-off tasks, processes (runs) and templates of one Tallyfy organization.
- Look up first: find IDs with list_tasks, list_runs or list_templates (archived: include or only for archived items) and check with get_*.
- Archiving is reversible: every archive result names the tool that undoes it.
- Permanent delete_* tools only take archived items and cannot be undone. The person must confirm: the client asks them directly; or the tool answers approval_pending (they approve outside the chat: call again with the same arguments once they say so); or confirmation_required with a preview (show it, and call again with confirm_token only after they explicitly agree). Never confirm on their behalf.
- For more than a few items of one type, use bulk_archive, bulk_restore or bulk_delete (up to 100, by ids or by the list filters) instead of one call each: the first call only plans and changes nothing; show the plan, then call again with its execute arguments (plan_token). A bulk_delete is confirmed by the person once for the whole plan.`

// App is a configured server: the MCP server, its toolset and what must be closed after.
type App struct {
	MCP     *mcpserver.MCPServer
	Toolset *tools.Toolset
	// OAuth validates access tokens when --oauth-issuer is set.
	OAuth *auth.OAuth
	// Callers is the --callers file: each caller's own Tallyfy token and policy cap.
	Callers *auth.Callers
	// keys are the --confirm-key-file keys (nil: none), which also sign shared session ids.
	keys [][]byte
	// ownToken: the server has its own Tallyfy token (or the sandbox's). Without it, with
	// --callers, only callers-file entries have a Tallyfy identity.
	ownToken bool
	// State is what replicas share (--state); in memory without it.
	State   state.Store
	Config  *Config
	Logger  *slog.Logger
	closers []func() error
	// listening receives the HTTP transports' bound address (useful with --addr host:0).
	listening chan string
	// tracker is what the HTTP transports learn from the MCP server's hooks (nil on stdio).
	tracker *mcphttp.Tracker
	// approvals is the approval page (server/approvalpage).
	approvals *approvalpage.Page
}

// Close releases what the app opened (audit file, sandbox listener).
func (a *App) Close() error {
	var errs []error
	for i := len(a.closers) - 1; i >= 0; i-- {
		errs = append(errs, a.closers[i]())
	}
	return errors.Join(errs...)
}

// New builds the app from cfg: the Tallyfy client (or the sandbox), the toolset with its
// policy, the audit recorder and the MCP server. On error what was opened is closed.
func New(cfg *Config, logger *slog.Logger) (*App, error) {
	app := &App{Config: cfg, Logger: logger, listening: make(chan string, 1)}
	if err := app.build(); err != nil {
		_ = app.Close()
		return nil, err
	}
	return app, nil
}

func (a *App) build() error {
	cfg, logger := a.Config, a.Logger
	client, err := a.tallyfyClient()
	if err != nil {
		return err
	}
	var recorder audit.Recorder = audit.LogRecorder{Logger: logger}
	if cfg.AuditLog != "" {
		f, err := audit.OpenFile(cfg.AuditLog)
		if err != nil {
			return err
		}
		recorder = f
		a.closers = append(a.closers, f.Close)
	}
	if cfg.OAuthIssuer != "" {
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		a.OAuth, err = auth.NewOAuth(ctx, auth.OAuthOptions{Issuer: cfg.OAuthIssuer, Audience: cfg.OAuthAudience, TokenTypes: cfg.OAuthTokenTypes,
			MaxLifetime: cfg.OAuthMaxLifetime, HTTP: &http.Client{Timeout: 15 * time.Second}})
		cancel()
		if err != nil {
			return err
		}
		logger.Info("OAuth: accepting access tokens", "issuer", cfg.OAuthIssuer, "audience", cfg.OAuthAudience)
	}
	if a.keys, err = readConfirmKeys(cfg.ConfirmKeyFile); err != nil {
		return err
	}
	store, err := state.Open(cfg.State)
	if err != nil {
		return err
	}
	a.State = store
	a.closers = append(a.closers, store.Close)
	if store.Shared() {
		hctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		if err := store.Health(hctx); err != nil {
			// Not fatal: replicas may start before Redis. Deletes are refused until it answers.
			logger.Warn("shared state store unreachable: permanent deletes are refused until it answers", "state", store.Kind(), "err", err)
		} else {
			logger.Info("shared state in "+store.Kind()+": confirmations and the delete budget are shared with every replica using it", "state", store.Kind())
		}
		cancel()
	}
	if cfg.Confirm == tools.ConfirmOff {
		logger.Warn("--confirm off: permanent deletes run WITHOUT any confirmation; use only for unattended pipelines. Every audit record says confirm_mode=off.")
	}
	approvalKey, err := loadApprovalKey(cfg.ApprovalKeyFile, logger)
	if err != nil {
		return err
	}
	local := cfg.Transport == "stdio"
	a.approvals = approvalpage.New(local, a.Callers, store, a.keys, logger, cfg.ApprovalBrowser)
	a.closers = append(a.closers, a.approvals.Close)
	if cfg.ApprovalOAuthClientID != "" {
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		err = a.approvals.EnableLogin(ctx, cfg.OAuthIssuer, cfg.OAuthAudience, cfg.ApprovalOAuthClientID, cfg.ApprovalOAuthClientSecret,
			&http.Client{Timeout: 15 * time.Second})
		cancel()
		if err != nil {
			return err
		}
	}
	ts, err := tools.New(tools.Options{
		Client: client, Confirm: cfg.Confirm, Audit: recorder, Logger: logger, ElicitTimeout: cfg.ElicitTimeout, TokenTTL: cfg.TokenTTL,
		MaxBulkItems: cfg.MaxBulkItems, BulkConcurrency: cfg.BulkConcurrency,
		State: store, ConfirmKeys: a.keys, Policy: cfg.Policy,
		AllowToken: cfg.ConfirmAllowToken, ApprovalPage: a.approvals, ApprovalKey: approvalKey, LocalUser: localUser(local), ApprovalTTL: cfg.ApprovalTimeout,
	})
	if err != nil {
		return err
	}
	a.Toolset = ts
	logEffectivePolicy(logger, cfg)
	a.approvals.SetToolset(ts)
	logger.Info("confirmation channels for permanent deletes: "+ts.ActiveChannels(cfg.Transport), "confirm", string(cfg.Confirm),
		"approval_key", confirm.KeyID(ts.ApprovalPublicKey()))
	var extensions []Extension
	if cfg.OTel {
		tel, err := telemetry.NewOTLP(context.Background(), cfg.Version)
		if err != nil {
			return fmt.Errorf("--otel: %w", err)
		}
		extensions = append(extensions, tel.Extend)
		a.closers = append(a.closers, tel.Close)
		logger.Info("OpenTelemetry export on (OTLP/HTTP, OTEL_* variables)")
	}
	// The transport's own hooks and middleware are part of the server it is built for.
	if cfg.Transport == "stdio" {
		extensions = append(extensions, stdio.Register)
	} else {
		extensions = append(extensions, a.httpExtension())
	}
	a.MCP = NewMCPServer(ts, cfg.Version, cfg.ToolTimeout, cfg.ElicitTimeout, logger, extensions...)
	return nil
}

// Extension is what is added to an MCP server as it is built, after its own hooks and
// middleware: hooks on its Hooks, and tool middleware (first = outermost). Telemetry and the
// transport the server is built for extend it; nothing is added to a server once built.
type Extension func(*mcpserver.Hooks) []mcpserver.ToolHandlerMiddleware

// NewMCPServer registers the table's tools on a new MCP server with the policy filter, panic
// recovery and a per-call deadline, then extensions. The tools' own pipeline judges the
// arguments (against the same schemas) and the rate limit, and records every refusal
// (tools/judge.go).
func NewMCPServer(ts *tools.Toolset, version string, toolTimeout, elicitTimeout time.Duration, logger *slog.Logger, extensions ...Extension) *mcpserver.MCPServer {
	hooks := &mcpserver.Hooks{}
	// A tool the policy hides, called by name: mcp-go answers "tool not found"; audit the attempt.
	hooks.AddOnError(func(ctx context.Context, _ any, method mcp.MCPMethod, msg any, err error) {
		if req, ok := msg.(*mcp.CallToolRequest); ok && method == mcp.MethodToolsCall && errors.Is(err, mcpserver.ErrToolNotFound) {
			ts.RecordHidden(ctx, req.Params.Name)
		}
	})
	opts := []mcpserver.ServerOption{
		mcpserver.WithTitle("Tallyfy"),
		mcpserver.WithToolCapabilities(false),
		mcpserver.WithResourceCapabilities(false, false), // the MCP App view (tools/app.go)
		mcpserver.WithInstructions(Instructions),
		mcpserver.WithToolFilter(ts.Filter),
		mcpserver.WithHooks(hooks),
		mcpserver.WithRecovery(),
		mcpserver.WithToolHandlerMiddleware(deadline(toolTimeout, elicitTimeout)),
		mcpserver.WithToolHandlerMiddleware(telemetry.LogCalls(logger)),
	}
	for _, extend := range extensions {
		for _, mw := range extend(hooks) {
			opts = append(opts, mcpserver.WithToolHandlerMiddleware(mw))
		}
	}
	s := mcpserver.NewMCPServer("tallyfy-mcp", version, opts...)
	s.AddTools(ts.ServerTools()...)
	s.AddResources(tools.AppViewResource())
	return s
}

// deadline bounds every tool call, retries included. A permanent delete may also wait for the
// person to answer, so it gets --elicit-timeout on top.
func deadline(d, elicit time.Duration) mcpserver.ToolHandlerMiddleware {
	return func(next mcpserver.ToolHandlerFunc) mcpserver.ToolHandlerFunc {
		return func(ctx context.Context, req mcp.CallToolRequest) (*mcp.CallToolResult, error) {
			if d <= 0 {
				return next(ctx, req)
			}
			limit := d
			if t, ok := tools.ByName(req.Params.Name); ok && t.Tier == tools.TierPermanent {
				limit += elicit
			}
			ctx, cancel := context.WithTimeout(ctx, limit)
			defer cancel()
			return next(ctx, req)
		}
	}
}

// tallyfyClient builds the Tallyfy client from the configuration, starting the sandbox first
// when asked to. mods adjust the client configuration last (the check command makes it
// read-only). With --callers each caller gets their own client on the same settings (and
// connection pool); the server's own token is then optional, and the first caller's client
// stands in for it only to build the toolset: no request acts with it, since every caller
// there is a callers-file entry (runHTTP refuses --auth-token without the server's token).
func (a *App) tallyfyClient(mods ...func(*tallyfy.Config)) (*tallyfy.Client, error) {
	cfg := a.Config
	// The client is the credential, so its pacer is the token's budget (tallyfy/pacing.go).
	ccfg := tallyfy.Config{BaseURL: cfg.BaseURL, OrgID: cfg.OrgID, RequestTimeout: cfg.RequestTimeout,
		UserAgent: "tallyfy-mcp/" + cfg.Version, Logger: a.Logger, HTTPClient: tallyfy.NewHTTPClient(), Rate: cfg.TallyfyRate,
		BulkInterval: cfg.TallyfyBulkInterval, SharedPace: a.sharedPace(), ArchivedSearchPages: cfg.ArchivedSearchPages,
		OnRetry: func(method, path string, attempt int, err error, wait time.Duration) {
			a.Logger.Debug("retrying Tallyfy request", "method", method, "path", path, "attempt", attempt, "wait", wait, "err", err)
		}}
	token := ""
	if cfg.Sandbox {
		sb := sandbox.New(sandbox.WithVariants(cfg.SandboxVariants...))
		url, srv, err := sandbox.Listen("127.0.0.1:0", sb)
		if err != nil {
			return nil, fmt.Errorf("starting the sandbox: %w", err)
		}
		a.closers = append(a.closers, srv.Close)
		ccfg.BaseURL, ccfg.OrgID, token = url, sandbox.OrgID, sandbox.AdminToken
		a.ownToken = true
		ccfg.Rate, ccfg.BulkInterval = 0, 0 // the built-in sandbox has no rate limit: pacing would only slow the demo
		a.Logger.Info("sandbox: using the built-in demo Tallyfy, nothing touches a real organization", "url", url, "org", sandbox.OrgID, "variants", sb.Variants())
	} else {
		var err error
		if token, err = readSecret(cfg.AccessToken, cfg.TokenFile, "token"); err != nil {
			return nil, err
		}
		a.ownToken = token != ""
		if token == "" && cfg.Callers == "" {
			return nil, errors.New("no Tallyfy access token: set TALLYFY_ACCESS_TOKEN (or --token-file) and TALLYFY_ORG_ID, or run with --sandbox to try every tool on built-in demo data")
		}
		if cfg.OrgID == "" {
			return nil, errors.New("no Tallyfy organization: set TALLYFY_ORG_ID (or --org-id) to your organization ID (Tallyfy: Settings > Organization), or run with --sandbox")
		}
	}
	// mods apply to every client, the callers' too (the check makes all of them read-only).
	for _, m := range mods {
		m(&ccfg)
	}
	if cfg.Callers != "" {
		callers, err := auth.LoadCallers(cfg.Callers, ccfg, cfg.Getenv)
		if err != nil {
			return nil, err
		}
		a.Callers = callers
		auth.LogCallers(a.Logger, callers, "callers loaded: each acts with their own Tallyfy token and policy cap")
		if token == "" {
			return callers.List()[0].Client, nil
		}
	}
	ccfg.Token = token
	if cfg.TallyfyRate > tallyfyDocumentedRate {
		a.Logger.Warn("--tallyfy-rate is above the 600 requests a minute Tallyfy documents per user: expect 429 answers (they are waited out, but slow every call)",
			"tallyfy_rate", cfg.TallyfyRate)
	}
	return tallyfy.New(ccfg)
}

// sharedPace is where every replica keeps each Tallyfy token's request bucket: the Redis of
// --state, whose 600 requests a minute are per user across all replicas (docs/performance.md
// "Pacing"); nil (each process its own bucket) without it. It has a connection pool of its own,
// opened with the client (tallyfyClient, once per App), before the store the tools use.
func (a *App) sharedPace() tallyfy.SharedPacer {
	raw := a.Config.State
	if raw == "" || raw == "memory" || a.Config.Sandbox {
		return nil
	}
	st, err := state.Open(raw)
	if err != nil {
		return nil // the store itself reports the error when it is opened
	}
	sp, ok := st.(tallyfy.SharedPacer)
	if !ok {
		_ = st.Close()
		return nil
	}
	a.closers = append(a.closers, st.Close)
	return sp
}

// authenticator is who may call the HTTP transports: authToken is --auth-token ("" for none).
func (a *App) authenticator(authToken string) *auth.Authenticator {
	return auth.New(authToken, a.Callers, a.OAuth, a.ownToken, a.Logger)
}

// tallyfyDocumentedRate is Tallyfy's documented limit per user in requests a second
// (docs/tallyfy-api.md §4 "Rate limits": 600 a minute).
const tallyfyDocumentedRate = 10

// Serve runs the configured transport until ctx ends (SIGTERM) or, on stdio, stdin closes.
func (a *App) Serve(ctx context.Context, stdin io.Reader, stdout io.Writer) error {
	if a.Config.Transport != "stdio" {
		return a.runHTTP(ctx)
	}
	a.Logger.Info("serving MCP on stdio", "version", a.Config.Version, "tools", a.Toolset.Offered())
	return stdio.Serve(ctx, stdio.Options{MCP: a.MCP, Logger: a.Logger, MaxLineBytes: a.Config.MaxBodyBytes,
		ShutdownTimeout: a.Config.ShutdownTimeout, BeginShutdown: a.Toolset.BeginShutdown}, stdin, stdout)
}

// localUser is the OS user the server runs as, who confirms on stdio ("" elsewhere).
func localUser(local bool) string {
	if !local {
		return ""
	}
	if u, err := user.Current(); err == nil && u.Username != "" {
		return u.Username
	}
	return "local user"
}

// loadApprovalKey reads --approval-key-file (PKCS#8 PEM Ed25519), or makes a key for this
// process and warns that its records verify only with the public key logged now.
func loadApprovalKey(path string, log *slog.Logger) (ed25519.PrivateKey, error) {
	if path == "" {
		key, err := confirm.NewApprovalKey()
		if err != nil {
			return nil, err
		}
		log.Warn("no --approval-key-file: approval records are signed with a key made for this process; keep its public key to verify them later (tallyfy-mcp approvals verify --pubkey)",
			"public_key", base64.StdEncoding.EncodeToString(key.Public().(ed25519.PublicKey)))
		return key, nil
	}
	return confirm.ReadApprovalKey(path)
}
