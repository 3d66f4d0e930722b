package blackbox

// The binary serving HTTP: a call in flight across SIGTERM, unsafe binds refused, the callers
// file reloaded on SIGHUP, confirm tokens bound to a stateless caller, and rate-limited calls
// audited.

import (
	"context"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/mark3labs/mcp-go/mcp"

	"github.com/tallyfy-mcp/tallyfy-mcp/internal/testkit"
	"github.com/tallyfy-mcp/tallyfy-mcp/tallyfy/sandbox"
)

// TestBinarySIGTERM: the real binary, SIGTERM during an in-flight call over HTTP: the call
// completes and the process exits 0.
func TestBinarySIGTERM(t *testing.T) {
	t.Parallel()
	sb := testkit.NewSpySandbox(t)
	sb.SetFaults(sandbox.Fault{Kind: "latency", Param: "800ms", Method: "DELETE"})
	audit := testkit.AuditPath(t)
	b := runBinary(t, []string{"TALLYFY_ACCESS_TOKEN=" + sandbox.AdminToken},
		"--transport", "http", "--addr", "127.0.0.1:0", "--base-url", sb.URL, "--org-id", sandbox.OrgID, "--audit-log", audit)
	url := b.ListenURL(t)
	testkit.WaitHealthy(t, http.DefaultClient, url)
	c := testkit.ConnectHTTP(t, testkit.Streamable, url, testkit.ClientOpts{Era: testkit.Legacy})
	t.Cleanup(func() { _ = c.Close() })
	type outcome struct {
		res *mcp.CallToolResult
		err error
	}
	done := make(chan outcome, 1)
	go func() {
		res, err := testkit.Call(context.Background(), c, "archive_run", map[string]any{"run_id": sandbox.IDs.ActiveRun})
		done <- outcome{res, err}
	}()
	testkit.Eventually(t, 5*time.Second, "the call to reach Tallyfy", func() bool { return sb.InFlight() == 1 })
	if err := b.Cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	o := <-done
	if o.err != nil || o.res.IsError {
		t.Fatalf("in-flight call across SIGTERM: %v %v", o.err, o.res)
	}
	if code := b.Wait(t, 10*time.Second); code != 0 {
		t.Fatalf("exit code %d after SIGTERM; stderr:\n%s", code, b.Stderr.String())
	}
	if r, _ := sb.Lookup("run", sandbox.IDs.ActiveRun); !r.Archived {
		t.Fatal("not archived")
	}
	if recs := testkit.AuditRecords(t, audit); len(recs) != 2 || recs[0].Outcome != "intent" || recs[1].Outcome != "ok" || recs[1].Transport != "streamable-http" {
		t.Fatalf("audit: %+v", recs)
	}
}

var servingLine = regexp.MustCompile(`streamable=http://([^/ ]+)/mcp`)

// TestBinaryRefusesUnsafeHTTP: the same refusals through the binary (exit 1 with the reason),
// and a non-loopback bind with a token and --insecure-http starts and requires the token.
func TestBinaryRefusesUnsafeHTTP(t *testing.T) {
	t.Parallel()
	const token = "binary-caller-token-93b1"
	for _, tc := range []struct {
		args []string
		env  []string
		want string
	}{
		{[]string{"--addr", "0.0.0.0:0"}, nil, "--auth-token"},
		{[]string{"--addr", "0.0.0.0:0", "--auth-token", token}, nil, "--insecure-http"},
		{[]string{"--addr", "0.0.0.0:0"}, []string{"MCP_AUTH_TOKEN=" + token}, "--tls-cert and --tls-key, or --insecure-http"},
		{[]string{"--addr", "127.0.0.1:0", "--tls-cert", "x.pem"}, nil, "--tls-cert and --tls-key go together"},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			t.Parallel()
			b := runBinary(t, tc.env, append([]string{"--sandbox", "--transport", "http"}, tc.args...)...)
			if code := b.Wait(t, 10*time.Second); code == 0 {
				t.Fatalf("started: %s", b.Stderr.String())
			}
			if !strings.Contains(b.Stderr.String(), tc.want) {
				t.Fatalf("stderr does not say %q:\n%s", tc.want, b.Stderr.String())
			}
			if strings.Contains(b.Stderr.String(), token) {
				t.Fatal("stderr shows the auth token")
			}
		})
	}
	t.Run("insecure-http starts", func(t *testing.T) {
		t.Parallel()
		b := runBinary(t, []string{"MCP_AUTH_TOKEN=" + token}, "--sandbox", "--transport", "http", "--addr", "0.0.0.0:0", "--insecure-http")
		var hostport string
		testkit.Eventually(t, 10*time.Second, "the serving log line", func() bool {
			m := servingLine.FindStringSubmatch(b.Stderr.String())
			if m != nil {
				hostport = m[1]
			}
			return m != nil
		})
		_, port, _ := net.SplitHostPort(hostport)
		url := "http://127.0.0.1:" + port
		if s, _, _ := testkit.RawPost(t, url+"/mcp", testkit.InitBody, nil); s != http.StatusUnauthorized {
			t.Fatalf("without the token: %d", s)
		}
		c := testkit.ConnectHTTP(t, testkit.Streamable, url, testkit.ClientOpts{Era: testkit.Legacy, Headers: map[string]string{"Authorization": "Bearer " + token}})
		if res := testkit.MustCall(t, testkit.Context(t, 10*time.Second), c, "list_runs", nil); res.IsError {
			t.Fatal(testkit.Text(res))
		}
		_ = c.Close()
		_ = b.Cmd.Process.Signal(syscall.SIGTERM)
		if code := b.Wait(t, 10*time.Second); code != 0 {
			t.Fatalf("exit %d", code)
		}
		if strings.Contains(b.Stderr.String(), token) {
			t.Fatal("stderr shows the auth token")
		}
	})
}

