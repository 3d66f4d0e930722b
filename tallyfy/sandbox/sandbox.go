// Package sandbox is an in-memory fake of the Tallyfy REST API, served as an
// http.Handler. It follows docs/tallyfy-api.md: the documented
// endpoints for tasks, runs (processes) and templates (checklists), their
// envelopes, preconditions and error bodies, over seeded, deterministic demo
// data. Everything the contract marks INFERENCE is decided in inference.go.
//
// It knows nothing of MCP; it is reached only over HTTP, like the real API.
// Faults (latency, 429, 5xx, dropped connections, malformed bodies) can be
// injected with SetFaults / ParseFaults; a deterministic per-token rate limit and
// a fixed latency are set with WithRateLimit and WithLatency (rate_limiter.go).
package sandbox

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"path"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// maxRequestLog bounds the request log of a long-running sandbox; the oldest
// entries are dropped first.
const maxRequestLog = 100_000

// Sandbox is the in-memory Tallyfy. Create it with New; it is safe for
// concurrent use.
type Sandbox struct {
	now        func() time.Time
	mux        *http.ServeMux
	extraRuns  int           // generated runs added to the seed (WithExtraRuns)
	extraTasks int           // generated one-off tasks added to the seed (WithExtraTasks)
	extraSteps int           // generated process tasks added to ActiveRun (WithExtraProcessTasks)
	backlog    int           // archived items of each kind added to the seed (WithArchivedBacklog)
	broken     []BrokenShape // fields served in an undocumented shape (broken_shapes.go)

	adminToken, memberToken string // accepted bearer tokens (WithTokens)

	mu sync.Mutex // guards st
	st *state

	requests atomic.Int64 // requests received since New / Reset
	reqSeq   atomic.Int64 // X-Request-Id counter, never reset
	rate     rateWindow   // X-RateLimit-* headers (identity.go)

	limiter     *tokenLimiter // per-token rate limit (WithRateLimit, rate_limiter.go); nil: none
	latency     time.Duration // added to every answer (WithLatency)
	rateLimited atomic.Int64  // requests refused by limiter

	logMu sync.Mutex
	log   []string

	variants  atomic.Pointer[variantSet] // behaviours switched off the defaults (variants.go)
	replicaMu sync.Mutex                 // guards replica, replicaAt (VariantListingLag)
	replica   *state
	replicaAt time.Time

	faultMu sync.Mutex // guards faults and rng
	faults  []faultState
	rng     *rand.Rand
}

// Option configures a Sandbox.
type Option func(*Sandbox)

// WithClock sets the clock used for mutation timestamps (last_updated,
// archived_at) and for due-date computations. The default is time.Now().UTC().
func WithClock(now func() time.Time) Option {
	return func(s *Sandbox) {
		if now != nil {
			s.now = now
		}
	}
}

// WithExtraRuns adds n generated active runs ("Load test run 1" …) to the seed, so that load
// tests can give every session a process of its own.
func WithExtraRuns(n int) Option {
	return func(s *Sandbox) { s.extraRuns = max(n, 0) }
}

// WithExtraTasks adds n generated live one-off tasks ("Generated task 1" …) to the seed, so
// that tests can make the one-off listing longer than a title search reads.
func WithExtraTasks(n int) Option {
	return func(s *Sandbox) { s.extraTasks = max(n, 0) }
}

// WithExtraProcessTasks adds n generated tasks ("Generated step 1" …) to the process
// IDs.ActiveRun, so that tests can make a process hold more tasks than a refusal lists.
func WithExtraProcessTasks(n int) Option {
	return func(s *Sandbox) { s.extraSteps = max(n, 0) }
}

// WithTokens replaces the admin and member tokens (AdminToken, MemberToken) with others, so
// that leak tests can use tokens long and distinctive enough to find any part of them.
func WithTokens(admin, member string) Option {
	return func(s *Sandbox) { s.adminToken, s.memberToken = admin, member }
}

// New returns a sandbox holding the seed data.
func New(opts ...Option) *Sandbox {
	s := &Sandbox{
		now:        func() time.Time { return time.Now().UTC() },
		rng:        rand.New(rand.NewPCG(1, 0)),
		adminToken: AdminToken, memberToken: MemberToken,
	}
	s.SetVariants()
	for _, o := range opts {
		o(s)
	}
	s.st = s.seeded()
	s.mux = s.routes()
	return s
}

