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
	"github.com/tallyfy-mcp/tallyfy-mcp/tools/confirm"
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
	cl, err := ts.seal.Open(b.args.PlanToken, ts.now())
	if err == nil && !cl.Matches(c.client.OrgID(), c.tool.Name, confirm.SetHash(b.ids), ts.sessionBinding(ctx), ts.callerBinding(ctx), confirm.ForPlan) {
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
	fps := cl.PlanFPs(b.ids)
	var how confirmation
	if c.tool.Verb == VerbDelete || approvalRule(ctx, c.tool) != nil {
		var o outcome
		var ok bool
		if how, o, ok = ts.confirmBulk(ctx, b, cl, fps); !ok {
			return o
		}
	}
	return ts.runPlan(ctx, b, cl, fps, how)
}

// runPlan runs a plan once it is confirmed (how): uses the plan (or the App's approval of it)
// up, writes its approval record, reserves every delete slot at once, then runs the items.
func (ts *Toolset) runPlan(ctx context.Context, b *batch, cl confirm.Claims, fps map[string]string, how confirmation) outcome {
	c := b.c
	// The person may have answered after the plan expired: that answer cannot use it.
	if err := cl.StillValid(ts.now()); err != nil {
		if how.channel == confirm.App {
			return appRefused(err.Error())
		}
		return planRefused(c, err).confirmedWith(how)
	}
	var fresh bool
	var err error
	if c.tool.Verb == VerbDelete {
		if fresh, err = ts.seal.Consume(ctx, cl, ts.now(), ts.tokenLife(cl.Purpose)); err != nil {
			return storeRefusal(err)
		}
	} else {
		var local bool
		fresh, local, err = ts.seal.ConsumeReversible(ctx, cl, ts.now(), ts.tokenLife(cl.Purpose))
		if err != nil {
			return refused("shared state unavailable", mcp.NewToolResultError(fmt.Sprintf("Nothing was changed: the plan_token could not be marked used (%v). Try again shortly.", err)))
		}
		if local {
			ts.log.Warn("shared state store unreachable: bulk plan marked used in this process only", "tool", c.tool.Name, "batch_id", b.id)
		}
	}
	if !fresh {
		if how.channel == confirm.App {
			return appRefused(confirm.ErrTokenUsed.Error())
		}
		return planRefused(c, confirm.ErrTokenUsed).confirmedWith(how)
	}
	if o, ok := ts.useConfirmation(ctx, c, how); !ok { // the plan's signed approval record
		return o.confirmedWith(how)
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
			return o.confirmedWith(how)
		}
		releases = taken
	}
	return ts.runBatch(ctx, b, fps, how, releases).confirmedWith(how)
}

