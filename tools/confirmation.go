package tools

import (
	"context"
	"fmt"
	"time"

	"github.com/mark3labs/mcp-go/mcp"

	"github.com/tallyfy-mcp/tallyfy-mcp/schemas"
	"github.com/tallyfy-mcp/tallyfy-mcp/tallyfy"
	"github.com/tallyfy-mcp/tallyfy-mcp/tools/confirm"
)

// The confirmation flow of a permanent delete: a sealed single-use confirm_token over two
// calls, or a question to the person (elicitation). Either ends in performDelete (delete.go).

// elicitID names the one question a delete asks.
const elicitID = "confirm"

func (ts *Toolset) newClaims(ctx context.Context, c *call, e tallyfy.Entity, purpose confirm.Purpose, ttl time.Duration) confirm.Claims {
	return confirm.Claims{Org: c.client.OrgID(), Tool: c.tool.Name, ID: e.ID, FP: confirm.Fingerprint(e),
		Session: ts.sessionBinding(ctx), Caller: ts.callerBinding(ctx), Exp: ts.opts.Now().Add(ttl).Unix(), Nonce: confirm.NewNonce(), Purpose: purpose, Iat: ts.opts.Now().Unix()}
}

func preview(c *call, e tallyfy.Entity) *schemas.Preview {
	return &schemas.Preview{Type: string(e.Kind), ID: e.ID, Name: e.Name, State: stateWord(e.Archived),
		ArchivedAt: e.ArchivedAt, LastUpdated: e.LastUpdated, Destroys: c.kind.destroys}
}

// issueToken answers the first call of the token flow: a preview and a sealed, single-use token.
func (ts *Toolset) issueToken(ctx context.Context, c *call, e tallyfy.Entity) outcome {
	cl := ts.newClaims(ctx, c, e, confirm.ForToken, ts.opts.TokenTTL)
	exp := time.Unix(cl.Exp, 0).UTC().Format(time.RFC3339)
	msg := fmt.Sprintf("Nothing deleted yet. Permanently deleting %s %s (%s) destroys %s and cannot be undone. Show this to the person and ask them to confirm; only if they agree, call %s again with this confirm_token (single use, expires %s).",
		c.kind.noun, quoteName(e.Name), e.ID, c.kind.destroys, c.tool.Name, exp)
	res := schemas.DeleteResult{Status: schemas.ConfirmationRequired, Resource: resourceOf(e, ""), Preview: preview(c, e),
		ConfirmToken: ts.seal.Seal(cl), ExpiresAt: exp, Confirmation: string(confirm.Token), Message: msg}
	return ended(schemas.ConfirmationRequired, "", mcp.NewToolResultStructured(res, msg+"\nconfirm_token: "+res.ConfirmToken)).confirmedBy(confirm.Token)
}

// redeemToken is the second call of the token flow: it opens and checks the token, then
// deletes.
func (ts *Toolset) redeemToken(ctx context.Context, c *call, e tallyfy.Entity, token string) outcome {
	cl, err := ts.seal.Open(token, ts.opts.Now())
	if err == nil && !cl.Matches(c.client.OrgID(), c.tool.Name, e.ID, ts.sessionBinding(ctx), ts.callerBinding(ctx), confirm.ForToken) {
		err = confirm.ErrTokenForeign
	}
	if err == nil && cl.FP != confirm.Fingerprint(e) {
		return refused("changed since confirmation", mcp.NewToolResultError(fmt.Sprintf("Nothing was deleted: %s %q changed since the confirmation was asked (its name, state or last update differ). Call %s again without confirm_token to get a fresh preview, and confirm with the person again.",
			c.kind.noun, e.Name, c.tool.Name)))
	}
	if err != nil {
		return tokenRefused(c, err)
	}
	// The model called twice: who saw the preview is not known, so confirmed_by stays empty.
	return ts.performDelete(ctx, c, e, ts.claimsConfirmation(ctx, c, cl, confirm.Token, "", []confirm.ApprovedItem{{ID: e.ID, FP: cl.FP}}, true))
}

// claimsConfirmation builds the confirmation of sealed claims (a token's, an elicitation's,
// an App approval's) of items, their signed approval record written when it is used; use:
// whether the claims' nonce is to be used up by the delete (a plan's is used by its execution).
func (ts *Toolset) claimsConfirmation(ctx context.Context, c *call, cl confirm.Claims, ch confirm.Confirmation, by string, items []confirm.ApprovedItem, use bool) confirmation {
	rec := confirm.Approved(cl, ts.whoAsks(ctx), by, ch, items, ts.opts.Now())
	conf := confirmation{channel: ch, by: by, approvalID: cl.Nonce, record: &rec}
	if use {
		conf.valid = func() error { return cl.StillValid(ts.opts.Now()) }
		conf.use = func(ctx context.Context) (bool, error) {
			return ts.seal.Consume(ctx, cl, ts.opts.Now(), ts.tokenLife(cl.Purpose))
		}
	}
	return conf
}

