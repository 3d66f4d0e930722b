package tools

import (
	"cmp"
	"context"
	_ "embed"
	"fmt"
	"slices"
	"time"

	"github.com/mark3labs/mcp-go/mcp"
	"github.com/mark3labs/mcp-go/server"

	"github.com/tallyfy-mcp/tallyfy-mcp/schemas"
	"github.com/tallyfy-mcp/tallyfy-mcp/tallyfy"
	"github.com/tallyfy-mcp/tallyfy-mcp/tools/confirm"
)

// The MCP App channel (issue 21 point 2; README "In an MCP App: the person clicks Delete"): for a
// client that declared the MCP Apps extension, a permanent delete's first call answers with
// the preview or plan and no approval at all; the host shows it in the view below, and only
// the person's click there, through app-only tools the host never offers the model, deletes.
//
// The view fetches a sealed approval (app_review_delete: the items read again, bound to the
// caller, the items and their fingerprints, single use, short-lived) and passes it back with
// the person's decision (app_decide_delete), which deletes through the one pipeline, recorded
// with confirmation "app". This rests on the host keeping app-only tools from the model: the
// protocol cannot tell the host's call from the model's.

// The extension's wire names, as the @modelcontextprotocol/ext-apps SDK spells them.
const (
	AppExtension = "io.modelcontextprotocol/ui"
	AppMIMEType  = "text/html;profile=mcp-app"
	// AppViewURI is the view that reviews a permanent delete (single or bulk).
	AppViewURI = "ui://tallyfy/delete"
)

// appViewHTML is the view: one self-contained file (the ext-apps App client bundled in, a
// strict CSP, no data), built from tools/appview/ by `make appview`.
//
//go:embed appview/delete-review.html
var appViewHTML string

// The app-only tools, by name.
const (
	appReviewTool = "app_review_delete"
	appDecideTool = "app_decide_delete"
)

// appTools are the tools only the view calls (_meta.ui.visibility ["app"]). They are listed
// and callable only for clients that declared the extension, never shown in the README's
// tool tables, and not part of the model-visible tools/list. They have no title: no host shows
// them to a person, and tools/list has a budget (issue 20).
var appTools = []Tool{
	{Name: appReviewTool, Tier: TierPermanent, Verb: VerbGet, Hints: readHints, AppOnly: true,
		Args:        schemas.AppReviewArgs{},
		Description: "Delete review view only: reads the items again, seals the approval."},
	{Name: appDecideTool, Tier: TierPermanent, Verb: VerbDelete, Hints: permanentHints, AppOnly: true,
		Args:        schemas.AppDecideArgs{},
		Description: "Delete review view only: deletes or cancels as the person decided."},
}

// appToolMeta is the _meta.ui of a tool in tools/list. Only the nested form of the extension's
// specification: ext-apps' registerAppTool also writes the deprecated flat "ui/resourceUri",
// which older hosts read, but tools/list has a budget (issue 20) and current hosts read this.
func appToolMeta(t Tool) *mcp.Meta {
	if t.AppOnly {
		return mcp.NewMetaFromMap(map[string]any{"ui": map[string]any{"visibility": []string{"app"}}})
	}
	return mcp.NewMetaFromMap(map[string]any{"ui": map[string]any{"resourceUri": AppViewURI}})
}

// withoutConfirmToken is a single delete tool as a client that confirms in the view lists it:
// without the confirm_token argument, which the model of such a client never gets (the App
// comes first in the channel order) and which would only invite it to ask for one. It also
// keeps that client's tools/list within budget (issue 20). A confirm_token sent anyway is
// still refused or accepted by the channel order, as for any client.
func withoutConfirmToken(t mcp.Tool) mcp.Tool {
	return withSchema(t, t.Name+":app", func(props map[string]any) { delete(props, "confirm_token") })
}

