package tools

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/mark3labs/mcp-go/mcp"
	"github.com/mark3labs/mcp-go/server"

	"github.com/tallyfy-mcp/tallyfy-mcp/schemas"
	"github.com/tallyfy-mcp/tallyfy-mcp/tallyfy"
)

const elicitID = "confirm"

// delete is the permanent delete: never one unconfirmed call. It resolves the target, refuses
// what is protected, live or over budget, confirms by the configured mode, reads the item
// again, and only then deletes.
func (ts *Toolset) delete(ctx context.Context, req mcp.CallToolRequest, c *call) *mcp.CallToolResult {
	id, bad := idArg(req, c.res)
	if bad != nil {
		return ts.finish(ctx, c, bad)
	}
	c.id = id
	token, _ := req.GetArguments()["confirm_token"].(string)
	if refusal := ts.protectedRefusal(c); refusal != nil {
		return ts.finish(ctx, c, refusal)
	}
	if refusal := ts.budgetRefusal(ctx, c); refusal != nil {
		return ts.finish(ctx, c, refusal)
	}
	e, err := c.client.Lookup(ctx, c.res.kind, id)
	if err != nil {
		return ts.finish(ctx, c, failure(c, err))
	}
	c.entity = &e
	if refusal := processTaskRefusal(c, e); refusal != nil {
		return ts.finish(ctx, c, refusal)
	}
	if !e.Archived {
		c.outcome, c.errDetail = "refused", "not archived"
		return ts.finish(ctx, c, mcp.NewToolResultError(fmt.Sprintf(
			"%s %q is live, not archived: nothing was deleted. Permanent deletes only take archived items. Archive it first with %s (reversible), then call %s again.",
			capital(c.res.noun), e.Name, toolFor(c.res.kind, VerbArchive).Name, c.tool.Name)))
	}

	// An answer to an elicitation this handler asked for (2026-07-28 clients re-invoke us).
	if answer := server.ElicitationResponse(req.Params.InputResponses, elicitID); answer != nil {
		return ts.finish(ctx, c, ts.afterElicitation(ctx, c, e, req.Params.RequestState, answer))
	}
	switch {
	case ts.opts.Confirm == ConfirmOff:
		c.confirm = "off"
		return ts.finish(ctx, c, ts.performDelete(ctx, c, e, nil))
	case token != "":
		return ts.finish(ctx, c, ts.redeemToken(ctx, c, e, token))
	case ts.opts.Confirm != ConfirmToken && canElicit(ctx):
		return ts.elicit(ctx, c, e)
	case ts.opts.Confirm == ConfirmElicit:
		c.outcome, c.errDetail = "refused", "client cannot elicit"
		return ts.finish(ctx, c, mcp.NewToolResultError(
			"Nothing was deleted: this server confirms permanent deletes by asking the person directly (--confirm elicit), and this client or transport cannot show such a question. Use a client that supports MCP elicitation, or ask the operator to run with --confirm auto."))
	default:
		return ts.finish(ctx, c, ts.issueToken(ctx, c, e))
	}
}

// sessionID identifies the MCP session a token is bound to ("" where the transport has none).
func sessionID(ctx context.Context) string {
	if s := server.ClientSessionFromContext(ctx); s != nil {
		return s.SessionID()
	}
	return ""
}

func (ts *Toolset) newClaims(ctx context.Context, c *call, e tallyfy.Entity, purpose string, ttl time.Duration) claims {
	return claims{Org: c.client.OrgID(), Tool: c.tool.Name, ID: e.ID, FP: fingerprintHash(e.Fingerprint()),
		Session: ts.sessionBinding(ctx), Caller: ts.callerBinding(ctx), Exp: ts.now().Add(ttl).Unix(), Nonce: newNonce(), Purpose: purpose}
}

func (ts *Toolset) preview(c *call, e tallyfy.Entity) *schemas.Preview {
	return &schemas.Preview{Type: string(e.Kind), ID: e.ID, Name: e.Name, State: stateWord(e.Archived),
		ArchivedAt: e.ArchivedAt, LastUpdated: e.LastUpdated, Destroys: c.res.destroys}
}

