package tools_test

import (
	"context"
	"fmt"
	"maps"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mark3labs/mcp-go/mcp"

	"github.com/tallyfy-mcp/tallyfy-mcp/schemas"
	"github.com/tallyfy-mcp/tallyfy-mcp/state"
	"github.com/tallyfy-mcp/tallyfy-mcp/tallyfy"
	"github.com/tallyfy-mcp/tallyfy-mcp/tallyfy/sandbox"
	"github.com/tallyfy-mcp/tallyfy-mcp/tools"
	"github.com/tallyfy-mcp/tallyfy-mcp/tools/audit"
)

// bulkArgs turns a plan's execute call into arguments.
func executeArgs(t *testing.T, plan schemas.BulkResult) map[string]any {
	t.Helper()
	if plan.Execute == nil || plan.PlanToken == "" {
		t.Fatalf("plan has no execute call: %+v", plan)
	}
	return maps.Clone(plan.Execute.Arguments)
}

func outcomesByID(res schemas.BulkResult) map[string]string {
	m := map[string]string{}
	for _, it := range res.Items {
		m[it.ID] = string(it.Outcome)
	}
	return m
}

// TestBulkArchiveRestoreDelete: for every kind, the plan changes nothing, lists what is
// skipped and why, and its execute call acts on exactly the planned items; archive's undo is
// bulk_restore with the same ids; bulk_delete deletes the archived items. Every item has
// its audit record with the batch_id, plus one for the batch.
func TestBulkArchiveRestoreDelete(t *testing.T) {
	t.Parallel()
	perKind(t, nil, func(t *testing.T, h *harness, k kindInfo) {
		mark := h.logLen()
		plan := decode[schemas.BulkResult](t, h.call("bulk_archive", map[string]any{"type": k.kind, "ids": []string{k.live, k.other, k.archived}}).ok(t))
		if w := h.writesSince(mark); len(w) != 0 {
			t.Fatalf("the plan call wrote to Tallyfy: %v", w)
		}
		if plan.Status != "planned" || plan.Totals["planned"] != 2 || plan.Totals["skipped"] != 1 {
			t.Fatalf("plan = %+v, want 2 planned and 1 skipped", plan)
		}
		if got := outcomesByID(plan)[k.archived]; got != "skipped" {
			t.Fatalf("already archived item: %s, want skipped", got)
		}
		for _, it := range plan.Items {
			if it.Name == "" || it.State == "" || it.LastUpdated == "" {
				t.Errorf("plan item lacks name, state or last update: %+v", it)
			}
		}
		h.audit.clear()
		done := decode[schemas.BulkResult](t, h.call("bulk_archive", executeArgs(t, plan)).ok(t))
		if done.Status != "done" || done.Totals["ok"] != 2 {
			t.Fatalf("execute = %+v", done)
		}
		for _, id := range []string{k.live, k.other} {
			if !h.lookup(k.kind, id).Archived {
				t.Fatalf("%s %s not archived", k.kind, id)
			}
		}
		if done.Undo == nil || done.Undo.Tool != "bulk_restore" || len(done.Undo.Arguments["ids"].([]any)) != 2 {
			t.Fatalf("undo = %+v", done.Undo)
		}
		recs := h.audit.outcomes()
		batches, items := 0, 0
		for _, r := range recs {
			if r.BatchID != done.BatchID {
				t.Errorf("record without the batch id %q: %+v", done.BatchID, r)
			}
			if r.ResourceID == "" {
				batches++
			} else {
				items++
			}
		}
		if batches != 1 || items != 2 || len(h.audit.intents()) != 2 {
			t.Fatalf("audit: %d batch, %d item records, %d intents; want 1, 2, 2", batches, items, len(h.audit.intents()))
		}

		// Undo: bulk_restore with the same ids.
		rplan := decode[schemas.BulkResult](t, h.call("bulk_restore", done.Undo.Arguments).ok(t))
		rdone := decode[schemas.BulkResult](t, h.call("bulk_restore", executeArgs(t, rplan)).ok(t))
		if rdone.Totals["ok"] != 2 || h.lookup(k.kind, k.live).Archived {
			t.Fatalf("restore = %+v", rdone)
		}

		// bulk_delete: the live item is skipped (not archived), the archived one deleted.
		dplan := decode[schemas.BulkResult](t, h.call("bulk_delete", map[string]any{"type": k.kind, "ids": []string{k.archived, k.live}}).ok(t))
		if dplan.Totals["planned"] != 1 || !strings.Contains(dplan.Items[1].Reason, "not archived") || dplan.DeletesLeft == nil {
			t.Fatalf("delete plan = %+v", dplan)
		}
		if h.gone(k.kind, k.archived) {
			t.Fatal("the delete plan deleted")
		}
		ddone := decode[schemas.BulkResult](t, h.call("bulk_delete", executeArgs(t, dplan)).ok(t))
		if ddone.Totals["ok"] != 1 || !h.gone(k.kind, k.archived) || h.gone(k.kind, k.live) {
			t.Fatalf("delete = %+v", ddone)
		}
	})
}