// clientShowsApps reports whether this request's client declared the MCP Apps extension (and,
// when it lists the view types it renders, ours among them).
func clientShowsApps(ctx context.Context) bool {
	caps, _ := clientCaps(ctx)
	if caps == nil {
		return false
	}
	ext, ok := caps.Extensions[AppExtension]
	if !ok || ext == nil {
		return false
	}
	m, _ := ext.(map[string]any)
	switch types := m["mimeTypes"].(type) {
	case nil:
		return true
	case []any:
		return slices.Contains(types, any(AppMIMEType))
	case []string:
		return slices.Contains(types, AppMIMEType)
	}
	return false
}

// appsOffered reports whether this request's client is offered the view and the app-only
// tools: it shows Apps and the operator lets the person confirm (--confirm auto or elicit;
// token and off are the operator's explicit choice of another channel).
func (ts *Toolset) appsOffered(ctx context.Context) bool {
	return (ts.opts.Confirm == ConfirmAuto || ts.opts.Confirm == ConfirmElicit) && clientShowsApps(ctx)
}

// appConfirms reports whether the permanent delete tool t is confirmed in the view for this
// request: the channel order (channel.go) picks the App.
func (ts *Toolset) appConfirms(ctx context.Context, t Tool) bool {
	ch, _, ok := ts.chooseChannel(ctx, t, false, approvalRule(ctx, t))
	return ok && ch == confirm.App
}

// AppViewResource is the view as an MCP resource, with its _meta.ui: no csp domains, so the
// host allows the view no network and no outside resources at all.
func AppViewResource() server.ServerResource {
	meta := map[string]any{"ui": map[string]any{"csp": map[string]any{}, "prefersBorder": true}}
	r := mcp.NewResource(AppViewURI, "delete-review", mcp.WithResourceTitle("Review a permanent delete"),
		mcp.WithResourceDescription("What a permanent delete would destroy, with Delete and Cancel for the person"), mcp.WithMIMEType(AppMIMEType))
	r.Meta = mcp.NewMetaFromMap(meta)
	return server.ServerResource{Resource: r, Handler: func(context.Context, mcp.ReadResourceRequest) ([]mcp.ResourceContents, error) {
		return []mcp.ResourceContents{mcp.TextResourceContents{URI: AppViewURI, MIMEType: AppMIMEType, Text: appViewHTML, Meta: meta}}, nil
	}}
}

// reviewInApp answers the first call of a single delete for a client that shows Apps: the
// preview, for the view, and no approval of any kind for the model.
func (ts *Toolset) reviewInApp(c *call, e tallyfy.Entity) outcome {
	msg := fmt.Sprintf("Nothing deleted yet. The person is reviewing the permanent delete of %s %q (%s) in the Tallyfy view shown with this result: only they can press Delete or Cancel there, and nothing you call can confirm it. Do not call %s again for it; later, %s tells whether it is gone.",
		c.kind.noun, e.Name, e.ID, c.tool.Name, toolFor(c.kind.Kind, VerbGet).Name)
	res := schemas.DeleteResult{Status: schemas.ConfirmationRequired, Resource: resourceOf(e, ""), Preview: preview(c, e), Confirmation: string(confirm.App), Message: msg}
	return ended(schemas.ConfirmationRequired, "reviewed in the app", mcp.NewToolResultStructured(res, msg)).confirmedBy(confirm.App)
}

// planForView turns a bulk delete's plan into what a client that shows Apps gets: the plan,
// for the view, without its plan_token or execute call.
func planForView(c *call, o outcome) outcome {
	res, ok := o.result.StructuredContent.(schemas.BulkResult)
	if !ok || res.Status != schemas.Planned {
		return o
	}
	n := res.Totals[schemas.Planned]
	res.PlanToken, res.ExpiresAt, res.Execute = "", "", nil
	res.Message = fmt.Sprintf("Plan only, nothing deleted yet: permanently delete %d %s", n, plural(c.kind, n))
	if k := res.Totals[schemas.Skipped]; k > 0 {
		res.Message += fmt.Sprintf(" (%d skipped, see items)", k)
	}
	res.Message += ". The person is reviewing this plan in the Tallyfy view shown with this result: only they can delete it there (typing the count) or cancel, and nothing you call can confirm it. Do not call bulk_delete again for these items; later, the list tools tell what is gone."
	o.result = mcp.NewToolResultStructured(res, bulkText(res))
	return o.confirmedBy(confirm.App)
}

