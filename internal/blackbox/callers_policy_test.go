package blackbox

// A callers-file entry's own cap and pacing through the built binary (issue 17 point 15's
// rows about callers): the caller's protect list refuses single archive and delete, a caller
// whose tools share none with the server's --tools sees no tool, and one caller's burst does
// not slow another caller of the same organization.

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mark3labs/mcp-go/client"

	"github.com/tallyfy-mcp/tallyfy-mcp/internal/harness"
	"github.com/tallyfy-mcp/tallyfy-mcp/internal/testkit"
	"github.com/tallyfy-mcp/tallyfy-mcp/tallyfy/sandbox"
)

// callersBinary runs the binary over HTTP on sb with the callers given and args; alice acts
// with the sandbox's admin token, bob with its member token.
func callersBinary(t *testing.T, sb *testkit.SpySandbox, entries []map[string]any, args ...string) *harness.Binary {
	t.Helper()
	file := filepath.Join(t.TempDir(), "callers.json")
	testkit.WriteCallers(t, file, entries...)
	return runBinary(t, []string{"ALICE_TALLYFY=" + sandbox.AdminToken, "BOB_TALLYFY=" + sandbox.MemberToken},
		append([]string{"--transport", "http", "--addr", "127.0.0.1:0", "--base-url", sb.URL, "--org-id", sandbox.OrgID, "--callers", file}, args...)...)
}

func callerEntry(name string, kv map[string]any) map[string]any {
	e := map[string]any{"name": name, "token_sha256": testkit.TokenSHA256("bearer-" + name), "tallyfy_token_env": strings.ToUpper(name) + "_TALLYFY"}
	for k, v := range kv {
		e[k] = v
	}
	return e
}

func connectAs(t *testing.T, url, name string) *client.Client {
	t.Helper()
	c := testkit.ConnectHTTP(t, testkit.Streamable, url, testkit.ClientOpts{Era: testkit.Legacy, Headers: bearer("bearer-" + name)})
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// TestCallerProtectListBinary: IDs on a caller's own protect list are refused single archive
// and delete, though the server protects nothing; nothing but reads reaches Tallyfy.
func TestCallerProtectListBinary(t *testing.T) {
	t.Parallel()
	sb := testkit.NewSpySandbox(t)
	b := callersBinary(t, sb, []map[string]any{callerEntry("alice", map[string]any{"protect": []string{sandbox.IDs.ActiveRun, sandbox.IDs.ArchivedTemplate}})},
		"--tallyfy-rate", "0", "--confirm", "off")
	c := connectAs(t, b.ListenURL(t), "alice")
	ctx := testkit.Context(t, 30*time.Second)
	for tool, args := range map[string]map[string]any{
		"archive_run":     {"run_id": sandbox.IDs.ActiveRun},
		"delete_template": {"template_id": sandbox.IDs.ArchivedTemplate},
	} {
		res := testkit.MustCall(t, ctx, c, tool, args)
		if !res.IsError || !strings.Contains(testkit.Text(res), "protected") {
			t.Fatalf("%s of a caller-protected item: %s", tool, testkit.Text(res))
		}
	}
	for _, r := range sb.Done() {
		if r.Method != "GET" {
			t.Fatalf("Tallyfy received %s %s", r.Method, r.Path)
		}
	}
	if r, _ := sb.Lookup("run", sandbox.IDs.ActiveRun); r.Archived {
		t.Fatal("the protected run was archived")
	}
	if _, ok := sb.Lookup("template", sandbox.IDs.ArchivedTemplate); !ok {
		t.Fatal("the protected template was deleted")
	}
}

// TestCallerWithNoToolInCommonSeesNone: server --tools and a caller's tools with nothing in
// common leave that caller no tool at all, listed or callable.
func TestCallerWithNoToolInCommonSeesNone(t *testing.T) {
	t.Parallel()
	sb := testkit.NewSpySandbox(t)
	b := callersBinary(t, sb, []map[string]any{
		callerEntry("alice", map[string]any{"tools": []string{"list_tasks", "get_task"}}),
		callerEntry("bob", nil),
	}, "--tallyfy-rate", "0", "--tools", "list_runs,get_run")
	url := b.ListenURL(t)
	ctx := testkit.Context(t, 30*time.Second)
	alice := connectAs(t, url, "alice")
	if names := testkit.ToolNames(t, ctx, alice); len(names) != 0 {
		t.Fatalf("alice sees %v; her tools and the server's have nothing in common", names)
	}
	for _, name := range []string{"list_runs", "list_tasks", "archive_run"} {
		if res, err := testkit.Call(ctx, alice, name, nil); err == nil && !res.IsError {
			t.Fatalf("alice called %s: %s", name, testkit.Text(res))
		}
	}
	if names := testkit.ToolNames(t, ctx, connectAs(t, url, "bob")); strings.Join(names, ",") != "get_run,list_runs" {
		t.Fatalf("bob (no cap) sees %v, want the server's get_run and list_runs", names)
	}
}

// TestPacingIsPerCallerCredential: two callers of one organization with their own Tallyfy
// tokens, paced at 2 requests a second each. While alice's burst of 8 calls waits for her
// pace (about 3 s), bob's one call goes out at once.
func TestPacingIsPerCallerCredential(t *testing.T) {
	t.Parallel()
	sb := testkit.NewSpySandbox(t)
	b := callersBinary(t, sb, []map[string]any{callerEntry("alice", nil), callerEntry("bob", nil)}, "--tallyfy-rate", "2")
	url := b.ListenURL(t)
	alice, bob := connectAs(t, url, "alice"), connectAs(t, url, "bob")
	ctx := testkit.Context(t, 60*time.Second)
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			if res, err := testkit.Call(ctx, alice, "get_run", map[string]any{"run_id": sandbox.IDs.ActiveRun}); err != nil || res.IsError {
				t.Errorf("alice: %v %v", err, res)
			}
		})
	}
	testkit.Eventually(t, 10*time.Second, "alice's burst to be under way", func() bool { return len(sb.Done()) >= 2 })
	start := time.Now()
	res := testkit.MustCall(t, ctx, bob, "get_run", map[string]any{"run_id": sandbox.IDs.ActiveRun})
	took := time.Since(start)
	wg.Wait()
	if res.IsError {
		t.Fatal(testkit.Text(res))
	}
	if took > time.Second { // behind alice's queue it would wait about 3 s
		t.Fatalf("bob's call took %s behind alice's burst; each credential has its own pace", took)
	}
	var aliceReqs int
	for _, r := range sb.Done() {
		if r.Auth == "Bearer "+sandbox.AdminToken {
			aliceReqs++
		}
	}
	if aliceReqs < 8 {
		t.Fatalf("alice made %d Tallyfy requests, want 8 or more", aliceReqs)
	}
}

