package tools

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/mark3labs/mcp-go/mcp"
	"github.com/mark3labs/mcp-go/server"

	"github.com/tallyfy-mcp/tallyfy-mcp/schemas"
	"github.com/tallyfy-mcp/tallyfy-mcp/tallyfy"
)

// The second call of a bulk tool: check the plan_token, have a bulk permanent delete
// confirmed once, reserve its delete slots at once, then run the items a few at a time.

// bulkElicitID names the one question a bulk delete asks.
const bulkElicitID = "confirm_bulk"

var errPlanForeign = errors.New("plan_token was issued for a different set of items, tool, organization, session or caller")

// planRefused answers a plan_token that cannot be used.
func planRefused(c *call, err error) outcome {
	why := strings.ReplaceAll(err.Error(), "confirm_token", "plan_token")
	return refused(why, mcp.NewToolResultError(fmt.Sprintf("Nothing was changed: %s. Call %s without plan_token to make a new plan.", why, c.tool.Name)))
}

// execute runs a plan.
func (ts *Toolset) execute(ctx context.Context, b *batch) outcome {
	c := b.c
	cl, err := ts.seal.open(b.args.PlanToken, ts.now())
	if err == nil && !cl.matches(c.client.OrgID(), c.tool.Name, setHash(b.ids), ts.sessionBinding(ctx), ts.callerBinding(ctx), "plan") {
		err = errPlanForeign
	}
	if err == nil && cl.Type != string(c.res.kind) {
		// Checked before anything is used up: the plan stays good for its own type.
		err = fmt.Errorf("plan_token was made for type %s, not %s: pass the plan's execute.arguments unchanged", cl.Type, c.res.kind)
	}
	if err != nil {
		return planRefused(c, err)
	}
	if cl.Batch != "" { // the execution's records carry the plan's batch_id (audit joins them)
		b.id, c.batch = cl.Batch, cl.Batch
	}
	sorted := slices.Sorted(slices.Values(b.ids))
	fps := map[string]string{}
	for i, id := range sorted {
		if len(cl.Items) >= (i+1)*8 {
			fps[id] = cl.Items[i*8 : (i+1)*8]
		}
	}
	how := ""
	if c.tool.Verb == VerbDelete {
		var o outcome
		var ok bool
		if how, o, ok = ts.confirmBulk(ctx, b, cl, fps); !ok {
			return o
		}
	}
	// The person may have answered after the plan expired: that answer cannot use it.
	if err := stillValid(cl, ts.now()); err != nil {
		return planRefused(c, err).confirmedBy(how)
	}
	var fresh bool
	if c.tool.Verb == VerbDelete {
		if fresh, err = ts.seal.consume(ctx, cl, ts.now(), ts.tokenLife(cl.Purpose)); err != nil {
			return storeRefusal(err)
		}
	} else {
		var local bool
		fresh, local, err = ts.seal.consumeReversible(ctx, cl, ts.now(), ts.tokenLife(cl.Purpose))
		if err != nil {
			return refused("shared state unavailable", mcp.NewToolResultError(fmt.Sprintf("Nothing was changed: the plan_token could not be marked used (%v). Try again shortly.", err)))
		}
		if local {
			ts.log.Warn("shared state store unreachable: bulk plan marked used in this process only", "tool", c.tool.Name, "batch_id", b.id)
		}
	}
	if !fresh {
		return planRefused(c, errTokenUsed).confirmedBy(how)
	}
	releases := make([]func(), len(b.ids))
	for i := range releases {
		releases[i] = func() {}
	}
	if c.tool.Verb == VerbDelete {
		// Every slot at once, or none: a plan is never half-executed for want of budget.
		taken, refusal, err := ts.budget.TakeN(context.WithoutCancel(ctx), ts.now(), len(b.ids))
		if err != nil || refusal != nil {
			o, _ := ts.budgetAnswer(refusal, err)
			return o.confirmedBy(how)
		}
		releases = taken
	}
	return ts.runBatch(ctx, b, fps, how, releases).confirmedBy(how)
}

