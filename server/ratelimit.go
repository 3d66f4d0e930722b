package server

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/mark3labs/mcp-go/mcp"
	mcpserver "github.com/mark3labs/mcp-go/server"

	"github.com/tallyfy-mcp/tallyfy-mcp/tools"
	"golang.org/x/time/rate"
)

// rateLimiter caps tool calls per session and for the whole server (token buckets from
// golang.org/x/time/rate, burst twice the rate). A refused call is an isError result that says
// how long to wait, never a dropped request.
type rateLimiter struct {
	// refused audits a refused call (the README promises a record for every refused
	// lifecycle or permanent call, rate-limited ones included).
	refused    func(ctx context.Context, req mcp.CallToolRequest, detail string)
	perSession rate.Limit
	global     *rate.Limiter
	mu         sync.Mutex
	sessions   map[string]*sessionLimiter
	lastPrune  time.Time
}

type sessionLimiter struct {
	lim  *rate.Limiter
	seen time.Time
}

func newRateLimiter(perSession, global float64, refused func(context.Context, mcp.CallToolRequest, string)) *rateLimiter {
	rl := &rateLimiter{refused: refused, perSession: rate.Limit(perSession), sessions: map[string]*sessionLimiter{}}
	if global > 0 {
		rl.global = rate.NewLimiter(rate.Limit(global), max(1, int(2*global)))
	}
	return rl
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
		s = &sessionLimiter{lim: rate.NewLimiter(rl.perSession, max(1, int(2*float64(rl.perSession))))}
		rl.sessions[id] = s
	}
	s.seen = now
	return s.lim
}

// refuse reports how long to wait when lim has no token now.
func refuse(lim *rate.Limiter, now time.Time) (time.Duration, bool) {
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

func (rl *rateLimiter) middleware(next mcpserver.ToolHandlerFunc) mcpserver.ToolHandlerFunc {
	return func(ctx context.Context, req mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		now := time.Now()
		if rl.perSession > 0 {
			if wait, limited := refuse(rl.session(sessionKey(ctx), now), now); limited {
				rl.refused(ctx, req, "rate limited: too many tool calls on this session")
				return mcp.NewToolResultError(fmt.Sprintf("Too many tool calls on this session (limit %.0f per second): nothing was done. Retry after %d ms.", float64(rl.perSession), wait.Milliseconds()+1)), nil
			}
		}
		if rl.global != nil {
			if wait, limited := refuse(rl.global, now); limited {
				rl.refused(ctx, req, "rate limited: too many tool calls on this server")
				return mcp.NewToolResultError(fmt.Sprintf("The server is busy (limit %.0f tool calls per second for all sessions): nothing was done. Retry after %d ms.", float64(rl.global.Limit()), wait.Milliseconds()+1)), nil
			}
		}
		return next(ctx, req)
	}
}

func sessionKey(ctx context.Context) string {
	if s := mcpserver.ClientSessionFromContext(ctx); s != nil && s.SessionID() != "" {
		return s.SessionID()
	}
	if key := tools.CallerKey(ctx); key != "" {
		return key // no session: one bucket per authenticated caller (behind a proxy they share an address)
	}
	if addr, ok := ctx.Value(remoteKey{}).(string); ok {
		return addrKey(addr) // no session (2026-07-28): one bucket per caller address
	}
	return "-"
}
