package tools

import (
	"context"
	"crypto/ed25519"
	"fmt"
	"time"

	"github.com/mark3labs/mcp-go/mcp"

	"github.com/tallyfy-mcp/tallyfy-mcp/schemas"
	"github.com/tallyfy-mcp/tallyfy-mcp/tallyfy"
	"github.com/tallyfy-mcp/tallyfy-mcp/tools/audit"
	"github.com/tallyfy-mcp/tallyfy-mcp/tools/confirm"
)

// A permanent delete confirmed outside the call (approval page, MCP App): the first call
// parks a pending approval (confirm.PendingApproval) and answers approval_pending at once; the
// same call again finds it, and deletes if the person approved, says "still waiting" if they
// have not, and "declined" if they declined. The approval page and the App view read and
// decide them here, and every decision is written to the audit log as a signed record.

// awaitApproval is the approval flow of a single delete, through channel ch.
func (ts *Toolset) awaitApproval(ctx context.Context, c *call, e tallyfy.Entity, ch confirm.Confirmation) outcome {
	key := ts.requestKey(ctx, c.client.OrgID(), c.tool.Name, e.ID)
	pa, err := ts.approvals.For(ctx, key)
	if err != nil {
		return storeRefusal(err)
	}
	now := ts.opts.Now()
	if pa != nil {
		switch {
		case pa.Status != confirm.ApprovalPending:
			return ts.actOnDecision(ctx, c, e, pa, key)
		case !pa.Expired(now):
			return pendingDelete(c, e, pa, "", true)
		}
		// expired while pending: ask again
	}
	left, err := ts.opts.Budget.Room(context.WithoutCancel(ctx), now)
	if err != nil {
		o, _ := ts.budgetAnswer(nil, err)
		return o
	}
	pa = ts.newPendingApproval(ctx, c, ch, key, now.Add(ts.opts.ApprovalTTL), left,
		[]confirm.ApprovalItem{{ID: e.ID, Name: e.Name, State: stateWord(e.Archived), LastUpdated: e.LastUpdated, FP: confirm.Fingerprint(e)}})
	msg := fmt.Sprintf("Approve or decline permanently deleting the archived %s %s (%s) on this server's approval page. It destroys %s and cannot be undone. On the page, type its name to approve.",
		c.kind.noun, quoteName(e.Name), e.ID, c.kind.destroys)
	decided, o, ok := ts.putToPerson(ctx, itemSubject(c, e), pa, msg)
	if !ok {
		return o
	}
	// Decided in this call (URL-mode elicitation). Re-read: the person may have taken a while.
	again, err := c.client.Lookup(ctx, c.kind.Kind, e.ID)
	if err != nil {
		return failed(c, err).confirmedWith(decidedOn(decided))
	}
	return ts.actOnDecision(ctx, c, again, decided, decided.RequestKey).orAbout(again)
}

// actOnDecision acts on a person's decision on pa, for the single delete of e (as read just
// now): approved, it deletes once after checking that the approval is still good and e is as
// approved; declined, it reports who declined.
func (ts *Toolset) actOnDecision(ctx context.Context, c *call, e tallyfy.Entity, pa *confirm.PendingApproval, key string) outcome {
	how := decidedOn(pa)
	ts.approvals.Forget(ctx, key)
	if pa.Status == confirm.ApprovalDeclined {
		return itemSubject(c, e).declined(pa)
	}
	if pa.Expired(ts.opts.Now()) {
		return refused("approval expired", mcp.NewToolResultError(fmt.Sprintf("Nothing was deleted: the approval given for %s %q expired (%s) before this call. Call %s again to ask for a new approval.",
			c.kind.noun, e.Name, pa.ExpiresAt.UTC().Format(time.RFC3339), c.tool.Name))).confirmedWith(how)
	}
	if len(pa.Items) != 1 || pa.Items[0].FP != confirm.Fingerprint(e) {
		return refused("changed since approval", mcp.NewToolResultError(fmt.Sprintf("Nothing was deleted: %s %q changed since the person approved it (its name, state or last update differ). Call %s again to ask for approval of the current version.",
			c.kind.noun, e.Name, c.tool.Name))).confirmedWith(how)
	}
	how.use = func(ctx context.Context) (bool, error) { return ts.approvals.Use(ctx, pa) }
	return ts.performDelete(ctx, c, e, how)
}

