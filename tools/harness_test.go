package tools_test

import (
	"context"
	"crypto/md5"
	"encoding/hex"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mark3labs/mcp-go/client"
	"github.com/mark3labs/mcp-go/mcp"
	mcpserver "github.com/mark3labs/mcp-go/server"

	"github.com/tallyfy-mcp/tallyfy-mcp/server"
	"github.com/tallyfy-mcp/tallyfy-mcp/tallyfy"
	"github.com/tallyfy-mcp/tallyfy-mcp/tallyfy/sandbox"
	"github.com/tallyfy-mcp/tallyfy-mcp/tools"
	"github.com/tallyfy-mcp/tallyfy-mcp/tools/audit"
)

// The breadth suite drives every tool through the MCP protocol: an in-process mcp-go client
// talks to the server built exactly as production builds it (server.NewMCPServer), whose
// real Tallyfy HTTP client talks to a sandbox served on loopback.

// protocol is one protocol era the tests run at.
type protocol struct {
	name    string
	version string // "" = the client's default (2026-07-28)
}

var protocols = []protocol{
	{name: "legacy-2025-11-25", version: mcp.ProtocolVersion20251125},
	{name: "modern-2026-07-28", version: ""},
}

// forEachProtocol runs f as a parallel subtest at both protocol versions.
func forEachProtocol(t *testing.T, f func(t *testing.T, p protocol)) {
	t.Helper()
	for _, p := range protocols {
		t.Run(p.name, func(t *testing.T) {
			t.Parallel()
			f(t, p)
		})
	}
}

// fakeClock is real time plus an offset the test can move forward: durations stay real,
// expiries and budgets can be jumped over.
type fakeClock struct {
	mu     sync.Mutex
	offset time.Duration
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Now().Add(c.offset)
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.offset += d
	c.mu.Unlock()
}

// recorder captures audit records.
type recorder struct {
	mu   sync.Mutex
	recs []audit.Record
}

func (r *recorder) Record(_ context.Context, rec audit.Record) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.recs = append(r.recs, rec)
	return nil
}

func (r *recorder) clear() {
	r.mu.Lock()
	r.recs = nil
	r.mu.Unlock()
}

func (r *recorder) all() []audit.Record {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.recs)
}

// outcomes is all() without the intent records written before a call acts and the signed
// approval records of confirmations: one record per call.
func (r *recorder) outcomes() []audit.Record {
	return slices.DeleteFunc(r.all(), func(rec audit.Record) bool { return rec.Outcome == "intent" || rec.Outcome == "approval" })
}

// approvals is the signed approval records only.
func (r *recorder) approvals() []audit.Record {
	return slices.DeleteFunc(r.all(), func(rec audit.Record) bool { return rec.Outcome != "approval" })
}

// intents is the intent records only.
func (r *recorder) intents() []audit.Record {
	return slices.DeleteFunc(r.all(), func(rec audit.Record) bool { return rec.Outcome != "intent" })
}

// decisions is outcomes() without the records of 2026-07-28 multi-round-trip asks (the first
// call of an elicitation, answered by the client with a second call): one record per outcome.
func (r *recorder) decisions() []audit.Record {
	return slices.DeleteFunc(r.outcomes(), func(rec audit.Record) bool {
		return rec.Outcome == "confirmation_required" && rec.Confirmation == "elicitation"
	})
}

// checkIntents holds for every call of a test: a call that changed something ("ok" after an
// action) wrote its intent record first, and every intent is followed by exactly one outcome
// record of the same call (same tool, resource, session and start time).
func (r *recorder) checkIntents(t *testing.T) {
	t.Helper()
	type key struct{ tool, id, session, time string }
	open := map[key]int{}
	for i, rec := range r.all() {
		k := key{rec.Tool, rec.ResourceID, rec.Session, rec.Time}
		switch {
		case rec.Outcome == "approval": // a confirmation's own record, between intent and outcome or before
		case rec.Outcome == "intent":
			if open[k] != 0 {
				t.Errorf("audit record %d: a second intent for one call: %+v", i, rec)
			}
			open[k]++
		case open[k] > 0:
			delete(open, k)
		case rec.Outcome == "ok": // "ok" is only ever a change (unchanged is "noop")
			t.Errorf("audit record %d: a change with no intent record before it: %+v", i, rec)
		}
	}
	for k := range open {
		t.Errorf("an intent record with no outcome record after it: %+v", k)
	}
}

// config is what a harness is built from.
type config struct {
	opts       tools.Options
	token      string
	maxTries   int
	proto      string
	elicit     client.ElicitationHandler
	clientName string
	wrap       func(http.Handler) http.Handler // around the sandbox, for faults it cannot inject
	sandbox    []sandbox.Option
}

type option func(*config)