// issueToken answers the first call of the token flow: a preview and a sealed, single-use token.
func (ts *Toolset) issueToken(ctx context.Context, c *call, e tallyfy.Entity) *mcp.CallToolResult {
	cl := ts.newClaims(ctx, c, e, "token", ts.opts.TokenTTL)
	exp := time.Unix(cl.Exp, 0).UTC().Format(time.RFC3339)
	msg := fmt.Sprintf("Nothing deleted yet. Permanently deleting %s %q (%s) destroys %s and cannot be undone. Show this to the person and ask them to confirm; only if they agree, call %s again with this confirm_token (single use, expires %s).",
		c.res.noun, e.Name, e.ID, c.res.destroys, c.tool.Name, exp)
	c.outcome, c.confirm = "confirmation_required", "token"
	res := schemas.DeleteResult{Status: "confirmation_required", Resource: resourceOf(e, ""), Preview: ts.preview(c, e),
		ConfirmToken: ts.seal.seal(cl), ExpiresAt: exp, Confirmation: "token", Message: msg}
	return mcp.NewToolResultStructured(res, msg+"\nconfirm_token: "+res.ConfirmToken)
}

// redeemToken is the second call of the token flow.
func (ts *Toolset) redeemToken(ctx context.Context, c *call, e tallyfy.Entity, token string) *mcp.CallToolResult {
	c.confirm = "token"
	if ts.opts.Confirm == ConfirmElicit {
		c.outcome, c.errDetail = "refused", "token in elicit mode"
		return mcp.NewToolResultError("Nothing was deleted: this server takes confirmation only from the person (--confirm elicit), not a confirm_token. Call again without confirm_token.")
	}
	cl, err := ts.seal.open(token, ts.now())
	if err == nil && !cl.matches(c.client.OrgID(), c.tool.Name, e.ID, ts.sessionBinding(ctx), ts.callerBinding(ctx), "token") {
		err = errTokenForeign
	}
	if err == nil && cl.FP != fingerprintHash(e.Fingerprint()) {
		c.outcome, c.errDetail = "refused", "changed since confirmation"
		return mcp.NewToolResultError(fmt.Sprintf("Nothing was deleted: %s %q changed since the confirmation was asked (its name, state or last update differ). Call %s again without confirm_token to get a fresh preview, and confirm with the person again.",
			c.res.noun, e.Name, c.tool.Name))
	}
	if err != nil {
		return ts.tokenRefused(c, err)
	}
	return ts.performDelete(ctx, c, e, &cl)
}

// tokenRefused answers a confirm_token that cannot be used.
func (ts *Toolset) tokenRefused(c *call, err error) *mcp.CallToolResult {
	c.outcome, c.errDetail = "refused", err.Error()
	return mcp.NewToolResultError(fmt.Sprintf("Nothing was deleted: %v. Call %s with only %s to get a new preview and token, and confirm with the person again.",
		err, c.tool.Name, c.res.idArg))
}

// canElicit reports whether this request's client declared elicitation and the question can
// reach it: in the result for 2026-07-28 clients, as a server request for older ones (which
// SSE cannot carry: the server marks those contexts).
func canElicit(ctx context.Context) bool {
	if info := server.RequestProtocolInfoFromContext(ctx); info != nil && info.Modern {
		// 2026-07-28: the question travels in the result (multi round-trip), on any transport.
		return info.ClientCapabilities != nil && info.ClientCapabilities.Elicitation != nil
	}
	if !TransportCanAsk(ctx) {
		return false
	}
	s, ok := server.ClientSessionFromContext(ctx).(server.SessionWithClientInfo)
	if !ok {
		return false
	}
	if _, ok := s.(server.SessionWithElicitation); !ok {
		return false
	}
	return s.GetClientCapabilities().Elicitation != nil
}

