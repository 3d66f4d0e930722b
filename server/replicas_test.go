package server

import (
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mark3labs/mcp-go/client"

	"github.com/tallyfy-mcp/tallyfy-mcp/internal/redistest"
	"github.com/tallyfy-mcp/tallyfy-mcp/tallyfy/sandbox"
)

// confirmKeyFile writes a confirm key file shared by the replicas of a test.
func confirmKeyFile(t testing.TB, keys ...string) string {
	t.Helper()
	if len(keys) == 0 {
		keys = []string{strings.Repeat("k3y-", 16)}
	}
	p := filepath.Join(t.TempDir(), "confirm.key")
	if err := os.WriteFile(p, []byte(strings.Join(keys, "\n")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// newReplica builds one replica (ParseConfig + New + NewHTTPServer, as production does) against
// a Tallyfy sandbox that several replicas share.
func newReplica(t testing.TB, sb *spySandbox, args ...string) *fixture {
	t.Helper()
	f := &fixture{Logs: &logBuffer{}, SB: sb}
	all := append([]string{"--transport", "http", "--log-level", "debug", "--base-url", sb.URL, "--org-id", sandbox.OrgID}, args...)
	f.serve(t, all, func(k string) string {
		if k == "TALLYFY_ACCESS_TOKEN" {
			return sandbox.AdminToken
		}
		return ""
	}, "")
	return f
}

// twoReplicas starts two replicas that share a real Redis, the confirm key and one sandbox,
// each with a 2026-07-28 client (no session: any replica answers any request).
func twoReplicas(t *testing.T, args ...string) (redis *redistest.Server, sb *spySandbox, a, b *client.Client) {
	t.Helper()
	redis = redistest.Start(t)
	sb = newSpySandbox(t)
	shared := append([]string{"--state", redis.URL(0), "--confirm-key-file", confirmKeyFile(t)}, args...)
	for _, c := range []**client.Client{&a, &b} {
		f := newReplica(t, sb, shared...)
		*c = connectHTTP(t, kindStreamable, f.URL, clientOpts{era: modernEra})
		cl := *c
		t.Cleanup(func() { _ = cl.Close() })
	}
	return redis, sb, a, b
}

func askConfirmToken(t *testing.T, c *client.Client, tool, arg, id string) string {
	t.Helper()
	res := mustCall(t, ctxT(t, 15*time.Second), c, tool, map[string]any{arg: id})
	m := structured(t, res)
	tok, _ := m["confirm_token"].(string)
	if res.IsError || m["status"] != "confirmation_required" || tok == "" {
		t.Fatalf("%s: want confirmation_required with a token, got %s", tool, text(res))
	}
	return tok
}

// TestReplicasShareConfirmTokens: a token minted on replica A is redeemed on replica B, and a
// token used on B cannot be used again on A (single use across replicas).
func TestReplicasShareConfirmTokens(t *testing.T) {
	t.Parallel()
	_, sb, a, b := twoReplicas(t, "--confirm", "token")
	id := sandbox.IDs.ArchivedTemplate
	args := func(tok string) map[string]any { return map[string]any{"template_id": id, "confirm_token": tok} }

	// Used on B, but Tallyfy fails the delete (500) and the template is still there: the
	// token is spent all the same, so a replay on A must be refused while the template exists.
	tok := askConfirmToken(t, a, "delete_template", "template_id", id)
	faults, err := sandbox.ParseFaults("500#1:DELETE~/delete")
	if err != nil {
		t.Fatal(err)
	}
	sb.SetFaults(faults...)
	res := mustCall(t, ctxT(t, 15*time.Second), b, "delete_template", args(tok))
	if !res.IsError || !strings.Contains(text(res), "still there") {
		t.Fatalf("redeem on B with Tallyfy failing: %s", text(res))
	}
	sb.SetFaults()
	res = mustCall(t, ctxT(t, 15*time.Second), a, "delete_template", args(tok))
	if !res.IsError || !strings.Contains(text(res), "already used") {
		t.Fatalf("replay on A: want refused as already used, got %s", text(res))
	}
	if _, exists := sb.Lookup("template", id); !exists {
		t.Fatal("the replayed token deleted the template")
	}

	// A fresh token from A works on B.
	tok = askConfirmToken(t, a, "delete_template", "template_id", id)
	res = mustCall(t, ctxT(t, 15*time.Second), b, "delete_template", args(tok))
	if res.IsError || structured(t, res)["status"] != "deleted" {
		t.Fatalf("token from A redeemed on B: %s", text(res))
	}
	if _, exists := sb.Lookup("template", id); exists {
		t.Fatal("the template still exists after the delete on B")
	}
}

// TestReplicasShareDeleteBudget: a budget of 3 spread over A and B refuses the 4th delete on
// either replica.
func TestReplicasShareDeleteBudget(t *testing.T) {
	t.Parallel()
	_, sb, a, b := twoReplicas(t, "--confirm", "off", "--max-deletes-per-hour", "3")
	for i, d := range []struct {
		c         *client.Client
		tool, arg string
		id        string
	}{
		{a, "delete_task", "task_id", sandbox.IDs.ArchivedTask},
		{b, "delete_run", "run_id", sandbox.IDs.ArchivedRun},
		{a, "delete_template", "template_id", sandbox.IDs.ArchivedTemplate},
	} {
		res := mustCall(t, ctxT(t, 15*time.Second), d.c, d.tool, map[string]any{d.arg: d.id})
		if res.IsError || structured(t, res)["status"] != "deleted" {
			t.Fatalf("delete %d: %s", i+1, text(res))
		}
	}
	res := mustCall(t, ctxT(t, 15*time.Second), b, "archive_task", map[string]any{"task_id": sandbox.IDs.LiveTask})
	if res.IsError {
		t.Fatalf("archive_task: %s", text(res))
	}
	for name, c := range map[string]*client.Client{"A": a, "B": b} {
		res := mustCall(t, ctxT(t, 15*time.Second), c, "delete_task", map[string]any{"task_id": sandbox.IDs.LiveTask})
		if !res.IsError || !strings.Contains(text(res), "delete budget of 3") {
			t.Fatalf("4th delete on %s: want the budget refusal, got %s", name, text(res))
		}
	}
	if _, exists := sb.Lookup("task", sandbox.IDs.LiveTask); !exists {
		t.Fatal("the 4th delete went through")
	}
}

// TestReplicasFailClosedWithoutRedis: with Redis stopped a delete is refused with a message
// that says why, while get, list, archive and restore go on and /healthz says "degraded";
// after Redis restarts deletes work again.
func TestReplicasFailClosedWithoutRedis(t *testing.T) {
	t.Parallel()
	redis := redistest.Start(t)
	sb := newSpySandbox(t)
	f := newReplica(t, sb, "--state", redis.URL(0), "--confirm-key-file", confirmKeyFile(t), "--confirm", "token")
	c := connectHTTP(t, kindStreamable, f.URL, clientOpts{era: modernEra})
	t.Cleanup(func() { _ = c.Close() })
	id := sandbox.IDs.ArchivedTemplate
	tok := askConfirmToken(t, c, "delete_template", "template_id", id) // minted while Redis is up

	redis.Stop()
	for _, args := range []map[string]any{{"template_id": id}, {"template_id": id, "confirm_token": tok}} {
		res := mustCall(t, ctxT(t, 15*time.Second), c, "delete_template", args)
		if !res.IsError || !strings.Contains(text(res), "shared state store (--state) is unreachable") || !strings.Contains(text(res), "archiving and restoring still work") {
			t.Fatalf("delete with Redis down (%v): want the fail-closed refusal, got %s", args, text(res))
		}
	}
	if _, exists := sb.Lookup("template", id); !exists {
		t.Fatal("deleted with Redis down")
	}
	if res := mustCall(t, ctxT(t, 15*time.Second), c, "get_template", map[string]any{"template_id": id}); res.IsError {
		t.Fatalf("get with Redis down: %s", text(res))
	}
	for _, tool := range []string{"restore_task", "archive_task"} { // another item: the token's must stay unchanged
		if res := mustCall(t, ctxT(t, 15*time.Second), c, tool, map[string]any{"task_id": sandbox.IDs.ArchivedTask}); res.IsError {
			t.Fatalf("%s with Redis down: %s", tool, text(res))
		}
	}
	health := getHealth(t, f.URL)
	if health["status"] != "degraded" || field(health, "state", "backend") != "redis" || field(health, "state", "status") != "degraded" || field(health, "state", "error") != nil {
		t.Fatalf("/healthz with Redis down: %v", health)
	}

	redis.Restart()
	if h := getHealth(t, f.URL); h["status"] != "ok" || field(h, "state", "status") != "ok" {
		t.Fatalf("/healthz after the restart: %v", h)
	}
	// The token was never consumed (the store did not answer), so it still works.
	res := mustCall(t, ctxT(t, 15*time.Second), c, "delete_template", map[string]any{"template_id": id, "confirm_token": tok})
	if res.IsError || structured(t, res)["status"] != "deleted" {
		t.Fatalf("delete after Redis restarted: %s", text(res))
	}
}

func getHealth(t *testing.T, base string) map[string]any {
	t.Helper()
	resp, err := http.Get(base + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var m map[string]any
	if resp.StatusCode != http.StatusOK || json.NewDecoder(resp.Body).Decode(&m) != nil {
		t.Fatalf("/healthz: status %d", resp.StatusCode)
	}
	return m
}

// TestStateConfigRefusals: --state without a shared key refuses to start; a short key, an
// empty key file and an unknown scheme stop startup with the reason.
func TestStateConfigRefusals(t *testing.T) {
	t.Parallel()
	env := func(string) string { return "" }
	_, err := ParseConfig([]string{"--state", "redis://127.0.0.1:6379/0"}, env, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "--state needs --confirm-key-file") {
		t.Fatalf("--state without a key: %v", err)
	}
	short := confirmKeyFile(t, "# rotated 2026-01-01", "tooshort")
	if _, err := readConfirmKeys(short); err == nil || !strings.Contains(err.Error(), "line 2") {
		t.Fatalf("short key: %v", err)
	}
	if _, err := readConfirmKeys(confirmKeyFile(t, "# only a comment")); err == nil || !strings.Contains(err.Error(), "holds no key") {
		t.Fatalf("no key: %v", err)
	}
	keys, err := readConfirmKeys(confirmKeyFile(t, strings.Repeat("n", 32), "", strings.Repeat("o", 40)))
	if err != nil || len(keys) != 2 || string(keys[0]) != strings.Repeat("n", 32) {
		t.Fatalf("two keys: %q %v", keys, err)
	}
	cfg, err := ParseConfig([]string{"--sandbox", "--state", "memcached://x", "--confirm-key-file", confirmKeyFile(t)}, env, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := New(cfg, quiet); err == nil || !strings.Contains(err.Error(), "unsupported scheme") {
		t.Fatalf("unknown scheme: %v", err)
	}
}

// TestReplicasShareBulkPlans: a bulk plan made on replica A executes on B, once: replaying
// its plan_token on A is refused; a bulk delete plan counts against the shared budget; with
// Redis stopped a bulk delete is refused (fail closed) while a bulk archive plan still works.
func TestReplicasShareBulkPlans(t *testing.T) {
	t.Parallel()
	redis, sb, a, b := twoReplicas(t, "--confirm", "token", "--max-deletes-per-hour", "1")
	plan := func(c *client.Client, tool string, ids ...string) map[string]any {
		t.Helper()
		res := mustCall(t, ctxT(t, 15*time.Second), c, tool, map[string]any{"type": "run", "ids": ids})
		if res.IsError || structured(t, res)["status"] != "planned" {
			t.Fatalf("%s plan: %s", tool, text(res))
		}
		return field(structured(t, res), "execute", "arguments").(map[string]any)
	}
	exec := plan(a, "bulk_archive", sandbox.IDs.ActiveRun)
	if res := mustCall(t, ctxT(t, 15*time.Second), b, "bulk_archive", exec); res.IsError || structured(t, res)["status"] != "done" {
		t.Fatalf("plan from A executed on B: %s", text(res))
	}
	if res := mustCall(t, ctxT(t, 15*time.Second), a, "bulk_archive", exec); !res.IsError || !strings.Contains(text(res), "already used") {
		t.Fatalf("replay on A: %s", text(res))
	}
	// Budget 1: a plan deleting 2 is refused on either replica when made.
	res := mustCall(t, ctxT(t, 15*time.Second), b, "bulk_delete", map[string]any{"type": "run", "ids": []string{sandbox.IDs.ArchivedRun, sandbox.IDs.ActiveRun}})
	if !res.IsError || !strings.Contains(text(res), "has 1 left") {
		t.Fatalf("plan over the shared budget: %s", text(res))
	}
	del := plan(a, "bulk_delete", sandbox.IDs.ArchivedRun)
	redis.Stop()
	res = mustCall(t, ctxT(t, 15*time.Second), b, "bulk_delete", del)
	if !res.IsError || !strings.Contains(text(res), "shared state store (--state) is unreachable") {
		t.Fatalf("bulk delete with Redis down: %s", text(res))
	}
	if _, exists := sb.Lookup("run", sandbox.IDs.ArchivedRun); !exists {
		t.Fatal("deleted with Redis down")
	}
	redis.Restart()
	if res := mustCall(t, ctxT(t, 15*time.Second), b, "bulk_delete", del); res.IsError || structured(t, res)["status"] != "done" {
		t.Fatalf("bulk delete after Redis restarted: %s", text(res))
	}
	if _, exists := sb.Lookup("run", sandbox.IDs.ArchivedRun); exists {
		t.Fatal("not deleted after the restart")
	}
}
