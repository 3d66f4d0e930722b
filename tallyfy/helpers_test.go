package tallyfy

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tallyfy-mcp/tallyfy-mcp/tallyfy/sandbox"
)

// Shared test helpers: a sandbox on loopback, recording httptest stubs, a fast client
// configuration and a table of every method that takes an ID.

// testOrg is the organization used against stubs (any well-formed ID).
const testOrg = "0123456789abcdef0123456789abcdef"

// testToken is the bearer token used against stubs.
const testToken = "stub-token-0000"

// validID is a well-formed ID that the stubs accept.
const validID = "c15bf2be31c3a7fbded5d13fce7aaab9"

// fastConfig is a client configuration whose retries cost milliseconds.
func fastConfig(base, token, org string) Config {
	return Config{
		BaseURL:        base,
		Token:          token,
		OrgID:          org,
		MaxTries:       4,
		RetryBaseDelay: time.Millisecond,
		MaxRetryAfter:  2 * time.Second,
		RequestTimeout: 5 * time.Second,
	}
}

// newTestClient builds a client from cfg (after mods) and closes its idle connections
// when the test ends.
func newTestClient(t testing.TB, cfg Config, mods ...func(*Config)) *Client {
	t.Helper()
	for _, m := range mods {
		m(&cfg)
	}
	c, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(c.cfg.HTTPClient.CloseIdleConnections)
	return c
}

// sbEnv is a sandbox served on a loopback port.
type sbEnv struct {
	sb   *sandbox.Sandbox
	base string
}

func startSandbox(t testing.TB) *sbEnv {
	t.Helper()
	sb := sandbox.New()
	base, srv, err := sandbox.Listen("127.0.0.1:0", sb)
	if err != nil {
		t.Fatalf("sandbox.Listen: %v", err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	if !strings.HasSuffix(base, "/api") {
		t.Fatalf("sandbox base URL %q does not end in /api", base)
	}
	return &sbEnv{sb: sb, base: base}
}

// admin and member return clients of the sandbox with the admin or member token.
func (e *sbEnv) admin(t testing.TB, mods ...func(*Config)) *Client {
	return newTestClient(t, fastConfig(e.base, sandbox.AdminToken, sandbox.OrgID), mods...)
}

func (e *sbEnv) member(t testing.TB, mods ...func(*Config)) *Client {
	return newTestClient(t, fastConfig(e.base, sandbox.MemberToken, sandbox.OrgID), mods...)
}

// requestsSince returns the sandbox request log entries after the first n.
func (e *sbEnv) requestsSince(n int) []string {
	log := e.sb.RequestLog()
	if n > len(log) {
		return nil
	}
	return log[n:]
}

// recorded is one request as a stub saw it.
type recorded struct {
	Method      string
	EscapedPath string
	RawQuery    string
	Header      http.Header
	BodyLen     int64
	At          time.Time
}

// stub is an httptest server that records every request before handing it to its handler.
type stub struct {
	srv *httptest.Server
	mu  sync.Mutex
	got []recorded
	n   atomic.Int64
}

func newStub(t testing.TB, h http.HandlerFunc) *stub {
	t.Helper()
	s := &stub{}
	s.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.record(r)
		h(w, r)
	}))
	t.Cleanup(s.srv.Close)
	return s
}

func (s *stub) record(r *http.Request) {
	s.n.Add(1)
	s.mu.Lock()
	s.got = append(s.got, recorded{
		Method: r.Method, EscapedPath: r.URL.EscapedPath(), RawQuery: r.URL.RawQuery,
		Header: r.Header.Clone(), BodyLen: r.ContentLength, At: time.Now(),
	})
	s.mu.Unlock()
}

// base is the stub's API root.
func (s *stub) base() string { return s.srv.URL + "/api" }

func (s *stub) requests() []recorded {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]recorded(nil), s.got...)
}

func (s *stub) reset() {
	s.mu.Lock()
	s.got = nil
	s.mu.Unlock()
	s.n.Store(0)
}

// client returns a stub client with the fast configuration.
func (s *stub) client(t testing.TB, mods ...func(*Config)) *Client {
	return newTestClient(t, fastConfig(s.base(), testToken, testOrg), mods...)
}

// reply writes status, optional headers (pairs) and body.
func reply(w http.ResponseWriter, status int, body string, headers ...string) {
	for i := 0; i+1 < len(headers); i += 2 {
		w.Header().Set(headers[i], headers[i+1])
	}
	if body != "" && w.Header().Get("Content-Type") == "" {
		w.Header().Set("Content-Type", "application/json")
	}
	w.WriteHeader(status)
	_, _ = w.Write([]byte(body))
}