func (ts *Toolset) elicitParams(c *call, e tallyfy.Entity) mcp.ElicitationParams {
	return mcp.ElicitationParams{
		Message: fmt.Sprintf("Permanently delete the archived %s %q (%s)? This destroys %s. It cannot be undone. To confirm, type its name: %s",
			c.res.noun, e.Name, e.ID, c.res.destroys, e.Name),
		RequestedSchema: map[string]any{
			"type": "object",
			"properties": map[string]any{
				"name": map[string]any{"type": "string", "title": "Name to confirm", "description": "Type: " + e.Name},
			},
			"required": []string{"name"},
		},
	}
}

// elicit asks the person. 2026-07-28 clients get an input_required result and call again with
// the answer (handled by afterElicitation); older clients are asked here, bounded by
// ElicitTimeout, so a client that never answers cannot hold the call forever.
func (ts *Toolset) elicit(ctx context.Context, c *call, e tallyfy.Entity) *mcp.CallToolResult {
	c.confirm = "elicitation"
	cl := ts.newClaims(ctx, c, e, "elicit", ts.opts.ElicitTimeout+time.Minute)
	state := ts.seal.seal(cl)
	if mcp.IsModernProtocol(server.RequestProtocolVersion(ctx)) {
		c.outcome = "confirmation_required" // the client asks the person and calls again with the answer
		return ts.finish(ctx, c, server.NewInputRequestBuilder(state).Elicit(elicitID, ts.elicitParams(c, e)).ToolResult())
	}
	ectx, cancel := context.WithTimeout(ctx, ts.opts.ElicitTimeout)
	defer cancel()
	defer context.AfterFunc(ts.stopping, cancel)()
	answer, err := server.ServerFromContext(ctx).RequestElicitation(ectx, mcp.ElicitationRequest{Params: ts.elicitParams(c, e)})
	if err != nil {
		c.outcome, c.errDetail = "cancelled", "elicitation failed: "+err.Error()
		why := "the question could not be shown: " + err.Error()
		switch {
		case ts.stopping.Err() != nil:
			why, c.errDetail = "the server is shutting down, so the person's answer cannot arrive", "server shutting down"
		case errors.Is(err, context.DeadlineExceeded):
			why = fmt.Sprintf("nobody answered within %s", ts.opts.ElicitTimeout)
		}
		return ts.finish(ctx, c, cancelled(c, e, "Nothing was deleted: "+why+". Ask the person whether they still want it deleted, then call again."))
	}
	// Re-read: the person may have taken a while.
	now, err := c.client.Lookup(ctx, c.res.kind, e.ID)
	if err != nil {
		return ts.finish(ctx, c, failure(c, err))
	}
	c.entity = &now
	return ts.finish(ctx, c, ts.afterElicitation(ctx, c, now, state, answer))
}

// afterElicitation checks the sealed state and the person's answer, then deletes.
func (ts *Toolset) afterElicitation(ctx context.Context, c *call, e tallyfy.Entity, state string, answer *mcp.ElicitationResult) *mcp.CallToolResult {
	c.confirm = "elicitation"
	cl, err := ts.seal.open(state, ts.now())
	if err == nil && !cl.matches(c.client.OrgID(), c.tool.Name, e.ID, ts.sessionBinding(ctx), ts.callerBinding(ctx), "elicit") {
		err = errTokenForeign
	}
	if err != nil {
		c.outcome, c.errDetail = "refused", "elicitation state: "+err.Error()
		return mcp.NewToolResultError(fmt.Sprintf("Nothing was deleted: the confirmation could not be verified (%v). Call %s again to ask the person again.", err, c.tool.Name))
	}
	switch answer.Action {
	case mcp.ElicitationResponseActionAccept:
	case mcp.ElicitationResponseActionDecline:
		c.outcome, c.errDetail = "cancelled", "declined"
		return cancelled(c, e, "The person declined: nothing was deleted. Do not retry unless they ask.")
	default:
		c.outcome, c.errDetail = "cancelled", "dismissed"
		return cancelled(c, e, "The person dismissed the question: nothing was deleted.")
	}
	typed := ""
	if m, ok := answer.Content.(map[string]any); ok {
		typed, _ = m["name"].(string)
	}
	if !strings.EqualFold(strings.TrimSpace(typed), strings.TrimSpace(e.Name)) {
		c.outcome, c.errDetail = "cancelled", "name mismatch"
		return cancelled(c, e, fmt.Sprintf("The name typed did not match %q: nothing was deleted. Call %s again if the person still wants it deleted.", e.Name, c.tool.Name))
	}
	if cl.FP != fingerprintHash(e.Fingerprint()) {
		c.outcome, c.errDetail = "refused", "changed since confirmation"
		return mcp.NewToolResultError(fmt.Sprintf("Nothing was deleted: %s %q changed while the person was being asked. Call %s again to confirm the current version.", c.res.noun, e.Name, c.tool.Name))
	}
	return ts.performDelete(ctx, c, e, &cl)
}