// TestBulkStaleReplayedForeignOverBudget: a plan whose item changed in between skips that
// item; a replayed, foreign or wrong-purpose token is refused and changes nothing; a plan over
// the delete budget is refused when made, and one the budget shrank under is refused whole.
func TestBulkStaleReplayedForeignOverBudget(t *testing.T) {
	t.Parallel()
	h := newHarness(t, withBudget(tools.NewStoreBudget(state.NewMemory(), "deletes", 2, time.Hour)))
	ctx := context.Background()
	h.run(t, "stale", func(t *testing.T) {
		plan := decode[schemas.BulkResult](t, h.call("bulk_archive", map[string]any{"type": "run", "ids": []string{sandbox.IDs.ActiveRun, sandbox.IDs.CompleteRun}}).ok(t))
		if _, err := h.api().Archive(ctx, tallyfy.KindRun, sandbox.IDs.CompleteRun); err != nil {
			t.Fatal(err)
		}
		if _, err := h.api().Restore(ctx, tallyfy.KindRun, sandbox.IDs.CompleteRun); err != nil {
			t.Fatal(err)
		}
		done := decode[schemas.BulkResult](t, h.call("bulk_archive", executeArgs(t, plan)).ok(t))
		got := outcomesByID(done)
		if got[sandbox.IDs.ActiveRun] != "ok" || got[sandbox.IDs.CompleteRun] != "skipped" {
			t.Fatalf("outcomes = %v, want the changed item skipped", got)
		}
		if h.lookup("run", sandbox.IDs.CompleteRun).Archived {
			t.Fatal("the changed item was archived")
		}
	})
	h.run(t, "replayed and foreign", func(t *testing.T) {
		plan := decode[schemas.BulkResult](t, h.call("bulk_archive", map[string]any{"type": "run", "ids": []string{sandbox.IDs.ActiveRun}}).ok(t))
		args := executeArgs(t, plan)
		// Another tool, other ids, a plan token as a confirm_token: all refused.
		h.call("bulk_restore", args).failed(t, "Nothing was changed", "different set of items")
		other := executeArgs(t, plan)
		other["ids"] = []string{sandbox.IDs.CompleteRun}
		h.call("bulk_archive", other).failed(t, "Nothing was changed", "different set of items")
		h.call("delete_run", map[string]any{"run_id": sandbox.IDs.ArchivedRun, "confirm_token": plan.PlanToken}).failed(t, "Nothing was deleted", "different item")
		// A confirm_token as a plan_token.
		tok := decode[schemas.DeleteResult](t, h.call("delete_run", map[string]any{"run_id": sandbox.IDs.ArchivedRun}).ok(t)).ConfirmToken
		h.call("bulk_delete", map[string]any{"type": "run", "ids": []string{sandbox.IDs.ArchivedRun}, "plan_token": tok}).failed(t, "Nothing was changed")
		// A second session cannot use the first one's plan.
		c2 := h.connect("", nil, testClientName)
		h.callWith(c2, "bulk_archive", args).failed(t, "different set of items")
		if h.lookup("run", sandbox.IDs.ActiveRun).Archived || h.gone("run", sandbox.IDs.ArchivedRun) {
			t.Fatal("a refused token changed something")
		}
		h.call("bulk_archive", args).ok(t)
		h.call("bulk_archive", args).failed(t, "already used")
	})
	h.run(t, "over budget", func(t *testing.T) {
		api := h.api()
		if _, err := api.Archive(ctx, tallyfy.KindRun, sandbox.IDs.CompleteRun); err != nil {
			t.Fatal(err)
		}
		if _, err := api.Archive(ctx, tallyfy.KindTemplate, sandbox.IDs.LiveTemplate); err != nil {
			t.Fatal(err)
		}
		ids := []string{sandbox.IDs.ArchivedRun, sandbox.IDs.CompleteRun}
		plan := decode[schemas.BulkResult](t, h.call("bulk_delete", map[string]any{"type": "run", "ids": ids}).ok(t))
		if plan.DeletesLeft == nil || *plan.DeletesLeft != 2 {
			t.Fatalf("deletes_left = %v, want 2", plan.DeletesLeft)
		}
		// A single delete spends one slot: the plan of 2 no longer fits and runs not at all.
		tmpl := decode[schemas.DeleteResult](t, h.call("delete_template", map[string]any{"template_id": sandbox.IDs.LiveTemplate}).ok(t))
		h.call("delete_template", map[string]any{"template_id": sandbox.IDs.LiveTemplate, "confirm_token": tmpl.ConfirmToken}).ok(t)
		h.call("bulk_delete", executeArgs(t, plan)).failed(t, "delete budget", "nothing was deleted")
		for _, id := range ids {
			if h.gone("run", id) {
				t.Fatal("a plan over budget was half executed")
			}
		}
		// And a new plan of 2 with 1 left is refused when it is made.
		h.call("bulk_delete", map[string]any{"type": "run", "ids": ids}).failed(t, "delete budget", "--max-deletes-per-hour", "1 left")
	})
}

