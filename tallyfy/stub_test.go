package tallyfy

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// Behaviour the sandbox does not produce, checked against httptest stubs.

const runJSON = `{"id":"` + validID + `","name":"Onboarding","status":"archived","archived_at":"2024-06-15T10:30:00.000Z",` +
	`"checklist_id":"0123456789abcdef0123456789abcdef","progress":"75","started_by":"1002","owner_id":1002,` +
	`"created_at":"2024-06-01T10:00:00Z","last_updated":"2024-06-15T10:30:00.000Z"}`

const taskJSON = `{"id":"` + validID + `","title":"Renew SSL","run_id":null,"is_oneoff_task":true,"status":"not-started",` +
	`"owners":{"users":[1001],"guests":[],"groups":[]},"archived_at":null,"last_updated":"2025-01-10T09:00:00Z"}`

const templateJSON = `{"id":"` + validID + `","title":"Employee Onboarding","steps_count":"12","archived_at":null}`

// TestSuccessShapes: every success shape of docs/tallyfy-api.md §1, for the methods it applies to.
func TestSuccessShapes(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	type tc struct {
		name   string
		status int
		body   string
		call   func(c *Client) (any, error)
		check  func(t *testing.T, v any)
	}
	isNilPtr := func(t *testing.T, v any) {
		t.Helper()
		switch p := v.(type) {
		case *Run:
			if p != nil {
				t.Errorf("got %+v, want nil", p)
			}
		case *Task:
			if p != nil {
				t.Errorf("got %+v, want nil", p)
			}
		case *Template:
			if p != nil {
				t.Errorf("got %+v, want nil", p)
			}
		case nil:
		default:
			t.Errorf("unexpected %T", v)
		}
	}
	archiveTask := func(c *Client) (any, error) { return nil, c.ArchiveTask(ctx, validID) }
	deleteTask := func(c *Client) (any, error) { return nil, c.DeleteTask(ctx, validID) }
	deleteRun := func(c *Client) (any, error) { return nil, c.DeleteRun(ctx, validID) }
	archiveRun := func(c *Client) (any, error) { return c.ArchiveRun(ctx, validID) }
	activateRun := func(c *Client) (any, error) { return c.ActivateRun(ctx, validID) }
	restoreTask := func(c *Client) (any, error) { return c.RestoreTask(ctx, validID) }
	restoreTemplate := func(c *Client) (any, error) { return c.RestoreTemplate(ctx, validID) }
	archiveTemplate := func(c *Client) (any, error) { return c.ArchiveTemplate(ctx, validID) }
	deleteTemplate := func(c *Client) (any, error) { return c.DeleteTemplate(ctx, validID) }
	checkRun := func(t *testing.T, v any) {
		r, _ := v.(*Run)
		if r == nil || r.ID != validID || r.Status != "archived" || r.ArchivedAt == nil || r.Progress == nil || *r.Progress != 75 || !r.Entity().Archived {
			t.Errorf("run = %+v", r)
		}
	}
	checkDeletion := func(msg, refs string) func(t *testing.T, v any) {
		return func(t *testing.T, v any) {
			d, _ := v.(*TemplateDeletion)
			if d == nil || d.Message != msg || string(d.DeletedReferences) != refs {
				t.Errorf("deletion = %+v", d)
			}
		}
	}
	cases := []tc{
		{"archive task 204", 204, "", archiveTask, isNilPtr},
		{"archive task 200 with the task (older docs)", 200, `{"data":` + taskJSON + `}`, archiveTask, isNilPtr},
		{"archive task 200 empty", 200, "", archiveTask, isNilPtr},
		{"delete task 204", 204, "", deleteTask, isNilPtr},
		{"delete run 200 empty", 200, "", deleteRun, isNilPtr},
		{"delete run 204 (older docs)", 204, "", deleteRun, isNilPtr},
		{"archive run 200 data", 200, `{"data":` + runJSON + `}`, archiveRun, checkRun},
		{"archive run 200 empty", 200, "", archiveRun, isNilPtr},
		{"archive run 204", 204, "", archiveRun, isNilPtr},
		{"archive run 200 whitespace", 200, " \n", archiveRun, isNilPtr},
		{"activate run 200 data", 200, `{"data":` + runJSON + `}`, activateRun, checkRun},
		{"activate run 204", 204, "", activateRun, isNilPtr},
		{"restore task 200 data", 200, `{"data":` + taskJSON + `}`, restoreTask, func(t *testing.T, v any) {
			tk, _ := v.(*Task)
			if tk == nil || tk.ID != validID || tk.Title == "" || !tk.Entity().OneOff || !tk.Entity().ArchivedKnown {
				t.Errorf("task = %+v", tk)
			}
		}},
		{"restore task 204", 204, "", restoreTask, isNilPtr},
		{"restore template 200 data", 200, `{"data":` + templateJSON + `}`, restoreTemplate, func(t *testing.T, v any) {
			tp, _ := v.(*Template)
			if tp == nil || tp.StepsCount == nil || *tp.StepsCount != 12 || tp.Title != "Employee Onboarding" {
				t.Errorf("template = %+v", tp)
			}
		}},
		{"restore template 200 empty", 200, "", restoreTemplate, isNilPtr},
		{"archive template 200 message", 200, `{"message":"The Template was deleted, and references were also deleted from:","deleted_references":{"automations":["a1"]}}`,
			archiveTemplate, checkDeletion("The Template was deleted, and references were also deleted from:", `{"automations":["a1"]}`)},
		{"archive template 204", 204, "", archiveTemplate, checkDeletion("", "")},
		{"delete template 200 message", 200, `{"message":"gone","deleted_references":[]}`, deleteTemplate, checkDeletion("gone", "[]")},
		{"delete template 200 empty", 200, "", deleteTemplate, checkDeletion("", "")},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := newStub(t, func(w http.ResponseWriter, r *http.Request) { reply(w, tc.status, tc.body) })
			v, err := tc.call(s.client(t))
			if err != nil {
				t.Fatalf("error: %v", err)
			}
			tc.check(t, v)
			if n := s.n.Load(); n != 1 {
				t.Errorf("%d requests, want 1", n)
			}
		})
	}
}

