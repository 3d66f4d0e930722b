package tools

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/mark3labs/mcp-go/mcp"
	"github.com/mark3labs/mcp-go/server"

	"github.com/tallyfy-mcp/tallyfy-mcp/schemas"
	"github.com/tallyfy-mcp/tallyfy-mcp/tallyfy"
	"github.com/tallyfy-mcp/tallyfy-mcp/tools/confirm"
)

// Bulk tools (bulk_archive, bulk_restore, bulk_delete) run the pipeline per item under one
// batch. The first call only plans: it reads every selected item, says which will be skipped
// and why, and seals the rest (IDs and fingerprints) into a plan_token. The second call,
// with that token, executes: every item is read again and acted on only if it is as planned.
// A bulk permanent delete is confirmed by the person once for the whole plan (bulk_confirm.go).

// batch is one bulk call: what it is about and the per-batch call its audit record describes.
type batch struct {
	c      *call // the batch's own call: tool, caller, start; its record is the batch record
	id     string
	args   schemas.BulkArgs
	ids    []string   // the selected IDs, deduplicated, in the order given
	filter listFilter // the selection when no ids are given
}

// bulkHandler is the one handler of every bulk tool.
func (ts *Toolset) bulkHandler(t Tool) server.ToolHandlerFunc {
	return func(ctx context.Context, req mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		ctx = tallyfy.WithBulkPace(ctx) // spaced as Tallyfy advises for bulk work (tallyfy/pacing.go)
		c := ts.newCall(ctx, t, req)
		c.batch = confirm.NewNonce()[:16]
		if o, ended := ts.prepare(ctx, c); ended {
			return ts.record(ctx, c, o), nil
		}
		b, o, ok := bulkArgs(c)
		if !ok {
			return ts.record(ctx, c, o), nil
		}
		if o, ended := ts.bulkKindRefusal(ctx, c); ended {
			return ts.record(ctx, c, o), nil
		}
		// What Tallyfy refuses the caller's role is refused before a plan is made or confirmed.
		if o, bad := ts.roleRefusal(ctx, c); bad {
			return ts.record(ctx, c, o), nil
		}
		if b.args.PlanToken == "" {
			// The plan's look-ups share each archived listing page (tallyfy.WithListingMemo);
			// the execution reads every item again without it.
			o := ts.plan(tallyfy.WithListingMemo(ctx), b)
			if t.Verb == VerbDelete && ts.appConfirms(ctx, t) {
				o = planForView(c, o)
			}
			return ts.record(ctx, c, o), nil
		}
		return ts.record(ctx, c, ts.execute(ctx, b)), nil
	}
}

// bulkArgs decodes and checks a bulk call's arguments.
func bulkArgs(c *call) (*batch, outcome, bool) {
	args, err := decodeArgs[schemas.BulkArgs](c.req)
	if err != nil {
		return nil, refused("", argumentError(err)), false
	}
	k := itemKinds[tallyfy.Kind(args.Type)]
	if k == nil {
		return nil, refused("", invalidArgument("type", "must be task, run or template")), false
	}
	c.kind = k
	b := &batch{c: c, id: c.batch, args: args}
	filtered := strings.TrimSpace(args.Query) != "" || args.Status != "" || args.UpdatedBefore != "" || args.UpdatedAfter != ""
	if args.Status != "" && k.Kind != tallyfy.KindRun {
		return nil, refused("", invalidArgument("status", "selects processes only (type run)")), false
	}
	if filtered {
		archived := tallyfy.ArchivedExclude // what archive acts on
		if c.tool.Verb != VerbArchive {
			archived = tallyfy.ArchivedOnly // restore and delete act on archived items
		}
		f, bad := parseListFilter(schemas.ListArgs{Query: args.Query, Archived: string(archived), UpdatedBefore: args.UpdatedBefore, UpdatedAfter: args.UpdatedAfter}, args.Status, "")
		if bad != nil {
			return nil, refused("", bad), false
		}
		b.filter = f
	}
	switch {
	case len(args.IDs) > 0 && filtered:
		return nil, refused("", invalidArgument("ids", "give ids or filters (query, status, updated_before, updated_after), not both")), false
	case len(args.IDs) == 0 && !filtered && args.PlanToken == "":
		return nil, refused("", invalidArgument("ids", fmt.Sprintf("give 1 to 100 ids, or filters such as query to select items. Find IDs with %s.", toolFor(k.Kind, VerbList).Name))), false
	case args.PlanToken != "" && len(args.IDs) == 0:
		return nil, refused("", invalidArgument("ids", "with plan_token, pass the plan's ids too (its execute.arguments)")), false
	case len(args.IDs) > 100:
		return nil, refused("", invalidArgument("ids", "at most 100 at a time")), false
	}
	var bad *mcp.CallToolResult
	if b.ids, bad = checkIDs(args.IDs, ". Find IDs with "+toolFor(k.Kind, VerbList).Name); bad != nil {
		return nil, refused("", bad), false
	}
	return b, outcome{}, true
}

