package tools_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tallyfy-mcp/tallyfy-mcp/schemas"
	"github.com/tallyfy-mcp/tallyfy-mcp/tools"
	"github.com/tallyfy-mcp/tallyfy-mcp/tools/confirm"
)

// notePage is an approval page that keeps what it was told: the server's page is tested in
// Chromium through the binary (internal/approvalpage); here the tool side of the flow is.
type notePage struct {
	mu        sync.Mutex
	reachable bool
	secrets   map[string]string // approval id -> the secret Announce got
}

func (p *notePage) Reachable(context.Context, []string) bool { return p.reachable }

func (p *notePage) Announce(_ context.Context, pa *confirm.PendingApproval, secret string) string {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.secrets == nil {
		p.secrets = map[string]string{}
	}
	p.secrets[pa.ID] = secret
	return "Open the page."
}

func withPage(p tools.ApprovalPage, localUser string) option {
	return func(c *config) { c.opts.ApprovalPage, c.opts.LocalUser = p, localUser }
}

// TestApprovalPageChannel: with a client that cannot elicit and a reachable page, a permanent
// delete parks a pending approval (the secret goes to the page, never the result); only the
// requester's decision on the page counts, once; approved, the same call deletes and says who;
// an approval left to expire cannot be decided, and the next call asks afresh.
func TestApprovalPageChannel(t *testing.T) {
	t.Parallel()
	forEachProtocol(t, func(t *testing.T, p protocol) {
		page := &notePage{reachable: true}
		h := newHarness(t, withProto(p), withConfirm(tools.ConfirmAuto), withAllowToken(), withPage(page, "pat"))
		k := kinds[1] // run
		args := map[string]any{k.idArg: k.archived}
		var seen []string // every result the model got
		call := func() result { r := h.call(k.del, args).ok(t); seen = append(seen, string(r.raw)+r.text); return r }
		first := decode[schemas.DeleteResult](t, call())
		if first.Status != "approval_pending" || first.Confirmation != "approval_page" || first.ApprovalID == "" || first.ConfirmToken != "" {
			t.Fatalf("first call (the page comes before an allowed token): %+v", first)
		}
		secret := page.secrets[first.ApprovalID]
		if len(secret) != 64 {
			t.Fatalf("the page got no secret: %q", secret)
		}
		ctx := context.Background()
		if _, err := h.ts.DecideApproval(ctx, first.ApprovalID, confirm.ApprovalDecision{Approve: true, Channel: confirm.App, Approver: "pat"}); !errors.Is(err, confirm.ErrWrongChannel) {
			t.Fatalf("a decision through another channel: %v", err)
		}
		if _, err := h.ts.DecideApproval(ctx, first.ApprovalID, confirm.ApprovalDecision{Approve: true, Channel: confirm.ApprovalPage, Approver: "mallory"}); !errors.Is(err, confirm.ErrNotAnApprover) {
			t.Fatalf("someone else's decision: %v", err)
		}
		r := call()
		if !strings.Contains(r.text, "Still waiting") || h.gone(k.kind, k.archived) {
			t.Fatalf("before the decision: %s", r.text)
		}
		if _, err := h.ts.DecideApproval(ctx, first.ApprovalID, confirm.ApprovalDecision{Approve: true, Channel: confirm.ApprovalPage, Approver: "pat"}); err != nil {
			t.Fatal(err)
		}
		if _, err := h.ts.DecideApproval(ctx, first.ApprovalID, confirm.ApprovalDecision{Approve: false, Channel: confirm.ApprovalPage, Approver: "pat"}); !errors.Is(err, confirm.ErrApprovalDecided) {
			t.Fatalf("a second decision: %v", err)
		}
		done := decode[schemas.DeleteResult](t, call())
		if done.Status != "deleted" || done.Confirmation != "approval_page" || done.ConfirmedBy != "pat" || done.ApprovalID != first.ApprovalID || !h.gone(k.kind, k.archived) {
			t.Fatalf("after approval: %+v", done)
		}
		for _, raw := range seen {
			if strings.Contains(raw, secret) {
				t.Fatal("a result carries the page's secret")
			}
		}
		approvals := h.audit.approvals()
		if len(approvals) != 1 || approvals[0].Approval == nil || approvals[0].Approval.Approver != "pat" || approvals[0].Approval.Channel != confirm.ApprovalPage {
			t.Fatalf("approval records %+v", approvals)
		}
		if err := confirm.VerifyApproval(h.ts.ApprovalPublicKey(), *approvals[0].Approval); err != nil {
			t.Fatalf("the approval record does not verify: %v", err)
		}
		del := h.audit.outcomes()
		if last := del[len(del)-1]; last.Outcome != "ok" || last.Confirmation != confirm.ApprovalPage || last.ConfirmedBy != "pat" || last.ApprovalID != first.ApprovalID {
			t.Fatalf("delete record %+v", last)
		}

		// Expiry: a request left past its time cannot be decided, and the next call asks again.
		k = kinds[2] // template
		args = map[string]any{k.idArg: k.archived}
		old := decode[schemas.DeleteResult](t, h.call(k.del, args).ok(t))
		h.clock.Advance(11 * time.Minute)
		if _, err := h.ts.DecideApproval(ctx, old.ApprovalID, confirm.ApprovalDecision{Approve: true, Channel: confirm.ApprovalPage, Approver: "pat"}); !errors.Is(err, confirm.ErrApprovalExpired) {
			t.Fatalf("deciding an expired request: %v", err)
		}
		again := decode[schemas.DeleteResult](t, h.call(k.del, args).ok(t))
		if again.Status != "approval_pending" || again.ApprovalID == old.ApprovalID || h.gone(k.kind, k.archived) {
			t.Fatalf("after expiry: %+v", again)
		}
		// Declined: the next call says so and deletes nothing.
		if _, err := h.ts.DecideApproval(ctx, again.ApprovalID, confirm.ApprovalDecision{Approve: false, Channel: confirm.ApprovalPage, Approver: "pat"}); err != nil {
			t.Fatal(err)
		}
		declined := decode[schemas.DeleteResult](t, h.call(k.del, args).ok(t))
		if declined.Status != "cancelled" || !strings.Contains(declined.Message, "declined") || h.gone(k.kind, k.archived) {
			t.Fatalf("after decline: %+v", declined)
		}
	})
}

