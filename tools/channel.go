package tools

import (
	"context"
	"fmt"
	"strings"

	"github.com/mark3labs/mcp-go/mcp"

	"github.com/tallyfy-mcp/tallyfy-mcp/tools/confirm"
)

// The channel framework (issue 21 point 1): which channel confirms a permanent delete, and
// what each confirmation carries to the delete and its audit records.

// confirmation is how a permanent delete was confirmed, carried from the channel to the
// delete and into its intent and outcome records.
type confirmation struct {
	channel confirm.Confirmation
	by      string // who confirmed, where known (approver, caller, local OS user)
	// approvalID names the signed approval record (or the pending approval) behind it.
	approvalID string
	// use marks the confirmation used, once, just before the delete (nil: nothing to use up,
	// as under --confirm off or a bulk plan whose plan_token was used already). false: it
	// was used before.
	use func(ctx context.Context) (fresh bool, err error)
	// valid, if set, says whether the confirmation is still good just before it is used (a
	// token may expire while the budget or the person is waited for).
	valid func() error
	// record is the signed approval record to write once use succeeded (token and
	// elicitation; a page or App decision wrote its own when the person decided).
	record *confirm.ApprovalRecord
}

// approvalRule is the two-person rule in force for a call: the approvers named for its caller
// when their entry requires approval for the call's tier (permanent; lifecycle covers bulk
// archive too). nil: none.
func approvalRule(ctx context.Context, t Tool) []string {
	who, ok := CallerFrom(ctx)
	if !ok || len(who.Approvers) == 0 {
		return nil
	}
	switch {
	case who.RequireApproval == TierPermanent && t.Tier == TierPermanent,
		who.RequireApproval == TierLifecycle && (t.Tier == TierPermanent || (t.Bulk && t.Verb == VerbArchive)):
		return who.Approvers
	}
	return nil
}

// chooseChannel picks the strongest channel the request's client and the operator allow, in
// the order of issue 21: the MCP App, the approval page carried by URL-mode elicitation where
// the client declares it, form elicitation, the approval page announced by the server, and
// the token flow only where the operator allows it. tokenGiven: the call carries a confirm_token (the second
// call of the token flow). ok false: no channel can confirm, and o says which would and how
// the operator turns one on.
func (ts *Toolset) chooseChannel(ctx context.Context, t Tool, tokenGiven bool, approvers []string) (ch confirm.Confirmation, o outcome, ok bool) {
	page := ts.opts.ApprovalPage
	if len(approvers) > 0 {
		// Two-person rule: only another person can confirm, and only on the page.
		if page != nil && page.Reachable(ctx, approvers) {
			return confirm.ApprovalPage, outcome{}, true
		}
		return "", refused("no approver channel", mcp.NewToolResultError(fmt.Sprintf("Nothing was changed: %s needs a second person's approval here (approvers: %s), and they can approve only on this server's approval page, which is not set up for them. Ask the operator to give the approvers an approval passphrase in the callers file.",
			t.Name, strings.Join(approvers, ", ")))), false
	}
	switch {
	case ts.opts.Confirm == ConfirmOff:
		return confirm.Off, outcome{}, true
	case tokenGiven && ts.opts.Confirm == ConfirmElicit:
		return "", refused("token in elicit mode", mcp.NewToolResultError("Nothing was deleted: this server takes confirmation only from the person (--confirm elicit), not a confirm_token. Call again without confirm_token.")), false
	case tokenGiven && ts.opts.Confirm == ConfirmAuto && !ts.opts.AllowToken: // auto takes the model-satisfiable token only if allowed
		return "", refused("token not allowed", mcp.NewToolResultError("Nothing was deleted: this server does not take a confirm_token (the model could give it on its own); the person confirms in their client or on the approval page. Call again without confirm_token.")), false
	case tokenGiven, ts.opts.Confirm == ConfirmToken:
		return confirm.Token, outcome{}, true
	case clientShowsApps(ctx): // the person confirms in the view (issue 21 point 2; app.go)
		return confirm.App, outcome{}, true
	case ts.urlElicitChannel(ctx):
		// URL-mode elicitation: the client opens the approval page for the person, whose
		// decision there the server sees (url_elicitation.go); a client that declares both
		// modes gets this rather than the form question, which proves only that the client
		// answered.
		return confirm.ApprovalPage, outcome{}, true
	case canElicit(ctx):
		return confirm.Elicitation, outcome{}, true
	case ts.opts.Confirm == ConfirmElicit:
		return "", refused("client cannot elicit", mcp.NewToolResultError(
			"Nothing was deleted: this server confirms permanent deletes by asking the person directly (--confirm elicit), and this client or transport cannot show such a question. Use a client that supports MCP elicitation, or ask the operator to run with --confirm auto.")), false
	case page != nil && page.Reachable(ctx, nil):
		return confirm.ApprovalPage, outcome{}, true
	case ts.opts.AllowToken:
		return confirm.Token, outcome{}, true
	}
	return "", refused("no confirmation channel", mcp.NewToolResultError(noChannelMessage)), false
}

// noChannelMessage answers a permanent delete that nothing can confirm (--confirm auto on
// HTTP, a client without Apps or elicitation, a caller without a page login).
const noChannelMessage = "Nothing was deleted: this client cannot ask the person (it supports neither MCP Apps nor elicitation), and this caller has no login for the server's approval page, so nobody but the model could confirm a permanent delete, and this server does not let the model confirm on its own. Channels that would work: a client with MCP Apps or elicitation; the approval page, once the operator gives this caller a login there (an approval passphrase in the callers file, approval_passphrase_sha256, or an OAuth login with --approval-oauth-client-id); or, if the operator accepts that the model confirms alone, --confirm-allow-token. Archiving (reversible) still works."

// ActiveChannels says which channels this server can confirm with, for the startup line.
func (ts *Toolset) ActiveChannels(transport string) string {
	switch ts.opts.Confirm {
	case ConfirmOff:
		return "off (no confirmation: unattended pipelines only)"
	case ConfirmToken:
		return "token only (--confirm token: the model calls twice; the person may not see it)"
	}
	parts := []string{"MCP App view (clients that declare " + AppExtension + ")"}
	if ts.opts.ApprovalPage != nil {
		parts = append(parts, "approval page through URL-mode elicitation (clients that declare it)")
	}
	parts = append(parts, "form elicitation (clients that declare it)")
	if ts.opts.Confirm == ConfirmAuto && ts.opts.ApprovalPage != nil {
		if transport == "stdio" {
			parts = append(parts, "approval page (local browser)")
		} else {
			parts = append(parts, "approval page (callers with an approval login)")
		}
	}
	if ts.opts.Confirm == ConfirmAuto && ts.opts.AllowToken {
		parts = append(parts, "token (--confirm-allow-token)")
	}
	return strings.Join(parts, ", then ")
}
