package tallyfy

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
)

// The three kinds the tools act on, each described once: where it lives in Tallyfy's API, what
// its changes answer and how its archived items are searched. The kind-generic operations
// below (Find, Lookup, List, Settle, Archive, Restore, Delete) are the client's whole surface
// for them.

// route is one kind's endpoints, below /organizations/{org}/{collection}: GET /{id} reads one,
// GET lists, DELETE /{id} archives, PUT /{id}/{restoreSuffix} restores, and DELETE /{id}/delete
// deletes permanently (never retried once the request may have reached Tallyfy).
type route struct {
	kind          Kind
	collection    string
	restoreSuffix string
	// archiveItem: an archive answers with the item ({data: …}); else its body is not read,
	// unless deletion.
	archiveItem bool
	// deletion: the archive and the permanent delete answer {message, deleted_references}
	// (TemplateDeletion), or nothing, not the item.
	deletion bool
	// getIsLive: only live items answer a GET, so one read without archived_at is live.
	getIsLive bool
	// listExtra is sent on every list; statusAll sends status=all unless a status is asked
	// (TaskStatusAll).
	listExtra url.Values
	statusAll bool
	scope     archivedScope // how its archived items are searched (archived.go)
}

// kindAPI is a route with the kind's Go type T, read from its wire form W (decode.go).
type kindAPI[T, W any, PW wire[T, W]] struct{ route }

var (
	// One-off tasks: docs/tallyfy-api.md §1.1–1.3, §2.1–2.2. An archive and a permanent delete
	// answer 204; a restore may answer with the task. A GET finds process tasks too (so the
	// caller can name the process); the archived search reads one-off tasks only, the only ones
	// the tools act on: a task of an archived process is archived with its process.
	tasks = kindAPI[Task, taskWire, *taskWire]{route{kind: KindTask, collection: "tasks", restoreSuffix: "restore",
		listExtra: oneOffOnly, statusAll: true,
		// is_oneoff=true: only one-off tasks; status=all: the default status filter may hide
		// completed tasks (TaskStatusAll). sort=newest is a documented value of list-org-tasks.
		scope: archivedScope{extra: url.Values{"is_oneoff": {"true"}, "status": {TaskStatusAll}}, sort: "newest", order: "newest", noun: "archived one-off tasks"}}}

	// Processes (runs): docs/tallyfy-api.md §1.4–1.6, §2.3–2.4. A GET returns archived runs with
	// archived_at set; an archive and an activate answer 200 {data: run}; a permanent delete
	// (admin only, 422 while the run is live) answers 200 with an empty body.
	runs = kindAPI[Run, runWire, *runWire]{route{kind: KindRun, collection: "runs", restoreSuffix: "activate", archiveItem: true,
		// -created_at: documented by list-processes, and the default of Tallyfy's MCP server.
		// status=archived is the docs' own way to list archived runs (list-processes).
		scope: archivedScope{sort: "-created_at", fallback: url.Values{"status": {"archived"}}, order: "most recently started", noun: "archived processes"}}}

	// Templates (checklists): docs/tallyfy-api.md §1.7–1.9, §2.5–2.6. Only live templates answer
	// a GET (§2.5; Tallyfy answers 404 for an archived one, and the get-template example
	// carries archived_at anyway); an archive and a permanent delete (admin only, an error
	// while the template is live) answer {message, deleted_references}.
	templates = kindAPI[Template, templateWire, *templateWire]{route{kind: KindTemplate, collection: "checklists", restoreSuffix: "restore",
		deletion: true, getIsLive: true,
		// list-templates sorts by sort_by, default "updated" (most recently updated first).
		scope: archivedScope{order: "most recently updated", noun: "archived templates"}}}
)