// runBatch runs every item of the plan, BulkConcurrency at a time, and reports each.
func (ts *Toolset) runBatch(ctx context.Context, b *batch, fps map[string]string, how string, releases []func()) outcome {
	c := b.c
	runCtx, stop := context.WithCancel(ctx)
	defer stop()
	items := make([]schemas.BulkItem, len(b.ids))
	started := make([]bool, len(b.ids))
	var mu sync.Mutex
	var stopped string
	done := 0
	progress := newProgress(ctx, c.req, len(b.ids))
	ts.eachItem(runCtx, len(b.ids), func(i int) {
		mu.Lock()
		started[i] = true
		mu.Unlock()
		ic := ts.newCall(ctx, c.tool, c.req)
		ic.res, ic.id, ic.batch = c.res, b.ids[i], b.id
		o := ts.runBulkItem(runCtx, ic, fps[b.ids[i]], how, releases[i])
		if o.status != "ok" && o.status != "unknown" {
			releases[i]() // the item was not deleted: its slot goes back
		}
		res := ts.record(ctx, ic, o)
		item := itemOutcome(ic, o, res)
		mu.Lock()
		items[i] = item
		done++
		n := done
		if o.err != nil && stopsBatch(c, o.err) && stopped == "" {
			stopped = fmt.Sprintf("Tallyfy answered %d (%s)", tallyfy.StatusOf(o.err), describe(o.err))
			stop()
		}
		mu.Unlock()
		// By name, quoted (quoteName escapes control and bidi characters a name could carry), then ID.
		progress.send(n, fmt.Sprintf("%s %s (%s): %s", b.action(), quoteName(clip(item.Name, 80)), b.ids[i], item.Outcome))
	})
	cancelled := ctx.Err() != nil
	for i := range items {
		if started[i] {
			continue
		}
		releases[i]()
		why := "not run: the call was cancelled"
		if stopped != "" {
			why = "not run: the batch stopped because " + stopped
		}
		ic := ts.newCall(ctx, c.tool, c.req)
		ic.res, ic.id, ic.batch = c.res, b.ids[i], b.id
		ts.record(ctx, ic, ended("cancelled", why, mcp.NewToolResultError(why)))
		items[i] = schemas.BulkItem{ID: b.ids[i], Outcome: "not_run", Reason: why}
	}
	res := schemas.BulkResult{Status: "done", Action: b.action(), Type: string(c.res.kind), BatchID: b.id, Items: items, Totals: totals(items)}
	var changed []string
	for _, it := range items {
		if it.Outcome == "ok" {
			changed = append(changed, it.ID)
		}
	}
	t := res.Totals
	res.Message = fmt.Sprintf("%s: %d ok, %d already so (no-op), %d skipped, %d failed, %d not run.", capital(b.action()), t["ok"], t["noop"], t["skipped"], t["failed"], t["not_run"])
	status := "done"
	switch {
	case stopped != "":
		res.Status, status = "stopped", "stopped"
		res.Message = "Stopped: " + stopped + ", which every remaining item would meet too. Check the access token's rights (a Tallyfy admin is needed to delete processes and templates). " + res.Message
	case cancelled:
		res.Status, status = "cancelled", "cancelled"
		res.Message = "Cancelled: the remaining items were not run. " + res.Message
	}
	if c.tool.Verb != VerbDelete && len(changed) > 0 {
		res.Undo = &schemas.BulkCall{Tool: b.inverse(), Arguments: map[string]any{"type": string(c.res.kind), "ids": changed}}
		res.Message += fmt.Sprintf(" Undo with %s on the same ids (it plans first).", b.inverse())
	}
	if t["failed"] > 0 {
		res.Message += " Failed items are listed with why; they can be retried with a new plan."
	}
	detail := fmt.Sprintf("ok %d, noop %d, skipped %d, failed %d, not_run %d", t["ok"], t["noop"], t["skipped"], t["failed"], t["not_run"])
	return ended(status, detail, mcp.NewToolResultStructured(res, bulkText(res)))
}

// runBulkItem is one item of an executing plan: the pipeline's guards and resolve (which
// reads it again), the plan check, and the verb.
func (ts *Toolset) runBulkItem(ctx context.Context, c *call, fp, how string, release func()) outcome {
	if o, ended := ts.resolve(ctx, c); ended {
		return o
	}
	e := *c.target
	if fp == "" || itemFP(e) != fp {
		return refused("changed since the plan", mcp.NewToolResultError(fmt.Sprintf("%s %q changed since the plan (its name, state or last update differ): skipped, nothing done to it. Make a new plan to include it.",
			capital(c.res.noun), e.Name)))
	}
	if c.tool.Verb != VerbDelete {
		return ts.lifecycle(ctx, c)
	}
	if !e.Archived {
		return refused("not archived", mcp.NewToolResultError("not archived: skipped"))
	}
	o := ts.sendDelete(ctx, c, e, how, release)
	if o.entity == nil {
		o = o.about(e)
	}
	return o.confirmedBy(how)
}