// newPendingApproval is a new pending approval of the call's items, for channel ch.
func (ts *Toolset) newPendingApproval(ctx context.Context, c *call, ch confirm.Confirmation, key string, exp time.Time, left int, items []confirm.ApprovalItem) *confirm.PendingApproval {
	approvers := approvalRule(ctx, c.tool) // nil, or the two-person rule's approvers
	return &confirm.PendingApproval{ID: confirm.NewNonce(), Org: c.client.OrgID(), Tool: c.tool.Name, Kind: c.kind.Kind, Noun: plural(c.kind, len(items)), Destroys: c.kind.destroys,
		Items: items, DeletesLeft: left, Requester: ts.whoAsks(ctx), RequesterBinding: ts.callerBinding(ctx), Approvers: approvers, TwoPerson: len(approvers) > 0,
		Channel: ch, Status: confirm.ApprovalPending, RequestedAt: ts.opts.Now(), ExpiresAt: exp, RequestKey: key}
}

// putToPerson parks pa and brings it to the person: through URL-mode elicitation when the
// client can open the page for them (url_elicitation.go; ok true: they decided in this call,
// decided says how), else announced by the page or the App view (o: the delete waits; the
// result may say where to approve, never a secret).
func (ts *Toolset) putToPerson(ctx context.Context, s subject, pa *confirm.PendingApproval, urlMsg string) (decided *confirm.PendingApproval, o outcome, ok bool) {
	pa.InCall = pa.Channel == confirm.ApprovalPage && !pa.TwoPerson && ts.urlElicitChannel(ctx)
	secret, hash := confirm.NewApprovalSecret()
	pa.SecretHash = hash
	if err := ts.approvals.Park(ctx, pa); err != nil {
		return nil, storeRefusal(err), false
	}
	if pa.InCall {
		return ts.askOnPage(ctx, s, pa, secret, urlMsg)
	}
	where := ""
	switch {
	case pa.Channel == confirm.ApprovalPage && ts.opts.ApprovalPage != nil:
		where = ts.opts.ApprovalPage.Announce(ctx, pa, secret)
	case pa.Channel == confirm.App && ts.opts.AppView != nil:
		// The App's handle: the view gets the secret through an app-only tool, never the
		// model (confirm.CheckApprovalSecret checks it when the view decides).
		where = ts.opts.AppView.Announce(ctx, pa, secret)
	}
	return nil, pending(s, pa, where, false), false
}

// pendingDelete answers a single delete waiting for the person. still: an earlier call
// asked already.
func pendingDelete(c *call, e tallyfy.Entity, pa *confirm.PendingApproval, where string, still bool) outcome {
	exp := pa.ExpiresAt.UTC().Format(time.RFC3339)
	msg := fmt.Sprintf("Nothing deleted yet: permanently deleting %s %q (%s) destroys %s and cannot be undone, so %s must approve it on the %s, outside this chat, typing its name. %sThen call %s again with the same arguments: it deletes only if they approved (the request expires %s). Do not claim it is deleted before that.",
		c.kind.noun, e.Name, e.ID, c.kind.destroys, pa.WhoDecides(), pa.Channel.Place(), sentence(where), c.tool.Name, exp)
	if still {
		msg = fmt.Sprintf("Still waiting: %s has not decided yet on permanently deleting %s %q (%s). Nothing deleted. Call %s again with the same arguments later (the request expires %s).",
			pa.WhoDecides(), c.kind.noun, e.Name, e.ID, c.tool.Name, exp)
	}
	res := schemas.DeleteResult{Status: schemas.ApprovalPending, Resource: resourceOf(e, ""), Preview: preview(c, e), ExpiresAt: exp,
		Confirmation: string(pa.Channel), ApprovalID: pa.ID, Message: msg}
	return ended(schemas.ApprovalPending, "", mcp.NewToolResultStructured(res, msg)).confirmedWith(confirmation{channel: pa.Channel, approvalID: pa.ID})
}