// kindOps is a kind's operations whatever its Go type: what the kind-generic methods call.
type kindOps interface {
	find(ctx context.Context, c *Client, id string) (Item, error)
	list(ctx context.Context, c *Client, opts ListOptions) (*Page[Item], error)
	settle(ctx context.Context, c *Client, items []Item) (ArchivedNote, error)
	archive(ctx context.Context, c *Client, id string) (Change, error)
	restore(ctx context.Context, c *Client, id string) (Change, error)
	remove(ctx context.Context, c *Client, id string) error
}

var kinds = map[Kind]kindOps{KindTask: tasks, KindRun: runs, KindTemplate: templates}

// byKind runs f on kind's operations, or fails for an unknown kind before anything is sent.
func byKind[R any](kind Kind, f func(kindOps) (R, error)) (R, error) {
	k, ok := kinds[kind]
	if !ok {
		var zero R
		return zero, fmt.Errorf("tallyfy: unknown kind %q", kind)
	}
	return f(k)
}

// Change is what Tallyfy's answer to an archive or restore said.
type Change struct {
	// Item is the item afterwards, when the answer carried one (a run's archive, and restores
	// answered with a body); nil when it named nothing (a task's archive answers 204).
	Item *Entity
	// Detached is what a template's archive took its embeds and links out of
	// (deleted_references).
	Detached []Reference
}

// Find returns the item whether live or archived: a 404 from GET is checked against the
// archived listing (bounded) before it is reported, and an item whose GET did not say whether
// it is archived is settled from that listing too.
func (c *Client) Find(ctx context.Context, kind Kind, id string) (Item, error) {
	return byKind(kind, func(k kindOps) (Item, error) { return k.find(ctx, c, id) })
}

// Lookup returns the current state of a task, run or template, archived or not (Find).
func (c *Client) Lookup(ctx context.Context, kind Kind, id string) (Entity, error) {
	it, err := c.Find(ctx, kind, id)
	if err != nil {
		return Entity{}, err
	}
	e := it.Entity()
	if !e.ArchivedKnown { // Find settles it; a guard, as callers decide on it
		err = fmt.Errorf("tallyfy: Tallyfy did not say whether %s %s is archived; check it in Tallyfy", kind, Truncate(id, 80))
	}
	return e, err
}

// List reads one page of a kind's list (GET /{collection}). A task list holds one-off tasks
// only (is_oneoff=true), completed ones too unless opts.Status says otherwise (TaskStatusAll).
func (c *Client) List(ctx context.Context, kind Kind, opts ListOptions) (*Page[Item], error) {
	return byKind(kind, func(k kindOps) (*Page[Item], error) { return k.list(ctx, c, opts) })
}

// Settle settles the archived state of listed items that did not say it (an archived=include
// listing of tasks or templates: docs/tallyfy-api.md §7) from the kind's archived listing,
// within the archived search's bounds (settle in archived.go).
func (c *Client) Settle(ctx context.Context, kind Kind, items []Item) (ArchivedNote, error) {
	return byKind(kind, func(k kindOps) (ArchivedNote, error) { return k.settle(ctx, c, items) })
}

// Archive archives an item (DELETE /{id}).
func (c *Client) Archive(ctx context.Context, kind Kind, id string) (Change, error) {
	return byKind(kind, func(k kindOps) (Change, error) { return k.archive(ctx, c, id) })
}

// Restore restores an archived item (PUT /{id}/restore, a run's /{id}/activate).
func (c *Client) Restore(ctx context.Context, kind Kind, id string) (Change, error) {
	return byKind(kind, func(k kindOps) (Change, error) { return k.restore(ctx, c, id) })
}

// Delete permanently deletes an item (DELETE /{id}/delete). It is never retried once the
// request may have reached Tallyfy.
func (c *Client) Delete(ctx context.Context, kind Kind, id string) error {
	_, err := byKind(kind, func(k kindOps) (struct{}, error) { return struct{}{}, k.remove(ctx, c, id) })
	return err
}

