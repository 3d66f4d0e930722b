package tools

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/mark3labs/mcp-go/mcp"
	"github.com/mark3labs/mcp-go/server"

	"github.com/tallyfy-mcp/tallyfy-mcp/tools/confirm"
)

// URL-mode elicitation (MCP 2025-11-25, "Elicitation", URL mode; issue 21 point 3): the
// approval page, carried to the person by their client. The delete call parks the pending
// approval as the page channel does (approval.go), sends elicitation/create with mode
// "url", the page's address and an elicitationId, waits within --elicit-timeout for the
// person's decision on the page, and then deletes in the same call, or says declined or
// still waiting. The person decides on the page, with the page's login, so the channel
// recorded is approval_page and the approver is who the page proved them to be.
//
// The address reaches the client in the elicitation request only: never a tool result, never
// the audit log. The specification requires the client to show it to the person and not to
// the model; that rests on the client. On stdio the address carries the page's one-time
// secret: the client already holds this server's Tallyfy credentials (it starts it with
// them), so the link grants it nothing it does not have.

// ApprovalLinker is an approval page that can give its address for one pending approval, to
// carry in a URL-mode elicitation.
type ApprovalLinker interface {
	// Link is the page's absolute address for pa (stdio: the loopback link with secret;
	// HTTP: /approve/{id} on the address the client reached this server at).
	Link(ctx context.Context, pa *confirm.PendingApproval, secret string) (string, error)
}

// approvalPollInterval is how often a call waiting on the page reads the pending approval
// again (the store is shared, so the decision may be taken on another replica).
const approvalPollInterval = 200 * time.Millisecond

// canElicitURL reports whether this request's client declared URL-mode elicitation and the
// request can reach it as a server request during the call. 2026-07-28 clients take questions
// in the result instead (multi round-trip), which this flow does not use: they get the
// ordinary order of channels.
func canElicitURL(ctx context.Context) bool {
	caps, modern := clientCaps(ctx)
	return !modern && caps != nil && caps.Elicitation != nil && caps.Elicitation.URL != nil && askable(ctx)
}

// pageLinker is the approval page's linker, if it can give links.
func (ts *Toolset) pageLinker() ApprovalLinker {
	l, _ := ts.opts.ApprovalPage.(ApprovalLinker)
	return l
}

// urlElicitChannel reports whether a delete confirmed on the approval page goes to the
// person through URL-mode elicitation: the client declared it, the page can give its address
// and the person behind the call can log in there.
func (ts *Toolset) urlElicitChannel(ctx context.Context) bool {
	return ts.opts.ApprovalPage != nil && ts.pageLinker() != nil && canElicitURL(ctx) && ts.opts.ApprovalPage.Reachable(ctx, nil)
}

// askOnPage sends the address of parked pa (with its secret) to the client in a URL-mode
// elicitation with message msg, and waits for the person's decision on the page. ok true:
// decided is pa as decided. Else o answers what is not a decision there: the page announced
// instead (URL mode could not carry it), no decision within --elicit-timeout (pa stays
// parked), the person would not open the page in their client, or pa could not be read.
func (ts *Toolset) askOnPage(ctx context.Context, s subject, pa *confirm.PendingApproval, secret, msg string) (decided *confirm.PendingApproval, o outcome, ok bool) {
	link, err := ts.pageLinker().Link(ctx, pa, secret)
	if err != nil {
		return nil, ts.announcedInstead(ctx, s, pa, secret, "the approval page's address could not be made: "+err.Error()), false
	}
	wctx, cancel := context.WithTimeout(ctx, ts.opts.ElicitTimeout)
	defer cancel()
	defer context.AfterFunc(ts.stopping, cancel)()
	session := server.ClientSessionFromContext(ctx)
	srv := server.ServerFromContext(ctx)
	answer, err := srv.RequestURLElicitation(wctx, session, pa.ID, link, msg)
	switch {
	case err != nil && ts.stopping.Err() != nil:
		return nil, pending(s, pa, "", true), false
	case err != nil && errors.Is(err, context.DeadlineExceeded):
		// The client never answered: the person may not have the link at all.
		return nil, ts.announcedInstead(ctx, s, pa, secret, "the client did not answer the URL elicitation within --elicit-timeout"), false
	case err != nil:
		// The client could not take the request: the person gets the page as without URL mode.
		return nil, ts.announcedInstead(ctx, s, pa, secret, "the client did not take the URL elicitation: "+err.Error()), false
	case answer.Action != mcp.ElicitationResponseActionAccept:
		// The person would not open the page: withdraw it, so its link no longer works.
		ts.approvals.Forget(ctx, pa.RequestKey)
		how := confirmation{channel: confirm.Elicitation, by: ts.whoAsks(ctx), approvalID: pa.ID}
		if err := ts.approvals.Withdraw(ctx, pa, how.by, ts.recordApproval); err != nil {
			slog.Default().Warn("a refused URL elicitation's approval could not be withdrawn", "approval", pa.ID, "err", err)
		}
		what := "declined to open"
		if answer.Action == mcp.ElicitationResponseActionCancel {
			what = "dismissed"
		}
		return nil, s.cancelled("url elicitation refused", fmt.Sprintf("The person %s the approval page in their client: %s. Do not ask again unless the person wants it.", what, s.unchanged()), how), false
	}
	if decided, o, ok = ts.waitForDecision(wctx, pa.ID); !ok {
		return nil, o, false
	}
	if decided.Status == confirm.ApprovalPending {
		return nil, pending(s, decided, "", true), false // it stays parked; the same call again finds it
	}
	// Tell the client the page is done with (the specification's optional notice).
	if err := srv.SendElicitationComplete(context.WithoutCancel(ctx), session, pa.ID); err != nil {
		slog.Default().Debug("notifications/elicitation/complete not sent", "err", err)
	}
	return decided, outcome{}, true
}

// announcedInstead brings a parked approval to the person the ordinary way (the page's
// Announce) when URL mode cannot carry it: the delete waits.
func (ts *Toolset) announcedInstead(ctx context.Context, s subject, pa *confirm.PendingApproval, secret, why string) outcome {
	slog.Default().Warn("URL-mode elicitation not used; the approval page is announced instead", "approval", pa.ID, "why", why)
	return pending(s, pa, ts.opts.ApprovalPage.Announce(ctx, pa, secret), false)
}

// waitForDecision reads the pending approval until it is decided or ctx ends (then it is
// returned still pending). ok false: the store failed, and o says so.
func (ts *Toolset) waitForDecision(ctx context.Context, id string) (pa *confirm.PendingApproval, o outcome, ok bool) {
	t := time.NewTicker(approvalPollInterval)
	defer t.Stop()
	for {
		pa, err := ts.Approval(context.WithoutCancel(ctx), id)
		if err != nil {
			return nil, storeRefusal(err), false
		}
		if pa.Status != confirm.ApprovalPending || pa.Expired(ts.opts.Now()) {
			return pa, outcome{}, true
		}
		select {
		case <-ctx.Done():
			return pa, outcome{}, true
		case <-t.C:
		}
	}
}
