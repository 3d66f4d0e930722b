package server

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mark3labs/mcp-go/client"

	"github.com/tallyfy-mcp/tallyfy-mcp/tallyfy/sandbox"
	"github.com/tallyfy-mcp/tallyfy-mcp/tools"
)

// callersFixture serves the app with --callers against a spy sandbox: "reader" (read tier,
// the member token), "admin" (the admin token, from a file) and "member" (the member token,
// every tier), with an audit log file.
type callersFixture struct {
	*fixture
	file, audit string
	tokens      map[string]string // caller name -> MCP bearer token
}

func newCallersFixture(t *testing.T, extra ...string) *callersFixture {
	t.Helper()
	dir := t.TempDir()
	cf := &callersFixture{file: filepath.Join(dir, "callers.json"), audit: filepath.Join(dir, "audit.jsonl"),
		tokens: map[string]string{"reader": "mcp-reader-token", "admin": "mcp-admin-token", "member": "mcp-member-token"}}
	adminFile := filepath.Join(dir, "admin.tallyfy")
	if err := os.WriteFile(adminFile, []byte(sandbox.AdminToken+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	writeCallers(t, cf.file,
		map[string]any{"name": "reader", "token_sha256": sha(cf.tokens["reader"]), "tallyfy_token_env": "READER_TALLYFY", "max_tier": "read"},
		map[string]any{"name": "admin", "token_sha256": sha(cf.tokens["admin"]), "tallyfy_token_file": adminFile},
		map[string]any{"name": "member", "token_sha256": sha(cf.tokens["member"]), "tallyfy_token_env": "MEMBER_TALLYFY"},
	)
	sb := newSpySandbox(t)
	f := &fixture{Logs: &logBuffer{}, SB: sb}
	env := map[string]string{"READER_TALLYFY": sandbox.MemberToken, "MEMBER_TALLYFY": sandbox.MemberToken}
	args := append([]string{"--transport", "http", "--log-level", "debug", "--base-url", sb.URL, "--org-id", sandbox.OrgID,
		"--callers", cf.file, "--audit-log", cf.audit}, extra...)
	cfg, err := ParseConfig(args, func(k string) string { return env[k] }, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Version = "test"
	app, err := New(cfg, NewLogger(f.Logs, cfg.LogLevel, cfg.LogFormat))
	if err != nil {
		t.Fatal(err)
	}
	f.App, f.H = app, NewHTTPServer(app, "")
	f.TS = httptest.NewServer(f.H.Handler)
	f.URL = f.TS.URL
	t.Cleanup(func() { f.TS.CloseClientConnections(); f.TS.Close(); _ = app.Close() })
	cf.fixture = f
	return cf
}

func (cf *callersFixture) auditRecords(t *testing.T) []map[string]any {
	t.Helper()
	fh, err := os.Open(cf.audit)
	if err != nil {
		t.Fatal(err)
	}
	defer fh.Close()
	var out []map[string]any
	sc := bufio.NewScanner(fh)
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatal(err)
		}
		out = append(out, m)
	}
	return out
}

// TestCallersActAsThemselves: each caller sees and may call what their cap allows, Tallyfy
// receives each caller's own token, the member's delete meets Tallyfy's own 403, and the audit
// log names the caller.
func TestCallersActAsThemselves(t *testing.T) {
	t.Parallel()
	cf := newCallersFixture(t, "--confirm", "off")
	conn := func(name string) *client.Client {
		c := connectHTTP(t, kindStreamable, cf.URL, clientOpts{era: modernEra, headers: map[string]string{"Authorization": "Bearer " + cf.tokens[name]}})
		t.Cleanup(func() { _ = c.Close() })
		return c
	}
	reader, admin, member := conn("reader"), conn("admin"), conn("member")

	t.Run("the reader sees only get and list tools and cannot delete by name", func(t *testing.T) {
		names := toolNames(t, ctxT(t, 10*time.Second), reader)
		want := []string{"get_run", "get_task", "get_template", "list_runs", "list_tasks", "list_templates"}
		if !slices.Equal(names, want) {
			t.Fatalf("reader's tools/list = %v, want %v", names, want)
		}
		if n := len(toolNames(t, ctxT(t, 10*time.Second), admin)); n != len(tools.All) {
			t.Fatalf("admin sees %d tools, want all 15", n)
		}
		_, err := call(ctxT(t, 10*time.Second), reader, "delete_task", map[string]any{"task_id": sandbox.IDs.ArchivedTask})
		if err == nil || !strings.Contains(err.Error(), "not found") {
			t.Fatalf("reader calling delete_task by name: %v, want tool not found", err)
		}
		if _, exists := cf.SB.Lookup("task", sandbox.IDs.ArchivedTask); !exists {
			t.Fatal("the reader's delete went through")
		}
	})

	t.Run("Tallyfy receives each caller's own token", func(t *testing.T) {
		for _, tc := range []struct {
			c    *client.Client
			want string
		}{{reader, sandbox.MemberToken}, {admin, sandbox.AdminToken}} {
			before := len(cf.SB.Done())
			if res := mustCall(t, ctxT(t, 10*time.Second), tc.c, "get_task", map[string]any{"task_id": sandbox.IDs.LiveTask}); res.IsError {
				t.Fatal(text(res))
			}
			reqs := cf.SB.Done()[before:]
			if len(reqs) == 0 || reqs[len(reqs)-1].Auth != "Bearer "+tc.want {
				t.Fatalf("the sandbox received %+v, want Bearer %s", reqs, tc.want)
			}
			for _, r := range reqs {
				if strings.Contains(r.Auth, "mcp-") {
					t.Fatal("an MCP bearer token reached Tallyfy")
				}
			}
		}
	})

	t.Run("the member's delete Tallyfy refuses their role is refused first, naming them", func(t *testing.T) {
		res := mustCall(t, ctxT(t, 10*time.Second), member, "delete_run", map[string]any{"run_id": sandbox.IDs.ArchivedRun})
		if !res.IsError || !strings.Contains(text(res), "Refused before anything was asked or changed") || !strings.Contains(text(res), `caller "member"'s Tallyfy user is a Standard member`) {
			t.Fatalf("member's delete: %s", text(res))
		}
		if _, exists := cf.SB.Lookup("run", sandbox.IDs.ArchivedRun); !exists {
			t.Fatal("the member's delete went through")
		}
		res = mustCall(t, ctxT(t, 10*time.Second), admin, "delete_task", map[string]any{"task_id": sandbox.IDs.ArchivedTask})
		if res.IsError {
			t.Fatalf("admin's delete: %s", text(res))
		}
	})

	t.Run("audit records name the caller and their Tallyfy user", func(t *testing.T) {
		byCaller := map[string][]string{}
		users := map[string]string{"reader": "morgan.member@sandbox.example", "member": "morgan.member@sandbox.example", "admin": "avery.admin@sandbox.example"}
		for _, r := range cf.auditRecords(t) {
			name, _ := r["caller"].(string)
			if u, _ := r["tallyfy_user"].(string); !strings.HasPrefix(u, users[name]+" (id ") {
				t.Fatalf("caller %q's record says tallyfy_user %q, want %s (id …)", name, u, users[name])
			}
			byCaller[name] = append(byCaller[name], fmt.Sprint(r["tool"], ":", r["outcome"]))
		}
		if !slices.Contains(byCaller["reader"], "delete_task:refused") || !slices.Contains(byCaller["member"], "delete_run:refused") ||
			!slices.Contains(byCaller["admin"], "delete_task:ok") || len(byCaller[""]) != 0 {
			t.Fatalf("audit records by caller: %v", byCaller)
		}
	})

	t.Run("each caller's Tallyfy user is looked up once", func(t *testing.T) {
		byToken := map[string]int{}
		for _, r := range cf.SB.Done() {
			if strings.HasSuffix(r.Path, "/me") {
				byToken[r.Auth]++
			}
		}
		// reader and member share the member token: one look-up each, admin one.
		if byToken["Bearer "+sandbox.AdminToken] != 1 || byToken["Bearer "+sandbox.MemberToken] != 2 {
			t.Fatalf("GET /me per token: %v", byToken)
		}
	})

	t.Run("an unknown bearer token is refused", func(t *testing.T) {
		status, hdr, _ := rawPost(t, cf.URL+"/mcp", initBody, map[string]string{"Authorization": "Bearer mcp-someone-else"})
		if status != 401 || !strings.HasPrefix(hdr.Get("WWW-Authenticate"), "Bearer") {
			t.Fatalf("status %d", status)
		}
	})
}

// TestCallersOrOAuthGuardOffLoopback: off loopback, a callers file or an OAuth issuer is
// caller authentication enough (no --auth-token needed); TLS or --insecure-http still is.
func TestCallersOrOAuthGuardOffLoopback(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		args []string
		ok   bool
	}{
		{[]string{"--callers", "callers.json", "--insecure-http"}, true},
		{[]string{"--oauth-issuer", "https://login.example.com", "--oauth-audience", "https://mcp.example.com/mcp", "--insecure-http"}, true},
		{[]string{"--callers", "callers.json"}, false}, // TLS still required
		{[]string{"--insecure-http"}, false},           // nobody authenticated
	} {
		cfg, err := ParseConfig(append([]string{"--transport", "http", "--sandbox", "--addr", "0.0.0.0:0"}, tc.args...), func(string) string { return "" }, io.Discard)
		if err != nil {
			t.Fatal(err)
		}
		if err := CheckHTTPConfig(cfg, ""); (err == nil) != tc.ok {
			t.Errorf("%v: CheckHTTPConfig = %v, want ok=%v", tc.args, err, tc.ok)
		}
	}
	for _, bad := range [][]string{
		{"--callers", "c.json"}, // stdio
		{"--transport", "http", "--oauth-issuer", "https://login.example.com"},
		{"--oauth-issuer", "https://login.example.com", "--oauth-audience", "https://mcp.example.com/mcp"}, // stdio
	} {
		if _, err := ParseConfig(bad, func(string) string { return "" }, io.Discard); err == nil {
			t.Errorf("%v accepted", bad)
		}
	}
}