func (k kindAPI[T, W, PW]) list(ctx context.Context, c *Client, opts ListOptions) (*Page[Item], error) {
	p, err := k.page(ctx, c, opts)
	if err != nil {
		return nil, err
	}
	out := &Page[Item]{Items: make([]Item, len(p.Items)), Pagination: p.Pagination, Offset: p.Offset, PageSize: p.PageSize, memoized: p.memoized}
	for i := range p.Items {
		out.Items[i] = any(&p.Items[i]).(Item)
	}
	return out, nil
}

func (k kindAPI[T, W, PW]) archive(ctx context.Context, c *Client, id string) (Change, error) {
	switch {
	case k.deletion:
		d, err := k.deletionOf(ctx, c, id, "", retrySafe) // its answer is not the template
		if err != nil {
			return Change{}, err
		}
		return Change{Detached: d.References()}, nil
	case k.archiveItem:
		return changeOf(k.change(ctx, c, http.MethodDelete, id, ""))
	}
	_, _, err := k.call(ctx, c, http.MethodDelete, id, "", retrySafe) // 204: nothing named
	return Change{}, err
}

func (k kindAPI[T, W, PW]) restore(ctx context.Context, c *Client, id string) (Change, error) {
	return changeOf(k.change(ctx, c, http.MethodPut, id, k.restoreSuffix))
}

func (k kindAPI[T, W, PW]) remove(ctx context.Context, c *Client, id string) error {
	if k.deletion {
		_, err := k.deletionOf(ctx, c, id, "delete", retryUnsent)
		return err
	}
	_, _, err := k.call(ctx, c, http.MethodDelete, id, "delete", retryUnsent)
	return err
}

// call sends one request about item id (/{id}[/suffix]) and returns the raw response and path.
func (rt route) call(ctx context.Context, c *Client, method, id, suffix string, class retryClass) (*response, string, error) {
	if !ValidID(id) {
		return nil, "", &InvalidIDError{Kind: rt.kind, ID: id}
	}
	p := c.path(rt.collection, id, suffix)
	r, err := c.do(ctx, method, p, nil, class)
	return r, p, err
}

// get fetches one item (GET /{id}).
func (k kindAPI[T, W, PW]) get(ctx context.Context, c *Client, id string) (*T, error) {
	r, p, err := k.call(ctx, c, http.MethodGet, id, "", retrySafe)
	if err != nil {
		return nil, err
	}
	v, err := decodeOne[T, W, PW](ctx, c, string(k.kind)+".", http.MethodGet, p, r)
	if err == nil && k.getIsLive && !any(v).(Item).archivedState().known() {
		any(v).(Item).setArchived(archivedNo)
	}
	return v, err
}

// change sends a lifecycle request whose answer may be the item ({"data": …}), retried when
// safe (retrySafe); an empty 2xx body gives nil.
func (k kindAPI[T, W, PW]) change(ctx context.Context, c *Client, method, id, suffix string) (*T, error) {
	r, p, err := k.call(ctx, c, method, id, suffix, retrySafe)
	if err != nil || len(bytes.TrimSpace(r.Body)) == 0 {
		return nil, err
	}
	return decodeOne[T, W, PW](ctx, c, string(k.kind)+".", method, p, r)
}

// deletionOf sends a template's archive or permanent delete, whose answer is not the template
// but {message, deleted_references} (or nothing).
func (rt route) deletionOf(ctx context.Context, c *Client, id, suffix string, class retryClass) (*TemplateDeletion, error) {
	r, p, err := rt.call(ctx, c, http.MethodDelete, id, suffix, class)
	if err != nil {
		return nil, err
	}
	var d TemplateDeletion
	if len(bytes.TrimSpace(r.Body)) == 0 {
		return &d, nil
	}
	if err := json.Unmarshal(r.Body, &d); err != nil {
		return nil, r.unusable(http.MethodDelete, p, describeJSONError(r, err))
	}
	return &d, nil
}

// changeOf is the item an archive or restore answered with, if any: a 2xx answer whose body
// named the item.
func changeOf[T any](v *T, err error) (Change, error) {
	if v == nil {
		return Change{}, err
	}
	e := any(v).(Item).Entity()
	return Change{Item: &e}, err
}