// TestWeakCallerTokensRefused: the binary refuses to start on a callers file whose hash is that
// of a well-known weak token, or on the deploy example's placeholders, naming the entry.
func TestWeakCallerTokensRefused(t *testing.T) {
	t.Parallel()
	sb := testkit.NewSpySandbox(t)
	start := func(t *testing.T, file string) *harness.Binary {
		return runBinary(t, []string{"ALICE_TALLYFY=" + sandbox.AdminToken, "CLEANUP_TALLYFY_TOKEN=x"}, "--transport", "http", "--addr", "127.0.0.1:0",
			"--base-url", sb.URL, "--org-id", sandbox.OrgID, "--callers", file)
	}
	for _, weak := range []string{"", "secret", "bob", "123", "password", "admin", "changeme", "test", "Secret", "ADMIN", "secret\n"} {
		t.Run(strconv.Quote(weak), func(t *testing.T) {
			t.Parallel()
			file := filepath.Join(t.TempDir(), "callers.json")
			testkit.WriteCallers(t, file, map[string]any{"name": "alice", "token_sha256": testkit.TokenSHA256(weak), "tallyfy_token_env": "ALICE_TALLYFY"})
			b := start(t, file)
			if code := b.Wait(t, 20*time.Second); code == 0 || !strings.Contains(b.Stderr.String(), `entry 1 ("alice"): "token_sha256" is the hash of`) ||
				!strings.Contains(b.Stderr.String(), "openssl rand -hex 32") {
				t.Fatalf("exit %d:\n%s", code, b.Stderr.String())
			}
		})
	}
	t.Run("the deploy example as shipped", func(t *testing.T) {
		t.Parallel()
		dir := t.TempDir()
		example, err := os.ReadFile("../../docs/deploy/callers.example.json")
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range []string{"alice-tallyfy", "bob-tallyfy"} {
			if err := os.WriteFile(filepath.Join(dir, f), []byte(sandbox.AdminToken), 0o600); err != nil {
				t.Fatal(err)
			}
		}
		file := filepath.Join(dir, "callers.json")
		if err := os.WriteFile(file, []byte(strings.ReplaceAll(string(example), "/run/secrets/", dir+"/")), 0o600); err != nil {
			t.Fatal(err)
		}
		b := start(t, file)
		if code := b.Wait(t, 20*time.Second); code == 0 || !strings.Contains(b.Stderr.String(), `"token_sha256" must be the 64 hex characters`) {
			t.Fatalf("exit %d:\n%s", code, b.Stderr.String())
		}
	})
}
