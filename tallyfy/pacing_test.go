package tallyfy

import (
	"context"
	"errors"
	"math"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tallyfy-mcp/tallyfy-mcp/tallyfy/sandbox"
)

// startLimitedSandbox serves a sandbox that refuses a token's requests beyond rl.
func startLimitedSandbox(t *testing.T, rl sandbox.RateLimit, opts ...sandbox.Option) *sbEnv {
	t.Helper()
	sb := sandbox.New(append(opts, sandbox.WithRateLimit(rl))...)
	base, srv, err := sandbox.Listen("127.0.0.1:0", sb)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	return &sbEnv{sb: sb, base: base}
}

// burstOfGets sends n GETs of the seeded active run from workers goroutines and returns how
// many failed and how long they took.
func burstOfGets(t *testing.T, c *Client, n, workers int) (failed int64, took time.Duration) {
	t.Helper()
	id := sandboxIDs().ActiveRun
	var next, bad atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	for range workers {
		wg.Go(func() {
			for next.Add(1) <= int64(n) {
				if _, err := c.GetRun(context.Background(), id); err != nil {
					bad.Add(1)
				}
			}
		})
	}
	wg.Wait()
	return bad.Load(), time.Since(start)
}

// TestPacingStaysUnderSandboxLimit: concurrent requests, far faster than the sandbox's limit if
// unpaced, all succeed with not one 429 when the client's rate is under the limit; unpaced, the
// same burst is refused (so the limit really bites).
func TestPacingStaysUnderSandboxLimit(t *testing.T) {
	const limit, pace, n, workers = 30, 20, 50, 8
	env := startLimitedSandbox(t, sandbox.RateLimit{PerSecond: limit, Window: time.Second})
	unpaced := env.admin(t, withMaxTries(1))
	if failed, _ := burstOfGets(t, unpaced, n, workers); failed == 0 || env.sb.RateLimited() == 0 {
		t.Fatalf("unpaced burst: %d failed, %d refused: the sandbox limit did not bite", failed, env.sb.RateLimited())
	}

	env = startLimitedSandbox(t, sandbox.RateLimit{PerSecond: limit, Window: time.Second})
	paced := env.admin(t, withMaxTries(1), func(c *Config) { c.Rate = pace })
	failed, took := burstOfGets(t, paced, n, workers)
	if failed != 0 || env.sb.RateLimited() != 0 {
		t.Fatalf("paced at %d/s under a %d/s limit: %d calls failed, the sandbox refused %d", pace, limit, failed, env.sb.RateLimited())
	}
	// The bucket lets RateBurst out at once, then one every 1/pace s.
	if want := time.Duration(float64(n-DefaultRateBurst) / pace * float64(time.Second)); took < want*9/10 {
		t.Fatalf("%d paced calls took %s, less than the %s pacing allows", n, took, want)
	}
	if got := env.sb.Requests(); got != n {
		t.Fatalf("sandbox saw %d requests, want %d", got, n)
	}
}

// TestPacing429PausesEveryRequest: once one request is answered 429 with Retry-After, the
// other requests on the same credential wait it out too, instead of each earning its own 429.
func TestPacing429PausesEveryRequest(t *testing.T) {
	var refused atomic.Bool
	got429 := make(chan struct{})
	var mu sync.Mutex
	var after []time.Time // arrivals after the 429
	s := newStub(t, func(w http.ResponseWriter, r *http.Request) {
		if refused.CompareAndSwap(false, true) {
			reply(w, http.StatusTooManyRequests, `{"error":true,"message":"Too Many Attempts."}`, "Retry-After", "1")
			close(got429)
			return
		}
		mu.Lock()
		after = append(after, time.Now())
		mu.Unlock()
		reply(w, http.StatusOK, `{"data":{"id":"`+validID+`","name":"r","status":"active"}}`)
	})
	seen := make(chan struct{}) // the client has read the 429 (and so set the hold)
	c := s.client(t, func(c *Config) {
		c.OnRetry = func(string, string, int, error, time.Duration) { close(seen) }
	})
	var wg sync.WaitGroup
	wg.Go(func() {
		if _, err := c.GetRun(context.Background(), validID); err != nil {
			t.Errorf("the call answered 429 was not retried after Retry-After: %v", err)
		}
	})
	<-got429
	paused := time.Now()
	<-seen
	for range 3 {
		wg.Go(func() {
			if _, err := c.GetRun(context.Background(), validID); err != nil {
				t.Errorf("GetRun: %v", err)
			}
		})
	}
	wg.Wait()
	mu.Lock()
	defer mu.Unlock()
	if len(after) != 4 {
		t.Fatalf("%d requests after the 429, want 4 (the retry and 3 others)", len(after))
	}
	for _, at := range after {
		// Retry-After 1 s, counted from when the client read it: allow scheduling slack.
		if d := at.Sub(paused); d < 900*time.Millisecond {
			t.Fatalf("a request reached the server %s after the 429's Retry-After: 1, not paused", d)
		}
	}
}