// action is the word for the batch's verb in results.
func (b *batch) action() string { return string(b.c.tool.Verb) }

// verbPhrase is what the batch does, in messages: a delete is said to be permanent.
func (b *batch) verbPhrase() string {
	if b.c.tool.Verb == VerbDelete {
		return "permanently delete"
	}
	return b.action()
}

// inverse is the bulk tool that undoes this one (archive and restore only).
func (b *batch) inverse() string {
	if b.c.tool.Verb == VerbArchive {
		return "bulk_restore"
	}
	return "bulk_archive"
}

// planned is one item read while planning.
type planned struct {
	e      tallyfy.Entity
	skip   string // why it will not be acted on ("" when it will)
	failed error
}

// selection is what a plan selected: the ids to read, and what it left out.
type selection struct {
	ids     []string
	more    bool     // more matched than MaxBulkItems: only the first are planned
	dropped []string // the ids given past MaxBulkItems (with filters they are not known)
	cut     string   // a search cut short (search_incomplete): what was not searched
}

// selectIDs is the plan's selection: the ids given, or the items the filters select (at
// most MaxBulkItems; more reports that more matched).
func (ts *Toolset) selectIDs(ctx context.Context, b *batch) (selection, error) {
	limit := ts.opts.MaxBulkItems
	if len(b.ids) > 0 {
		if len(b.ids) > limit {
			return selection{ids: b.ids[:limit], more: true, dropped: b.ids[limit:]}, nil
		}
		return selection{ids: b.ids}, nil
	}
	var sel selection
	// At most 20 pages of 100: a selection that broad is better narrowed first.
	for page := 1; page <= 20; page++ {
		items, info, cut, err := b.c.kind.fetch(ctx, b.c.client, b.filter, page, 100) // as the list tool pages
		if err != nil {
			return selection{}, err
		}
		sel.cut = cmp.Or(sel.cut, cut) // the first cut
		for _, it := range items {
			if len(sel.ids) == limit {
				sel.more = true
				return sel, nil
			}
			if id := it.Entity().ID; !slices.Contains(sel.ids, id) {
				sel.ids = append(sel.ids, id)
			}
		}
		if !info.HasMore {
			return sel, nil
		}
	}
	sel.more = true
	return sel, nil
}

// leftOut tells the model what the selection did not cover: ids past the cap (named, so
// they can be planned next), matches past it, and a search cut short.
func (ts *Toolset) leftOut(sel selection) string {
	out := ""
	switch {
	case len(sel.dropped) > 0:
		out += fmt.Sprintf(" %d ids past the cap of %d items a plan takes (--max-bulk-items) were left out, not read: %s; plan them next.",
			len(sel.dropped), ts.opts.MaxBulkItems, strings.Join(sel.dropped, ", "))
	case sel.more:
		out += fmt.Sprintf(" More items matched than the cap of %d (--max-bulk-items): only the first are planned; plan again, or narrow the filters, for the rest.", ts.opts.MaxBulkItems)
	}
	if sel.cut != "" {
		out += " " + sel.cut + " Items the search did not reach are not in this plan."
	}
	return out
}

