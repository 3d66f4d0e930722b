package tools

import (
	"context"
	"fmt"
	"math"
	"slices"
	"strconv"
	"time"

	"github.com/mark3labs/mcp-go/mcp"

	"github.com/tallyfy-mcp/tallyfy-mcp/schemas"
	"github.com/tallyfy-mcp/tallyfy-mcp/tools/confirm"
)

// A plan's confirmation: the channels ask through ask.go, as for a single delete.

// bulkElicitID names the one question a bulk delete asks.
const bulkElicitID = "confirm_bulk"

// confirmBulk has a bulk permanent delete (or, under the two-person rule, a bulk archive)
// confirmed once for the whole plan, through the strongest channel (channel.go): the person
// types the number of items (App, elicitation, approval page), or the plan_token itself is
// the token (the plan call's answer was the preview). ok false: o ends the call.
func (ts *Toolset) confirmBulk(ctx context.Context, b *batch, plan confirm.Claims, fps map[string]string) (how confirmation, o outcome, ok bool) {
	c := b.c
	if answer := answered(c, bulkElicitID); answer != nil {
		// 2026-07-28: the client asked the person and called again with the answer.
		_, o, ok := ts.openState(c, c.req.Params.RequestState, func(st confirm.Claims) bool {
			return st.Purpose == confirm.ForBulkElicit && st.ID == plan.Nonce
		})
		if !ok {
			return confirmation{channel: confirm.Elicitation}, o, false
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
		if e, err := c.client.Lookup(ctx, c.kind.Kind, id); err == nil {
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
	now := ts.opts.Now()
	if pa != nil {
		switch {
		case pa.Status != confirm.ApprovalPending:
			return ts.planDecision(ctx, b, pa, "before this call")
		case !pa.Expired(now):
			return decidedOn(pa), pendingBulk(b, pa, "", true), false
		}
	}
	items, stale := ts.readPlanItems(ctx, b, fps)
	if stale {
		return confirmation{channel: ch}, refused("changed since the plan", mcp.NewToolResultError(fmt.Sprintf("Nothing was changed: some items changed since the plan. Call %s without plan_token to make a new plan.", c.tool.Name))).confirmedBy(ch), false
	}
	left := -1
	if c.tool.Verb == VerbDelete {
		if left, err = ts.opts.Budget.Room(context.WithoutCancel(ctx), now); err != nil {
			o, _ := ts.budgetAnswer(nil, err)
			return confirmation{}, o, false
		}
	}
	exp := now.Add(ts.opts.ApprovalTTL)
	if planExp := time.Unix(plan.Exp, 0); planExp.Before(exp) {
		exp = planExp // the plan_token cannot outlive its plan
	}
	pa = ts.newPendingApproval(ctx, c, ch, key, exp, left, items)
	msg := fmt.Sprintf("Approve or decline the plan to %s %d %s on this server's approval page. It cannot be undone. On the page, type the number of items to approve.", b.verbPhrase(), pa.Count(), pa.Noun)
	decided, o, ok := ts.putToPerson(ctx, planSubject(b), pa, msg)
	if !ok {
		return confirmation{}, o, false
	}
	return ts.planDecision(ctx, b, decided, "before it could be used")
}

// planDecision acts on a person's decision on a plan: approved and not expired (when: before
// what), the plan runs in this call; declined or expired, o says so.
func (ts *Toolset) planDecision(ctx context.Context, b *batch, pa *confirm.PendingApproval, when string) (confirmation, outcome, bool) {
	how := decidedOn(pa)
	switch {
	case pa.Status == confirm.ApprovalDeclined:
		ts.approvals.Forget(ctx, pa.RequestKey)
		return how, planSubject(b).declined(pa), false
	case pa.Expired(ts.opts.Now()):
		ts.approvals.Forget(ctx, pa.RequestKey)
		return how, refused("approval expired", mcp.NewToolResultError(fmt.Sprintf("Nothing was changed: the approval expired %s. Call %s without plan_token to make a new plan.", when, b.c.tool.Name))).confirmedWith(how), false
	}
	// Approved: the plan_token is used once by this execution, which is the approval's single
	// use. The request stays linked, so a replay is refused as a used plan_token.
	return how, outcome{}, true
}

// pendingBulk answers a plan waiting for the person.
func pendingBulk(b *batch, pa *confirm.PendingApproval, where string, still bool) outcome {
	c := b.c
	exp := pa.ExpiresAt.UTC().Format(time.RFC3339)
	msg := fmt.Sprintf("Nothing changed yet: the plan to %s %d %s must be approved by %s on the %s, outside this chat, typing the number of items. %sThen call %s again with the same arguments (plan_token): it runs only if they approved (the request expires %s). Do not claim anything was done before that.",
		b.verbPhrase(), pa.Count(), pa.Noun, pa.WhoDecides(), pa.Channel.Place(), sentence(where), c.tool.Name, exp)
	if still {
		msg = fmt.Sprintf("Still waiting: %s has not decided yet on the plan to %s %d %s. Nothing changed. Call %s again with the same arguments (plan_token) later (the request expires %s).",
			pa.WhoDecides(), b.verbPhrase(), pa.Count(), pa.Noun, c.tool.Name, exp)
	}
	items := make([]schemas.BulkItem, len(pa.Items))
	for i, it := range pa.Items {
		items[i] = schemas.BulkItem{ID: it.ID, Name: it.Name, State: it.State, LastUpdated: it.LastUpdated, Outcome: schemas.NotRun, Reason: "waiting for approval"}
	}
	res := schemas.BulkResult{Status: schemas.ApprovalPending, Action: b.action(), Type: string(c.kind.Kind), BatchID: b.id, Items: items, Totals: totals(items),
		ExpiresAt: exp, Confirmation: string(pa.Channel), ApprovalID: pa.ID, Message: msg}
	return ended(schemas.ApprovalPending, "", mcp.NewToolResultStructured(res, bulkText(res))).confirmedWith(confirmation{channel: pa.Channel, approvalID: pa.ID})
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
	q := question{id: bulkElicitID, field: "count", title: "Number of items to delete", want: strconv.Itoa(n),
		message: fmt.Sprintf("Permanently delete %d archived %s: %s%s? This destroys %s for each. It cannot be undone. To confirm, type the number of items: %d",
			n, plural(c.kind, n), quoteAll(shown), more, c.kind.destroys, n)}
	st := confirm.Claims{Org: plan.Org, Tool: plan.Tool, ID: plan.Nonce, Session: plan.Session, Caller: plan.Caller, Exp: ts.opts.Now().Add(ts.opts.ElicitTimeout + time.Minute).Unix(), Nonce: confirm.NewNonce(), Purpose: confirm.ForBulkElicit}
	answer, o, ok := ts.ask(ctx, planSubject(b), q, ts.seal.Seal(st))
	if !ok {
		return how, o, false
	}
	return ts.checkCount(ctx, b, plan, fps, answer)
}

// checkCount checks the person's answer: accepted, with the plan's count typed.
func (ts *Toolset) checkCount(ctx context.Context, b *batch, plan confirm.Claims, fps map[string]string, answer *mcp.ElicitationResult) (confirmation, outcome, bool) {
	how := confirmation{channel: confirm.Elicitation, by: ts.whoAsks(ctx)}
	v, o, ok := planSubject(b).typedIn(answer, "count", how)
	if !ok {
		return how, o, false
	}
	typed := ""
	switch v := v.(type) {
	case string:
		typed = v // exactly the digits: " 2", "2x" or "12" is not 2
	case float64:
		if v == math.Trunc(v) {
			typed = strconv.Itoa(int(v))
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
		items[i] = schemas.BulkItem{ID: id, Outcome: schemas.NotRun, Reason: "not confirmed"}
	}
	res := schemas.BulkResult{Status: schemas.Cancelled, Action: b.action(), Type: string(b.c.kind.Kind), BatchID: b.id, Items: items, Totals: totals(items),
		Confirmation: string(how.channel), ConfirmedBy: how.by, ApprovalID: how.approvalID, Message: msg}
	return ended(schemas.Cancelled, detail, mcp.NewToolResultStructured(res, bulkText(res))).confirmedWith(how)
}