// TestPacingCancelWhileWaiting: a call waiting for a token from the bucket, or for a server's
// hold to end, stops as soon as its context is cancelled, without sending anything.
func TestPacingCancelWhileWaiting(t *testing.T) {
	s := newStub(t, func(w http.ResponseWriter, r *http.Request) {
		reply(w, http.StatusOK, `{"data":{"id":"`+validID+`","name":"r","status":"active"}}`)
	})
	c := s.client(t, func(c *Config) { c.Rate = 0.2 }) // a token every 5 s after the burst
	for range DefaultRateBurst {
		if _, err := c.GetRun(context.Background(), validID); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(50*time.Millisecond, cancel)
	start := time.Now()
	_, err := c.GetRun(ctx, validID)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled while waiting for the bucket: %v, want context.Canceled", err)
	}
	if d := time.Since(start); d > time.Second {
		t.Fatalf("cancelled call returned after %s, want promptly", d)
	}
	if n := s.n.Load(); n != DefaultRateBurst {
		t.Fatalf("server saw %d requests, want %d (the cancelled one never sent)", n, DefaultRateBurst)
	}

	// A bucket wait that would pass the call's deadline gives up at once, as a deadline.
	dctx, dcancel := context.WithTimeout(context.Background(), time.Second)
	defer dcancel()
	start = time.Now()
	if _, err := c.GetRun(dctx, validID); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("bucket wait past the deadline: %v, want context.DeadlineExceeded", err)
	}
	if d := time.Since(start); d > 500*time.Millisecond {
		t.Fatalf("a wait that cannot end before the deadline took %s, want at once", d)
	}

	// Now a server hold: cancelling stops the wait too.
	c2 := s.client(t)
	c2.pace.holdFor(time.Second)
	ctx, cancel = context.WithCancel(context.Background())
	time.AfterFunc(50*time.Millisecond, cancel)
	start = time.Now()
	if _, err := c2.GetRun(ctx, validID); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled while held: %v, want context.Canceled", err)
	}
	if d := time.Since(start); d > 500*time.Millisecond {
		t.Fatalf("cancelled held call returned after %s, want promptly", d)
	}
}

