package tools

import (
	"cmp"
	"context"
	"crypto/ed25519"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/mark3labs/mcp-go/mcp"
	"github.com/mark3labs/mcp-go/server"

	"github.com/tallyfy-mcp/tallyfy-mcp/schemas"
	"github.com/tallyfy-mcp/tallyfy-mcp/state"
	"github.com/tallyfy-mcp/tallyfy-mcp/tallyfy"
	"github.com/tallyfy-mcp/tallyfy-mcp/tools/audit"
	"github.com/tallyfy-mcp/tallyfy-mcp/tools/confirm"
)

// ConfirmMode says how a permanent delete is confirmed.
type ConfirmMode string

// The confirmation modes (--confirm).
const (
	ConfirmAuto   ConfirmMode = "auto"   // the strongest channel the client offers (channel.go); token only with AllowToken
	ConfirmElicit ConfirmMode = "elicit" // elicitation only; refuse when impossible
	ConfirmToken  ConfirmMode = "token"  // two calls with a sealed confirm_token
	ConfirmOff    ConfirmMode = "off"    // no confirmation: unattended pipelines only
)

// ParseConfirmMode checks a --confirm value.
func ParseConfirmMode(s string) (ConfirmMode, error) {
	switch m := ConfirmMode(s); m {
	case ConfirmAuto, ConfirmElicit, ConfirmToken, ConfirmOff:
		return m, nil
	}
	return "", fmt.Errorf("--confirm must be auto, elicit, token or off, not %q", s)
}

// Options configure a Toolset.
type Options struct {
	Client  *tallyfy.Client
	Policy  Policy
	Confirm ConfirmMode // default auto
	// TokenTTL is how long a confirm_token stays valid; default 5 minutes.
	TokenTTL time.Duration
	// ElicitTimeout bounds how long the server waits for the person to answer; default 3 minutes.
	ElicitTimeout time.Duration
	Audit         audit.Recorder // default: records go to Logger
	// State is what replicas share: used confirmations and, unless Budget is set, the delete
	// budget. Default: this process only (state.NewMemory).
	State state.Store
	// ConfirmKeys seal confirm tokens and elicitation state: the first seals, all are accepted.
	// Every replica sharing State must have the same keys. Default: a random key per process.
	ConfirmKeys [][]byte
	// Budget caps permanent deletes; default: Policy.MaxDeletesPerHour per hour, kept in State.
	Budget DeleteBudget
	Logger *slog.Logger
	Now    func() time.Time
	// MaxBulkItems caps the items of one bulk plan; default 100.
	MaxBulkItems int
	// BulkConcurrency is how many items of a bulk call run at once (inside the client's
	// pacing); default 4.
	BulkConcurrency int
	// AllowToken lets --confirm auto fall back to the token flow, which the model can
	// complete on its own (--confirm-allow-token).
	AllowToken bool
	// ApprovalPage is where a person approves outside the client; nil: no page.
	ApprovalPage ApprovalPage
	// AppView is told of approvals waiting on the MCP App view (channel app), with their
	// secret handle; nil until the App is served (issue 21 point 2).
	AppView ApprovalPage
	// ApprovalKey signs approval records; default a key made for this process.
	ApprovalKey ed25519.PrivateKey
	// ApprovalTTL is how long a pending approval waits for the person; default 10 minutes.
	ApprovalTTL time.Duration
	// LocalUser is the OS user the server runs as, who confirms on stdio.
	LocalUser string
}

// Toolset serves the table's tools against one Tallyfy organization.
type Toolset struct {
	opts Options // with every default filled in (New)
	seal *confirm.Sealer
	// approvals are the pending approvals, in the state store (approval.go).
	approvals confirm.Approvals
	roles     roleCache // each credential's role, read once and kept briefly (role.go)
	// stopping ends when the server begins to shut down: questions still open to the person
	// cannot be answered any more (the transport is closing) and are given up at once.
	stopping context.Context
	stop     context.CancelFunc
	// limit is the rate limit stage (judge.go); nil: none.
	limit *rateLimiter
}

// BeginShutdown gives up every question still open to a person: the transport is closing, so
// their answer could not arrive. Those deletes end "cancelled", nothing deleted.
func (ts *Toolset) BeginShutdown() { ts.stop() }