func cancelled(c *call, e tallyfy.Entity, msg string) *mcp.CallToolResult {
	res := schemas.DeleteResult{Status: "cancelled", Resource: resourceOf(e, ""), Reversible: false, Confirmation: c.confirm, Message: msg}
	return mcp.NewToolResultStructured(res, msg)
}

// performDelete spends a budget slot, uses up the confirmation (cl; nil under --confirm off)
// once every check has passed, writes the intent record, and sends the delete once. An
// ambiguous failure (no answer, 5xx, unreadable answer) is never retried blindly: the item is
// read again and the truth reported.
func (ts *Toolset) performDelete(ctx context.Context, c *call, e tallyfy.Entity, cl *claims) *mcp.CallToolResult {
	release, refused := ts.takeBudget(ctx, c)
	if refused != nil {
		return refused
	}
	fresh := true
	if cl != nil {
		var err error
		if fresh, err = ts.seal.consume(ctx, *cl, ts.now()); err != nil {
			release()
			return storeRefusal(c, err)
		}
	}
	if !fresh {
		release()
		if c.confirm == "elicitation" {
			c.outcome, c.errDetail = "refused", errTokenUsed.Error()
			return mcp.NewToolResultError("Nothing was deleted: this confirmation was already used. Call " + c.tool.Name + " again to ask the person again.")
		}
		return ts.tokenRefused(c, errTokenUsed)
	}
	if refused := ts.intend(ctx, c); refused != nil {
		release()
		return refused
	}
	err := c.res.doDelete(ctx, c.client, e.ID)
	if err != nil && !ambiguous(err) {
		release()
		return failure(c, err)
	}
	if err != nil {
		c.err = err
		_, lerr := c.client.Lookup(context.WithoutCancel(ctx), c.res.kind, e.ID)
		switch {
		case tallyfy.IsNotFound(lerr):
			// Gone: the delete went through though its answer was lost.
		case lerr == nil:
			release()
			c.outcome = "failed"
			return mcp.NewToolResultError(fmt.Sprintf("Tallyfy did not confirm the delete (%s) and %s %q is still there: nothing was deleted. It is safe to try again later.",
				describe(err), c.res.noun, e.Name))
		default:
			c.outcome = "unknown"
			return mcp.NewToolResultError(fmt.Sprintf("It is unknown whether %s %q was deleted: the delete got no clear answer (%s) and reading it again failed (%s). Check with %s before trying again.",
				c.res.noun, e.Name, describe(err), describe(lerr), toolFor(c.res.kind, VerbGet).Name))
		}
	}
	c.outcome = "ok"
	gone := e
	c.entity = &gone
	msg := fmt.Sprintf("%s %q (%s) was permanently deleted. This cannot be undone.", capital(c.res.noun), e.Name, e.ID)
	res := schemas.DeleteResult{Status: "deleted", Resource: resourceOf(e, "deleted"), Reversible: false, Confirmation: c.confirm, Message: msg}
	return mcp.NewToolResultStructured(res, msg)
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
