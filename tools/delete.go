package tools

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/mark3labs/mcp-go/mcp"

	"github.com/tallyfy-mcp/tallyfy-mcp/schemas"
	"github.com/tallyfy-mcp/tallyfy-mcp/tallyfy"
	"github.com/tallyfy-mcp/tallyfy-mcp/tools/confirm"
)

// delete is the permanent delete: never one unconfirmed call. The pipeline has already
// refused what is protected or over budget and resolved the target; delete refuses what is
// live, confirms by the configured mode (confirmation.go), and only then deletes.
func (ts *Toolset) delete(ctx context.Context, c *call) outcome {
	e := *c.target
	if !e.Archived {
		return notArchived(c, e)
	}
	token, _ := c.req.GetArguments()["confirm_token"].(string)

	// An answer to an elicitation this handler asked for (2026-07-28 clients re-invoke us).
	if answer := answered(c, elicitID); answer != nil {
		return ts.afterElicitation(ctx, c, e, c.req.Params.RequestState, answer)
	}
	ch, o, ok := ts.chooseChannel(ctx, c.tool, token != "", approvalRule(ctx, c.tool))
	if !ok {
		return o
	}
	switch ch {
	case confirm.Off:
		return ts.performDelete(ctx, c, e, confirmation{channel: confirm.Off})
	case confirm.Token:
		if token != "" {
			return ts.redeemToken(ctx, c, e, token).confirmedBy(confirm.Token)
		}
		return ts.issueToken(ctx, c, e)
	case confirm.Elicitation:
		return ts.elicit(ctx, c, e)
	case confirm.App: // the person decides in the view (app.go)
		return ts.reviewInApp(c, e)
	default: // approval_page: a person decides outside this call (approval.go)
		return ts.awaitApproval(ctx, c, e, ch)
	}
}

// notArchived refuses the permanent delete of a live item.
func notArchived(c *call, e tallyfy.Entity) outcome {
	return refused("not archived", mcp.NewToolResultError(fmt.Sprintf(
		"%s %q is live, not archived: nothing was deleted. Permanent deletes only take archived items. Archive it first with %s (reversible), then call %s again.",
		Capitalize(c.kind.noun), e.Name, toolFor(c.kind.Kind, VerbArchive).Name, c.tool.Name)))
}

// performDelete spends a budget slot, uses up the confirmation once every check has passed
// (and writes its signed approval record), writes the intent record, and sends the delete
// once. An ambiguous failure (no answer, 5xx, unreadable answer) is never retried blindly:
// the item is read again and the truth reported.
func (ts *Toolset) performDelete(ctx context.Context, c *call, e tallyfy.Entity, conf confirmation) outcome {
	release, o, ok := ts.takeBudget(ctx)
	if ok {
		if o, ok = ts.useConfirmation(ctx, c, conf); ok {
			o = ts.sendDelete(ctx, c, conf, e, release)
		} else {
			release()
		}
	}
	return o.orAbout(e).orConfirmedWith(conf)
}

// useConfirmation uses the confirmation up, once, and writes its signed approval record.
// ok false: it was used before, or could not be used or recorded, and o says so.
func (ts *Toolset) useConfirmation(ctx context.Context, c *call, conf confirmation) (o outcome, ok bool) {
	if conf.valid != nil {
		if err := conf.valid(); err != nil { // it may have expired while we waited
			return tokenRefused(c, err), false
		}
	}
	if conf.use != nil {
		fresh, err := conf.use(ctx)
		if err != nil {
			return storeRefusal(err), false
		}
		if !fresh {
			switch conf.channel {
			case confirm.Token:
				return tokenRefused(c, confirm.ErrTokenUsed), false
			case confirm.Elicitation:
				return refused(confirm.ErrTokenUsed.Error(), mcp.NewToolResultError("Nothing was deleted: this confirmation was already used. Call "+c.tool.Name+" again to ask the person again.")), false
			}
			return refused("approval already used", mcp.NewToolResultError("Nothing was deleted: this approval was already used for a delete. Call "+c.tool.Name+" again to ask for a new approval.")), false
		}
	}
	if conf.record != nil {
		if err := ts.recordApproval(ctx, *conf.record); err != nil {
			o := refused("approval record not written", mcp.NewToolResultError(fmt.Sprintf("Nothing was deleted: %v. The operator must fix the audit log (--audit-log); then ask again.", err)))
			o.auditFailed = true
			return o, false
		}
	}
	return outcome{}, true
}

