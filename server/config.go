package server

import (
	"cmp"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/tallyfy-mcp/tallyfy-mcp/server/auth"
	"github.com/tallyfy-mcp/tallyfy-mcp/tallyfy/sandbox"
	"github.com/tallyfy-mcp/tallyfy-mcp/tools"
)

// Config is everything the server is told by flags and environment (flags win).
type Config struct {
	AccessToken string
	TokenFile   string
	OrgID       string
	BaseURL     string
	Sandbox     bool
	// SandboxVariants are the built-in sandbox's behaviours switched off its defaults.
	SandboxVariants []sandbox.Variant

	Transport string
	Addr      string

	LogLevel  string
	LogFormat string

	// Confirm and Policy are parsed and checked once, as the flags are read.
	Confirm tools.ConfirmMode
	Policy  tools.Policy
	// ConfirmAllowToken lets --confirm auto fall back to the token flow; ApprovalBrowser opens
	// the local approval page (stdio); ApprovalKeyFile signs approval records.
	ConfirmAllowToken bool
	ApprovalBrowser   string
	ApprovalKeyFile   string
	ApprovalTimeout   time.Duration
	// ApprovalOAuthClientID (and secret) make the HTTP approval page an OAuth client of
	// --oauth-issuer: approvers log in there (server/approvalpage/login.go).
	ApprovalOAuthClientID     string
	ApprovalOAuthClientSecret string
	AuditLog                  string

	TallyfyRate float64
	// TallyfyBulkInterval spaces the requests of bulk tools (--tallyfy-bulk-interval).
	TallyfyBulkInterval time.Duration
	// ArchivedSearchPages bounds a look-up's search of the archived items (--archived-search-pages).
	ArchivedSearchPages int
	// MaxBulkItems caps one bulk plan; BulkConcurrency is how many of its items run at once.
	MaxBulkItems, BulkConcurrency int

	RequestTimeout time.Duration
	ToolTimeout    time.Duration
	ElicitTimeout  time.Duration
	// TokenTTL is how long a confirm_token or plan_token stays valid (--token-ttl).
	TokenTTL        time.Duration
	ShutdownTimeout time.Duration

	// HTTP transports.
	AuthToken       string
	AuthTokenFile   string
	TLSCert         string
	TLSKey          string
	InsecureHTTP    bool
	AllowedOrigins  []string
	AllowedHosts    []string
	MaxBodyBytes    int64
	MaxSessions     int
	SessionIdleTTL  time.Duration
	RateLimit       float64
	GlobalRateLimit float64
	BodyReadTimeout time.Duration
	MaxConns        int
	MaxConnsPerIP   int

	OTel bool

	// Shared deployment: each caller's own Tallyfy identity; what replicas share, and the key
	// they all seal confirmations with.
	Callers        string
	State          string
	ConfirmKeyFile string
	OAuthIssuer    string
	OAuthAudience  string
	// OAuthTokenTypes are the JWT "typ" headers accepted (RFC 9068: at+jwt); OAuthMaxLifetime
	// caps exp - iat.
	OAuthTokenTypes  []string
	OAuthMaxLifetime time.Duration
	Stateless        bool

	Version     string
	ShowVersion bool
	// ExitWithParent stops the server once the process that started it is gone.
	ExitWithParent bool

	// Getenv is where variables named in the callers file are read (ParseConfig's getenv).
	Getenv func(string) string
}

// Option describes one flag: its name, environment variable, default and meaning. The table
// is the single source for parsing, --help and the README's configuration table.
type Option struct {
	Name    string
	Env     string
	Default string
	Usage   string
	Secret  bool // never printed
	set     func(string) error
	isBool  bool
}

// to stores parse(v) in *p: every option's set is one.
func to[T any](p *T, parse func(string) (T, error)) func(string) error {
	return func(v string) error {
		x, err := parse(v)
		if err == nil {
			*p = x
		}
		return err
	}
}