// TestHonestDefaults: --confirm auto with neither elicitation nor a page refuses, naming the
// channels that would work, unless the operator allows the token; an approval page that is
// not reachable for this caller is not used.
func TestHonestDefaults(t *testing.T) {
	t.Parallel()
	k := kinds[0]
	h := newHarness(t, withConfirm(tools.ConfirmAuto), withPage(&notePage{reachable: false}, ""))
	h.call(k.del, map[string]any{k.idArg: k.archived}).failed(t, "Nothing was deleted", "neither MCP Apps nor elicitation", "approval passphrase", "--confirm-allow-token")
	if h.gone(k.kind, k.archived) {
		t.Fatal("deleted")
	}
	if recs := h.audit.outcomes(); len(recs) != 1 || recs[0].Detail != "no confirmation channel" {
		t.Fatalf("audit %+v", recs)
	}
	// A confirm_token the operator did not allow is refused before anything else.
	h.call(k.del, map[string]any{k.idArg: k.archived, "confirm_token": "tcf1.x.y"}).failed(t, "does not take a confirm_token")
	h = newHarness(t, withConfirm(tools.ConfirmAuto), withAllowToken(), withPage(&notePage{reachable: false}, ""))
	if res := askToken(t, h, k, k.archived); res.Confirmation != "token" {
		t.Fatalf("allowed token: %+v", res)
	}
	if h.ts.ActiveChannels("stdio") == "" || !strings.Contains(h.ts.ActiveChannels("http"), "token (--confirm-allow-token)") {
		t.Fatalf("startup line: %q", h.ts.ActiveChannels("http"))
	}
}
