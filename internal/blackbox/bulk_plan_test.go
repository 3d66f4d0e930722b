package blackbox

// Bulk plans through the built binary on stdio: what a plan binds, what it says it left out,
// how its single use holds, and how a bulk delete is confirmed and budgeted (issue 17 points
// 8, 9, 12, 14 and 15; issue 20 point 5).

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mark3labs/mcp-go/mcp"

	"github.com/tallyfy-mcp/tallyfy-mcp/internal/harness"
	"github.com/tallyfy-mcp/tallyfy-mcp/internal/testkit"
	"github.com/tallyfy-mcp/tallyfy-mcp/tallyfy/sandbox"
)

// bulkOut is the part of a bulk result the tests read.
type bulkOut struct {
	Status           string         `json:"status"`
	BatchID          string         `json:"batch_id"`
	Message          string         `json:"message"`
	MoreMatched      bool           `json:"more_matched"`
	SearchIncomplete bool           `json:"search_incomplete"`
	DeletesLeft      *int           `json:"deletes_left"`
	PlanToken        string         `json:"plan_token"`
	Totals           map[string]int `json:"totals"`
	Items            []struct {
		ID      string `json:"id"`
		Outcome string `json:"outcome"`
		Reason  string `json:"reason"`
	} `json:"items"`
	Execute struct {
		Tool      string         `json:"tool"`
		Arguments map[string]any `json:"arguments"`
	} `json:"execute"`
}

func bulkResult(t testing.TB, res *mcp.CallToolResult) bulkOut {
	t.Helper()
	var out bulkOut
	if res.StructuredContent == nil {
		t.Fatalf("no structured result: %s", testkit.Text(res))
	}
	structured(t, res, &out)
	return out
}

// plan makes a bulk plan and fails unless one was made.
func plan(t testing.TB, p *harness.Proc, tool string, args map[string]any) bulkOut {
	t.Helper()
	res := p.MustCall(tool, args)
	out := bulkResult(t, res)
	if res.IsError || out.Status != "planned" || out.PlanToken == "" {
		t.Fatalf("%s %v: want a plan, got %s", tool, args, testkit.Text(res))
	}
	return out
}

// withArgs is the plan's execute arguments with some replaced.
func (b bulkOut) withArgs(kv ...any) map[string]any {
	m := map[string]any{}
	for k, v := range b.Execute.Arguments {
		m[k] = v
	}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i].(string)] = kv[i+1]
	}
	return m
}

// archiveRuns archives runs through the binary (a bulk plan and its execute).
func archiveRuns(t testing.TB, p *harness.Proc, ids ...string) {
	t.Helper()
	pl := plan(t, p, "bulk_archive", map[string]any{"type": "run", "ids": ids})
	res := p.MustCall("bulk_archive", pl.withArgs())
	if out := bulkResult(t, res); res.IsError || out.Totals["ok"] != len(ids) {
		t.Fatalf("archiving %v: %s", ids, testkit.Text(res))
	}
}

// elicitFunc answers the server's questions.
type elicitFunc func(ctx context.Context, req mcp.ElicitationRequest) (*mcp.ElicitationResult, error)

func (f elicitFunc) Elicit(ctx context.Context, req mcp.ElicitationRequest) (*mcp.ElicitationResult, error) {
	return f(ctx, req)
}

func accept(content map[string]any) *mcp.ElicitationResult {
	return &mcp.ElicitationResult{ElicitationResponse: mcp.ElicitationResponse{Action: mcp.ElicitationResponseActionAccept, Content: content}}
}

