package server

// Shared fixtures of the server's in-process tests: an app served over httptest exactly as
// production builds it. The clients, the spying sandbox and the call helpers come from
// internal/testkit, which the black-box tests in internal/blackbox use too; the short names
// below keep the tests here readable.

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/mark3labs/mcp-go/client"

	"github.com/tallyfy-mcp/tallyfy-mcp/internal/harness"
	"github.com/tallyfy-mcp/tallyfy-mcp/internal/testkit"
	"github.com/tallyfy-mcp/tallyfy-mcp/server/mcphttp"
	"github.com/tallyfy-mcp/tallyfy-mcp/tallyfy/sandbox"
)

// logBuffer is a goroutine-safe writer the app's logger writes to.
type logBuffer = harness.Buffer

type spySandbox = testkit.SpySandbox

const (
	kindStreamable = testkit.Streamable
	kindSSE        = testkit.SSE
	initBody       = testkit.InitBody
)

var (
	legacyEra     = testkit.Legacy
	modernEra     = testkit.Modern
	eras          = testkit.Eras
	quiet         = testkit.Quiet
	newSpySandbox = testkit.NewSpySandbox
	modernClient  = testkit.ModernClient
	ctxT          = testkit.Context
	call          = testkit.Call
	mustCall      = testkit.MustCall
	text          = testkit.Text
	structured    = testkit.Structured
	field         = testkit.Field
	toolNames     = testkit.ToolNames
	eventually    = testkit.Eventually
	rawPost       = testkit.RawPost
	do            = testkit.Do
	waitHealthy   = testkit.WaitHealthy
	auditRecords  = testkit.AuditRecords
	sha           = testkit.TokenSHA256
	writeCallers  = testkit.WriteCallers
)

// ---------------------------------------------------------------------------
// The app over HTTP.

type fixture struct {
	App  *App
	H    *mcphttp.Server
	TS   *httptest.Server
	URL  string
	Logs *logBuffer
	SB   *spySandbox // nil with --sandbox
}

type fixtureOpts struct {
	spy  bool   // use a spySandbox instead of --sandbox
	auth string // caller token
}

// newFixture builds the app with ParseConfig + New + NewHTTPServer, as production does, and
// serves it with httptest. Logs are captured at debug level.
func newFixture(t testing.TB, o fixtureOpts, args ...string) *fixture {
	t.Helper()
	f := &fixture{Logs: &logBuffer{}}
	env := map[string]string{}
	all := []string{"--transport", "http", "--log-level", "debug"}
	if o.spy {
		f.SB = newSpySandbox(t)
		env["TALLYFY_ACCESS_TOKEN"] = sandbox.AdminToken
		all = append(all, "--base-url", f.SB.URL, "--org-id", sandbox.OrgID)
	} else {
		all = append(all, "--sandbox")
	}
	all = append(all, args...)
	f.serve(t, all, func(k string) string { return env[k] }, o.auth)
	return f
}

// serve builds the app from the command line all and the environment getenv, with
// ParseConfig + New + NewHTTPServer as production does, and serves it with httptest until
// the test ends.
func (f *fixture) serve(t testing.TB, all []string, getenv func(string) string, auth string) {
	t.Helper()
	cfg, err := ParseConfig(all, getenv, io.Discard)
	if err != nil {
		t.Fatalf("ParseConfig(%q): %v", all, err)
	}
	cfg.Version = "test"
	app, err := New(cfg, NewLogger(f.Logs, cfg.LogLevel, cfg.LogFormat))
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	f.App = app
	f.H = NewHTTPServer(app, auth)
	f.TS = httptest.NewServer(f.H.Handler)
	f.URL = f.TS.URL
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		f.H.CloseStreams(ctx)
		f.TS.CloseClientConnections()
		f.TS.Close()
		_ = app.Close()
	})
}

// serveQuiet builds the app from the command line all, with tokenEnv the one environment
// variable set (to token), logging nowhere, and serves it with httptest until the test ends.
func serveQuiet(t testing.TB, all []string, tokenEnv, token string) *httptest.Server {
	t.Helper()
	cfg, err := ParseConfig(all, func(k string) string {
		if k == tokenEnv {
			return token
		}
		return ""
	}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	app, err := New(cfg, quiet)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = app.Close() })
	ts := httptest.NewServer(NewHTTPServer(app, "").Handler)
	t.Cleanup(ts.Close)
	return ts
}

// ---------------------------------------------------------------------------
// Clients.

type clientOpts struct {
	era     testkit.Era
	headers map[string]string
	elicit  client.ElicitationHandler
	http    *http.Client
}

func (o clientOpts) kit() testkit.ClientOpts {
	return testkit.ClientOpts{Era: o.era, Headers: o.headers, Elicit: o.elicit, HTTP: o.http}
}

// connectHTTP opens and initializes an mcp-go client on /mcp or /sse of baseURL.
func connectHTTP(t testing.TB, kind, baseURL string, o clientOpts) *client.Client {
	t.Helper()
	return testkit.ConnectHTTP(t, kind, baseURL, o.kit())
}

// dialHTTP is connectHTTP returning the error.
func dialHTTP(kind, baseURL string, o clientOpts) (*client.Client, error) {
	return testkit.DialHTTP(kind, baseURL, o.kit())
}