// seeded is the seed data plus the generated runs asked for.
func (s *Sandbox) seeded() *state {
	st := seed()
	base := st.runs[IDs.ActiveRun]
	for i := 1; i <= s.extraRuns; i++ {
		r := *base
		r.ID, r.IncrementID, r.Name = seedID("run", fmt.Sprintf("load-test-%d", i)), 10000+i, fmt.Sprintf("Load test run %d", i)
		st.runs[r.ID] = &r
	}
	// Generated tasks are copies of a seeded one under a new slug, title and increment id.
	copyTask := func(base *task, slug, title string, incrementID int) *task {
		t := *base
		t.ID, t.IncrementID, t.Title, t.Alias = seedID("task", slug), incrementID, title, slug
		t.Owners = slices.Clone(base.Owners)
		st.tasks[t.ID] = &t
		return &t
	}
	for i := 1; i <= s.extraTasks; i++ {
		copyTask(st.tasks[IDs.LiveTask], fmt.Sprintf("generated-%d", i), fmt.Sprintf("Generated task %d", i), 20000+i)
	}
	for i := 1; i <= s.extraSteps; i++ {
		t := copyTask(st.tasks[IDs.ProcessTask], fmt.Sprintf("generated-step-%d", i), fmt.Sprintf("Generated step %d", i), 30000+i)
		t.StepID, t.Position = seedID("step", t.Alias), 100+i
	}
	addBacklog(st, s.backlog)
	return st
}

// Reset puts the data back to the seed and clears the request counter, the
// request log and the rate limit's counts. Faults, the clock and the fault random source are kept; the
// X-Request-Id sequence keeps counting so ids stay unique.
func (s *Sandbox) Reset() {
	s.mu.Lock()
	s.st = s.seeded()
	s.mu.Unlock()
	s.dropReplica()
	s.logMu.Lock()
	s.log = nil
	s.requests.Store(0)
	s.logMu.Unlock()
	if s.limiter != nil {
		s.limiter.reset()
	}
	s.rateLimited.Store(0)
}

// Requests returns how many requests the sandbox has received, including
// rejected ones (401, 403, 404, faults).
func (s *Sandbox) Requests() int64 { return s.requests.Load() }

// RequestLog returns "METHOD /path?query" for every request received, in
// order (the query part only when there is one).
func (s *Sandbox) RequestLog() []string {
	s.logMu.Lock()
	defer s.logMu.Unlock()
	return append([]string(nil), s.log...)
}

// Lookup returns the record of a kind ("task", "run", "template") and id.
// ok is false when it is unknown or permanently deleted; archived records are
// returned with Archived set.
func (s *Sandbox) Lookup(kind, id string) (Record, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch kind {
	case kindTask:
		if t, ok := s.st.tasks[id]; ok {
			return Record{Kind: kind, ID: t.ID, Name: t.Title, Status: t.Status, Archived: t.archived(), LastUpdated: t.LastUpdated}, true
		}
	case kindRun:
		if r, ok := s.st.runs[id]; ok {
			return Record{Kind: kind, ID: r.ID, Name: r.Name, Status: r.visibleStatus(), Archived: r.archived(), LastUpdated: r.LastUpdated}, true
		}
	case kindTemplate:
		if t, ok := s.st.templates[id]; ok {
			return Record{Kind: kind, ID: t.ID, Name: t.Title, Status: templateStatus, Archived: t.archived(), LastUpdated: t.LastUpdated}, true
		}
	}
	return Record{}, false
}

// Count returns how many live (archived=false) or archived (archived=true)
// records of a kind exist. Process tasks of an archived run count as archived.
func (s *Sandbox) Count(kind string, archived bool) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch kind {
	case kindTask:
		return count(s.st.tasks, archived)
	case kindRun:
		return count(s.st.runs, archived)
	case kindTemplate:
		return count(s.st.templates, archived)
	}
	return 0
}

func count[T interface{ archived() bool }](items map[string]T, archived bool) int {
	n := 0
	for _, t := range items {
		if t.archived() == archived {
			n++
		}
	}
	return n
}

// Listen listens on addr (e.g. "127.0.0.1:0"), serves h in a goroutine and
// returns the base URL "http://HOST:PORT/api". An unspecified host (":0",
// "0.0.0.0:0", "[::]:0") is reported as 127.0.0.1. Stop it with srv.Close or
// srv.Shutdown.
func Listen(addr string, h http.Handler) (baseURL string, srv *http.Server, err error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return "", nil, err
	}
	srv = &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	host, port, err := net.SplitHostPort(ln.Addr().String())
	if err != nil {
		_ = ln.Close()
		return "", nil, err
	}
	if ip := net.ParseIP(host); ip == nil || ip.IsUnspecified() {
		host = "127.0.0.1"
	}
	return "http://" + net.JoinHostPort(host, port) + "/api", srv, nil
}

