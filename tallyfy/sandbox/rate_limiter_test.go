package sandbox

import (
	"strconv"
	"testing"
	"time"
)

// TestRateLimitPerToken: a token gets Limit() answers per window, then 429 with Retry-After,
// X-RateLimit-Limit/Remaining/Reset; another token has its own count; refused requests are not
// counted, and once the window has moved on the token gets in again.
func TestRateLimitPerToken(t *testing.T) {
	const window = 400 * time.Millisecond
	e := newEnv(t, WithRateLimit(RateLimit{PerSecond: 10, Window: window}))
	const limit = 4 // 10 a second over 0.4 s
	get := org("/runs/" + IDs.ActiveRun)
	start := time.Now()
	for i := range limit {
		r := e.admin("GET", get)
		wantStatus(t, r, 200)
		if got := r.header.Get("X-RateLimit-Limit"); got != strconv.Itoa(limit) {
			t.Fatalf("X-RateLimit-Limit %q, want %d", got, limit)
		}
		if got := r.header.Get("X-RateLimit-Remaining"); got != strconv.Itoa(limit-1-i) {
			t.Fatalf("request %d: X-RateLimit-Remaining %q, want %d", i+1, got, limit-1-i)
		}
		if r.header.Get("Retry-After") != "" || r.header.Get("X-RateLimit-Reset") != "" {
			t.Fatalf("an admitted answer carries Retry-After or X-RateLimit-Reset: %v", r.header)
		}
	}
	r := e.admin("GET", get)
	wantError(t, r, 429, rateLimitCode)
	if r.header.Get("Retry-After") != "1" || r.header.Get("X-RateLimit-Remaining") != "0" {
		t.Fatalf("429 headers %v, want Retry-After 1 (whole seconds, rounded up) and Remaining 0", r.header)
	}
	reset, err := strconv.ParseInt(r.header.Get("X-RateLimit-Reset"), 10, 64)
	if now := time.Now().Unix(); err != nil || reset < now || reset > now+2 {
		t.Fatalf("X-RateLimit-Reset %q, want the Unix time about 1 s ahead (now %d)", r.header.Get("X-RateLimit-Reset"), now)
	}
	if e.sb.RateLimited() != 1 {
		t.Fatalf("RateLimited() = %d, want 1", e.sb.RateLimited())
	}
	// The member token has a budget of its own.
	wantStatus(t, e.member("GET", get), 200)
	// Unauthenticated requests are answered 401, never 429, and not counted.
	wantStatus(t, e.req("GET", get, "wrong-token"), 401)

	time.Sleep(window - time.Since(start) + 50*time.Millisecond)
	wantStatus(t, e.admin("GET", get), 200)

	e.sb.Reset()
	if e.sb.RateLimited() != 0 {
		t.Fatal("Reset kept the rate-limited count")
	}
	for range limit { // Reset emptied every token's log
		wantStatus(t, e.admin("GET", get), 200)
	}
	wantStatus(t, e.admin("GET", get), 429)
}

// TestRateLimitRollingWindow: the window rolls, it is not a fixed bucket: requests spread over a
// window count together however the clock's seconds fall.
func TestRateLimitRollingWindow(t *testing.T) {
	l := &tokenLimiter{rl: RateLimit{PerSecond: 3, Window: time.Second}, limit: 3, byToken: map[string][]time.Time{}}
	t0 := time.Unix(100, 900_000_000) // 0.1 s before a whole second
	for i, at := range []time.Duration{0, 200 * time.Millisecond, 400 * time.Millisecond} {
		if ok, _, _ := l.take("a", t0.Add(at)); !ok {
			t.Fatalf("request %d refused under the limit", i+1)
		}
	}
	ok, _, retry := l.take("a", t0.Add(900*time.Millisecond))
	if ok || retry != 100*time.Millisecond {
		t.Fatalf("4th request in the window: ok=%v retry=%s, want refused until the first leaves (100ms)", ok, retry)
	}
	if ok, rem, _ := l.take("a", t0.Add(1000*time.Millisecond+time.Nanosecond)); !ok || rem != 0 {
		t.Fatalf("after the first left the window: ok=%v remaining=%d, want admitted with 0 left", ok, rem)
	}
	if got := (RateLimit{PerSecond: 20}).Limit(); got != 20 {
		t.Fatalf("20/s over the default window: limit %d, want 20", got)
	}
	if got := (RateLimit{PerSecond: 0.5, Window: time.Second}).Limit(); got != 1 {
		t.Fatalf("0.5/s over 1 s: limit %d, want at least 1", got)
	}
	if got := (RateLimit{PerSecond: 10, Window: time.Minute}).Limit(); got != 600 {
		t.Fatalf("Tallyfy's 600 a minute: limit %d", got)
	}
}

// TestLatency: every answer, 401s included, takes at least the configured latency.
func TestLatency(t *testing.T) {
	e := newEnv(t, WithLatency(80*time.Millisecond))
	for _, token := range []string{AdminToken, "wrong"} {
		start := time.Now()
		e.req("GET", org("/runs"), token)
		if d := time.Since(start); d < 80*time.Millisecond {
			t.Fatalf("answer after %s, want at least the 80ms latency", d)
		}
	}
}