// New checks opts and builds the toolset.
func New(opts Options) (*Toolset, error) {
	if opts.Client == nil {
		return nil, fmt.Errorf("tools: a Tallyfy client is required")
	}
	opts.Confirm = cmp.Or(opts.Confirm, ConfirmAuto)
	if _, err := ParseConfirmMode(string(opts.Confirm)); err != nil {
		return nil, err
	}
	if err := opts.Policy.Validate(); err != nil {
		return nil, err
	}
	protect, err := NormalizeProtectedIDs(opts.Policy.Protect)
	if err != nil {
		return nil, err
	}
	opts.Policy.Protect = protect
	opts.State = cmp.Or[state.Store](opts.State, state.NewMemory())
	if opts.Budget == nil {
		// One window per organization: every replica sharing State spends from it.
		opts.Budget = NewStoreBudget(opts.State, "deletes:"+opts.Client.OrgID(), opts.Policy.MaxDeletesPerHour, time.Hour)
	}
	orPositive(&opts.TokenTTL, 5*time.Minute)
	orPositive(&opts.ElicitTimeout, 3*time.Minute)
	orPositive(&opts.ApprovalTTL, 10*time.Minute)
	orPositive(&opts.BulkConcurrency, 4)
	if opts.MaxBulkItems <= 0 || opts.MaxBulkItems > 100 {
		opts.MaxBulkItems = 100
	}
	if opts.ApprovalKey == nil {
		if opts.ApprovalKey, err = confirm.NewApprovalKey(); err != nil {
			return nil, fmt.Errorf("tools: no key for approval records: %w", err)
		}
	}
	opts.Logger = cmp.Or(opts.Logger, slog.New(slog.DiscardHandler))
	if opts.Now == nil {
		opts.Now = time.Now
	}
	opts.Audit = cmp.Or[audit.Recorder](opts.Audit, audit.LogRecorder{Logger: opts.Logger})
	stopping, begin := context.WithCancel(context.Background())
	return &Toolset{opts: opts, seal: confirm.NewSealer(opts.ConfirmKeys, opts.State), stopping: stopping, stop: begin,
		approvals: confirm.Approvals{Store: opts.State, Now: opts.Now}, roles: roleCache{roles: map[*tallyfy.Client]roleRead{}}}, nil
}

// orPositive sets *v to def unless it is above zero.
func orPositive[T int | time.Duration](v *T, def T) {
	if *v <= 0 {
		*v = def
	}
}

// Offered counts the tools the server's policy offers (a caller's cap may narrow them further).
func (ts *Toolset) Offered() int {
	n := 0
	for _, t := range All {
		if ts.opts.Policy.Allows(t) {
			n++
		}
	}
	return n
}

// MCPTool builds the MCP definition of a table row: flat generated schemas, a title, and all
// four annotations set explicitly.
func MCPTool(t Tool) mcp.Tool {
	tool := mcp.NewToolWithRawSchema(t.Name, t.Description, schemas.JSON(t.Args))
	mcp.WithToolTitle(t.Title)(&tool) // "" (app-only tools: no host lists them to a person) is left out
	mcp.WithToolAnnotation(mcp.ToolAnnotation{
		Title:           t.Title,
		ReadOnlyHint:    mcp.ToBoolPtr(t.Hints.ReadOnly),
		DestructiveHint: mcp.ToBoolPtr(t.Hints.Destructive),
		IdempotentHint:  mcp.ToBoolPtr(t.Hints.Idempotent),
		OpenWorldHint:   mcp.ToBoolPtr(t.Hints.OpenWorld),
	})(&tool)
	if t.Result != nil {
		mcp.WithRawOutputSchema(schemas.JSON(t.Result))(&tool)
	}
	return tool
}

// ServerTools returns every tool of the table with its handler. Which of them a client sees
// is decided by Filter (installed as the server's tool filter) and checked again in the handler.
func (ts *Toolset) ServerTools() []server.ServerTool {
	out := make([]server.ServerTool, 0, len(All)+len(appTools))
	for _, t := range append(All[:len(All):len(All)], appTools...) {
		out = append(out, server.ServerTool{Tool: MCPTool(t), Handler: ts.handler(t)})
	}
	return out
}

// Filter is the server's tool filter: it hides what the policy (narrowed by the caller's cap)
// does not allow, for both tools/list and tools/call.
//
// On tools/list (mcp-go passes the whole table; a tools/call passes the one tool called) it
// also leaves out the permanent deletes Tallyfy refuses the caller's role (role.go), reading
// the role if it is not known yet. A call by name still reaches the handler, which refuses it
// with the reason.
//
// For a client that confirms in the MCP App view (app.go) the permanent deletes name the view
// and the app-only tools are there; for any other client they are not (so its tools/list is as
// without Apps).
func (ts *Toolset) Filter(ctx context.Context, in []mcp.Tool) []mcp.Tool {
	p := ts.policyFor(ctx)
	apps := ts.appsOffered(ctx)
	out := in[:0:0]
	listing := len(in) > 1
	role := sync.OnceValue(func() tallyfy.Role { return ts.roleOf(ctx, ts.clientFor(ctx)) })
	for _, t := range in {
		row, ok := ByName(t.Name)
		if !ok {
			row, ok = byName(appTools, t.Name)
			ok = ok && apps && p.allowsAnyDelete()
		} else {
			ok = p.Allows(row)
		}
		if !ok {
			continue
		}
		if listing && row.Tier == TierPermanent && !row.Bulk && !row.AppOnly && hiddenForRole(row, role()) {
			continue
		}
		if row.Bulk {
			t = withBulkKinds(t, p.bulkKinds(row))
		}
		if apps && (row.AppOnly || row.Verb == VerbDelete) { // the permanent deletes' results show in the view
			t.Meta = appToolMeta(row) // t is a copy: the registered tool is unchanged
			if !row.AppOnly && !row.Bulk {
				t = withoutConfirmToken(t)
			}
		}
		out = append(out, t)
	}
	return out
}
