package tools

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
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

// Allows reports whether the policy lets a tool be listed and called. A bulk tool is no more
// than the single-item calls it stands for: it is allowed only while at least one of them is
// (bulkKinds), and then only for the types they cover (bulkKindRefusal).
func (p Policy) Allows(t Tool) bool {
	if t.Bulk && len(p.bulkKinds(t)) == 0 {
		return false
	}
	return p.allowsItself(t)
}

// bulkKindOrder is the order of the bulk tools' type enum (schemas.BulkArgs).
var bulkKindOrder = []tallyfy.Kind{tallyfy.KindTask, tallyfy.KindRun, tallyfy.KindTemplate}

// bulkKinds is the types a bulk tool may act on under p, as its type enum names them: those
// whose single-item tool of the same verb (bulk_delete of templates: delete_template) p allows.
func (p Policy) bulkKinds(t Tool) []string {
	if !t.Bulk {
		return nil
	}
	var out []string
	for _, k := range bulkKindOrder {
		if p.allowsItself(toolFor(k, t.Verb)) {
			out = append(out, string(k))
		}
	}
	return out
}

// allowsItself is Allows for the tool's own name and tier, before what a bulk tool stands for.
func (p Policy) allowsItself(t Tool) bool {
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

// allowsAnyDelete reports whether p allows some permanent delete (the app-only tools serve them).
func (p Policy) allowsAnyDelete() bool {
	for _, t := range All {
		if t.Tier == TierPermanent && p.Allows(t) {
			return true
		}
	}
	return false
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
	return mcp.NewToolResultError(fmt.Sprintf("Tool %s is not available: %s. Nothing was changed; ask the operator if this action is needed.", t.Name, policyReason(t, p)))
}

// policyReason says which of the server's flags hides t.
func policyReason(t Tool, p Policy) string {
	why := "it is not enabled on this server"
	switch {
	case t.Bulk && p.allowsItself(t) && len(p.bulkKinds(t)) == 0:
		why = "none of the single-item tools it stands for (" + strings.Join(bulkItemTools(t), ", ") + ") is enabled on this server"
	case slices.Contains(p.ExcludeTools, t.Name):
		why = "it is excluded by --exclude-tools"
	case p.ReadOnly:
		why = "the server runs with --read-only"
	case p.DisablePermanentDelete && t.Tier == TierPermanent:
		why = "the server runs with --disable-permanent-delete"
	case len(p.Tools) > 0:
		why = "it is not in --tools"
	}
	return why
}

// bulkItemTools names the single-item tools a bulk tool stands for.
func bulkItemTools(t Tool) []string {
	out := make([]string, 0, len(bulkKindOrder))
	for _, k := range bulkKindOrder {
		out = append(out, toolFor(k, t.Verb).Name)
	}
	return out
}

// bulkKindRefusal is the policy stage of a bulk call once its type is known (bulkArgs): it
// refuses a type whose single-item tool the server's policy (server) or the caller's cap
// (effective: the server's narrowed by the cap) does not allow: bulk_delete of templates is
// delete_template many times, so it is refused wherever delete_template is. ok false:
// allowed. Plan and execute both pass here.
func (ts *Toolset) bulkKindRefusal(ctx context.Context, c *call) (outcome, bool) {
	t, kind, server, effective := c.tool, c.kind.Kind, ts.opts.Policy, c.policy
	item := toolFor(kind, t.Verb)
	var why string
	switch {
	case !server.Allows(item):
		why = fmt.Sprintf("%s is not available on this server (%s)", item.Name, policyReason(item, server))
	case !effective.Allows(item):
		who, _ := CallerFrom(ctx)
		why = fmt.Sprintf("%s is not available to caller %q (their entry in the callers file, or their access token's scopes, do not allow it)", item.Name, who.Name)
	default:
		return outcome{}, false
	}
	allowed := effective.bulkKinds(t)
	next := "No type is allowed for " + t.Name + "."
	if len(allowed) > 0 {
		next = "Types allowed for " + t.Name + ": " + strings.Join(allowed, ", ") + "."
	}
	return refused(item.Name+" not allowed", mcp.NewToolResultError(fmt.Sprintf("%s with type %s is refused: it would do what %s does, and %s. Nothing was changed. %s Ask the operator if this action is needed.",
		t.Name, kind, item.Name, why, next))), true
}

// protectedRefusal refuses an archive or delete of an ID on the protect list.
func (ts *Toolset) protectedRefusal(c *call) (outcome, bool) {
	if !c.policy.Protected(c.id) {
		return outcome{}, false
	}
	return refused("protected", mcp.NewToolResultError(fmt.Sprintf("%s %s is protected by the operator (--protect / TALLYFY_PROTECT, or the caller's own cap): no tool may archive or permanently delete it. Nothing was changed.",
		Capitalize(c.kind.noun), c.id))), true
}

// takeBudget spends one permanent delete, or answers why it cannot (never both, never
// neither): the refusal comes from the same atomic step as the take.
func (ts *Toolset) takeBudget(ctx context.Context) (release func(), o outcome, ok bool) {
	release, refusal, err := ts.opts.Budget.Take(context.WithoutCancel(ctx), ts.opts.Now())
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
		ts.opts.Logger.Error("shared state store unavailable: permanent deletes refused", "err", err)
		return storeRefusal(err), true
	case err != nil:
		ts.opts.Logger.Error("delete budget unavailable", "err", err)
		return refused("delete budget unavailable", mcp.NewToolResultError(fmt.Sprintf("Nothing was deleted: the delete budget could not be checked (%v), and without it no permanent delete is allowed. Try again later, or ask the operator to check the server's state store.", err))), true
	case refusal == nil:
		return outcome{}, false
	}
	const spent = "delete budget spent"
	if refusal.Limit == 0 {
		return refused(spent, mcp.NewToolResultError("Permanent deletes are disabled on this server (--max-deletes-per-hour 0). Nothing was deleted; archiving is still possible.")), true
	}
	now := ts.opts.Now()
	return refused(spent, mcp.NewToolResultError(fmt.Sprintf("The delete budget of %d permanent deletes per hour (--max-deletes-per-hour) is spent: nothing was deleted. The next delete is allowed from %s (in %s).",
		refusal.Limit, refusal.FreeAt.UTC().Format(time.RFC3339), max(refusal.FreeAt.Sub(now), 0).Round(time.Second)))), true
}