// whoAsks is the caller behind a request, where known: their callers-file name or OAuth
// subject, or on stdio the OS user the server runs as.
func (ts *Toolset) whoAsks(ctx context.Context) string {
	if who, ok := CallerFrom(ctx); ok && who.Name != "" {
		return who.Name
	}
	return ts.opts.LocalUser
}

// tokenRefused answers a confirm_token that cannot be used.
func tokenRefused(c *call, err error) outcome {
	return refused(err.Error(), mcp.NewToolResultError(fmt.Sprintf("Nothing was deleted: %v. Call %s with only %s to get a new preview and token, and confirm with the person again.",
		err, c.tool.Name, c.kind.idArg)))
}

// elicit asks the person to type the item's name (ask), then checks the answer and deletes.
func (ts *Toolset) elicit(ctx context.Context, c *call, e tallyfy.Entity) outcome {
	state := ts.seal.Seal(ts.newClaims(ctx, c, e, confirm.ForElicit, ts.opts.ElicitTimeout+time.Minute))
	q := question{id: elicitID, field: "name", title: "Name to confirm", want: quoteName(e.Name),
		message: fmt.Sprintf("Permanently delete the archived %s %s (%s)? This destroys %s. It cannot be undone. To confirm, type its name: %s",
			c.kind.noun, quoteName(e.Name), e.ID, c.kind.destroys, quoteName(e.Name))}
	answer, o, ok := ts.ask(ctx, itemSubject(c, e), q, state)
	if !ok {
		return o
	}
	// Re-read: the person may have taken a while.
	now, err := c.client.Lookup(ctx, c.kind.Kind, e.ID)
	if err != nil {
		return failed(c, err).confirmedBy(confirm.Elicitation)
	}
	return ts.afterElicitation(ctx, c, now, state, answer).orAbout(now)
}

// afterElicitation checks the sealed state and the person's answer, then deletes.
func (ts *Toolset) afterElicitation(ctx context.Context, c *call, e tallyfy.Entity, state string, answer *mcp.ElicitationResult) outcome {
	cl, o, ok := ts.openState(c, state, func(cl confirm.Claims) bool {
		return cl.Matches(c.client.OrgID(), c.tool.Name, e.ID, ts.sessionBinding(ctx), ts.callerBinding(ctx), confirm.ForElicit)
	})
	if !ok {
		return o
	}
	how := confirmation{channel: confirm.Elicitation, by: ts.whoAsks(ctx)}
	v, o, ok := itemSubject(c, e).typedIn(answer, "name", how)
	if !ok {
		return o
	}
	if typed, _ := v.(string); !nameTyped(typed, e.Name) {
		return cancelled("name mismatch", e, how, fmt.Sprintf("The name typed did not match %q: nothing was deleted. Call %s again if the person still wants it deleted.", e.Name, c.tool.Name))
	}
	if cl.FP != confirm.Fingerprint(e) {
		return refused("changed since confirmation", mcp.NewToolResultError(fmt.Sprintf("Nothing was deleted: %s %q changed while the person was being asked. Call %s again to confirm the current version.", c.kind.noun, e.Name, c.tool.Name))).confirmedBy(confirm.Elicitation)
	}
	// The person's client answered: confirmed_by is the caller it answered for.
	return ts.performDelete(ctx, c, e, ts.claimsConfirmation(ctx, c, cl, confirm.Elicitation, how.by, []confirm.ApprovedItem{{ID: e.ID, FP: cl.FP}}, true))
}

// cancelled is a delete the person did not confirm.
func cancelled(detail string, e tallyfy.Entity, how confirmation, msg string) outcome {
	res := schemas.DeleteResult{Status: schemas.Cancelled, Resource: resourceOf(e, ""), Reversible: false, Confirmation: string(how.channel),
		ConfirmedBy: how.by, ApprovalID: how.approvalID, Message: msg}
	return ended(schemas.Cancelled, detail, mcp.NewToolResultStructured(res, msg)).confirmedWith(how)
}

// tokenLife is the whole lifetime a token of this purpose is issued with.
func (ts *Toolset) tokenLife(purpose confirm.Purpose) time.Duration {
	if purpose == confirm.ForElicit || purpose == confirm.ForBulkElicit {
		return ts.opts.ElicitTimeout + time.Minute
	}
	if purpose == confirm.ForApp {
		return ts.opts.ApprovalTTL
	}
	return ts.opts.TokenTTL
}
