package tools

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/mark3labs/mcp-go/mcp"

	"github.com/tallyfy-mcp/tallyfy-mcp/state"
	"github.com/tallyfy-mcp/tallyfy-mcp/tallyfy"
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

// Validate rejects unknown tool names, suggesting the nearest one and listing the valid ones.
func (p Policy) Validate() error {
	for _, list := range [][]string{p.Tools, p.ExcludeTools} {
		for _, n := range list {
			if _, ok := ByName(n); !ok {
				hint := ""
				if near := NearestToolName(n); near != "" {
					hint = fmt.Sprintf(" (did you mean %q?)", near)
				}
				return fmt.Errorf("unknown tool %q in --tools/--exclude-tools%s; valid names: %s", n, hint, strings.Join(Names(), ", "))
			}
		}
	}
	return nil
}

// NearestToolName is the tool name closest to a misspelt one (at most a third of its letters
// off, so "archve_task" finds archive_task but "foo" finds nothing), or "".
func NearestToolName(name string) string {
	best, bestDist := "", len(name)/3+1
	for _, n := range Names() {
		if d := editDistance(strings.ToLower(name), n); d < bestDist {
			best, bestDist = n, d
		}
	}
	return best
}

// editDistance is the Levenshtein distance between a and b (bytes: tool names are ASCII).
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur := make([]int, len(b)+1)
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev = cur
	}
	return prev[len(b)]
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

// Protected reports whether id is on the protect list (normalized by NormalizeProtectedIDs).
func (p Policy) Protected(id string) bool { return slices.Contains(p.Protect, id) }

// NormalizeProtectedIDs checks and lowercases a list of protected resource IDs. Tool
// arguments must be lowercase IDs, so an uppercase entry kept as given would never match and
// would protect nothing; an entry that is not an ID at all is a mistake worth stopping for.
// Every source of protected IDs (--protect, TALLYFY_PROTECT, caller policies) goes through it.
func NormalizeProtectedIDs(ids []string) ([]string, error) {
	out := make([]string, 0, len(ids))
	for _, id := range ids {
		n := strings.ToLower(strings.TrimSpace(id))
		if !tallyfy.ValidID(n) {
			return nil, fmt.Errorf("protected ID %q is not a Tallyfy ID (32 hex characters): nothing would match it", clip(id, 80))
		}
		if !slices.Contains(out, n) {
			out = append(out, n)
		}
	}
	return out, nil
}

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

// protectedRefusal refuses an archive or delete of an ID on the protect list.
func (ts *Toolset) protectedRefusal(c *call) (outcome, bool) {
	if !c.policy.Protected(c.id) {
		return outcome{}, false
	}
	return refused("protected", mcp.NewToolResultError(fmt.Sprintf("%s %s is protected by the operator (--protect / TALLYFY_PROTECT, or the caller's own cap): no tool may archive or permanently delete it. Nothing was changed.",
		capital(c.res.noun), c.id))), true
}

// budgetRefusal checks, without spending, that a permanent delete is within budget, so that a
// spent budget refuses before the person is asked to confirm.
func (ts *Toolset) budgetRefusal(ctx context.Context, c *call) (outcome, bool) {
	refusal, err := ts.budget.Check(context.WithoutCancel(ctx), ts.now())
	return ts.budgetAnswer(refusal, err)
}

// takeBudget spends one permanent delete, or answers why it cannot (never both, never
// neither): the refusal comes from the same atomic step as the take.
func (ts *Toolset) takeBudget(ctx context.Context) (release func(), o outcome, ok bool) {
	release, refusal, err := ts.budget.Take(context.WithoutCancel(ctx), ts.now())
	if err == nil && refusal == nil && release != nil {
		return release, outcome{}, true
	}
	if err == nil && refusal == nil { // a DeleteBudget that broke its contract: refuse, never delete
		err = errors.New("the delete budget gave neither a slot nor a refusal")
	}
	o, _ = ts.budgetAnswer(refusal, err)
	return nil, o, false
}

// budgetAnswer turns a budget's refusal or failure into the call's outcome (false: allowed).
func (ts *Toolset) budgetAnswer(refusal *BudgetRefusal, err error) (outcome, bool) {
	switch {
	case err != nil && state.IsUnavailable(err):
		ts.log.Error("shared state store unavailable: permanent deletes refused", "err", err)
		return storeRefusal(err), true
	case err != nil:
		ts.log.Error("delete budget unavailable", "err", err)
		return refused("delete budget unavailable", mcp.NewToolResultError(fmt.Sprintf("Nothing was deleted: the delete budget could not be checked (%v), and without it no permanent delete is allowed. Try again later, or ask the operator to check the server's state store.", err))), true
	case refusal == nil:
		return outcome{}, false
	}
	const spent = "delete budget spent"
	if refusal.Limit == 0 {
		return refused(spent, mcp.NewToolResultError("Permanent deletes are disabled on this server (--max-deletes-per-hour 0). Nothing was deleted; archiving is still possible.")), true
	}
	now := ts.now()
	return refused(spent, mcp.NewToolResultError(fmt.Sprintf("The delete budget of %d permanent deletes per hour (--max-deletes-per-hour) is spent: nothing was deleted. The next delete is allowed from %s (in %s).",
		refusal.Limit, refusal.FreeAt.UTC().Format(time.RFC3339), max(refusal.FreeAt.Sub(now), 0).Round(time.Second)))), true
}

// storeRefusal answers a permanent delete when the shared state store (--state) did not
// answer: without it, neither single use of confirmations nor the delete budget can be
// enforced across replicas, so deletes are refused (fail closed); everything else goes on.
func storeRefusal(err error) outcome {
	return refused(clip("shared state unavailable: "+err.Error(), 300), mcp.NewToolResultError("Nothing was deleted: permanent deletes are refused while the shared state store (--state) is unreachable, because the delete budget and single use of confirmations cannot be enforced without it. Looking up, archiving and restoring still work. Try the delete again later, or ask the operator to check the store (the server's /healthz reports it)."))
}
