package tools_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mark3labs/mcp-go/client"
	"github.com/mark3labs/mcp-go/mcp"

	"github.com/tallyfy-mcp/tallyfy-mcp/schemas"
	"github.com/tallyfy-mcp/tallyfy-mcp/tallyfy"
	"github.com/tallyfy-mcp/tallyfy-mcp/tallyfy/sandbox"
	"github.com/tallyfy-mcp/tallyfy-mcp/tools"
	"github.com/tallyfy-mcp/tallyfy-mcp/tools/confirm"
)

// linkPage is a notePage that also gives its address, for URL-mode elicitation.
type linkPage struct {
	notePage
	linked sync.Map // approval id -> the secret Link got
}

func (p *linkPage) Link(_ context.Context, pa *confirm.PendingApproval, secret string) (string, error) {
	p.linked.Store(pa.ID, secret)
	return "http://page.test/approve/" + pa.ID + "/" + secret, nil
}

func (p *linkPage) secretOf(id string) string {
	s, _ := p.linked.Load(id)
	str, _ := s.(string)
	return str
}

func declares(c *mcp.ElicitationCapability) client.ClientOption {
	return client.WithClientCapabilities(mcp.ClientCapabilities{Elicitation: c})
}

var urlOnly = &mcp.ElicitationCapability{URL: &struct{}{}}

// TestURLElicitationChannel: where the client declares URL-mode elicitation (2025-11-25), a
// permanent delete sends the approval page's address in elicitation/create mode url, waits
// for the person's decision on the page and deletes in the same call; the page's decision is
// what counts (approval_page, by who decided there); a decline on the page or in the client
// deletes nothing; a decision that does not come within --elicit-timeout leaves it pending
// for the next call. The address is in no result and no audit record.
func TestURLElicitationChannel(t *testing.T) {
	t.Parallel()
	page := &linkPage{notePage: notePage{reachable: true}}
	h := newHarness(t, withConfirm(tools.ConfirmAuto), withPage(page, "pat"), withElicitTimeout(2*time.Second))
	e := &elicitor{}
	c := h.connect(mcp.ProtocolVersion20251125, e, "url-client", declares(urlOnly))
	ctx := context.Background()
	var seen []string
	call := func(k kindInfo) schemas.DeleteResult {
		r := h.callWith(c, k.del, map[string]any{k.idArg: k.archived}).ok(t)
		seen = append(seen, string(r.raw)+r.text)
		return decode[schemas.DeleteResult](t, r)
	}
	// The person approves on the page while the call waits.
	decideOnPage := func(approve bool) func(context.Context, mcp.ElicitationRequest) (*mcp.ElicitationResult, error) {
		return func(_ context.Context, req mcp.ElicitationRequest) (*mcp.ElicitationResult, error) {
			go func() {
				time.Sleep(300 * time.Millisecond) // the call is waiting by now
				if _, err := h.ts.DecideApproval(ctx, req.Params.ElicitationID, confirm.ApprovalDecision{Approve: approve, Channel: confirm.ApprovalPage, Approver: "pat"}); err != nil {
					t.Errorf("deciding on the page: %v", err)
				}
			}()
			return reply(mcp.ElicitationResponseActionAccept, nil), nil
		}
	}

	k := kinds[1] // run
	e.set(decideOnPage(true))
	done := call(k)
	asked := e.requests()
	if len(asked) != 1 || asked[0].Params.Mode != mcp.ElicitationModeURL || asked[0].Params.ElicitationID != done.ApprovalID {
		t.Fatalf("the client was asked %+v", asked)
	}
	link := asked[0].Params.URL
	if secret := page.secretOf(done.ApprovalID); secret == "" || link != "http://page.test/approve/"+done.ApprovalID+"/"+secret {
		t.Fatalf("the elicitation's url %q does not carry the page's link", link)
	}
	if done.Status != "deleted" || done.Confirmation != "approval_page" || done.ConfirmedBy != "pat" || !h.gone(k.kind, k.archived) {
		t.Fatalf("approved on the page: %+v", done)
	}
	if done.Resource.Name == "" || !strings.Contains(asked[0].Params.Message, done.Resource.Name) || strings.Contains(asked[0].Params.Message, "page.test") {
		t.Fatalf("the message does not name the item: %q", asked[0].Params.Message)
	}

	// Declined on the page: nothing deleted, the same call says so.
	k = kinds[2]
	e.set(decideOnPage(false))
	declined := call(k)
	if declined.Status != "cancelled" || !strings.Contains(declined.Message, "pat declined on the approval page") || h.gone(k.kind, k.archived) {
		t.Fatalf("declined on the page: %+v", declined)
	}

	// Declined in the client (the person would not open the page): nothing deleted, and the
	// page can no longer approve it.
	k = kinds[0]
	e.set(func(context.Context, mcp.ElicitationRequest) (*mcp.ElicitationResult, error) {
		return reply(mcp.ElicitationResponseActionDecline, nil), nil
	})
	refused := call(k)
	if refused.Status != "cancelled" || refused.Confirmation != "elicitation" || !strings.Contains(refused.Message, "declined to open the approval page in their client: nothing was deleted") || h.gone(k.kind, k.archived) {
		t.Fatalf("declined in the client: %+v", refused)
	}
	if _, err := h.ts.DecideApproval(ctx, refused.ApprovalID, confirm.ApprovalDecision{Approve: true, Channel: confirm.ApprovalPage, Approver: "pat"}); !errors.Is(err, confirm.ErrApprovalDecided) {
		t.Fatalf("approving on the page after the client declined: %v", err)
	}

	// Nobody decides within --elicit-timeout: still pending; decided later, the same call
	// again deletes.
	e.set(func(context.Context, mcp.ElicitationRequest) (*mcp.ElicitationResult, error) {
		return reply(mcp.ElicitationResponseActionAccept, nil), nil
	})
	waiting := call(k)
	if waiting.Status != "approval_pending" || !strings.Contains(waiting.Message, "Still waiting") || h.gone(k.kind, k.archived) {
		t.Fatalf("undecided: %+v", waiting)
	}
	if _, err := h.ts.DecideApproval(ctx, waiting.ApprovalID, confirm.ApprovalDecision{Approve: true, Channel: confirm.ApprovalPage, Approver: "pat"}); err != nil {
		t.Fatal(err)
	}
	e.set(func(context.Context, mcp.ElicitationRequest) (*mcp.ElicitationResult, error) {
		t.Error("asked again for an approval already given")
		return reply(mcp.ElicitationResponseActionDecline, nil), nil
	})
	if later := call(k); later.Status != "deleted" || later.ApprovalID != waiting.ApprovalID || !h.gone(k.kind, k.archived) {
		t.Fatalf("after a late approval: %+v", later)
	}

	// A client that never answers the URL elicitation: the person may not have the link, so
	// the page is announced as without URL mode, and the call answers approval_pending.
	k = kinds[2]
	e.set(func(ctx context.Context, _ mcp.ElicitationRequest) (*mcp.ElicitationResult, error) {
		<-ctx.Done()
		return nil, ctx.Err()
	})
	silent := call(k)
	if silent.Status != "approval_pending" || !strings.Contains(silent.Message, "Open the page.") || page.secrets[silent.ApprovalID] == "" || h.gone(k.kind, k.archived) {
		t.Fatalf("client never answered: %+v", silent)
	}

	// The page's address reached the client only.
	recs, _ := json.Marshal(h.audit.all())
	secrets := map[string]string{}
	page.linked.Range(func(id, s any) bool { secrets[id.(string)] = s.(string); return true })
	for id, secret := range secrets {
		for _, s := range seen {
			if strings.Contains(s, secret) || strings.Contains(s, "page.test") {
				t.Fatalf("a result carries the page's address (%s)", id)
			}
		}
		if strings.Contains(string(recs), secret) || strings.Contains(string(recs), "page.test") {
			t.Fatal("the audit log carries the page's address")
		}
	}
	var approvals []confirm.ApprovalRecord
	for _, r := range h.audit.approvals() {
		approvals = append(approvals, *r.Approval)
	}
	if len(approvals) != 4 || approvals[0].Channel != confirm.ApprovalPage || approvals[0].Approver != "pat" ||
		approvals[2].Channel != confirm.Elicitation || approvals[2].Outcome != confirm.ApprovalOutcomeDeclined {
		t.Fatalf("approval records %+v", approvals)
	}
}