// runBatch runs every item of the plan, BulkConcurrency at a time, and reports each.
func (ts *Toolset) runBatch(ctx context.Context, b *batch, fps map[string]string, how confirmation, releases []func()) outcome {
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
	res := schemas.BulkResult{Status: "done", Action: b.action(), Type: string(c.res.kind), BatchID: b.id, Items: items, Totals: totals(items),
		Confirmation: string(how.channel), ConfirmedBy: how.by, ApprovalID: how.approvalID}
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
func (ts *Toolset) runBulkItem(ctx context.Context, c *call, fp string, how confirmation, release func()) outcome {
	if o, ended := ts.resolve(ctx, c); ended {
		return o
	}
	e := *c.target
	if fp == "" || confirm.ItemFP(e) != fp {
		return refused("changed since the plan", mcp.NewToolResultError(fmt.Sprintf("%s %q changed since the plan (its name, state or last update differ): skipped, nothing done to it. Make a new plan to include it.",
			capital(c.res.noun), e.Name)))
	}
	if c.tool.Verb != VerbDelete {
		return ts.lifecycle(ctx, c)
	}
	if !e.Archived {
		return refused("not archived", mcp.NewToolResultError("not archived: skipped"))
	}
	o := ts.sendDelete(ctx, c, how, e, release)
	if o.entity == nil {
		o = o.about(e)
	}
	return o.confirmedWith(how)
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

// confirmBulk has a bulk permanent delete (or, under the two-person rule, a bulk archive)
// confirmed once for the whole plan, through the strongest channel (channel.go): the person
// types the number of items (App, elicitation, approval page), or the plan_token itself is
// the token (the plan call's answer was the preview). ok false: o ends the call.
func (ts *Toolset) confirmBulk(ctx context.Context, b *batch, plan confirm.Claims, fps map[string]string) (how confirmation, o outcome, ok bool) {
	c := b.c
	if answer := server.ElicitationResponse(c.req.Params.InputResponses, bulkElicitID); answer != nil {
		// 2026-07-28: the client asked the person and called again with the answer.
		st, err := ts.seal.Open(c.req.Params.RequestState, ts.now())
		if err == nil && (st.Purpose != confirm.ForBulkElicit || st.ID != plan.Nonce) {
			err = confirm.ErrTokenForeign
		}
		if err != nil {
			return confirmation{channel: confirm.Elicitation}, refused("elicitation state: "+err.Error(), mcp.NewToolResultError(fmt.Sprintf("Nothing was deleted: the confirmation could not be verified (%v). Call %s again to ask the person again.", err, c.tool.Name))).confirmedBy(confirm.Elicitation), false
		}
		return ts.checkCount(ctx, b, plan, fps, answer)
	}
	// The plan_token is not a confirm_token: it is the token channel only where allowed.
	ch, o, ok := ts.chooseChannel(ctx, c.tool, false, approvalRule(ctx, c.tool))
	if !ok {
		return confirmation{}, o, false
	}
	switch ch {
	case confirm.Off:
		return confirmation{channel: confirm.Off}, outcome{}, true
	case confirm.Token: // the plan call's answer was the preview the person may have seen
		return ts.claimsConfirmation(ctx, c, plan, confirm.Token, "", planItems(b, fps), false), outcome{}, true
	case confirm.Elicitation:
		return ts.elicitBulk(ctx, b, plan, fps)
	case confirm.App:
		// The person confirms in the view (app.go): a plan_token never confirms for them.
		how := confirmation{channel: confirm.App}
		return how, refused("plan_token with an app client", mcp.NewToolResultError(
			"Nothing was deleted: in this client the person confirms a bulk delete in the Tallyfy review view, not with a plan_token. Call bulk_delete without plan_token to show them the plan.")).confirmedWith(how), false
	default:
		return ts.awaitBulkApproval(ctx, b, plan, fps, ch)
	}
}

// planItems are a plan's items and fingerprints, for its approval record.
func planItems(b *batch, fps map[string]string) []confirm.ApprovedItem {
	sorted := slices.Sorted(slices.Values(b.ids))
	out := make([]confirm.ApprovedItem, len(sorted))
	for i, id := range sorted {
		out[i] = confirm.ApprovedItem{ID: id, FP: fps[id]}
	}
	return out
}

// readPlanItems reads a plan's items for the person (names, state, last update), and reports
// whether any changed since the plan.
func (ts *Toolset) readPlanItems(ctx context.Context, b *batch, fps map[string]string) ([]confirm.ApprovalItem, bool) {
	c := b.c
	items := make([]confirm.ApprovalItem, len(b.ids))
	stale := make([]bool, len(b.ids))
	ts.eachItem(ctx, len(b.ids), func(i int) {
		id := b.ids[i]
		items[i] = confirm.ApprovalItem{ID: id, Name: id, FP: fps[id]}
		if e, err := c.client.Lookup(ctx, c.res.kind, id); err == nil {
			items[i].Name, items[i].State, items[i].LastUpdated = e.Name, stateWord(e.Archived), e.LastUpdated
			stale[i] = confirm.ItemFP(e) != fps[id]
		}
	})
	return items, slices.Contains(stale, true)
}

// awaitBulkApproval is the approval flow of a plan, through channel ch: parked under the
// plan's nonce, so the same execute call (same plan_token) finds it again.
func (ts *Toolset) awaitBulkApproval(ctx context.Context, b *batch, plan confirm.Claims, fps map[string]string, ch confirm.Confirmation) (confirmation, outcome, bool) {
	c := b.c
	key := ts.requestKey(ctx, c.client.OrgID(), c.tool.Name, "plan:"+plan.Nonce)
	pa, err := ts.approvals.For(ctx, key)
	if err != nil {
		return confirmation{}, storeRefusal(err), false
	}
	now := ts.now()
	if pa != nil {
		how := confirmation{channel: pa.Channel, by: pa.DecidedBy, approvalID: pa.ID}
		switch {
		case pa.Status == confirm.ApprovalApproved && pa.Expired(now):
			ts.approvals.Forget(ctx, key)
			return how, refused("approval expired", mcp.NewToolResultError(fmt.Sprintf("Nothing was changed: the approval expired before this call. Call %s without plan_token to make a new plan.", c.tool.Name))).confirmedWith(how), false
		case pa.Status == confirm.ApprovalApproved:
			// The plan_token is used once by this execution: that is the approval's single use.
			// The request stays linked, so a replay is refused as a used plan_token.
			return how, outcome{}, true
		case pa.Status == confirm.ApprovalDeclined:
			ts.approvals.Forget(ctx, key)
			return how, bulkCancelled(b, "declined", pa.DeclinedBy()+": nothing was changed. Do not ask again unless the person wants it.", how), false
		case !pa.Expired(now):
			return how, ts.pendingBulk(b, pa, "", true), false
		}
	}
	items, stale := ts.readPlanItems(ctx, b, fps)
	if stale {
		return confirmation{channel: ch}, refused("changed since the plan", mcp.NewToolResultError(fmt.Sprintf("Nothing was changed: some items changed since the plan. Call %s without plan_token to make a new plan.", c.tool.Name))).confirmedBy(ch), false
	}
	left := -1
	if c.tool.Verb == VerbDelete {
		if left, err = ts.budget.Room(context.WithoutCancel(ctx), now); err != nil {
			o, _ := ts.budgetAnswer(nil, err)
			return confirmation{}, o, false
		}
	}
	exp := now.Add(ts.opts.ApprovalTTL)
	if planExp := time.Unix(plan.Exp, 0); planExp.Before(exp) {
		exp = planExp // the plan_token cannot outlive its plan
	}
	pa = ts.newPendingApproval(ctx, c, ch, key, exp, left, items)
	pa.Noun = plural(c.res, len(items))
	if ch == confirm.ApprovalPage && !pa.TwoPerson && ts.urlElicitChannel(ctx) {
		return ts.bulkThroughURL(ctx, b, pa) // the client opens the page (url_elicitation.go)
	}
	where, o, ok := ts.announce(ctx, pa)
	if !ok {
		return confirmation{}, o, false
	}
	return confirmation{channel: ch, approvalID: pa.ID}, ts.pendingBulk(b, pa, where, false), false
}

// bulkThroughURL is a plan's approval through URL-mode elicitation: it asks on the page and,
// approved, lets this same call execute the plan.
func (ts *Toolset) bulkThroughURL(ctx context.Context, b *batch, pa *confirm.PendingApproval) (confirmation, outcome, bool) {
	verb := b.action()
	if b.c.tool.Verb == VerbDelete {
		verb = "permanently delete"
	}
	msg := fmt.Sprintf("Approve or decline the plan to %s %d %s on this server's approval page. It cannot be undone. On the page, type the number of items to approve.", verb, pa.Count(), pa.Noun)
	r, o, ok := ts.askOnPage(ctx, pa, msg)
	switch {
	case !ok:
		return confirmation{}, o, false
	case r.answer == pageAnnounced:
		return confirmation{channel: pa.Channel, approvalID: pa.ID}, ts.pendingBulk(b, r.pa, r.where, false), false
	case r.answer == pageUndecided:
		return confirmation{channel: pa.Channel, approvalID: pa.ID}, ts.pendingBulk(b, r.pa, "", true), false
	case r.answer == pageRefused:
		return r.how, bulkCancelled(b, "url elicitation refused", r.msg+": nothing was changed. Do not ask again unless the person wants it.", r.how), false
	}
	how := confirmation{channel: r.pa.Channel, by: r.pa.DecidedBy, approvalID: r.pa.ID}
	switch {
	case r.pa.Status == confirm.ApprovalDeclined:
		ts.approvals.Forget(ctx, pa.RequestKey)
		return how, bulkCancelled(b, "declined", r.pa.DeclinedBy()+": nothing was changed. Do not ask again unless the person wants it.", how), false
	case r.pa.Expired(ts.now()):
		ts.approvals.Forget(ctx, pa.RequestKey)
		return how, refused("approval expired", mcp.NewToolResultError(fmt.Sprintf("Nothing was changed: the approval expired before it could be used. Call %s without plan_token to make a new plan.", b.c.tool.Name))).confirmedWith(how), false
	}
	// Approved: the plan_token is used once by this execution, as when the agent calls again.
	return how, outcome{}, true
}

// pendingBulk answers a plan waiting for the person.
func (ts *Toolset) pendingBulk(b *batch, pa *confirm.PendingApproval, where string, still bool) outcome {
	c := b.c
	exp := pa.ExpiresAt.UTC().Format(time.RFC3339)
	n := pa.Count()
	verb := b.action()
	if c.tool.Verb == VerbDelete {
		verb = "permanently delete"
	}
	var msg string
	if still {
		msg = fmt.Sprintf("Still waiting: %s has not decided yet on the plan to %s %d %s. Nothing changed. Call %s again with the same arguments (plan_token) later (the request expires %s).",
			pa.WhoDecides(), verb, n, pa.Noun, c.tool.Name, exp)
	} else {
		msg = fmt.Sprintf("Nothing changed yet: the plan to %s %d %s must be approved by %s on the %s, outside this chat, typing the number of items. %sThen call %s again with the same arguments (plan_token): it runs only if they approved (the request expires %s). Do not claim anything was done before that.",
			verb, n, pa.Noun, pa.WhoDecides(), pa.Channel.Place(), sentence(where), c.tool.Name, exp)
	}
	items := make([]schemas.BulkItem, len(pa.Items))
	for i, it := range pa.Items {
		items[i] = schemas.BulkItem{ID: it.ID, Name: it.Name, State: it.State, LastUpdated: it.LastUpdated, Outcome: "not_run", Reason: "waiting for approval"}
	}
	res := schemas.BulkResult{Status: "approval_pending", Action: b.action(), Type: string(c.res.kind), BatchID: b.id, Items: items, Totals: totals(items),
		ExpiresAt: exp, Confirmation: string(pa.Channel), ApprovalID: pa.ID, Message: msg}
	return ended("approval_pending", "", mcp.NewToolResultStructured(res, bulkText(res))).confirmedWith(confirmation{channel: pa.Channel, approvalID: pa.ID})
}

// elicitBulk asks the person to confirm the whole plan by typing its count.
func (ts *Toolset) elicitBulk(ctx context.Context, b *batch, plan confirm.Claims, fps map[string]string) (confirmation, outcome, bool) {
	c := b.c
	how := confirmation{channel: confirm.Elicitation}
	// Read the items for their names (and to refuse a plan gone stale before asking).
	read, stale := ts.readPlanItems(ctx, b, fps)
	if stale {
		return how, refused("changed since the plan", mcp.NewToolResultError(fmt.Sprintf("Nothing was deleted: some items changed since the plan. Call %s without plan_token to make a new plan, and confirm again.", c.tool.Name))).confirmedWith(how), false
	}
	names := make([]string, len(read))
	for i, it := range read {
		names[i] = it.Name
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
	st := confirm.Claims{Org: plan.Org, Tool: plan.Tool, ID: plan.Nonce, Session: plan.Session, Caller: plan.Caller, Exp: ts.now().Add(ts.opts.ElicitTimeout + time.Minute).Unix(), Nonce: confirm.NewNonce(), Purpose: confirm.ForBulkElicit}
	if mcp.IsModernProtocol(server.RequestProtocolVersion(ctx)) {
		return how, ended("confirmation_required", "", server.NewInputRequestBuilder(ts.seal.Seal(st)).Elicit(bulkElicitID, params).ToolResult()).confirmedWith(how), false
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
		return how, bulkCancelled(b, "elicitation failed", "Nothing was deleted: "+why+". Ask the person whether they still want these deleted, then call again.", how), false
	}
	return ts.checkCount(ctx, b, plan, fps, answer)
}

// checkCount checks the person's answer: accepted, with the plan's count typed.
func (ts *Toolset) checkCount(ctx context.Context, b *batch, plan confirm.Claims, fps map[string]string, answer *mcp.ElicitationResult) (confirmation, outcome, bool) {
	how := confirmation{channel: confirm.Elicitation, by: ts.whoAsks(ctx)}
	switch answer.Action {
	case mcp.ElicitationResponseActionAccept:
	case mcp.ElicitationResponseActionDecline:
		return how, bulkCancelled(b, "declined", "The person declined: nothing was deleted. Do not retry unless they ask.", how), false
	default:
		return how, bulkCancelled(b, "dismissed", "The person dismissed the question: nothing was deleted.", how), false
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
		return how, bulkCancelled(b, "count mismatch", fmt.Sprintf("The number typed (%q) is not the plan's %d items: nothing was deleted. Call %s again if the person still wants them deleted.", clip(typed, 20), len(b.ids), b.c.tool.Name), how), false
	}
	return ts.claimsConfirmation(ctx, b.c, plan, confirm.Elicitation, how.by, planItems(b, fps), false), outcome{}, true
}

// bulkCancelled is a bulk delete the person did not confirm: every item not run.
func bulkCancelled(b *batch, detail, msg string, how confirmation) outcome {
	items := make([]schemas.BulkItem, len(b.ids))
	for i, id := range b.ids {
		items[i] = schemas.BulkItem{ID: id, Outcome: "not_run", Reason: "not confirmed"}
	}
	res := schemas.BulkResult{Status: "cancelled", Action: b.action(), Type: string(b.c.res.kind), BatchID: b.id, Items: items, Totals: totals(items),
		Confirmation: string(how.channel), ConfirmedBy: how.by, ApprovalID: how.approvalID, Message: msg}
	return ended("cancelled", detail, mcp.NewToolResultStructured(res, bulkText(res))).confirmedWith(how)
}
