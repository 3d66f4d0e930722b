package tools

import (
	"context"
	"fmt"
	"strings"

	"github.com/tallyfy-mcp/tallyfy-mcp/schemas"
	"github.com/tallyfy-mcp/tallyfy-mcp/tallyfy"
)

// kind describes one kind of Tallyfy item to the verbs: T is the client's type, V the view
// in results, G and L the get and list tools' results. The compiler checks that each kind's
// view, line and result functions fit together; adapt erases the types for the verbs.
type kind[T, V, G, L any] struct {
	kind     tallyfy.Kind
	idArg    string // argument name: task_id, run_id, template_id
	noun     string // for messages: "one-off task", "process", "template"
	plural   string // for list texts
	destroys string // what a permanent delete loses
	restore  string // the restore verb's word: restore, activate

	// The Tallyfy calls take the client first, so the client's methods fit as they are.
	find   func(c *tallyfy.Client, ctx context.Context, id string) (*T, error)
	list   func(c *tallyfy.Client, ctx context.Context, opts tallyfy.ListOptions) (*tallyfy.Page[T], error)
	entity func(*T) tallyfy.Entity
	view   func(*T) V
	line   func(V) string // one line of text per item
	got    func(V) G
	listed func([]V, schemas.PageInfo) L
	// search, when set, answers a list call with a query (Tallyfy's q does not search one-off
	// task titles: task_search.go): one page of its matches, and a note when it was cut short.
	search func(c *tallyfy.Client, ctx context.Context, f listFilter, page, perPage int) (items []T, info schemas.PageInfo, cutShort string, err error)
	// searchCut marks a result whose search was cut short.
	searchCut func(L) L
	// settle settles, from the archived listing, the archived state of items an
	// archived=include page did not label (docs/tallyfy-api.md §7).
	settle func(c *tallyfy.Client, ctx context.Context, items []T) (tallyfy.ArchivedNote, error)

	// archive and unarchive return the item as Tallyfy reported it afterwards, or nil when
	// it sent none (or one that cannot be trusted for the archived state).
	archive, unarchive func(c *tallyfy.Client, ctx context.Context, id string) (*T, error)
	// archiveDetaching, when set, archives instead of archive, for a kind whose answer is not
	// the item but what the archive detached (templates: deleted_references).
	archiveDetaching func(c *tallyfy.Client, ctx context.Context, id string) ([]tallyfy.Reference, error)
	remove           func(c *tallyfy.Client, ctx context.Context, id string) error
}

var taskKind = kind[tallyfy.Task, schemas.Task, schemas.GetTaskResult, schemas.ListTasksResult]{
	kind: tallyfy.KindTask, idArg: "task_id", noun: "one-off task", plural: "one-off tasks", restore: "restore", destroys: "the task, its form fields and every value captured in them",
	find: (*tallyfy.Client).FindTask, list: (*tallyfy.Client).ListTasks, entity: (*tallyfy.Task).Entity, view: taskView, line: taskLine,
	got: func(v schemas.Task) schemas.GetTaskResult { return schemas.GetTaskResult{Task: v} }, listed: taskPage,
	settle: (*tallyfy.Client).SettleTasks,
	search: searchTaskPage, searchCut: func(r schemas.ListTasksResult) schemas.ListTasksResult { r.SearchIncomplete = true; return r },
	archive: func(c *tallyfy.Client, ctx context.Context, id string) (*tallyfy.Task, error) {
		return nil, c.ArchiveTask(ctx, id) // 204: no item back
	},
	unarchive: (*tallyfy.Client).RestoreTask, remove: (*tallyfy.Client).DeleteTask,
}

var runKind = kind[tallyfy.Run, schemas.Run, schemas.GetRunResult, schemas.ListRunsResult]{
	kind: tallyfy.KindRun, idArg: "run_id", noun: "process", plural: "processes", restore: "activate", destroys: "the process and all its tasks, comments, form values, attachments, tags and watchers",
	find: (*tallyfy.Client).FindRun, list: (*tallyfy.Client).ListRuns, entity: (*tallyfy.Run).Entity, view: runView, line: runLine,
	got: func(v schemas.Run) schemas.GetRunResult { return schemas.GetRunResult{Run: v} }, listed: runPage,
	archive: (*tallyfy.Client).ArchiveRun, unarchive: (*tallyfy.Client).ActivateRun, remove: (*tallyfy.Client).DeleteRun,
}

var templateKind = kind[tallyfy.Template, schemas.Template, schemas.GetTemplateResult, schemas.ListTemplatesResult]{
	kind: tallyfy.KindTemplate, idArg: "template_id", noun: "template", plural: "templates", restore: "restore", destroys: "the template with its steps, kick-off form and automations (processes already launched from it are kept)",
	find: (*tallyfy.Client).FindTemplate, list: (*tallyfy.Client).ListTemplates, settle: (*tallyfy.Client).SettleTemplates, entity: (*tallyfy.Template).Entity, view: templateView, line: templateLine,
	got: func(v schemas.Template) schemas.GetTemplateResult { return schemas.GetTemplateResult{Template: v} }, listed: templatePage,
	archiveDetaching: func(c *tallyfy.Client, ctx context.Context, id string) ([]tallyfy.Reference, error) {
		d, err := c.ArchiveTemplate(ctx, id) // its answer is not the template
		if err != nil {
			return nil, err
		}
		return d.References(), nil
	},
	unarchive: (*tallyfy.Client).RestoreTemplate,
	remove: func(c *tallyfy.Client, ctx context.Context, id string) error {
		_, err := c.DeleteTemplate(ctx, id)
		return err
	},
}

