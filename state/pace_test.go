package state_test

import (
	"context"
	"net/http"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/tallyfy-mcp/tallyfy-mcp/internal/redistest"
	"github.com/tallyfy-mcp/tallyfy-mcp/state"
	"github.com/tallyfy-mcp/tallyfy-mcp/tallyfy"
	"github.com/tallyfy-mcp/tallyfy-mcp/tallyfy/sandbox"
)

// TestSharedPaceAcrossReplicas: two replicas (two clients, each with its own Redis connection,
// as two server processes have) using one Tallyfy token take their request slots from one
// bucket in a real redis-server: together they stay within the token's rate. The same two
// without the shared bucket go twice as fast, which is what the check would catch.
func TestSharedPaceAcrossReplicas(t *testing.T) {
	srv := redistest.Start(t)
	const perSecond, burst, each = 10, 2, 12
	run := func(shared bool) (times []time.Time) {
		var mu sync.Mutex
		sb := sandbox.New()
		url, hs, err := sandbox.Listen("127.0.0.1:0", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			mu.Lock()
			times = append(times, time.Now())
			mu.Unlock()
			sb.ServeHTTP(w, r)
		}))
		if err != nil {
			t.Fatal(err)
		}
		defer hs.Close()
		var replicas []*tallyfy.Client
		for range 2 {
			cfg := tallyfy.Config{BaseURL: url, Token: sandbox.AdminToken, OrgID: sandbox.OrgID, Rate: perSecond, RateBurst: burst}
			if shared {
				st, err := state.NewRedis(srv.URL(3))
				if err != nil {
					t.Fatal(err)
				}
				defer st.Close()
				cfg.SharedPace = st
			}
			c, err := tallyfy.New(cfg)
			if err != nil {
				t.Fatal(err)
			}
			replicas = append(replicas, c)
		}
		var wg sync.WaitGroup
		for _, c := range replicas {
			for range 2 { // two calls at a time on each replica
				wg.Go(func() {
					for range each / 2 {
						if _, err := c.Find(context.Background(), tallyfy.KindRun, sandbox.IDs.ActiveRun); err != nil {
							t.Error(err)
						}
					}
				})
			}
		}
		wg.Wait()
		sort.Slice(times, func(i, j int) bool { return times[i].Before(times[j]) })
		return times
	}
	// Most requests arriving within any one second.
	busiest := func(times []time.Time) int {
		most := 0
		for i := range times {
			n := 0
			for j := i; j < len(times) && times[j].Sub(times[i]) < time.Second; j++ {
				n++
			}
			most = max(most, n)
		}
		return most
	}
	sharedTimes := run(true)
	if len(sharedTimes) != 2*each {
		t.Fatalf("%d requests arrived, want %d", len(sharedTimes), 2*each)
	}
	// A bucket of 10 a second lets burst + 10 into any second (and one more for timing slack).
	if most := busiest(sharedTimes); most > perSecond+burst+1 {
		t.Errorf("shared bucket: %d requests within one second, want at most %d", most, perSecond+burst+1)
	}
	if took := sharedTimes[len(sharedTimes)-1].Sub(sharedTimes[0]); took < time.Duration(2*each-burst)*time.Second/perSecond*9/10 {
		t.Errorf("shared bucket: %d requests in %s, faster than %d a second", 2*each, took, perSecond)
	}
	if most := busiest(run(false)); most <= perSecond+burst+1 {
		t.Errorf("without sharing, two replicas sent only %d within a second: the check above could not fail", most)
	}
}

// TestReserveBurstThenSpacing: the Lua bucket lets burst slots out at once, then one per
// interval, on Redis's clock, whichever connection asks.
func TestReserveBurstThenSpacing(t *testing.T) {
	srv := redistest.Start(t)
	a, _ := state.NewRedis(srv.URL(4))
	b, _ := state.NewRedis(srv.URL(4))
	defer a.Close()
	defer b.Close()
	ctx := context.Background()
	var waits []time.Duration
	for i := range 5 {
		st := a
		if i%2 == 1 {
			st = b
		}
		d, err := st.Reserve(ctx, "pace:test", 20, 2) // 50ms apart after 2 at once
		if err != nil {
			t.Fatal(err)
		}
		waits = append(waits, d)
	}
	want := []time.Duration{0, 0, 50 * time.Millisecond, 100 * time.Millisecond, 150 * time.Millisecond}
	for i, d := range waits {
		if d < want[i]-10*time.Millisecond || d > want[i]+5*time.Millisecond {
			t.Errorf("slot %d: wait %s, want about %s (all %v)", i, d, want[i], waits)
		}
	}
	if _, err := a.Reserve(ctx, "pace:test", 0, 1); err == nil {
		t.Error("a rate of 0 was accepted")
	}
}