// TestErrorBodyShapes: every error body of docs/tallyfy-api.md §4 gives one typed *APIError.
func TestErrorBodyShapes(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name    string
		status  int
		body    string
		ctype   string
		code    string
		message string
		fields  map[string][]string
	}{
		{"general", 404, `{"error":true,"message":"Resource not found","code":"RESOURCE_NOT_FOUND"}`, "", "RESOURCE_NOT_FOUND", "Resource not found", nil},
		{"validation", 422, `{"error":true,"errors":{"per_page":["The per page must be an integer between 1 and 100."]}}`, "",
			"", "Unprocessable Entity", map[string][]string{"per_page": {"The per page must be an integer between 1 and 100."}}},
		{"laravel", 422, `{"message":"The given data was invalid.","errors":{"title":["The title field is required.","Too short."],"owner":"single"}}`, "",
			"", "The given data was invalid.", map[string][]string{"title": {"The title field is required.", "Too short."}, "owner": {"single"}}},
		{"nested", 409, `{"error":{"code":"SEAT_LIMIT_REACHED","message":"No seats left","details":{"seats":["0 of 10 left"]}}}`, "",
			"SEAT_LIMIT_REACHED", "No seats left", map[string][]string{"seats": {"0 of 10 left"}}},
		{"hourly cap", 429, `{"message":"You've reached the hourly limit for comments","code":"RATE_LIMIT_EXCEEDED"}`, "",
			"RATE_LIMIT_EXCEEDED", "You've reached the hourly limit for comments", nil},
		{"oauth", 401, `{"error":"invalid_client"}`, "", "invalid_client", "Unauthorized", nil},
		{"numeric code", 400, `{"error":true,"message":"Bad","code":4001}`, "", "4001", "Bad", nil},
		{"html page", 502, "<html><head><title>502</title></head><body>nginx SECRET-PAGE</body></html>", "text/html", "", "Bad Gateway", nil},
		{"empty", 503, "", "", "", "Service Unavailable", nil},
		{"json array", 400, `["x"]`, "", "", "Bad Request", nil},
		{"unknown status", 599, "", "", "", "HTTP 599", nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := newStub(t, func(w http.ResponseWriter, r *http.Request) {
				h := []string{"X-Request-Id", "req-" + tc.name}
				if tc.ctype != "" {
					h = append(h, "Content-Type", tc.ctype)
				}
				if tc.status == 429 {
					h = append(h, "Retry-After", "3600")
				}
				reply(w, tc.status, tc.body, h...)
			})
			_, err := s.client(t, withMaxTries(1)).GetRun(context.Background(), validID)
			ae := asAPIError(t, err)
			if ae.Status != tc.status || ae.Code != tc.code || !strings.Contains(ae.Message, tc.message) || ae.RequestID != "req-"+tc.name {
				t.Errorf("got status %d code %q message %q request %q", ae.Status, ae.Code, ae.Message, ae.RequestID)
			}
			if fmt.Sprint(ae.Fields) != fmt.Sprint(tc.fields) {
				t.Errorf("fields = %v, want %v", ae.Fields, tc.fields)
			}
			if ae.Method != "GET" || ae.Path != "/organizations/"+testOrg+"/runs/"+validID {
				t.Errorf("method %q path %q", ae.Method, ae.Path)
			}
			msg := err.Error()
			if strings.Contains(msg, "<html") || strings.Contains(msg, "SECRET-PAGE") || strings.Contains(msg, testToken) {
				t.Errorf("error string echoes the page or the token: %q", msg)
			}
			if tc.status == 429 && ae.RetryAfter != time.Hour {
				t.Errorf("RetryAfter = %v, want 1h", ae.RetryAfter)
			}
			if len(tc.fields) > 0 && !strings.Contains(msg, "("+ae.FieldSummary()+")") {
				t.Errorf("error %q lacks the field summary", msg)
			}
		})
	}
}

