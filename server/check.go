package server

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"

	"github.com/tallyfy-mcp/tallyfy-mcp/preflight"
	"github.com/tallyfy-mcp/tallyfy-mcp/tallyfy"
)

// RunCheck is the `check` subcommand: it checks the configured token and organization with
// GET requests only and prints one ✓/✗ line per check (or, with --json, one JSON object) on
// stdout. It returns the exit status: 0 when every check passed, 1 when one failed, 2 for
// bad flags.
func RunCheck(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	asJSON := false
	var rest []string
	for _, a := range args {
		switch a {
		case "--json", "-json", "--json=true", "-json=true":
			asJSON = true
		case "--json=false", "-json=false":
			asJSON = false
		case "--help", "-help", "-h":
			printCheckHelp(stderr)
			return 0
		default:
			rest = append(rest, a)
		}
	}
	cfg, err := ParseConfig(rest, getenv, io.Discard)
	if err != nil {
		fmt.Fprintln(stderr, "tallyfy-mcp check:", strings.Replace(err.Error(), "(see --help)", "(see tallyfy-mcp check --help)", 1))
		return 2
	}
	logger := NewLogger(stderr, cfg.LogLevel, cfg.LogFormat)
	app := &App{Config: cfg, Logger: logger}
	defer app.Close()
	client, err := app.tallyfyClient(func(c *tallyfy.Config) {
		c.HTTPClient = readOnlyHTTPClient()
		// The report names every odd field itself; no warning log on top.
		c.Logger = slog.New(slog.DiscardHandler)
	})
	var rep *preflight.Report
	if err != nil {
		rep = configFailure(cfg, err)
	} else {
		if cfg.ToolTimeout > 0 {
			var cancel context.CancelFunc
			ctx, cancel = context.WithTimeout(ctx, cfg.ToolTimeout)
			defer cancel()
		}
		rep = preflight.Run(ctx, client)
	}
	if asJSON {
		err = rep.WriteJSON(stdout)
	} else {
		err = rep.WriteText(stdout)
	}
	if err != nil {
		fmt.Fprintln(stderr, "tallyfy-mcp check: writing the report:", err)
		return 1
	}
	if !rep.OK {
		return 1
	}
	return 0
}

// configFailure is the report of a configuration that cannot make a client (no token, a bad
// organization ID or base URL): one failed check that says what to set.
func configFailure(cfg *Config, err error) *preflight.Report {
	return &preflight.Report{BaseURL: cfg.BaseURL, OrgID: cfg.OrgID, Checks: []preflight.Check{{
		Name: "configuration", Status: preflight.StatusFail,
		Message: strings.TrimPrefix(err.Error(), "tallyfy: "),
		Fix:     "set TALLYFY_ACCESS_TOKEN (or --token-file), TALLYFY_ORG_ID and, if needed, TALLYFY_BASE_URL, then run tallyfy-mcp check again",
	}}}
}

// readOnlyTransport refuses every request but GET and HEAD before it leaves the process, so
// the check cannot write whatever the client is asked to do.
type readOnlyTransport struct{ next http.RoundTripper }

func (t readOnlyTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		if r.Body != nil {
			_ = r.Body.Close()
		}
		return nil, errors.New("tallyfy-mcp check sends only GET requests; refused " + r.Method)
	}
	return t.next.RoundTrip(r)
}

func readOnlyHTTPClient() *http.Client {
	hc := tallyfy.NewHTTPClient()
	hc.Transport = readOnlyTransport{next: hc.Transport}
	return hc
}

func printCheckHelp(w io.Writer) {
	fmt.Fprint(w, `tallyfy-mcp check [--json] [flags]: check a Tallyfy token and organization before wiring
up an agent. It sends only GET requests: it verifies the token (GET /me), the membership of
the organization and your role (GET /me/organizations), reads one page of the one-off task,
process and template listings with archived items, names any field in an undocumented shape,
and shows the rate-limit headers Tallyfy sent. One ✓/✗ line per check on stdout; exit 1 if
any check failed. The token is never printed.

  --json   one JSON object instead of lines
  --sandbox, --access-token, --token-file, --org-id, --base-url, --request-timeout and
  --tool-timeout (the whole check's deadline) work as for the server, with the same variables
  (TALLYFY_ACCESS_TOKEN, TALLYFY_ORG_ID, TALLYFY_BASE_URL, …). See tallyfy-mcp --help.
`)
}