// itemOutcome is an item's line in the bulk result.
func itemOutcome(c *call, o outcome, res *mcp.CallToolResult) schemas.BulkItem {
	e := tallyfy.Entity{Kind: c.res.kind, ID: c.id}
	switch {
	case o.entity != nil:
		e = *o.entity
	case c.target != nil:
		e = *c.target
	}
	state := ""
	if e.Name != "" {
		state = stateWord(e.Archived)
	}
	item := schemas.BulkItem{ID: c.id, Name: e.Name, State: state, LastUpdated: e.LastUpdated}
	text := resultText(res)
	switch o.status {
	case "ok":
		item.Outcome = "ok"
		if c.tool.Verb == VerbDelete {
			item.State = "deleted"
		}
	case "noop":
		item.Outcome = "noop"
	case "refused", "cancelled":
		item.Outcome, item.Reason = "skipped", o.detail
		if o.detail == "" || o.detail == "process task" || o.detail == "protected" {
			item.Reason = clip(text, 300)
		}
	case "unknown":
		item.Outcome, item.Reason = "unknown", clip(text, 300)
	default:
		item.Outcome, item.Reason = "failed", clip(text, 300)
	}
	if res != nil && res.IsError && item.Outcome == "ok" { // the audit record failed
		item.Outcome, item.Reason = "unknown", clip(text, 300)
	}
	return item
}

func resultText(res *mcp.CallToolResult) string {
	if res == nil {
		return ""
	}
	var parts []string
	for _, ct := range res.Content {
		if tc, ok := ct.(mcp.TextContent); ok {
			parts = append(parts, tc.Text)
		}
	}
	return strings.Join(parts, " ")
}

// confirmBulk has a bulk permanent delete confirmed once for the whole plan: by the person
// (elicitation: they type the number of items) or by the plan_token itself (the plan call's
// answer was the preview, as with confirm_token), per --confirm. ok false: o ends the call.
func (ts *Toolset) confirmBulk(ctx context.Context, b *batch, plan claims, fps map[string]string) (how string, o outcome, ok bool) {
	c := b.c
	if answer := server.ElicitationResponse(c.req.Params.InputResponses, bulkElicitID); answer != nil {
		// 2026-07-28: the client asked the person and called again with the answer.
		st, err := ts.seal.open(c.req.Params.RequestState, ts.now())
		if err == nil && (st.Purpose != "bulkelicit" || st.ID != plan.Nonce) {
			err = errTokenForeign
		}
		if err != nil {
			return "elicitation", refused("elicitation state: "+err.Error(), mcp.NewToolResultError(fmt.Sprintf("Nothing was deleted: the confirmation could not be verified (%v). Call %s again to ask the person again.", err, c.tool.Name))), false
		}
		return ts.checkCount(b, answer)
	}
	switch {
	case ts.opts.Confirm == ConfirmOff:
		return "off", outcome{}, true
	case ts.opts.Confirm != ConfirmToken && canElicit(ctx):
		return ts.elicitBulk(ctx, b, plan, fps)
	case ts.opts.Confirm == ConfirmElicit:
		return "elicitation", refused("client cannot elicit", mcp.NewToolResultError(
			"Nothing was deleted: this server confirms permanent deletes by asking the person directly (--confirm elicit), and this client or transport cannot show such a question. Use a client that supports MCP elicitation, or ask the operator to run with --confirm auto.")), false
	}
	return "token", outcome{}, true // the plan call's answer was the preview the person saw
}