// TestURLElicitationBulk: a bulk delete's plan, executed with its plan_token by a client that
// declares URL-mode elicitation, is approved on the page (the count typed there) and runs in
// the same call; refused in the client, nothing runs.
func TestURLElicitationBulk(t *testing.T) {
	t.Parallel()
	page := &linkPage{notePage: notePage{reachable: true}}
	h := newHarness(t, withConfirm(tools.ConfirmAuto), withPage(page, "pat"), withElicitTimeout(2*time.Second))
	e := &elicitor{}
	c := h.connect(mcp.ProtocolVersion20251125, e, "url-client", declares(urlOnly))
	if _, err := h.api().Archive(context.Background(), tallyfy.KindRun, sandbox.IDs.CompleteRun); err != nil {
		t.Fatal(err)
	}
	ids := []string{sandbox.IDs.ArchivedRun, sandbox.IDs.CompleteRun}
	execute := func() schemas.BulkResult {
		plan := decode[schemas.BulkResult](t, h.callWith(c, "bulk_delete", map[string]any{"type": "run", "ids": ids}).ok(t))
		if plan.Status != "planned" || plan.PlanToken == "" {
			t.Fatalf("plan: %+v", plan)
		}
		return decode[schemas.BulkResult](t, h.callWith(c, "bulk_delete", map[string]any{"type": "run", "ids": ids, "plan_token": plan.PlanToken}).ok(t))
	}
	e.set(func(context.Context, mcp.ElicitationRequest) (*mcp.ElicitationResult, error) {
		return reply(mcp.ElicitationResponseActionCancel, nil), nil
	})
	if r := execute(); r.Status != "cancelled" || r.Confirmation != "elicitation" || h.gone("run", ids[0]) || h.gone("run", ids[1]) {
		t.Fatalf("dismissed in the client: %+v", r)
	}
	e.set(func(_ context.Context, req mcp.ElicitationRequest) (*mcp.ElicitationResult, error) {
		if req.Params.Mode != mcp.ElicitationModeURL || !strings.Contains(req.Params.Message, "2 processes") {
			t.Errorf("asked %+v", req.Params)
		}
		go func() {
			time.Sleep(300 * time.Millisecond)
			if _, err := h.ts.DecideApproval(context.Background(), req.Params.ElicitationID, confirm.ApprovalDecision{Approve: true, Channel: confirm.ApprovalPage, Approver: "pat"}); err != nil {
				t.Errorf("deciding on the page: %v", err)
			}
		}()
		return reply(mcp.ElicitationResponseActionAccept, nil), nil
	})
	done := execute()
	if done.Totals["ok"] != 2 || done.Confirmation != "approval_page" || done.ConfirmedBy != "pat" || !h.gone("run", ids[0]) || !h.gone("run", ids[1]) {
		t.Fatalf("approved on the page: %+v", done)
	}
}

