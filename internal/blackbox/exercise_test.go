package blackbox

// The exerciser drives one tallyfy-mcp child through every tool and every failure the tests
// can provoke, for one scenario (token role, log format, protocol era, confirmation by token
// or by elicitation). TestStdoutIsOnlyJSONRPC and TestNoSecretInAnyOutput run it and then
// inspect everything the child wrote.

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/mark3labs/mcp-go/mcp"

	"github.com/tallyfy-mcp/tallyfy-mcp/internal/harness"
	"github.com/tallyfy-mcp/tallyfy-mcp/internal/testkit"
	"github.com/tallyfy-mcp/tallyfy-mcp/tallyfy/sandbox"
	"github.com/tallyfy-mcp/tallyfy-mcp/tools"
)

// exMode is who the child acts as and under which policy.
type exMode string

const (
	modeAdmin    exMode = "admin"    // admin token, --protect, every tool
	modeMember   exMode = "member"   // Standard member token: deletes of runs and templates refused before asking
	modeUnauth   exMode = "unauth"   // a token the sandbox does not know: every call is 401
	modeReadOnly exMode = "readonly" // --read-only: only get/list exist
)

// scenario is one child run.
type scenario struct {
	mode     exMode
	format   string // text or json
	protocol string // "" = 2026-07-28 (default), else a legacy version
	elicit   bool   // the client answers elicitations (so deletes are confirmed that way)
	tokenVia string // env (default), file (--token-file) or flag (--access-token)
	token    string // "" = the mode's token
}

func (sc scenario) String() string {
	proto := "2026-07-28"
	if sc.protocol != "" {
		proto = sc.protocol
	}
	s := string(sc.mode) + "/" + sc.format + "/" + proto
	if sc.elicit {
		s += "/elicit"
	}
	if sc.tokenVia != "" && sc.tokenVia != "env" {
		s += "/token-" + sc.tokenVia
	}
	if sc.token != "" && sc.mode != modeUnauth {
		s += "/long-token"
	}
	return s
}

// scenarioRun is what one run left behind.
type scenarioRun struct {
	sc            scenario
	token         string // the token the child was given
	tokenFile     string
	auditPath     string
	stdout        []byte
	stderr        []byte
	audit         []byte
	results       string   // every tool result as JSON lines
	mutatingCalls int      // tools/call requests of lifecycle and permanent tools: one audit record each
	confirmTokens []string // confirm_tokens the child issued
	exit          int
}

// unknownID is well-formed but names nothing in the sandbox.
const unknownID = "0123456789abcdef0123456789abcdef"

// elicitor answers elicitation requests as the test says, typing the name the person would
// see (the test knows it from the sandbox).
type elicitor struct {
	mu      sync.Mutex
	next    string // accept, mismatch, decline, cancel
	name    string // the name of the item being deleted
	asked   int
	unshown []string // questions that did not show the item's name
}

func (e *elicitor) set(action, name string) {
	e.mu.Lock()
	e.next, e.name = action, name
	e.mu.Unlock()
}

func (e *elicitor) count() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.asked
}

func (e *elicitor) Elicit(_ context.Context, req mcp.ElicitationRequest) (*mcp.ElicitationResult, error) {
	e.mu.Lock()
	action, name := e.next, e.name
	e.asked++
	if !strings.Contains(req.Params.Message, name) {
		e.unshown = append(e.unshown, req.Params.Message)
	}
	e.mu.Unlock()
	res := &mcp.ElicitationResult{}
	switch action {
	case "accept":
		res.Action, res.Content = mcp.ElicitationResponseActionAccept, map[string]any{"name": name}
	case "mismatch":
		res.Action, res.Content = mcp.ElicitationResponseActionAccept, map[string]any{"name": name + " (not quite)"}
	case "decline":
		res.Action = mcp.ElicitationResponseActionDecline
	default:
		res.Action = mcp.ElicitationResponseActionCancel
	}
	return res, nil
}

