package server

import (
	"io"
	"log/slog"
	"net/http"

	"github.com/tallyfy-mcp/tallyfy-mcp/preflight"
	"github.com/tallyfy-mcp/tallyfy-mcp/tallyfy"
)

// CheckSetup is how `tallyfy-mcp check` (preflight.Command) reads the server's flags: it runs
// against the Tallyfy clients the server would build, logging to stderr as the server would.
func CheckSetup(getenv func(string) string, stderr io.Writer) preflight.ParseSetup {
	return func(args []string) (*preflight.Setup, error) {
		cfg, err := ParseConfig(args, getenv, io.Discard)
		if err != nil {
			return nil, err
		}
		open := func(hc *http.Client) (*preflight.Targets, error) {
			// The callers file names environment variables holding callers' tokens: they are
			// read as the server reads them, through cfg.Getenv (ParseConfig's getenv).
			app := &App{Config: cfg, Logger: NewLogger(stderr, cfg.LogLevel, cfg.LogFormat)}
			t := &preflight.Targets{Close: app.Close}
			client, err := app.tallyfyClient(func(c *tallyfy.Config) {
				c.HTTPClient = hc
				// The report names every odd field itself; no warning log on top.
				c.Logger = slog.New(slog.DiscardHandler)
			})
			if err != nil {
				return t, err
			}
			if app.ownToken || app.Callers == nil {
				t.Own = client
			}
			if app.Callers != nil {
				t.Callers = app.Callers.List()
			}
			return t, nil
		}
		return &preflight.Setup{Warnings: sandboxWarnings(cfg), Deadline: cfg.ToolTimeout, BaseURL: cfg.BaseURL, OrgID: cfg.OrgID, Open: open}, nil
	}
}

// sandboxWarnings names what --sandbox ignores, so that a token or organization set beside it
// is never taken as checked.
func sandboxWarnings(cfg *Config) []string {
	if !cfg.Sandbox {
		return nil
	}
	var out []string
	ignored := func(what string) {
		out = append(out, "--sandbox: "+what+" is set but was ignored and NOT checked: this check ran against the built-in demo sandbox with its own admin token. Run without --sandbox to check it.")
	}
	if cfg.AccessToken != "" || cfg.TokenFile != "" {
		ignored("the Tallyfy token (TALLYFY_ACCESS_TOKEN or --token-file)")
	}
	if cfg.OrgID != "" {
		ignored("the organization (TALLYFY_ORG_ID or --org-id)")
	}
	if cfg.BaseURL != "" && cfg.BaseURL != tallyfy.DefaultBaseURL {
		ignored("the base URL (TALLYFY_BASE_URL or --base-url)")
	}
	if cfg.Callers != "" {
		out = append(out, "--sandbox: the callers' Tallyfy tokens are checked against the built-in demo sandbox, not against Tallyfy")
	}
	return out
}