// TestPacingHoldLongerThanTheCallMay: a hold longer than MaxRetryAfter, or past the call's
// deadline, is answered at once as a 429 with the wait left, without sending anything, so the
// agent is told when to come back.
func TestPacingHoldLongerThanTheCallMay(t *testing.T) {
	s := newStub(t, func(w http.ResponseWriter, r *http.Request) {
		reply(w, http.StatusTooManyRequests, `{"error":true,"message":"Too Many Attempts."}`,
			"Retry-After", "20", "X-RateLimit-Remaining", "0", "X-RateLimit-Reset", "20")
	})
	c := s.client(t) // MaxRetryAfter 2 s
	_, err := c.GetRun(context.Background(), validID)
	if ae := asAPIError(t, err); ae.Status != http.StatusTooManyRequests || ae.RetryAfter != 20*time.Second {
		t.Fatalf("first call: %v, want the server's 429 with Retry-After 20 s", err)
	}
	start := time.Now()
	_, err = c.GetRun(context.Background(), validID)
	ae := asAPIError(t, err)
	if ae.Status != http.StatusTooManyRequests || ae.RetryAfter < 18*time.Second || ae.RetryAfter > 20*time.Second {
		t.Fatalf("held call: %v (retry after %s), want a 429 with the ~20 s left", err, ae.RetryAfter)
	}
	if d := time.Since(start); d > 200*time.Millisecond {
		t.Fatalf("held call took %s, want an answer at once", d)
	}
	if n := s.n.Load(); n != 1 {
		t.Fatalf("server saw %d requests, want 1: the held call must not be sent", n)
	}

	// Under MaxRetryAfter but past the deadline: also at once.
	c2 := s.client(t, func(c *Config) { c.MaxRetryAfter = time.Minute })
	c2.pace.holdFor(5 * time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	start = time.Now()
	_, err = c2.GetRun(ctx, validID)
	if ae := asAPIError(t, err); ae.Status != http.StatusTooManyRequests || ae.RetryAfter < 4*time.Second {
		t.Fatalf("hold past the deadline: %v, want a 429 with ~5 s to wait", err)
	}
	if d := time.Since(start); d > 200*time.Millisecond {
		t.Fatalf("hold past the deadline took %s, want an answer at once", d)
	}
}

// TestPacingLongRetryAfterStaysWithItsCall: a Retry-After beyond MaxRetryAfter, without
// X-RateLimit-* saying the credential is spent (Tallyfy's hourly caps on single actions), is
// returned to the call that got it and does not hold the others.
func TestPacingLongRetryAfterStaysWithItsCall(t *testing.T) {
	var first atomic.Bool
	s := newStub(t, func(w http.ResponseWriter, r *http.Request) {
		if first.CompareAndSwap(false, true) {
			reply(w, http.StatusTooManyRequests, `{"message":"You've reached the hourly limit for comments","code":"RATE_LIMIT_EXCEEDED"}`, "Retry-After", "3600")
			return
		}
		reply(w, http.StatusOK, `{"data":{"id":"`+validID+`","name":"r","status":"active"}}`)
	})
	c := s.client(t) // MaxRetryAfter 2 s
	if ae := asAPIError(t, discard(c.GetRun(context.Background(), validID))); ae.RetryAfter != time.Hour {
		t.Fatalf("first call: retry after %s, want the server's hour", ae.RetryAfter)
	}
	start := time.Now()
	if _, err := c.GetRun(context.Background(), validID); err != nil {
		t.Fatalf("another call after an hour-long Retry-After: %v, want it sent and answered", err)
	}
	if d := time.Since(start); d > 500*time.Millisecond {
		t.Fatalf("another call waited %s", d)
	}
}

// TestPacingRemainingZeroHoldsUntilReset: "X-RateLimit-Remaining: 0" with an
// X-RateLimit-Reset holds the next requests until the reset, in both spellings of the reset;
// without a reset nothing is held.
func TestPacingRemainingZeroHoldsUntilReset(t *testing.T) {
	for _, tc := range []struct {
		name  string
		reset func() string
		hold  bool
	}{
		{"seconds", func() string { return "1" }, true},
		{"unix time", func() string { return strconv.FormatInt(time.Now().Add(2*time.Second).Unix(), 10) }, true},
		{"no reset", func() string { return "" }, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var first atomic.Bool
			s := newStub(t, func(w http.ResponseWriter, r *http.Request) {
				h := []string{"X-RateLimit-Limit", "600", "X-RateLimit-Remaining", "5"}
				if first.CompareAndSwap(false, true) {
					h[3] = "0"
					if reset := tc.reset(); reset != "" {
						h = append(h, "X-RateLimit-Reset", reset)
					}
				}
				reply(w, http.StatusOK, `{"data":{"id":"`+validID+`","name":"r","status":"active"}}`, h...)
			})
			c := s.client(t)
			for range 2 {
				if _, err := c.GetRun(context.Background(), validID); err != nil {
					t.Fatal(err)
				}
			}
			got := s.requests()
			gap := got[1].At.Sub(got[0].At)
			if tc.hold && gap < 500*time.Millisecond {
				t.Fatalf("second request %s after one that said Remaining 0 with a reset: not held", gap)
			}
			if !tc.hold && gap > 300*time.Millisecond {
				t.Fatalf("second request held %s without a known reset", gap)
			}
		})
	}
}

func TestResetTime(t *testing.T) {
	now := time.Unix(1_780_000_000, 0)
	for _, tc := range []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"30", 30 * time.Second, true},
		{"0.5", 500 * time.Millisecond, true},
		{"1780000012", 12 * time.Second, true},  // Unix time (Laravel)
		{"1779999990", 0, false},                // Unix time in the past
		{"86400", maxHold, true},                // a day as seconds: capped
		{"99999999999999999999", maxHold, true}, // nonsense: capped
		{"0", 0, false}, {"-3", 0, false}, {"", 0, false}, {"soon", 0, false}, {"NaN", 0, false}, {"Inf", 0, false},
	} {
		got, ok := resetTime(tc.in, now)
		if ok != tc.ok || (ok && got.Sub(now) != tc.want) {
			t.Errorf("resetTime(%q) = %v, %v; want %s, %v", tc.in, got.Sub(now), ok, tc.want, tc.ok)
		}
	}
}

// TestPacingRejectsBadRate: a rate that is not a number ≥ 0 is refused by New.
func TestPacingRejectsBadRate(t *testing.T) {
	for _, r := range []float64{-1, math.NaN(), math.Inf(1)} {
		if _, err := New(Config{Token: "tok", OrgID: testOrg, Rate: r}); err == nil {
			t.Errorf("New with Rate %v: no error", r)
		}
	}
}
