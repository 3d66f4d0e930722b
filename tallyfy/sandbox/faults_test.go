package sandbox

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestParseFaults(t *testing.T) {
	good := map[string][]Fault{
		"": nil,
		"429=2@0.1,latency=50ms,reset-after#1:DELETE~/runs/": {
			{Kind: "429", Param: "2", Probability: 0.1},
			{Kind: "latency", Param: "50ms"},
			{Kind: "reset-after", Times: 1, Method: "DELETE", PathContains: "/runs/"},
		},
		" 500 , 502:get , 503#3 ,504@1": {
			{Kind: "500"}, {Kind: "502", Method: "GET"}, {Kind: "503", Times: 3}, {Kind: "504", Probability: 1},
		},
		"429=date,429=none,429":                   {{Kind: "429", Param: "date"}, {Kind: "429", Param: "none"}, {Kind: "429"}},
		"truncated,truncated=short":               {{Kind: "truncated"}, {Kind: "truncated", Param: "short"}},
		"oversized,oversized=1MiB,oversized=2048": {{Kind: "oversized"}, {Kind: "oversized", Param: "1MiB"}, {Kind: "oversized", Param: "2048"}},
		"html~/checklists,hang#2,reset-before:PUT~/tasks/x:y@z": {
			{Kind: "html", PathContains: "/checklists"},
			{Kind: "hang", Times: 2},
			{Kind: "reset-before", Method: "PUT", PathContains: "/tasks/x:y@z"},
		},
		"HTML,":               {{Kind: "html"}},
		"latency~/runs:GET#2": {{Kind: "latency", PathContains: "/runs:GET#2"}}, // "~" takes the rest
		"latency#2:GET~/runs": {{Kind: "latency", Times: 2, Method: "GET", PathContains: "/runs"}},
	}
	for spec, want := range good {
		got, err := ParseFaults(spec)
		if err != nil {
			t.Errorf("ParseFaults(%q): %v", spec, err)
			continue
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("ParseFaults(%q) =\n%+v\nwant\n%+v", spec, got, want)
		}
	}
	bad := map[string]string{
		"boom":            `unknown kind "boom"`,
		"500,teapot=418":  `"teapot=418"`,
		"=2":              "missing kind",
		"429@0":           "probability",
		"429@1.5":         "probability",
		"429@x":           "probability",
		"500#-1":          "times",
		"500#x":           "times",
		"500:":            "method",
		"500:GE T":        "method",
		"500~":            "path fragment",
		"500@0.5@0.5":     "twice",
		"latency=fast":    "duration",
		"429=soon":        "429 parameter",
		"500=1":           "takes no parameter",
		"truncated=long":  "truncated parameter",
		"oversized=huge":  "size",
		"oversized=0":     "size",
		"reset-after=now": "takes no parameter",
	}
	for spec, frag := range bad {
		_, err := ParseFaults(spec)
		if err == nil {
			t.Errorf("ParseFaults(%q) succeeded", spec)
			continue
		}
		msg := err.Error()
		if !strings.Contains(msg, frag) || !strings.Contains(msg, "valid kinds: latency, 429, 500") || !strings.Contains(msg, "hang") {
			t.Errorf("ParseFaults(%q) error %q lacks %q or the kinds", spec, msg, frag)
		}
	}
}

// faultEnv is an env whose client opens a new connection per request, so a
// dropped connection is never retried transparently by the transport.
func faultEnv(t *testing.T, opts ...Option) *env {
	e := newEnv(t, opts...)
	tr := e.srv.Client().Transport.(*http.Transport).Clone()
	tr.DisableKeepAlives = true
	e.cl = &http.Client{Transport: tr}
	return e
}

// try sends a request and returns the response or the transport error.
func (e *env) try(ctx context.Context, method, path string) (*http.Response, []byte, error) {
	req, _ := http.NewRequestWithContext(ctx, method, e.srv.URL+path, nil)
	req.Header.Set("Authorization", "Bearer "+AdminToken)
	req.Header.Set("X-Tallyfy-Client", "APIClient")
	resp, err := e.cl.Do(req)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body) // a body error comes back with the response
	return resp, b, err
}