// TestCallersReloadOnSIGHUP: the built binary reloads the callers file on SIGHUP: a caller
// added is let in, a caller removed is refused, and a bad file keeps the callers in force.
func TestCallersReloadOnSIGHUP(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	file := filepath.Join(dir, "callers.json")
	entry := func(name string) map[string]any {
		return map[string]any{"name": name, "token_sha256": testkit.TokenSHA256("tok-" + name), "tallyfy_token_env": "SHARED_TALLYFY"}
	}
	testkit.WriteCallers(t, file, entry("alice"))
	sb := testkit.NewSpySandbox(t)
	b := runBinary(t, []string{"SHARED_TALLYFY=" + sandbox.AdminToken},
		"--transport", "http", "--addr", "127.0.0.1:0", "--base-url", sb.URL, "--org-id", sandbox.OrgID, "--callers", file)
	url := b.ListenURL(t)
	status := func(name string) int {
		s, _, _ := testkit.RawPost(t, url+"/mcp", testkit.InitBody, map[string]string{"Authorization": "Bearer tok-" + name})
		return s
	}
	if status("alice") != 200 || status("bob") != 401 {
		t.Fatalf("before reload: alice %d, bob %d", status("alice"), status("bob"))
	}
	testkit.WriteCallers(t, file, entry("bob"))
	if err := b.Cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, 10*time.Second, "bob to be let in after SIGHUP", func() bool { return status("bob") == 200 })
	if status("alice") != 401 {
		t.Fatal("alice, removed from the file, is still let in")
	}
	if err := os.WriteFile(file, []byte("{ not json"), 0o600); err != nil {
		t.Fatal(err)
	}
	_ = b.Cmd.Process.Signal(syscall.SIGHUP)
	testkit.Eventually(t, 10*time.Second, "the failed reload to be logged", func() bool {
		return strings.Contains(b.Stderr.String(), "callers file was not reloaded")
	})
	if status("bob") != 200 {
		t.Fatal("a bad file on reload locked bob out")
	}
	if b.Exited() {
		t.Fatal("SIGHUP ended the process")
	}
}