func TestFieldSummary(t *testing.T) {
	t.Parallel()
	e := &APIError{Fields: map[string][]string{"b": {"two", "three"}, "a": {"one"}}}
	if got := e.FieldSummary(); got != "a: one; b: two three" {
		t.Errorf("FieldSummary = %q", got)
	}
	// A huge validation body never makes a huge message.
	huge := &APIError{Fields: map[string][]string{}}
	for i := range 2000 {
		huge.Fields[fmt.Sprintf("field_%04d", i)] = []string{strings.Repeat("x", 100)}
	}
	if n := len(huge.FieldSummary()); n > 600 {
		t.Errorf("FieldSummary of 2000 fields is %d bytes", n)
	}
	if n := len(huge.Error()); n > 1200 {
		t.Errorf("Error() of 2000 fields is %d bytes", n)
	}
}

func TestParseRetryAfter(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 7, 1, 12, 0, 0, 0, time.UTC)
	cases := []struct {
		in   string
		want time.Duration
	}{
		{"", 0},
		{"5", 5 * time.Second},
		{" 7 ", 7 * time.Second},
		{"0", 0},
		{"-3", 0},
		{"+3", 0},
		{"1.5", 0},
		{"soon", 0},
		{now.Add(90 * time.Second).Format(http.TimeFormat), 90 * time.Second},
		{now.Add(-time.Hour).Format(http.TimeFormat), 0},
		{now.Add(10 * time.Second).Format(time.RFC850), 10 * time.Second},
		{"Wed, 01 Jul 2026 12:00:30 GMT", 30 * time.Second},
	}
	for _, tc := range cases {
		if got := parseRetryAfter(tc.in, now); got != tc.want {
			t.Errorf("parseRetryAfter(%q) = %v, want %v", tc.in, got, tc.want)
		}
	}
	// Absurd values never overflow into a negative (or tiny) wait.
	for _, in := range []string{"9999999999", "9223372036", "99999999999999"} {
		if got := parseRetryAfter(in, now); got < 24*time.Hour {
			t.Errorf("parseRetryAfter(%q) = %v, want a long wait", in, got)
		}
	}
}

// TestRetryAfterHTTPDate: an HTTP-date Retry-After beyond MaxRetryAfter is returned at once.
func TestRetryAfterHTTPDate(t *testing.T) {
	t.Parallel()
	s := newStub(t, func(w http.ResponseWriter, r *http.Request) {
		reply(w, 429, `{"error":true,"message":"Too Many Attempts.","code":"RATE_LIMIT_EXCEEDED"}`,
			"Retry-After", time.Now().Add(time.Hour).UTC().Format(http.TimeFormat))
	})
	start := time.Now()
	_, err := s.client(t).GetRun(context.Background(), validID)
	ae := asAPIError(t, err)
	if ae.RetryAfter < 59*time.Minute || ae.RetryAfter > 61*time.Minute {
		t.Errorf("RetryAfter = %v, want about 1h", ae.RetryAfter)
	}
	if s.n.Load() != 1 || time.Since(start) > 5*time.Second {
		t.Errorf("%d requests in %v, want 1 at once", s.n.Load(), time.Since(start))
	}
}