// storeRefusal answers a permanent delete when the shared state store (--state) did not
// answer: without it, neither single use of confirmations nor the delete budget can be
// enforced across replicas, so deletes are refused (fail closed); everything else goes on.
func storeRefusal(err error) outcome {
	return refused(clip("shared state unavailable: "+err.Error(), 300), mcp.NewToolResultError("Nothing was deleted: permanent deletes are refused while the shared state store (--state) is unreachable, because the delete budget and single use of confirmations cannot be enforced without it. Looking up, archiving and restoring still work. Try the delete again later, or ask the operator to check the store (the server's /healthz reports it)."))
}

// withBulkKinds is the bulk tool t as a client may see it: its type enum lists only names,
// the types the policy in force lets it act on.
func withBulkKinds(t mcp.Tool, names []string) mcp.Tool {
	if len(names) == len(bulkKindOrder) || len(t.RawInputSchema) == 0 {
		return t
	}
	return withSchema(t, t.Name+":"+strings.Join(names, ","), func(props map[string]any) {
		typ, _ := props["type"].(map[string]any)
		if typ == nil {
			panic("tools: a bulk tool's input schema has no type property")
		}
		typ["enum"] = names
	})
}

// shownSchemas caches the input schemas the filter rewrites for a client (withSchema), by
// key: tools/list and every tools/call pass through the filter.
var shownSchemas sync.Map // key → json.RawMessage

// withSchema is t with its input schema's properties changed by edit, cached under key.
func withSchema(t mcp.Tool, key string, edit func(props map[string]any)) mcp.Tool {
	if raw, ok := shownSchemas.Load(key); ok {
		t.RawInputSchema = raw.(json.RawMessage)
		return t
	}
	var schema map[string]any
	if err := json.Unmarshal(t.RawInputSchema, &schema); err != nil {
		panic("tools: the input schema of " + t.Name + " does not decode: " + err.Error())
	}
	props, _ := schema["properties"].(map[string]any)
	edit(props)
	raw, err := json.Marshal(schema)
	if err != nil {
		panic("tools: " + err.Error())
	}
	shownSchemas.Store(key, json.RawMessage(raw))
	t.RawInputSchema = raw
	return t
}