// requestKey names the call a pending approval belongs to: the same caller asking the same
// tool about the same item (or plan) again finds it.
func (ts *Toolset) requestKey(ctx context.Context, org, tool, what string) string {
	return confirm.RequestKey(org, tool, what, ts.callerBinding(ctx), ts.sessionBinding(ctx))
}

// Approval returns a pending approval by its id (the approval page reads it to show it).
func (ts *Toolset) Approval(ctx context.Context, id string) (*confirm.PendingApproval, error) {
	return ts.approvals.Get(ctx, id)
}

// DecideApproval records a person's decision on a pending approval, once, with its signed
// record (confirm.Approvals.Decide). The App and the approval page both decide through here.
func (ts *Toolset) DecideApproval(ctx context.Context, id string, d confirm.ApprovalDecision) (*confirm.PendingApproval, error) {
	return ts.approvals.Decide(ctx, id, d, ts.recordApproval)
}

// recordApproval signs r and writes it to the audit log, synced, as an "approval" line. An
// approval that cannot be recorded must not take effect: the caller refuses on error.
func (ts *Toolset) recordApproval(ctx context.Context, r confirm.ApprovalRecord) error {
	r.Sign(ts.opts.ApprovalKey)
	rec := audit.Record{Time: confirm.Stamp(ts.opts.Now()), Tool: r.Tool, Tier: string(TierPermanent), Org: r.Org, Outcome: schemas.Approval, Detail: r.Outcome,
		Confirmation: r.Channel, ConfirmMode: string(ts.opts.Confirm), ConfirmedBy: r.Approver, ApprovalID: r.RequestID, Caller: r.Caller,
		Session: sessionID(ctx), Transport: transportName(ctx), Approval: &r}
	rec.ClientName, rec.ClientVersion = clientInfo(ctx)
	if t, ok := ByName(r.Tool); ok {
		rec.Tier, rec.ResourceType = string(t.Tier), string(t.Kind) // a bulk tool's Kind is ""
	}
	if len(r.Items) == 1 {
		rec.ResourceID = r.Items[0].ID
	}
	if err := ts.write(ctx, rec); err != nil {
		ts.opts.Logger.Error("approval record not written: the approval does not take effect", "tool", r.Tool, "err", err)
		return fmt.Errorf("the approval record could not be written to the audit log (%w)", err)
	}
	return nil
}

// ApprovalPublicKey is the public half of the key approval records are signed with.
func (ts *Toolset) ApprovalPublicKey() ed25519.PublicKey {
	return ts.opts.ApprovalKey.Public().(ed25519.PublicKey)
}

// ApprovalPage is where a person approves a permanent delete outside the client: the
// server's approval page (server/approvalpage). Nil: there is none.
type ApprovalPage interface {
	// Reachable reports whether the person behind ctx's caller (or, under the two-person
	// rule, an approver) can decide on the page: on stdio the person at the machine can; on
	// HTTP only someone who can log in there in a way the model cannot (OAuth in the browser,
	// or their approval passphrase).
	Reachable(ctx context.Context, approvers []string) bool
	// Announce brings a new pending approval to the person (stdio: opens their browser on
	// the link with secret, and writes the link to stderr). It returns what the tool result
	// may say about where to approve: never the secret, never a link that carries it.
	Announce(ctx context.Context, pa *confirm.PendingApproval, secret string) string
}