// TestRequiredHeaders: the three required headers (and User-Agent) on every request, and no
// Content-Type or body since no call sends one.
func TestRequiredHeaders(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := newStub(t, func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.Method == "GET" && strings.Count(r.URL.Path, "/") == 4: // a list
			reply(w, 200, `{"data":[],"meta":{"pagination":{"total":0,"count":0,"per_page":10,"current_page":1,"total_pages":1,"links":[]}}}`)
		case r.Method == "GET":
			reply(w, 200, `{"data":{"id":"`+validID+`","name":"n","title":"t","archived_at":null}}`)
		default:
			reply(w, 204, "")
		}
	})
	c := s.client(t)
	for _, ep := range idEndpoints {
		if err := ep.call(ctx, c, validID); err != nil {
			t.Errorf("%s: %v", ep.name, err)
		}
	}
	for _, call := range []func() error{
		func() error { return discard(c.ListTasks(ctx, ListOptions{})) },
		func() error { return discard(c.ListRuns(ctx, ListOptions{})) },
		func() error { return discard(c.ListTemplates(ctx, ListOptions{})) },
	} {
		if err := call(); err != nil {
			t.Errorf("list: %v", err)
		}
	}
	got := s.requests()
	if len(got) != len(idEndpoints)+3 {
		t.Fatalf("%d requests, want %d", len(got), len(idEndpoints)+3)
	}
	for i, r := range got {
		if i < len(idEndpoints) {
			ep := idEndpoints[i]
			if r.Method != ep.method || r.EscapedPath != ep.path(testOrg, validID) {
				t.Errorf("%s sent %s %s, want %s %s", ep.name, r.Method, r.EscapedPath, ep.method, ep.path(testOrg, validID))
			}
		}
		h := r.Header
		if h.Get("Authorization") != "Bearer "+testToken || h.Get("Accept") != "application/json" ||
			h.Get("X-Tallyfy-Client") != "APIClient" || h.Get("User-Agent") != "tallyfy-mcp" {
			t.Errorf("%s %s headers: %v", r.Method, r.EscapedPath, h)
		}
		if ct, ok := h["Content-Type"]; ok || r.BodyLen > 0 {
			t.Errorf("%s %s has Content-Type %q / body %d", r.Method, r.EscapedPath, ct, r.BodyLen)
		}
	}
	// A custom User-Agent is sent as given.
	s.reset()
	if _, err := s.client(t, func(c *Config) { c.UserAgent = "agent/1.0" }).GetRun(ctx, validID); err != nil {
		t.Fatal(err)
	}
	if ua := s.requests()[0].Header.Get("User-Agent"); ua != "agent/1.0" {
		t.Errorf("User-Agent = %q", ua)
	}
}

// TestRedirectNotFollowed: a redirect (here to another host) is never followed, so the bearer
// token never travels there; it comes back as an *APIError with the 3xx status.
func TestRedirectNotFollowed(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	other := newStub(t, func(w http.ResponseWriter, r *http.Request) { reply(w, 200, `{"data":{}}`) })
	for _, status := range []int{301, 302, 307, 308} {
		s := newStub(t, func(w http.ResponseWriter, r *http.Request) {
			// Another host name for the same loopback: localhost instead of 127.0.0.1.
			to := strings.Replace(other.srv.URL, "127.0.0.1", "localhost", 1) + r.URL.Path
			reply(w, status, "", "Location", to)
		})
		c := s.client(t)
		_, err := c.GetRun(ctx, validID)
		if ae := asAPIError(t, err); ae.Status != status {
			t.Errorf("GET redirect %d: status %d", status, ae.Status)
		}
		err = c.DeleteRun(ctx, validID)
		if ae := asAPIError(t, err); ae.Status != status {
			t.Errorf("DELETE redirect %d: status %d", status, ae.Status)
		}
	}
	if n := other.n.Load(); n != 0 {
		t.Errorf("the redirect target received %d requests", n)
	}
}

// genReader generates up to n bytes of a JSON-looking body without allocating them, and
// counts what was read.
type genReader struct {
	head   []byte
	n      int64 // bytes left
	read   atomic.Int64
	closed atomic.Bool
}

func newGenReader(head string, n int64) *genReader {
	return &genReader{head: []byte(head), n: n}
}

func (g *genReader) Read(p []byte) (int, error) {
	if g.n <= 0 {
		return 0, io.EOF
	}
	p = p[:min(int64(len(p)), g.n)]
	k := copy(p, g.head)
	g.head = g.head[k:]
	for i := k; i < len(p); i++ {
		p[i] = 'x'
	}
	g.n -= int64(len(p))
	g.read.Add(int64(len(p)))
	return len(p), nil
}

func (g *genReader) Close() error { g.closed.Store(true); return nil }

// roundTripper answers every request with fn.
type roundTripper func(*http.Request) (*http.Response, error)

