package tallyfy

import (
	"context"
	"fmt"
)

// The kind-generic operations: what the tools do to a one-off task, process or template,
// chosen by its Kind. Each goes through the one method of that kind's endpoint (tasks.go,
// runs.go, templates.go), which alone knows the route and the shape of Tallyfy's answer.

// Change is what Tallyfy's answer to an archive or restore said.
type Change struct {
	// Item is the item afterwards, when the answer carried one (a run's archive, and restores
	// answered with a body); nil when it named nothing (a task's archive answers 204).
	Item *Entity
	// Detached is what a template's archive took its embeds and links out of
	// (deleted_references).
	Detached []Reference
}

func unknownKind(kind Kind) error { return fmt.Errorf("tallyfy: unknown kind %q", kind) }

// Find returns the item whether live or archived: a 404 from GET is checked against the
// archived listing (bounded) before it is reported, and an item whose GET did not say whether
// it is archived is settled from that listing too.
func (c *Client) Find(ctx context.Context, kind Kind, id string) (Item, error) {
	switch kind {
	case KindTask:
		// A GET finds process tasks too (so the caller can name the process); the archived
		// search, bounded, reads one-off tasks only (archivedScopes), the only ones the tools
		// act on: a task of an archived process is archived with its process.
		return itemOf(find[Task, taskWire](ctx, c, kind, c.GetTask, tasksPath, id))
	case KindRun:
		return itemOf(find[Run, runWire](ctx, c, kind, c.GetRun, runsPath, id))
	case KindTemplate:
		return itemOf(find[Template, templateWire](ctx, c, kind, c.GetTemplate, templatesPath, id))
	}
	return nil, unknownKind(kind)
}

// Lookup returns the current state of a task, run or template, archived or not (Find).
func (c *Client) Lookup(ctx context.Context, kind Kind, id string) (Entity, error) {
	it, err := c.Find(ctx, kind, id)
	if err != nil {
		return Entity{}, err
	}
	e := it.Entity()
	if !e.ArchivedKnown { // Find settles it; a guard, as callers decide on it
		err = fmt.Errorf("tallyfy: Tallyfy did not say whether %s %s is archived; check it in Tallyfy", kind, truncate(id, 80))
	}
	return e, err
}

// List reads one page of a kind's list (ListTasks, ListRuns, ListTemplates).
func (c *Client) List(ctx context.Context, kind Kind, opts ListOptions) (*Page[Item], error) {
	switch kind {
	case KindTask:
		return pageOf(c.ListTasks(ctx, opts))
	case KindRun:
		return pageOf(c.ListRuns(ctx, opts))
	case KindTemplate:
		return pageOf(c.ListTemplates(ctx, opts))
	}
	return nil, unknownKind(kind)
}

// Settle settles the archived state of listed items that did not say it (an archived=include
// listing of tasks or templates: docs/tallyfy-api.md §7) from the kind's archived listing,
// within the archived search's bounds (settleListed).
func (c *Client) Settle(ctx context.Context, kind Kind, items []Item) (ArchivedNote, error) {
	switch kind {
	case KindTask:
		return settleListed[Task, taskWire](ctx, c, tasksPath, items)
	case KindRun:
		return settleListed[Run, runWire](ctx, c, runsPath, items)
	case KindTemplate:
		return settleListed[Template, templateWire](ctx, c, templatesPath, items)
	}
	return ArchivedNote{}, unknownKind(kind)
}

// Archive archives an item (ArchiveTask, ArchiveRun, ArchiveTemplate).
func (c *Client) Archive(ctx context.Context, kind Kind, id string) (Change, error) {
	switch kind {
	case KindTask:
		return Change{}, c.ArchiveTask(ctx, id) // 204: nothing named
	case KindRun:
		return changeOf(c.ArchiveRun(ctx, id))
	case KindTemplate:
		d, err := c.ArchiveTemplate(ctx, id) // its answer is not the template
		if err != nil {
			return Change{}, err
		}
		return Change{Detached: d.References()}, nil
	}
	return Change{}, unknownKind(kind)
}

// Restore restores an archived item (RestoreTask, ActivateRun, RestoreTemplate).
func (c *Client) Restore(ctx context.Context, kind Kind, id string) (Change, error) {
	switch kind {
	case KindTask:
		return changeOf(c.RestoreTask(ctx, id))
	case KindRun:
		return changeOf(c.ActivateRun(ctx, id))
	case KindTemplate:
		return changeOf(c.RestoreTemplate(ctx, id))
	}
	return Change{}, unknownKind(kind)
}

// Delete permanently deletes an item (DeleteTask, DeleteRun, DeleteTemplate). It is never
// retried once the request may have reached Tallyfy.
func (c *Client) Delete(ctx context.Context, kind Kind, id string) error {
	switch kind {
	case KindTask:
		return c.DeleteTask(ctx, id)
	case KindRun:
		return c.DeleteRun(ctx, id)
	case KindTemplate:
		_, err := c.DeleteTemplate(ctx, id)
		return err
	}
	return unknownKind(kind)
}

// itemOf is a found item as an Item (never a typed nil).
func itemOf[T any, PT interface {
	*T
	Item
}](v *T, err error) (Item, error) {
	if err != nil || v == nil {
		return nil, err
	}
	return PT(v), nil
}

// pageOf is a page of one kind as a page of Items.
func pageOf[T any, PT interface {
	*T
	Item
}](p *Page[T], err error) (*Page[Item], error) {
	if err != nil {
		return nil, err
	}
	out := &Page[Item]{Items: make([]Item, len(p.Items)), Pagination: p.Pagination, Offset: p.Offset, PageSize: p.PageSize, memoized: p.memoized}
	for i := range p.Items {
		out.Items[i] = PT(&p.Items[i])
	}
	return out, nil
}

// changeOf is the item an archive or restore answered with, if any: a 2xx answer whose body
// named the item.
func changeOf[T any, PT interface {
	*T
	Item
}](v *T, err error) (Change, error) {
	if v == nil {
		return Change{}, err
	}
	e := PT(v).Entity()
	return Change{Item: &e}, err
}
