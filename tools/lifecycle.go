package tools

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptrace"
	"strings"
	"sync/atomic"
	"time"

	"github.com/mark3labs/mcp-go/mcp"

	"github.com/tallyfy-mcp/tallyfy-mcp/schemas"
	"github.com/tallyfy-mcp/tallyfy-mcp/tallyfy"
)

// One lifecycle path for every archive and restore, single or bulk (issue 18, point 1). No two
// requests are ever in flight whose meaning depends on the order Tallyfy serves them, and
// Tallyfy's clock is never compared with ours below one second (its stamps may be whole
// seconds: docs/tallyfy-api.md §7).
//
//   - archive_run sends one request: Tallyfy answers with the run (docs archive-process), so
//     the answer settles the state. It is a change unless the run's archived_at (or
//     last_updated) is clearly older than the call, more than a second before it was sent: a
//     Tallyfy that answers 200 to archiving an archived run gives the old stamp back
//     (tallyfy/sandbox variant archive-archived-200). A refusal is settled by reading the run.
//   - Everything else is read first (resolve, pipeline.go), then changed: the read decides the
//     no-op (nothing is sent for an item already in the asked state) and refuses a process
//     task; a 2xx to the change is then a change, whatever the answer holds (a 2xx from
//     /activate on a run read as archived activated it; archive_task answers 204 and
//     archive_template {message, deleted_references}, which name nothing).
//   - A refused or unanswered change is settled by reading the item again (settle): the result
//     says "Tallyfy refused (status)" and the state read back, and "changed while this call
//     ran" only when the read shows another last_updated than the first read.
//
// A single call thus costs one round trip for archive_run and two for the others (docs/
// performance.md).

// clearlyOlder is how much older than the call a stamp must be to prove that the call did not
// write it: Tallyfy's stamps may be whole seconds, and clocks are never compared more finely.
const clearlyOlder = time.Second

// answerSettles reports a change whose answer settles its result, so it needs no read first.
func answerSettles(c *call) bool {
	return c.tool.Verb == VerbArchive && c.kind.Kind == tallyfy.KindRun
}

// lifecycle archives or restores one item.
func (ts *Toolset) lifecycle(ctx context.Context, c *call) outcome {
	archive := c.tool.Verb == VerbArchive
	var before *tallyfy.Entity
	intended := tallyfy.Entity{Kind: c.kind.Kind, ID: c.id}
	if c.target != nil {
		e := *c.target
		if e.Archived == archive { // decided from the read: nothing is sent
			return ended(schemas.Noop, "", lifecycleResult(c, e, false, "")).about(e)
		}
		before, intended = &e, e
	}
	if o, ok := c.intend(ctx, confirmation{}, intended); !ok {
		return o
	}
	do := c.client.Restore
	if archive {
		do = c.client.Archive
	}
	sent := time.Now()
	var attempts atomic.Int32 // a retried change may meet what its first attempt did
	counted := httptrace.WithClientTrace(ctx, &httptrace.ClientTrace{WroteRequest: func(httptrace.WroteRequestInfo) { attempts.Add(1) }})
	ans, err := do(counted, c.kind.Kind, c.id)
	if err != nil {
		return ts.settle(ctx, c, before, err, attempts.Load() > 1, sent)
	}
	after := intended
	if ans.Item != nil {
		after = *ans.Item
		after.Name = cmp.Or(after.Name, intended.Name)
		if after.ArchivedKnown && after.Archived != archive {
			// A 2xx whose item is not in the asked state: say what it says, claim nothing.
			return ended(schemas.Unknown, "", mcp.NewToolResultError(fmt.Sprintf(
				"Tallyfy accepted the request but its answer shows %s %s as %s. Check it with %s before doing anything else.",
				c.kind.noun, named(after), stateWord(after.Archived), toolFor(c.kind.Kind, VerbGet).Name))).about(after)
		}
	} else {
		// The answer named nothing (204, or deleted_references): the stamps read before are
		// not this change's.
		after.LastUpdated, after.ArchivedAt = "", ""
	}
	after.Archived, after.ArchivedKnown = archive, true
	if before == nil && stampedBefore(after, sent) {
		// archive_run on a run archived earlier, by a Tallyfy that answers 200 to that.
		return ended(schemas.Noop, "", lifecycleResult(c, after, false, "")).about(after)
	}
	o := succeeded(lifecycleResult(c, after, true, "", ans.Detached...)).about(after)
	o.detached = ans.Detached
	return o
}

// stampedBefore reports whether e's archive stamp (archived_at, else last_updated) is clearly
// older than sent: then the answer shows an earlier archive, not this call's.
func stampedBefore(e tallyfy.Entity, sent time.Time) bool {
	t, err := parseTallyfyTime(cmp.Or(e.ArchivedAt, e.LastUpdated))
	return err == nil && t.Before(sent.Add(-clearlyOlder))
}

