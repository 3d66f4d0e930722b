package tools

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/mark3labs/mcp-go/mcp"
	"golang.org/x/time/rate"

	"github.com/tallyfy-mcp/tallyfy-mcp/schemas"
)

// judge is the first stage of every call, the app-only tools' too: the arguments against the
// tool's input schema (the MCP library's own check is off: it has no hook, only English text),
// then the rate limit. A refused lifecycle or permanent call is recorded like any other
// refusal (the README promises a record for every one), and its text stands even if that
// record fails: nothing was done, and it says so.
func (ts *Toolset) judge(ctx context.Context, t Tool, req mcp.CallToolRequest) (*mcp.CallToolResult, bool) {
	var o outcome
	id := ""
	if bad := schemas.Check(t.Args, req.GetRawArguments()); bad != nil {
		o = invalidArguments(t, bad)
	} else if lim, ok := ts.limit.refuse(ctx); ok {
		o, id = lim, itemID(t, req) // a well-formed ID names the item the refused call was about
	} else {
		return nil, false
	}
	if !t.AppOnly { // the view's own calls are not the model's: their refusals were never audited
		c := ts.newCall(ctx, t, req)
		c.id = id
		ts.record(ctx, c, o)
	}
	return o.result, true
}

// invalidArguments says which arguments break the schema and how, and names the valid ones.
// The audit detail names the arguments only, never their values.
func invalidArguments(t Tool, bad []schemas.Violation) outcome {
	parts := make([]string, len(bad))
	names := make([]string, len(bad))
	for i, v := range bad {
		parts[i], names[i] = v.Where+": "+v.Why, v.Where
	}
	return refused("invalid arguments: "+strings.Join(names, ", "), mcp.NewToolResultError(fmt.Sprintf(
		"Invalid arguments for %s: %s. Nothing was changed. Valid arguments: %s.",
		t.Name, strings.Join(parts, "; "), strings.Join(schemas.Properties(t.Args), ", "))))
}

// itemID is the item argument of a single-item call, if it is a well-formed ID (bulk tools
// name no single item).
func itemID(t Tool, req mcp.CallToolRequest) string {
	if k := itemKinds[t.Kind]; k != nil {
		if id, bad := idArg(req, k); bad == nil {
			return id
		}
	}
	return ""
}

// RateLimit caps tool calls (token buckets from golang.org/x/time/rate, burst twice the rate):
// per key and for the whole server. 0: no limit. A refused call is an isError result that says
// how long to wait, never a dropped request.
type RateLimit struct {
	PerSession, Global float64
	// Key names the bucket a call draws from: its session, else its caller or address.
	Key func(context.Context) string
}

// LimitRate sets the rate limit (the HTTP transports do, before serving).
func (ts *Toolset) LimitRate(rl RateLimit) { ts.limit = newRateLimiter(rl) }

type rateLimiter struct {
	RateLimit
	global    *rate.Limiter
	mu        sync.Mutex
	sessions  map[string]*sessionLimiter
	lastPrune time.Time
}

type sessionLimiter struct {
	lim  *rate.Limiter
	seen time.Time
}

func newRateLimiter(rl RateLimit) *rateLimiter {
	l := &rateLimiter{RateLimit: rl, sessions: map[string]*sessionLimiter{}}
	if rl.Global > 0 {
		l.global = rate.NewLimiter(rate.Limit(rl.Global), max(1, int(2*rl.Global)))
	}
	return l
}

func (rl *rateLimiter) session(id string, now time.Time) *rate.Limiter {
	rl.mu.Lock()
	defer rl.mu.Unlock()
	if now.Sub(rl.lastPrune) > time.Minute { // forget idle sessions: bounded memory
		for k, s := range rl.sessions {
			if now.Sub(s.seen) > 10*time.Minute {
				delete(rl.sessions, k)
			}
		}
		rl.lastPrune = now
	}
	s, ok := rl.sessions[id]
	if !ok {
		s = &sessionLimiter{lim: rate.NewLimiter(rate.Limit(rl.PerSession), max(1, int(2*rl.PerSession)))}
		rl.sessions[id] = s
	}
	s.seen = now
	return s.lim
}

// refuse is the rate limit stage: limited, the outcome that ends the call.
func (rl *rateLimiter) refuse(ctx context.Context) (outcome, bool) {
	if rl == nil {
		return outcome{}, false
	}
	now := time.Now()
	if rl.PerSession > 0 {
		if wait, limited := delay(rl.session(rl.Key(ctx), now), now); limited {
			return refused("rate limited: too many tool calls on this session", mcp.NewToolResultError(fmt.Sprintf(
				"Too many tool calls on this session (limit %.0f per second): nothing was done. Retry after %d ms.", rl.PerSession, wait.Milliseconds()+1))), true
		}
	}
	if rl.global != nil {
		if wait, limited := delay(rl.global, now); limited {
			return refused("rate limited: too many tool calls on this server", mcp.NewToolResultError(fmt.Sprintf(
				"The server is busy (limit %.0f tool calls per second for all sessions): nothing was done. Retry after %d ms.", float64(rl.global.Limit()), wait.Milliseconds()+1))), true
		}
	}
	return outcome{}, false
}

// delay reports how long to wait when lim has no token now.
func delay(lim *rate.Limiter, now time.Time) (time.Duration, bool) {
	r := lim.ReserveN(now, 1)
	if !r.OK() {
		return time.Second, true
	}
	d := r.DelayFrom(now)
	if d == 0 {
		return 0, false
	}
	r.CancelAt(now)
	return d, true
}