// TestConfirmTokenBoundToStatelessCaller: on the 2026-07-28 stateless protocol a confirm_token
// carries no session, so it is bound to what each request does carry: the accepted bearer's
// hash and the client's declared name. Another caller cannot redeem it; the same caller can.
// Through the built binary over HTTP.
func TestConfirmTokenBoundToStatelessCaller(t *testing.T) {
	t.Parallel()
	bearer := "caller-token-" + strings.Repeat("x7", 12)
	audit := testkit.AuditPath(t)
	b := runBinary(t, []string{"MCP_AUTH_TOKEN=" + bearer}, "--sandbox", "--transport", "http", "--addr", "127.0.0.1:0",
		"--confirm", "token", "--audit-log", audit)
	url := b.ListenURL(t)
	testkit.WaitHealthy(t, http.DefaultClient, url)
	auth := map[string]string{"Authorization": "Bearer " + bearer}
	asker := testkit.ModernClient(t, url, "agent-alpha", auth)
	other := testkit.ModernClient(t, url, "agent-beta", auth)
	ctx := testkit.Context(t, 30*time.Second)
	id := sandbox.IDs.ArchivedRun

	res := testkit.MustCall(t, ctx, asker, "delete_run", map[string]any{"run_id": id})
	tok, _ := testkit.Field(testkit.Structured(t, res), "confirm_token").(string)
	if res.IsError || tok == "" {
		t.Fatalf("no confirm_token: %s", testkit.Text(res))
	}
	// Another client name, same bearer: refused, nothing deleted.
	res = testkit.MustCall(t, ctx, other, "delete_run", map[string]any{"run_id": id, "confirm_token": tok})
	if !res.IsError || !strings.Contains(testkit.Text(res), "different item, tool, organization, session or caller") {
		t.Fatalf("another stateless caller redeemed the token: %s", testkit.Text(res))
	}
	if r := testkit.MustCall(t, ctx, asker, "get_run", map[string]any{"run_id": id}); r.IsError {
		t.Fatalf("the run is gone after a refused redemption: %s", testkit.Text(r))
	}
	// The caller it was issued to: deleted.
	res = testkit.MustCall(t, ctx, asker, "delete_run", map[string]any{"run_id": id, "confirm_token": tok})
	if res.IsError || testkit.Field(testkit.Structured(t, res), "status") != "deleted" {
		t.Fatalf("the caller the token was issued to could not redeem it: %s", testkit.Text(res))
	}
	var refused, deleted int
	for _, r := range testkit.AuditRecords(t, audit) {
		switch {
		case r.Outcome == "refused" && r.ClientName == "agent-beta" && strings.Contains(r.Detail, "caller"):
			refused++
		case r.Outcome == "ok" && r.ClientName == "agent-alpha":
			deleted++
		}
	}
	if refused != 1 || deleted != 1 {
		t.Fatalf("audit: %d refusals of agent-beta, %d deletes by agent-alpha; want 1 and 1", refused, deleted)
	}
}

// TestRateLimitedCallsAreAudited: every lifecycle or permanent call refused by the per-session
// or the global rate limit leaves an audit record (outcome refused, with the reason and the
// item), as the README promises; reads stay unaudited. Through the built binary over HTTP.
func TestRateLimitedCallsAreAudited(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name   string
		limits []string
		detail string
	}{
		{"per session", []string{"--rate-limit", "1"}, "rate limited: too many tool calls on this session"},
		{"global", []string{"--rate-limit", "0", "--global-rate-limit", "1"}, "rate limited: too many tool calls on this server"},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			audit := testkit.AuditPath(t)
			args := append([]string{"--sandbox", "--transport", "http", "--addr", "127.0.0.1:0", "--audit-log", audit}, c.limits...)
			b := runBinary(t, nil, args...)
			url := b.ListenURL(t)
			testkit.WaitHealthy(t, http.DefaultClient, url)
			cl := testkit.ConnectHTTP(t, testkit.Streamable, url, testkit.ClientOpts{Era: testkit.Legacy})
			t.Cleanup(func() { _ = cl.Close() })
			ctx := testkit.Context(t, 30*time.Second)
			const n = 16
			var mu sync.Mutex
			limited := 0
			var wg sync.WaitGroup
			for i := range n {
				wg.Add(1)
				go func() {
					defer wg.Done()
					tool := []string{"archive_run", "activate_run"}[i%2]
					res := testkit.MustCall(t, ctx, cl, tool, map[string]any{"run_id": sandbox.IDs.ActiveRun})
					if res.IsError && strings.Contains(testkit.Text(res), "Retry after") {
						mu.Lock()
						limited++
						mu.Unlock()
					}
				}()
			}
			wg.Wait()
			// A read over the limit is refused too, and not audited.
			for range 4 {
				testkit.MustCall(t, ctx, cl, "get_run", map[string]any{"run_id": sandbox.IDs.ActiveRun})
			}
			if limited < n/2 {
				t.Fatalf("only %d of %d rapid calls were rate limited: the test proves nothing", limited, n)
			}
			var refused int
			for _, r := range testkit.AuditRecords(t, audit) {
				if r.Detail != c.detail {
					continue
				}
				refused++
				if r.Outcome != "refused" || r.ResourceID != sandbox.IDs.ActiveRun || r.ResourceType != "run" ||
					(r.Tool != "archive_run" && r.Tool != "activate_run") || r.Transport != "streamable-http" || r.Session == "" {
					t.Errorf("rate-limit record %+v", r)
				}
			}
			if refused != limited {
				t.Fatalf("%d calls were rate limited, %d audit records say so", limited, refused)
			}
		})
	}
}
