package tools_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mark3labs/mcp-go/mcp"

	"github.com/tallyfy-mcp/tallyfy-mcp/schemas"
	"github.com/tallyfy-mcp/tallyfy-mcp/tallyfy/sandbox"
	"github.com/tallyfy-mcp/tallyfy-mcp/tools"
	"github.com/tallyfy-mcp/tallyfy-mcp/tools/audit"
)

// TestAuditRecordsPerCall: one outcome record per lifecycle or permanent call, preceded by an
// intent record when (and only when) the call goes on to change something.
func TestAuditRecordsPerCall(t *testing.T) {
	t.Parallel()
	forEachProtocol(t, func(t *testing.T, p protocol) {
		h := newHarness(t, withProto(p), withMaxTries(1))
		var tokens []string
		type step struct {
			tool    string
			args    map[string]any
			outcome string // "" = no record (read tools)
			acts    bool   // an intent record comes first
			check   func(t *testing.T, rec audit.Record)
		}
		task, run, tpl := kinds[0], kinds[1], kinds[2]
		steps := []step{
			{tool: "get_task", args: map[string]any{"task_id": task.live}},
			{tool: "list_runs", args: map[string]any{"archived": "include"}},
			{tool: "get_template", args: map[string]any{"template_id": unknownID}}, // a failing read: still no record
			{tool: "archive_task", args: map[string]any{"task_id": task.live}, outcome: "ok", acts: true, check: func(t *testing.T, rec audit.Record) {
				if rec.ResourceName != h.lookup("task", task.live).Name || rec.ResourceType != "task" || rec.Tier != "lifecycle" {
					t.Errorf("%+v", rec)
				}
			}},
			// Read first, found archived: the no-op is decided from the read and nothing is
			// sent (lifecycle.go), so no intent record.
			{tool: "archive_task", args: map[string]any{"task_id": task.live}, outcome: "noop"},
			{tool: "restore_task", args: map[string]any{"task_id": unknownID}, outcome: "failed", check: func(t *testing.T, rec audit.Record) {
				if rec.HTTPStatus != 404 || !strings.HasPrefix(rec.RequestID, "sbx-") || rec.ResourceName != "" {
					t.Errorf("%+v", rec)
				}
			}},
			{tool: "delete_run", args: map[string]any{"run_id": run.live}, outcome: "refused", check: func(t *testing.T, rec audit.Record) {
				if rec.Detail != "not archived" || rec.ResourceName == "" {
					t.Errorf("%+v", rec)
				}
			}},
			{tool: "archive_task", args: map[string]any{"task_id": sandbox.IDs.ProcessTask}, outcome: "refused", check: func(t *testing.T, rec audit.Record) {
				if rec.Detail != "process task" {
					t.Errorf("%+v", rec)
				}
			}},
			{tool: "delete_run", args: map[string]any{"run_id": run.archived}, outcome: "confirmation_required", check: func(t *testing.T, rec audit.Record) {
				if rec.Confirmation != "token" || rec.Tier != "permanent" {
					t.Errorf("%+v", rec)
				}
			}},
			{tool: "delete_run", args: map[string]any{"run_id": run.archived, "confirm_token": "tcf1.forged.token"}, outcome: "refused", check: func(t *testing.T, rec audit.Record) {
				if !strings.Contains(rec.Detail, "altered") {
					t.Errorf("%+v", rec)
				}
			}},
		}
		for i, s := range steps {
			before := len(h.audit.all())
			r := h.call(s.tool, s.args)
			if r.err != nil {
				t.Fatalf("step %d %s: %v", i, s.tool, r.err)
			}
			if strings.HasPrefix(s.tool, "delete_") && !r.res.IsError {
				if tok := decode[schemas.DeleteResult](t, r).ConfirmToken; tok != "" {
					tokens = append(tokens, tok)
				}
			}
			recs := h.audit.all()
			if s.outcome == "" {
				if len(recs) != before {
					t.Errorf("step %d: read tool %s wrote %d records", i, s.tool, len(recs)-before)
				}
				continue
			}
			want := 1
			if s.acts {
				want = 2
			}
			if len(recs) != before+want {
				t.Fatalf("step %d %s: %d records, want %d", i, s.tool, len(recs)-before, want)
			}
			rec := recs[len(recs)-1]
			if in := recs[len(recs)-2]; s.acts && (in.Outcome != "intent" || in.Tool != s.tool || in.ResourceID != rec.ResourceID || in.Time != rec.Time || in.Detail != "archive") {
				t.Errorf("step %d: intent record %+v before %+v", i, in, rec)
			}
			if rec.Tool != s.tool || string(rec.Outcome) != s.outcome {
				t.Errorf("step %d: record %s/%s, want %s/%s", i, rec.Tool, rec.Outcome, s.tool, s.outcome)
			}
			if s.check != nil {
				s.check(t, rec)
			}
		}
		// The second half of the token flow, and a rate-limited lifecycle call.
		h.call("delete_run", map[string]any{"run_id": run.archived, "confirm_token": tokens[0]}).ok(t)
		h.sb.SetFaults(sandbox.Fault{Kind: "429", Param: "3"})
		h.call("archive_template", map[string]any{"template_id": tpl.live}).failed(t, "Retry after 3 s")
		h.sb.SetFaults()
		if h.lookup("template", tpl.live).Archived {
			t.Error("the rate-limited archive_template archived the template")
		}

		var acted []string
		for _, in := range h.audit.intents() {
			acted = append(acted, in.Tool+"/"+in.Detail)
		}
		// The second archive_task was a no-op decided from its read, and archive_template reads
		// first (lifecycle.go): Tallyfy refused that read with 429, so no change and no intent.
		if want := []string{"archive_task/archive", "delete_run/delete"}; !slices.Equal(acted, want) {
			t.Errorf("intent records for %v, want %v", acted, want)
		}
		recs := h.audit.outcomes()
		if len(recs) != 9 {
			t.Fatalf("%d outcome records, want 9", len(recs))
		}
		if d := recs[7]; d.Outcome != "ok" || d.Confirmation != "token" || d.ResourceID != run.archived {
			t.Errorf("delete record %+v", d)
		}
		if rl := recs[8]; rl.Outcome != "failed" || rl.HTTPStatus != 429 || rl.RequestID == "" || rl.Tool != "archive_template" {
			t.Errorf("429 record %+v", rl)
		}
		session := recs[0].Session
		for i, rec := range append(h.audit.intents(), h.audit.outcomes()...) {
			if rec.Org != sandbox.OrgID || rec.ConfirmMode != "token" || rec.ResourceType == "" || rec.Tier == "" {
				t.Errorf("record %d: %+v", i, rec)
			}
			if len(rec.ResourceID) != 32 {
				t.Errorf("record %d: resource id %q", i, rec.ResourceID)
			}
			if rec.ClientName != testClientName || rec.ClientVersion != testClientVersion {
				t.Errorf("record %d: client %q %q", i, rec.ClientName, rec.ClientVersion)
			}
			if rec.Session == "" || rec.Session != session {
				t.Errorf("record %d: session %q (first %q)", i, rec.Session, session)
			}
			if rec.Transport == "" {
				t.Errorf("record %d: no transport", i)
			}
			if rec.DurationMS <= 0 || rec.DurationMS > 10_000 {
				t.Errorf("record %d: duration %v ms", i, rec.DurationMS)
			}
			ts, err := time.Parse(time.RFC3339Nano, rec.Time)
			if err != nil || ts.Sub(h.clock.Now()).Abs() > time.Minute {
				t.Errorf("record %d: time %q", i, rec.Time)
			}
			b, _ := json.Marshal(rec)
			for _, secret := range append([]string{sandbox.AdminToken, "Bearer"}, tokens...) {
				if strings.Contains(string(b), secret) {
					t.Errorf("record %d contains a secret: %s", i, b)
				}
			}
		}
	})
}

