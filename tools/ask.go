package tools

import (
	"context"
	"errors"
	"fmt"

	"github.com/mark3labs/mcp-go/mcp"
	"github.com/mark3labs/mcp-go/server"

	"github.com/tallyfy-mcp/tallyfy-mcp/schemas"
	"github.com/tallyfy-mcp/tallyfy-mcp/tallyfy"
	"github.com/tallyfy-mcp/tallyfy-mcp/tools/confirm"
)

// Asking the person, for a single delete and a bulk one alike: a form question (elicitation)
// or the approval page (parked, or carried by URL-mode elicitation, url_elicitation.go). Only
// what is asked differs: one item's name, or the typed count of a plan.

// subject is what a permanent delete asks the person to confirm: one item (e), or a bulk plan
// (b).
type subject struct {
	c *call
	e tallyfy.Entity
	b *batch // nil for a single delete
}

func itemSubject(c *call, e tallyfy.Entity) subject { return subject{c: c, e: e} }

func planSubject(b *batch) subject { return subject{c: b.c, b: b} }

// cancelled answers a delete the person did not confirm.
func (s subject) cancelled(detail, msg string, how confirmation) outcome {
	if s.b != nil {
		return bulkCancelled(s.b, detail, msg, how)
	}
	return cancelled(detail, s.e, how, msg)
}

// unchanged is what did not happen, for messages: a plan may also archive or restore.
func (s subject) unchanged() string {
	if s.b != nil {
		return "nothing was changed"
	}
	return "nothing was deleted"
}

// declined answers a pending approval the person declined.
func (s subject) declined(pa *confirm.PendingApproval) outcome {
	return s.cancelled("declined", pa.DeclinedBy()+": "+s.unchanged()+". Do not ask again unless the person wants it.", decidedOn(pa))
}

// pending answers a delete waiting for the person's decision; still: an earlier call asked.
func pending(s subject, pa *confirm.PendingApproval, where string, still bool) outcome {
	if s.b != nil {
		return pendingBulk(s.b, pa, where, still)
	}
	return pendingDelete(s.c, s.e, pa, where, still)
}

// decidedOn is the confirmation a decided pending approval carries.
func decidedOn(pa *confirm.PendingApproval) confirmation {
	return confirmation{channel: pa.Channel, by: pa.DecidedBy, approvalID: pa.ID}
}

// question is a form-elicitation question: the person types want into field.
type question struct {
	id           string // names it in the 2026-07-28 round trip (elicitID, bulkElicitID)
	message      string
	field, title string
	want         string
}

func (q question) params() mcp.ElicitationParams {
	return mcp.ElicitationParams{
		Message: q.message,
		RequestedSchema: map[string]any{
			"type": "object",
			"properties": map[string]any{
				q.field: map[string]any{"type": "string", "title": q.title, "description": "Type: " + q.want},
			},
			"required": []string{q.field},
		},
	}
}

// ask puts q to the person, with state (sealed claims) to come back with the answer. 2026-07-28
// clients get an input_required result and call again with the answer; older clients are asked
// here, bounded by ElicitTimeout, so a client that never answers cannot hold the call forever.
// ok false: o ends the call.
func (ts *Toolset) ask(ctx context.Context, s subject, q question, state string) (answer *mcp.ElicitationResult, o outcome, ok bool) {
	if mcp.IsModernProtocol(server.RequestProtocolVersion(ctx)) {
		// the client asks the person and calls again with the answer
		return nil, ended(schemas.ConfirmationRequired, "", server.NewInputRequestBuilder(state).Elicit(q.id, q.params()).ToolResult()).confirmedBy(confirm.Elicitation), false
	}
	ectx, cancel := context.WithTimeout(ctx, ts.opts.ElicitTimeout)
	defer cancel()
	defer context.AfterFunc(ts.stopping, cancel)()
	answer, err := server.ServerFromContext(ctx).RequestElicitation(ectx, mcp.ElicitationRequest{Params: q.params()})
	if err != nil {
		detail := "elicitation failed: " + err.Error()
		why := "the question could not be shown: " + err.Error()
		switch {
		case ts.stopping.Err() != nil:
			why, detail = "the server is shutting down, so the person's answer cannot arrive", "server shutting down"
		case errors.Is(err, context.DeadlineExceeded):
			why = fmt.Sprintf("nobody answered within %s", ts.opts.ElicitTimeout)
		}
		them := "it"
		if s.b != nil {
			them = "these"
		}
		return nil, s.cancelled(detail, "Nothing was deleted: "+why+". Ask the person whether they still want "+them+" deleted, then call again.", confirmation{channel: confirm.Elicitation}), false
	}
	return answer, outcome{}, true
}