// ---------------------------------------------------------------------------
// HTTP plumbing.

// IDPattern is the format of IDs the sandbox accepts, as Tallyfy does. It cannot import the
// client's tallyfy.IDPattern (the client's tests import the sandbox); a test there checks
// that the two are the same.
const IDPattern = `^[a-f0-9]{32}$`

var idPattern = regexp.MustCompile(IDPattern)

// response is what a handler produces; it is delivered as applyFaults says (a fault may cut
// it short).
type response struct {
	status int
	body   []byte // nil: no body, no Content-Type
}

func jsonResponse(status int, v any) response {
	b, err := json.Marshal(v)
	if err != nil {
		return errorResponse(http.StatusInternalServerError, serverErrorMessage, serverErrorCode)
	}
	return response{status: status, body: b}
}

type errorBody struct {
	Error   bool   `json:"error"`
	Message string `json:"message"`
	Code    string `json:"code"`
}

func errorResponse(status int, message, code string) response {
	return jsonResponse(status, errorBody{Error: true, Message: message, Code: code})
}

func resourceNotFound() response {
	return errorResponse(http.StatusNotFound, "Resource not found", "RESOURCE_NOT_FOUND")
}

func endpointNotFound() response {
	return errorResponse(http.StatusNotFound, "API endpoint not found", "ENDPOINT_NOT_FOUND")
}

func emptyResponse(status int) response { return response{status: status} }

func writeResponse(w http.ResponseWriter, res response) {
	if res.body != nil {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Content-Length", strconv.Itoa(len(res.body)))
	} else if res.status != http.StatusNoContent {
		w.Header().Set("Content-Length", "0")
	}
	w.WriteHeader(res.status)
	if res.body != nil {
		_, _ = w.Write(res.body)
	}
}

// ServeHTTP answers one request: it counts and logs it, gives it an
// X-Request-Id, checks the bearer token and X-Tallyfy-Client, then routes it.
func (s *Sandbox) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.logMu.Lock()
	s.requests.Add(1)
	s.log = append(s.log, r.Method+" "+r.URL.RequestURI())
	if len(s.log) > maxRequestLog {
		s.log = append([]string(nil), s.log[len(s.log)-maxRequestLog/2:]...)
	}
	s.logMu.Unlock()
	w.Header().Set("X-Request-Id", "sbx-"+strconv.FormatInt(s.reqSeq.Add(1), 10))
	w.Header().Set("X-RateLimit-Remaining", strconv.Itoa(s.rate.take(time.Now()))) // identity.go
	w.Header().Set(VariantsHeader, s.variants.Load().header)

	if s.latency > 0 && !sleep(r.Context(), s.latency) { // the client gave up meanwhile
		return
	}
	u, token, ok := s.authenticate(r)
	if !ok {
		writeResponse(w, errorResponse(http.StatusUnauthorized, unauthenticatedMessage, unauthenticatedCode))
		return
	}
	if !s.limitRate(w, token) {
		return
	}
	if uncleanPathIsEndpointNotFound && !cleanPath(r.URL.Path) {
		writeResponse(w, endpointNotFound())
		return
	}
	s.mux.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), userKey{}, u)))
}

// authenticate finds the user of the request's bearer token; ok is false without a known
// token or without X-Tallyfy-Client.
func (s *Sandbox) authenticate(r *http.Request) (u sandboxUser, token string, ok bool) {
	h, scheme := r.Header.Get("Authorization"), "Bearer "
	if given := h[:min(len(h), len(scheme))]; given != scheme && (!bearerSchemeCaseInsensitive || !strings.EqualFold(given, scheme)) {
		return u, "", false
	}
	switch token = strings.TrimSpace(h[len(scheme):]); token {
	case s.adminToken:
		u = adminUser
	case s.memberToken:
		u = memberUser
	case LightToken:
		u = lightUser
	default:
		return u, "", false
	}
	return u, token, clientHeaderOK(r.Header.Get("X-Tallyfy-Client"))
}

// cleanPath reports whether p has no empty, "." or ".." segments and no
// trailing slash (the root "/" excepted).
func cleanPath(p string) bool { return strings.HasPrefix(p, "/") && path.Clean(p) == p }