// endpoint is one client method that takes an ID, and the request it must produce.
type endpoint struct {
	name       string
	kind       Kind
	method     string
	collection string
	suffix     string
	permanent  bool // a permanent delete (retried only when provably unsent)
	// lookup marks Find and Lookup: a GET of the item, then possibly the archived listing.
	lookup bool
	call   func(ctx context.Context, c *Client, id string) error
}

// path is the request path the server must see for id.
func (e endpoint) path(org, id string) string {
	p := "/api/organizations/" + org + "/" + e.collection + "/" + id
	if e.suffix != "" {
		p += "/" + e.suffix
	}
	return p
}

// listPath is the collection path (used by lookups for the archived listing).
func (e endpoint) listPath(org string) string {
	return "/api/organizations/" + org + "/" + e.collection
}

func discard[T any](_ T, err error) error { return err }

// findAs is Find with the kind's own type, for tests that read its fields.
func findAs[T any](ctx context.Context, c *Client, kind Kind, id string) (*T, error) {
	it, err := c.Find(ctx, kind, id)
	v, _ := any(it).(*T)
	return v, err
}

// idEndpoints lists every method that takes an ID: each kind's own, then the kind-generic
// changes (kindEndpoints).
var idEndpoints = append([]endpoint{
	{name: "GetTask", kind: KindTask, method: "GET", collection: "tasks",
		call: func(ctx context.Context, c *Client, id string) error { return discard(c.GetTask(ctx, id)) }},
	{name: "ArchiveTask", kind: KindTask, method: "DELETE", collection: "tasks",
		call: func(ctx context.Context, c *Client, id string) error { return c.ArchiveTask(ctx, id) }},
	{name: "RestoreTask", kind: KindTask, method: "PUT", collection: "tasks", suffix: "restore",
		call: func(ctx context.Context, c *Client, id string) error { return discard(c.RestoreTask(ctx, id)) }},
	{name: "DeleteTask", kind: KindTask, method: "DELETE", collection: "tasks", suffix: "delete", permanent: true,
		call: func(ctx context.Context, c *Client, id string) error { return c.DeleteTask(ctx, id) }},
	{name: "Find(task)", kind: KindTask, method: "GET", collection: "tasks", lookup: true,
		call: func(ctx context.Context, c *Client, id string) error {
			return discard(findAs[Task](ctx, c, KindTask, id))
		}},
	{name: "Lookup(task)", kind: KindTask, method: "GET", collection: "tasks", lookup: true,
		call: func(ctx context.Context, c *Client, id string) error { return discard(c.Lookup(ctx, KindTask, id)) }},

	{name: "GetRun", kind: KindRun, method: "GET", collection: "runs",
		call: func(ctx context.Context, c *Client, id string) error { return discard(c.GetRun(ctx, id)) }},
	{name: "ArchiveRun", kind: KindRun, method: "DELETE", collection: "runs",
		call: func(ctx context.Context, c *Client, id string) error { return discard(c.ArchiveRun(ctx, id)) }},
	{name: "ActivateRun", kind: KindRun, method: "PUT", collection: "runs", suffix: "activate",
		call: func(ctx context.Context, c *Client, id string) error { return discard(c.ActivateRun(ctx, id)) }},
	{name: "DeleteRun", kind: KindRun, method: "DELETE", collection: "runs", suffix: "delete", permanent: true,
		call: func(ctx context.Context, c *Client, id string) error { return c.DeleteRun(ctx, id) }},
	{name: "Find(run)", kind: KindRun, method: "GET", collection: "runs", lookup: true,
		call: func(ctx context.Context, c *Client, id string) error {
			return discard(findAs[Run](ctx, c, KindRun, id))
		}},
	{name: "Lookup(run)", kind: KindRun, method: "GET", collection: "runs", lookup: true,
		call: func(ctx context.Context, c *Client, id string) error { return discard(c.Lookup(ctx, KindRun, id)) }},

	{name: "GetTemplate", kind: KindTemplate, method: "GET", collection: "checklists",
		call: func(ctx context.Context, c *Client, id string) error { return discard(c.GetTemplate(ctx, id)) }},
	{name: "ArchiveTemplate", kind: KindTemplate, method: "DELETE", collection: "checklists",
		call: func(ctx context.Context, c *Client, id string) error { return discard(c.ArchiveTemplate(ctx, id)) }},
	{name: "RestoreTemplate", kind: KindTemplate, method: "PUT", collection: "checklists", suffix: "restore",
		call: func(ctx context.Context, c *Client, id string) error { return discard(c.RestoreTemplate(ctx, id)) }},
	{name: "DeleteTemplate", kind: KindTemplate, method: "DELETE", collection: "checklists", suffix: "delete", permanent: true,
		call: func(ctx context.Context, c *Client, id string) error { return discard(c.DeleteTemplate(ctx, id)) }},
	{name: "Find(template)", kind: KindTemplate, method: "GET", collection: "checklists", lookup: true,
		call: func(ctx context.Context, c *Client, id string) error {
			return discard(findAs[Template](ctx, c, KindTemplate, id))
		}},
	{name: "Lookup(template)", kind: KindTemplate, method: "GET", collection: "checklists", lookup: true,
		call: func(ctx context.Context, c *Client, id string) error { return discard(c.Lookup(ctx, KindTemplate, id)) }},
}, kindEndpoints()...)

