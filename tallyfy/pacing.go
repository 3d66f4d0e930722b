package tallyfy

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"strings"
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
	// shared, when set, is the bucket every replica using the same token shares (--state
	// redis://): Tallyfy's 600 a minute are per user across all replicas. lim then only
	// stands in while the shared store does not answer.
	shared    SharedPacer
	sharedKey string
	perSecond float64
	burst     int
	// bulk spaces the requests of bulk work (WithBulkPace) by bulkInterval, one at a time,
	// on top of the bucket; single calls keep the bucket's burst.
	bulk *rate.Limiter

	mu        sync.Mutex
	holdUntil time.Time // no request leaves before this (Retry-After, X-RateLimit-Reset)
	// gap is the least time between two requests while X-RateLimit-Remaining is low
	// (observe), and next the earliest time the next request may leave under it.
	gap  time.Duration
	next time.Time
}

// SharedPacer is a token bucket kept where every replica sees it (state.Redis implements it).
type SharedPacer interface {
	// Reserve takes the next request slot of the bucket named key (perSecond slots a second,
	// burst at once) and returns how long to wait before using it (0: now).
	Reserve(ctx context.Context, key string, perSecond float64, burst int) (time.Duration, error)
}

// DefaultBulkInterval is the least time between two requests of bulk work: Tallyfy's docs
// advise delays of 200-500 ms between requests when working in bulk (api-clients/postman
// templates-processes, "Rate limiting"; the n8n guide says 500 ms). 250 ms, 4 a second, is at
// the quick end of that advice and leaves most of the token's 600 a minute to single calls,
// to other replicas and to the person's own use of the web app.
const DefaultBulkInterval = 250 * time.Millisecond

func newPacer(cfg Config) *pacer {
	p := &pacer{perSecond: cfg.Rate, burst: cfg.RateBurst}
	if cfg.Rate > 0 { // Rate 0: no pacing at all
		p.lim = rate.NewLimiter(rate.Limit(cfg.Rate), cfg.RateBurst)
		if cfg.SharedPace != nil {
			p.shared, p.sharedKey = cfg.SharedPace, sharedPaceKey(cfg.BaseURL, cfg.Token)
		}
		if cfg.BulkInterval > 0 {
			p.bulk = rate.NewLimiter(rate.Every(cfg.BulkInterval), 1)
		}
	}
	return p
}

// sharedPaceKey names a token's shared bucket without holding the token: a hash of the API
// root and the token (Tallyfy counts per user, and a token is one user's).
func sharedPaceKey(base, token string) string {
	sum := sha256.Sum256([]byte(strings.TrimRight(base, "/") + "\x00" + token))
	return "pace:" + hex.EncodeToString(sum[:16])
}

type bulkPaceKey struct{}

// WithBulkPace marks ctx as bulk work: its requests are spaced by Config.BulkInterval
// (DefaultBulkInterval), while single calls keep the bucket's burst.
func WithBulkPace(ctx context.Context) context.Context {
	return context.WithValue(ctx, bulkPaceKey{}, true)
}

func isBulk(ctx context.Context) bool { b, _ := ctx.Value(bulkPaceKey{}).(bool); return b }

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
		if dl, ok := ctx.Deadline(); hold > maxWait || ok && time.Until(dl) < hold {
			return pausedError(method, path, hold)
		}
		if err := sleep(ctx, hold); err != nil {
			return err
		}
		// Loop: another answer may have extended the hold meanwhile.
	}
	if p.bulk != nil && isBulk(ctx) {
		if err := p.bulk.Wait(ctx); err != nil {
			return slotError(ctx, method, path, "--tallyfy-bulk-interval")
		}
	}
	if err := p.waitGap(ctx, method, path); err != nil {
		return err
	}
	if p.lim == nil {
		return nil
	}
	if p.shared != nil {
		d, err := p.shared.Reserve(ctx, p.sharedKey, p.perSecond, p.burst)
		if err == nil {
			return sleepFor(ctx, d, method, path)
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		// The shared store does not answer: this replica's own bucket paces meanwhile (at
		// the same rate, so replicas together may exceed it until the store is back).
	}
	if err := p.lim.Wait(ctx); err != nil {
		return slotError(ctx, method, path, "--tallyfy-rate")
	}
	return nil
}

