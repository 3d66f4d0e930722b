package tallyfy

import (
	"context"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestPacingSlowsAsRemainingFalls: with X-RateLimit-Remaining below a quarter of the limit,
// requests are spread over the time left (until X-RateLimit-Reset, else a minute); above it the
// bucket alone paces. Rate 0 (no pacing) is left alone.
func TestPacingSlowsAsRemainingFalls(t *testing.T) {
	t.Parallel()
	var remaining atomic.Int64
	s := newStub(t, func(w http.ResponseWriter, r *http.Request) {
		reply(w, 200, `{"data":{"id":"`+validID+`","name":"r","status":"active"}}`,
			"X-RateLimit-Limit", "100000", "X-RateLimit-Remaining", strconv.FormatInt(remaining.Load(), 10))
	})
	timed := func(c *Client, n int) time.Duration {
		start := time.Now()
		for range n {
			if _, err := c.GetRun(context.Background(), validID); err != nil {
				t.Fatal(err)
			}
		}
		return time.Since(start)
	}
	fast := s.client(t, func(c *Config) { c.Rate = 1000 })
	remaining.Store(90000) // plenty left: the bucket alone
	if d := timed(fast, 6); d > 300*time.Millisecond {
		t.Errorf("6 calls with plenty remaining took %s", d)
	}
	remaining.Store(599)                               // under a quarter: a minute / 600 = 100ms apart
	if d := timed(fast, 6); d < 380*time.Millisecond { // the first answer sets the gap, the next leaves at once
		t.Errorf("6 calls with 599 of 100000 remaining took %s, want ≥ 4 gaps of 100ms", d)
	}
	unpaced := s.client(t) // Rate 0
	if d := timed(unpaced, 6); d > 300*time.Millisecond {
		t.Errorf("unpaced: 6 calls took %s", d)
	}
}

// TestBulkPaceSpacesRequests: bulk work (WithBulkPace) leaves one request per BulkInterval,
// however many run at once; single calls on the same client keep their burst.
func TestBulkPaceSpacesRequests(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	var at []time.Time
	s := newStub(t, func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		at = append(at, time.Now())
		mu.Unlock()
		reply(w, 200, `{"data":{"id":"`+validID+`","name":"r","status":"active"}}`)
	})
	c := s.client(t, func(c *Config) { c.Rate, c.RateBurst, c.BulkInterval = 1000, 4, 60*time.Millisecond })
	run := func(ctx context.Context, n int) time.Duration {
		start := time.Now()
		var wg sync.WaitGroup
		for range n {
			wg.Go(func() {
				if _, err := c.GetRun(ctx, validID); err != nil {
					t.Error(err)
				}
			})
		}
		wg.Wait()
		return time.Since(start)
	}
	if d := run(context.Background(), 4); d > 150*time.Millisecond {
		t.Errorf("4 single calls at once took %s: they should keep their burst", d)
	}
	mu.Lock()
	at = nil
	mu.Unlock()
	if d := run(WithBulkPace(context.Background()), 5); d < 4*60*time.Millisecond*9/10 {
		t.Errorf("5 bulk requests took %s, want ≥ 4 intervals of 60ms", d)
	}
	mu.Lock()
	defer mu.Unlock()
	for i := 1; i < len(at); i++ {
		if gap := at[i].Sub(at[i-1]); gap < 45*time.Millisecond {
			t.Errorf("bulk requests %d and %d arrived %s apart", i-1, i, gap)
		}
	}
}
