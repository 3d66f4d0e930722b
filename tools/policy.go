package tools

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/mark3labs/mcp-go/mcp"

	"github.com/tallyfy-mcp/tallyfy-mcp/state"
)

// Policy is what the operator lets agents do. Exclusions and read-only always win.
type Policy struct {
	ReadOnly               bool
	DisablePermanentDelete bool
	Tools                  []string // when set, only these tools
	ExcludeTools           []string
	Protect                []string // IDs no tool may archive or permanently delete
	// MaxDeletesPerHour caps permanent deletes across all sessions; 0 means no deletes at all,
	// a negative value means no cap.
	MaxDeletesPerHour int
}

// Validate rejects unknown tool names, listing the valid ones.
func (p Policy) Validate() error {
	for _, list := range [][]string{p.Tools, p.ExcludeTools} {
		for _, n := range list {
			if _, ok := ByName(n); !ok {
				return fmt.Errorf("unknown tool %q in --tools/--exclude-tools; valid names: %s", n, strings.Join(Names(), ", "))
			}
		}
	}
	return nil
}

// Allows reports whether the policy lets a tool be listed and called.
func (p Policy) Allows(t Tool) bool {
	switch {
	case slices.Contains(p.ExcludeTools, t.Name):
		return false
	case p.ReadOnly && t.Tier != TierRead:
		return false
	case p.DisablePermanentDelete && t.Tier == TierPermanent:
		return false
	case len(p.Tools) > 0 && !slices.Contains(p.Tools, t.Name):
		return false
	}
	return true
}

// Protected reports whether id is on the protect list.
func (p Policy) Protected(id string) bool { return slices.Contains(p.Protect, id) }

// policyRefusal answers a call to a tool the policy hides (reached only if the filter did not
// run, e.g. a tool registered on a session by other code): defence in depth.
func policyRefusal(t Tool, p Policy) *mcp.CallToolResult {
	why := "it is not enabled on this server"
	switch {
	case slices.Contains(p.ExcludeTools, t.Name):
		why = "it is excluded by --exclude-tools"
	case p.ReadOnly:
		why = "the server runs with --read-only"
	case p.DisablePermanentDelete && t.Tier == TierPermanent:
		why = "the server runs with --disable-permanent-delete"
	case len(p.Tools) > 0:
		why = "it is not in --tools"
	}
	return mcp.NewToolResultError(fmt.Sprintf("Tool %s is not available: %s. Nothing was changed; ask the operator if this action is needed.", t.Name, why))
}

func (ts *Toolset) protectedRefusal(c *call) *mcp.CallToolResult {
	if !c.policy.Protected(c.id) {
		return nil
	}
	c.outcome, c.errDetail = "refused", "protected"
	return mcp.NewToolResultError(fmt.Sprintf("%s %s is protected by the operator (--protect / TALLYFY_PROTECT, or the caller's own cap): no tool may archive or permanently delete it. Nothing was changed.",
		capital(c.res.noun), c.id))
}

func (ts *Toolset) budgetRefusal(ctx context.Context, c *call) *mcp.CallToolResult {
	ok, freeAt, err := ts.budget.check(ctx, ts.now())
	if err != nil {
		return storeRefusal(c, err)
	}
	if ok {
		return nil
	}
	return ts.budgetSpent(c, freeAt)
}

func (ts *Toolset) budgetSpent(c *call, freeAt time.Time) *mcp.CallToolResult {
	c.outcome, c.errDetail = "refused", "delete budget spent"
	if ts.policy.MaxDeletesPerHour == 0 {
		return mcp.NewToolResultError("Permanent deletes are disabled on this server (--max-deletes-per-hour 0). Nothing was deleted; archiving is still possible.")
	}
	return mcp.NewToolResultError(fmt.Sprintf("The delete budget of %d permanent deletes per hour (--max-deletes-per-hour) is spent: nothing was deleted. The next delete is allowed from %s (in %s).",
		ts.policy.MaxDeletesPerHour, freeAt.UTC().Format(time.RFC3339), freeAt.Sub(ts.now()).Round(time.Second)))
}

// storeRefusal answers a permanent delete when the shared state store (--state) did not
// answer: without it, neither single use of confirmations nor the delete budget can be
// enforced across replicas, so deletes are refused (fail closed); everything else goes on.
func storeRefusal(c *call, err error) *mcp.CallToolResult {
	c.outcome, c.errDetail = "refused", clip("shared state unavailable: "+err.Error(), 300)
	return mcp.NewToolResultError("Nothing was deleted: permanent deletes are refused while the shared state store (--state) is unreachable, because the delete budget and single use of confirmations cannot be enforced without it. Looking up, archiving and restoring still work. Try the delete again later, or ask the operator to check the store (the server's /healthz reports it).")
}

// budget is the sliding-window count of permanent deletes shared by every session, and, with a
// shared store, by every replica.
type budget struct {
	limit  int // <0: no cap
	window time.Duration
	store  state.Store
	key    string
}

func newBudget(limit int, window time.Duration, store state.Store, key string) *budget {
	return &budget{limit: limit, window: window, store: store, key: key}
}

// check reports whether a delete is allowed now, and if not when the next one will be.
func (b *budget) check(ctx context.Context, now time.Time) (bool, time.Time, error) {
	if b.limit < 0 {
		return true, time.Time{}, nil
	}
	return b.store.Peek(ctx, b.key, now, b.limit, b.window)
}

// tryTake spends one delete if the budget allows; release gives it back when the delete did
// not happen. Check and spend are one atomic step in the store, so concurrent sessions and
// replicas cannot overspend.
func (b *budget) tryTake(ctx context.Context, now time.Time) (release func(), freeAt time.Time, err error) {
	if b.limit < 0 {
		return func() {}, time.Time{}, nil
	}
	return b.store.Take(ctx, b.key, now, b.limit, b.window)
}
