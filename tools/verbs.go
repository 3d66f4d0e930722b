package tools

import (
	"bytes"
	"context"
	"fmt"

	"github.com/mark3labs/mcp-go/mcp"

	"github.com/tallyfy-mcp/tallyfy-mcp/schemas"
	"github.com/tallyfy-mcp/tallyfy-mcp/tallyfy"
)

func bytesReader(b []byte) *bytes.Reader { return bytes.NewReader(b) }

// idArg reads and checks the resource ID argument. The schema already enforces the pattern;
// this is the second line, so no malformed ID can ever reach a URL.
func idArg(req mcp.CallToolRequest, r *resource) (string, *mcp.CallToolResult) {
	v, _ := req.GetArguments()[r.idArg].(string)
	if !tallyfy.ValidID(v) {
		return "", invalidArgument(r.idArg, fmt.Sprintf("must be a Tallyfy ID of 32 lowercase hex characters, got %q. Find the ID with %s.",
			clip(v, 80), toolFor(r.kind, VerbList).Name))
	}
	return v, nil
}

func (ts *Toolset) get(ctx context.Context, c *call) outcome {
	result, text, e, err := c.res.find(ctx, c.client, c.id)
	if err != nil {
		return failed(c, err)
	}
	ts.oneOff.learn(c.client.OrgID(), e)
	return succeeded(mcp.NewToolResultStructured(result, text))
}

func (ts *Toolset) list(ctx context.Context, c *call) outcome {
	var args schemas.ListArgs
	var status, templateID string
	var err error
	if c.res.kind == tallyfy.KindRun {
		var ra schemas.ListRunsArgs
		ra, err = decodeArgs[schemas.ListRunsArgs](c.req)
		args, status, templateID = ra.ListArgs, ra.Status, ra.TemplateID
	} else {
		args, err = decodeArgs[schemas.ListArgs](c.req)
	}
	if err != nil {
		return refused("", argumentError(err))
	}
	f, bad := parseListFilter(args, status, templateID)
	if bad != nil {
		return refused("", bad)
	}
	perPage := args.PerPage
	if perPage == 0 {
		perPage = 20
	}
	if perPage < 1 || perPage > 100 {
		return refused("", invalidArgument("per_page", "must be from 1 to 100"))
	}
	if args.Page < 0 {
		return refused("", invalidArgument("page", "must be 1 or more"))
	}
	result, text, es, err := c.res.list(ctx, c.client, f, args.Page, perPage)
	if err != nil {
		return failed(c, err)
	}
	ts.oneOff.learn(c.client.OrgID(), es...)
	return succeeded(mcp.NewToolResultStructured(result, text))
}

// lifecycle archives or restores the resolved item. Asking for the state an item is already
// in succeeds without a second write; a lost answer is settled by reading the item again.
func (ts *Toolset) lifecycle(ctx context.Context, c *call) outcome {
	if c.target == nil {
		return ts.lifecycleAtOnce(ctx, c)
	}
	e := *c.target
	archive := c.tool.Verb == VerbArchive
	if e.Archived == archive {
		return ended("noop", "", lifecycleResult(c, e, false))
	}
	do := c.res.doRestore
	if archive {
		do = c.res.doArchive
	}
	if o, ok := c.intend(ctx, "", e); !ok {
		return o
	}
	after, err := do(ctx, c.client, c.id)
	if err != nil {
		// The change may have gone through though its answer was lost (or a retry met the
		// result of an earlier attempt): look again before calling it a failure.
		now, lerr := c.client.Lookup(context.WithoutCancel(ctx), c.res.kind, c.id)
		if lerr == nil && now.Archived != archive && tallyfy.IsNotFound(err) {
			// The item exists, so this 404 means it changed under us (someone archived or
			// restored it at the same moment): say so rather than "not found".
			return ended("failed", "", mcp.NewToolResultError(fmt.Sprintf(
				"%s %q changed while this call ran (someone else archived or restored it at the same moment): Tallyfy refused with 404 and it is now %s. Nothing was changed by this call; check it with %s and call %s again if still needed.",
				capital(c.res.noun), now.Name, stateWord(now.Archived), toolFor(c.res.kind, VerbGet).Name, c.tool.Name))).because(err)
		}
		if lerr != nil && (tallyfy.IsNotFound(err) || ambiguous(err)) {
			// The change may have happened (a retried request meets what the first one did:
			// 404) and the item could not be read back: say the state is unknown rather than
			// calling an existing item missing.
			return ended("unknown", "", mcp.NewToolResultError(fmt.Sprintf(
				"Not sure whether %s %q is %s now: Tallyfy answered %s and reading it again failed (%s). Check it with %s before calling %s again.",
				c.res.noun, e.Name, stateWord(archive), describe(err), describe(lerr), toolFor(c.res.kind, VerbGet).Name, c.tool.Name))).because(err)
		}
		if lerr != nil || now.Archived != archive {
			return failed(c, err)
		}
		after = &now
	}
	if after == nil { // Tallyfy sent no item back (task archive: 204)
		e.Archived = archive
		after = &e
	}
	after.Archived = archive
	return succeeded(lifecycleResult(c, *after, true)).about(*after).because(err)
}