// failingRecorder cannot write the records fail picks (nil: none).
type failingRecorder struct {
	recorder
	fail func(audit.Record) bool
}

func (f *failingRecorder) Record(ctx context.Context, rec audit.Record) error {
	if f.fail(rec) {
		return errors.New("disk full")
	}
	return f.recorder.Record(ctx, rec)
}

// TestAuditBeforeAct: a call that changes something writes a durable intent record first; if
// that write fails nothing is done and the result says why. If only the outcome record fails,
// the change has happened and the result says so instead of looking like a clean success.
func TestAuditBeforeAct(t *testing.T) {
	t.Parallel()
	isIntent := func(r audit.Record) bool { return r.Outcome == "intent" }
	isOutcome := func(r audit.Record) bool { return r.Outcome != "intent" }
	always := func(audit.Record) bool { return true }
	forEachProtocol(t, func(t *testing.T, p protocol) {
		for _, c := range []struct {
			name    string
			fail    func(audit.Record) bool
			changes bool
			want    []string
			records []string // outcomes written
		}{
			{"intent fails", isIntent, false, []string{"Nothing was changed", "audit record that must precede", "disk full", "--audit-log"}, []string{"refused"}},
			{"everything fails", always, false, []string{"Nothing was changed", "disk full"}, nil},
			{"outcome fails", isOutcome, true, []string{"audit record could not be written", "disk full", "Outcome of the call: ok", "before doing anything else"}, []string{"intent"}},
		} {
			t.Run(c.name, func(t *testing.T) {
				for _, k := range kinds {
					sink := &failingRecorder{fail: c.fail}
					h := newHarness(t, withProto(p), withRecorder(sink), withConfirm(tools.ConfirmOff))
					h.call(k.archive, map[string]any{k.idArg: k.live}).failed(t, c.want...)
					if got := h.lookup(k.kind, k.live).Archived; got != c.changes {
						t.Errorf("%s: archived=%v, want %v", k.archive, got, c.changes)
					}
					h.call(k.del, map[string]any{k.idArg: k.archived}).failed(t, c.want...)
					if h.gone(k.kind, k.archived) != c.changes {
						t.Errorf("%s: deleted=%v, want %v", k.del, h.gone(k.kind, k.archived), c.changes)
					}
					if n := h.deleteCount(); !c.changes && n != 0 {
						t.Errorf("%s: %d DELETE …/delete requests reached Tallyfy after the intent record failed", k.del, n)
					}
					var got []string
					for _, r := range sink.all() {
						got = append(got, string(r.Outcome))
						if r.Outcome == "refused" && r.Detail != "audit intent not written" {
							t.Errorf("refusal record %+v", r)
						}
					}
					want := append(slices.Clone(c.records), c.records...) // archive, then delete
					if !slices.Equal(got, want) {
						t.Errorf("records written %v, want %v", got, want)
					}
					// Reads are not audited, so they still work.
					h.call(k.get, map[string]any{k.idArg: k.live}).ok(t)
				}
			})
		}
	})
}