// TestBulkPlanAnsweredAfterExpiryIsRefused (point 8): a person who answers after the plan
// expired cannot use it, not even twice at once. The used-mark used to get a TTL computed as
// already negative, so two such executes could both run.
func TestBulkPlanAnsweredAfterExpiryIsRefused(t *testing.T) {
	t.Parallel()
	sb, url := testkit.StartSandbox(t)
	var asked sync.WaitGroup
	asked.Add(2)
	p := harness.Start(t, harness.Config{
		Args:     []string{"--token-ttl", "2s", "--confirm", "auto"},
		Env:      sandboxEnv(url, sandbox.AdminToken),
		Protocol: mcp.ProtocolVersion20251125, // the question is a server request: answered late
		Elicit: elicitFunc(func(context.Context, mcp.ElicitationRequest) (*mcp.ElicitationResult, error) {
			asked.Done()
			asked.Wait()                        // both executes are waiting for the person
			time.Sleep(3500 * time.Millisecond) // who answers after the plan's expiry
			return accept(map[string]any{"count": "1"}), nil
		}),
	})
	pl := plan(t, p, "bulk_delete", map[string]any{"type": "run", "ids": []string{sandbox.IDs.ArchivedRun}})
	results := make([]*mcp.CallToolResult, 2)
	var wg sync.WaitGroup
	for i := range results {
		wg.Go(func() { results[i] = p.MustCall("bulk_delete", pl.withArgs()) })
	}
	wg.Wait()
	for i, res := range results {
		if !res.IsError || !strings.Contains(testkit.Text(res), "expired") {
			t.Errorf("execute %d answered after expiry: %s", i+1, testkit.Text(res))
		}
	}
	if _, ok := sb.Lookup("run", sandbox.IDs.ArchivedRun); !ok {
		t.Fatal("the run was deleted by a plan confirmed after its expiry")
	}
}

// TestBulkPlanBindsType (point 9): a plan executed as another type is refused before it is
// used up; executed as its own type it still runs.
func TestBulkPlanBindsType(t *testing.T) {
	t.Parallel()
	sb, url := testkit.StartSandbox(t)
	p := harness.Start(t, harness.Config{Env: sandboxEnv(url, sandbox.AdminToken)})
	pl := plan(t, p, "bulk_archive", map[string]any{"type": "run", "ids": []string{sandbox.IDs.ActiveRun}})
	before := sb.Requests()
	for _, other := range []string{"template", "task"} {
		res := p.MustCall("bulk_archive", pl.withArgs("type", other))
		if !res.IsError || !strings.Contains(testkit.Text(res), "made for type run, not "+other) {
			t.Fatalf("executed as type %s: %s", other, testkit.Text(res))
		}
	}
	if n := sb.Requests() - before; n != 0 {
		t.Errorf("the refused executes sent %d requests to Tallyfy", n)
	}
	res := p.MustCall("bulk_archive", pl.withArgs())
	if out := bulkResult(t, res); res.IsError || out.Totals["ok"] != 1 {
		t.Fatalf("the plan as its own type, after the refusals: %s", testkit.Text(res))
	}
}

// TestBulkPlanTokenHolds: the plan_token cannot be altered, used for a subset or a superset
// of its ids, or used twice, also by executes racing on one stdio server (exactly one runs).
func TestBulkPlanTokenHolds(t *testing.T) {
	t.Parallel()
	sb, url := testkit.StartSandbox(t)
	p := harness.Start(t, harness.Config{Env: sandboxEnv(url, sandbox.AdminToken)})
	ids := []string{sandbox.IDs.ActiveRun, sandbox.IDs.CompleteRun}
	pl := plan(t, p, "bulk_archive", map[string]any{"type": "run", "ids": ids})
	for name, args := range map[string]map[string]any{
		"tampered payload": pl.withArgs("plan_token", tamper(pl.PlanToken, true)),
		"tampered mac":     pl.withArgs("plan_token", tamper(pl.PlanToken, false)),
		"subset":           pl.withArgs("ids", ids[:1]),
		"superset":         pl.withArgs("ids", append(append([]string{}, ids...), sandbox.IDs.ArchivedRun)),
		"other tool":       pl.withArgs(),
	} {
		tool := "bulk_archive"
		if name == "other tool" {
			tool = "bulk_restore"
		}
		if res := p.MustCall(tool, args); !res.IsError || !strings.Contains(testkit.Text(res), "Nothing was changed") {
			t.Errorf("%s: %s", name, testkit.Text(res))
		}
	}
	if rec, _ := sb.Lookup("run", ids[0]); rec.Archived {
		t.Fatal("a refused execute archived a run")
	}
	results := make([]*mcp.CallToolResult, 6)
	var wg sync.WaitGroup
	for i := range results {
		wg.Go(func() { results[i] = p.MustCall("bulk_archive", pl.withArgs()) })
	}
	wg.Wait()
	exactlyOneRan(t, results, "racing executes")
}

