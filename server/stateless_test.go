package server

import (
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mark3labs/mcp-go/mcp"

	"github.com/tallyfy-mcp/tallyfy-mcp/internal/redistest"
	"github.com/tallyfy-mcp/tallyfy-mcp/tallyfy/sandbox"
	"github.com/tallyfy-mcp/tallyfy-mcp/tools"
)

// roundRobin is a load balancer without stickiness: each request goes to the next replica.
type roundRobin struct {
	proxies []*httputil.ReverseProxy
	next    atomic.Int64
	mu      sync.Mutex
	hits    map[int]int
}

func newRoundRobin(t *testing.T, backends ...string) (*roundRobin, string) {
	t.Helper()
	rr := &roundRobin{hits: map[int]int{}}
	for _, b := range backends {
		u, err := url.Parse(b)
		if err != nil {
			t.Fatal(err)
		}
		p := httputil.NewSingleHostReverseProxy(u)
		p.FlushInterval = -1 // streams pass through at once
		rr.proxies = append(rr.proxies, p)
	}
	ts := httptest.NewServer(rr)
	t.Cleanup(ts.Close)
	return rr, ts.URL
}

func (rr *roundRobin) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	i := int(rr.next.Add(1)-1) % len(rr.proxies)
	rr.mu.Lock()
	rr.hits[i]++
	rr.mu.Unlock()
	rr.proxies[i].ServeHTTP(w, r)
}

// TestStatelessReplicasBehindARoundRobin: with --stateless and a shared Redis and key, two
// replicas behind a balancer with no stickiness serve one client as one server: a 2026-07-28
// client's elicitation answer (multi round-trip) is taken by whichever replica gets the retry,
// and an older client's token flow works across them.
func TestStatelessReplicasBehindARoundRobin(t *testing.T) {
	t.Parallel()
	redis := redistest.Start(t)
	sb := newSpySandbox(t)
	shared := []string{"--stateless", "--state", redis.URL(0), "--confirm-key-file", confirmKeyFile(t), "--confirm-allow-token"}
	a, b := newReplica(t, sb, shared...), newReplica(t, sb, shared...)
	rr, front := newRoundRobin(t, a.URL, b.URL)

	t.Run("2026-07-28: elicitation across replicas", func(t *testing.T) {
		el := &elicitor{action: mcp.ElicitationResponseActionAccept, name: archivedTemplateName}
		c := connectHTTP(t, kindStreamable, front, clientOpts{era: modernEra, elicit: el})
		defer c.Close()
		res := mustCall(t, ctxT(t, 15*time.Second), c, "delete_template", map[string]any{"template_id": sandbox.IDs.ArchivedTemplate})
		if res.IsError || structured(t, res)["status"] != "deleted" || el.calls.Load() != 1 {
			t.Fatalf("delete with the person's answer: asked %d times: %s", el.calls.Load(), text(res))
		}
	})

	t.Run("legacy: sessionless, token flow across replicas", func(t *testing.T) {
		c := connectHTTP(t, kindStreamable, front, clientOpts{era: legacyEra})
		defer c.Close()
		if n := len(toolNames(t, ctxT(t, 10*time.Second), c)); n != len(tools.All) {
			t.Fatalf("%d tools", n)
		}
		tok := askConfirmToken(t, c, "delete_run", "run_id", sandbox.IDs.ArchivedRun)
		res := mustCall(t, ctxT(t, 15*time.Second), c, "delete_run", map[string]any{"run_id": sandbox.IDs.ArchivedRun, "confirm_token": tok})
		if res.IsError || structured(t, res)["status"] != "deleted" {
			t.Fatalf("token redeemed through the balancer: %s", text(res))
		}
	})
	rr.mu.Lock()
	defer rr.mu.Unlock()
	if rr.hits[0] < 3 || rr.hits[1] < 3 {
		t.Fatalf("the balancer spread requests %v: both replicas must have served", rr.hits)
	}
}