// route is one endpoint; its path may be asked for with or without the /api prefix.
type route struct {
	method, path string
	kind         string // whose answers a broken shape applies to (broken_shapes.go)
	fn           handler
}

// handler answers a request for the item id ("" on paths without one).
type handler func(r *http.Request, id string) response

// locked is fn run holding s.mu: the handlers of one item read and change the state whole.
func (s *Sandbox) locked(fn handler) handler {
	return func(r *http.Request, id string) response {
		s.mu.Lock()
		defer s.mu.Unlock()
		return fn(r, id)
	}
}

// orgPath begins the path of every route that acts in the organization.
const orgPath = "/organizations/{org}"

func (s *Sandbox) routes() *http.ServeMux {
	rs := []route{
		{"GET", orgPath + "/tasks", kindTask, s.listTasks},
		{"POST", orgPath + "/tasks", kindTask, s.createTask},
		{"GET", orgPath + "/tasks/{id}", kindTask, s.locked(s.getTask)},
		{"DELETE", orgPath + "/tasks/{id}", kindTask, s.locked(s.archiveTask)},
		{"PUT", orgPath + "/tasks/{id}/restore", kindTask, s.locked(s.restoreTask)},
		{"DELETE", orgPath + "/tasks/{id}/delete", kindTask, s.locked(s.deleteTask)},

		{"GET", orgPath + "/runs", kindRun, s.listRuns},
		{"GET", orgPath + "/runs/{id}", kindRun, s.locked(s.getRun)},
		{"GET", orgPath + "/runs/{id}/tasks", kindTask, s.listRunTasks},
		{"DELETE", orgPath + "/runs/{id}", kindRun, s.locked(s.archiveRun)},
		{"PUT", orgPath + "/runs/{id}/activate", kindRun, s.locked(s.activateRun)},
		{"DELETE", orgPath + "/runs/{id}/delete", kindRun, s.locked(s.deleteRun)},

		{"GET", orgPath + "/checklists", kindTemplate, s.listTemplates},
		{"GET", orgPath + "/checklists/{id}", kindTemplate, s.locked(s.getTemplate)},
		{"DELETE", orgPath + "/checklists/{id}", kindTemplate, s.locked(s.archiveTemplate)},
		{"PUT", orgPath + "/checklists/{id}/restore", kindTemplate, s.locked(s.restoreTemplate)},
		{"DELETE", orgPath + "/checklists/{id}/delete", kindTemplate, s.locked(s.deleteTemplate)},

		{"GET", "/me", kindMe, s.getMe}, // identity.go
		{"GET", "/me/organizations", kindOrganization, s.listMyOrganizations},
	}
	mux := http.NewServeMux()
	for _, prefix := range []string{"", "/api"} {
		for _, rt := range rs {
			mux.Handle(rt.method+" "+prefix+rt.path, s.endpoint(rt))
		}
	}
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeResponse(w, endpointNotFound())
	})
	return mux
}

// endpoint wraps a route: organization check, role check (roles.go), faults, id check,
// then the handler, then delivery (possibly cut short by a fault).
func (s *Sandbox) endpoint(rt route) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(rt.path, orgPath) && r.PathValue("org") != OrgID {
			writeResponse(w, errorResponse(http.StatusForbidden, wrongOrgMessage, forbiddenCode))
			return
		}
		if res, refused := roleRefusal(r, rt); refused {
			writeResponse(w, res)
			return
		}
		deliver := s.applyFaults(w, r)
		if deliver == nil {
			return
		}
		res := resourceNotFound()
		if id := r.PathValue("id"); !strings.Contains(rt.path, "{id}") || idPattern.MatchString(id) {
			res = rt.fn(r, id)
		}
		deliver(s.breakShapes(rt.kind, res))
	})
}

// found finds the item a change is about, or answers as Tallyfy does: 404 when there is none,
// refusal when refused says so of the item.
func found[T any](items map[string]T, id string, refused func(T) bool, refusal response) (T, *response) {
	t, ok := items[id]
	if !ok {
		r := resourceNotFound()
		return t, &r
	}
	if refused(t) {
		return t, &refusal
	}
	return t, nil
}

// archivedOf finds an item that must exist and be archived (template restore, run and template
// hard delete): 422 notArchived when it is live.
func archivedOf[T interface{ archived() bool }](items map[string]T, id, notArchived string) (T, *response) {
	return found(items, id, func(t T) bool { return !t.archived() }, errorResponse(notArchivedStatus, notArchived, notArchivedCode))
}
