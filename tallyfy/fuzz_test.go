package tallyfy

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"unicode/utf8"
)

// Fuzz targets. Seeds come from f.Add and from testdata/fuzz/<Name>/.
//
//	go test -run=XXX -fuzz=FuzzIDAndPath -fuzztime=10s ./tallyfy/
//	go test -run=XXX -fuzz=FuzzParseAPIError -fuzztime=10s ./tallyfy/
//	go test -run=XXX -fuzz=FuzzDecode -fuzztime=10s ./tallyfy/

// FuzzIDAndPath: for any id, either ValidID is false and every method returns
// *InvalidIDError without a request, or the server receives exactly
// /api/organizations/<org>/<collection>/<id>[/<suffix>] for the intended endpoint (plus, for
// lookups, the collection's archived listing). No input may produce another path.
func FuzzIDAndPath(f *testing.F) {
	for _, id := range badIDs() {
		f.Add(id)
	}
	f.Add(validID)
	f.Add(testOrg)
	f.Add(validID + "/../../" + validID)
	f.Add("%2e%2e%2f" + validID[9:])

	s := newStub(f, func(w http.ResponseWriter, r *http.Request) {
		segs := strings.Split(strings.TrimPrefix(r.URL.Path, "/"), "/")
		switch {
		case r.Method == "GET" && len(segs) == 4: // a list
			reply(w, 200, `{"data":[],"meta":{"pagination":{"total":0,"count":0,"per_page":100,"current_page":1,"total_pages":1,"links":[]}}}`)
		case r.Method == "GET":
			reply(w, 404, `{"error":true,"message":"Resource not found","code":"RESOURCE_NOT_FOUND"}`)
		default:
			reply(w, 204, "")
		}
	})
	c := s.client(f, withMaxTries(1))
	ctx := context.Background()

	f.Fuzz(func(t *testing.T, id string) {
		valid := ValidID(id)
		if valid != (len(id) == 32 && strings.Trim(id, "0123456789abcdef") == "") {
			t.Fatalf("ValidID(%q) = %v", id, valid)
		}
		for _, ep := range idEndpoints {
			s.reset()
			err := ep.call(ctx, c, id)
			got := s.requests()
			if !valid {
				var ie *InvalidIDError
				if !errors.As(err, &ie) || ie.ID != id || ie.Kind != ep.kind {
					t.Fatalf("%s(%q) = %v, want *InvalidIDError", ep.name, id, err)
				}
				if len(got) != 0 {
					t.Fatalf("%s(%q) sent %d requests: %s %s", ep.name, id, len(got), got[0].Method, got[0].EscapedPath)
				}
				continue
			}
			if len(got) == 0 {
				t.Fatalf("%s(%q) sent nothing (err %v)", ep.name, id, err)
			}
			want := ep.path(testOrg, id)
			if got[0].Method != ep.method || got[0].EscapedPath != want {
				t.Fatalf("%s(%q) sent %s %s, want %s %s", ep.name, id, got[0].Method, got[0].EscapedPath, ep.method, want)
			}
			for _, r := range got[1:] {
				// A lookup may list archived items and then GET the item once more (it may
				// have been restored between the two reads); nothing else.
				again := r.Method == "GET" && r.EscapedPath == want
				listed := r.Method == "GET" && r.EscapedPath == ep.listPath(testOrg) && strings.Contains(r.RawQuery, "archived=only")
				if !ep.lookup || (!again && !listed) {
					t.Fatalf("%s(%q) also sent %s %s?%s", ep.name, id, r.Method, r.EscapedPath, r.RawQuery)
				}
			}
			if ep.lookup && !IsNotFound(err) {
				t.Fatalf("%s(%q) = %v, want not found", ep.name, id, err)
			}
		}
	})
}

// apiErrorSeeds are the error bodies of docs/tallyfy-api.md §4 and some awkward ones.
var apiErrorSeeds = []struct {
	status int
	body   string
}{
	{404, `{"error":true,"message":"Resource not found","code":"RESOURCE_NOT_FOUND"}`},
	{404, `{"error":true,"message":"API endpoint not found","code":"ENDPOINT_NOT_FOUND"}`},
	{422, `{"error":true,"errors":{"title":["The title field is required."]}}`},
	{422, `{"message":"The given data was invalid.","errors":{"name":["The name field is required."]}}`},
	{409, `{"error":{"code":"SEAT_LIMIT","message":"No seats","details":{"seats":["0 left"]}}}`},
	{429, `{"message":"You've reached the hourly limit for guest invites","code":"RATE_LIMIT_EXCEEDED"}`},
	{401, `{"error":"invalid_client"}`},
	{502, `<html><body>Bad Gateway</body></html>`},
	{503, ``},
	{599, `{"message":"   "}`},
	{0, `null`},
	{400, `{"error":{"code":12,"message":"` + strings.Repeat("é", 400) + `"}}`},
	{400, `{"errors":{"a":"b","c":[1,2],"d":null}}`},
	{-1, `{"error":[],"code":{},"errors":[]}`},
}