// checked parses with parse and takes only what ok allows (nil: all); anything else is
// refused with "want <want>, got <v>".
func checked[T any](parse func(string) (T, error), ok func(T) bool, want string) func(string) (T, error) {
	return func(v string) (T, error) {
		x, err := parse(v)
		if err != nil || ok != nil && !ok(x) {
			var zero T
			return zero, fmt.Errorf("want %s, got %q", want, v)
		}
		return x, nil
	}
}

// between allows lo to hi; a NaN is neither, so it is refused too.
func between[T cmp.Ordered](lo, hi T) func(T) bool {
	return func(x T) bool { return x >= lo && x <= hi }
}

// The parsers of the table's plain values.
var (
	verbatim = func(v string) (string, error) { return v, nil }
	list     = func(v string) ([]string, error) { return splitList(v), nil }
	boolean  = checked(strconv.ParseBool, nil, "true or false")
	duration = checked(time.ParseDuration, between[time.Duration](0, math.MaxInt64), "a duration such as 30s or 2m")
	integer  = checked(strconv.Atoi, nil, "a whole number")
)

// intIn parses a whole number from lo to hi.
func intIn(lo, hi int) func(string) (int, error) {
	return checked(strconv.Atoi, between(lo, hi), fmt.Sprintf("a whole number from %d to %d", lo, hi))
}

// float parses a finite number ≥ 0; want says what is wanted when it is not one.
func float(want string) func(string) (float64, error) {
	return checked(func(v string) (float64, error) { return strconv.ParseFloat(v, 64) }, between(0, math.MaxFloat64), want)
}

func splitList(v string) []string {
	var out []string
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}

// Options is every flag, in --help order. Its setters write to a Config no one reads: parsing
// uses optionsFor(cfg), the same table writing to cfg.
var Options = optionsFor(new(Config))

