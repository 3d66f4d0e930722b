package tools

import (
	"context"
	"errors"
	"fmt"

	"github.com/mark3labs/mcp-go/mcp"
	"github.com/mark3labs/mcp-go/server"

	"github.com/tallyfy-mcp/tallyfy-mcp/schemas"
	"github.com/tallyfy-mcp/tallyfy-mcp/tallyfy"
)

// delete is the permanent delete: never one unconfirmed call. The pipeline has already
// refused what is protected or over budget and resolved the target; delete refuses what is
// live, confirms by the configured mode (confirmation.go), and only then deletes.
func (ts *Toolset) delete(ctx context.Context, c *call) outcome {
	e := *c.target
	if !e.Archived {
		return refused("not archived", mcp.NewToolResultError(fmt.Sprintf(
			"%s %q is live, not archived: nothing was deleted. Permanent deletes only take archived items. Archive it first with %s (reversible), then call %s again.",
			capital(c.res.noun), e.Name, toolFor(c.res.kind, VerbArchive).Name, c.tool.Name)))
	}
	token, _ := c.req.GetArguments()["confirm_token"].(string)

	// An answer to an elicitation this handler asked for (2026-07-28 clients re-invoke us).
	if answer := server.ElicitationResponse(c.req.Params.InputResponses, elicitID); answer != nil {
		return ts.afterElicitation(ctx, c, e, c.req.Params.RequestState, answer)
	}
	switch {
	case ts.opts.Confirm == ConfirmOff:
		return ts.performDelete(ctx, c, e, nil, "off")
	case token != "":
		return ts.redeemToken(ctx, c, e, token)
	case ts.opts.Confirm != ConfirmToken && canElicit(ctx):
		return ts.elicit(ctx, c, e)
	case ts.opts.Confirm == ConfirmElicit:
		return refused("client cannot elicit", mcp.NewToolResultError(
			"Nothing was deleted: this server confirms permanent deletes by asking the person directly (--confirm elicit), and this client or transport cannot show such a question. Use a client that supports MCP elicitation, or ask the operator to run with --confirm auto."))
	default:
		return ts.issueToken(ctx, c, e)
	}
}

// performDelete spends a budget slot, uses up the confirmation (cl; nil under --confirm off)
// once every check has passed, writes the intent record, and sends the delete once. An
// ambiguous failure (no answer, 5xx, unreadable answer) is never retried blindly: the item is
// read again and the truth reported. how is the confirmation (elicitation, token, off).
func (ts *Toolset) performDelete(ctx context.Context, c *call, e tallyfy.Entity, cl *claims, how string) outcome {
	o := ts.deleteOnce(ctx, c, e, cl, how)
	if o.entity == nil {
		o = o.about(e)
	}
	return o.confirmedBy(how)
}

func (ts *Toolset) deleteOnce(ctx context.Context, c *call, e tallyfy.Entity, cl *claims, how string) outcome {
	release, o, ok := ts.takeBudget(ctx)
	if !ok {
		return o
	}
	fresh := true
	if cl != nil {
		if err := stillValid(*cl, ts.now()); err != nil { // it may have expired while we waited
			release()
			return tokenRefused(c, err)
		}
		var err error
		if fresh, err = ts.seal.consume(ctx, *cl, ts.now(), ts.tokenLife(cl.Purpose)); err != nil {
			release()
			return storeRefusal(err)
		}
	}
	if !fresh {
		release()
		if how == "elicitation" {
			return refused(errTokenUsed.Error(), mcp.NewToolResultError("Nothing was deleted: this confirmation was already used. Call "+c.tool.Name+" again to ask the person again."))
		}
		return tokenRefused(c, errTokenUsed)
	}
	return ts.sendDelete(ctx, c, e, how, release)
}

// sendDelete writes the intent record and sends the delete once, its budget slot already
// spent (release gives it back when the delete certainly did not happen). A single delete
// comes here from deleteOnce, each item of a bulk delete from its batch.
func (ts *Toolset) sendDelete(ctx context.Context, c *call, e tallyfy.Entity, how string, release func()) outcome {
	if o, ok := c.intend(ctx, how, e); !ok {
		release()
		return o
	}
	err := c.res.doDelete(ctx, c.client, e.ID)
	if err != nil && !ambiguous(err) {
		release()
		return failed(c, err)
	}
	if err != nil {
		_, lerr := c.client.Lookup(context.WithoutCancel(ctx), c.res.kind, e.ID)
		switch {
		case tallyfy.IsNotFound(lerr):
			// Gone: the delete went through though its answer was lost.
		case lerr == nil:
			release()
			return ended("failed", "", mcp.NewToolResultError(fmt.Sprintf("Tallyfy did not confirm the delete (%s) and %s %q is still there: nothing was deleted. It is safe to try again later.",
				describe(err), c.res.noun, e.Name))).because(err)
		default:
			return ended("unknown", "", mcp.NewToolResultError(fmt.Sprintf("It is unknown whether %s %q was deleted: the delete got no clear answer (%s) and reading it again failed (%s). Check with %s before trying again.",
				c.res.noun, e.Name, describe(err), describe(lerr), toolFor(c.res.kind, VerbGet).Name))).because(err)
		}
	}
	msg := fmt.Sprintf("%s %q (%s) was permanently deleted. This cannot be undone.", capital(c.res.noun), e.Name, e.ID)
	res := schemas.DeleteResult{Status: "deleted", Resource: resourceOf(e, "deleted"), Reversible: false, Confirmation: how, Message: msg}
	return succeeded(mcp.NewToolResultStructured(res, msg)).because(err)
}

// ambiguous reports a failure after which the delete may or may not have happened.
func ambiguous(err error) bool {
	var te *tallyfy.TransportError
	if errors.As(err, &te) {
		return te.Sent
	}
	var re *tallyfy.ResponseError
	if errors.As(err, &re) {
		return true
	}
	if s := tallyfy.StatusOf(err); s >= 500 {
		return true
	}
	return errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled)
}