// sendDelete writes the intent record and sends the delete once, its budget slot already
// spent (release gives it back when the delete certainly did not happen). A single delete
// comes here from performDelete, each item of a bulk delete from its batch.
func (ts *Toolset) sendDelete(ctx context.Context, c *call, how confirmation, e tallyfy.Entity, release func()) outcome {
	if o, ok := c.intend(ctx, how, e); !ok {
		release()
		return o
	}
	err := c.client.Delete(ctx, c.kind.Kind, e.ID)
	if err != nil && !ambiguous(err) {
		return afterRefusedDelete(ctx, c, e, err, release)
	}
	if err != nil {
		_, lerr := c.client.Lookup(context.WithoutCancel(ctx), c.kind.Kind, e.ID)
		switch {
		case tallyfy.IsNotFound(lerr):
			// Gone: the delete went through though its answer was lost.
		case lerr == nil:
			release()
			return ended(schemas.Failed, "", mcp.NewToolResultError(fmt.Sprintf("Tallyfy did not confirm the delete (%s) and %s %q is still there: nothing was deleted. It is safe to try again later.",
				describe(err), c.kind.noun, e.Name))).because(err)
		default:
			return ended(schemas.Unknown, "", mcp.NewToolResultError(fmt.Sprintf("It is unknown whether %s %q was deleted: the delete got no clear answer (%s) and reading it again failed (%s). Check with %s before trying again.",
				c.kind.noun, e.Name, describe(err), describe(lerr), toolFor(c.kind.Kind, VerbGet).Name))).because(err)
		}
	}
	msg := fmt.Sprintf("%s %q (%s) was permanently deleted. This cannot be undone.", Capitalize(c.kind.noun), e.Name, e.ID)
	res := schemas.DeleteResult{Status: schemas.Deleted, Resource: resourceOf(e, "deleted"), Reversible: false, Confirmation: string(how.channel),
		ConfirmedBy: how.by, ApprovalID: how.approvalID, Message: msg}
	return succeeded(mcp.NewToolResultStructured(res, msg)).because(err)
}

// afterRefusedDelete reads the item again after Tallyfy refused its permanent delete (any
// 4xx) and says what is true (issue 18, point 2). A refusal is not proof of anything: Tallyfy
// documents a 404 from /runs/{id}/delete as "wrong ID or not archived", and a 403 both for a
// missing right and a business rule. So: still there, and how; or no longer readable, and
// then only what the reads showed, never "may have been permanently deleted" of an item that
// can still be read.
func afterRefusedDelete(ctx context.Context, c *call, e tallyfy.Entity, err error, release func()) outcome {
	now, lerr := c.client.Lookup(context.WithoutCancel(ctx), c.kind.Kind, e.ID)
	get := toolFor(c.kind.Kind, VerbGet).Name
	switch {
	case lerr == nil:
		release()
		msg := fmt.Sprintf("Tallyfy refused the delete (%s). Read back just now, %s %s is still there, %s%s: nothing was deleted.%s",
			refusal(err), c.kind.noun, named(now), stateWord(now.Archived), changedWhile(&e, now), deleteAdvice(c, err, now))
		return ended(schemas.Failed, "", mcp.NewToolResultError(msg)).about(now).because(err)
	case tallyfy.IsNotFound(lerr):
		// Neither a GET nor the archived listing finds it: say exactly that.
		msg := fmt.Sprintf("Tallyfy refused the delete (%s), and reading %s %s again finds nothing (GET answers 404 and the archived listing does not show it): it is no longer in Tallyfy, though nothing shows that this call deleted it (someone else may have, just before). Check with %s; an item archived in the last seconds may take a moment to be listed.",
			refusal(err), c.kind.noun, named(e), get)
		return ended(schemas.Unknown, "", mcp.NewToolResultError(msg)).because(err)
	default:
		release()
		msg := fmt.Sprintf("Tallyfy refused the delete (%s), and reading %s %s again failed (%s): its state now is unknown. Check it with %s before trying again.",
			refusal(err), c.kind.noun, named(e), describe(lerr), get)
		return ended(schemas.Failed, "", mcp.NewToolResultError(msg)).because(err)
	}
}