// TestSharedSessionsAcrossReplicas: with --state (sessions kept), older-protocol session ids
// are signed with the shared key for their caller, so any replica accepts them without sticky
// routing; another caller, a forged id and an expired id get 404; and a question to the person
// is not attempted (its answer could reach the other replica): the token flow is used.
func TestSharedSessionsAcrossReplicas(t *testing.T) {
	t.Parallel()
	redis := redistest.Start(t)
	sb := newSpySandbox(t)
	file := filepath.Join(t.TempDir(), "callers.json")
	writeCallers(t, file,
		map[string]any{"name": "anna", "token_sha256": sha("tok-anna"), "tallyfy_token_env": "T"},
		map[string]any{"name": "ben", "token_sha256": sha("tok-ben"), "tallyfy_token_env": "T"})
	var replicas []*fixture
	for range 2 {
		f := &fixture{Logs: &logBuffer{}, SB: sb}
		cfg, err := ParseConfig([]string{"--transport", "http", "--base-url", sb.URL, "--org-id", sandbox.OrgID, "--callers", file,
			"--state", redis.URL(0), "--confirm-key-file", confirmKeyFile(t), "--confirm-allow-token"}, func(k string) string {
			if k == "T" {
				return sandbox.AdminToken
			}
			return ""
		}, io.Discard)
		if err != nil {
			t.Fatal(err)
		}
		app, err := New(cfg, NewLogger(f.Logs, "debug", "text"))
		if err != nil {
			t.Fatal(err)
		}
		f.App, f.H = app, NewHTTPServer(app, "")
		f.TS = httptest.NewServer(f.H.Handler)
		t.Cleanup(func() { f.TS.CloseClientConnections(); f.TS.Close(); _ = app.Close() })
		replicas = append(replicas, f)
	}
	bearer := func(tok string) map[string]string { return map[string]string{"Authorization": "Bearer " + tok} }
	status, hdr, _ := rawPost(t, replicas[0].TS.URL+"/mcp", initBody, bearer("tok-anna"))
	id := hdr.Get("Mcp-Session-Id")
	if status != 200 || !strings.HasPrefix(id, "mcp-session-") {
		t.Fatalf("initialize on A: %d %q", status, id)
	}
	list := func(base, tok, session string) int {
		h := bearer(tok)
		h["Mcp-Session-Id"], h["Mcp-Protocol-Version"] = session, "2025-11-25"
		s, _, _ := rawPost(t, base+"/mcp", `{"jsonrpc":"2.0","id":2,"method":"tools/list"}`, h)
		return s
	}
	if s := list(replicas[1].TS.URL, "tok-anna", id); s != 200 {
		t.Fatalf("anna's session on replica B: %d, want 200", s)
	}
	forged := id[:len(id)-2] + "xx"
	for _, tc := range []struct {
		what, tok, id string
	}{{"ben with anna's session", "tok-ben", id}, {"a forged id", "tok-anna", forged}, {"an id never issued", "tok-anna", "mcp-session-6f1d2c3b-4a5e-4f60-8a7b-9c0d1e2f3a4b"}} {
		for i, r := range replicas {
			if s := list(r.TS.URL, tc.tok, tc.id); s != 404 {
				t.Fatalf("%s on replica %d: %d, want 404", tc.what, i, s)
			}
		}
	}
	// An expired id, signed with the right key: mcphttp's TestSignedSessionExpiry.

	// A legacy client that can elicit, behind a round robin: the token flow, not a question.
	_, front := newRoundRobin(t, replicas[0].TS.URL, replicas[1].TS.URL)
	el := &elicitor{action: mcp.ElicitationResponseActionAccept, name: archivedTemplateName}
	c := connectHTTP(t, kindStreamable, front, clientOpts{era: legacyEra, elicit: el, headers: bearer("tok-anna")})
	defer c.Close()
	tok := askConfirmToken(t, c, "delete_template", "template_id", sandbox.IDs.ArchivedTemplate)
	res := mustCall(t, ctxT(t, 15*time.Second), c, "delete_template", map[string]any{"template_id": sandbox.IDs.ArchivedTemplate, "confirm_token": tok})
	if res.IsError || structured(t, res)["status"] != "deleted" || el.calls.Load() != 0 {
		t.Fatalf("legacy delete across replicas: asked %d times: %s", el.calls.Load(), text(res))
	}
}