// appTarget is the delete tool an approval is for, and a call of it for this request, once
// the policy (and the caller's cap) allow it.
func (ts *Toolset) appTarget(ctx context.Context, req mcp.CallToolRequest, kind string, bulk bool) (*call, *mcp.CallToolResult) {
	k := itemKinds[tallyfy.Kind(kind)]
	if k == nil {
		return nil, invalidArgument("type", "must be task, run or template")
	}
	t, _ := ByName("bulk_delete")
	if !bulk {
		t = toolFor(k.Kind, VerbDelete)
	}
	c := ts.newCall(ctx, t, req)
	c.kind = k
	if !ts.opts.Policy.Allows(t) {
		return nil, policyRefusal(t, ts.opts.Policy)
	}
	if !c.policy.Allows(t) {
		return nil, capRefusal(ctx, t)
	}
	if !ts.appConfirms(ctx, t) {
		// e.g. the two-person rule: then only another person, on the approval page, approves.
		return nil, mcp.NewToolResultError(fmt.Sprintf("Nothing was deleted: %s is not confirmed in the review view for this caller (the operator's confirmation settings or a two-person rule decide otherwise). Close the view; the model's own call of %s says how it is confirmed.", t.Name, t.Name))
	}
	return c, nil
}

// checkIDs deduplicates ids and checks each is a Tallyfy ID; hint ends the refusal of one
// that is not.
func checkIDs(ids []string, hint string) ([]string, *mcp.CallToolResult) {
	var out []string
	for _, id := range ids {
		if !tallyfy.ValidID(id) {
			return nil, invalidArgument("ids", fmt.Sprintf("each must be a Tallyfy ID of 32 lowercase hex characters, got %q%s", clip(id, 80), hint))
		}
		if !slices.Contains(out, id) {
			out = append(out, id)
		}
	}
	return out, nil
}

// appReview reads the items again and seals the person's approval of exactly what they see.
func (ts *Toolset) appReview(ctx context.Context, req mcp.CallToolRequest) (*mcp.CallToolResult, error) {
	args, err := decodeArgs[schemas.AppReviewArgs](req)
	if err != nil {
		return argumentError(err), nil
	}
	c, bad := ts.appTarget(ctx, req, args.Type, args.Bulk)
	if bad != nil {
		return bad, nil
	}
	ids, bad := checkIDs(args.IDs, "")
	if bad != nil {
		return bad, nil
	}
	if args.Bulk {
		return ts.appReviewPlan(ctx, c, ids), nil
	}
	if len(ids) != 1 {
		return invalidArgument("ids", "a single delete reviews exactly one id (bulk for more)"), nil
	}
	c.id = ids[0]
	if o, ended := ts.resolve(ctx, c); ended {
		return o.result, nil
	}
	e := *c.target
	if !e.Archived {
		return notArchived(c, e).result, nil
	}
	left, err := ts.opts.Budget.Room(context.WithoutCancel(ctx), ts.opts.Now())
	if err != nil {
		o, _ := ts.budgetAnswer(nil, err)
		return o.result, nil
	}
	// As long as a pending approval waits for the person (the page's), not a token's 5 minutes.
	cl := ts.newClaims(ctx, c, e, confirm.ForApp, ts.opts.ApprovalTTL)
	cl.Type = string(c.kind.Kind)
	return appReviewResult(c, cl, []schemas.BulkItem{bulkItem(e, schemas.Planned, "")}, []string{e.ID}, left, ts.seal.Seal(cl)), nil
}