// FuzzParseAPIError: parseAPIError never panics, always gives a non-empty Message of at most
// ~300 bytes, and the error string never echoes more than a bounded part of the body.
func FuzzParseAPIError(f *testing.F) {
	for _, s := range apiErrorSeeds {
		f.Add(s.status, []byte(s.body), "")
	}
	f.Add(429, []byte(`{}`), "120")
	f.Add(503, []byte(`{}`), "Wed, 21 Oct 2015 07:28:00 GMT")
	f.Add(429, []byte(`{}`), "99999999999999")

	f.Fuzz(func(t *testing.T, status int, body []byte, retryAfter string) {
		h := http.Header{}
		h.Set("Retry-After", retryAfter)
		h.Set("X-Request-Id", "req-1")
		e := parseAPIError(status, h, body, "DELETE", "/organizations/o/runs/r/delete")
		if e == nil {
			t.Fatal("nil *APIError")
		}
		if e.Status != status || e.RequestID != "req-1" || e.Method != "DELETE" {
			t.Fatalf("status %d request %q method %q", e.Status, e.RequestID, e.Method)
		}
		if strings.TrimSpace(e.Message) == "" {
			t.Fatalf("empty message for status %d body %q", status, body)
		}
		if len(e.Message) > 300+len("…") || !utf8.ValidString(e.Message) {
			t.Fatalf("message of %d bytes (valid UTF-8 %v)", len(e.Message), utf8.ValidString(e.Message))
		}
		if len(e.Code) > 80+len("…") || !utf8.ValidString(e.Code) {
			t.Fatalf("code of %d bytes", len(e.Code))
		}
		if e.RetryAfter < 0 {
			t.Fatalf("negative RetryAfter %v from %q", e.RetryAfter, retryAfter)
		}
		msg := e.Error()
		if len(msg) > 1000 {
			t.Fatalf("Error() is %d bytes", len(msg))
		}
		if len(body) > 400 && strings.Contains(msg, string(body)) {
			t.Fatalf("Error() echoes the whole body")
		}
		_ = e.IsNotFound()
	})
}

// decodeCall is a client method whose 2xx body is decoded, with what success must look like.
type decodeCall struct {
	name string
	// call returns whether a value came back (nil pointer = false), and the error.
	call func(ctx context.Context, c *Client) (bool, error)
	// optional: a nil value is allowed for an empty body.
	optional bool
}

func present[T any](v *T, err error) (bool, error) { return v != nil, err }

var decodeCalls = []decodeCall{
	{"GetTask", func(ctx context.Context, c *Client) (bool, error) { return present(c.GetTask(ctx, validID)) }, false},
	{"GetRun", func(ctx context.Context, c *Client) (bool, error) { return present(c.GetRun(ctx, validID)) }, false},
	{"GetTemplate", func(ctx context.Context, c *Client) (bool, error) { return present(c.GetTemplate(ctx, validID)) }, false},
	{"Find(template)", func(ctx context.Context, c *Client) (bool, error) {
		return present(findAs[Template](ctx, c, KindTemplate, validID))
	}, false},
	{"ListTasks", func(ctx context.Context, c *Client) (bool, error) { return present(c.ListTasks(ctx, ListOptions{})) }, false},
	{"ListRuns", func(ctx context.Context, c *Client) (bool, error) { return present(c.ListRuns(ctx, ListOptions{})) }, false},
	{"ListTemplates", func(ctx context.Context, c *Client) (bool, error) {
		return present(c.ListTemplates(ctx, ListOptions{}))
	}, false},
	{"ArchiveRun", func(ctx context.Context, c *Client) (bool, error) { return present(c.ArchiveRun(ctx, validID)) }, true},
	{"ActivateRun", func(ctx context.Context, c *Client) (bool, error) { return present(c.ActivateRun(ctx, validID)) }, true},
	{"RestoreTask", func(ctx context.Context, c *Client) (bool, error) { return present(c.RestoreTask(ctx, validID)) }, true},
	{"RestoreTemplate", func(ctx context.Context, c *Client) (bool, error) { return present(c.RestoreTemplate(ctx, validID)) }, true},
	{"ArchiveTemplate", func(ctx context.Context, c *Client) (bool, error) { return present(c.ArchiveTemplate(ctx, validID)) }, false},
	{"DeleteTemplate", func(ctx context.Context, c *Client) (bool, error) { return present(c.DeleteTemplate(ctx, validID)) }, false},
	{"ArchiveTask", func(ctx context.Context, c *Client) (bool, error) { return true, c.ArchiveTask(ctx, validID) }, false},
	{"DeleteTask", func(ctx context.Context, c *Client) (bool, error) { return true, c.DeleteTask(ctx, validID) }, false},
	{"DeleteRun", func(ctx context.Context, c *Client) (bool, error) { return true, c.DeleteRun(ctx, validID) }, false},
	{"Lookup", func(ctx context.Context, c *Client) (bool, error) {
		e, err := c.Lookup(ctx, KindRun, validID)
		return e.ID != "" || err == nil, err
	}, false},
}

