package tools_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/mark3labs/mcp-go/mcp"

	"github.com/tallyfy-mcp/tallyfy-mcp/schemas"
	"github.com/tallyfy-mcp/tallyfy-mcp/tallyfy/sandbox"
	"github.com/tallyfy-mcp/tallyfy-mcp/tools"
)

// gatedRecorder is a recorder whose intent records can be made to fail, counting the tries.
type gatedRecorder struct {
	recorder
	failIntents atomic.Bool
	intentTries atomic.Int32
}

func (g *gatedRecorder) Record(ctx context.Context, rec tools.Record) error {
	if rec.Outcome == "intent" {
		g.intentTries.Add(1)
		if g.failIntents.Load() {
			return errDiskFull
		}
	}
	return g.recorder.Record(ctx, rec)
}

var errDiskFull = errors.New("no space left on device")

// pathCase is one way a lifecycle or permanent call can end.
type pathCase struct {
	name  string
	verbs []string // of "archive", "restore", "delete"
	opts  func(k kindInfo) []option
	// setup runs on the built harness before the call; it may make calls of its own (they
	// are not counted) and returns the arguments of the call under test.
	setup    func(t *testing.T, h *harness, g *gatedRecorder, k kindInfo, tool string) map[string]any
	direct   func(ctx context.Context) context.Context // call the handler directly (the filter would hide the tool)
	onlyTask bool
	outcome  string
	detail   string // a fragment of the record's detail
}

func idArgs(k kindInfo, id string) map[string]any { return map[string]any{k.idArg: id} }

// target is the item a verb acts on in the happy path: live to archive, archived otherwise.
func target(k kindInfo, tool string) string {
	if tool == k.archive {
		return k.live
	}
	return k.archived
}

func onTarget(_ *testing.T, _ *harness, _ *gatedRecorder, k kindInfo, tool string) map[string]any {
	return idArgs(k, target(k, tool))
}

func noCap(p tools.Policy) tools.Policy { p.MaxDeletesPerHour = -1; return p }

func policyOf(p tools.Policy) func(kindInfo) []option {
	return func(kindInfo) []option { return []option{withPolicy(p)} }
}

func faulted(f sandbox.Fault) func(*testing.T, *harness, *gatedRecorder, kindInfo, string) map[string]any {
	return func(_ *testing.T, h *harness, _ *gatedRecorder, k kindInfo, tool string) map[string]any {
		h.sb.SetFaults(f)
		return idArgs(k, target(k, tool))
	}
}

var (
	lifecycleVerbs = []string{"archive", "restore"}
	allVerbs       = []string{"archive", "restore", "delete"}
	deleteOnly     = []string{"delete"}
)