// optionsFor is the table of every flag, each setting its field of c.
func optionsFor(c *Config) []Option {
	return []Option{
		{Name: "access-token", Env: "TALLYFY_ACCESS_TOKEN", Usage: "Tallyfy personal access token (Settings > Integrations > REST API); prefer the variable or --token-file over the flag, which other users can see in ps", Secret: true, set: to(&c.AccessToken, verbatim)},
		{Name: "token-file", Env: "TALLYFY_TOKEN_FILE", Usage: "read the Tallyfy access token from this file", set: to(&c.TokenFile, verbatim)},
		{Name: "org-id", Env: "TALLYFY_ORG_ID", Usage: "Tallyfy organization ID (Settings > Organization)", set: to(&c.OrgID, verbatim)},
		{Name: "base-url", Env: "TALLYFY_BASE_URL", Default: "https://go.tallyfy.com/api", Usage: "Tallyfy API root (https://api.tallyfy.com also works; http only for loopback)", set: to(&c.BaseURL, verbatim)},
		{Name: "sandbox", Env: "TALLYFY_SANDBOX", Default: "false", Usage: "serve the built-in demo Tallyfy on a loopback port and use it: no account, no risk", isBool: true, set: to(&c.Sandbox, boolean)},
		{Name: "sandbox-variant", Env: "TALLYFY_SANDBOX_VARIANT", Usage: "with --sandbox: comma-separated behaviours no Tallyfy source settles, switched off the sandbox's defaults (tallyfy-mcp sandbox --variant help lists them)", set: to(&c.SandboxVariants, sandbox.ParseVariants)},
		{Name: "transport", Env: "MCP_TRANSPORT", Default: "stdio", Usage: "stdio, http (streamable HTTP at /mcp and SSE at /sse) or sse (alias of http)", set: to(&c.Transport, verbatim)},
		{Name: "addr", Env: "MCP_ADDR", Default: "127.0.0.1:8080", Usage: "listen address for the HTTP transports", set: to(&c.Addr, verbatim)},
		{Name: "log-level", Env: "LOG_LEVEL", Default: "info", Usage: "debug, info, warn or error (logs go to stderr)", set: to(&c.LogLevel, verbatim)},
		{Name: "log-format", Env: "LOG_FORMAT", Default: "text", Usage: "text or json", set: to(&c.LogFormat, verbatim)},
		{Name: "confirm", Env: "TALLYFY_CONFIRM", Default: "auto", Usage: "how permanent deletes are confirmed: auto (the strongest channel the client offers: App, elicitation, then the approval page; a confirm token only with --confirm-allow-token), elicit, token (the model may confirm alone) or off (unattended pipelines only)", set: to(&c.Confirm, tools.ParseConfirmMode)},
		{Name: "confirm-allow-token", Env: "TALLYFY_CONFIRM_ALLOW_TOKEN", Default: "false", Usage: "let --confirm auto fall back to the confirm token where no person can be asked: the model then calls twice and the person may never see it (audit says token)", isBool: true, set: to(&c.ConfirmAllowToken, boolean)},
		{Name: "approval-browser", Env: "TALLYFY_APPROVAL_BROWSER", Usage: "command that opens the local approval page (stdio), given its link as last argument; default xdg-open, open or start", set: to(&c.ApprovalBrowser, verbatim)},
		{Name: "approval-timeout", Env: "TALLYFY_APPROVAL_TIMEOUT", Default: "10m", Usage: "how long a delete waits for the person's decision on the approval page (a bulk one at most as long as its plan_token)", set: to(&c.ApprovalTimeout, duration)},
		{Name: "approval-oauth-client-id", Env: "TALLYFY_APPROVAL_OAUTH_CLIENT_ID", Usage: "HTTP with --oauth-issuer: the approval page logs approvers in through that issuer (authorization code with PKCE) as this client, whose redirect URI is /approve/callback on the --oauth-audience host", set: to(&c.ApprovalOAuthClientID, verbatim)},
		{Name: "approval-oauth-client-secret", Env: "TALLYFY_APPROVAL_OAUTH_CLIENT_SECRET", Usage: "that client's secret, if the issuer gave it one (PKCE is used either way)", Secret: true, set: to(&c.ApprovalOAuthClientSecret, verbatim)},
		{Name: "approval-key-file", Env: "TALLYFY_APPROVAL_KEY_FILE", Usage: "Ed25519 private key (PKCS#8 PEM: openssl genpkey -algorithm ed25519) that signs approval records in the audit log; default a key made at start (records then verify only with the public key it logs)", set: to(&c.ApprovalKeyFile, verbatim)},
		{Name: "read-only", Env: "TALLYFY_READ_ONLY", Default: "false", Usage: "offer only the get and list tools", isBool: true, set: to(&c.Policy.ReadOnly, boolean)},
		{Name: "disable-permanent-delete", Env: "TALLYFY_DISABLE_PERMANENT_DELETE", Default: "false", Usage: "offer no permanent delete tools", isBool: true, set: to(&c.Policy.DisablePermanentDelete, boolean)},
		{Name: "tools", Env: "TALLYFY_TOOLS", Usage: "comma-separated tools to offer (default all); exclusions and read-only still win", set: to(&c.Policy.Tools, list)},
		{Name: "exclude-tools", Env: "TALLYFY_EXCLUDE_TOOLS", Usage: "comma-separated tools never to offer", set: to(&c.Policy.ExcludeTools, list)},
		{Name: "protect", Env: "TALLYFY_PROTECT", Usage: "comma-separated IDs that no tool may archive or permanently delete", set: to(&c.Policy.Protect, func(v string) ([]string, error) { return tools.NormalizeProtectedIDs(splitList(v)) })},
		{Name: "max-deletes-per-hour", Env: "TALLYFY_MAX_DELETES_PER_HOUR", Default: "20", Usage: "permanent deletes allowed per rolling hour across all sessions (0 = none, -1 = no cap)", set: to(&c.Policy.MaxDeletesPerHour, integer)},
		{Name: "audit-log", Env: "TALLYFY_AUDIT_LOG", Usage: "append the audit records (an intent line synced before each change, an outcome line per lifecycle or delete call) to this file (created 0600); default: the log on stderr", set: to(&c.AuditLog, verbatim)},
		{Name: "tallyfy-rate", Env: "TALLYFY_RATE", Default: "9", Usage: "most requests a second sent to Tallyfy with one access token, retries included (Tallyfy allows about 600 a minute per user; up to 2 may leave at once); 0 = no pacing, e.g. for an API without a limit. Not applied to --sandbox, which has no limit", set: to(&c.TallyfyRate, float("requests per second per access token, a number ≥ 0 such as 9 or 4.5 (0 = no pacing)"))},
		{Name: "tallyfy-bulk-interval", Env: "TALLYFY_BULK_INTERVAL", Default: "250ms", Usage: "least time between two Tallyfy requests of bulk tools, inside --tallyfy-rate (Tallyfy advises 200-500ms for bulk work; single calls keep their burst); 0 = only --tallyfy-rate", set: to(&c.TallyfyBulkInterval, checked(time.ParseDuration, between[time.Duration](0, math.MaxInt64), "a duration ≥ 0 such as 250ms or 0"))},
		{Name: "archived-search-pages", Env: "TALLYFY_ARCHIVED_SEARCH_PAGES", Default: "10", Usage: "most pages of 100 archived items (newest first, at most 20 s) read to find an ID Tallyfy's GET does not settle, e.g. an archived template; past them the answer is a not-found that says how far it looked (1-500)", set: to(&c.ArchivedSearchPages, intIn(1, 500))},
		{Name: "max-bulk-items", Env: "TALLYFY_MAX_BULK_ITEMS", Default: "100", Usage: "most items one bulk_archive, bulk_restore or bulk_delete plan takes (1-100); a selection with more says so", set: to(&c.MaxBulkItems, intIn(1, 100))},
		{Name: "bulk-concurrency", Env: "TALLYFY_BULK_CONCURRENCY", Default: "4", Usage: "items of a bulk call sent to Tallyfy at once (inside --tallyfy-rate)", set: to(&c.BulkConcurrency, intIn(1, 32))},
		{Name: "request-timeout", Env: "TALLYFY_REQUEST_TIMEOUT", Default: "30s", Usage: "timeout of one HTTP request to Tallyfy", set: to(&c.RequestTimeout, duration)},
		{Name: "tool-timeout", Env: "TALLYFY_TOOL_TIMEOUT", Default: "2m", Usage: "overall deadline of one tool call, retries included (not the wait for a person's confirmation)", set: to(&c.ToolTimeout, duration)},
		{Name: "token-ttl", Env: "TALLYFY_TOKEN_TTL", Default: "5m", Usage: "how long a confirm_token or bulk plan_token stays valid (1s to 1h); each is single use, and a person's answer that comes after it is refused", set: to(&c.TokenTTL, checked(time.ParseDuration, between[time.Duration](time.Second, time.Hour), "a duration from 1s to 1h, such as 5m"))},
		{Name: "elicit-timeout", Env: "TALLYFY_ELICIT_TIMEOUT", Default: "3m", Usage: "how long to wait for the person to answer a delete confirmation", set: to(&c.ElicitTimeout, duration)},
		{Name: "shutdown-timeout", Env: "MCP_SHUTDOWN_TIMEOUT", Default: "10s", Usage: "how long in-flight calls may take to finish on SIGTERM (and, on stdio, after stdin closes)", set: to(&c.ShutdownTimeout, duration)},
		{Name: "auth-token", Env: "MCP_AUTH_TOKEN", Usage: "bearer token HTTP callers must send (never forwarded to Tallyfy); required off loopback", Secret: true, set: to(&c.AuthToken, verbatim)},
		{Name: "auth-token-file", Env: "MCP_AUTH_TOKEN_FILE", Usage: "read the HTTP callers' bearer token from this file", set: to(&c.AuthTokenFile, verbatim)},
		{Name: "tls-cert", Env: "MCP_TLS_CERT", Usage: "TLS certificate file for the HTTP transports", set: to(&c.TLSCert, verbatim)},
		{Name: "tls-key", Env: "MCP_TLS_KEY", Usage: "TLS key file for the HTTP transports", set: to(&c.TLSKey, verbatim)},
		{Name: "insecure-http", Env: "MCP_INSECURE_HTTP", Default: "false", Usage: "allow plain HTTP off loopback because a proxy in front terminates TLS", isBool: true, set: to(&c.InsecureHTTP, boolean)},
		{Name: "allowed-origins", Env: "MCP_ALLOWED_ORIGINS", Usage: "comma-separated browser Origins allowed to call the HTTP transports (requests without Origin are allowed)", set: to(&c.AllowedOrigins, list)},
		{Name: "allowed-hosts", Env: "MCP_ALLOWED_HOSTS", Usage: "comma-separated Host header values accepted besides localhost and the --addr host", set: to(&c.AllowedHosts, list)},
		{Name: "max-body-bytes", Env: "MCP_MAX_BODY_BYTES", Default: "1048576", Usage: "largest request accepted: an HTTP body or a stdio line", set: to(&c.MaxBodyBytes,
			checked(func(v string) (int64, error) { return strconv.ParseInt(v, 10, 64) }, between[int64](1024, math.MaxInt64), "a byte count ≥ 1024"))},
		{Name: "max-sessions", Env: "MCP_MAX_SESSIONS", Default: "1000", Usage: "most concurrent HTTP sessions", set: to(&c.MaxSessions, integer)},
		{Name: "session-idle-ttl", Env: "MCP_SESSION_IDLE_TTL", Default: "30m", Usage: "drop HTTP sessions idle this long", set: to(&c.SessionIdleTTL, duration)},
		{Name: "rate-limit", Env: "MCP_RATE_LIMIT", Default: "20", Usage: "tool calls per second per HTTP session (burst 2x; 0 = no limit)", set: to(&c.RateLimit, float("a number ≥ 0"))},
		{Name: "global-rate-limit", Env: "MCP_GLOBAL_RATE_LIMIT", Default: "0", Usage: "tool calls per second for all HTTP sessions together (0 = no limit)", set: to(&c.GlobalRateLimit, float("a number ≥ 0"))},
		{Name: "body-read-timeout", Env: "MCP_BODY_READ_TIMEOUT", Default: "30s", Usage: "time an HTTP caller has to send a request body once its headers are in; slower ones get 408 and the connection is closed", set: to(&c.BodyReadTimeout, duration)},
		{Name: "max-conns", Env: "MCP_MAX_CONNS", Default: "2048", Usage: "most open HTTP connections in total; more wait to be accepted (0 = no cap)", set: to(&c.MaxConns, integer)},
		{Name: "max-conns-per-ip", Env: "MCP_MAX_CONNS_PER_IP", Default: "128", Usage: "most open HTTP connections from one remote address; more are closed at once (0 = no cap; behind a reverse proxy every caller has the proxy's address)", set: to(&c.MaxConnsPerIP, integer)},
		{Name: "callers", Env: "MCP_CALLERS_FILE", Usage: "JSON file of HTTP callers: each with a name, the SHA-256 of their MCP bearer token, where their own Tallyfy token is, and an optional policy cap; reloaded on SIGHUP", set: to(&c.Callers, verbatim)},
		{Name: "oauth-issuer", Env: "MCP_OAUTH_ISSUER", Usage: "accept OAuth 2.1 access tokens (JWT) from this authorization server's issuer URL; keys from its discovery document. Needs --oauth-audience", set: to(&c.OAuthIssuer, verbatim)},
		{Name: "oauth-audience", Env: "MCP_OAUTH_AUDIENCE", Usage: "this server's resource URL (e.g. https://mcp.example.com/mcp): tokens must be issued for it (aud equal to it, or an array that holds it)", set: to(&c.OAuthAudience, verbatim)},
		{Name: "oauth-token-types", Env: "MCP_OAUTH_TOKEN_TYPES", Default: "at+jwt,JWT", Usage: "the JWT typ headers accepted on access tokens: at+jwt (RFC 9068) and JWT (what Keycloak, Okta, Entra ID and older Auth0 tenants send); at+jwt alone refuses ID tokens sent as access tokens", set: to(&c.OAuthTokenTypes, list)},
		{Name: "oauth-max-token-lifetime", Env: "MCP_OAUTH_MAX_TOKEN_LIFETIME", Default: "24h", Usage: "refuse access tokens whose lifetime (exp - iat) is longer", set: to(&c.OAuthMaxLifetime, duration)},
		{Name: "stateless", Env: "MCP_STATELESS", Default: "false", Usage: "serve streamable HTTP without sessions, so any replica answers any request (older clients then confirm deletes with a token)", isBool: true, set: to(&c.Stateless, boolean)},
		{Name: "state", Env: "TALLYFY_STATE", Usage: "where replicas share used confirmations and the delete budget: redis://host:port/db (rediss:// for TLS); default this process only. Needs --confirm-key-file", set: to(&c.State, verbatim)},
		{Name: "confirm-key-file", Env: "TALLYFY_CONFIRM_KEY_FILE", Usage: "file of keys (one a line, ≥32 characters; the first seals, all are accepted) that every replica seals confirm tokens with; default a random key per process", set: to(&c.ConfirmKeyFile, verbatim)},
		{Name: "otel", Env: "TALLYFY_OTEL", Default: "false", Usage: "export OpenTelemetry traces and metrics of tool calls over OTLP/HTTP, configured by the standard OTEL_* variables", isBool: true, set: to(&c.OTel, boolean)},
		{Name: "exit-with-parent", Env: "MCP_EXIT_WITH_PARENT", Default: "false", Usage: "stop (as on SIGTERM) once the process that started the server is gone, e.g. a killed test runner or supervisor; also honoured by the sandbox and check subcommands", isBool: true, set: to(&c.ExitWithParent, boolean)},
		{Name: "version", Default: "false", Usage: "print the version and exit (also: tallyfy-mcp version)", isBool: true, set: to(&c.ShowVersion, boolean)},
	}
}