// elicitBulk asks the person to confirm the whole plan by typing its count.
func (ts *Toolset) elicitBulk(ctx context.Context, b *batch, plan claims, fps map[string]string) (string, outcome, bool) {
	c := b.c
	const how = "elicitation"
	// Read the items for their names (and to refuse a plan gone stale before asking).
	names := make([]string, len(b.ids))
	stale := make([]bool, len(b.ids))
	ts.eachItem(ctx, len(b.ids), func(i int) {
		e, err := c.client.Lookup(ctx, c.res.kind, b.ids[i])
		names[i] = b.ids[i]
		if err == nil {
			names[i] = e.Name
			stale[i] = itemFP(e) != fps[b.ids[i]]
		}
	})
	if slices.Contains(stale, true) {
		return how, refused("changed since the plan", mcp.NewToolResultError(fmt.Sprintf("Nothing was deleted: some items changed since the plan. Call %s without plan_token to make a new plan, and confirm again.", c.tool.Name))), false
	}
	shown := names
	more := ""
	if len(names) > 20 {
		shown, more = names[:20], fmt.Sprintf(", and %d more", len(names)-20)
	}
	n := len(b.ids)
	params := mcp.ElicitationParams{
		Message: fmt.Sprintf("Permanently delete %d archived %s: %s%s? This destroys %s for each. It cannot be undone. To confirm, type the number of items: %d",
			n, plural(c.res, n), quoteAll(shown), more, c.res.destroys, n),
		RequestedSchema: map[string]any{
			"type": "object",
			"properties": map[string]any{
				"count": map[string]any{"type": "string", "title": "Number of items to delete", "description": "Type: " + strconv.Itoa(n)},
			},
			"required": []string{"count"},
		},
	}
	st := claims{Org: plan.Org, Tool: plan.Tool, ID: plan.Nonce, Session: plan.Session, Caller: plan.Caller, Exp: ts.now().Add(ts.opts.ElicitTimeout + time.Minute).Unix(), Nonce: newNonce(), Purpose: "bulkelicit"}
	if mcp.IsModernProtocol(server.RequestProtocolVersion(ctx)) {
		return how, ended("confirmation_required", "", server.NewInputRequestBuilder(ts.seal.seal(st)).Elicit(bulkElicitID, params).ToolResult()).confirmedBy(how), false
	}
	ectx, cancel := context.WithTimeout(ctx, ts.opts.ElicitTimeout)
	defer cancel()
	defer context.AfterFunc(ts.stopping, cancel)()
	answer, err := server.ServerFromContext(ctx).RequestElicitation(ectx, mcp.ElicitationRequest{Params: params})
	if err != nil {
		why := "the question could not be shown: " + err.Error()
		if errors.Is(err, context.DeadlineExceeded) {
			why = fmt.Sprintf("nobody answered within %s", ts.opts.ElicitTimeout)
		}
		return how, bulkCancelled(b, "elicitation failed", "Nothing was deleted: "+why+". Ask the person whether they still want these deleted, then call again."), false
	}
	return ts.checkCount(b, answer)
}

// checkCount checks the person's answer: accepted, with the plan's count typed.
func (ts *Toolset) checkCount(b *batch, answer *mcp.ElicitationResult) (string, outcome, bool) {
	const how = "elicitation"
	switch answer.Action {
	case mcp.ElicitationResponseActionAccept:
	case mcp.ElicitationResponseActionDecline:
		return how, bulkCancelled(b, "declined", "The person declined: nothing was deleted. Do not retry unless they ask."), false
	default:
		return how, bulkCancelled(b, "dismissed", "The person dismissed the question: nothing was deleted."), false
	}
	typed := ""
	if m, ok := answer.Content.(map[string]any); ok {
		switch v := m["count"].(type) {
		case string:
			typed = v // exactly the digits: " 2", "2x" or "12" is not 2
		case float64:
			if v == math.Trunc(v) {
				typed = strconv.Itoa(int(v))
			}
		}
	}
	if typed != strconv.Itoa(len(b.ids)) {
		return how, bulkCancelled(b, "count mismatch", fmt.Sprintf("The number typed (%q) is not the plan's %d items: nothing was deleted. Call %s again if the person still wants them deleted.", clip(typed, 20), len(b.ids), b.c.tool.Name)), false
	}
	return how, outcome{}, true
}

// bulkCancelled is a bulk delete the person did not confirm: every item not run.
func bulkCancelled(b *batch, detail, msg string) outcome {
	items := make([]schemas.BulkItem, len(b.ids))
	for i, id := range b.ids {
		items[i] = schemas.BulkItem{ID: id, Outcome: "not_run", Reason: "not confirmed"}
	}
	res := schemas.BulkResult{Status: "cancelled", Action: b.action(), Type: string(b.c.res.kind), BatchID: b.id, Items: items, Totals: totals(items), Message: msg}
	return ended("cancelled", detail, mcp.NewToolResultStructured(res, bulkText(res))).confirmedBy("elicitation")
}
