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

func (ts *Toolset) get(ctx context.Context, req mcp.CallToolRequest, c *call) *mcp.CallToolResult {
	id, bad := idArg(req, c.res)
	if bad != nil {
		return bad
	}
	c.id = id
	result, text, _, err := c.res.find(ctx, c.client, id)
	if err != nil {
		return failure(c, err)
	}
	return mcp.NewToolResultStructured(result, text)
}

func (ts *Toolset) list(ctx context.Context, req mcp.CallToolRequest, c *call) *mcp.CallToolResult {
	args, err := decodeArgs[schemas.ListArgs](req)
	if err != nil {
		return argumentError(err)
	}
	opts := tallyfy.ListOptions{Query: args.Query, Archived: tallyfy.Archived(args.Archived), Page: args.Page, PerPage: args.PerPage}
	switch opts.Archived {
	case "", tallyfy.ArchivedExclude, tallyfy.ArchivedInclude, tallyfy.ArchivedOnly:
	default:
		return invalidArgument("archived", "must be exclude, include or only")
	}
	if opts.PerPage == 0 {
		opts.PerPage = 20
	}
	if opts.PerPage < 1 || opts.PerPage > 100 {
		return invalidArgument("per_page", "must be from 1 to 100")
	}
	if opts.Page < 0 {
		return invalidArgument("page", "must be 1 or more")
	}
	result, text, err := c.res.list(ctx, c.client, opts)
	if err != nil {
		return failure(c, err)
	}
	return mcp.NewToolResultStructured(result, text)
}

// lifecycle archives or restores. Asking for the state an item is already in succeeds
// without a second write; a lost answer is settled by reading the item again.
func (ts *Toolset) lifecycle(ctx context.Context, req mcp.CallToolRequest, c *call) *mcp.CallToolResult {
	id, bad := idArg(req, c.res)
	if bad != nil {
		return ts.finish(ctx, c, bad)
	}
	c.id = id
	archive := c.tool.Verb == VerbArchive
	if archive {
		if refusal := ts.protectedRefusal(c); refusal != nil {
			return ts.finish(ctx, c, refusal)
		}
	}
	e, err := c.client.Lookup(ctx, c.res.kind, id)
	if err != nil {
		return ts.finish(ctx, c, failure(c, err))
	}
	c.entity = &e
	if refusal := processTaskRefusal(c, e); refusal != nil {
		return ts.finish(ctx, c, refusal)
	}
	if e.Archived == archive {
		c.outcome = "noop"
		return ts.finish(ctx, c, lifecycleResult(c, e, false))
	}
	do := c.res.doRestore
	if archive {
		do = c.res.doArchive
	}
	if refused := ts.intend(ctx, c); refused != nil {
		return ts.finish(ctx, c, refused)
	}
	after, err := do(ctx, c.client, id)
	if err != nil {
		// The change may have gone through though its answer was lost (or a retry met the
		// result of an earlier attempt): look again before calling it a failure.
		now, lerr := c.client.Lookup(context.WithoutCancel(ctx), c.res.kind, id)
		if lerr == nil && now.Archived != archive && tallyfy.IsNotFound(err) {
			// The item exists, so this 404 means it changed under us (someone archived or
			// restored it at the same moment): say so rather than "not found".
			c.outcome, c.err = "failed", err
			return ts.finish(ctx, c, mcp.NewToolResultError(fmt.Sprintf(
				"%s %q changed while this call ran (someone else archived or restored it at the same moment): Tallyfy refused with 404 and it is now %s. Nothing was changed by this call; check it with %s and call %s again if still needed.",
				capital(c.res.noun), now.Name, stateWord(now.Archived), toolFor(c.res.kind, VerbGet).Name, c.tool.Name)))
		}
		if lerr != nil && (tallyfy.IsNotFound(err) || ambiguous(err)) {
			// The change may have happened (a retried request meets what the first one did:
			// 404) and the item could not be read back: say the state is unknown rather than
			// calling an existing item missing.
			c.outcome, c.err = "unknown", err
			return ts.finish(ctx, c, mcp.NewToolResultError(fmt.Sprintf(
				"Not sure whether %s %q is %s now: Tallyfy answered %s and reading it again failed (%s). Check it with %s before calling %s again.",
				c.res.noun, e.Name, stateWord(archive), describe(err), describe(lerr), toolFor(c.res.kind, VerbGet).Name, c.tool.Name)))
		}
		if lerr != nil || now.Archived != archive {
			return ts.finish(ctx, c, failure(c, err))
		}
		c.err = err
		after = &now
	}
	if after == nil { // Tallyfy sent no item back (task archive: 204)
		e.Archived = archive
		after = &e
	}
	after.Archived = archive
	c.entity = after
	c.outcome = "ok"
	return ts.finish(ctx, c, lifecycleResult(c, *after, true))
}

// processTaskRefusal stops lifecycle and delete calls on a task that belongs to a process.
func processTaskRefusal(c *call, e tallyfy.Entity) *mcp.CallToolResult {
	if e.Kind != tallyfy.KindTask || e.OneOff {
		return nil
	}
	c.outcome, c.errDetail = "refused", "process task"
	if e.RunID == "" {
		return mcp.NewToolResultError(fmt.Sprintf("Task %q (%s) is not a one-off task (Tallyfy marks it as a process task): it is archived, restored and deleted with its process. Find the process with list_runs, then use archive_run, activate_run or delete_run.",
			e.Name, e.ID))
	}
	return mcp.NewToolResultError(fmt.Sprintf("Task %q (%s) belongs to process %s, not a one-off task: it is archived, restored and deleted with its process. Use get_run with run_id %s, then archive_run, activate_run or delete_run.",
		e.Name, e.ID, e.RunID, e.RunID))
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
	var msg string
	switch {
	case changed:
		msg = fmt.Sprintf("%s %q is now %s. Undo with %s.", capital(c.res.noun), e.Name, state, inverse.Name)
	default:
		msg = fmt.Sprintf("%s %q was already %s: nothing changed.", capital(c.res.noun), e.Name, state)
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