func TestFaultLatency(t *testing.T) {
	e := faultEnv(t)
	e.sb.SetFaults(Fault{Kind: "latency", Param: "40ms"}, Fault{Kind: "latency", Param: "20ms", Method: "DELETE"})
	start := time.Now()
	wantStatus(t, e.admin("GET", org("/tasks")), 200)
	if d := time.Since(start); d < 40*time.Millisecond {
		t.Fatalf("GET took %v", d)
	}
	start = time.Now()
	wantStatus(t, e.admin("DELETE", org("/tasks/"+IDs.LiveTask)), 204)
	if d := time.Since(start); d < 60*time.Millisecond {
		t.Fatalf("DELETE took %v, want the two delays added", d)
	}
	// A client that gives up during the delay gets no answer; nothing changes.
	e.sb.SetFaults(Fault{Kind: "latency", Param: "2s"})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Millisecond)
	defer cancel()
	if _, _, err := e.try(ctx, "DELETE", org("/runs/"+IDs.ActiveRun)); err == nil {
		t.Fatal("request survived its deadline")
	}
	time.Sleep(20 * time.Millisecond)
	if rec, _ := e.sb.Lookup("run", IDs.ActiveRun); rec.Archived {
		t.Fatal("a cancelled request was processed")
	}
}

func TestFault429(t *testing.T) {
	e := faultEnv(t)
	for _, c := range []struct{ param, want string }{{"", "2"}, {"2", "2"}, {"7", "7"}, {"none", ""}} {
		e.sb.SetFaults(Fault{Kind: "429", Param: c.param})
		r := e.admin("DELETE", org("/tasks/"+IDs.LiveTask))
		wantError(t, r, 429, "RATE_LIMIT_EXCEEDED")
		if got := r.header.Get("Retry-After"); got != c.want {
			t.Errorf("param %q: Retry-After %q, want %q", c.param, got, c.want)
		}
		if r.header.Get("X-Request-Id") == "" {
			t.Error("no X-Request-Id on a 429")
		}
	}
	if rec, _ := e.sb.Lookup("task", IDs.LiveTask); rec.Archived {
		t.Fatal("a 429 processed the request")
	}
	e.sb.SetFaults(Fault{Kind: "429", Param: "date"})
	r := e.admin("GET", org("/tasks"))
	wantStatus(t, r, 429)
	at, err := http.ParseTime(r.header.Get("Retry-After"))
	if err != nil {
		t.Fatalf("Retry-After %q: %v", r.header.Get("Retry-After"), err)
	}
	if d := time.Until(at); d < time.Second || d > 3*time.Second {
		t.Fatalf("Retry-After date is %v ahead", d)
	}
}

func TestFault5xx(t *testing.T) {
	e := faultEnv(t)
	for _, code := range []int{500, 502, 503, 504} {
		e.sb.SetFaults(Fault{Kind: strconv.Itoa(code)})
		r := e.admin("DELETE", org("/checklists/"+IDs.LiveTemplate))
		m := wantError(t, r, code, "SERVER_ERROR")
		if m["message"] != "Server Error" {
			t.Errorf("%d message %v", code, m["message"])
		}
	}
	if rec, _ := e.sb.Lookup("template", IDs.LiveTemplate); rec.Archived {
		t.Fatal("a 5xx processed the request")
	}
	e.sb.SetFaults()
	wantStatus(t, e.admin("DELETE", org("/checklists/"+IDs.LiveTemplate)), 200)
}

func TestFaultResets(t *testing.T) {
	e := faultEnv(t)
	e.sb.SetFaults(Fault{Kind: "reset-before"})
	if _, _, err := e.try(context.Background(), "DELETE", org("/tasks/"+IDs.LiveTask)); err == nil {
		t.Fatal("reset-before: request succeeded")
	}
	if rec, _ := e.sb.Lookup("task", IDs.LiveTask); rec.Archived {
		t.Fatal("reset-before processed the request")
	}
	e.sb.SetFaults(Fault{Kind: "reset-after"})
	if _, _, err := e.try(context.Background(), "DELETE", org("/tasks/"+IDs.LiveTask)); err == nil {
		t.Fatal("reset-after: request succeeded")
	}
	if rec, _ := e.sb.Lookup("task", IDs.LiveTask); !rec.Archived {
		t.Fatal("reset-after did not process the request")
	}
	if n := e.sb.Requests(); n != 2 {
		t.Fatalf("Requests() = %d", n)
	}
}