var pathCases = []pathCase{
	{name: "server policy", verbs: allVerbs, opts: func(k kindInfo) []option {
		return []option{withPolicy(noCap(tools.Policy{ExcludeTools: []string{k.archive, k.restore, k.del}}))}
	}, setup: onTarget, direct: func(ctx context.Context) context.Context { return ctx }, outcome: "refused"},
	{name: "caller cap", verbs: allVerbs, setup: onTarget, direct: func(ctx context.Context) context.Context {
		return tools.WithCaller(ctx, tools.Caller{Name: "ann", Binding: "ann", Cap: &tools.Policy{ReadOnly: true}})
	}, outcome: "refused"},
	{name: "malformed id", verbs: allVerbs, setup: func(_ *testing.T, _ *harness, _ *gatedRecorder, k kindInfo, _ string) map[string]any {
		return idArgs(k, "NOT-AN-ID")
	}, direct: func(ctx context.Context) context.Context { return ctx }, outcome: "refused"},
	{name: "protected", verbs: []string{"archive", "delete"}, opts: func(k kindInfo) []option {
		return []option{withPolicy(noCap(tools.Policy{Protect: []string{k.live, k.archived}}))}
	}, setup: onTarget, outcome: "refused", detail: "protected"},
	{name: "budget spent", verbs: deleteOnly, opts: policyOf(tools.Policy{MaxDeletesPerHour: 0}), setup: onTarget, outcome: "refused", detail: "delete budget spent"},
	{name: "not found", verbs: allVerbs, setup: func(_ *testing.T, _ *harness, _ *gatedRecorder, k kindInfo, _ string) map[string]any {
		return idArgs(k, unknownID)
	}, outcome: "failed"},
	{name: "process task", verbs: allVerbs, onlyTask: true, setup: func(_ *testing.T, _ *harness, _ *gatedRecorder, k kindInfo, _ string) map[string]any {
		return idArgs(k, sandbox.IDs.ProcessTask)
	}, outcome: "refused", detail: "process task"},
	{name: "already so", verbs: lifecycleVerbs, setup: func(_ *testing.T, _ *harness, _ *gatedRecorder, k kindInfo, tool string) map[string]any {
		if tool == k.archive {
			return idArgs(k, k.archived)
		}
		return idArgs(k, k.live)
	}, outcome: "noop"},
	{name: "not archived", verbs: deleteOnly, setup: func(_ *testing.T, _ *harness, _ *gatedRecorder, k kindInfo, _ string) map[string]any {
		return idArgs(k, k.live)
	}, outcome: "refused", detail: "not archived"},
	{name: "intent not written", verbs: allVerbs, opts: func(kindInfo) []option { return []option{withConfirm(tools.ConfirmOff)} },
		setup: func(_ *testing.T, h *harness, g *gatedRecorder, k kindInfo, tool string) map[string]any {
			g.failIntents.Store(true)
			return idArgs(k, target(k, tool))
		}, outcome: "refused", detail: "audit intent not written"},
	{name: "write refused", verbs: lifecycleVerbs, setup: func(t *testing.T, h *harness, g *gatedRecorder, k kindInfo, tool string) map[string]any {
		method := "PUT"
		if tool == k.archive {
			method = "DELETE"
		}
		return faulted(sandbox.Fault{Kind: "429", Method: method})(t, h, g, k, tool)
	}, outcome: "failed"},
	{name: "delete refused", verbs: deleteOnly, opts: func(kindInfo) []option { return []option{withConfirm(tools.ConfirmOff)} },
		setup: faulted(sandbox.Fault{Kind: "429", Method: "DELETE", PathContains: "/delete"}), outcome: "failed"},
	{name: "delete lost, still there", verbs: deleteOnly, opts: func(kindInfo) []option { return []option{withConfirm(tools.ConfirmOff)} },
		setup: faulted(sandbox.Fault{Kind: "500", Method: "DELETE", PathContains: "/delete"}), outcome: "failed"},
	{name: "done", verbs: lifecycleVerbs, setup: onTarget, outcome: "ok"},
	{name: "deleted unconfirmed (off)", verbs: deleteOnly, opts: func(kindInfo) []option { return []option{withConfirm(tools.ConfirmOff)} },
		setup: onTarget, outcome: "ok"},
	{name: "token issued", verbs: deleteOnly, setup: onTarget, outcome: "confirmation_required"},
	{name: "token forged", verbs: deleteOnly, setup: func(_ *testing.T, _ *harness, _ *gatedRecorder, k kindInfo, _ string) map[string]any {
		return map[string]any{k.idArg: k.archived, "confirm_token": "tcf1.forged.token"}
	}, outcome: "refused", detail: "altered"},
	{name: "token redeemed", verbs: deleteOnly, setup: func(t *testing.T, h *harness, _ *gatedRecorder, k kindInfo, _ string) map[string]any {
		tok := decode[schemas.DeleteResult](t, h.call(k.del, idArgs(k, k.archived)).ok(t)).ConfirmToken
		return map[string]any{k.idArg: k.archived, "confirm_token": tok}
	}, outcome: "ok"},
	{name: "token in elicit mode", verbs: deleteOnly, opts: func(kindInfo) []option { return []option{withConfirm(tools.ConfirmElicit)} },
		setup: func(_ *testing.T, _ *harness, _ *gatedRecorder, k kindInfo, _ string) map[string]any {
			return map[string]any{k.idArg: k.archived, "confirm_token": "tcf1.forged.token"}
		}, outcome: "refused", detail: "token in elicit mode"},
	{name: "client cannot elicit", verbs: deleteOnly, opts: func(kindInfo) []option { return []option{withConfirm(tools.ConfirmElicit)} },
		setup: onTarget, outcome: "refused", detail: "client cannot elicit"},
	{name: "elicitation accepted", verbs: deleteOnly, opts: elicitWith(func(k kindInfo) func(context.Context, mcp.ElicitationRequest) (*mcp.ElicitationResult, error) {
		return accept(sandboxName(k))
	}), setup: onTarget, outcome: "ok"},
	{name: "elicitation declined", verbs: deleteOnly, opts: elicitWith(func(kindInfo) func(context.Context, mcp.ElicitationRequest) (*mcp.ElicitationResult, error) {
		return func(context.Context, mcp.ElicitationRequest) (*mcp.ElicitationResult, error) {
			return reply(mcp.ElicitationResponseActionDecline, nil), nil
		}
	}), setup: onTarget, outcome: "cancelled", detail: "declined"},
	{name: "elicitation name mismatch", verbs: deleteOnly, opts: elicitWith(func(kindInfo) func(context.Context, mcp.ElicitationRequest) (*mcp.ElicitationResult, error) {
		return accept("something else")
	}), setup: onTarget, outcome: "cancelled", detail: "name mismatch"},
}