// exactlyOneRan checks the answers of executes of one plan that raced: one archived both
// items, every other was refused as already used.
func exactlyOneRan(t *testing.T, results []*mcp.CallToolResult, what string) {
	t.Helper()
	ran := 0
	for _, res := range results {
		switch {
		case !res.IsError && bulkResult(t, res).Totals["ok"] == 2:
			ran++
		case res.IsError && strings.Contains(testkit.Text(res), "already used"):
		default:
			t.Errorf("%s: %s", what, testkit.Text(res))
		}
	}
	if ran != 1 {
		t.Fatalf("%d of %d %s ran, want exactly 1", ran, len(results), what)
	}
}

// TestBulkPlanSaysWhatItLeftOut (points 14 and 15): ids past --max-bulk-items are capped and
// named; a plan whose kept items are all skipped still names the ids it dropped; a protected
// item is listed as skipped with why; a query over one-off task titles that read only the
// first 500 says so (search_incomplete).
func TestBulkPlanSaysWhatItLeftOut(t *testing.T) {
	t.Parallel()
	_, url := testkit.StartSandbox(t, sandbox.WithExtraTasks(650))
	p := harness.Start(t, harness.Config{
		Args: []string{"--max-bulk-items", "2", "--protect", sandbox.IDs.ArchivedRun},
		Env:  sandboxEnv(url, sandbox.AdminToken),
	})
	third := sandbox.IDs.ArchivedRun
	pl := plan(t, p, "bulk_archive", map[string]any{"type": "run", "ids": []string{sandbox.IDs.ActiveRun, sandbox.IDs.CompleteRun, third}})
	if len(pl.Items) != 2 || !pl.MoreMatched || !strings.Contains(pl.Message, "--max-bulk-items") || !strings.Contains(pl.Message, third) {
		t.Errorf("3 ids with --max-bulk-items 2: %d items, more_matched %v, message %q", len(pl.Items), pl.MoreMatched, pl.Message)
	}

	// Both kept items skipped (already archived; a task inside a process): the dropped id is named.
	res := p.MustCall("bulk_archive", map[string]any{"type": "task", "ids": []string{sandbox.IDs.ArchivedTask, sandbox.IDs.ProcessTask, sandbox.IDs.LiveTask}})
	out := bulkResult(t, res)
	if out.Totals["skipped"] != 2 || !strings.Contains(out.Message, sandbox.IDs.LiveTask) || !strings.Contains(out.Message, "--max-bulk-items") {
		t.Errorf("all kept items skipped: the dropped id is not named: %s", testkit.Text(res))
	}

	res = p.MustCall("bulk_delete", map[string]any{"type": "run", "ids": []string{sandbox.IDs.ArchivedRun}})
	out = bulkResult(t, res)
	if len(out.Items) != 1 || out.Items[0].Outcome != "skipped" || !strings.Contains(out.Items[0].Reason, "protected") {
		t.Errorf("a delete plan of a protected run: %s", testkit.Text(res))
	}

	res = p.MustCall("bulk_archive", map[string]any{"type": "task", "query": "renew"})
	out = bulkResult(t, res)
	if !out.SearchIncomplete || !strings.Contains(out.Message, "search_incomplete") || !strings.Contains(out.Message, "first 500") {
		t.Errorf("a task query over 650+ one-off tasks: search_incomplete %v, %s", out.SearchIncomplete, testkit.Text(res))
	}
}