// ex is one exercise in progress.
type ex struct {
	t           *testing.T
	p           *harness.Proc
	sb          *sandbox.Sandbox
	sc          scenario
	el          *elicitor
	tokens      []string
	wantRPCErrs int
	wantDeletes int             // DELETE …/delete requests the run must have sent
	mutating    int             // tools/call requests of lifecycle and permanent tools (one audit record each)
	called      map[string]bool // tools answered with a result
}

// isMutating reports a lifecycle or permanent tool.
func isMutating(tool string) bool {
	for _, p := range []string{"archive_", "restore_", "activate_", "delete_", "bulk_"} {
		if strings.HasPrefix(tool, p) {
			return true
		}
	}
	return false
}

func (e *ex) call(tool string, args map[string]any) *mcp.CallToolResult {
	e.t.Helper()
	res, err := e.p.Call(tool, args)
	if err != nil {
		e.t.Errorf("%s %v: unexpected JSON-RPC error: %v", tool, args, err)
		return &mcp.CallToolResult{IsError: true}
	}
	if isMutating(tool) {
		e.mutating++
	}
	e.called[tool] = true
	return res
}

// ok calls a tool that must succeed.
func (e *ex) ok(tool string, args map[string]any) *mcp.CallToolResult {
	e.t.Helper()
	res := e.call(tool, args)
	if res.IsError {
		e.t.Errorf("%s %v: want success, got error: %s", tool, args, testkit.Text(res))
	}
	if res.StructuredContent == nil {
		e.t.Errorf("%s %v: no structuredContent", tool, args)
	}
	return res
}

// fail calls a tool that must answer isError with a text holding every want.
func (e *ex) fail(tool string, args map[string]any, want ...string) *mcp.CallToolResult {
	e.t.Helper()
	res := e.call(tool, args)
	text := testkit.Text(res)
	if !res.IsError {
		e.t.Errorf("%s %v: want an isError result, got success: %s", tool, args, text)
	}
	for _, w := range want {
		if !strings.Contains(strings.ToLower(text), strings.ToLower(w)) {
			e.t.Errorf("%s %v: error text lacks %q: %s", tool, args, w, text)
		}
	}
	return res
}

// rpcErr calls something that must be answered with a JSON-RPC error.
func (e *ex) rpcErr(tool string, args map[string]any) {
	e.t.Helper()
	e.wantRPCErrs++
	if _, known := tools.ByName(tool); known && isMutating(tool) {
		e.mutating++ // a call of a tool the policy hides is refused, and audited
	}
	res, err := e.p.Call(tool, args)
	if err == nil {
		e.t.Errorf("%s %v: want a JSON-RPC error, got result %s", tool, args, testkit.Text(res))
	}
}

// state checks the sandbox's view of an item.
func (e *ex) state(kind, id string, wantExists, wantArchived bool) {
	e.t.Helper()
	rec, ok := e.sb.Lookup(kind, id)
	if ok != wantExists {
		e.t.Errorf("sandbox %s %s: exists=%v, want %v", kind, id, ok, wantExists)
		return
	}
	if ok && rec.Archived != wantArchived {
		e.t.Errorf("sandbox %s %s: archived=%v, want %v", kind, id, rec.Archived, wantArchived)
	}
}

// lifecycle runs an archive/restore that must succeed and checks the result against the
// sandbox.
func (e *ex) lifecycle(kind, verb, id string, wantChanged bool) {
	e.t.Helper()
	res := e.ok(toolName(kind, verb), map[string]any{idArgName(kind): id})
	var out lifecycleOut
	structured(e.t, res, &out)
	rec, _ := e.sb.Lookup(kind, id)
	if out.Resource.State != stateWord(rec.Archived) || out.Resource.ID != id || out.Changed != wantChanged {
		e.t.Errorf("%s %s: result state=%s id=%s changed=%v; sandbox archived=%v, want changed=%v",
			toolName(kind, verb), id, out.Resource.State, out.Resource.ID, out.Changed, rec.Archived, wantChanged)
	}
	if out.Undo.Tool == "" || out.Undo.Arguments[idArgName(kind)] != id {
		e.t.Errorf("%s %s: no usable undo: %+v", toolName(kind, verb), id, out.Undo)
	}
}

