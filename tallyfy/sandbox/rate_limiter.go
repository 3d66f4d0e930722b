package sandbox

import (
	"context"
	"math"
	"net/http"
	"sort"
	"strconv"
	"sync"
	"time"
)

// ---------------------------------------------------------------------------
// A deterministic rate limit per token, as Tallyfy enforces one per user (docs/tallyfy-api.md
// §4 "Rate limits", §8): at most Limit() requests in any rolling Window, counted per bearer
// token, answered 429 beyond it. This is not fault injection (faults.go fires 429s at random,
// whatever the pace): a client that stays under the limit never sees a 429 from it, and one that
// goes over always does, so tests and benchmarks can prove a client's pacing.
//
// Sources: Tallyfy's troubleshooting page gives 600 requests a minute per authenticated user on
// a rolling window, answered 429 with Retry-After in seconds and X-RateLimit-Remaining. The other
// headers and their spelling follow Laravel's ThrottleRequests middleware, which Tallyfy's error
// bodies show it runs on (§4: "The given data was invalid.", "Too Many Attempts."):
// X-RateLimit-Limit and X-RateLimit-Remaining on every answer; on a 429 also Retry-After and
// X-RateLimit-Reset, the Unix time at which a request is allowed again. What no source states is
// decided in inference.go ("Rate limit").
//
// Latency (WithLatency) delays every answer by a fixed time, as the network and Tallyfy's own
// work do, so benchmarks measure what pacing and concurrency buy at a realistic round trip.

// RateLimit configures the per-token limit. The zero value is no limit.
type RateLimit struct {
	// PerSecond is the average allowed, in requests per second per token; 0 means no limit.
	PerSecond float64
	// Window is the rolling window the requests are counted over; default one second.
	// Tallyfy counts over a minute: a window that long needs minutes of traffic to reach the
	// limit, so tests use a short one.
	Window time.Duration
}

// Limit is how many requests one token may make in any Window.
func (rl RateLimit) Limit() int {
	return max(1, int(math.Floor(rl.PerSecond*rl.window().Seconds()+1e-9)))
}

func (rl RateLimit) window() time.Duration {
	if rl.Window <= 0 {
		return time.Second
	}
	return rl.Window
}

// WithRateLimit makes the sandbox refuse, with 429, the requests of a token beyond rl.
func WithRateLimit(rl RateLimit) Option {
	return func(s *Sandbox) {
		if rl.PerSecond > 0 {
			s.limiter = &tokenLimiter{rl: rl, limit: rl.Limit(), byToken: map[string][]time.Time{}}
		}
	}
}

// WithLatency delays every answer by d (before it is counted against the rate limit, as a
// request reaches Tallyfy only after crossing the network).
func WithLatency(d time.Duration) Option {
	return func(s *Sandbox) { s.latency = max(d, 0) }
}

// RateLimited returns how many requests the rate limit refused since New or Reset.
func (s *Sandbox) RateLimited() int64 { return s.rateLimited.Load() }

// tokenLimiter is a sliding log per token: the arrival time of every request it let through in
// the last window.
type tokenLimiter struct {
	rl    RateLimit
	limit int

	mu      sync.Mutex
	byToken map[string][]time.Time
}

// take admits one request of token at now, or refuses it and says when the oldest counted
// request leaves the window.
func (l *tokenLimiter) take(token string, now time.Time) (ok bool, remaining int, retry time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	cut := now.Add(-l.rl.window())
	log := l.byToken[token] // in arrival order
	log = log[sort.Search(len(log), func(i int) bool { return log[i].After(cut) }):]
	if len(log) >= l.limit {
		retry = log[0].Sub(cut)
		if rateLimitCountsRefused {
			log = append(log, now)
		}
		l.byToken[token] = log
		return false, 0, retry
	}
	log = append(log, now)
	l.byToken[token] = log
	return true, l.limit - len(log), 0
}

// reset forgets every token's history.
func (l *tokenLimiter) reset() {
	l.mu.Lock()
	l.byToken = map[string][]time.Time{}
	l.mu.Unlock()
}

// sleep waits d; false when ctx ended first.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// limitRate counts an authenticated request against its bearer token's limit and sets the
// X-RateLimit-* headers. It answers 429 and returns false when the token is over its limit.
func (s *Sandbox) limitRate(w http.ResponseWriter, token string) bool {
	l := s.limiter
	if l == nil {
		return true
	}
	now := time.Now()
	ok, remaining, retry := l.take(token, now)
	h := w.Header()
	h.Set("X-RateLimit-Limit", strconv.Itoa(l.limit))
	h.Set("X-RateLimit-Remaining", strconv.Itoa(remaining))
	if ok {
		return true
	}
	s.rateLimited.Add(1)
	secs := rateLimitRetryAfterSeconds(retry)
	h.Set("Retry-After", strconv.Itoa(secs))
	h.Set("X-RateLimit-Reset", strconv.FormatInt(now.Add(time.Duration(secs)*time.Second).Unix(), 10))
	writeResponse(w, errorResponse(http.StatusTooManyRequests, rateLimitMessage, rateLimitCode))
	return false
}
