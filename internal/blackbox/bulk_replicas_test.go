package blackbox

// Replicas of the built binary sharing a real redis-server and a confirm key: bulk plans,
// the delete budget, /healthz and session termination while Redis is well and while it is
// not (issue 17 points 11 and 15).

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mark3labs/mcp-go/client"
	"github.com/mark3labs/mcp-go/mcp"
	"github.com/redis/go-redis/v9"

	"github.com/tallyfy-mcp/tallyfy-mcp/internal/harness"
	"github.com/tallyfy-mcp/tallyfy-mcp/internal/redistest"
	"github.com/tallyfy-mcp/tallyfy-mcp/internal/testkit"
	"github.com/tallyfy-mcp/tallyfy-mcp/tallyfy/sandbox"
)

// replica is one HTTP replica of the binary.
type replica struct {
	url string
	bin *harness.Binary
}

// sharedKeyFile is a confirm key file every replica of a test reads.
func sharedKeyFile(t *testing.T) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "confirm.key")
	if err := os.WriteFile(p, []byte(strings.Repeat("k3y", 22)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// startReplica runs the binary on HTTP against a Tallyfy at tallyfyURL for org, sharing
// state at stateURL with keys from keyFile.
func startReplica(t *testing.T, tallyfyURL, org, stateURL, keyFile string, args ...string) replica {
	t.Helper()
	env := []string{"TALLYFY_ACCESS_TOKEN=" + sandbox.AdminToken, "TALLYFY_ORG_ID=" + org, "TALLYFY_BASE_URL=" + tallyfyURL, "TALLYFY_RATE=0"}
	b := runBinary(t, env, append([]string{"--transport", "http", "--addr", "127.0.0.1:0", "--state", stateURL, "--confirm-key-file", keyFile}, args...)...)
	url := b.ListenURL(t)
	testkit.WaitHealthy(t, http.DefaultClient, url)
	return replica{url: url, bin: b}
}

func (r replica) client(t *testing.T) *client.Client {
	return testkit.ModernClient(t, r.url, "replica-test", nil)
}

func callOn(t *testing.T, c *client.Client, tool string, args map[string]any) *mcp.CallToolResult {
	t.Helper()
	return testkit.MustCall(t, testkit.Context(t, 60*time.Second), c, tool, args)
}

func planOn(t *testing.T, c *client.Client, tool string, args map[string]any) bulkOut {
	t.Helper()
	res := callOn(t, c, tool, args)
	out := bulkResult(t, res)
	if res.IsError || out.Status != "planned" {
		t.Fatalf("%s %v: want a plan, got %s", tool, args, testkit.Text(res))
	}
	return out
}

func health(t *testing.T, url string) (map[string]any, string) {
	t.Helper()
	resp, err := http.Get(url + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var raw json.RawMessage
	if err := json.NewDecoder(resp.Body).Decode(&raw); err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	_ = json.Unmarshal(raw, &m)
	if resp.StatusCode != http.StatusOK {
		t.Errorf("/healthz answered %d", resp.StatusCode)
	}
	return m, string(raw)
}

// TestBulkPlanAcrossReplicas: a plan made on A for one organization is refused on B, which
// serves another organization with the same Redis and key, before B sends Tallyfy anything;
// racing executes of one plan on two replicas of the same organization run it exactly once.
func TestBulkPlanAcrossReplicas(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	key := sharedKeyFile(t)
	_, tallyfyA := testkit.StartSandbox(t)
	other := testkit.NewSpySandbox(t)
	const otherOrg = "0123456789abcdef0123456789abcdef"
	a := startReplica(t, tallyfyA, sandbox.OrgID, srv.URL(0), key)
	c := startReplica(t, tallyfyA, sandbox.OrgID, srv.URL(0), key)
	b := startReplica(t, other.URL, otherOrg, srv.URL(0), key)
	ca, cb, cc := a.client(t), b.client(t), c.client(t)

	pl := planOn(t, ca, "bulk_archive", map[string]any{"type": "run", "ids": []string{sandbox.IDs.ActiveRun, sandbox.IDs.CompleteRun}})
	before := len(other.Done()) + other.InFlight()
	res := callOn(t, cb, "bulk_archive", pl.withArgs())
	if !res.IsError || !strings.Contains(testkit.Text(res), "organization") {
		t.Fatalf("a plan of another organization executed on B: %s", testkit.Text(res))
	}
	if n := len(other.Done()) + other.InFlight() - before; n != 0 {
		t.Fatalf("B sent %d requests to its Tallyfy for another organization's plan", n)
	}

	results := make([]*mcp.CallToolResult, 4)
	var wg sync.WaitGroup
	for i := range results {
		cl := []*client.Client{ca, cc}[i%2]
		wg.Go(func() { results[i] = callOn(t, cl, "bulk_archive", pl.withArgs()) })
	}
	wg.Wait()
	exactlyOneRan(t, results, "executes racing on two replicas")
}

// TestBulkWithRedisUnwell: the delete budget a bulk_delete plan shows comes from Redis (a
// delete on A leaves one fewer on B); with Redis down a bulk_delete plan is refused while
// bulk archive goes on, single use on the replica; /healthz says only "degraded" publicly,
// also when Redis answers PING but refuses writes, and the log has the details.
func TestBulkWithRedisUnwell(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	key := sharedKeyFile(t)
	_, tallyfy := testkit.StartSandbox(t)
	args := []string{"--max-deletes-per-hour", "5", "--confirm", "token"}
	a := startReplica(t, tallyfy, sandbox.OrgID, srv.URL(0), key, args...)
	b := startReplica(t, tallyfy, sandbox.OrgID, srv.URL(0), key, args...)
	ca, cb := a.client(t), b.client(t)

	pl := planOn(t, ca, "bulk_delete", map[string]any{"type": "run", "ids": []string{sandbox.IDs.ArchivedRun}})
	if pl.DeletesLeft == nil || *pl.DeletesLeft != 5 {
		t.Fatalf("deletes_left on A: %v, want 5", pl.DeletesLeft)
	}
	if res := callOn(t, ca, "bulk_delete", pl.withArgs()); res.IsError || bulkResult(t, res).Totals["ok"] != 1 {
		t.Fatalf("bulk delete on A: %s", testkit.Text(res))
	}
	pl = planOn(t, cb, "bulk_delete", map[string]any{"type": "template", "ids": []string{sandbox.IDs.ArchivedTemplate}})
	if pl.DeletesLeft == nil || *pl.DeletesLeft != 4 {
		t.Fatalf("deletes_left on B after a delete on A: %v, want 4 (one window in Redis)", pl.DeletesLeft)
	}

	srv.Stop()
	res := callOn(t, cb, "bulk_delete", map[string]any{"type": "template", "ids": []string{sandbox.IDs.ArchivedTemplate}})
	if !res.IsError || res.StructuredContent != nil && bulkResult(t, res).PlanToken != "" || !strings.Contains(testkit.Text(res), "shared state store") {
		t.Fatalf("a bulk_delete plan with Redis down: %s", testkit.Text(res))
	}
	arch := planOn(t, cb, "bulk_archive", map[string]any{"type": "run", "ids": []string{sandbox.IDs.ActiveRun}})
	if res := callOn(t, cb, "bulk_archive", arch.withArgs()); res.IsError || bulkResult(t, res).Totals["ok"] != 1 {
		t.Fatalf("bulk archive with Redis down: %s", testkit.Text(res))
	}
	if res := callOn(t, cb, "bulk_archive", arch.withArgs()); !res.IsError || !strings.Contains(testkit.Text(res), "already used") {
		t.Fatalf("the same plan again on the same replica with Redis down: %s", testkit.Text(res))
	}
	port := strconv.Itoa(srv.Port)
	checkDegraded := func(when, logWant string) {
		t.Helper()
		h, raw := health(t, b.url)
		st, _ := h["state"].(map[string]any)
		if h["status"] != "degraded" || st["status"] != "degraded" || !strings.Contains(raw, "archive and restore go on") {
			t.Errorf("/healthz %s: %s", when, raw)
		}
		for _, leak := range []string{port, "127.0.0.1", "dial", "connection refused", "OOM", "redis:"} {
			if strings.Contains(raw, leak) {
				t.Errorf("/healthz %s shows %q: %s", when, leak, raw)
			}
		}
		testkit.Eventually(t, 5*time.Second, "the log to give the store's error", func() bool {
			return strings.Contains(b.bin.Stderr.String(), logWant)
		})
	}
	checkDegraded("with Redis down", port)

	srv.Restart()
	if h, raw := health(t, b.url); h["status"] != "ok" {
		t.Fatalf("/healthz after Redis came back: %s", raw)
	}
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr()})
	defer rdb.Close()
	ctx := context.Background()
	if err := rdb.ConfigSet(ctx, "maxmemory-policy", "noeviction").Err(); err != nil {
		t.Fatal(err)
	}
	if err := rdb.ConfigSet(ctx, "maxmemory", "1").Err(); err != nil {
		t.Fatal(err)
	}
	if err := rdb.Ping(ctx).Err(); err != nil {
		t.Fatalf("PING with writes refused: %v", err)
	}
	checkDegraded("with Redis refusing writes", "OOM")
	res = callOn(t, cb, "bulk_delete", map[string]any{"type": "template", "ids": []string{sandbox.IDs.ArchivedTemplate}})
	if !res.IsError {
		// Room only reads; the plan may be made, but its execute must be refused.
		pl := bulkResult(t, res)
		if res := callOn(t, cb, "bulk_delete", pl.withArgs()); !res.IsError || !strings.Contains(testkit.Text(res), "shared state store") {
			t.Fatalf("a bulk delete with Redis refusing writes: %s", testkit.Text(res))
		}
	}
}

// TestSessionEndedOnEveryReplica: an older-protocol session ended through one replica
// (DELETE /mcp) is ended on every replica sharing the store.
func TestSessionEndedOnEveryReplica(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	key := sharedKeyFile(t)
	_, tallyfy := testkit.StartSandbox(t)
	a := startReplica(t, tallyfy, sandbox.OrgID, srv.URL(0), key)
	b := startReplica(t, tallyfy, sandbox.OrgID, srv.URL(0), key)

	status, hdr, body := testkit.RawPost(t, a.url+"/mcp", testkit.InitBody, nil)
	sid := hdr.Get("Mcp-Session-Id")
	if status != http.StatusOK || sid == "" {
		t.Fatalf("initialize on A: %d %s", status, body)
	}
	h := map[string]string{"Mcp-Session-Id": sid, "Mcp-Protocol-Version": mcp.ProtocolVersion20251125}
	if status, _, body := testkit.RawPost(t, a.url+"/mcp", `{"jsonrpc":"2.0","method":"notifications/initialized"}`, h); status >= 300 {
		t.Fatalf("initialized on A: %d %s", status, body)
	}
	list := `{"jsonrpc":"2.0","id":2,"method":"tools/list"}`
	if status, _, body := testkit.RawPost(t, b.url+"/mcp", list, h); status != http.StatusOK {
		t.Fatalf("the session on B before it ended: %d %s", status, body)
	}
	req, err := http.NewRequest(http.MethodDelete, a.url+"/mcp", nil)
	if err != nil {
		t.Fatal(err)
	}
	testkit.SetHeaders(req, h)
	if status, _, body := testkit.Do(t, req); status != http.StatusOK {
		t.Fatalf("DELETE /mcp on A: %d %s", status, body)
	}
	for name, r := range map[string]replica{"A": a, "B": b} {
		if status, _, body := testkit.RawPost(t, r.url+"/mcp", list, h); status != http.StatusNotFound {
			t.Errorf("the ended session on %s: %d %s, want 404", name, status, clipBytes([]byte(body), 300))
		}
	}

	// With Redis down, sessions go on (reads work): the check fails open, and does not make
	// every request wait for the store.
	_, hdr, _ = testkit.RawPost(t, a.url+"/mcp", testkit.InitBody, nil)
	h2 := map[string]string{"Mcp-Session-Id": hdr.Get("Mcp-Session-Id"), "Mcp-Protocol-Version": mcp.ProtocolVersion20251125}
	testkit.RawPost(t, a.url+"/mcp", `{"jsonrpc":"2.0","method":"notifications/initialized"}`, h2)
	srv.Stop()
	start := time.Now()
	for i := range 5 {
		if status, _, body := testkit.RawPost(t, b.url+"/mcp", list, h2); status != http.StatusOK {
			t.Fatalf("request %d of a live session on B with Redis down: %d %s", i+1, status, clipBytes([]byte(body), 300))
		}
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("5 requests with Redis down took %s: each waited for the store", took)
	}
}

// TestBulkPlanBoundToCallerAndSession: on one HTTP server, a plan made by alice in one session
// is refused in her other session and to bob, and still runs where it was made.
func TestBulkPlanBoundToCallerAndSession(t *testing.T) {
	t.Parallel()
	file := filepath.Join(t.TempDir(), "callers.json")
	entry := func(name string) map[string]any {
		return map[string]any{"name": name, "token_sha256": testkit.TokenSHA256("tok-" + name + "-7f3a9c"), "tallyfy_token_env": "SHARED_TALLYFY"}
	}
	testkit.WriteCallers(t, file, entry("alice"), entry("bob"))
	_, tallyfy := testkit.StartSandbox(t)
	b := runBinary(t, []string{"SHARED_TALLYFY=" + sandbox.AdminToken, "TALLYFY_RATE=0"},
		"--transport", "http", "--addr", "127.0.0.1:0", "--base-url", tallyfy, "--org-id", sandbox.OrgID, "--callers", file)
	url := b.ListenURL(t)
	as := func(name string) *client.Client {
		c := testkit.ConnectHTTP(t, testkit.Streamable, url, testkit.ClientOpts{Era: testkit.Legacy, Headers: map[string]string{"Authorization": "Bearer tok-" + name + "-7f3a9c"}})
		t.Cleanup(func() { _ = c.Close() })
		return c
	}
	alice1, alice2, bob := as("alice"), as("alice"), as("bob")
	pl := planOn(t, alice1, "bulk_archive", map[string]any{"type": "run", "ids": []string{sandbox.IDs.ActiveRun}})
	for who, c := range map[string]*client.Client{"alice's other session": alice2, "bob": bob} {
		if res := callOn(t, c, "bulk_archive", pl.withArgs()); !res.IsError || !strings.Contains(testkit.Text(res), "session or caller") {
			t.Errorf("the plan executed by %s: %s", who, testkit.Text(res))
		}
	}
	if res := callOn(t, alice1, "bulk_archive", pl.withArgs()); res.IsError || bulkResult(t, res).Totals["ok"] != 1 {
		t.Fatalf("the plan in its own session, after the refusals: %s", testkit.Text(res))
	}
}