// ErrHelp is returned by ParseConfig after printing --help.
var ErrHelp = flag.ErrHelp

// ParseConfig reads flags from args and, for flags not given, variables from env.
func ParseConfig(args []string, getenv func(string) string, help io.Writer) (*Config, error) {
	cfg := &Config{Getenv: getenv}
	options := optionsFor(cfg)
	for _, o := range options { // defaults first
		if o.Default != "" {
			if err := o.set(o.Default); err != nil {
				panic(o.Name + ": bad default: " + err.Error())
			}
		}
	}
	fs := flag.NewFlagSet("tallyfy-mcp", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	for _, o := range options {
		if o.isBool {
			fs.BoolFunc(o.Name, o.Usage, o.set)
		} else {
			fs.Func(o.Name, o.Usage, o.set)
		}
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			PrintHelp(help)
			return nil, ErrHelp
		}
		return nil, fmt.Errorf("%v (see --help)", err)
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected argument %q (see --help)", fs.Arg(0))
	}
	given := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
	// A file given as a flag wins over the value from the environment (flags win).
	for file, value := range map[string]string{"token-file": "access-token", "auth-token-file": "auth-token"} {
		if given[file] && given[value] {
			return nil, fmt.Errorf("--%s and --%s both given: use one", file, value)
		}
		if given[file] {
			given[value] = true // so the variable does not fill it in
		}
	}
	for _, o := range options {
		if given[o.Name] || o.Env == "" {
			continue
		}
		if v := getenv(o.Env); v != "" {
			if err := o.set(v); err != nil {
				return nil, fmt.Errorf("%s: %v", o.Env, err)
			}
		}
	}
	return cfg, cfg.validate()
}