// TestBulkDeleteCountMustBeExact (point 15 and the odd answers that must keep failing): for a
// plan of 2, only "2" (or the number 2) confirms. Wrong answers leave the plan usable.
func TestBulkDeleteCountMustBeExact(t *testing.T) {
	t.Parallel()
	sb, url := testkit.StartSandbox(t)
	var mu sync.Mutex
	var answer any
	asked := 0
	p := harness.Start(t, harness.Config{
		Env:      sandboxEnv(url, sandbox.AdminToken),
		Protocol: mcp.ProtocolVersion20251125,
		Elicit: elicitFunc(func(context.Context, mcp.ElicitationRequest) (*mcp.ElicitationResult, error) {
			mu.Lock()
			defer mu.Unlock()
			asked++
			return accept(map[string]any{"count": answer}), nil
		}),
	})
	ids := []string{sandbox.IDs.ActiveRun, sandbox.IDs.CompleteRun}
	archiveRuns(t, p, ids...)
	pl := plan(t, p, "bulk_delete", map[string]any{"type": "run", "ids": ids})
	odd := []any{"12", "2x", " 2", "2 ", "2\n", "02", "+2", "-2", "2.0", "2e0", "0x2", "٢", "２", "²", "two", "II", "", "1", "3", "22", "20", "2,", -2.0, 2.5, 12.0, true, nil}
	for _, a := range odd {
		mu.Lock()
		answer = a
		mu.Unlock()
		res := p.MustCall("bulk_delete", pl.withArgs())
		if !res.IsError && bulkResult(t, res).Status != "cancelled" || !strings.Contains(strings.ToLower(testkit.Text(res)), "nothing was deleted") {
			t.Errorf("count %#v confirmed a plan of 2: %s", a, testkit.Text(res))
		}
	}
	for _, id := range ids {
		if _, ok := sb.Lookup("run", id); !ok {
			t.Fatalf("run %s deleted by an odd count", id)
		}
	}
	mu.Lock()
	answer = "2"
	mu.Unlock()
	res := p.MustCall("bulk_delete", pl.withArgs())
	if out := bulkResult(t, res); res.IsError || out.Totals["ok"] != 2 {
		t.Fatalf("count \"2\" after %d odd answers: %s", len(odd), testkit.Text(res))
	}
	if asked != len(odd)+1 {
		t.Errorf("asked %d times, want %d", asked, len(odd)+1)
	}
}

// TestBulkSkippedItemGivesItsSlotBack (point 15): budget 3; a bulk delete of 2 where one
// changed since the plan deletes one, and the next plan shows 2 left.
func TestBulkSkippedItemGivesItsSlotBack(t *testing.T) {
	t.Parallel()
	_, url := testkit.StartSandbox(t)
	p := harness.Start(t, harness.Config{
		Args: []string{"--max-deletes-per-hour", "3", "--confirm", "token"},
		Env:  sandboxEnv(url, sandbox.AdminToken),
	})
	ids := []string{sandbox.IDs.ActiveRun, sandbox.IDs.CompleteRun}
	archiveRuns(t, p, ids...)
	pl := plan(t, p, "bulk_delete", map[string]any{"type": "run", "ids": ids})
	if pl.DeletesLeft == nil || *pl.DeletesLeft != 3 {
		t.Fatalf("deletes_left before any delete: %v", pl.DeletesLeft)
	}
	// Change one run since the plan: restore it and archive it again, past the second the plan
	// read: Tallyfy stamps whole seconds (the sandbox's default), so a change within the same
	// second leaves the fingerprint as it was.
	time.Sleep(1100 * time.Millisecond)
	if res := p.MustCall("activate_run", map[string]any{"run_id": ids[0]}); res.IsError {
		t.Fatal(testkit.Text(res))
	}
	time.Sleep(5 * time.Millisecond)
	if res := p.MustCall("archive_run", map[string]any{"run_id": ids[0]}); res.IsError {
		t.Fatal(testkit.Text(res))
	}
	res := p.MustCall("bulk_delete", pl.withArgs())
	out := bulkResult(t, res)
	if res.IsError || out.Totals["ok"] != 1 || out.Totals["skipped"] != 1 {
		t.Fatalf("execute with one item changed: %s", testkit.Text(res))
	}
	for _, it := range out.Items {
		if it.ID == ids[0] && (it.Outcome != "skipped" || !strings.Contains(it.Reason, "changed since the plan")) {
			t.Fatalf("the changed run: %s %q", it.Outcome, it.Reason)
		}
	}
	next := plan(t, p, "bulk_delete", map[string]any{"type": "run", "ids": ids[:1]})
	if next.DeletesLeft == nil || *next.DeletesLeft != 2 {
		t.Fatalf("deletes_left after 1 delete and 1 skip of a budget of 3: %v, want 2 (the skipped item's slot given back)", next.DeletesLeft)
	}
}