// TestBulkPartialFailureAndStop: a failing item does not stop the others; a 401 stops the run.
func TestBulkPartialFailureAndStop(t *testing.T) {
	t.Parallel()
	h := newHarness(t, withMaxTries(1))
	ids := []string{sandbox.IDs.ActiveRun, sandbox.IDs.CompleteRun, sandbox.IDs.TimesheetsRun}
	h.run(t, "one fails", func(t *testing.T) {
		plan := decode[schemas.BulkResult](t, h.call("bulk_archive", map[string]any{"type": "run", "ids": ids}).ok(t))
		h.sb.SetFaults(sandbox.Fault{Kind: "500", Method: "PUT", PathContains: sandbox.IDs.CompleteRun}, sandbox.Fault{Kind: "500", Method: "DELETE", PathContains: sandbox.IDs.CompleteRun},
			sandbox.Fault{Kind: "500", Method: "GET", PathContains: sandbox.IDs.CompleteRun + "?"})
		done := decode[schemas.BulkResult](t, h.call("bulk_archive", executeArgs(t, plan)).ok(t))
		got := outcomesByID(done)
		if got[sandbox.IDs.ActiveRun] != "ok" || got[sandbox.IDs.TimesheetsRun] != "ok" || got[sandbox.IDs.CompleteRun] == "ok" {
			t.Fatalf("outcomes = %v (%s)", got, done.Message)
		}
		if done.Totals["failed"]+done.Totals["skipped"] != 1 {
			t.Fatalf("totals = %+v", done.Totals)
		}
	})
}