// validate refuses the first of these, in this order, that applies. Every check is pure, so
// each is worked out up front and the list reads as the rules it is.
func (c *Config) validate() error {
	_, badLevel := ParseLevel(c.LogLevel)
	for _, err := range []error{
		refuse(!slices.Contains([]string{"stdio", "http", "sse"}, c.Transport), fmt.Errorf("--transport must be stdio, http or sse, not %q", c.Transport)),
		refuse(!slices.Contains([]string{"text", "json"}, c.LogFormat), fmt.Errorf("--log-format must be text or json, not %q", c.LogFormat)),
		badLevel,
		refuse(c.BodyReadTimeout <= 0, errors.New("--body-read-timeout must be more than 0: without it a caller can hold a connection open by sending its body slowly")),
		refuse(c.MaxConns < 0 || c.MaxConnsPerIP < 0, errors.New("--max-conns and --max-conns-per-ip must be 0 (no cap) or more")),
		refuse(c.Callers != "" && c.Transport == "stdio", errors.New("--callers needs --transport http: over stdio there is one caller, the process that started the server")),
		refuse((c.OAuthIssuer == "") != (c.OAuthAudience == ""), errors.New("--oauth-issuer and --oauth-audience go together: the authorization server, and this server's resource URL that tokens must be issued for")),
		refuse(c.ApprovalOAuthClientID != "" && c.OAuthIssuer == "", errors.New("--approval-oauth-client-id needs --oauth-issuer: approvers log in through that issuer")),
		refuse(c.OAuthIssuer != "", auth.CheckTokenTypes(c.OAuthTokenTypes)),
		refuse(c.OAuthIssuer != "" && c.OAuthMaxLifetime <= 0, errors.New("--oauth-max-token-lifetime must be more than 0, e.g. 1h or 24h")),
		refuse(c.OAuthIssuer != "" && c.Transport == "stdio", errors.New("--oauth-issuer needs --transport http: OAuth protects the HTTP transports")),
		refuse(c.State != "" && c.State != "memory" && c.ConfirmKeyFile == "", errors.New("--state needs --confirm-key-file: every replica must seal confirm tokens with the same key, or a token minted on one is refused by the others (make one with: openssl rand -hex 32 > confirm.key)")),
		refuse(c.Policy.MaxDeletesPerHour < -1, fmt.Errorf("--max-deletes-per-hour must be -1 (no cap), 0 (none) or more, not %d", c.Policy.MaxDeletesPerHour)),
		c.Policy.Validate(),
	} {
		if err != nil {
			return err
		}
	}
	return nil
}