// appReviewPlan plans a bulk delete as bulk_delete does, and seals its items into an approval.
func (ts *Toolset) appReviewPlan(ctx context.Context, c *call, ids []string) *mcp.CallToolResult {
	if o, bad := ts.roleRefusal(ctx, c); bad {
		return o.result
	}
	c.batch = confirm.NewNonce()[:16]
	b := &batch{c: c, id: c.batch, args: schemas.BulkArgs{Type: string(c.kind.Kind), IDs: ids}, ids: ids}
	o := ts.plan(tallyfy.WithListingMemo(ctx), b) // as bulk_delete plans
	res, ok := o.result.StructuredContent.(schemas.BulkResult)
	if !ok || res.Status != schemas.Planned || res.Execute == nil {
		return o.result // refused, failed, or nothing to delete: the plan's own answer
	}
	cl, err := ts.seal.Open(res.PlanToken, ts.opts.Now())
	if err != nil {
		return mcp.NewToolResultError("Nothing was deleted: the plan could not be sealed (" + err.Error() + "). Close the view and ask again.")
	}
	cl.Purpose, cl.Nonce, cl.Type = confirm.ForApp, confirm.NewNonce(), string(c.kind.Kind)
	cl.Iat, cl.Exp = ts.opts.Now().Unix(), ts.opts.Now().Add(ts.opts.ApprovalTTL).Unix()
	act, _ := res.Execute.Arguments["ids"].([]string)
	left := -1
	if res.DeletesLeft != nil {
		left = *res.DeletesLeft
	}
	return appReviewResult(c, cl, res.Items, act, left, ts.seal.Seal(cl))
}

// appReviewResult is the review the view shows. The approval is in structuredContent only:
// the view reads it there, and the text says what the person sees.
func appReviewResult(c *call, cl confirm.Claims, items []schemas.BulkItem, act []string, left int, approval string) *mcp.CallToolResult {
	n := len(act)
	msg := fmt.Sprintf("Permanently delete %d %s? This destroys %s and cannot be undone.", n, plural(c.kind, n), c.kind.destroys)
	if left >= 0 {
		msg += fmt.Sprintf(" It uses %d of the %d permanent deletes left this hour.", n, left)
	}
	review := schemas.AppReview{Tool: c.tool.Name, Type: string(c.kind.Kind), Items: items, Count: n, TypeCount: n > 1, DeletesLeft: left,
		Destroys: c.kind.destroys, Approval: approval, IDs: act, ExpiresAt: time.Unix(cl.Exp, 0).UTC().Format(time.RFC3339), Message: msg}
	return mcp.NewToolResultStructured(review, msg)
}

// appDecide carries out the person's decision: delete (through the one pipeline, confirmed
// "app") or cancel (nothing deleted, recorded). Either uses the approval up.
func (ts *Toolset) appDecide(ctx context.Context, req mcp.CallToolRequest) (*mcp.CallToolResult, error) {
	self, _ := byName(appTools, appDecideTool)
	own := ts.newCall(ctx, self, req)
	args, err := decodeArgs[schemas.AppDecideArgs](req)
	if err != nil {
		return ts.record(ctx, own, refused("", argumentError(err))), nil
	}
	ids, bad := checkIDs(args.IDs, "")
	if bad != nil {
		return ts.record(ctx, own, refused("", bad)), nil
	}
	cl, err := ts.seal.Open(args.Approval, ts.opts.Now())
	if err != nil {
		return ts.record(ctx, own, appRefused(err.Error())), nil
	}
	target, ok := ByName(cl.Tool)
	bulk := target.Bulk
	if !ok || target.Verb != VerbDelete || cl.Purpose != confirm.ForApp {
		return ts.record(ctx, own, appRefused("it is not an approval from the review view")), nil
	}
	c, bad := ts.appTarget(ctx, req, cl.Type, bulk)
	if bad != nil {
		return ts.record(ctx, own, refused("", bad)), nil
	}
	id := confirm.SetHash(ids)
	if !bulk && len(ids) == 1 {
		id = ids[0]
	}
	if !cl.Matches(c.client.OrgID(), c.tool.Name, id, ts.sessionBinding(ctx), ts.callerBinding(ctx), confirm.ForApp) {
		return ts.record(ctx, own, appRefused(confirm.ErrTokenForeign.Error())), nil
	}
	if bulk {
		return ts.appDecidePlan(ctx, c, cl, ids, args), nil
	}
	c.id = ids[0]
	if args.Decision != "delete" {
		s := itemSubject(c, tallyfy.Entity{Kind: c.kind.Kind, ID: c.id})
		return ts.record(ctx, c, ts.appCancel(ctx, s, cl, []confirm.ApprovedItem{{ID: c.id, FP: cl.FP}})), nil
	}
	if o, ended := ts.resolve(ctx, c); ended {
		return ts.record(ctx, c, o.confirmedBy(confirm.App)), nil
	}
	e := *c.target
	switch {
	case !e.Archived:
		return ts.record(ctx, c, notArchived(c, e).confirmedBy(confirm.App)), nil
	case cl.FP != confirm.Fingerprint(e):
		return ts.record(ctx, c, refused("changed since the review", mcp.NewToolResultError(fmt.Sprintf("Nothing was deleted: %s %q changed while the person was reviewing it (its name, state or last update differ). Close the view; the model can ask again to review the current version.",
			c.kind.noun, e.Name))).confirmedBy(confirm.App)), nil
	}
	conf := ts.claimsConfirmation(ctx, c, cl, confirm.App, ts.whoAsks(ctx), []confirm.ApprovedItem{{ID: e.ID, FP: cl.FP}}, true)
	return ts.record(ctx, c, ts.performDelete(ctx, c, e, conf)), nil
}