// TestBulkStopsOn401: a 401 would fail every remaining item the same way: the batch stops and
// says so, and the items after it are not run (one at a time here, so the order is known).
func TestBulkStopsOn401(t *testing.T) {
	t.Parallel()
	ids := []string{sandbox.IDs.ActiveRun, sandbox.IDs.CompleteRun, sandbox.IDs.TimesheetsRun}
	var deny atomic.Bool
	h := newHarness(t, withBulkConcurrency(1), withWrap(func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if deny.Load() && strings.Contains(r.URL.Path, sandbox.IDs.CompleteRun) {
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(http.StatusUnauthorized)
				_, _ = w.Write([]byte(`{"error":"Unauthenticated."}`))
				return
			}
			next.ServeHTTP(w, r)
		})
	}))
	plan := decode[schemas.BulkResult](t, h.call("bulk_archive", map[string]any{"type": "run", "ids": ids}).ok(t))
	deny.Store(true)
	done := decode[schemas.BulkResult](t, h.call("bulk_archive", executeArgs(t, plan)).ok(t))
	got := outcomesByID(done)
	if done.Status != "stopped" || got[ids[0]] != "ok" || got[ids[1]] != "failed" || got[ids[2]] != "not_run" {
		t.Fatalf("status %s, outcomes %v: %s", done.Status, got, done.Message)
	}
	contains(t, "message", done.Message, "Stopped", "401")
	if h.lookup("run", ids[2]).Archived {
		t.Fatal("an item after the 401 was archived")
	}
}

// TestBulkProgressAndCancel: with a progressToken each item sends notifications/progress;
// cancelling the call stops the items not yet started, and the audit says which ran.
func TestBulkProgressAndCancel(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	ids := []string{sandbox.IDs.ActiveRun, sandbox.IDs.CompleteRun, sandbox.IDs.TimesheetsRun}
	var mu sync.Mutex
	var got []string
	h.c.OnNotification(func(n mcp.JSONRPCNotification) {
		if n.Method == "notifications/progress" && fmt.Sprint(n.Params.AdditionalFields["progressToken"]) == "p-1" {
			mu.Lock()
			got = append(got, fmt.Sprint(n.Params.AdditionalFields["progress"]))
			mu.Unlock()
		}
	})
	h.run(t, "progress", func(t *testing.T) {
		plan := decode[schemas.BulkResult](t, h.call("bulk_archive", map[string]any{"type": "run", "ids": ids}).ok(t))
		req := mcp.CallToolRequest{}
		req.Params.Name = "bulk_archive"
		req.Params.Arguments = executeArgs(t, plan)
		req.Params.Meta = &mcp.Meta{ProgressToken: "p-1"}
		if _, err := h.c.CallTool(context.Background(), req); err != nil {
			t.Fatal(err)
		}
		// Notifications travel apart from the result: the last may land just after it.
		for end := time.Now().Add(2 * time.Second); time.Now().Before(end); time.Sleep(10 * time.Millisecond) {
			mu.Lock()
			n := len(got)
			mu.Unlock()
			if n == 3 {
				break
			}
		}
		mu.Lock()
		defer mu.Unlock()
		if len(got) != 3 || got[len(got)-1] != "3" {
			t.Fatalf("progress = %v, want increasing to 3", got)
		}
	})
}

