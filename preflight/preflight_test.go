package preflight

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/tallyfy-mcp/tallyfy-mcp/internal/testkit"
	"github.com/tallyfy-mcp/tallyfy-mcp/tallyfy"
	"github.com/tallyfy-mcp/tallyfy-mcp/tallyfy/sandbox"
)

// WriteText writes the report alone, as check does with one token (one block and the summary
// line).
func (r *Report) WriteText(w io.Writer) error {
	s := &Set{Reports: []*Report{r}}
	s.Settle()
	return s.WriteText(w)
}

// WriteJSON writes the report as one JSON object.
func (r *Report) WriteJSON(w io.Writer) error { return writeJSON(w, r) }

// env is a sandbox on a loopback port.
type env struct {
	sb   *sandbox.Sandbox
	base string
}

func startSandbox(t *testing.T, opts ...sandbox.Option) *env {
	t.Helper()
	sb, base := testkit.StartSandbox(t, opts...)
	return &env{sb: sb, base: base}
}

func (e *env) client(t *testing.T, token, org string) *tallyfy.Client {
	t.Helper()
	c, err := tallyfy.New(tallyfy.Config{BaseURL: e.base, Token: token, OrgID: org,
		RetryBaseDelay: time.Millisecond, MaxRetryAfter: 2 * time.Second, RequestTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// onlyGETs fails the test if the sandbox received anything but GET requests.
func (e *env) onlyGETs(t *testing.T) {
	t.Helper()
	log := e.sb.RequestLog()
	if len(log) == 0 {
		t.Fatal("the sandbox received no request")
	}
	for _, line := range log {
		if !strings.HasPrefix(line, "GET ") {
			t.Errorf("the check sent %q: it must only read", line)
		}
	}
}

func byName(t *testing.T, r *Report) map[string]Check {
	t.Helper()
	m := map[string]Check{}
	for _, c := range r.Checks {
		m[c.Name] = c
		if c.Status == StatusFail && c.Fix == "" {
			t.Errorf("failed check %s says nothing about what to do next: %+v", c.Name, c)
		}
	}
	return m
}

var allChecks = []string{"token", "organization", "role", "tasks", "runs", "templates", "rate_limits"}

func checkNames(r *Report) []string {
	var out []string
	for _, c := range r.Checks {
		out = append(out, c.Name)
	}
	return out
}

func TestCheckSandboxAdmin(t *testing.T) {
	t.Parallel()
	e := startSandbox(t)
	rep := Run(context.Background(), e.client(t, sandbox.AdminToken, sandbox.OrgID))
	if strings.Join(checkNames(rep), ",") != strings.Join(allChecks, ",") {
		t.Fatalf("checks = %v, want %v", checkNames(rep), allChecks)
	}
	for _, c := range rep.Checks {
		if c.Status != StatusOK {
			t.Errorf("check %s = %s: %s", c.Name, c.Status, c.Message)
		}
	}
	if !rep.OK || rep.User == nil || rep.User.ID != "1001" || rep.Organization == nil || rep.Organization.Role != "admin" ||
		rep.Organization.Name != sandbox.OrgName || rep.PermanentDeleteAllowed == nil || !*rep.PermanentDeleteAllowed {
		t.Errorf("report = %+v", rep)
	}
	m := byName(t, rep)
	if !strings.Contains(m["role"].Message, "Tallyfy lets this user archive, restore and permanently delete") || len(rep.Refused) != 0 || len(rep.PerItem) != 0 {
		t.Errorf("role: %s", m["role"].Message)
	}
	if rep.RateLimit == nil || rep.RateLimit.Limit != "" /* no source documents X-RateLimit-Limit: the sandbox does not send it */ || rep.RateLimit.Remaining == "" || !strings.Contains(m["rate_limits"].Message, "X-RateLimit-Remaining") {
		t.Errorf("rate limit = %+v, %s", rep.RateLimit, m["rate_limits"].Message)
	}
	// Each listing read its page with archived items included, and the archived ones alone.
	want := map[string]bool{}
	for _, p := range []string{"/tasks?", "/runs?", "/checklists?"} {
		for _, a := range []string{"archived=true", "archived=only"} {
			want[p+a] = false
		}
	}
	for _, line := range e.sb.RequestLog() {
		for k := range want {
			p, a, _ := strings.Cut(k, "?")
			if strings.Contains(line, p+"?") && strings.Contains(line, a) && strings.Contains(line, "per_page=100") {
				want[k] = true
			}
		}
	}
	for k, seen := range want {
		if !seen {
			t.Errorf("no request for %s (per_page=100): %v", k, e.sb.RequestLog())
		}
	}
	if !strings.Contains(m["tasks"].Message, "2 of 2 archived") {
		t.Errorf("tasks: %s", m["tasks"].Message)
	}
	e.onlyGETs(t)
}

func TestCheckSandboxMember(t *testing.T) {
	t.Parallel()
	e := startSandbox(t)
	rep := Run(context.Background(), e.client(t, sandbox.MemberToken, sandbox.OrgID))
	m := byName(t, rep)
	if !rep.OK || rep.Organization.Role != "standard" || rep.PermanentDeleteAllowed == nil || *rep.PermanentDeleteAllowed {
		t.Errorf("report = %+v", rep)
	}
	if r := m["role"]; r.Status != StatusOK || !strings.Contains(r.Message, "will refuse delete_run, delete_template (permanent deletes of processes and templates are for Tallyfy administrators)") ||
		!strings.Contains(r.Message, "archive_template, restore_template (Standard members change only the templates an administrator gave them edit access to)") {
		t.Errorf("role = %+v", r)
	}
	if len(rep.Refused) != 2 || rep.Refused[0].Tool != "delete_run" || len(rep.PerItem) != 2 {
		t.Errorf("refused %+v, per item %+v", rep.Refused, rep.PerItem)
	}
	e.onlyGETs(t)
}

func TestCheckSandboxLight(t *testing.T) {
	t.Parallel()
	e := startSandbox(t)
	rep := Run(context.Background(), e.client(t, sandbox.LightToken, sandbox.OrgID))
	m := byName(t, rep)
	if !rep.OK || rep.Organization.Role != "light" || m["role"].Status != StatusOK ||
		!strings.Contains(m["role"].Message, "archive_run, activate_run (Light members cannot archive or unarchive processes)") ||
		!strings.Contains(m["role"].Message, "archive_template, restore_template (Light members cannot change templates)") {
		t.Errorf("role = %+v", m["role"])
	}
	var refused []string
	for _, r := range rep.Refused {
		refused = append(refused, r.Tool)
	}
	if strings.Join(refused, ",") != "archive_run,activate_run,archive_template,restore_template,delete_run,delete_template" {
		t.Errorf("refused %v", refused)
	}
	e.onlyGETs(t)
}

func TestCheckBadToken(t *testing.T) {
	t.Parallel()
	e := startSandbox(t)
	rep := Run(context.Background(), e.client(t, "revoked-token-123", sandbox.OrgID))
	m := byName(t, rep)
	if rep.OK || m["token"].Status != StatusFail || !strings.Contains(m["token"].Message, "401") ||
		!strings.Contains(m["token"].Fix, "Settings > Integrations > REST API") {
		t.Errorf("token = %+v", m["token"])
	}
	for _, n := range []string{"organization", "role", "tasks", "runs", "templates"} {
		if m[n].Status != StatusSkipped {
			t.Errorf("%s = %+v, want skipped after a refused token", n, m[n])
		}
	}
	var b bytes.Buffer
	_ = rep.WriteText(&b)
	_ = rep.WriteJSON(&b)
	if strings.Contains(b.String(), "revoked-token-123") {
		t.Error("the report prints the token")
	}
	e.onlyGETs(t)
}

func TestCheckNotMember(t *testing.T) {
	t.Parallel()
	e := startSandbox(t)
	other := strings.Repeat("cd", 16)
	rep := Run(context.Background(), e.client(t, sandbox.AdminToken, other))
	m := byName(t, rep)
	if o := m["organization"]; o.Status != StatusFail || !strings.Contains(o.Message, "not a member of organization "+other) || !strings.Contains(o.Fix, "TALLYFY_ORG_ID") {
		t.Errorf("organization = %+v", o)
	}
	if m["token"].Status != StatusOK || m["runs"].Status != StatusSkipped || rep.OK {
		t.Errorf("report = %+v", rep.Checks)
	}
}

func TestCheckRateLimited(t *testing.T) {
	t.Parallel()
	e := startSandbox(t)
	f, err := sandbox.ParseFaults("429=120~/runs")
	if err != nil {
		t.Fatal(err)
	}
	e.sb.SetFaults(f...)
	rep := Run(context.Background(), e.client(t, sandbox.AdminToken, sandbox.OrgID))
	m := byName(t, rep)
	if r := m["runs"]; r.Status != StatusFail || !strings.Contains(r.Message, "429") || !strings.Contains(r.Fix, "wait 120 s") {
		t.Errorf("runs = %+v", r)
	}
	if rep.RateLimit == nil || rep.RateLimit.RetryAfter != "120" || !strings.Contains(m["rate_limits"].Message, "Retry-After 120") {
		t.Errorf("rate limit = %+v: %s", rep.RateLimit, m["rate_limits"].Message)
	}
}

func TestCheckUnreachable(t *testing.T) {
	t.Parallel()
	c, err := tallyfy.New(tallyfy.Config{BaseURL: "http://127.0.0.1:1/api", Token: "t", OrgID: sandbox.OrgID, MaxTries: 1})
	if err != nil {
		t.Fatal(err)
	}
	rep := Run(context.Background(), c)
	m := byName(t, rep)
	if tk := m["token"]; tk.Status != StatusFail || !strings.Contains(tk.Message, "could not reach Tallyfy") || !strings.Contains(tk.Fix, "TALLYFY_BASE_URL") {
		t.Errorf("token = %+v", tk)
	}
	if m["runs"].Status != StatusSkipped || rep.OK {
		t.Errorf("report = %+v", rep.Checks)
	}
}

func TestWriteText(t *testing.T) {
	t.Parallel()
	rep := &Report{BaseURL: "https://go.tallyfy.com/api", OrgID: sandbox.OrgID, Checks: []Check{
		{Name: "token", Status: StatusOK, Message: "fine"},
		{Name: "runs", Status: StatusFail, Message: "bad\x1b[31m\nname", Fix: "do this"},
		{Name: "templates", Status: StatusSkipped, Message: "not checked: x"},
	}}
	var b bytes.Buffer
	if err := rep.WriteText(&b); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(b.String(), "\n"), "\n")
	want := []string{
		"tallyfy-mcp check: https://go.tallyfy.com/api, organization " + sandbox.OrgID + " (read-only: GET requests only)",
		"✓ token: fine",
		"✗ processes: bad [31m name. Next: do this",
		"– templates: not checked: x",
		"1 check(s) failed: fix the ✗ lines above, then run tallyfy-mcp check again.",
	}
	if strings.Join(lines, "\n") != strings.Join(want, "\n") {
		t.Errorf("text =\n%s\nwant\n%s", strings.Join(lines, "\n"), strings.Join(want, "\n"))
	}
	b.Reset()
	rep.Checks[0].Message = "Settings > Organization"
	if err := rep.WriteJSON(&b); err != nil {
		t.Fatal(err)
	}
	var back Report
	if err := json.Unmarshal(b.Bytes(), &back); err != nil || len(back.Checks) != 3 || back.Checks[1].Fix != "do this" {
		t.Errorf("JSON round trip = %+v, %v", back, err)
	}
	if !strings.Contains(b.String(), `"Settings > Organization"`) {
		t.Errorf("JSON escapes what a person reads: %s", b.String())
	}
}

func TestDiagnose(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		err      error
		msg, fix string
	}{
		{&tallyfy.APIError{Status: http.StatusForbidden, Message: "No access"}, "403 Forbidden: No access", "TALLYFY_ORG_ID"},
		{&tallyfy.APIError{Status: http.StatusNotFound, Code: "ENDPOINT_NOT_FOUND"}, "ENDPOINT_NOT_FOUND", tallyfy.DefaultBaseURL},
		{&tallyfy.APIError{Status: http.StatusBadGateway, RequestID: "r1"}, "502 Bad Gateway", "contact Tallyfy support"},
		{&tallyfy.ResponseError{Status: 200, Reason: "not JSON (Content-Type text/html)"}, "could not be read", "not a web page"},
		{context.DeadlineExceeded, "did not answer in time", "check the network"},
	} {
		msg, fix := diagnose(tc.err, "list processes", "https://x.example/api")
		if !strings.Contains(msg, tc.msg) || !strings.Contains(fix, tc.fix) {
			t.Errorf("diagnose(%v) = %q, %q", tc.err, msg, fix)
		}
	}
}