func TestAuditFile(t *testing.T) {
	t.Parallel()
	forEachProtocol(t, func(t *testing.T, p protocol) {
		path := filepath.Join(t.TempDir(), "audit.jsonl")
		f, err := audit.OpenFile(path)
		if err != nil {
			t.Fatal(err)
		}
		st, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if st.Mode().Perm() != 0o600 {
			t.Errorf("audit file mode %v, want 0600", st.Mode().Perm())
		}
		h := newHarness(t, withProto(p), withRecorder(f), withConfirm(tools.ConfirmOff))
		h.call("archive_task", map[string]any{"task_id": sandbox.IDs.LiveTask}).ok(t)
		h.call("list_tasks", nil).ok(t)
		h.call("restore_task", map[string]any{"task_id": sandbox.IDs.LiveTask}).ok(t)
		h.call("get_task", map[string]any{"task_id": sandbox.IDs.LiveTask}).ok(t)
		h.call("delete_template", map[string]any{"template_id": sandbox.IDs.ArchivedTemplate}).ok(t)
		lines := readLines(t, path)
		if len(lines) != 6 {
			t.Fatalf("%d lines, want 6 (intent and outcome per lifecycle/permanent call that acts):\n%s", len(lines), strings.Join(lines, "\n"))
		}
		want := []string{"archive_task", "archive_task", "restore_task", "restore_task", "delete_template", "delete_template"}
		for i, l := range lines {
			var rec audit.Record
			dec := json.NewDecoder(strings.NewReader(l))
			dec.DisallowUnknownFields()
			if err := dec.Decode(&rec); err != nil {
				t.Fatalf("line %d is not a record: %v: %s", i, err, l)
			}
			if wantOutcome := []string{"intent", "ok"}[i%2]; rec.Tool != want[i] || string(rec.Outcome) != wantOutcome {
				t.Errorf("line %d: %+v", i, rec)
			}
			if strings.Contains(l, sandbox.AdminToken) {
				t.Errorf("line %d holds the token", i)
			}
		}
		if err := f.Close(); err != nil {
			t.Fatal(err)
		}
		// Reopening appends, never truncates.
		f2, err := audit.OpenFile(path)
		if err != nil {
			t.Fatal(err)
		}
		h2 := newHarness(t, withProto(p), withRecorder(f2))
		h2.call("archive_run", map[string]any{"run_id": sandbox.IDs.ActiveRun}).ok(t)
		if err := f2.Close(); err != nil {
			t.Fatal(err)
		}
		again := readLines(t, path)
		if len(again) != 8 || again[0] != lines[0] || !strings.Contains(again[7], `"tool":"archive_run"`) {
			t.Errorf("after reopening: %d lines:\n%s", len(again), strings.Join(again, "\n"))
		}
		if st, _ := os.Stat(path); st.Mode().Perm() != 0o600 {
			t.Errorf("mode changed to %v", st.Mode().Perm())
		}
	})
}

func readLines(t *testing.T, path string) []string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = f.Close() }()
	var out []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		out = append(out, sc.Text())
	}
	return out
}

// gatedRecorder is a recorder whose intent records can be made to fail, counting the tries.
type gatedRecorder struct {
	recorder
	failIntents atomic.Bool
	intentTries atomic.Int32
}

func (g *gatedRecorder) Record(ctx context.Context, rec audit.Record) error {
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
	if string(rec.Outcome) != pc.outcome || rec.Tool != tool || !strings.Contains(rec.Detail, pc.detail) {
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
	failedIntent := g.failIntents.Load() && tries(g) == 1 && !acted
	if n := tries(g); n != len(intents) && !failedIntent {
		t.Errorf("%d intent records tried, %d written", n, len(intents))
	}
	if len(intents) == 1 && (intents[0].Time != rec.Time || intents[0].ResourceID != rec.ResourceID) {
		t.Errorf("intent %+v is not of the call of %+v", intents[0], rec)
	}
	g.checkIntents(t)
}

func tries(g *gatedRecorder) int { return int(g.intentTries.Load()) }

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
