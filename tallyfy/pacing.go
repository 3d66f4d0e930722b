package tallyfy

import (
	"context"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// Pacing toward Tallyfy's rate limit (docs/tallyfy-api.md §4 "Rate limits", §8): about 600
// requests a minute per authenticated user on a rolling window, answered with 429 and
// Retry-After beyond it, X-RateLimit-Remaining on answers.
//
// The pacer belongs to the Client, that is to one Tallyfy credential: Tallyfy counts per user
// (per token), so requests made with one token share one budget and requests made with another
// token have a budget of their own. A process-wide limiter would make one person's bulk run
// slow everybody else's calls on a shared deployment, where each caller has a client of their
// own; a limiter keyed by token inside one client would duplicate what one client per
// credential already gives. Clients that share a token must therefore share a Client.

// DefaultRate is the default pace in requests per second: 540 a minute, 10% under Tallyfy's
// documented 600, so that other tools using the same token have some room.
const DefaultRate = 9

// DefaultRateBurst is how many requests may leave at once after a quiet spell. Two lets one tool
// call send a lookup and a change together without waiting (issue 11 point 4). It must stay
// small: in any window of w seconds the bucket lets out at most burst + rate·w requests, and that
// must stay under the server's limit for the window it counts over. Against Tallyfy's rolling
// minute at the default pace that is 2 + 540 ≤ 600. Against a limit of L per rolling second,
// rate L − 1 leaves no room for jitter: requests that arrive closer together than they left (the
// first ones of a burst are slowed by opening connections) then earn a 429; burst 1 leaves one
// request of room, at the cost of spacing even two concurrent requests by 1/rate.
const DefaultRateBurst = 2

// maxHold caps how long a server's Retry-After or X-RateLimit-Reset holds every request on
// the credential. Calls never wait that long themselves (MaxRetryAfter and their deadline rule;
// see wait); the cap only bounds a nonsense value, after which one request probes again.
const maxHold = 10 * time.Minute

// pacer spaces one credential's requests with a token bucket and holds them all while the
// server has asked to wait.
type pacer struct {
	lim *rate.Limiter // nil: no pacing (Config.Rate 0)

	mu        sync.Mutex
	holdUntil time.Time // no request leaves before this (Retry-After, X-RateLimit-Reset)
}

func newPacer(perSecond float64, burst int) *pacer {
	p := &pacer{}
	if perSecond > 0 {
		p.lim = rate.NewLimiter(rate.Limit(perSecond), burst)
	}
	return p
}

// pausedError is a request the client did not send because the server asked to wait longer
// than the call may: longer than MaxRetryAfter, or past the call's deadline. It reads as a
// 429 (an *APIError with RetryAfter, no request id, code RATE_LIMIT_PAUSED: ours, not
// Tallyfy's), so callers tell the agent when to come back.
func pausedError(method, path string, wait time.Duration) *APIError {
	return &APIError{Status: http.StatusTooManyRequests, Code: "RATE_LIMIT_PAUSED", RetryAfter: wait.Round(time.Second),
		Message: "not sent: Tallyfy asked this token to wait " + wait.Round(time.Second).String(), Method: method, Path: path}
}

// wait blocks until one request may leave: first any hold the server asked for, then a token
// from the bucket. It returns early with the context's error when the call is cancelled, and
// at once with a paused 429 when the hold is longer than maxWait or would pass the deadline.
func (p *pacer) wait(ctx context.Context, method, path string, maxWait time.Duration) error {
	for {
		p.mu.Lock()
		hold := time.Until(p.holdUntil)
		p.mu.Unlock()
		if hold <= 0 {
			break
		}
		if hold > maxWait {
			return pausedError(method, path, hold)
		}
		if dl, ok := ctx.Deadline(); ok && time.Until(dl) < hold {
			return pausedError(method, path, hold)
		}
		t := time.NewTimer(hold)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
		// Loop: another answer may have extended the hold meanwhile.
	}
	if p.lim == nil {
		return nil
	}
	if err := p.lim.Wait(ctx); err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		// The bucket says the wait would pass the call's deadline: it gives up at once
		// rather than sleep into it; report it as the deadline it is.
		return fmt.Errorf("tallyfy: %s %s: waiting for a request slot (--tallyfy-rate) would pass the call's deadline: %w",
			method, path, context.DeadlineExceeded)
	}
	return nil
}

// holdFor stops every request on the credential for d from now (never shortening a hold).
func (p *pacer) holdFor(d time.Duration) {
	if d <= 0 {
		return
	}
	p.holdUntilTime(time.Now().Add(min(d, maxHold)))
}

func (p *pacer) holdUntilTime(t time.Time) {
	p.mu.Lock()
	if t.After(p.holdUntil) {
		p.holdUntil = t
	}
	p.mu.Unlock()
}

// observe applies one answer's rate-limit headers: a 429's Retry-After holds every request on
// the credential, not only the one retried; "X-RateLimit-Remaining: 0" with a known
// X-RateLimit-Reset holds them until the reset.
//
// A Retry-After longer than maxShared (MaxRetryAfter) is left to the call that got it, which
// returns it to the agent: Tallyfy's per-user throttling asks for a few seconds, while its long
// waits come from the hourly per-organization caps on single actions (docs/tallyfy-api.md §4),
// which say nothing about the credential's other requests. X-RateLimit-* describe the
// credential's own budget, so a reset holds everything however far it is.
func (p *pacer) observe(status int, rl RateLimit, retryAfter, maxShared time.Duration, now time.Time) {
	if status == http.StatusTooManyRequests && retryAfter <= maxShared {
		p.holdFor(retryAfter)
	}
	if rl.Remaining != "0" {
		return
	}
	if until, ok := resetTime(rl.Reset, now); ok {
		p.holdUntilTime(until)
	}
}

// epochThreshold tells the two spellings of X-RateLimit-Reset apart. No Tallyfy source shows
// the header (docs/tallyfy-api.md §8). Laravel's ThrottleRequests, on which Tallyfy's API
// answers (its 422 bodies are Laravel's, §4), sends the Unix time at which the limit frees up;
// the IETF RateLimit draft and some gateways send seconds to wait. A value above 10^9 (2001 as
// a Unix time, 31 years as a wait) can only be a Unix time.
const epochThreshold = 1_000_000_000

// resetTime reads X-RateLimit-Reset as a Unix time or a number of seconds from now. It
// reports false for an absent, unreadable or past value, and caps the result at maxHold.
func resetTime(v string, now time.Time) (time.Time, bool) {
	if v == "" {
		return time.Time{}, false
	}
	f, err := strconv.ParseFloat(v, 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) || f <= 0 {
		return time.Time{}, false
	}
	var d time.Duration
	switch {
	case f >= 1e12: // past any Unix time a time.Duration holds: nonsense, hold the most
		d = maxHold
	case f >= epochThreshold:
		sec, frac := math.Modf(f)
		d = time.Unix(int64(sec), int64(frac*1e9)).Sub(now)
	default:
		d = time.Duration(f * float64(time.Second))
	}
	if d <= 0 {
		return time.Time{}, false
	}
	return now.Add(min(d, maxHold)), true
}
