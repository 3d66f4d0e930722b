package tools

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/mark3labs/mcp-go/mcp"
	"github.com/mark3labs/mcp-go/server"

	"github.com/tallyfy-mcp/tallyfy-mcp/schemas"
	"github.com/tallyfy-mcp/tallyfy-mcp/tallyfy"
)

// The confirmation flow of a permanent delete: a sealed single-use confirm_token over two
// calls, or a question to the person (elicitation). Either ends in performDelete (delete.go).

// elicitID names the one question a delete asks.
const elicitID = "confirm"

func (ts *Toolset) newClaims(ctx context.Context, c *call, e tallyfy.Entity, purpose string, ttl time.Duration) claims {
	return claims{Org: c.client.OrgID(), Tool: c.tool.Name, ID: e.ID, FP: fingerprintHash(e.Fingerprint()),
		Session: ts.sessionBinding(ctx), Caller: ts.callerBinding(ctx), Exp: ts.now().Add(ttl).Unix(), Nonce: newNonce(), Purpose: purpose}
}

func (ts *Toolset) preview(c *call, e tallyfy.Entity) *schemas.Preview {
	return &schemas.Preview{Type: string(e.Kind), ID: e.ID, Name: e.Name, State: stateWord(e.Archived),
		ArchivedAt: e.ArchivedAt, LastUpdated: e.LastUpdated, Destroys: c.res.destroys}
}

// issueToken answers the first call of the token flow: a preview and a sealed, single-use token.
func (ts *Toolset) issueToken(ctx context.Context, c *call, e tallyfy.Entity) outcome {
	cl := ts.newClaims(ctx, c, e, "token", ts.opts.TokenTTL)
	exp := time.Unix(cl.Exp, 0).UTC().Format(time.RFC3339)
	msg := fmt.Sprintf("Nothing deleted yet. Permanently deleting %s %s (%s) destroys %s and cannot be undone. Show this to the person and ask them to confirm; only if they agree, call %s again with this confirm_token (single use, expires %s).",
		c.res.noun, quoteName(e.Name), e.ID, c.res.destroys, c.tool.Name, exp)
	res := schemas.DeleteResult{Status: "confirmation_required", Resource: resourceOf(e, ""), Preview: ts.preview(c, e),
		ConfirmToken: ts.seal.seal(cl), ExpiresAt: exp, Confirmation: "token", Message: msg}
	return ended("confirmation_required", "", mcp.NewToolResultStructured(res, msg+"\nconfirm_token: "+res.ConfirmToken)).confirmedBy("token")
}

// redeemToken is the second call of the token flow.
func (ts *Toolset) redeemToken(ctx context.Context, c *call, e tallyfy.Entity, token string) outcome {
	return ts.checkToken(ctx, c, e, token).confirmedBy("token")
}

// checkToken opens and checks the token, then deletes.
func (ts *Toolset) checkToken(ctx context.Context, c *call, e tallyfy.Entity, token string) outcome {
	if ts.opts.Confirm == ConfirmElicit {
		return refused("token in elicit mode", mcp.NewToolResultError("Nothing was deleted: this server takes confirmation only from the person (--confirm elicit), not a confirm_token. Call again without confirm_token."))
	}
	cl, err := ts.seal.open(token, ts.now())
	if err == nil && !cl.matches(c.client.OrgID(), c.tool.Name, e.ID, ts.sessionBinding(ctx), ts.callerBinding(ctx), "token") {
		err = errTokenForeign
	}
	if err == nil && cl.FP != fingerprintHash(e.Fingerprint()) {
		return refused("changed since confirmation", mcp.NewToolResultError(fmt.Sprintf("Nothing was deleted: %s %q changed since the confirmation was asked (its name, state or last update differ). Call %s again without confirm_token to get a fresh preview, and confirm with the person again.",
			c.res.noun, e.Name, c.tool.Name)))
	}
	if err != nil {
		return tokenRefused(c, err)
	}
	return ts.performDelete(ctx, c, e, &cl, "token")
}

// tokenRefused answers a confirm_token that cannot be used.
func tokenRefused(c *call, err error) outcome {
	return refused(err.Error(), mcp.NewToolResultError(fmt.Sprintf("Nothing was deleted: %v. Call %s with only %s to get a new preview and token, and confirm with the person again.",
		err, c.tool.Name, c.res.idArg)))
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
		Message: fmt.Sprintf("Permanently delete the archived %s %s (%s)? This destroys %s. It cannot be undone. To confirm, type its name: %s",
			c.res.noun, quoteName(e.Name), e.ID, c.res.destroys, quoteName(e.Name)),
		RequestedSchema: map[string]any{
			"type": "object",
			"properties": map[string]any{
				"name": map[string]any{"type": "string", "title": "Name to confirm", "description": "Type: " + quoteName(e.Name)},
			},
			"required": []string{"name"},
		},
	}
}