// kindEndpoints are the kind-generic Archive, Restore and Delete: each reaches its kind's endpoint.
func kindEndpoints() []endpoint {
	var out []endpoint
	for _, k := range []struct {
		kind                Kind
		collection, restore string
	}{{KindTask, "tasks", "restore"}, {KindRun, "runs", "activate"}, {KindTemplate, "checklists", "restore"}} {
		out = append(out,
			endpoint{name: "Archive(" + string(k.kind) + ")", kind: k.kind, method: "DELETE", collection: k.collection,
				call: func(ctx context.Context, c *Client, id string) error { return discard(c.Archive(ctx, k.kind, id)) }},
			endpoint{name: "Restore(" + string(k.kind) + ")", kind: k.kind, method: "PUT", collection: k.collection, suffix: k.restore,
				call: func(ctx context.Context, c *Client, id string) error { return discard(c.Restore(ctx, k.kind, id)) }},
			endpoint{name: "Delete(" + string(k.kind) + ")", kind: k.kind, method: "DELETE", collection: k.collection, suffix: "delete", permanent: true,
				call: func(ctx context.Context, c *Client, id string) error { return c.Delete(ctx, k.kind, id) }})
	}
	return out
}

// asAPIError returns the *APIError in err's chain or fails the test.
func asAPIError(t testing.TB, err error) *APIError {
	t.Helper()
	var ae *APIError
	if !errors.As(err, &ae) {
		t.Fatalf("error %v (%T) is not an *APIError", err, err)
	}
	return ae
}

// asResponseError returns the *ResponseError in err's chain or fails the test.
func asResponseError(t testing.TB, err error) *ResponseError {
	t.Helper()
	var re *ResponseError
	if !errors.As(err, &re) {
		t.Fatalf("error %v (%T) is not a *ResponseError", err, err)
	}
	return re
}

// asTransportError returns the *TransportError in err's chain or fails the test.
func asTransportError(t testing.TB, err error) *TransportError {
	t.Helper()
	var te *TransportError
	if !errors.As(err, &te) {
		t.Fatalf("error %v (%T) is not a *TransportError", err, err)
	}
	return te
}

// retryLog records OnRetry calls.
type retryLog struct {
	mu    sync.Mutex
	calls []retryCall
}

type retryCall struct {
	method, path string
	attempt      int
	err          error
	wait         time.Duration
}

func (l *retryLog) hook(method, path string, attempt int, err error, wait time.Duration) {
	l.mu.Lock()
	l.calls = append(l.calls, retryCall{method, path, attempt, err, wait})
	l.mu.Unlock()
}

func (l *retryLog) get() []retryCall {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]retryCall(nil), l.calls...)
}

// withRetryLog installs l as OnRetry.
func withRetryLog(l *retryLog) func(*Config) {
	return func(c *Config) { c.OnRetry = l.hook }
}

func withMaxTries(n int) func(*Config) { return func(c *Config) { c.MaxTries = n } }

// sandboxFaults parses a fault spec (see sandbox.ParseFaults).
func sandboxFaults(spec string) ([]sandbox.Fault, error) { return sandbox.ParseFaults(spec) }

// setFaults parses spec and installs it on the sandbox, failing the test on a bad spec.
func (e *sbEnv) setFaults(t testing.TB, spec string) {
	t.Helper()
	f, err := sandbox.ParseFaults(spec)
	if err != nil {
		t.Fatalf("ParseFaults(%q): %v", spec, err)
	}
	e.sb.SetFaults(f...)
}

// sandboxIDs returns the seeded ids.
func sandboxIDs() sandbox.SeededIDs {
	return sandbox.IDs
}

// listMyOrganizations reads one page of 100 of the user's organizations as GetMembership does.
func listMyOrganizations(ctx context.Context, c *Client, page int) (*Page[Membership], error) {
	const p = "/me/organizations"
	r, err := c.do(ctx, http.MethodGet, p, url.Values{"page": {strconv.Itoa(page)}, "per_page": {"100"}}, retrySafe)
	if err != nil {
		return nil, err
	}
	out, err := decodePage[Membership, membershipWire](r, p, page, 100)
	if err == nil {
		reportItems(ctx, c, "organizations[].", out.Items)
	}
	return out, err
}