// plan reads every selected item and seals the ones to act on into a plan_token.
func (ts *Toolset) plan(ctx context.Context, b *batch) outcome {
	c := b.c
	sel, err := ts.selectIDs(ctx, b)
	if err != nil {
		return failed(c, err)
	}
	ids, more := sel.ids, sel.more
	reads := make([]planned, len(ids))
	processes := &processReads{client: c.client, byRun: map[string]func() processContents{}}
	ts.eachItem(ctx, len(ids), func(i int) {
		e, err := c.client.Lookup(ctx, c.kind.Kind, ids[i])
		reads[i] = planned{e: e, failed: err}
		if err != nil {
			reads[i].e = tallyfy.Entity{Kind: c.kind.Kind, ID: ids[i]}
			return
		}
		reads[i].skip = skipReason(ctx, c, e, processes)
	})
	if err := ctx.Err(); err != nil { // cancelled while reading: no plan
		return failed(c, err)
	}
	for _, r := range reads {
		if r.failed != nil && stopsBatch(c, r.failed) {
			return failed(c, r.failed)
		}
	}
	res := schemas.BulkResult{Status: schemas.Planned, Action: b.action(), Type: string(c.kind.Kind), BatchID: b.id, MoreMatched: more, SearchIncomplete: sel.cut != "", Items: []schemas.BulkItem{}}
	var act []string
	fpOf := map[string]string{} // each planned item's fingerprint, by ID
	for _, r := range reads {
		item := bulkItem(r.e, schemas.Planned, "")
		switch {
		case r.failed != nil && tallyfy.IsNotFound(r.failed):
			item.Outcome, item.Reason = schemas.Skipped, "not found (archived or not)"
		case r.failed != nil && errors.As(r.failed, new(*tallyfy.ArchivedSearchError)):
			item.Outcome, item.Reason = schemas.Skipped, describe(r.failed)
		case r.failed != nil:
			item.Outcome, item.Reason = schemas.Skipped, "could not be read: "+describe(r.failed)
		case r.skip != "":
			item.Outcome, item.Reason = schemas.Skipped, r.skip
		default:
			act = append(act, r.e.ID)
			fpOf[r.e.ID] = confirm.ItemFP(r.e)
		}
		res.Items = append(res.Items, item)
	}
	res.Totals = totals(res.Items)
	if c.tool.Verb == VerbDelete {
		left, err := ts.opts.Budget.Room(context.WithoutCancel(ctx), ts.opts.Now())
		if err != nil {
			o, _ := ts.budgetAnswer(nil, err)
			return o
		}
		res.DeletesLeft = &left
		if left >= 0 && len(act) > left {
			return refused("plan over delete budget", mcp.NewToolResultError(fmt.Sprintf("Nothing was planned or deleted: this plan would permanently delete %d items but the delete budget (--max-deletes-per-hour) has %d left this hour. Plan at most %d items now (pass fewer ids), or wait.",
				len(act), left, left)))
		}
	}
	if len(act) == 0 {
		res.Status = schemas.Done
		res.Message = fmt.Sprintf("Nothing to %s: every selected item is skipped (see items). Nothing was changed.", b.action()) + ts.leftOut(sel)
		return ended(schemas.Noop, "nothing to act on", mcp.NewToolResultStructured(res, bulkText(res)))
	}
	var fps []string
	for _, id := range slices.Sorted(slices.Values(act)) {
		fps = append(fps, fpOf[id])
	}
	cl := confirm.Claims{Org: c.client.OrgID(), Tool: c.tool.Name, ID: confirm.SetHash(act), Items: strings.Join(fps, ""),
		Session: ts.sessionBinding(ctx), Caller: ts.callerBinding(ctx), Iat: ts.opts.Now().Unix(), Exp: ts.opts.Now().Add(ts.opts.TokenTTL).Unix(), Nonce: confirm.NewNonce(), Purpose: confirm.ForPlan,
		Type: string(c.kind.Kind), Batch: b.id}
	res.PlanToken = ts.seal.Seal(cl)
	res.ExpiresAt = time.Unix(cl.Exp, 0).UTC().Format(time.RFC3339)
	res.Execute = &schemas.BulkCall{Tool: c.tool.Name, Arguments: map[string]any{"type": string(c.kind.Kind), "ids": act, "plan_token": res.PlanToken}}
	res.Message = fmt.Sprintf("Plan only, nothing changed yet: %s %d %s", b.verbPhrase(), len(act), plural(c.kind, len(act)))
	if n := res.Totals[schemas.Skipped]; n > 0 {
		res.Message += fmt.Sprintf(" (%d skipped, see items)", n)
	}
	res.Message += fmt.Sprintf(". To execute, call %s with execute.arguments (plan_token single use, expires %s).", c.tool.Name, res.ExpiresAt)
	res.Message += ts.leftOut(sel)
	if c.tool.Verb == VerbDelete {
		if left := *res.DeletesLeft; left >= 0 {
			res.Message += fmt.Sprintf(" It uses %d of the %d permanent deletes left this hour (--max-deletes-per-hour).", len(act), left)
		}
		res.Message += " This cannot be undone: show the list to the person first; they confirm the whole plan once."
	}
	return ended(schemas.Planned, fmt.Sprintf("planned %d, skipped %d", len(act), res.Totals[schemas.Skipped]), mcp.NewToolResultStructured(res, bulkText(res)))
}