func (f roundTripper) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// TestHugeBodyRejected: a 1 GiB 2xx body is rejected with *ResponseError quickly, reading
// no more than the cap, with memory staying small. Not parallel: it measures allocations.
func TestHugeBodyRejected(t *testing.T) {
	const gib = 1 << 30
	const limit = 4 << 20 // the default MaxBodyBytes
	var body *genReader
	hc := &http.Client{Transport: roundTripper(func(r *http.Request) (*http.Response, error) {
		body = newGenReader(`{"data":{"id":"`+validID+`","padding":"`, gib)
		return &http.Response{StatusCode: 200, Header: http.Header{"Content-Type": {"application/json"}, "X-Request-Id": {"big-1"}},
			Body: body, ContentLength: gib, Request: r}, nil
	})}
	c := newTestClient(t, Config{BaseURL: "https://go.tallyfy.com/api", Token: testToken, OrgID: testOrg, HTTPClient: hc})

	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	start := time.Now()
	_, err := c.GetRun(context.Background(), validID)
	elapsed := time.Since(start)
	runtime.ReadMemStats(&after)

	re := asResponseError(t, err)
	if re.Status != 200 || re.RequestID != "big-1" || !strings.Contains(re.Reason, fmt.Sprintf("larger than %d bytes", limit)) {
		t.Errorf("ResponseError = %+v", re)
	}
	if strings.Contains(err.Error(), "xxxxxxxx") || len(err.Error()) > 300 {
		t.Errorf("error echoes the body: %.200q", err.Error())
	}
	if got := body.read.Load(); got > limit+1+64<<10 {
		t.Errorf("read %d bytes of a 1 GiB body, cap is %d", got, limit)
	}
	if !body.closed.Load() {
		t.Errorf("the body was not closed")
	}
	if elapsed > 3*time.Second {
		t.Errorf("rejecting took %v", elapsed)
	}
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 64<<20 {
		t.Errorf("allocated %d MiB to reject a 1 GiB body", alloc>>20)
	}

	// The same over a real connection, with a smaller cap, for a 2xx and an error status:
	// the client stops early and the server's writes fail long before 1 GiB.
	for _, status := range []int{200, 500} {
		var written atomic.Int64
		done := make(chan struct{})
		s := newStub(t, func(w http.ResponseWriter, r *http.Request) {
			defer close(done)
			w.Header().Set("Content-Type", "application/json")
			w.Header().Set("Content-Length", fmt.Sprint(gib))
			w.WriteHeader(status)
			n, _ := io.Copy(w, newGenReader(`{"message":"`, gib))
			written.Store(n)
		})
		start := time.Now()
		_, err := s.client(t, withMaxTries(1), func(c *Config) { c.MaxBodyBytes = 1 << 20 }).GetRun(context.Background(), validID)
		if status == 200 {
			_ = asResponseError(t, err)
		} else if ae := asAPIError(t, err); ae.Status != 500 || len(ae.Message) > 310 {
			t.Errorf("500 with a huge body: %+v", ae)
		}
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Fatalf("status %d: the server was still writing after 10s", status)
		}
		if time.Since(start) > 5*time.Second || written.Load() >= 256<<20 {
			t.Errorf("status %d: %v elapsed, server wrote %d MiB", status, time.Since(start), written.Load()>>20)
		}
	}
}

// TestOversizedSandboxBody uses the sandbox's oversized fault: a valid JSON body over the cap.
func TestOversizedSandboxBody(t *testing.T) {
	t.Parallel()
	env := startSandbox(t)
	faults, err := sandboxFaults("oversized=2MiB:GET")
	if err != nil {
		t.Fatal(err)
	}
	env.sb.SetFaults(faults...)
	c := env.admin(t, func(c *Config) { c.MaxBodyBytes = 1 << 20 })
	_, err = c.ListRuns(context.Background(), ListOptions{})
	if re := asResponseError(t, err); !strings.Contains(re.Reason, "larger than 1048576 bytes") || !sbxRequestID.MatchString(re.RequestID) {
		t.Errorf("ResponseError = %+v", re)
	}
	if env.sb.Requests() != 1 {
		t.Errorf("%d requests, want 1 (a bad body is not retried)", env.sb.Requests())
	}
}