func TestFaultTruncated(t *testing.T) {
	e := faultEnv(t)
	e.sb.SetFaults(Fault{Kind: "truncated"})
	resp, body, err := e.try(context.Background(), "DELETE", org("/runs/"+IDs.ActiveRun))
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/json" || len(body) == 0 {
		t.Fatalf("truncated: %d %q %q", resp.StatusCode, resp.Header.Get("Content-Type"), body)
	}
	var v any
	if json.Unmarshal(body, &v) == nil {
		t.Fatalf("truncated body is valid JSON: %s", body)
	}
	if !strings.HasPrefix(string(body), `{"data":{"id":"`+IDs.ActiveRun) {
		t.Fatalf("truncated body %q", body)
	}
	if rec, _ := e.sb.Lookup("run", IDs.ActiveRun); !rec.Archived {
		t.Fatal("truncated did not process the request")
	}
	// Error statuses are kept too.
	resp, _, err = e.try(context.Background(), "DELETE", org("/runs/"+IDs.ActiveRun))
	if err != nil || resp.StatusCode != 404 {
		t.Fatalf("truncated 404: %v %v", resp, err)
	}
	// Empty bodies stay empty.
	resp, body, err = e.try(context.Background(), "DELETE", org("/tasks/"+IDs.LiveTask))
	if err != nil || resp.StatusCode != 204 || len(body) != 0 {
		t.Fatalf("truncated 204: %v %q %v", resp, body, err)
	}

	e.sb.SetFaults(Fault{Kind: "truncated", Param: "short"})
	resp, _, err = e.try(context.Background(), "GET", org("/tasks"))
	if err == nil || !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("truncated=short: err %v", err)
	}
	if resp == nil || resp.StatusCode != 200 {
		t.Fatalf("truncated=short: status lost: %v", resp)
	}
}

func TestFaultHTML(t *testing.T) {
	e := faultEnv(t)
	e.sb.SetFaults(Fault{Kind: "html"})
	r := e.admin("DELETE", org("/tasks/"+IDs.LiveTask))
	wantStatus(t, r, 200)
	if !strings.HasPrefix(r.header.Get("Content-Type"), "text/html") || string(r.body) != "<html><body>Bad Gateway</body></html>" {
		t.Fatalf("html: %q %q", r.header.Get("Content-Type"), r.body)
	}
	if rec, _ := e.sb.Lookup("task", IDs.LiveTask); rec.Archived {
		t.Fatal("html processed the request")
	}
}

func TestFaultOversized(t *testing.T) {
	e := faultEnv(t)
	e.sb.SetFaults(Fault{Kind: "oversized", Param: "1MiB"})
	r := e.admin("GET", org("/tasks"))
	wantStatus(t, r, 200)
	if len(r.body) != 1<<20 || r.header.Get("Content-Type") != "application/json" {
		t.Fatalf("oversized: %d bytes, %q", len(r.body), r.header.Get("Content-Type"))
	}
	var v map[string]any
	if err := json.Unmarshal(r.body, &v); err != nil {
		t.Fatalf("oversized body is not JSON: %v", err)
	}
	// Default: 8 MiB, announced in Content-Length; a client may stop early.
	e.sb.SetFaults(Fault{Kind: "oversized"})
	req, _ := http.NewRequest("GET", e.srv.URL+org("/tasks"), nil)
	req.Header.Set("Authorization", "Bearer "+AdminToken)
	req.Header.Set("X-Tallyfy-Client", "APIClient")
	resp, err := e.cl.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if resp.ContentLength != 8<<20 {
		t.Fatalf("Content-Length %d", resp.ContentLength)
	}
	n, _ := io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<16))
	resp.Body.Close()
	if n != 1<<16 {
		t.Fatalf("read %d", n)
	}
	// Tiny sizes still give valid JSON.
	e.sb.SetFaults(Fault{Kind: "oversized", Param: "3"})
	r = e.admin("GET", org("/tasks"))
	if err := json.Unmarshal(r.body, &v); err != nil {
		t.Fatalf("tiny oversized body %q: %v", r.body, err)
	}
}