// TestBulkCancel: cancelling the call (notifications/cancelled) stops the items not yet
// started; their audit records say so, and the batch record says cancelled.
func TestBulkCancel(t *testing.T) {
	t.Parallel()
	h := newHarness(t, withBulkConcurrency(1))
	ids := []string{sandbox.IDs.ActiveRun, sandbox.IDs.CompleteRun, sandbox.IDs.TimesheetsRun}
	plan := decode[schemas.BulkResult](t, h.call("bulk_archive", map[string]any{"type": "run", "ids": ids}).ok(t))
	h.sb.SetFaults(sandbox.Fault{Kind: "latency", Param: "400ms"})
	ctx, cancel := context.WithTimeout(context.Background(), 150*time.Millisecond)
	defer cancel()
	req := mcp.CallToolRequest{}
	req.Params.Name = "bulk_archive"
	req.Params.Arguments = executeArgs(t, plan)
	// mcp-go may still deliver the answer after a cancel (docs/mcp-go-guide.md part 2 (e)):
	// if it does, it reports the items done and the rest not run.
	if r, err := h.c.CallTool(ctx, req); err == nil {
		if !strings.Contains(resultText(r), "Cancelled: the remaining items were not run") {
			t.Fatalf("the call was not cancelled: %s", resultText(r))
		}
	}
	var batch audit.Record
	deadline := time.Now().Add(5 * time.Second)
	for batch.Tool == "" && time.Now().Before(deadline) {
		for _, r := range h.audit.outcomes() {
			if r.ResourceID == "" && r.BatchID != "" && r.Outcome != "confirmation_required" {
				batch = r
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	if batch.Outcome != "cancelled" {
		t.Fatalf("batch record = %+v, want cancelled", batch)
	}
	notRun := 0
	for _, r := range h.audit.outcomes() {
		if r.BatchID == batch.BatchID && r.ResourceID != "" && strings.Contains(r.Detail, "not run") {
			notRun++
			if h.lookup("run", r.ResourceID).Archived {
				t.Errorf("item %s recorded as not run was archived", r.ResourceID)
			}
		}
	}
	if notRun != 2 {
		t.Fatalf("%d items recorded as not run, want 2", notRun)
	}
}

func resultText(r *mcp.CallToolResult) string {
	var b strings.Builder
	for _, c := range r.Content {
		if tc, ok := c.(mcp.TextContent); ok {
			b.WriteString(tc.Text)
		}
	}
	return b.String()
}

// TestBulkBadArguments: bad ids, a bad type, or no selection are refused, with what to do,
// before anything reaches Tallyfy, including without the schema's help.
func TestBulkBadArguments(t *testing.T) {
	t.Parallel()
	forEachProtocol(t, func(t *testing.T, p protocol) {
		h := newHarness(t, withProto(p), withConfirm(tools.ConfirmOff))
		c := bareClient(t, h, p)
		for _, tool := range []string{"bulk_archive", "bulk_restore", "bulk_delete"} {
			for label, bad := range badIDs(sandbox.IDs.ArchivedRun) {
				if _, isString := bad.(string); !isString {
					continue // a number or object is refused by decoding (Invalid argument ids)
				}
				before := h.sb.Requests()
				h.callWith(c, tool, map[string]any{"type": "run", "ids": []any{sandbox.IDs.ActiveRun, bad}}).failed(t, "ids", "32 lowercase hex", "list_runs")
				if h.sb.Requests() != before {
					t.Errorf("%s ids %q (%s) reached the sandbox", tool, bad, label)
				}
			}
			h.callWith(c, tool, map[string]any{"type": "process", "ids": []string{sandbox.IDs.ActiveRun}}).failed(t, "type", "task, run or template")
			h.callWith(c, tool, map[string]any{"type": "run"}).failed(t, "ids", "query")
			h.callWith(c, tool, map[string]any{"type": "run", "plan_token": "tcf1.x.y"}).failed(t, "ids", "plan")
		}
		if h.sb.Requests() != 0 {
			t.Errorf("%d requests reached the sandbox", h.sb.Requests())
		}
	})
}

// TestBulkSelectsByFilters: without ids, the plan selects with the list tools' filters
// (archived follows from the verb: archive takes live items, restore and delete archived).
func TestBulkSelectsByFilters(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	plan := decode[schemas.BulkResult](t, h.call("bulk_archive", map[string]any{"type": "run", "status": "complete"}).ok(t))
	got := outcomesByID(plan)
	if got[sandbox.IDs.CompleteRun] != "planned" || got[sandbox.IDs.ActiveRun] != "" || got[sandbox.IDs.ArchivedRun] != "" {
		t.Fatalf("status=complete planned %v", got)
	}
	rplan := decode[schemas.BulkResult](t, h.call("bulk_restore", map[string]any{"type": "run", "query": "Onboarding"}).ok(t))
	if got := outcomesByID(rplan); got[sandbox.IDs.ArchivedRun] != "planned" || got[sandbox.IDs.ActiveRun] != "" {
		t.Fatalf("restore query=Onboarding planned %v", got)
	}
	h.call("bulk_archive", map[string]any{"type": "task", "status": "complete"}).failed(t, "status", "type run")
	h.call("bulk_archive", map[string]any{"type": "run", "ids": []string{sandbox.IDs.ActiveRun}, "query": "x"}).failed(t, "ids or filters")
	h.call("bulk_archive", map[string]any{"type": "run", "updated_before": "June"}).failed(t, "updated_before", "RFC 3339")
}

// TestBulkDeleteConfirmedOnce: with elicitation the person is asked once for the whole plan,
// sees the count and names, and types the count; a wrong count or a decline deletes nothing.
// Under --confirm elicit a client that cannot ask is refused; under token the plan_token is
// the confirmation.
func TestBulkDeleteConfirmedOnce(t *testing.T) {
	t.Parallel()
	forEachProtocol(t, func(t *testing.T, p protocol) {
		h, e := newElicitHarness(t, p, tools.ConfirmAuto)
		ctx := context.Background()
		archiveBoth := func(t *testing.T) []string {
			if _, err := h.api().Archive(ctx, tallyfy.KindRun, sandbox.IDs.CompleteRun); err != nil {
				t.Fatal(err)
			}
			return []string{sandbox.IDs.ArchivedRun, sandbox.IDs.CompleteRun}
		}
		answer := func(action mcp.ElicitationResponseAction, count any) {
			e.set(func(context.Context, mcp.ElicitationRequest) (*mcp.ElicitationResult, error) {
				return reply(action, map[string]any{"count": count}), nil
			})
		}
		h.run(t, "typed count", func(t *testing.T) {
			ids := archiveBoth(t)
			plan := decode[schemas.BulkResult](t, h.call("bulk_delete", map[string]any{"type": "run", "ids": ids}).ok(t))
			if len(e.requests()) != 0 {
				t.Fatal("the plan call asked the person")
			}
			answer(mcp.ElicitationResponseActionAccept, "2")
			done := decode[schemas.BulkResult](t, h.call("bulk_delete", executeArgs(t, plan)).ok(t))
			reqs := e.requests()
			if len(reqs) != 1 {
				t.Fatalf("asked %d times, want once", len(reqs))
			}
			contains(t, "question", reqs[0].Params.Message, "Permanently delete 2 archived processes", "Onboarding", "type the number of items: 2")
			if done.Totals["ok"] != 2 || !h.gone("run", ids[0]) || !h.gone("run", ids[1]) {
				t.Fatalf("done = %+v", done)
			}
			for _, r := range h.audit.outcomes() {
				if r.ResourceID != "" && r.Outcome == "ok" && r.Confirmation != "elicitation" {
					t.Errorf("item record confirmation %q, want elicitation", r.Confirmation)
				}
			}
			// The plan's signed approval record says when the plan was made (it once said 1970).
			approvals := 0
			for _, r := range h.audit.all() {
				if r.Outcome != "approval" || r.Approval == nil {
					continue
				}
				approvals++
				requested, err := time.Parse(time.RFC3339Nano, r.Approval.RequestedAt)
				decided, _ := time.Parse(time.RFC3339Nano, r.Approval.DecidedAt)
				if err != nil || time.Since(requested) > time.Hour || requested.After(decided) {
					t.Errorf("approval record requested_at %q, decided_at %q", r.Approval.RequestedAt, r.Approval.DecidedAt)
				}
			}
			if approvals == 0 {
				t.Error("no signed approval record for the confirmed plan")
			}
		})
		for _, c := range []struct {
			name   string
			action mcp.ElicitationResponseAction
			count  any
			want   string
		}{
			{"declined", mcp.ElicitationResponseActionDecline, "2", "declined"},
			{"wrong count", mcp.ElicitationResponseActionAccept, "3", "not the plan's 2 items"},
		} {
			h.run(t, c.name, func(t *testing.T) {
				ids := archiveBoth(t)
				plan := decode[schemas.BulkResult](t, h.call("bulk_delete", map[string]any{"type": "run", "ids": ids}).ok(t))
				answer(c.action, c.count)
				r := h.call("bulk_delete", executeArgs(t, plan))
				contains(t, "result", r.text, c.want, "nothing was deleted")
				if h.gone("run", ids[0]) || h.gone("run", ids[1]) {
					t.Fatal("deleted without the person's yes")
				}
				if n := h.deleteCount(); n != 0 {
					t.Fatalf("%d deletes reached Tallyfy", n)
				}
			})
		}
	})
	t.Run("elicit mode without elicitation", func(t *testing.T) {
		t.Parallel()
		h := newHarness(t, withConfirm(tools.ConfirmElicit))
		plan := decode[schemas.BulkResult](t, h.call("bulk_delete", map[string]any{"type": "run", "ids": []string{sandbox.IDs.ArchivedRun}}).ok(t))
		h.call("bulk_delete", executeArgs(t, plan)).failed(t, "Nothing was deleted", "--confirm elicit")
		if h.gone("run", sandbox.IDs.ArchivedRun) {
			t.Fatal("deleted")
		}
	})
}

// TestBulkDeleteFailsClosed: when the delete budget cannot be consulted (a shared store that
// is down), a bulk delete is refused at plan time, or at execute time, and deletes nothing.
func TestBulkDeleteFailsClosed(t *testing.T) {
	t.Parallel()
	for _, checkFails := range []bool{true, false} {
		h := newHarness(t, withBudget(outageBudget{checkFails: checkFails}))
		r := h.call("bulk_delete", map[string]any{"type": "run", "ids": []string{sandbox.IDs.ArchivedRun}})
		if checkFails {
			r.failed(t, "Nothing was deleted", "could not be checked")
		} else {
			h.call("bulk_delete", executeArgs(t, decode[schemas.BulkResult](t, r.ok(t)))).failed(t, "Nothing was deleted", "could not be checked")
		}
		if h.gone("run", sandbox.IDs.ArchivedRun) || h.deleteCount() != 0 {
			t.Fatal("deleted without a budget")
		}
	}
}

// TestBulkPlanSkipsWithReasons: protected items and process tasks are skipped with why, and
// the budget effect of a bulk delete plan is stated.
func TestBulkPlanSkipsWithReasons(t *testing.T) {
	t.Parallel()
	h := newHarness(t, withPolicy(tools.Policy{Protect: []string{sandbox.IDs.CompleteRun}, MaxDeletesPerHour: 5}))
	plan := decode[schemas.BulkResult](t, h.call("bulk_archive", map[string]any{"type": "run", "ids": []string{sandbox.IDs.ActiveRun, sandbox.IDs.CompleteRun}}).ok(t))
	if plan.Items[1].Outcome != "skipped" || !strings.Contains(plan.Items[1].Reason, "protected") {
		t.Fatalf("protected item: %+v", plan.Items[1])
	}
	tplan := decode[schemas.BulkResult](t, h.call("bulk_archive", map[string]any{"type": "task", "ids": []string{sandbox.IDs.LiveTask, sandbox.IDs.ProcessTask}}).ok(t))
	if tplan.Items[1].Outcome != "skipped" || !strings.Contains(tplan.Items[1].Reason, "inside process") {
		t.Fatalf("process task: %+v", tplan.Items[1])
	}
	dplan := h.call("bulk_delete", map[string]any{"type": "run", "ids": []string{sandbox.IDs.ArchivedRun}}).ok(t)
	contains(t, "delete plan", dplan.text, "uses 1 of the 5 permanent deletes left this hour")
	// A plan with nothing to act on says so and issues no token.
	none := decode[schemas.BulkResult](t, h.call("bulk_restore", map[string]any{"type": "run", "ids": []string{sandbox.IDs.ActiveRun}}).ok(t))
	if none.PlanToken != "" || none.Items[0].Reason != "already live" {
		t.Fatalf("nothing to do: %+v", none)
	}
}