// answered is the answer a 2026-07-28 client calls again with, to question id, if any.
func answered(c *call, id string) *mcp.ElicitationResult {
	return server.ElicitationResponse(c.req.Params.InputResponses, id)
}

// openState opens the sealed state an answer came back with; its claims must be for this
// question (mine). ok false: o refuses.
func (ts *Toolset) openState(c *call, state string, mine func(confirm.Claims) bool) (confirm.Claims, outcome, bool) {
	cl, err := ts.seal.Open(state, ts.opts.Now())
	if err == nil && !mine(cl) {
		err = confirm.ErrTokenForeign
	}
	if err != nil {
		return cl, refused("elicitation state: "+err.Error(), mcp.NewToolResultError(fmt.Sprintf("Nothing was deleted: the confirmation could not be verified (%v). Call %s again to ask the person again.", err, c.tool.Name))).confirmedBy(confirm.Elicitation), false
	}
	return cl, outcome{}, true
}

// typedIn is what the person typed into field, once they accepted the question. ok false:
// they declined or dismissed it, and o says nothing was deleted.
func (s subject) typedIn(answer *mcp.ElicitationResult, field string, how confirmation) (typed any, o outcome, ok bool) {
	switch answer.Action {
	case mcp.ElicitationResponseActionAccept:
	case mcp.ElicitationResponseActionDecline:
		return nil, s.cancelled("declined", "The person declined: nothing was deleted. Do not retry unless they ask.", how), false
	default:
		return nil, s.cancelled("dismissed", "The person dismissed the question: nothing was deleted.", how), false
	}
	m, _ := answer.Content.(map[string]any)
	return m[field], outcome{}, true
}

// canElicit reports whether this request's client declared elicitation and the question can
// reach it: in the result for 2026-07-28 clients, as a server request for older ones (which
// SSE cannot carry: the server marks those contexts).
func canElicit(ctx context.Context) bool {
	caps, modern := clientCaps(ctx)
	// 2026-07-28: the question travels in the result (multi round-trip), on any transport.
	return caps != nil && formElicitation(caps.Elicitation) && (modern || askable(ctx))
}

// clientCaps are the capabilities the request's client declared: on the request itself for a
// 2026-07-28 client (modern), else at its session's initialize; nil when none are known.
func clientCaps(ctx context.Context) (caps *mcp.ClientCapabilities, modern bool) {
	if info := server.RequestProtocolInfoFromContext(ctx); info != nil && info.Modern {
		return info.ClientCapabilities, true
	}
	if s, ok := server.ClientSessionFromContext(ctx).(server.SessionWithClientInfo); ok {
		c := s.GetClientCapabilities()
		return &c, false
	}
	return nil, false
}

// askable reports whether a server request can reach an older-protocol client during this
// call: the transport can ask, and the session can elicit.
func askable(ctx context.Context) bool {
	_, ok := server.ClientSessionFromContext(ctx).(server.SessionWithElicitation)
	return ok && transportCanAsk(ctx)
}

// formElicitation reports whether a client's elicitation capability covers form mode, the
// typed-name question: declared as {} (form, the default) or with form; a client that
// declares only url mode cannot show it.
func formElicitation(c *mcp.ElicitationCapability) bool {
	return c != nil && (c.Form != nil || c.URL == nil)
}