// askToken is the first call of the token flow: it must answer confirmation_required with a
// confirm_token (elicitation scenarios confirm inside the call instead, see confirmDelete).
func (e *ex) askToken(kind, id string) string {
	e.t.Helper()
	res := e.ok(toolName(kind, "delete"), map[string]any{idArgName(kind): id})
	var out deleteOut
	structured(e.t, res, &out)
	if out.Status != "confirmation_required" || out.ConfirmToken == "" {
		e.t.Errorf("delete_%s %s: want confirmation_required with a token, got %+v", kind, id, out)
	}
	e.tokens = append(e.tokens, out.ConfirmToken)
	return out.ConfirmToken
}

// confirmDelete runs a confirmed permanent delete by whichever confirmation the scenario
// uses and returns the final result (which may be an isError result: the caller checks).
func (e *ex) confirmDelete(kind, id string) *mcp.CallToolResult {
	e.t.Helper()
	args := map[string]any{idArgName(kind): id}
	if e.sc.elicit {
		rec, _ := e.sb.Lookup(kind, id)
		e.el.set("accept", rec.Name)
		return e.call(toolName(kind, "delete"), args)
	}
	tok := e.askToken(kind, id)
	args["confirm_token"] = tok
	return e.call(toolName(kind, "delete"), args)
}

// wantDeleted checks a final delete result said deleted and the item is gone.
func (e *ex) wantDeleted(res *mcp.CallToolResult, kind, id string) {
	e.t.Helper()
	if res.IsError {
		e.t.Errorf("delete_%s %s: want deleted, got error: %s", kind, id, testkit.Text(res))
		return
	}
	var out deleteOut
	structured(e.t, res, &out)
	if out.Status != "deleted" || out.Resource.State != "deleted" {
		e.t.Errorf("delete_%s %s: want status deleted, got %+v", kind, id, out)
	}
	e.state(kind, id, false, false)
}

func (e *ex) faults(spec string) {
	e.t.Helper()
	e.sb.SetFaults(mustFaults(e.t, spec)...)
}

// tamper changes one character of a token's MAC (or payload).
func tamper(tok string, inPayload bool) string {
	b := []byte(tok)
	i := len(b) - 2
	if inPayload {
		i = strings.Index(tok, ".") + 3
	}
	if b[i] == 'A' {
		b[i] = 'B'
	} else {
		b[i] = 'A'
	}
	return string(b)
}

