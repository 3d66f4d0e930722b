package tools

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/mark3labs/mcp-go/mcp"

	"github.com/tallyfy-mcp/tallyfy-mcp/schemas"
	"github.com/tallyfy-mcp/tallyfy-mcp/tallyfy"
)

// A permanent delete confirmed outside the call (approval page, MCP App): the first call
// parks a pending approval (approval.go) and answers approval_pending at once; the same call
// again finds it, and deletes if the person approved, says "still waiting" if they have not,
// and "declined" if they declined.

// awaitApproval is the approval flow of a single delete, through channel ch.
func (ts *Toolset) awaitApproval(ctx context.Context, c *call, e tallyfy.Entity, ch Channel) outcome {
	key := ts.requestKey(ctx, c.client.OrgID(), c.tool.Name, e.ID)
	pa, err := ts.approvalFor(ctx, key)
	if err != nil {
		return storeRefusal(err)
	}
	now := ts.now()
	if pa != nil {
		switch {
		case pa.Status != ApprovalPending:
			return ts.actOnDecision(ctx, c, e, pa, key)
		case !pa.Expired(now):
			return ts.pendingDelete(c, e, pa, "", true)
		}
		// expired while pending: ask again
	}
	left, err := ts.budget.Room(context.WithoutCancel(ctx), now)
	if err != nil {
		o, _ := ts.budgetAnswer(nil, err)
		return o
	}
	pa = ts.newPendingApproval(ctx, c, ch, key, now.Add(ts.opts.ApprovalTTL), left,
		[]ApprovalItem{{ID: e.ID, Name: e.Name, State: stateWord(e.Archived), LastUpdated: e.LastUpdated, FP: fingerprintHash(e.Fingerprint())}})
	pa.Noun = c.res.noun
	if ch == ChannelApprovalPage && !pa.TwoPerson && ts.urlElicitChannel(ctx) {
		return ts.approveThroughURL(ctx, c, e, pa) // the client opens the page (url_elicitation.go)
	}
	where, o, ok := ts.announce(ctx, pa)
	if !ok {
		return o
	}
	return ts.pendingDelete(c, e, pa, where, false)
}

// actOnDecision acts on a person's decision on pa, for the single delete of e (as read just
// now): approved, it deletes once after checking that the approval is still good and e is as
// approved; declined, it reports who declined.
func (ts *Toolset) actOnDecision(ctx context.Context, c *call, e tallyfy.Entity, pa *PendingApproval, key string) outcome {
	how := confirmation{channel: pa.Channel, by: pa.DecidedBy, approvalID: pa.ID}
	ts.forgetRequest(ctx, key)
	if pa.Status == ApprovalDeclined {
		return cancelled("declined", e, how, fmt.Sprintf("%s: nothing was deleted. Do not ask again unless the person wants it.", declinedBy(pa)))
	}
	if pa.Expired(ts.now()) {
		return refused("approval expired", mcp.NewToolResultError(fmt.Sprintf("Nothing was deleted: the approval given for %s %q expired (%s) before this call. Call %s again to ask for a new approval.",
			c.res.noun, e.Name, pa.ExpiresAt.UTC().Format(time.RFC3339), c.tool.Name))).confirmedWith(how)
	}
	if len(pa.Items) != 1 || pa.Items[0].FP != fingerprintHash(e.Fingerprint()) {
		return refused("changed since approval", mcp.NewToolResultError(fmt.Sprintf("Nothing was deleted: %s %q changed since the person approved it (its name, state or last update differ). Call %s again to ask for approval of the current version.",
			c.res.noun, e.Name, c.tool.Name))).confirmedWith(how)
	}
	how.use = func(ctx context.Context) (bool, error) {
		return ts.opts.State.UseOnce(ctx, "approval-used:"+pa.ID, approvalUseTTL)
	}
	return ts.performDelete(ctx, c, e, how)
}