// TestURLElicitationOrder: URL mode comes after the App and before form elicitation, and only
// where the client declares it, the page can be reached, and the server can ask during the
// call (a 2026-07-28 client takes questions in results, and gets the form question or the
// page as before).
func TestURLElicitationOrder(t *testing.T) {
	t.Parallel()
	k := kinds[0]
	args := map[string]any{k.idArg: k.archived}
	modeAsked := func(page tools.ApprovalPage, proto string, cap *mcp.ElicitationCapability, mode tools.ConfirmMode) (string, schemas.DeleteResult) {
		t.Helper()
		h := newHarness(t, withConfirm(mode), withPage(page, "pat"), withElicitTimeout(time.Second))
		e := &elicitor{}
		e.set(func(context.Context, mcp.ElicitationRequest) (*mcp.ElicitationResult, error) {
			return reply(mcp.ElicitationResponseActionCancel, nil), nil
		})
		c := h.connect(proto, e, "order-client", declares(cap))
		r := h.callWith(c, k.del, args)
		var res schemas.DeleteResult
		if r.err == nil && !r.res.IsError {
			res = decode[schemas.DeleteResult](t, r)
		}
		if asked := e.requests(); len(asked) == 1 {
			return asked[0].Params.Mode, res
		}
		return "", res
	}
	both := &mcp.ElicitationCapability{Form: &struct{}{}, URL: &struct{}{}}
	reach := func() tools.ApprovalPage { return &linkPage{notePage: notePage{reachable: true}} }
	for _, tc := range []struct {
		what     string
		page     tools.ApprovalPage
		proto    string
		cap      *mcp.ElicitationCapability
		wantMode string
		wantCh   string
		confirm  tools.ConfirmMode
	}{
		{"url only", reach(), mcp.ProtocolVersion20251125, urlOnly, "url", "elicitation", ""},
		{"form and url: url first", reach(), mcp.ProtocolVersion20251125, both, "url", "elicitation", ""},
		{"form only", reach(), mcp.ProtocolVersion20251125, &mcp.ElicitationCapability{Form: &struct{}{}}, "", "elicitation", ""},
		{"url, page not reachable for the caller: form", &linkPage{notePage: notePage{reachable: false}}, mcp.ProtocolVersion20251125, both, "", "elicitation", ""},
		{"url, a page without links: the page announced", &notePage{reachable: true}, mcp.ProtocolVersion20251125, urlOnly, "", "approval_page", ""},
		{"url, 2026-07-28: the page announced", reach(), "", urlOnly, "", "approval_page", ""},
		{"url only, --confirm elicit: it is elicitation", reach(), mcp.ProtocolVersion20251125, urlOnly, "url", "elicitation", tools.ConfirmElicit},
		{"url, 2026-07-28, --confirm elicit: refused", reach(), "", urlOnly, "", "", tools.ConfirmElicit},
	} {
		if tc.confirm == "" {
			tc.confirm = tools.ConfirmAuto
		}
		mode, res := modeAsked(tc.page, tc.proto, tc.cap, tc.confirm)
		if tc.wantMode == "" && mode == "url" || tc.wantMode == "url" && mode != "url" {
			t.Errorf("%s: asked in mode %q", tc.what, mode)
		}
		if res.Confirmation != tc.wantCh {
			t.Errorf("%s: confirmation %q, want %q (%+v)", tc.what, res.Confirmation, tc.wantCh, res)
		}
	}
}