func withPolicy(p tools.Policy) option { return func(c *config) { c.opts.Policy = p } }
func withConfirm(m tools.ConfirmMode) option {
	return func(c *config) { c.opts.Confirm = m }
}
func withToken(tok string) option { return func(c *config) { c.token = tok } }

// withAllowToken is --confirm-allow-token: auto may fall back to the token flow.
func withAllowToken() option      { return func(c *config) { c.opts.AllowToken = true } }
func withMaxTries(n int) option   { return func(c *config) { c.maxTries = n } }
func withProto(p protocol) option { return func(c *config) { c.proto = p.version } }
func withElicit(h client.ElicitationHandler) option {
	return func(c *config) { c.elicit = h }
}
func withElicitTimeout(d time.Duration) option {
	return func(c *config) { c.opts.ElicitTimeout = d }
}
func withRecorder(r audit.Recorder) option   { return func(c *config) { c.opts.Audit = r } }
func withBudget(b tools.DeleteBudget) option { return func(c *config) { c.opts.Budget = b } }
func withBulkConcurrency(n int) option       { return func(c *config) { c.opts.BulkConcurrency = n } }
func withSandbox(o ...sandbox.Option) option {
	return func(c *config) { c.sandbox = append(c.sandbox, o...) }
}
func withWrap(w func(http.Handler) http.Handler) option {
	return func(c *config) { c.wrap = w }
}

// harness is one server (with its sandbox) and one connected client.
type harness struct {
	t     *testing.T
	sb    *sandbox.Sandbox
	url   string
	ts    *tools.Toolset
	srv   *mcpserver.MCPServer
	c     *client.Client
	audit *recorder
	clock *fakeClock
	cfg   config
	// secret is the Tallyfy access token the server uses: it must never show in a result.
	secret string
}

const testClientName, testClientVersion = "breadth-test", "9.8.7"

