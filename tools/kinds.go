package tools

import (
	"cmp"
	"context"
	"fmt"
	"strings"

	"github.com/mark3labs/mcp-go/mcp"

	"github.com/tallyfy-mcp/tallyfy-mcp/schemas"
	"github.com/tallyfy-mcp/tallyfy-mcp/tallyfy"
)

// itemKind is one kind of Tallyfy item as the tools describe it: its words, and the little
// that differs per kind in rendering. The verbs act on every kind through tallyfy's
// kind-generic operations (Find, List, Settle, Archive, Restore, Delete).
type itemKind struct {
	tallyfy.Kind
	idArg    string // argument name: task_id, run_id, template_id
	noun     string // for messages: "one-off task", "process", "template"
	plural   string // for list texts
	destroys string // what a permanent delete loses
	restore  string // the restore verb's word: restore, activate

	// got renders an item as the get tool's result and one line of text.
	got func(tallyfy.Item) (result any, line string)
	// page renders a page's items as the list tool's result (searchCut: a title search cut
	// short) and one line of text each.
	page func(items []tallyfy.Item, info schemas.PageInfo, searchCut bool) (result any, lines []string)
	// searches: a list call with a query searches titles here (Tallyfy's q does not search
	// one-off task titles: task_search.go).
	searches bool
	// settles: the archived state of items an archived=include page did not label is settled
	// from the archived listing (docs/tallyfy-api.md §7).
	settles bool
}

var itemKinds = map[tallyfy.Kind]*itemKind{
	tallyfy.KindTask: {
		Kind: tallyfy.KindTask, idArg: "task_id", noun: "one-off task", plural: "one-off tasks", restore: "restore",
		destroys: "the task, its form fields and every value captured in them", searches: true, settles: true,
		got: func(it tallyfy.Item) (any, string) {
			v := taskView(it.(*tallyfy.Task))
			return schemas.GetTaskResult{Task: v}, taskLine(v)
		},
		page: func(items []tallyfy.Item, info schemas.PageInfo, cut bool) (any, []string) {
			vs, lines := viewsOf(items, taskView, taskLine)
			return schemas.ListTasksResult{Tasks: vs, Page: info, SearchIncomplete: cut}, lines
		},
	},
	tallyfy.KindRun: {
		Kind: tallyfy.KindRun, idArg: "run_id", noun: "process", plural: "processes", restore: "activate",
		destroys: "the process and all its tasks, comments, form values, attachments, tags and watchers",
		got: func(it tallyfy.Item) (any, string) {
			v := runView(it.(*tallyfy.Run))
			return schemas.GetRunResult{Run: v}, runLine(v)
		},
		page: func(items []tallyfy.Item, info schemas.PageInfo, _ bool) (any, []string) {
			vs, lines := viewsOf(items, runView, runLine)
			return schemas.ListRunsResult{Runs: vs, Page: info}, lines
		},
	},
	tallyfy.KindTemplate: {
		Kind: tallyfy.KindTemplate, idArg: "template_id", noun: "template", plural: "templates", restore: "restore",
		destroys: "the template with its steps, kick-off form and automations (processes already launched from it are kept)", settles: true,
		got: func(it tallyfy.Item) (any, string) {
			v := templateView(it.(*tallyfy.Template))
			return schemas.GetTemplateResult{Template: v}, templateLine(v)
		},
		page: func(items []tallyfy.Item, info schemas.PageInfo, _ bool) (any, []string) {
			vs, lines := viewsOf(items, templateView, templateLine)
			return schemas.ListTemplatesResult{Templates: vs, Page: info}, lines
		},
	},
}

// viewsOf renders items of one kind: each one's view in results and its line of text.
func viewsOf[T, V any](items []tallyfy.Item, view func(*T) V, line func(V) string) ([]V, []string) {
	vs := make([]V, 0, len(items))
	lines := make([]string, 0, len(items))
	for _, it := range items {
		v := view(any(it).(*T))
		vs = append(vs, v)
		lines = append(lines, line(v))
	}
	return vs, lines
}

// listPage is one page of the list tool under f: its result and text.
func (k *itemKind) listPage(ctx context.Context, c *tallyfy.Client, f listFilter, page, perPage int) (any, string, error) {
	items, info, cut, err := k.fetch(ctx, c, f, page, perPage)
	if err != nil {
		return nil, "", err
	}
	var unsettled string
	if f.Archived == tallyfy.ArchivedInclude && k.settles {
		note, err := c.Settle(ctx, k.Kind, items)
		if err != nil {
			return nil, "", err
		}
		unsettled = unsettledNote(k.plural, note)
	}
	res, lines := k.page(items, info, cut != "")
	text := listText(k.plural, info, lines, f) + filteredNote(info) + unsettled
	if cut != "" {
		text += "\n" + cut
	}
	return res, text, nil
}

// pageInfo is a Tallyfy page's paging as the list tools show it: has_more and total_pages
// decided from total and the items seen (tallyfy.Page.HasMore says why not total_pages).
func pageInfo(p *tallyfy.Page[tallyfy.Item]) schemas.PageInfo {
	return schemas.PageInfo{Page: max(p.Pagination.CurrentPage, 1), PerPage: p.PageSize, Total: p.Pagination.Total, TotalPages: p.TotalPages(), HasMore: p.HasMore()}
}