// appDecidePlan carries out the person's decision on a bulk plan.
func (ts *Toolset) appDecidePlan(ctx context.Context, c *call, cl confirm.Claims, ids []string, args schemas.AppDecideArgs) *mcp.CallToolResult {
	c.batch = cmp.Or(cl.Batch, confirm.NewNonce()[:16]) // the records carry the batch_id of the plan the person reviewed
	b := &batch{c: c, id: c.batch, args: schemas.BulkArgs{Type: string(c.kind.Kind), IDs: ids}, ids: ids}
	if args.Decision != "delete" {
		return ts.record(ctx, c, ts.appCancel(ctx, planSubject(b), cl, planItems(b, cl.PlanFPs(ids))))
	}
	if len(ids) > 1 && args.Count != len(ids) {
		return ts.record(ctx, c, refused("count mismatch", mcp.NewToolResultError(fmt.Sprintf("Nothing was deleted: the count typed (%d) is not the plan's %d items. Type %d to delete them, or press Cancel.",
			args.Count, len(ids), len(ids)))).confirmedBy(confirm.App))
	}
	fps := cl.PlanFPs(ids)
	// The approval is used once by runPlan (as a plan_token is), which writes its record.
	conf := ts.claimsConfirmation(ctx, c, cl, confirm.App, ts.whoAsks(ctx), planItems(b, fps), false)
	return ts.record(ctx, c, ts.runPlan(ctx, b, cl, fps, conf))
}

// appCancel uses the approval up, writes the signed record of the person's "no", and answers
// that nothing was deleted.
func (ts *Toolset) appCancel(ctx context.Context, s subject, cl confirm.Claims, items []confirm.ApprovedItem) outcome {
	fresh, err := ts.seal.Consume(ctx, cl, ts.opts.Now(), ts.tokenLife(cl.Purpose))
	switch {
	case err != nil:
		return storeRefusal(err).confirmedBy(confirm.App)
	case !fresh:
		return appRefused(confirm.ErrTokenUsed.Error())
	}
	how := ts.claimsConfirmation(ctx, s.c, cl, confirm.App, ts.whoAsks(ctx), items, false)
	rec := *how.record
	rec.Outcome = confirm.ApprovalOutcomeDeclined
	how.record = nil
	if err := ts.recordApproval(ctx, rec); err != nil {
		ts.opts.Logger.Error("approval record of a cancel not written", "tool", s.c.tool.Name, "err", err)
	}
	return s.cancelled("cancelled in the app", "The person cancelled in the review view: nothing was deleted. Do not retry unless they ask.", how)
}

// appRefused answers an approval that cannot be used.
func appRefused(why string) outcome {
	return refused("app approval: "+why, mcp.NewToolResultError("Nothing was deleted: the approval cannot be used ("+why+"). Close the view; the model can ask again, and the person reviews it anew.")).confirmedBy(confirm.App)
}