// processTaskRefusal stops lifecycle and delete calls on a task that belongs to a process.
func processTaskRefusal(e tallyfy.Entity) (outcome, bool) {
	if e.Kind != tallyfy.KindTask || e.OneOff {
		return outcome{}, false
	}
	const detail = "process task"
	if e.RunID == "" {
		return refused(detail, mcp.NewToolResultError(fmt.Sprintf("Task %q (%s) is not a one-off task (Tallyfy marks it as a process task): it is archived, restored and deleted with its process. Find the process with list_runs, then use archive_run, activate_run or delete_run.",
			e.Name, e.ID))).about(e), true
	}
	return refused(detail, mcp.NewToolResultError(fmt.Sprintf("Task %q (%s) belongs to process %s, not a one-off task: it is archived, restored and deleted with its process. Use get_run with run_id %s, then archive_run, activate_run or delete_run.",
		e.Name, e.ID, e.RunID, e.RunID))).about(e), true
}

func resourceOf(e tallyfy.Entity, state string) schemas.Resource {
	if state == "" {
		state = stateWord(e.Archived)
	}
	return schemas.Resource{Type: string(e.Kind), ID: e.ID, Name: e.Name, State: state, Status: e.Status, LastUpdated: e.LastUpdated}
}

func lifecycleResult(c *call, e tallyfy.Entity, changed bool) *mcp.CallToolResult {
	verb := string(c.tool.Verb)
	if c.tool.Verb == VerbRestore {
		verb = c.res.restore
	}
	inverse := toolFor(c.res.kind, VerbRestore)
	if c.tool.Verb == VerbRestore {
		inverse = toolFor(c.res.kind, VerbArchive)
	}
	state := stateWord(e.Archived)
	name := fmt.Sprintf("%q", e.Name)
	if e.Name == "" { // Tallyfy's answer named nothing and reading it failed (lifecycle_at_once.go)
		name = e.ID + " (its name could not be read)"
	}
	var msg string
	switch {
	case changed:
		msg = fmt.Sprintf("%s %s is now %s. Undo with %s.", capital(c.res.noun), name, state, inverse.Name)
	default:
		msg = fmt.Sprintf("%s %s was already %s: nothing changed.", capital(c.res.noun), name, state)
	}
	res := schemas.LifecycleResult{
		Action: verb, Resource: resourceOf(e, state), Changed: changed, Reversible: true,
		Undo:    schemas.Undo{Tool: inverse.Name, Arguments: map[string]string{c.res.idArg: e.ID}},
		Message: msg,
	}
	return mcp.NewToolResultStructured(res, msg)
}

func capital(s string) string {
	if s == "" {
		return s
	}
	return string(s[0]-'a'+'A') + s[1:]
}

func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