// TestUnusableBodies: 2xx bodies that cannot be used give *ResponseError with a clear reason,
// never the raw body.
func TestUnusableBodies(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	const marker = "SECRET-BODY-MARKER"
	cases := []struct {
		name   string
		ctype  string
		body   string
		call   func(c *Client) error
		reason string
	}{
		{"html 200 get", "text/html; charset=utf-8", "<html><body>" + marker + "</body></html>",
			func(c *Client) error { return discard(c.GetTask(ctx, validID)) }, "not JSON (Content-Type text/html; charset=utf-8)"},
		{"html 200 list", "text/html", "<html>" + marker + "</html>",
			func(c *Client) error { return discard(c.ListTemplates(ctx, ListOptions{})) }, "not JSON"},
		{"html 200 archive run", "text/html", "<html>" + marker + "</html>",
			func(c *Client) error { return discard(c.ArchiveRun(ctx, validID)) }, "not JSON"},
		{"html 200 archive template", "text/html", "<html>" + marker + "</html>",
			func(c *Client) error { return discard(c.ArchiveTemplate(ctx, validID)) }, "not JSON"},
		{"truncated get", "application/json", `{"data":{"id":"` + marker,
			func(c *Client) error { return discard(c.GetRun(ctx, validID)) }, "truncated JSON"},
		{"truncated list", "application/json", `{"data":[{"id":"` + marker,
			func(c *Client) error { return discard(c.ListRuns(ctx, ListOptions{})) }, "truncated JSON"},
		{"truncated deletion", "application/json", `{"message":"` + marker,
			func(c *Client) error { return discard(c.DeleteTemplate(ctx, validID)) }, "truncated JSON"},
		{"empty get", "", "",
			func(c *Client) error { return discard(c.GetTemplate(ctx, validID)) }, "empty body"},
		{"garbage", "application/json", marker + "}{",
			func(c *Client) error { return discard(c.GetRun(ctx, validID)) }, "not valid JSON"},
		{"no envelope", "application/json", `{"id":"` + validID + `","name":"` + marker + `"}`,
			func(c *Client) error { return discard(c.GetRun(ctx, validID)) }, "no data envelope"},
		{"null data", "application/json", `{"data":null}`,
			func(c *Client) error { return discard(c.RestoreTask(ctx, validID)) }, "no data envelope"},
		{"wrong data type", "application/json", `{"data":["` + marker + `"]}`,
			func(c *Client) error { return discard(c.GetRun(ctx, validID)) }, "not an object"},
		// Only identity fails a decode: a run without a name, whatever else it holds.
		{"no name", "application/json", `{"data":{"id":"` + validID + `","progress":"` + marker + strings.Repeat("9", 5000) + `"}}`,
			func(c *Client) error { return discard(c.GetRun(ctx, validID)) }, "has no name"},
		{"id not a string", "application/json", `{"data":{"id":12345,"name":"` + marker + `"}}`,
			func(c *Client) error { return discard(c.GetRun(ctx, validID)) }, "id is a JSON number"},
		{"list item without a title", "application/json", `{"data":[{"id":"` + validID + `","title":"a"},{"id":"` + validID + `","name":"` + marker + `"}]}`,
			func(c *Client) error { return discard(c.ListTasks(ctx, ListOptions{})) }, "has no title"},
		{"list item not an object", "application/json", `{"data":[{"id":"` + validID + `","name":"` + marker + `"},7]}`,
			func(c *Client) error { return discard(c.ListRuns(ctx, ListOptions{})) }, "an item is a JSON number, not an object"},
		{"list without data", "application/json", `{"message":"` + marker + `"}`,
			func(c *Client) error { return discard(c.ListTasks(ctx, ListOptions{})) }, "no data envelope"},
		{"list data object", "application/json", `{"data":{"id":"` + marker + `"}}`,
			func(c *Client) error { return discard(c.ListTasks(ctx, ListOptions{})) }, "unexpected JSON"},
		{"list null", "application/json", `null`,
			func(c *Client) error { return discard(c.ListRuns(ctx, ListOptions{})) }, "no data envelope"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := newStub(t, func(w http.ResponseWriter, r *http.Request) {
				h := []string{"X-Request-Id", "r-1"}
				if tc.ctype != "" {
					h = append(h, "Content-Type", tc.ctype)
				}
				reply(w, 200, tc.body, h...)
			})
			err := tc.call(s.client(t))
			re := asResponseError(t, err)
			if !strings.Contains(re.Reason, tc.reason) || re.Status != 200 || re.RequestID != "r-1" {
				t.Errorf("ResponseError = %+v, want reason %q", re, tc.reason)
			}
			if msg := err.Error(); strings.Contains(msg, marker) || strings.Contains(msg, "<html") || len(msg) > 400 {
				t.Errorf("error string echoes the body: %.300q", msg)
			}
			if s.n.Load() != 1 {
				t.Errorf("%d requests, want 1", s.n.Load())
			}
		})
	}
}

// TestSandboxMalformedBodies uses the sandbox's html and truncated faults.
func TestSandboxMalformedBodies(t *testing.T) {
	t.Parallel()
	cases := []struct{ spec, reason string }{
		{"html:GET", "not JSON"},
		{"truncated:GET", "truncated JSON"},
		{"truncated=short:GET", "cut off"},
	}
	for _, tc := range cases {
		env := startSandbox(t)
		faults, err := sandboxFaults(tc.spec)
		if err != nil {
			t.Fatal(err)
		}
		env.sb.SetFaults(faults...)
		_, err = env.admin(t).GetRun(context.Background(), sandboxIDs().ActiveRun)
		re := asResponseError(t, err)
		if !strings.Contains(re.Reason, tc.reason) {
			t.Errorf("%s: reason %q, want %q", tc.spec, re.Reason, tc.reason)
		}
		if strings.Contains(err.Error(), "Bad Gateway") || strings.Contains(err.Error(), "Onboarding") {
			t.Errorf("%s: error echoes the body: %v", tc.spec, err)
		}
	}
}