// sandboxName is the seeded name of a kind's archived item.
var sandboxNames sync.Map

func sandboxName(k kindInfo) string {
	if v, ok := sandboxNames.Load(k.kind); ok {
		return v.(string)
	}
	r, _ := sandbox.New().Lookup(k.kind, k.archived)
	sandboxNames.Store(k.kind, r.Name)
	return r.Name
}

// elicitWith builds a legacy-protocol harness whose client answers the question with answer.
func elicitWith(answer func(kindInfo) func(context.Context, mcp.ElicitationRequest) (*mcp.ElicitationResult, error)) func(kindInfo) []option {
	return func(k kindInfo) []option {
		e := &elicitor{}
		e.set(answer(k))
		return []option{withConfirm(tools.ConfirmElicit), withProto(protocols[0]), withElicit(e)}
	}
}

func toolOf(k kindInfo, verb string) string {
	switch verb {
	case "archive":
		return k.archive
	case "restore":
		return k.restore
	}
	return k.del
}

// TestEveryPathWritesOneOutcome goes through every refusal, failure and success path of
// every lifecycle and permanent tool: each call writes exactly one outcome record, and an
// intent record before it exactly when it sent a change to Tallyfy.
func TestEveryPathWritesOneOutcome(t *testing.T) {
	t.Parallel()
	for _, pc := range pathCases {
		t.Run(pc.name, func(t *testing.T) {
			t.Parallel()
			for _, k := range kinds {
				if pc.onlyTask && k.kind != "task" {
					continue
				}
				for _, verb := range pc.verbs {
					tool := toolOf(k, verb)
					t.Run(tool, func(t *testing.T) {
						checkOnePath(t, pc, k, tool)
					})
				}
			}
		})
	}
}

func checkOnePath(t *testing.T, pc pathCase, k kindInfo, tool string) {
	g := &gatedRecorder{}
	opts := []option{withMaxTries(1), withRecorder(g)}
	if pc.opts != nil {
		opts = append(opts, pc.opts(k)...)
	} else {
		opts = append(opts, withPolicy(noCap(tools.Policy{})))
	}
	h := newHarness(t, opts...)
	args := pc.setup(t, h, g, k, tool)
	g.clear()
	g.intentTries.Store(0)
	mark := h.logLen()
	var res *mcp.CallToolResult
	if pc.direct != nil {
		res = callDirect(t, h, pc.direct(context.Background()), tool, args)
	} else {
		r := h.call(tool, args)
		if r.err != nil {
			t.Fatalf("protocol error: %v", r.err)
		}
		res = r.res
	}
	h.sb.SetFaults()
	acted := len(h.writesSince(mark)) > 0
	outcomes, intents := g.outcomes(), g.intents()
	if len(outcomes) != 1 {
		t.Fatalf("%d outcome records, want 1: %+v", len(outcomes), outcomes)
	}
	rec := outcomes[0]
	if rec.Outcome != pc.outcome || rec.Tool != tool || !strings.Contains(rec.Detail, pc.detail) {
		t.Errorf("record %s/%s %q, want %s/%s with %q", rec.Tool, rec.Outcome, rec.Detail, tool, pc.outcome, pc.detail)
	}
	if res.IsError != (pc.outcome == "refused" || pc.outcome == "failed") {
		t.Errorf("isError %v for outcome %s: %+v", res.IsError, pc.outcome, res.Content)
	}
	wantIntents := 0
	if acted {
		wantIntents = 1
	}
	if len(intents) != wantIntents {
		t.Errorf("sent %d changes to Tallyfy, %d intent records: %+v", len(h.writesSince(mark)), len(intents), intents)
	}
	if tries := int(g.intentTries.Load()); tries != len(intents) && !(g.failIntents.Load() && tries == 1 && !acted) {
		t.Errorf("%d intent records tried, %d written", tries, len(intents))
	}
	if len(intents) == 1 && (intents[0].Time != rec.Time || intents[0].ResourceID != rec.ResourceID) {
		t.Errorf("intent %+v is not of the call of %+v", intents[0], rec)
	}
	g.checkIntents(t)
}

// callDirect calls a tool's handler as the server would, bypassing the tool filter (the
// defence in depth a tool registered by other code would meet).
func callDirect(t *testing.T, h *harness, ctx context.Context, tool string, args map[string]any) *mcp.CallToolResult {
	t.Helper()
	for _, st := range h.ts.ServerTools() {
		if st.Tool.Name != tool {
			continue
		}
		req := mcp.CallToolRequest{}
		req.Params.Name, req.Params.Arguments = tool, args
		res, err := st.Handler(ctx, req)
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	t.Fatalf("no tool %s", tool)
	return nil
}
