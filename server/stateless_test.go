package server

import (
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mark3labs/mcp-go/mcp"

	"github.com/tallyfy-mcp/tallyfy-mcp/internal/redistest"
	"github.com/tallyfy-mcp/tallyfy-mcp/tallyfy/sandbox"
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
	shared := []string{"--stateless", "--state", redis.URL(0), "--confirm-key-file", confirmKeyFile(t)}
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
		if n := len(toolNames(t, ctxT(t, 10*time.Second), c)); n != 15 {
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