func TestFaultHang(t *testing.T) {
	e := faultEnv(t)
	e.sb.SetFaults(Fault{Kind: "hang", Method: "PUT"})
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, _, err := e.try(ctx, "PUT", org("/runs/"+IDs.ArchivedRun+"/activate"))
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("hang: err %v", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("hang took %v", d)
	}
	if rec, _ := e.sb.Lookup("run", IDs.ArchivedRun); !rec.Archived {
		t.Fatal("hang processed the request")
	}
	wantStatus(t, e.admin("GET", org("/runs/"+IDs.ArchivedRun)), 200) // GET is not matched
}

func TestFaultMatchingAndBudget(t *testing.T) {
	e := faultEnv(t)
	e.sb.SetFaults(Fault{Kind: "503", Times: 2, Method: "delete", PathContains: "/runs/"})
	wantStatus(t, e.admin("GET", org("/runs/"+IDs.ActiveRun)), 200)    // method differs
	wantStatus(t, e.admin("DELETE", org("/tasks/"+IDs.LiveTask)), 204) // path differs
	wantStatus(t, e.admin("DELETE", org("/runs/"+IDs.ActiveRun)), 503) // 1
	wantStatus(t, e.admin("DELETE", org("/runs/"+IDs.ActiveRun)), 503) // 2
	wantStatus(t, e.admin("DELETE", org("/runs/"+IDs.ActiveRun)), 200) // budget spent
	wantStatus(t, e.admin("DELETE", org("/runs/"+IDs.CompleteRun)), 200)

	// Faults never hide auth and organization errors.
	e.sb.SetFaults(Fault{Kind: "500"})
	wantError(t, e.req("GET", org("/tasks"), ""), 401, "UNAUTHENTICATED")
	wantError(t, e.admin("GET", "/api/organizations/"+strings.Repeat("9", 32)+"/tasks"), 403, "FORBIDDEN")
	wantError(t, e.member("DELETE", org("/runs/"+IDs.ArchivedRun+"/delete")), 403, "FORBIDDEN")
	wantError(t, e.admin("GET", org("/tasks")), 500, "SERVER_ERROR")

	// The first non-latency rule that fires wins; unknown kinds never fire.
	e.sb.SetFaults(Fault{Kind: "nonsense"}, Fault{Kind: "502"}, Fault{Kind: "500"})
	wantStatus(t, e.admin("GET", org("/tasks")), 502)
	e.sb.SetFaults()
	wantStatus(t, e.admin("GET", org("/tasks")), 200)
}

func TestFaultProbability(t *testing.T) {
	draw := func(seed int64) []int {
		sb := New(WithFaultSeed(seed))
		sb.SetFaults(Fault{Kind: "500", Probability: 0.3})
		var out []int
		for i := 0; i < 200; i++ {
			rec := httptest.NewRecorder()
			req := httptest.NewRequest("GET", org("/tasks"), nil)
			req.Header.Set("Authorization", "Bearer "+MemberToken)
			req.Header.Set("X-Tallyfy-Client", "x")
			sb.ServeHTTP(rec, req)
			out = append(out, rec.Code)
		}
		return out
	}
	a, b, c := draw(42), draw(42), draw(7)
	if !reflect.DeepEqual(a, b) {
		t.Fatal("same seed, different draws")
	}
	if reflect.DeepEqual(a, c) {
		t.Fatal("different seeds, same draws")
	}
	fails := 0
	for _, code := range a {
		if code == 500 {
			fails++
		} else if code != 200 {
			t.Fatalf("status %d", code)
		}
	}
	if fails < 30 || fails > 90 {
		t.Fatalf("%d of 200 failed at p=0.3", fails)
	}
}

// Faults parsed from a spec behave like hand-built ones.
func TestFaultSpecEndToEnd(t *testing.T) {
	e := faultEnv(t)
	fs, err := ParseFaults("429=3#1:DELETE~/runs/,latency=10ms~/checklists")
	if err != nil {
		t.Fatal(err)
	}
	e.sb.SetFaults(fs...)
	r := e.admin("DELETE", org("/runs/"+IDs.ActiveRun))
	wantStatus(t, r, 429)
	if r.header.Get("Retry-After") != "3" {
		t.Fatalf("Retry-After %q", r.header.Get("Retry-After"))
	}
	wantStatus(t, e.admin("DELETE", org("/runs/"+IDs.ActiveRun)), 200)
	start := time.Now()
	wantStatus(t, e.admin("GET", org("/checklists")), 200)
	if time.Since(start) < 10*time.Millisecond {
		t.Fatal("no latency")
	}
}