// slotError is the error of a wait for a request slot that ended early: the context's own, or
// the deadline the wait would have passed (rate.Limiter gives up at once rather than sleep
// into it).
func slotError(ctx context.Context, method, path, flag string) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return fmt.Errorf("tallyfy: %s %s: waiting for a request slot (%s) would pass the call's deadline: %w",
		method, path, flag, context.DeadlineExceeded)
}

// sleepFor waits d unless the call ends first or d would pass its deadline.
func sleepFor(ctx context.Context, d time.Duration, method, path string) error {
	if d <= 0 {
		return nil
	}
	if dl, ok := ctx.Deadline(); ok && time.Until(dl) < d {
		return slotError(context.WithoutCancel(ctx), method, path, "--tallyfy-rate, shared through --state")
	}
	return sleep(ctx, d)
}

// waitGap holds a request until the gap the falling X-RateLimit-Remaining asked for has
// passed since the one before (observe), taking its turn first so concurrent requests queue.
func (p *pacer) waitGap(ctx context.Context, method, path string) error {
	p.mu.Lock()
	if p.gap <= 0 {
		p.mu.Unlock()
		return nil
	}
	now := time.Now()
	at := now
	if p.next.After(now) {
		at = p.next
	}
	p.next = at.Add(p.gap)
	p.mu.Unlock()
	return sleepFor(ctx, at.Sub(now), method, path)
}

// holdFor stops every request on the credential for d from now (never shortening a hold; a
// d of 0 or less holds nothing).
func (p *pacer) holdFor(d time.Duration) { p.holdUntilTime(time.Now().Add(min(d, maxHold))) }

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
	p.slowDown(rl, now)
	if rl.Remaining != "0" {
		return
	}
	if until, ok := resetTime(rl.Reset, now); ok {
		p.holdUntilTime(until)
	}
}

// Slowing down before the limit (issue 18 point 8). The token's 600 a minute are shared with
// other replicas and with the person's own use of the web app, which this process cannot see:
// X-RateLimit-Remaining can. While it is at or above lowRemaining of the limit, the bucket
// alone paces; below, requests are spaced so that what remains is spread over the time left:
// until X-RateLimit-Reset when sent, else Tallyfy's rolling minute, divided by remaining + 1,
// at most maxGap. Remaining 0 with a known reset holds everything until the reset (observe).
const (
	documentedLimit = 600 // requests a minute per user (docs/tallyfy-api.md §4)
	lowRemaining    = 0.25
	rateWindow      = time.Minute
	maxGap          = 5 * time.Second
)

// slowDown sets the gap between requests from X-RateLimit-Remaining (and X-RateLimit-Limit,
// when sent; Tallyfy documents 600 a minute). Answers without the header leave it as it is.
func (p *pacer) slowDown(rl RateLimit, now time.Time) {
	left, err := strconv.Atoi(rl.Remaining)
	if err != nil || left < 0 || p.lim == nil { // Rate 0: no pacing at all
		return
	}
	limit := documentedLimit
	if l, err := strconv.Atoi(rl.Limit); err == nil && l > 0 {
		limit = l
	}
	gap := time.Duration(0)
	if float64(left) < lowRemaining*float64(limit) {
		window := rateWindow
		if until, ok := resetTime(rl.Reset, now); ok {
			window = until.Sub(now)
		}
		gap = min(window/time.Duration(left+1), maxGap)
	}
	p.mu.Lock()
	p.gap = gap
	p.mu.Unlock()
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