// refuse is err when the rule applies, nil otherwise.
func refuse(applies bool, err error) error {
	if applies {
		return err
	}
	return nil
}

// readSecret returns value, or the trimmed content of file when value is empty.
func readSecret(value, file, what string) (string, error) {
	if value != "" || file == "" {
		return strings.TrimSpace(value), nil
	}
	b, err := os.ReadFile(file)
	if err != nil {
		return "", fmt.Errorf("reading %s file: %w", what, err)
	}
	s := strings.TrimSpace(string(b))
	if s == "" {
		return "", fmt.Errorf("%s file %s is empty", what, file)
	}
	return s, nil
}

// optionGroups orders --help by what a reader is setting up; TestEveryOptionHasOneHelpGroup
// keeps it in step with Options.
var optionGroups = []struct {
	Title string
	Names []string
}{
	{"Tallyfy", []string{"access-token", "token-file", "org-id", "base-url", "sandbox", "sandbox-variant", "tallyfy-rate", "tallyfy-bulk-interval", "archived-search-pages", "request-timeout"}},
	{"Policy: what agents may do", []string{"read-only", "disable-permanent-delete", "tools", "exclude-tools", "protect", "max-deletes-per-hour", "max-bulk-items", "bulk-concurrency"}},
	{"Confirmation of permanent deletes", []string{"confirm", "confirm-allow-token", "elicit-timeout", "token-ttl", "approval-timeout", "approval-browser", "approval-oauth-client-id", "approval-oauth-client-secret", "approval-key-file", "confirm-key-file"}},
	{"HTTP transports", []string{"transport", "addr", "auth-token", "auth-token-file", "tls-cert", "tls-key", "insecure-http", "allowed-origins", "allowed-hosts", "max-body-bytes", "max-sessions", "session-idle-ttl", "rate-limit", "global-rate-limit", "body-read-timeout", "max-conns", "max-conns-per-ip"}},
	{"Team and replicas", []string{"callers", "oauth-issuer", "oauth-audience", "oauth-token-types", "oauth-max-token-lifetime", "stateless", "state"}},
	{"Logs, audit and the process", []string{"log-level", "log-format", "audit-log", "tool-timeout", "shutdown-timeout", "otel", "exit-with-parent", "version"}},
}