// newPendingApproval is a new pending approval of the call's items, for channel ch.
func (ts *Toolset) newPendingApproval(ctx context.Context, c *call, ch Channel, key string, exp time.Time, left int, items []ApprovalItem) *PendingApproval {
	pa := &PendingApproval{ID: newNonce(), Org: c.client.OrgID(), Tool: c.tool.Name, Kind: c.res.kind, Destroys: c.res.destroys,
		Items: items, DeletesLeft: left, Requester: ts.whoAsks(ctx), RequesterBinding: ts.callerBinding(ctx),
		Channel: ch, Status: ApprovalPending, RequestedAt: ts.now(), ExpiresAt: exp, RequestKey: key}
	if approvers := approvalRule(ctx, c.tool); len(approvers) > 0 {
		pa.TwoPerson, pa.Approvers = true, approvers
	}
	return pa
}

// announce parks pa and brings it to the person. where is what the result may say about
// where to approve (never a secret). ok false: it could not be parked.
func (ts *Toolset) announce(ctx context.Context, pa *PendingApproval) (where string, o outcome, ok bool) {
	secret, hash := newApprovalSecret()
	pa.SecretHash = hash
	if err := ts.parkApproval(ctx, pa); err != nil {
		return "", storeRefusal(err), false
	}
	switch {
	case pa.Channel == ChannelApprovalPage && ts.opts.ApprovalPage != nil:
		where = ts.opts.ApprovalPage.Announce(ctx, pa, secret)
	case pa.Channel == ChannelApp && ts.opts.AppView != nil:
		// The App's handle: the view gets the secret through an app-only tool, never the
		// model (CheckApprovalSecret checks it when the view decides).
		where = ts.opts.AppView.Announce(ctx, pa, secret)
	}
	return where, outcome{}, true
}

func declinedBy(pa *PendingApproval) string {
	if pa.DecidedBy != "" {
		return fmt.Sprintf("%s declined on the %s", pa.DecidedBy, channelPlace(pa.Channel))
	}
	return "The person declined on the " + channelPlace(pa.Channel)
}

func channelPlace(ch Channel) string {
	if ch == ChannelApp {
		return "App view"
	}
	return "approval page"
}

// whoDecides says who must approve, for the result.
func whoDecides(pa *PendingApproval) string {
	if pa.TwoPerson {
		return fmt.Sprintf("a second person (one of: %s; not %s)", strings.Join(pa.Approvers, ", "), pa.Requester)
	}
	return "the person"
}

// pendingDelete answers a single delete waiting for the person. still: an earlier call
// asked already.
func (ts *Toolset) pendingDelete(c *call, e tallyfy.Entity, pa *PendingApproval, where string, still bool) outcome {
	exp := pa.ExpiresAt.UTC().Format(time.RFC3339)
	var msg string
	if still {
		msg = fmt.Sprintf("Still waiting: %s has not decided yet on permanently deleting %s %q (%s). Nothing deleted. Call %s again with the same arguments later (the request expires %s).",
			whoDecides(pa), c.res.noun, e.Name, e.ID, c.tool.Name, exp)
	} else {
		msg = fmt.Sprintf("Nothing deleted yet: permanently deleting %s %q (%s) destroys %s and cannot be undone, so %s must approve it on the %s, outside this chat, typing its name. %sThen call %s again with the same arguments: it deletes only if they approved (the request expires %s). Do not claim it is deleted before that.",
			c.res.noun, e.Name, e.ID, c.res.destroys, whoDecides(pa), channelPlace(pa.Channel), sentence(where), c.tool.Name, exp)
	}
	res := schemas.DeleteResult{Status: "approval_pending", Resource: resourceOf(e, ""), Preview: ts.preview(c, e), ExpiresAt: exp,
		Confirmation: string(pa.Channel), ApprovalID: pa.ID, Message: msg}
	return ended("approval_pending", "", mcp.NewToolResultStructured(res, msg)).confirmedWith(confirmation{channel: pa.Channel, approvalID: pa.ID})
}

func sentence(s string) string {
	if s == "" {
		return ""
	}
	return s + " "
}