// TestPaginationDecoding: links as an object, as an empty array, and missing meta.
func TestPaginationDecoding(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		body string
		want Pagination
		more bool
	}{
		{"links object", `{"data":[{"id":"a","name":"A"},{"id":"b","name":"B"}],"meta":{"pagination":{"total":55,"count":2,"per_page":2,"current_page":1,"total_pages":28,` +
			`"links":{"next":"https://go.tallyfy.com/api/organizations/x/runs?page=2"}}}}`, Pagination{55, 2, 2, 1, 28}, true},
		{"links empty array", `{"data":[{"id":"a","name":"A"}],"meta":{"pagination":{"total":1,"count":1,"per_page":10,"current_page":1,"total_pages":1,"links":[]}}}`,
			Pagination{1, 1, 10, 1, 1}, false},
		{"no meta", `{"data":[{"id":"a","name":"A"},{"id":"b","name":"B"},{"id":"c","name":"C"}]}`, Pagination{3, 3, 3, 1, 1}, false},
		{"empty list", `{"data":[],"meta":{"pagination":{"total":0,"count":0,"per_page":10,"current_page":1,"total_pages":1,"links":[]}}}`,
			Pagination{0, 0, 10, 1, 1}, false},
	}
	for _, tc := range cases {
		s := newStub(t, func(w http.ResponseWriter, r *http.Request) { reply(w, 200, tc.body) })
		p, err := s.client(t).ListRuns(context.Background(), ListOptions{})
		if err != nil {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		if p.Pagination != tc.want || p.HasMore() != tc.more || len(p.Items) != tc.want.Count {
			t.Errorf("%s: %d items, %+v, more %v", tc.name, len(p.Items), p.Pagination, p.HasMore())
		}
	}
}

// TestFindArchivedListing: Find pages through the archived listing; a failing listing is
// reported as such (not as "not found"), and giving up after the page limit is not "not found".
func TestFindArchivedListing(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	const other = "ffffffffffffffffffffffffffffffff"
	notFound := `{"error":true,"message":"Resource not found","code":"RESOURCE_NOT_FOUND"}`

	// Found on page 2 of 3.
	s := newStub(t, func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/"+validID) {
			reply(w, 404, notFound)
			return
		}
		page := r.URL.Query().Get("page")
		item := other
		if page == "2" {
			item = validID
		}
		reply(w, 200, `{"data":[{"id":"`+item+`","title":"T","archived_at":"2026-01-01T00:00:00Z"}],"meta":{"pagination":{"total":3,"count":1,"per_page":100,"current_page":`+page+`,"total_pages":3}}}`)
	})
	tpl, err := findAs[Template](ctx, s.client(t), KindTemplate, validID)
	if err != nil || tpl.ID != validID || tpl.ArchivedAt == nil {
		t.Fatalf("Find(template) = %+v, %v", tpl, err)
	}
	if got := s.requests(); len(got) != 3 || got[1].RawQuery != "archived=only&page=1&per_page=100" || got[2].RawQuery != "archived=only&page=2&per_page=100" {
		t.Errorf("requests = %+v", got)
	}

	// The listing fails: the caller learns that, not a false "not found".
	s = newStub(t, func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/"+validID) {
			reply(w, 404, notFound)
			return
		}
		reply(w, 500, `{"error":true,"message":"Server Error","code":"SERVER_ERROR"}`)
	})
	_, err = findAs[Template](ctx, s.client(t), KindTemplate, validID)
	if IsNotFound(err) || StatusOf(err) != 500 {
		t.Errorf("Find(template) with a failing listing = %v, want the 500", err)
	}
	_, err = s.client(t).Lookup(ctx, KindTemplate, validID)
	if IsNotFound(err) || StatusOf(err) != 500 {
		t.Errorf("Lookup with a failing listing = %v, want the 500", err)
	}

	// A listing that never ends: bounded, and not "not found".
	s = newStub(t, func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/"+validID) {
			reply(w, 404, notFound)
			return
		}
		reply(w, 200, `{"data":[{"id":"`+other+`"}],"meta":{"pagination":{"total":100000,"count":1,"per_page":100,"current_page":`+r.URL.Query().Get("page")+`,"total_pages":1000}}}`)
	})
	_, err = findAs[Run](ctx, s.client(t), KindRun, validID)
	if err == nil || IsNotFound(err) {
		t.Errorf("Find(run) over an endless listing = %v, want an error that is not 'not found'", err)
	}
	if n := s.n.Load(); n > 51 {
		t.Errorf("Find(run) sent %d requests", n)
	}

	// Other GET errors are returned as they are, without a listing.
	s = newStub(t, func(w http.ResponseWriter, r *http.Request) {
		reply(w, 403, `{"error":true,"message":"no","code":"FORBIDDEN"}`)
	})
	if _, err := findAs[Task](ctx, s.client(t), KindTask, validID); StatusOf(err) != 403 || s.n.Load() != 1 {
		t.Errorf("Find(task) on 403 = %v after %d requests", err, s.n.Load())
	}
}