// PrintHelp writes usage: the subcommands, then every flag with its variable and default, in groups.
func PrintHelp(w io.Writer) {
	fmt.Fprint(w, `tallyfy-mcp: an MCP server to look up, archive, restore and permanently delete
Tallyfy one-off tasks, processes and templates.

Usage:
  tallyfy-mcp [flags]                 serve MCP (stdio by default)
  tallyfy-mcp --sandbox               the same, against a built-in demo Tallyfy
  tallyfy-mcp check [--json]          check the token and organization (read-only) before
                                      wiring up an agent; see tallyfy-mcp check --help
  tallyfy-mcp audit FILE...           summarize audit logs (several replicas' files merged by
                                      time); see tallyfy-mcp audit --help
  tallyfy-mcp sandbox [--addr A]      serve only the demo Tallyfy REST API
  tallyfy-mcp approvals pubkey|verify print the approval records' public key, or check an
                                      audit log's approvals; see tallyfy-mcp approvals
  tallyfy-mcp help | version          this text; the version

Flags (each can also be set by the environment variable shown; a flag wins):
`)
	byName := map[string]Option{}
	for _, o := range Options {
		byName[o.Name] = o
	}
	for _, g := range optionGroups { // every flag is in one group (TestEveryOptionHasOneHelpGroup)
		fmt.Fprintf(w, "\n%s:\n", g.Title)
		for _, n := range g.Names {
			printOption(w, byName[n])
		}
	}
}