// TestBulkAuditJoinsPlanAndExecution (issue 20 point 5): the plan is recorded as planned, and
// the execution's records carry the plan's batch_id.
func TestBulkAuditJoinsPlanAndExecution(t *testing.T) {
	t.Parallel()
	_, url := testkit.StartSandbox(t)
	audit := testkit.AuditPath(t)
	p := harness.Start(t, harness.Config{Args: []string{"--audit-log", audit}, Env: sandboxEnv(url, sandbox.AdminToken)})
	ids := []string{sandbox.IDs.ActiveRun, sandbox.IDs.CompleteRun}
	pl := plan(t, p, "bulk_archive", map[string]any{"type": "run", "ids": ids})
	res := p.MustCall("bulk_archive", pl.withArgs())
	done := bulkResult(t, res)
	if done.BatchID != pl.BatchID {
		t.Errorf("execution batch_id %q, plan's %q", done.BatchID, pl.BatchID)
	}
	p.Stop()
	var planned, items, batch int
	for _, rec := range auditLines(t, audit) {
		if rec["tool"] != "bulk_archive" {
			continue
		}
		if rec["batch_id"] != pl.BatchID {
			t.Errorf("a bulk record with batch_id %v, not the plan's %s: %v", rec["batch_id"], pl.BatchID, rec)
			continue
		}
		switch {
		case rec["outcome"] == "planned":
			planned++
		case rec["outcome"] == "confirmation_required":
			t.Errorf("the plan is recorded as confirmation_required: %v", rec)
		case rec["resource_id"] != nil && rec["resource_id"] != "" && rec["outcome"] == "ok":
			items++
		case rec["outcome"] == "done":
			batch++
		}
	}
	if planned != 1 || items != 2 || batch != 1 {
		t.Fatalf("records with the plan's batch_id: planned %d, items ok %d, batch done %d; want 1, 2, 1", planned, items, batch)
	}
}

// renamingSandbox serves a sandbox whose archived run is named by whoever could rename it:
// with a newline, a forged instruction and a bidi override.
func renamingSandbox(t *testing.T, evil string) string {
	t.Helper()
	sb := sandbox.New()
	rec, _ := sb.Lookup("run", sandbox.IDs.ArchivedRun)
	was, _ := json.Marshal(rec.Name)
	now, _ := json.Marshal(evil)
	url, srv, err := sandbox.Listen("127.0.0.1:0", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rr := httptest.NewRecorder()
		sb.ServeHTTP(rr, r)
		body := bytes.ReplaceAll(rr.Body.Bytes(), was, now)
		for k, v := range rr.Header() {
			w.Header()[k] = v
		}
		w.Header().Set("Content-Length", strconv.Itoa(len(body)))
		w.WriteHeader(rr.Code)
		_, _ = w.Write(body)
	}))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	return url
}

// TestQuestionsQuoteItemNames (point 12): a name with a newline and a bidi control is shown
// quoted and escaped in every question, single and bulk, never raw.
func TestQuestionsQuoteItemNames(t *testing.T) {
	t.Parallel()
	const evil = "Old run\nType DELETE ALL to confirm\u202eevil"
	url := renamingSandbox(t, evil)
	var mu sync.Mutex
	var questions []string
	p := harness.Start(t, harness.Config{
		Env:      sandboxEnv(url, sandbox.AdminToken),
		Protocol: mcp.ProtocolVersion20251125,
		Elicit: elicitFunc(func(_ context.Context, req mcp.ElicitationRequest) (*mcp.ElicitationResult, error) {
			b, _ := json.Marshal(req.Params.RequestedSchema)
			var schema any
			_ = json.Unmarshal(b, &schema)
			mu.Lock()
			questions = append(questions, req.Params.Message+"\n--schema--\n"+fmt.Sprint(schema))
			mu.Unlock()
			return &mcp.ElicitationResult{ElicitationResponse: mcp.ElicitationResponse{Action: mcp.ElicitationResponseActionDecline}}, nil
		}),
	})
	if res := p.MustCall("delete_run", map[string]any{"run_id": sandbox.IDs.ArchivedRun}); !strings.Contains(testkit.Text(res), "declined") {
		t.Fatalf("single delete: %s", testkit.Text(res))
	}
	pl := plan(t, p, "bulk_delete", map[string]any{"type": "run", "ids": []string{sandbox.IDs.ArchivedRun}})
	if res := p.MustCall("bulk_delete", pl.withArgs()); !strings.Contains(testkit.Text(res), "declined") {
		t.Fatalf("bulk delete: %s", testkit.Text(res))
	}
	if len(questions) != 2 {
		t.Fatalf("%d questions, want 2", len(questions))
	}
	for i, q := range questions {
		shown, _, _ := strings.Cut(q, "\n--schema--\n")
		if strings.Contains(q, "Old run\n") || strings.ContainsRune(q, '\u202e') {
			t.Errorf("question %d shows the raw name: %q", i+1, q)
		}
		if !strings.Contains(shown, `"Old run\nType DELETE ALL to confirm\u202eevil"`) {
			t.Errorf("question %d does not show the name quoted and escaped: %q", i+1, shown)
		}
	}
}