// TestKeepAlive: one shared http.Client reuses one connection across calls of every kind.
func TestKeepAlive(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	var newConns atomic.Int64
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.Method == "GET" && strings.HasSuffix(r.URL.Path, "/tasks/"+validID):
			reply(w, 404, `{"error":true,"message":"Resource not found","code":"RESOURCE_NOT_FOUND"}`)
		case r.Method == "GET" && strings.HasSuffix(r.URL.Path, "/runs"):
			reply(w, 200, `{"data":[],"meta":{"pagination":{"total":0,"count":0,"per_page":10,"current_page":1,"total_pages":1,"links":[]}}}`)
		case r.Method == "GET":
			reply(w, 200, `{"data":`+runJSON+`}`)
		case strings.HasSuffix(r.URL.Path, "/delete") && strings.Contains(r.URL.Path, "/runs/"):
			reply(w, 200, "")
		default:
			reply(w, 204, "")
		}
	}))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			newConns.Add(1)
		}
	}
	srv.Start()
	t.Cleanup(srv.Close)
	c := newTestClient(t, fastConfig(srv.URL+"/api", testToken, testOrg))
	hc := c.cfg.HTTPClient
	calls := []func() error{
		func() error { return discard(c.GetRun(ctx, validID)) },
		func() error { return discard(c.ListRuns(ctx, ListOptions{})) },
		func() error { return c.ArchiveTask(ctx, validID) },
		func() error { return c.DeleteRun(ctx, validID) },
		func() error { return discard(c.RestoreTemplate(ctx, validID)) },
		func() error { return discard(c.GetRun(ctx, validID)) },
	}
	for i, call := range calls {
		if err := call(); err != nil {
			t.Fatalf("call %d: %v", i, err)
		}
	}
	if _, err := c.GetTask(ctx, validID); !IsNotFound(err) { // an error answer keeps the connection too
		t.Fatalf("GetTask = %v", err)
	}
	if _, err := c.GetRun(ctx, validID); err != nil {
		t.Fatal(err)
	}
	if n := newConns.Load(); n != 1 {
		t.Errorf("%d connections for %d calls, want 1", n, len(calls)+2)
	}
	if c.cfg.HTTPClient != hc {
		t.Errorf("the client's http.Client changed")
	}

	// A caller-supplied http.Client is the one used.
	var trips atomic.Int64
	custom := &http.Client{Transport: roundTripper(func(r *http.Request) (*http.Response, error) {
		trips.Add(1)
		return &http.Response{StatusCode: 204, Body: io.NopCloser(bytes.NewReader(nil)), Header: http.Header{}, Request: r}, nil
	})}
	cc := newTestClient(t, fastConfig("https://api.tallyfy.com", testToken, testOrg), func(c *Config) { c.HTTPClient = custom })
	for range 3 {
		if err := cc.ArchiveTask(ctx, validID); err != nil {
			t.Fatal(err)
		}
	}
	if trips.Load() != 3 {
		t.Errorf("custom http.Client saw %d round trips, want 3", trips.Load())
	}
}

// TestNewHTTPClient: the default client refuses redirects itself and keeps connections.
func TestNewHTTPClient(t *testing.T) {
	t.Parallel()
	hc := NewHTTPClient()
	if hc.CheckRedirect == nil || !errors.Is(hc.CheckRedirect(nil, nil), http.ErrUseLastResponse) {
		t.Errorf("CheckRedirect does not stop redirects")
	}
	tr, ok := hc.Transport.(*http.Transport)
	if !ok || tr.DisableKeepAlives || tr.MaxIdleConnsPerHost < 2 {
		t.Errorf("transport = %#v", hc.Transport)
	}
	if tr == http.DefaultTransport {
		t.Errorf("NewHTTPClient shares http.DefaultTransport")
	}
}