// skipReason says why an item, as read, will not be acted on ("" if it will). A task inside a
// process names the process and its task count, each process read once per plan (processes).
func skipReason(ctx context.Context, c *call, e tallyfy.Entity, processes *processReads) string {
	switch {
	case c.tool.Verb != VerbRestore && c.policy.Protected(e.ID):
		return "protected by the operator"
	case e.Kind == tallyfy.KindTask && !e.OneOff && e.RunID == "":
		return "a task inside a process (by Tallyfy's answer, which does not name it): it changes only with its process, which may hold other tasks; find the process and show the person what it holds before acting on it"
	case e.Kind == tallyfy.KindTask && !e.OneOff:
		if pc, read := processes.get(ctx, e.RunID); read {
			return pc.skipReason()
		}
		return fmt.Sprintf("a task inside process %s (not read: a plan reads at most %d processes): it changes only with its process; show the person what the process holds before acting on it",
			e.RunID, maxProcessReadsPerPlan)
	case c.tool.Verb == VerbArchive && e.Archived:
		return "already archived"
	case c.tool.Verb == VerbRestore && !e.Archived:
		return "already live"
	case c.tool.Verb == VerbDelete && !e.Archived:
		return "not archived: archive it first (bulk_archive)"
	}
	return ""
}

// eachItem runs f for items 0..n-1, BulkConcurrency at a time, and returns when all that
// started have ended. Once ctx ends no further item starts.
func (ts *Toolset) eachItem(ctx context.Context, n int, f func(i int)) {
	sem := make(chan struct{}, ts.opts.BulkConcurrency)
	var wg sync.WaitGroup
	for i := range n {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			break
		}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			f(i)
		}()
	}
	wg.Wait()
}

// stopsBatch: a 401 (the token is not accepted) or a 403 on an admin-only action (deleting a
// process or template) would fail every remaining item the same way, so the batch stops.
func stopsBatch(c *call, err error) bool {
	switch tallyfy.StatusOf(err) {
	case 401:
		return true
	case 403:
		return c.tool.Verb == VerbDelete && c.kind.Kind != tallyfy.KindTask
	}
	return false
}

func bulkItem(e tallyfy.Entity, outcome schemas.Outcome, reason string) schemas.BulkItem {
	state := ""
	if e.Name != "" || e.LastUpdated != "" {
		state = stateWord(e.Archived)
	}
	return schemas.BulkItem{ID: e.ID, Name: e.Name, State: state, LastUpdated: e.LastUpdated, Outcome: outcome, Reason: reason}
}

func totals(items []schemas.BulkItem) schemas.BulkTotals {
	t := schemas.BulkTotals{schemas.Planned: 0, schemas.OK: 0, schemas.Noop: 0, schemas.Skipped: 0, schemas.Failed: 0, schemas.NotRun: 0}
	for _, it := range items {
		o := it.Outcome
		if o == schemas.Unknown { // the totals have no unknown: it counts as failed
			o = schemas.Failed
		}
		t[o]++
	}
	return t
}

func plural(k *itemKind, n int) string {
	if n == 1 {
		return k.noun
	}
	return k.plural
}

// bulkText is the result's text: the message, then one line per item.
func bulkText(res schemas.BulkResult) string {
	var sb strings.Builder
	sb.WriteString(res.Message)
	for _, it := range res.Items {
		fmt.Fprintf(&sb, "\n- %s %s (%s)", it.Outcome, quoteName(it.Name), it.ID) // the list the person is shown
		if it.Reason != "" {
			sb.WriteString(": " + it.Reason)
		}
	}
	if res.PlanToken != "" {
		sb.WriteString("\nplan_token: " + res.PlanToken)
	}
	return sb.String()
}