func printOption(w io.Writer, o Option) {
	line := "  --" + o.Name
	if !o.isBool {
		line += " value"
	}
	fmt.Fprintf(w, "%s\n      %s", line, o.Usage)
	var extra []string
	if o.Env != "" {
		extra = append(extra, "env "+o.Env)
	}
	if o.Default != "" && o.Default != "false" {
		extra = append(extra, "default "+o.Default)
	}
	if len(extra) > 0 {
		fmt.Fprintf(w, " (%s)", strings.Join(extra, ", "))
	}
	fmt.Fprintln(w)
}

// readConfirmKeys reads --confirm-key-file: one key a line (blank lines and # comments
// skipped), each at least 32 characters. The first seals new tokens; all open them, so a new
// key can be put first while the old one still opens the tokens minted a moment ago.
func readConfirmKeys(path string) ([][]byte, error) {
	if path == "" {
		return nil, nil
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("--confirm-key-file: %w", err)
	}
	var keys [][]byte
	for i, line := range strings.Split(string(b), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if len(line) < 32 {
			return nil, fmt.Errorf("--confirm-key-file %s, line %d: a key must be at least 32 characters (make one with: openssl rand -hex 32)", path, i+1)
		}
		keys = append(keys, []byte(line))
	}
	if len(keys) == 0 {
		return nil, fmt.Errorf("--confirm-key-file %s holds no key (make one with: openssl rand -hex 32)", path)
	}
	return keys, nil
}