// FuzzDecode: decoding any 2xx body for get, list and deletion never panics and gives either
// a value or a *ResponseError that does not quote the body.
func FuzzDecode(f *testing.F) {
	seeds := []string{
		`{"data":` + runJSON + `}`,
		`{"data":` + taskJSON + `}`,
		`{"data":` + templateJSON + `}`,
		`{"data":[` + runJSON + `],"meta":{"pagination":{"total":1,"count":1,"per_page":10,"current_page":1,"total_pages":1,"links":[]}}}`,
		`{"data":[],"meta":{"pagination":{"links":{"next":"x"}}}}`,
		`{"message":"The Template was deleted","deleted_references":{}}`,
		``, ` `, `null`, `[]`, `{}`, `{"data":null}`, `{"data":{}}`, `{"data":[1]}`,
		`{"data":{"progress":"NaN","owner_id":"1e999","steps_count":true}}`,
		`{"data":{"id":"x"`, `<html>Bad Gateway</html>`, "\xff\xfe", `{"data":{"archived_at":5}}`,
	}
	for i, s := range seeds {
		ct := "application/json"
		if strings.HasPrefix(s, "<") {
			ct = "text/html"
		}
		f.Add(i%7, []byte(s), ct)
	}

	var status int
	var body []byte
	var ctype string
	hc := &http.Client{Transport: roundTripper(func(r *http.Request) (*http.Response, error) {
		h := http.Header{"X-Request-Id": {"fz"}}
		if ctype != "" {
			h.Set("Content-Type", ctype)
		}
		return &http.Response{StatusCode: status, Header: h, Body: io.NopCloser(bytes.NewReader(body)),
			ContentLength: int64(len(body)), Request: r}, nil
	})}
	c := newTestClient(f, Config{Token: testToken, OrgID: testOrg, HTTPClient: hc, MaxTries: 1, MaxBodyBytes: 1 << 20})
	ctx := context.Background()

	f.Fuzz(func(t *testing.T, st int, b []byte, ct string) {
		status, body, ctype = 200+((st%7)+7)%7, b, ct
		for _, dc := range decodeCalls {
			ok, err := dc.call(ctx, c)
			if err == nil {
				if !ok && (!dc.optional || strings.TrimSpace(string(b)) != "") {
					t.Fatalf("%s: no value and no error for body %q", dc.name, b)
				}
				continue
			}
			var re *ResponseError
			if !errors.As(err, &re) {
				t.Fatalf("%s: %v (%T), want *ResponseError", dc.name, err, err)
			}
			if re.Status != status || re.RequestID != "fz" || re.Reason == "" {
				t.Fatalf("%s: %+v", dc.name, re)
			}
			msg := err.Error()
			if len(msg) > 600 {
				t.Fatalf("%s: error of %d bytes", dc.name, len(msg))
			}
			// The error may name the Content-Type (clipped), which the fuzzer can make equal
			// to the body: that is the header shown, not the body quoted.
			if len(b) >= 40 && strings.Contains(msg, string(b)) && !strings.Contains(ct, string(b)) {
				t.Fatalf("%s: error quotes the body: %q", dc.name, msg)
			}
		}
	})
}