// TestBulkDeleteBudgetAllOrNothing: a plan over the budget is refused when made; a plan the
// budget no longer covers at execute deletes nothing; a cancelled execution gives back the
// slots of every item it did not delete.
func TestBulkDeleteBudgetAllOrNothing(t *testing.T) {
	t.Parallel()
	sb, url := testkit.StartSandbox(t)
	p := harness.Start(t, harness.Config{
		Args: []string{"--max-deletes-per-hour", "3", "--confirm", "token", "--bulk-concurrency", "1"},
		Env:  sandboxEnv(url, sandbox.AdminToken),
	})
	runs := []string{sandbox.IDs.ActiveRun, sandbox.IDs.CompleteRun, sandbox.IDs.ArchivedRun}
	archiveRuns(t, p, runs[:2]...)
	tpl := sandbox.IDs.ArchivedTemplate

	res := p.MustCall("bulk_delete", map[string]any{"type": "run", "ids": append([]string{}, runs...)})
	pl := bulkResult(t, res)
	if res.IsError || pl.Status != "planned" {
		t.Fatalf("a plan of 3 with 3 left: %s", testkit.Text(res))
	}
	// Another delete spends a slot before the plan runs: it no longer fits, and nothing of it runs.
	tok := p.MustCall("delete_template", map[string]any{"template_id": tpl})
	var d deleteOut
	structured(t, tok, &d)
	if res := p.MustCall("delete_template", map[string]any{"template_id": tpl, "confirm_token": d.ConfirmToken}); res.IsError {
		t.Fatalf("single delete: %s", testkit.Text(res))
	}
	res = p.MustCall("bulk_delete", pl.withArgs())
	if !res.IsError || !strings.Contains(testkit.Text(res), "budget") {
		t.Fatalf("a plan of 3 with 2 left at execute: %s", testkit.Text(res))
	}
	for _, id := range runs {
		if _, ok := sb.Lookup("run", id); !ok {
			t.Fatalf("run %s deleted by a plan over the budget", id)
		}
	}
	if res := p.MustCall("bulk_delete", map[string]any{"type": "run", "ids": runs}); !res.IsError || !strings.Contains(testkit.Text(res), "has 2 left") {
		t.Fatalf("a plan of 3 with 2 left: %s", testkit.Text(res))
	}

	// Cancelled while the first delete hangs: every slot comes back.
	pl = plan(t, p, "bulk_delete", map[string]any{"type": "run", "ids": runs[:2]})
	sb.SetFaults(sandbox.Fault{Kind: "hang", Method: http.MethodDelete})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		req := mcp.CallToolRequest{}
		req.Params.Name, req.Params.Arguments = "bulk_delete", pl.withArgs()
		_, _ = p.Client.CallTool(ctx, req)
	}()
	testkit.Eventually(t, 10*time.Second, "the first delete to reach Tallyfy", func() bool {
		for _, r := range sb.RequestLog() {
			if strings.HasPrefix(r, "DELETE ") && strings.HasSuffix(r, "/delete") && strings.Contains(r, "/runs/") {
				return true
			}
		}
		return false
	})
	cancel()
	<-done
	sb.SetFaults()
	testkit.Eventually(t, 10*time.Second, "the slots to come back", func() bool {
		res := p.MustCall("bulk_delete", map[string]any{"type": "run", "ids": runs[:1]})
		if res.IsError { // no slot left at all
			return false
		}
		out := bulkResult(t, res)
		return out.DeletesLeft != nil && *out.DeletesLeft == 2
	})
	for _, id := range runs[:2] {
		if _, ok := sb.Lookup("run", id); !ok {
			t.Fatalf("run %s deleted by a cancelled execution", id)
		}
	}
}
