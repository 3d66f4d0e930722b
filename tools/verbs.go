package tools

import (
	"cmp"
	"context"
	"fmt"

	"github.com/mark3labs/mcp-go/mcp"

	"github.com/tallyfy-mcp/tallyfy-mcp/schemas"
	"github.com/tallyfy-mcp/tallyfy-mcp/tallyfy"
)

// idArg reads and checks the resource ID argument. The schema already enforces the pattern;
// this is the second line, so no malformed ID can ever reach a URL.
func idArg(req mcp.CallToolRequest, r *itemKind) (string, *mcp.CallToolResult) {
	v, _ := req.GetArguments()[r.idArg].(string)
	if !tallyfy.ValidID(v) {
		return "", invalidArgument(r.idArg, fmt.Sprintf("must be a Tallyfy ID of 32 lowercase hex characters, got %q. Find the ID with %s.",
			clip(v, 80), toolFor(r.Kind, VerbList).Name))
	}
	return v, nil
}

func (ts *Toolset) get(ctx context.Context, c *call) outcome {
	it, err := c.client.Find(ctx, c.kind.Kind, c.id)
	if err != nil {
		return failed(c, err)
	}
	result, text := c.kind.got(it)
	return succeeded(mcp.NewToolResultStructured(result, text))
}

func (ts *Toolset) list(ctx context.Context, c *call) outcome {
	var args schemas.ListArgs
	var status, templateID string
	var err error
	if c.kind.Kind == tallyfy.KindRun {
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
	perPage := cmp.Or(args.PerPage, 20)
	if perPage < 1 || perPage > 100 {
		return refused("", invalidArgument("per_page", "must be from 1 to 100"))
	}
	if args.Page < 0 {
		return refused("", invalidArgument("page", "must be 1 or more"))
	}
	result, text, err := c.kind.listPage(ctx, c.client, f, args.Page, perPage)
	if err != nil {
		return failed(c, err)
	}
	return succeeded(mcp.NewToolResultStructured(result, text))
}

// processTaskRefusal stops lifecycle and delete calls on a task that belongs to a process.
// When Tallyfy names the process, the refusal shows what it holds (process_contents.go), read
// here and only here: the normal path sends no extra request.
func processTaskRefusal(ctx context.Context, client *tallyfy.Client, e tallyfy.Entity) (outcome, bool) {
	if e.Kind != tallyfy.KindTask || e.OneOff {
		return outcome{}, false
	}
	const detail = "process task"
	if e.RunID == "" {
		return refused(detail, mcp.NewToolResultError(fmt.Sprintf("Task %q (%s) is not a one-off task (Tallyfy marks it as a process task) and Tallyfy did not name its process: it is archived, restored and deleted only with that process, so nothing was changed. Find the process with list_runs and show the person what it holds before any archive_run or delete_run, which act on every task in it.",
			e.Name, e.ID))).about(e), true
	}
	pc := readProcessContents(ctx, client, e.RunID)
	return refused(detail, mcp.NewToolResultError(pc.singleRefusal(e))).about(e), true
}

func resourceOf(e tallyfy.Entity, state string) schemas.Resource {
	if state == "" {
		state = stateWord(e.Archived)
	}
	return schemas.Resource{Type: string(e.Kind), ID: e.ID, Name: e.Name, State: state, Status: e.Status, LastUpdated: e.LastUpdated}
}