// page renders items as the list tool's result and text.
func (k *kind[T, V, G, L]) page(items []T, info schemas.PageInfo, f listFilter) (L, string) {
	views := make([]V, 0, len(items))
	lines := make([]string, 0, len(items))
	for i := range items {
		v := k.view(&items[i])
		views = append(views, v)
		lines = append(lines, k.line(v))
	}
	return k.listed(views, info), listText(k.plural, info, lines, f) + filteredNote(info)
}

// fetch reads one page under f: Tallyfy's page with f's updated bounds applied, or for a
// kind with its own search and a query, a page of the search's matches.
func (k *kind[T, V, G, L]) fetch(ctx context.Context, c *tallyfy.Client, f listFilter, page, perPage int) (items []T, info schemas.PageInfo, cutShort string, err error) {
	if k.search != nil && strings.TrimSpace(f.Query) != "" {
		return k.search(c, ctx, f, page, perPage)
	}
	p, err := k.list(c, ctx, f.options(page, perPage))
	if err != nil {
		return nil, schemas.PageInfo{}, "", err
	}
	items, out := keepUpdated(f, p.Items, k.entity)
	info = pageInfo(p)
	info.FilteredOut = out
	return items, info, "", nil
}

// adapt gives the verbs a kind without its types.
func (k *kind[T, V, G, L]) adapt() *resource {
	answered := func(t *T, err error) (answer, error) {
		if t == nil {
			return answer{}, err
		}
		e := k.entity(t)
		return answer{item: &e}, err
	}
	return &resource{
		kind: k.kind, idArg: k.idArg, noun: k.noun, destroys: k.destroys, restore: k.restore,
		find: func(ctx context.Context, c *tallyfy.Client, id string) (any, string, tallyfy.Entity, error) {
			t, err := k.find(c, ctx, id)
			if err != nil {
				return nil, "", tallyfy.Entity{}, err
			}
			v := k.view(t)
			return k.got(v), k.line(v), k.entity(t), nil
		},
		list: func(ctx context.Context, c *tallyfy.Client, f listFilter, page, perPage int) (any, string, []tallyfy.Entity, error) {
			items, info, cut, err := k.fetch(ctx, c, f, page, perPage)
			if err != nil {
				return nil, "", nil, err
			}
			var unsettled string
			if f.Archived == tallyfy.ArchivedInclude && k.settle != nil {
				note, err := k.settle(c, ctx, items)
				if err != nil {
					return nil, "", nil, err
				}
				unsettled = unsettledNote(k.plural, note)
			}
			res, text := k.page(items, info, f)
			text += unsettled
			if cut != "" {
				res, text = k.searchCut(res), text+"\n"+cut
			}
			es := make([]tallyfy.Entity, len(items))
			for i := range items {
				es[i] = k.entity(&items[i])
			}
			return res, text, es, nil
		},
		entities: func(ctx context.Context, c *tallyfy.Client, f listFilter, page, perPage int) ([]tallyfy.Entity, schemas.PageInfo, string, error) {
			items, info, cut, err := k.fetch(ctx, c, f, page, perPage)
			if err != nil {
				return nil, info, "", err
			}
			es := make([]tallyfy.Entity, len(items))
			for i := range items {
				es[i] = k.entity(&items[i])
			}
			return es, info, cut, nil
		},
		doArchive: func(ctx context.Context, c *tallyfy.Client, id string) (answer, error) {
			if k.archiveDetaching != nil {
				refs, err := k.archiveDetaching(c, ctx, id)
				return answer{detached: refs}, err
			}
			return answered(k.archive(c, ctx, id))
		},
		doRestore: func(ctx context.Context, c *tallyfy.Client, id string) (answer, error) {
			return answered(k.unarchive(c, ctx, id))
		},
		doDelete: func(ctx context.Context, c *tallyfy.Client, id string) error { return k.remove(c, ctx, id) },
	}
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

func taskPage(vs []schemas.Task, p schemas.PageInfo) schemas.ListTasksResult {
	return schemas.ListTasksResult{Tasks: vs, Page: p}
}

func runPage(vs []schemas.Run, p schemas.PageInfo) schemas.ListRunsResult {
	return schemas.ListRunsResult{Runs: vs, Page: p}
}

func templatePage(vs []schemas.Template, p schemas.PageInfo) schemas.ListTemplatesResult {
	return schemas.ListTemplatesResult{Templates: vs, Page: p}
}
