package tools

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/mark3labs/mcp-go/mcp"
	"github.com/mark3labs/mcp-go/server"

	"github.com/tallyfy-mcp/tallyfy-mcp/schemas"
	"github.com/tallyfy-mcp/tallyfy-mcp/tallyfy"
	"github.com/tallyfy-mcp/tallyfy-mcp/tools/confirm"
)

// The second call of a bulk tool: check the plan_token, have a bulk permanent delete
// confirmed once, reserve its delete slots at once, then run the items a few at a time.

var errPlanForeign = errors.New("plan_token was issued for a different set of items, tool, organization, session or caller")

// planRefused answers a plan_token that cannot be used.
func planRefused(c *call, err error) outcome {
	why := strings.ReplaceAll(err.Error(), "confirm_token", "plan_token")
	return refused(why, mcp.NewToolResultError(fmt.Sprintf("Nothing was changed: %s. Call %s without plan_token to make a new plan.", why, c.tool.Name)))
}

// execute runs a plan.
func (ts *Toolset) execute(ctx context.Context, b *batch) outcome {
	c := b.c
	cl, err := ts.seal.Open(b.args.PlanToken, ts.opts.Now())
	if err == nil && !cl.Matches(c.client.OrgID(), c.tool.Name, confirm.SetHash(b.ids), ts.sessionBinding(ctx), ts.callerBinding(ctx), confirm.ForPlan) {
		err = errPlanForeign
	}
	if err == nil && cl.Type != string(c.kind.Kind) {
		// Checked before anything is used up: the plan stays good for its own type.
		err = fmt.Errorf("plan_token was made for type %s, not %s: pass the plan's execute.arguments unchanged", cl.Type, c.kind.Kind)
	}
	if err != nil {
		return planRefused(c, err)
	}
	if cl.Batch != "" { // the execution's records carry the plan's batch_id (audit joins them)
		b.id, c.batch = cl.Batch, cl.Batch
	}
	fps := cl.PlanFPs(b.ids)
	if c.tool.Verb != VerbDelete && approvalRule(ctx, c.tool) == nil { // nothing to confirm
		return ts.runPlan(ctx, b, cl, fps, confirmation{})
	}
	how, o, ok := ts.confirmBulk(ctx, b, cl, fps)
	if !ok {
		return o
	}
	return ts.runPlan(ctx, b, cl, fps, how)
}

