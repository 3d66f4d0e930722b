package tools

import (
	"context"
	"crypto/ed25519"
	"fmt"

	"github.com/tallyfy-mcp/tallyfy-mcp/tools/confirm"
)

// Pending approvals (confirm.PendingApproval) as the Toolset serves them: the approval page
// and the App view read and decide them here, and every decision and confirmation is written
// to the audit log as a signed record (confirm.ApprovalRecord).

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
	r.Sign(ts.approvalKey)
	rec := Record{Time: confirm.Stamp(ts.now()), Tool: r.Tool, Tier: string(TierPermanent), Org: r.Org, Outcome: "approval", Detail: r.Outcome,
		Confirmation: r.Channel, ConfirmMode: string(ts.opts.Confirm), ConfirmedBy: r.Approver, ApprovalID: r.RequestID, Caller: r.Caller,
		Session: sessionID(ctx), Transport: transportName(ctx), Approval: &r}
	rec.ClientName, rec.ClientVersion = clientInfo(ctx)
	if t, ok := ByName(r.Tool); ok {
		rec.Tier = string(t.Tier)
		if t.Kind != "" {
			rec.ResourceType = string(t.Kind)
		}
	}
	if len(r.Items) == 1 {
		rec.ResourceID = r.Items[0].ID
	}
	if err := ts.audit.Record(context.WithoutCancel(ctx), rec); err != nil {
		ts.log.Error("approval record not written: the approval does not take effect", "tool", r.Tool, "err", err)
		return fmt.Errorf("the approval record could not be written to the audit log (%w)", err)
	}
	return nil
}

// ApprovalPublicKey is the public half of the key approval records are signed with.
func (ts *Toolset) ApprovalPublicKey() ed25519.PublicKey {
	return ts.approvalKey.Public().(ed25519.PublicKey)
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