// deleteAdvice is what to do after a refused permanent delete of an item that is still there.
func deleteAdvice(c *call, err error, now tallyfy.Entity) string {
	ae, ok := errors.AsType[*tallyfy.APIError](err)
	if !ok {
		return ""
	}
	archive := toolFor(c.kind.Kind, VerbArchive).Name
	switch {
	case ae.Code == "ENDPOINT_NOT_FOUND":
		return " " + routeUnknown(ae, true)
	case ae.Status == http.StatusUnauthorized || ae.Status == http.StatusTooManyRequests:
		return " " + explain(c, err)
	case !now.Archived:
		return fmt.Sprintf(" Permanent deletes take archived items only: archive it with %s (reversible) first.", archive)
	case ae.Status == http.StatusNotFound && c.kind.Kind == tallyfy.KindRun:
		return " Tallyfy documents this 404 as \"wrong ID or not archived\", yet the process reads as archived: check it in Tallyfy before trying again."
	case ae.Status == http.StatusNotFound:
		return fmt.Sprintf(" Tallyfy's delete does not find this archived %s though reading it does: this Tallyfy may not permanently delete archived %ss through the API. Check it in Tallyfy.", c.kind.noun, c.kind.noun)
	case ae.Status == http.StatusForbidden:
		return " " + forbiddenDelete(c)
	}
	return ""
}

// forbiddenDelete explains a 403 to a permanent delete. Tallyfy documents process and template
// hard deletes as admin only (docs/tallyfy-api.md §1.6, §1.9); no source says so of tasks, and
// Tallyfy's MCP notes that a 403 is also how the API refuses a business rule.
func forbiddenDelete(c *call) string {
	who := "the token's user"
	if c.caller != "" {
		who = fmt.Sprintf("the Tallyfy user of caller %q", c.caller)
	}
	switch {
	case c.kind.Kind == tallyfy.KindTask:
		return fmt.Sprintf("No Tallyfy source says task deletes need an administrator: %s may lack a right on this task, or a Tallyfy business rule forbids deleting it (Tallyfy answers 403 for both). Check the task in Tallyfy.", who)
	case c.caller != "":
		// A callers entry acts with that person's own token: no server setting can fix this.
		return fmt.Sprintf("Permanent deletes of %ss need a Tallyfy administrator, and the Tallyfy user of caller %q may not be one (a 403 is also how Tallyfy refuses a business rule): ask a Tallyfy admin to do it.", c.kind.noun, c.caller)
	}
	return fmt.Sprintf("Permanent deletes of %ss need a Tallyfy administrator (a 403 is also how Tallyfy refuses a business rule): ask an admin to do it, or to run this server with an admin's token.", c.kind.noun)
}

// ambiguous reports a failure after which the delete may or may not have happened.
func ambiguous(err error) bool {
	if te, ok := errors.AsType[*tallyfy.TransportError](err); ok {
		return te.Sent
	}
	if _, ok := errors.AsType[*tallyfy.ResponseError](err); ok {
		return true
	}
	if s := tallyfy.StatusOf(err); s >= 500 {
		return true
	}
	return errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled)
}