// runScenario starts a sandbox and a child for sc, exercises it, stops it and returns what it
// wrote. It fails t on any unexpected tool answer.
func runScenario(t *testing.T, sc scenario) *scenarioRun {
	t.Helper()
	if sc.format == "" {
		sc.format = "text"
	}
	var sbOpts []sandbox.Option
	if sc.token != "" && (sc.mode == modeAdmin || sc.mode == modeMember) {
		// A long, distinctive token of the mode's role in place of the sandbox's own, so that
		// leak checks can find any part of it.
		admin, member := sc.token, sandbox.MemberToken
		if sc.mode == modeMember {
			admin, member = sandbox.AdminToken, sc.token
		}
		sbOpts = append(sbOpts, sandbox.WithTokens(admin, member))
	}
	sb, url := testkit.StartSandbox(t, sbOpts...)
	dir := t.TempDir()
	run := &scenarioRun{sc: sc, auditPath: filepath.Join(dir, "audit.jsonl")}

	token := sc.token
	if token == "" {
		switch sc.mode {
		case modeMember:
			token = sandbox.MemberToken
		case modeUnauth:
			token = "tfy-wrong-token-for-401"
		default:
			token = sandbox.AdminToken
		}
	}
	run.token = token
	env := sandboxEnv(url, token)
	args := []string{"--log-level", "debug", "--log-format", sc.format, "--audit-log", run.auditPath}
	switch sc.tokenVia {
	case "file":
		run.tokenFile = filepath.Join(dir, "tallyfy-token")
		if err := os.WriteFile(run.tokenFile, []byte(token+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		delete(env, "TALLYFY_ACCESS_TOKEN")
		args = append(args, "--token-file", run.tokenFile)
	case "flag":
		delete(env, "TALLYFY_ACCESS_TOKEN")
		args = append(args, "--access-token", token)
	}
	switch sc.mode {
	case modeAdmin:
		args = append(args, "--protect", sandbox.IDs.CompleteRun, "--request-timeout", "5s")
	case modeReadOnly:
		args = append(args, "--read-only", "--protect", sandbox.IDs.CompleteRun)
	}
	if !sc.elicit {
		// A client that cannot elicit exercises the token flow, which the operator turns on.
		args = append(args, "--confirm", "token")
	}
	var el *elicitor
	cfg := harness.Config{Args: args, Env: env, Protocol: sc.protocol, Name: "roottest-" + string(sc.mode)}
	if sc.elicit {
		el = &elicitor{}
		cfg.Elicit = el
	}
	p := harness.Start(t, cfg)
	e := &ex{t: t, p: p, sb: sb, sc: sc, el: el, called: map[string]bool{}}

	switch sc.mode {
	case modeAdmin:
		e.admin()
	case modeMember:
		e.member()
	case modeUnauth:
		e.unauth()
	case modeReadOnly:
		e.readOnly()
	}

	if sc.mode != modeReadOnly {
		for _, name := range tools.Names() {
			// Bulk tools are driven through the binary by e2e/bulk.test.mjs (their plan and
			// execute calls write one record per item, which this exercise's counts do not model).
			if !e.called[name] && !strings.HasPrefix(name, "bulk_") {
				t.Errorf("the exercise never called %s", name)
			}
		}
	}

	run.exit = p.Stop()
	run.stdout, run.stderr = p.Stdout.Bytes(), p.Stderr.Bytes()
	run.results = p.AllResults()
	run.confirmTokens = e.tokens
	run.mutatingCalls = e.mutating
	if sc.elicit && sc.protocol == "" {
		// 2026-07-28 elicitation is two tools/call requests (the second carries the answer);
		// the first, which asks, is audited as confirmation_required.
		run.mutatingCalls += el.count()
	}
	if b, err := os.ReadFile(run.auditPath); err == nil {
		run.audit = b
	} else if !os.IsNotExist(err) {
		t.Fatal(err)
	}
	if run.exit != 0 {
		t.Errorf("exit code %d on stdin EOF, want 0; stderr tail:\n%s", run.exit, tail(run.stderr, 2000))
	}
	if got := p.RPCErrors(); got != e.wantRPCErrs {
		t.Errorf("%d calls answered with a JSON-RPC error, want %d", got, e.wantRPCErrs)
	}
	e.checkRequestLog()
	return run
}

// requestPath is every request the server may send: the documented endpoints with
// well-formed IDs, nothing else (an ID such as "<id>/delete" must never reach a URL).
var requestPath = regexp.MustCompile(`^((GET|PUT|DELETE) /api/organizations/` + sandbox.OrgID +
	`/(tasks|runs|checklists)(/[a-f0-9]{32}(/(restore|activate|delete))?)?(\?[A-Za-z0-9_=&%.+-]*)?` +
	// what a process holds, read only when a task tool refuses one of its tasks
	"|GET /api/organizations/" + sandbox.OrgID + `/runs/[a-f0-9]{32}/tasks(\?[A-Za-z0-9_=&%.+-]*)?` +
	// the caller's role, read once (tools/role.go)
	`|GET /api/me/organizations\?page=\d+&per_page=\d+)$`)

func (e *ex) checkRequestLog() {
	e.t.Helper()
	deletes := 0
	for _, r := range e.sb.RequestLog() {
		if !requestPath.MatchString(r) {
			e.t.Errorf("unexpected request to Tallyfy: %q", r)
		}
		if strings.HasPrefix(r, "DELETE ") && strings.HasSuffix(r, "/delete") {
			deletes++
		}
	}
	if deletes != e.wantDeletes {
		e.t.Errorf("%d permanent DELETE …/delete requests reached the sandbox, want %d", deletes, e.wantDeletes)
	}
}

// listTools checks tools/list.
func (e *ex) listTools(want []string) {
	e.t.Helper()
	ctx, cancel := contextWithTimeout()
	defer cancel()
	lt, err := e.p.Client.ListTools(ctx, mcp.ListToolsRequest{})
	if err != nil {
		e.t.Errorf("tools/list: %v", err)
		return
	}
	var got []string
	for _, tl := range lt.Tools {
		got = append(got, tl.Name)
	}
	slices.Sort(got)
	want = slices.Clone(want)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		e.t.Errorf("tools/list = %v, want %v", got, want)
	}
}

func readToolNames() []string {
	var out []string
	for _, tl := range tools.All {
		if tl.Tier == tools.TierRead {
			out = append(out, tl.Name)
		}
	}
	return out
}

// reads calls every read tool with valid arguments.
func (e *ex) reads() {
	e.t.Helper()
	ids := sandbox.IDs
	e.ok("list_tasks", nil)
	e.ok("list_tasks", map[string]any{"archived": "only"})
	e.ok("list_runs", map[string]any{"query": "Onboarding", "archived": "include", "per_page": 2, "page": 2})
	e.ok("list_templates", map[string]any{"archived": "include", "per_page": 100})
	e.ok("get_task", map[string]any{"task_id": ids.LiveTask})
	e.ok("get_task", map[string]any{"task_id": ids.ArchivedTask})
	e.ok("get_task", map[string]any{"task_id": ids.ProcessTask})
	e.ok("get_run", map[string]any{"run_id": ids.ActiveRun})
	e.ok("get_run", map[string]any{"run_id": ids.ArchivedRun})
	e.ok("get_template", map[string]any{"template_id": ids.LiveTemplate})
	e.ok("get_template", map[string]any{"template_id": ids.ArchivedTemplate})
}

// badArguments provokes every kind of argument error; none may reach Tallyfy.
func (e *ex) badArguments() {
	e.t.Helper()
	ids := sandbox.IDs
	for _, bad := range []any{"ABC", ids.LiveTask + "/delete", "../../runs/" + ids.ActiveRun, "", strings.ToUpper(ids.LiveTask), ids.LiveTask + "0", 42} {
		e.fail("get_task", map[string]any{"task_id": bad}, "Invalid argument")
		e.fail("archive_task", map[string]any{"task_id": bad}, "Invalid argument")
		e.fail("delete_run", map[string]any{"run_id": bad}, "Invalid argument")
	}
	e.fail("archive_run", map[string]any{"run_id": ids.ActiveRun + "/delete"}, "Invalid argument")
	e.fail("restore_template", map[string]any{"template_id": "%2e%2e"}, "Invalid argument")
	e.fail("get_run", map[string]any{}, "Invalid argument")                                                 // missing
	e.fail("get_run", map[string]any{"run_id": ids.ActiveRun, "org_id": sandbox.OrgID}, "Invalid argument") // unknown argument
	e.fail("list_tasks", map[string]any{"per_page": 500}, "Invalid argument")
	e.fail("list_runs", map[string]any{"archived": "everything"}, "Invalid argument")
	e.fail("list_templates", map[string]any{"page": -1}, "Invalid argument")
	e.fail("delete_task", map[string]any{"task_id": ids.ArchivedTask, "confirm_token": 7}, "Invalid argument")
	e.rpcErr("drop_database", map[string]any{"really": true})
}

func (e *ex) admin() {
	t := e.t
	ids := sandbox.IDs
	e.listTools(tools.Names())
	e.reads()
	e.badArguments()

	// Not found.
	e.fail("get_task", map[string]any{"task_id": unknownID}, "archived or not")
	e.fail("get_run", map[string]any{"run_id": unknownID}, "archived or not")
	e.fail("get_template", map[string]any{"template_id": unknownID}, "archived or not")
	e.fail("archive_run", map[string]any{"run_id": unknownID}, "archived or not")
	e.fail("restore_task", map[string]any{"task_id": unknownID}, "archived or not")
	e.fail("delete_template", map[string]any{"template_id": unknownID}, "archived or not")

	// Lifecycle, including the no-op answers.
	for _, it := range []struct{ kind, id string }{{"task", ids.LiveTask}, {"run", ids.ActiveRun}, {"template", ids.LiveTemplate}} {
		e.lifecycle(it.kind, "archive", it.id, true)
		e.lifecycle(it.kind, "archive", it.id, false)
		e.lifecycle(it.kind, "restore", it.id, true)
		e.lifecycle(it.kind, "restore", it.id, false)
	}

	// Policy and preconditions.
	e.fail("archive_run", map[string]any{"run_id": ids.CompleteRun}, "protected")
	e.fail("delete_run", map[string]any{"run_id": ids.CompleteRun}, "protected")
	e.state("run", ids.CompleteRun, true, false)
	e.fail("archive_task", map[string]any{"task_id": ids.ProcessTask}, "belongs to process")
	e.fail("restore_task", map[string]any{"task_id": ids.ProcessTask}, "belongs to process")
	e.fail("delete_task", map[string]any{"task_id": ids.ProcessTask}, "belongs to process")
	e.fail("delete_run", map[string]any{"run_id": ids.ActiveRun}, "not archived")
	e.fail("delete_template", map[string]any{"template_id": ids.LiveTemplate}, "not archived")
	e.fail("delete_task", map[string]any{"task_id": ids.LiveTask}, "not archived")
	e.state("run", ids.ActiveRun, true, false)

	// Confirmation of a permanent delete.
	if e.sc.elicit {
		args := map[string]any{"task_id": ids.ArchivedTask}
		for _, a := range []struct{ action, want string }{{"decline", "declined"}, {"cancel", "dismissed"}, {"mismatch", "did not match"}} {
			rec, _ := e.sb.Lookup("task", ids.ArchivedTask)
			e.el.set(a.action, rec.Name)
			res := e.call("delete_task", args)
			if !strings.Contains(testkit.Text(res), a.want) {
				t.Errorf("delete_task answered %s: got %s", a.action, testkit.Text(res))
			}
			e.state("task", ids.ArchivedTask, true, true)
		}
		e.wantDeletes++
		e.wantDeleted(e.confirmDelete("task", ids.ArchivedTask), "task", ids.ArchivedTask)
		if n := e.el.count(); n != 4 {
			t.Errorf("the person was asked %d times, want 4", n)
		}
		e.el.mu.Lock()
		for _, m := range e.el.unshown {
			t.Errorf("a delete confirmation question does not show the item's name: %q", m)
		}
		e.el.mu.Unlock()
	} else {
		tok := e.askToken("task", ids.ArchivedTask)
		args := func(tok any) map[string]any { return map[string]any{"task_id": ids.ArchivedTask, "confirm_token": tok} }
		e.fail("delete_task", args("not-a-token"), "not a token this server issued")
		e.fail("delete_task", args(tamper(tok, false)), "altered")
		e.fail("delete_task", args(tamper(tok, true)), "Nothing was deleted")
		e.fail("delete_run", map[string]any{"run_id": ids.ArchivedRun, "confirm_token": tok}, "different item")
		e.state("task", ids.ArchivedTask, true, true)
		e.state("run", ids.ArchivedRun, true, true)
		e.wantDeletes++
		res := e.call("delete_task", args(tok))
		e.wantDeleted(res, "task", ids.ArchivedTask)
		e.fail("delete_task", args(tok), "archived or not") // replayed: the task is gone

		// A token for a template that changed before it was used.
		stale := e.askToken("template", ids.ArchivedTemplate)
		e.lifecycle("template", "restore", ids.ArchivedTemplate, true)
		e.lifecycle("template", "archive", ids.ArchivedTemplate, true)
		e.fail("delete_template", map[string]any{"template_id": ids.ArchivedTemplate, "confirm_token": stale}, "changed since")
		e.state("template", ids.ArchivedTemplate, true, true)
	}

	// Tallyfy failing in every way the sandbox can.
	e.faults("429=60:GET~/runs/")
	e.fail("get_run", map[string]any{"run_id": ids.ActiveRun}, "rate limiting", "Retry after 60 s")
	e.faults("429=0#1:GET")
	e.ok("get_run", map[string]any{"run_id": ids.ActiveRun})
	e.faults("503:GET~/checklists")
	e.fail("get_template", map[string]any{"template_id": ids.LiveTemplate}, "server error (503")
	e.faults("500:GET")
	e.fail("list_tasks", nil, "server error (500")
	// A permanent delete reads first: a failing read stops it (as it stops every change but
	// archive_run, tools/lifecycle.go).
	e.fail("delete_task", map[string]any{"task_id": ids.LiveTask}, "server error (500", "Nothing was changed")
	e.faults("reset-before#2:GET")
	e.ok("get_task", map[string]any{"task_id": ids.LiveTask})
	e.faults("reset-before:GET~/runs")
	e.fail("list_runs", nil, "Could not reach Tallyfy")
	e.faults("html:GET")
	e.fail("get_run", map[string]any{"run_id": ids.ActiveRun}, "unusable")
	e.faults("truncated:GET")
	e.fail("list_templates", nil, "unusable")
	e.faults("truncated=short:GET")
	e.fail("get_task", map[string]any{"task_id": ids.LiveTask}, "unusable")
	e.faults("oversized=5MiB:GET~/checklists/")
	e.fail("get_template", map[string]any{"template_id": ids.LiveTemplate}, "unusable")
	e.faults("reset-after#1:DELETE~/runs/")
	e.lifecycle("run", "archive", ids.ActiveRun, true) // the retry meets the archived run (404); a re-read settles it
	e.faults("500:PUT")
	e.fail("activate_run", map[string]any{"run_id": ids.ActiveRun}, "server error (500")
	e.state("run", ids.ActiveRun, true, true)
	e.faults("503:PUT#1")
	e.lifecycle("run", "restore", ids.ActiveRun, true) // 503 on a PUT is retried
	e.faults("latency=20ms")
	e.ok("list_runs", map[string]any{"archived": "include"})

	// A permanent delete whose answer is a 503: not retried, re-read, reported truthfully.
	e.faults("503:DELETE~/delete")
	e.wantDeletes++
	res := e.confirmDelete("run", ids.ArchivedRun)
	if !res.IsError || !strings.Contains(testkit.Text(res), "did not confirm") {
		t.Errorf("delete_run under 503: want a 'did not confirm' error, got %s", testkit.Text(res))
	}
	e.state("run", ids.ArchivedRun, true, true)
	// One whose answer is lost after the delete happened: re-read, reported deleted.
	e.faults("reset-after:DELETE~/delete")
	e.wantDeletes++
	e.wantDeleted(e.confirmDelete("run", ids.ArchivedRun), "run", ids.ArchivedRun)
	e.faults("")

	e.wantDeletes++
	e.wantDeleted(e.confirmDelete("template", ids.ArchivedTemplate), "template", ids.ArchivedTemplate)
	e.fail("get_template", map[string]any{"template_id": ids.ArchivedTemplate}, "archived or not")
	e.fail("restore_template", map[string]any{"template_id": ids.ArchivedTemplate}, "archived or not")
}

func (e *ex) member() {
	ids := sandbox.IDs
	// A Standard member: the permanent deletes Tallyfy reserves to administrators are not
	// listed, and are refused by the server before any preview or question (tools/role.go).
	var listed []string
	for _, n := range tools.Names() {
		if n != "delete_run" && n != "delete_template" {
			listed = append(listed, n)
		}
	}
	e.listTools(listed)
	e.reads()
	e.badArguments()
	for _, it := range []struct{ kind, id string }{{"run", ids.ArchivedRun}, {"template", ids.ArchivedTemplate}} {
		e.fail(toolName(it.kind, "delete"), map[string]any{idArgName(it.kind): it.id}, "Refused before anything was asked or changed", "Standard member", "administrators")
		e.state(it.kind, it.id, true, true)
	}
	if e.el != nil {
		e.el.mu.Lock()
		asked := e.el.asked
		e.el.mu.Unlock()
		if asked != 0 {
			e.t.Errorf("the member was asked %d times to confirm deletes Tallyfy refuses them", asked)
		}
	}
	// One-off tasks: no source reserves their delete to admins; a token whose delete failed was
	// still used and cannot be replayed.
	if !e.sc.elicit {
		tok := e.askToken("task", ids.ArchivedTask)
		e.faults("503:DELETE~/delete")
		e.wantDeletes++
		e.fail("delete_task", map[string]any{"task_id": ids.ArchivedTask, "confirm_token": tok}, "did not confirm")
		e.faults("")
		e.fail("delete_task", map[string]any{"task_id": ids.ArchivedTask, "confirm_token": tok}, "already used")
		e.state("task", ids.ArchivedTask, true, true)
	}
	e.wantDeletes++
	e.wantDeleted(e.confirmDelete("task", ids.ArchivedTask), "task", ids.ArchivedTask)
	for _, it := range []struct{ kind, id string }{{"task", ids.LiveTask}, {"run", ids.ActiveRun}, {"template", ids.LiveTemplate}} {
		e.lifecycle(it.kind, "archive", it.id, true)
		e.lifecycle(it.kind, "restore", it.id, true)
	}
}

// unauth calls every tool with good arguments: each must say 401 and what to do.
func (e *ex) unauth() {
	ids := sandbox.IDs
	e.listTools(tools.Names())
	e.badArguments()
	args := map[string]map[string]any{
		"task":     {"task_id": ids.ArchivedTask},
		"run":      {"run_id": ids.ArchivedRun},
		"template": {"template_id": ids.ArchivedTemplate},
	}
	for _, tl := range tools.All {
		a := args[string(tl.Kind)]
		switch {
		case tl.Verb == tools.VerbList:
			a = map[string]any{"query": "x", "archived": "include"}
		case tl.Bulk:
			a = map[string]any{"type": "run", "ids": []string{ids.ArchivedRun}}
		}
		e.fail(tl.Name, a, "401", "Settings > Integrations > REST API")
		if tl.Verb == tools.VerbDelete && !tl.Bulk {
			e.fail(tl.Name, map[string]any{idArgName(string(tl.Kind)): a[idArgName(string(tl.Kind))], "confirm_token": "tcf1.eyJ4IjoxfQ.AAAA"}, "401")
		}
	}
}

func (e *ex) readOnly() {
	ids := sandbox.IDs
	e.listTools(readToolNames())
	e.reads()
	// Hidden tools do not exist for this client: a JSON-RPC "tool not found".
	for _, tl := range tools.All {
		if tl.Tier != tools.TierRead {
			e.rpcErr(tl.Name, map[string]any{idArgName(string(tl.Kind)): ids.CompleteRun})
		}
	}
	e.state("run", ids.CompleteRun, true, false)
	e.fail("get_run", map[string]any{"run_id": unknownID}, "archived or not")
	e.fail("get_task", map[string]any{"task_id": "nope"}, "Invalid argument")
}

// decodeAudit parses an audit file's lines.
func decodeAudit(t testing.TB, b []byte) []map[string]any {
	t.Helper()
	var out []map[string]any
	for i, l := range strings.Split(strings.TrimRight(string(b), "\n"), "\n") {
		if l == "" {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Errorf("audit line %d is not JSON: %q", i+1, l)
			continue
		}
		out = append(out, m)
	}
	return out
}