// elicit asks the person. 2026-07-28 clients get an input_required result and call again with
// the answer (handled by afterElicitation); older clients are asked here, bounded by
// ElicitTimeout, so a client that never answers cannot hold the call forever.
func (ts *Toolset) elicit(ctx context.Context, c *call, e tallyfy.Entity) outcome {
	cl := ts.newClaims(ctx, c, e, "elicit", ts.opts.ElicitTimeout+time.Minute)
	state := ts.seal.seal(cl)
	if mcp.IsModernProtocol(server.RequestProtocolVersion(ctx)) {
		// the client asks the person and calls again with the answer
		return ended("confirmation_required", "", server.NewInputRequestBuilder(state).Elicit(elicitID, ts.elicitParams(c, e)).ToolResult()).confirmedBy("elicitation")
	}
	ectx, cancel := context.WithTimeout(ctx, ts.opts.ElicitTimeout)
	defer cancel()
	defer context.AfterFunc(ts.stopping, cancel)()
	answer, err := server.ServerFromContext(ctx).RequestElicitation(ectx, mcp.ElicitationRequest{Params: ts.elicitParams(c, e)})
	if err != nil {
		detail := "elicitation failed: " + err.Error()
		why := "the question could not be shown: " + err.Error()
		switch {
		case ts.stopping.Err() != nil:
			why, detail = "the server is shutting down, so the person's answer cannot arrive", "server shutting down"
		case errors.Is(err, context.DeadlineExceeded):
			why = fmt.Sprintf("nobody answered within %s", ts.opts.ElicitTimeout)
		}
		return cancelled(detail, e, "elicitation", "Nothing was deleted: "+why+". Ask the person whether they still want it deleted, then call again.")
	}
	// Re-read: the person may have taken a while.
	now, err := c.client.Lookup(ctx, c.res.kind, e.ID)
	if err != nil {
		return failed(c, err).confirmedBy("elicitation")
	}
	o := ts.afterElicitation(ctx, c, now, state, answer)
	if o.entity == nil {
		o = o.about(now)
	}
	return o
}

// afterElicitation checks the sealed state and the person's answer, then deletes.
func (ts *Toolset) afterElicitation(ctx context.Context, c *call, e tallyfy.Entity, state string, answer *mcp.ElicitationResult) outcome {
	return ts.checkAnswer(ctx, c, e, state, answer).confirmedBy("elicitation")
}

func (ts *Toolset) checkAnswer(ctx context.Context, c *call, e tallyfy.Entity, state string, answer *mcp.ElicitationResult) outcome {
	const how = "elicitation"
	cl, err := ts.seal.open(state, ts.now())
	if err == nil && !cl.matches(c.client.OrgID(), c.tool.Name, e.ID, ts.sessionBinding(ctx), ts.callerBinding(ctx), "elicit") {
		err = errTokenForeign
	}
	if err != nil {
		return refused("elicitation state: "+err.Error(), mcp.NewToolResultError(fmt.Sprintf("Nothing was deleted: the confirmation could not be verified (%v). Call %s again to ask the person again.", err, c.tool.Name)))
	}
	switch answer.Action {
	case mcp.ElicitationResponseActionAccept:
	case mcp.ElicitationResponseActionDecline:
		return cancelled("declined", e, how, "The person declined: nothing was deleted. Do not retry unless they ask.")
	default:
		return cancelled("dismissed", e, how, "The person dismissed the question: nothing was deleted.")
	}
	typed := ""
	if m, ok := answer.Content.(map[string]any); ok {
		typed, _ = m["name"].(string)
	}
	if !nameTyped(typed, e.Name) {
		return cancelled("name mismatch", e, how, fmt.Sprintf("The name typed did not match %q: nothing was deleted. Call %s again if the person still wants it deleted.", e.Name, c.tool.Name))
	}
	if cl.FP != fingerprintHash(e.Fingerprint()) {
		return refused("changed since confirmation", mcp.NewToolResultError(fmt.Sprintf("Nothing was deleted: %s %q changed while the person was being asked. Call %s again to confirm the current version.", c.res.noun, e.Name, c.tool.Name)))
	}
	return ts.performDelete(ctx, c, e, &cl, how)
}

// cancelled is a delete the person did not confirm.
func cancelled(detail string, e tallyfy.Entity, how, msg string) outcome {
	res := schemas.DeleteResult{Status: "cancelled", Resource: resourceOf(e, ""), Reversible: false, Confirmation: how, Message: msg}
	return ended("cancelled", detail, mcp.NewToolResultStructured(res, msg))
}