// listText renders a page: a header, one line per item, and how to get more.
func listText(plural string, p schemas.PageInfo, lines []string, opts listFilter) string {
	var b strings.Builder
	if len(lines) == 0 && p.FilteredOut > 0 {
		fmt.Fprintf(&b, "No %s of page %d of %d pass updated_before/updated_after.", plural, p.Page, max(p.TotalPages, 1))
		return b.String()
	}
	if len(lines) == 0 && p.Page > 1 && p.Total > 0 {
		fmt.Fprintf(&b, "Page %d is past the end: there are %d %s on %d page(s) of %d. Call again with a page from 1 to %d.",
			p.Page, p.Total, plural, max(p.TotalPages, 1), p.PerPage, max(p.TotalPages, 1))
		return b.String()
	}
	if len(lines) == 0 {
		fmt.Fprintf(&b, "No %s found", plural)
		if opts.Query != "" {
			fmt.Fprintf(&b, " matching %q", opts.Query)
		}
		if opts.Status != "" || opts.TemplateID != "" || opts.bounded() {
			b.WriteString(" with these filters")
		}
		if opts.Archived == "" || opts.Archived == tallyfy.ArchivedExclude {
			b.WriteString(" (archived ones are hidden: set archived to include)")
		}
		b.WriteString(".")
		return b.String()
	}
	fmt.Fprintf(&b, "%d of %d %s (page %d of %d):", len(lines), p.Total, plural, p.Page, max(p.TotalPages, 1))
	for _, l := range lines {
		b.WriteString("\n- " + l)
	}
	if p.HasMore {
		fmt.Fprintf(&b, "\nMore: call again with page=%d.", p.Page+1)
	}
	return b.String()
}

// archivedView is an item's archived state for a result: null when Tallyfy did not say. Only
// an item of an archived=include listing can be unknown (template and task list items may
// carry no archived_at: docs/tallyfy-api.md §7); the get, lifecycle and delete paths go through
// the client's Find and Lookup, which settle it from the archived listing, so no decision
// to archive, restore or delete ever rests on a listing's unknown.
func archivedView(e tallyfy.Entity) *bool {
	if !e.ArchivedKnown {
		return nil
	}
	v := e.Archived
	return &v
}

// unsettledNote says, under an archived=include page, how many items' archived state neither
// the listing nor a bounded search of the archived listing settled ("" when all are labelled).
func unsettledNote(plural string, n tallyfy.ArchivedNote) string {
	if n.Unknown == 0 {
		return ""
	}
	of := ""
	if n.Total > 0 {
		of = fmt.Sprintf(" of %d", n.Total)
	}
	return fmt.Sprintf("\n%d of these %s did not say whether they are archived and are not among the %s %d %s%s (searched in %d requests): get one to know.",
		n.Unknown, plural, n.Order, n.Searched, n.Scope, of, n.Requests)
}

// archivedWord is archivedView in a line of text.
func archivedWord(archived *bool) string {
	if archived == nil {
		return "archived or live (Tallyfy did not say; get it to know)"
	}
	return stateWord(*archived)
}

func stateWord(archived bool) string {
	if archived {
		return "archived"
	}
	return "live"
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

func taskView(t *tallyfy.Task) schemas.Task {
	e := t.Entity()
	return schemas.Task{ID: t.ID, Title: t.Title, Status: t.Status, Archived: archivedView(e), OneOff: e.OneOff, RunID: e.RunID,
		Deadline: deref(t.Deadline), CreatedAt: t.CreatedAt, LastUpdated: t.LastUpdated, CompletedAt: deref(t.CompletedAt), ArchivedAt: e.ArchivedAt}
}

func taskLine(v schemas.Task) string {
	s := fmt.Sprintf("%q (task_id %s): %s, %s", v.Title, v.ID, v.Status, archivedWord(v.Archived))
	if !v.OneOff {
		s += ", inside process " + v.RunID
	}
	if v.Deadline != "" {
		s += ", due " + v.Deadline
	}
	return s
}

func runView(r *tallyfy.Run) schemas.Run {
	e := r.Entity()
	return schemas.Run{ID: r.ID, Name: r.Name, Status: r.Status, Archived: archivedView(e), TemplateID: r.ChecklistID, TemplateTitle: r.ChecklistTitle,
		Progress: r.Progress, CreatedAt: r.CreatedAt, LastUpdated: r.LastUpdated, CompletedAt: deref(r.CompletedAt), ArchivedAt: e.ArchivedAt}
}

func runLine(v schemas.Run) string {
	s := fmt.Sprintf("%q (run_id %s): %s", v.Name, v.ID, v.Status)
	if v.Progress != nil {
		s += fmt.Sprintf(", %.0f%% done", *v.Progress)
	}
	if v.Archived != nil && *v.Archived && v.Status != "archived" {
		s += ", archived"
	}
	if v.TemplateTitle != "" {
		s += ", from template " + fmt.Sprintf("%q", v.TemplateTitle)
	}
	return s
}

func templateView(t *tallyfy.Template) schemas.Template {
	e := t.Entity()
	status := t.Status
	if e.Archived && e.ArchivedKnown {
		// Tallyfy's template status is its publishing state ("active" even once archived);
		// beside archived: true it would read as live.
		status = "archived"
	}
	return schemas.Template{ID: t.ID, Title: t.Title, Summary: deref(t.Summary), Status: status, Archived: archivedView(e),
		StepsCount: t.StepsCount, CreatedAt: t.CreatedAt, LastUpdated: t.LastUpdated, ArchivedAt: e.ArchivedAt}
}

func templateLine(v schemas.Template) string {
	s := fmt.Sprintf("%q (template_id %s): %s", v.Title, v.ID, archivedWord(v.Archived))
	if v.StepsCount != nil {
		s += fmt.Sprintf(", %.0f steps", *v.StepsCount)
	}
	return s
}

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
	return schemas.Resource{Type: string(e.Kind), ID: e.ID, Name: e.Name, State: cmp.Or(state, stateWord(e.Archived)), Status: e.Status, LastUpdated: e.LastUpdated}
}