// settle reads the item after its change failed and says what is true now. before is the
// first read (nil for archive_run, which has none); retried: the change was sent more than
// once, so a refusal may answer what an earlier attempt did; sent: when the change left.
func (ts *Toolset) settle(ctx context.Context, c *call, before *tallyfy.Entity, err error, retried bool, sent time.Time) outcome {
	archive := c.tool.Verb == VerbArchive
	id := tallyfy.Entity{Kind: c.kind.Kind, ID: c.id}
	if before != nil {
		id = *before
	}
	now, lerr := c.client.Lookup(context.WithoutCancel(ctx), c.kind.Kind, c.id)
	lost := ambiguous(err) || retried // the change may have gone through though its answer was lost
	switch {
	case tallyfy.IsNotFound(lerr) && tallyfy.IsNotFound(err) && !retried:
		return failed(c, err).about(id)
	case lerr != nil && (lost || tallyfy.IsNotFound(err)):
		return ended(schemas.Unknown, "", mcp.NewToolResultError(fmt.Sprintf(
			"Not sure whether %s %s is %s now: Tallyfy answered %s and reading it again failed (%s). Check it with %s before calling %s again.",
			c.kind.noun, named(id), stateWord(archive), describe(err), describe(lerr), toolFor(c.kind.Kind, VerbGet).Name, c.tool.Name))).about(id).because(err)
	case lerr != nil:
		return ended(schemas.Failed, "", mcp.NewToolResultError(fmt.Sprintf("%s Reading %s %s again failed too (%s), so its state now is unknown; check it with %s.",
			explain(c, err), c.kind.noun, named(id), describe(lerr), toolFor(c.kind.Kind, VerbGet).Name))).about(id).because(err)
	case now.Archived == archive && before != nil && lost:
		// Read in the other state before, in the asked state now, and the answer was lost:
		// the change went through.
		return succeeded(lifecycleResult(c, now, true, "")).about(now).because(err)
	case now.Archived == archive && before == nil:
		// archive_run refused (or unanswered) and the run is archived: this call archived it
		// unless its stamp is clearly older than the call.
		if lost && !stampedBefore(now, sent) {
			return succeeded(lifecycleResult(c, now, true, "")).about(now).because(err)
		}
		msg := fmt.Sprintf("%s %s was already %s: nothing changed (Tallyfy answered %s to %s it again).",
			Capitalize(c.kind.noun), named(now), stateWord(archive), describe(err), strings.TrimSuffix(verb(c), "e")+"ing")
		return ended(schemas.Noop, "", lifecycleResult(c, now, false, msg)).about(now).because(err)
	case now.Archived == archive:
		// Refused, yet in the asked state now: someone else changed it while this call ran.
		msg := fmt.Sprintf("Tallyfy refused (%s) to %s %s %s, and read back just now it is %s%s. This call changed nothing.",
			refusal(err), verb(c), c.kind.noun, named(now), stateWord(now.Archived), changedWhile(before, now))
		return ended(schemas.Noop, "", lifecycleResult(c, now, false, msg)).about(now).because(err)
	}
	// Not in the asked state: refused (or unanswered and not done).
	msg := fmt.Sprintf("Tallyfy refused (%s) to %s %s %s. Read back just now, it is %s%s. Nothing was changed by this call.%s",
		refusal(err), verb(c), c.kind.noun, named(now), stateWord(now.Archived), changedWhile(before, now), nextStep(c, err))
	return ended(schemas.Failed, "", mcp.NewToolResultError(msg)).about(now).because(err)
}

// changedWhile says that the item changed while the call ran, when the read after shows
// another last_updated than the read before (and only then).
func changedWhile(before *tallyfy.Entity, now tallyfy.Entity) string {
	if before == nil || now.LastUpdated == "" || before.LastUpdated == now.LastUpdated {
		return ""
	}
	was := cmp.Or(before.LastUpdated, "unknown")
	return fmt.Sprintf(": it changed while this call ran (last_updated %s before, %s now)", was, now.LastUpdated)
}

// refusal is Tallyfy's refusal in a few words: status, code and message.
func refusal(err error) string {
	ae, ok := errors.AsType[*tallyfy.APIError](err)
	if !ok {
		return describe(err)
	}
	s := fmt.Sprintf("%d %s", ae.Status, http.StatusText(ae.Status))
	if ae.Code != "" {
		s += ", " + ae.Code
	}
	if ae.Message != "" {
		s += ": " + clip(ae.Message, 200)
	}
	return s + requestRef(ae.RequestID)
}

// nextStep is what to do after a refusal, by its status.
func nextStep(c *call, err error) string {
	var ae *tallyfy.APIError
	switch {
	case !errors.As(err, &ae):
	case ae.Code == "ENDPOINT_NOT_FOUND":
		return " " + routeUnknown(ae, true)
	case ae.Status == 401 || ae.Status == 429 || ae.Status >= 500:
		return " " + explain(c, err)
	case ae.Status == 403:
		return fmt.Sprintf(" Tallyfy answers 403 when the token's user lacks the right and when a business rule forbids the change: ask a Tallyfy admin, or check the %s in Tallyfy.", c.kind.noun)
	}
	return fmt.Sprintf(" Check it with %s before calling %s again.", toolFor(c.kind.Kind, VerbGet).Name, c.tool.Name)
}