func newHarness(t *testing.T, opts ...option) *harness {
	t.Helper()
	cfg := config{token: sandbox.AdminToken, maxTries: 2, clientName: testClientName}
	cfg.opts.Policy.MaxDeletesPerHour = -1 // no cap unless a test sets one
	cfg.opts.Confirm = tools.ConfirmToken
	for _, o := range opts {
		o(&cfg)
	}
	h := &harness{t: t, sb: sandbox.New(cfg.sandbox...), clock: &fakeClock{}, cfg: cfg, secret: cfg.token}
	var handler http.Handler = h.sb
	if cfg.wrap != nil {
		handler = cfg.wrap(h.sb)
	}
	url, hs, err := sandbox.Listen("127.0.0.1:0", handler)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = hs.Close() })
	h.url = url
	tc, err := tallyfy.New(tallyfy.Config{BaseURL: url, Token: cfg.token, OrgID: sandbox.OrgID,
		MaxTries: cfg.maxTries, RetryBaseDelay: 5 * time.Millisecond, RequestTimeout: 5 * time.Second,
		// A 429's Retry-After up to this holds every later call of the test (tallyfy/pacing.go):
		// short, so that tests injecting longer ones get their answer at once.
		MaxRetryAfter: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	h.audit = &recorder{}
	o := cfg.opts
	o.Client = tc
	o.Now = h.clock.Now
	if o.Audit == nil {
		o.Audit = h.audit
	}
	h.ts, err = tools.New(o)
	if err != nil {
		t.Fatal(err)
	}
	if o.Audit == h.audit {
		t.Cleanup(func() { h.audit.checkIntents(t) })
	}
	h.srv = server.NewMCPServer(h.ts, "test", 2*time.Minute, 3*time.Minute, slog.New(slog.NewTextHandler(io.Discard, nil)))
	h.c = h.connect(cfg.proto, cfg.elicit, cfg.clientName)
	return h
}

// connect opens another client session on the same server.
func (h *harness) connect(proto string, eh client.ElicitationHandler, name string, extra ...client.ClientOption) *client.Client {
	h.t.Helper()
	copts := slices.Clone(extra)
	if proto != "" {
		copts = append(copts, client.WithProtocolVersion(proto))
	}
	if eh != nil {
		copts = append(copts, client.WithElicitationHandler(eh))
	}
	c, err := client.NewInProcessClientWithOptions(h.srv, copts...)
	if err != nil {
		h.t.Fatal(err)
	}
	h.t.Cleanup(func() { _ = c.Close() })
	ctx := context.Background()
	if err := c.Start(ctx); err != nil {
		h.t.Fatal(err)
	}
	init := mcp.InitializeRequest{}
	init.Params.ClientInfo = mcp.Implementation{Name: name, Version: testClientVersion}
	ir, err := c.Initialize(ctx, init)
	if err != nil {
		h.t.Fatal(err)
	}
	want := proto
	if want == "" {
		want = mcp.LATEST_PROTOCOL_VERSION
	}
	if ir.ProtocolVersion != want {
		h.t.Fatalf("negotiated protocol %q, want %q", ir.ProtocolVersion, want)
	}
	return c
}

// api is a second, independent Tallyfy client on the same sandbox, for setting up and
// changing state behind the server's back.
func (h *harness) api() *tallyfy.Client {
	h.t.Helper()
	c, err := tallyfy.New(tallyfy.Config{BaseURL: h.url, Token: sandbox.AdminToken, OrgID: sandbox.OrgID})
	if err != nil {
		h.t.Fatal(err)
	}
	return c
}

// result is one tool call's answer, with convenient views.
type result struct {
	res  *mcp.CallToolResult
	err  error // JSON-RPC / protocol error
	text string
	raw  json.RawMessage // structuredContent as JSON
}

// call calls a tool on the harness's main client.
func (h *harness) call(name string, args map[string]any) result {
	h.t.Helper()
	return h.callWith(h.c, name, args)
}

func (h *harness) callWith(c *client.Client, name string, args any) result {
	h.t.Helper()
	req := mcp.CallToolRequest{}
	req.Params.Name = name
	if m, isMap := args.(map[string]any); !isMap || m != nil {
		req.Params.Arguments = args
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	res, err := c.CallTool(ctx, req)
	r := result{res: res, err: err}
	if res != nil {
		var texts []string
		for _, ct := range res.Content {
			if tc, ok := ct.(mcp.TextContent); ok {
				texts = append(texts, tc.Text)
			}
		}
		r.text = strings.Join(texts, "\n")
		if res.StructuredContent != nil {
			r.raw, _ = json.Marshal(res.StructuredContent)
		}
		for _, s := range []string{r.text, string(r.raw)} {
			if strings.Contains(s, h.secret) || strings.Contains(s, sandbox.AdminToken) || strings.Contains(s, sandbox.MemberToken) {
				h.t.Errorf("%s: result contains an access token: %s", name, s)
			}
		}
	}
	return r
}

// ok asserts a successful, non-error tool result and returns it.
func (r result) ok(t *testing.T) result {
	t.Helper()
	if r.err != nil {
		t.Fatalf("protocol error: %v", r.err)
	}
	if r.res.IsError {
		t.Fatalf("unexpected isError result: %s", r.text)
	}
	if r.text == "" {
		t.Fatalf("result has no text content")
	}
	if r.raw == nil {
		t.Fatalf("result has no structuredContent; text: %s", r.text)
	}
	return r
}

// failed asserts an isError tool result (not a JSON-RPC error) whose text contains every
// fragment (case-insensitive), and returns it.
func (r result) failed(t *testing.T, fragments ...string) result {
	t.Helper()
	if r.err != nil {
		t.Fatalf("want an isError result, got a protocol error: %v", r.err)
	}
	if !r.res.IsError {
		t.Fatalf("want isError, got success: %s", r.text)
	}
	for _, f := range fragments {
		if !strings.Contains(strings.ToLower(r.text), strings.ToLower(f)) {
			t.Errorf("error text lacks %q:\n%s", f, r.text)
		}
	}
	if strings.Contains(r.text, "&{") || strings.Contains(r.text, "Go struct") {
		t.Errorf("error text shows Go internals: %s", r.text)
	}
	if missingStop.MatchString(r.text) {
		t.Errorf("a sentence runs into the next: %s", r.text)
	}
	return r
}

// missingStop finds "…must be 1 or more Nothing was changed": a sentence without its full stop.
var missingStop = regexp.MustCompile(`[a-z0-9)"'] (Nothing|Find|Call|Use|Archive|Try|Check)\b`)

// decode unmarshals structuredContent strictly into v.
func decode[T any](t *testing.T, r result) T {
	t.Helper()
	var v T
	dec := json.NewDecoder(strings.NewReader(string(r.raw)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&v); err != nil {
		t.Fatalf("structuredContent does not decode into %T: %v\n%s", v, err, r.raw)
	}
	return v
}

// contains asserts s contains every fragment.
func contains(t *testing.T, what, s string, fragments ...string) {
	t.Helper()
	for _, f := range fragments {
		if !strings.Contains(s, f) {
			t.Errorf("%s lacks %q:\n%s", what, f, s)
		}
	}
}

// record lookups.
func (h *harness) lookup(kind, id string) sandbox.Record {
	h.t.Helper()
	r, ok := h.sb.Lookup(kind, id)
	if !ok {
		h.t.Fatalf("sandbox: %s %s does not exist", kind, id)
	}
	return r
}

func (h *harness) gone(kind, id string) bool {
	_, ok := h.sb.Lookup(kind, id)
	return !ok
}

// writes returns the write requests (anything but GET) in the sandbox log since mark.
func (h *harness) writesSince(mark int) []string {
	var out []string
	for _, l := range h.sb.RequestLog()[mark:] {
		if !strings.HasPrefix(l, http.MethodGet+" ") {
			out = append(out, l)
		}
	}
	return out
}

func (h *harness) logLen() int { return len(h.sb.RequestLog()) }

// kinds describes each resource kind's tools and seeded IDs.
type kindInfo struct {
	kind                             string
	idArg                            string
	get, list, archive, restore, del string
	live, archived                   string
	other                            string // a second live item
	listKey                          string // key of the items array in list results
}

var kinds = []kindInfo{
	{kind: "task", idArg: "task_id", get: "get_task", list: "list_tasks", archive: "archive_task", restore: "restore_task", del: "delete_task",
		live: sandbox.IDs.LiveTask, archived: sandbox.IDs.ArchivedTask, other: seedID("task", "order-team-lunch"), listKey: "tasks"},
	{kind: "run", idArg: "run_id", get: "get_run", list: "list_runs", archive: "archive_run", restore: "activate_run", del: "delete_run",
		live: sandbox.IDs.ActiveRun, archived: sandbox.IDs.ArchivedRun, other: sandbox.IDs.CompleteRun, listKey: "runs"},
	{kind: "template", idArg: "template_id", get: "get_template", list: "list_templates", archive: "archive_template", restore: "restore_template", del: "delete_template",
		live: sandbox.IDs.LiveTemplate, archived: sandbox.IDs.ArchivedTemplate, other: seedID("template", "vendor-invoice-approval"), listKey: "templates"},
}

// seedID is how the sandbox derives the IDs of its seed records: hex(md5("<kind>:<slug>")).
func seedID(kind, slug string) string {
	sum := md5.Sum([]byte(kind + ":" + slug))
	return hex.EncodeToString(sum[:])
}

// reset puts the sandbox back to its seed (data, request log, no faults), forgets the audit
// records and moves the clock two hours on, so tokens and delete budgets of earlier cases
// no longer count. Building a server is the costly part of a harness: sequential cases
// with the same options share one and reset between them.
func (h *harness) reset() {
	h.sb.SetFaults()
	h.sb.SetVariants()
	h.sb.Reset()
	h.audit.clear()
	h.clock.Advance(2 * time.Hour)
}

// run runs f as a sequential subtest of t on this harness, reset first.
func (h *harness) run(t *testing.T, name string, f func(t *testing.T)) {
	t.Helper()
	h.reset()
	t.Run(name, func(t *testing.T) {
		parent := h.t
		h.t = t
		defer func() { h.t = parent }()
		f(t)
	})
}

// eachKind runs f for every kind as sequential subtests of t on this harness, reset first.
func (h *harness) eachKind(t *testing.T, f func(t *testing.T, h *harness, k kindInfo)) {
	t.Helper()
	for _, k := range kinds {
		h.reset()
		t.Run(k.kind, func(t *testing.T) {
			parent := h.t
			h.t = t
			defer func() { h.t = parent }()
			f(t, h, k)
		})
	}
}

// perKind runs f for every kind at both protocols: one harness (built with opts) per
// protocol, the kinds one after another on it.
func perKind(t *testing.T, opts []option, f func(t *testing.T, h *harness, k kindInfo)) {
	t.Helper()
	forEachProtocol(t, func(t *testing.T, p protocol) {
		h := newHarness(t, append([]option{withProto(p)}, opts...)...)
		h.eachKind(t, f)
	})
}

// perKindInModes runs perKind once per confirm mode, as parallel subtests named for the mode.
func perKindInModes(t *testing.T, modes []tools.ConfirmMode, f func(t *testing.T, h *harness, k kindInfo, mode tools.ConfirmMode)) {
	t.Helper()
	for _, mode := range modes {
		t.Run(string(mode), func(t *testing.T) {
			t.Parallel()
			opts := []option{withConfirm(mode)}
			if mode == tools.ConfirmAuto {
				// auto with --confirm-allow-token: the fallback these tests exercise where the
				// client cannot ask (without it, auto refuses: TestHonestDefaults).
				opts = append(opts, withAllowToken())
			}
			perKind(t, opts, func(t *testing.T, h *harness, k kindInfo) { f(t, h, k, mode) })
		})
	}
}

func kindOf(tool string) kindInfo {
	for _, k := range kinds {
		if slices.Contains([]string{k.get, k.list, k.archive, k.restore, k.del}, tool) {
			return k
		}
	}
	panic("no kind for " + tool)
}

// touchArchived restores and archives again a kind's archived item, through the API behind
// the server's back: it stays archived, with a new last update.
func (h *harness) touchArchived(ctx context.Context, k kindInfo) error {
	api := h.api()
	_, err := api.Restore(ctx, tallyfy.Kind(k.kind), k.archived)
	if err == nil {
		_, err = api.Archive(ctx, tallyfy.Kind(k.kind), k.archived)
	}
	return err
}