// runPlan runs a plan once it is confirmed (how): uses the plan (or the App's approval of it)
// up, writes its approval record, reserves every delete slot at once, then runs the items.
func (ts *Toolset) runPlan(ctx context.Context, b *batch, cl confirm.Claims, fps map[string]string, how confirmation) outcome {
	c := b.c
	refuse := func(err error) outcome { // the App's approval is refused to the view
		if how.channel == confirm.App {
			return appRefused(err.Error())
		}
		return planRefused(c, err).confirmedWith(how)
	}
	// The person may have answered after the plan expired: that answer cannot use it.
	if err := cl.StillValid(ts.opts.Now()); err != nil {
		return refuse(err)
	}
	var fresh bool
	var err error
	if c.tool.Verb == VerbDelete {
		if fresh, err = ts.seal.Consume(ctx, cl, ts.opts.Now(), ts.tokenLife(cl.Purpose)); err != nil {
			return storeRefusal(err)
		}
	} else {
		var local bool
		fresh, local, err = ts.seal.ConsumeReversible(ctx, cl, ts.opts.Now(), ts.tokenLife(cl.Purpose))
		if err != nil {
			return refused("shared state unavailable", mcp.NewToolResultError(fmt.Sprintf("Nothing was changed: the plan_token could not be marked used (%v). Try again shortly.", err)))
		}
		if local {
			ts.opts.Logger.Warn("shared state store unreachable: bulk plan marked used in this process only", "tool", c.tool.Name, "batch_id", b.id)
		}
	}
	if !fresh {
		return refuse(confirm.ErrTokenUsed)
	}
	if o, ok := ts.useConfirmation(ctx, c, how); !ok { // the plan's signed approval record
		return o.confirmedWith(how)
	}
	releases := noReleases(len(b.ids))
	if c.tool.Verb == VerbDelete {
		// Every slot at once, or none: a plan is never half-executed for want of budget.
		taken, refusal, err := ts.opts.Budget.TakeN(context.WithoutCancel(ctx), ts.opts.Now(), len(b.ids))
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
	items := make([]schemas.BulkItem, len(b.ids)) // an item that ran has its line, with its ID
	var mu sync.Mutex
	var stopped string
	done := 0
	progress := progressOf(ctx, c.req, len(b.ids))
	ts.eachItem(runCtx, len(b.ids), func(i int) {
		ic := ts.newCall(ctx, c.tool, c.req)
		ic.kind, ic.id, ic.batch = c.kind, b.ids[i], b.id
		o := ts.runBulkItem(runCtx, ic, fps[b.ids[i]], how, releases[i])
		if o.status != schemas.OK && o.status != schemas.Unknown {
			releases[i]() // the item was not deleted: its slot goes back
		}
		res := ts.record(ctx, ic, o)
		item := itemOutcome(ic, o, res)
		mu.Lock()
		defer mu.Unlock()
		items[i] = item
		done++
		if o.err != nil && stopsBatch(c, o.err) && stopped == "" {
			stopped = fmt.Sprintf("Tallyfy answered %d (%s)", tallyfy.StatusOf(o.err), describe(o.err))
			stop()
		}
		// By name, quoted (quoteName escapes control and bidi characters a name could carry), then ID.
		progress(done, fmt.Sprintf("%s %s (%s): %s", b.action(), quoteName(clip(item.Name, 80)), b.ids[i], item.Outcome))
	})
	cancelled := ctx.Err() != nil
	for i := range items {
		if items[i].ID != "" {
			continue
		}
		releases[i]()
		why := "not run: the call was cancelled"
		if stopped != "" {
			why = "not run: the batch stopped because " + stopped
		}
		ic := ts.newCall(ctx, c.tool, c.req)
		ic.kind, ic.id, ic.batch = c.kind, b.ids[i], b.id
		ts.record(ctx, ic, ended(schemas.Cancelled, why, mcp.NewToolResultError(why)))
		items[i] = schemas.BulkItem{ID: b.ids[i], Outcome: schemas.NotRun, Reason: why}
	}
	res := schemas.BulkResult{Status: schemas.Done, Action: b.action(), Type: string(c.kind.Kind), BatchID: b.id, Items: items, Totals: totals(items),
		Confirmation: string(how.channel), ConfirmedBy: how.by, ApprovalID: how.approvalID}
	var changed []string
	for _, it := range items {
		if it.Outcome == schemas.OK {
			changed = append(changed, it.ID)
		}
	}
	t := res.Totals
	res.Message = fmt.Sprintf("%s: %d ok, %d already so (no-op), %d skipped, %d failed, %d not run.", Capitalize(b.action()), t[schemas.OK], t[schemas.Noop], t[schemas.Skipped], t[schemas.Failed], t[schemas.NotRun])
	status := schemas.Done
	switch {
	case stopped != "":
		res.Status, status = schemas.Stopped, schemas.Stopped
		res.Message = "Stopped: " + stopped + ", which every remaining item would meet too. Check the access token's rights (a Tallyfy admin is needed to delete processes and templates). " + res.Message
	case cancelled:
		res.Status, status = schemas.Cancelled, schemas.Cancelled
		res.Message = "Cancelled: the remaining items were not run. " + res.Message
	}
	if c.tool.Verb != VerbDelete && len(changed) > 0 {
		res.Undo = &schemas.BulkCall{Tool: b.inverse(), Arguments: map[string]any{"type": string(c.kind.Kind), "ids": changed}}
		res.Message += fmt.Sprintf(" Undo with %s on the same ids (it plans first).", b.inverse())
	}
	if t[schemas.Failed] > 0 {
		res.Message += " Failed items are listed with why; they can be retried with a new plan."
	}
	detail := fmt.Sprintf("ok %d, noop %d, skipped %d, failed %d, not_run %d", t[schemas.OK], t[schemas.Noop], t[schemas.Skipped], t[schemas.Failed], t[schemas.NotRun])
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
			Capitalize(c.kind.noun), e.Name)))
	}
	if c.tool.Verb != VerbDelete {
		return ts.lifecycle(ctx, c)
	}
	if !e.Archived {
		return refused("not archived", mcp.NewToolResultError("not archived: skipped"))
	}
	return ts.sendDelete(ctx, c, how, e, release).orAbout(e).confirmedWith(how)
}

// itemOutcome is an item's line in the bulk result.
func itemOutcome(c *call, o outcome, res *mcp.CallToolResult) schemas.BulkItem {
	e := tallyfy.Entity{Kind: c.kind.Kind, ID: c.id}
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
	case schemas.OK:
		item.Outcome = schemas.OK
		if c.tool.Verb == VerbDelete {
			item.State = "deleted"
		}
	case schemas.Noop:
		item.Outcome = schemas.Noop
	case schemas.Refused, schemas.Cancelled:
		item.Outcome, item.Reason = schemas.Skipped, o.detail
		if o.detail == "" || o.detail == "process task" || o.detail == "protected" {
			item.Reason = clip(text, 300)
		}
	case schemas.Unknown:
		item.Outcome, item.Reason = schemas.Unknown, clip(text, 300)
	default:
		item.Outcome, item.Reason = schemas.Failed, clip(text, 300)
	}
	if res != nil && res.IsError && item.Outcome == schemas.OK { // the audit record failed
		item.Outcome, item.Reason = schemas.Unknown, clip(text, 300)
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

// progressOf sends notifications/progress after each item of a bulk call whose request
// carried a progressToken (and nothing otherwise): done of total items, with a short message
// about the last one. runBatch calls it under its lock, so the values increase.
func progressOf(ctx context.Context, req mcp.CallToolRequest, total int) func(done int, message string) {
	var token mcp.ProgressToken
	if req.Params.Meta != nil {
		token = req.Params.Meta.ProgressToken
	}
	return func(done int, message string) {
		if srv := server.ServerFromContext(ctx); token != nil && srv != nil {
			// Best effort: a full or closed channel must not stop the batch.
			_ = srv.SendNotificationToClient(ctx, "notifications/progress", map[string]any{
				"progressToken": token, "progress": done, "total": total, "message": message,
			})
		}
	}
}