// routeUnknown words a 404 ENDPOINT_NOT_FOUND: it names the route, and says the base URL is
// right when another route answered in the same call (the item was read before the change).
func routeUnknown(ae *tallyfy.APIError, othersAnswered bool) string {
	s := fmt.Sprintf("Tallyfy does not know the route %s (404 ENDPOINT_NOT_FOUND)%s.", route(ae), requestRef(ae.RequestID))
	if othersAnswered {
		return s + " Other routes answered in this call, so TALLYFY_BASE_URL is right: this Tallyfy lacks that route; report it to Tallyfy support with the request id."
	}
	return s + fmt.Sprintf(" If every tool fails this way, TALLYFY_BASE_URL is probably wrong (use %s); if only this one does, this Tallyfy lacks that route.", tallyfy.DefaultBaseURL)
}

// route is a request's method and path below the organization, IDs written {id}.
func route(ae *tallyfy.APIError) string {
	p := ae.Path
	if i := strings.Index(p, "/organizations/"); i >= 0 {
		rest := p[i+len("/organizations/"):]
		if j := strings.Index(rest, "/"); j >= 0 {
			p = rest[j:]
		}
	}
	parts := strings.Split(p, "/")
	for i, part := range parts {
		if tallyfy.ValidID(part) {
			parts[i] = "{id}"
		}
	}
	return strings.TrimSpace(ae.Method + " " + strings.Join(parts, "/"))
}

// verb is the tool's action in a sentence: archive, restore, activate.
func verb(c *call) string {
	if c.tool.Verb == VerbRestore {
		return c.kind.restore
	}
	return string(c.tool.Verb)
}

// named is an item's name for a sentence, quoted, or its ID when its name is unknown.
func named(e tallyfy.Entity) string {
	if e.Name == "" {
		return e.ID
	}
	return fmt.Sprintf("%q", e.Name)
}

// lifecycleResult is the result of an archive or restore; msg replaces the usual sentence
// when set; detached is what an archived template lost (deleted_references).
func lifecycleResult(c *call, e tallyfy.Entity, changed bool, msg string, detached ...tallyfy.Reference) *mcp.CallToolResult {
	inverse := toolFor(c.kind.Kind, VerbRestore)
	if c.tool.Verb == VerbRestore {
		inverse = toolFor(c.kind.Kind, VerbArchive)
	}
	state := stateWord(e.Archived)
	if msg == "" {
		switch {
		case changed && c.kind.Kind == tallyfy.KindTemplate && c.tool.Verb == VerbArchive:
			msg = fmt.Sprintf("Template %s is now archived. %s brings the template itself back.", named(e), inverse.Name)
		case changed:
			msg = fmt.Sprintf("%s %s is now %s. Undo with %s.", Capitalize(c.kind.noun), named(e), state, inverse.Name)
		default:
			msg = fmt.Sprintf("%s %s was already %s: nothing changed.", Capitalize(c.kind.noun), named(e), state)
		}
	}
	refs := make([]schemas.Reference, 0, len(detached))
	for _, r := range detached {
		refs = append(refs, schemas.Reference{Type: r.Type, ID: r.ID, Title: r.Title})
	}
	if changed && c.kind.Kind == tallyfy.KindTemplate && c.tool.Verb == VerbArchive {
		msg += detachedText(refs, inverse.Name)
	}
	res := schemas.LifecycleResult{
		Action: verb(c), Resource: resourceOf(e, state), Changed: changed, Reversible: true,
		Undo:    schemas.Undo{Tool: inverse.Name, Arguments: map[string]string{c.kind.idArg: e.ID}},
		Message: msg,
	}
	if c.kind.Kind == tallyfy.KindTemplate && c.tool.Verb == VerbArchive {
		return mcp.NewToolResultStructured(schemas.ArchiveTemplateResult{LifecycleResult: res, DeletedReferences: refs}, msg)
	}
	return mcp.NewToolResultStructured(res, msg)
}

// detachedText tells what archiving a template detached, and that restoring it may not put
// those back (docs/tallyfy-api.md §1.7, §1.8).
func detachedText(refs []schemas.Reference, restore string) string {
	if len(refs) == 0 {
		return " Tallyfy reported nothing detached from it (deleted_references empty); automations, recurring jobs or folders that pointed at it are not promised back by a restore."
	}
	lines := make([]string, 0, len(refs))
	for _, r := range refs {
		s := r.Type
		if r.Title != "" {
			s += fmt.Sprintf(" %q", r.Title)
		}
		if r.ID != "" {
			s += " (" + r.ID + ")"
		}
		lines = append(lines, s)
	}
	return fmt.Sprintf(" Tallyfy detached %d reference(s) from it (deleted_references): %s. %s may not re-attach these: check them after restoring.",
		len(refs), strings.Join(lines, "; "), restore)
}
