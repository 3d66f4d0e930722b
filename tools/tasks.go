package tools

import (
	"context"
	"fmt"
	"strings"

	"github.com/tallyfy-mcp/tallyfy-mcp/schemas"
	"github.com/tallyfy-mcp/tallyfy-mcp/tallyfy"
)

var taskResource = resource{
	kind: tallyfy.KindTask, idArg: "task_id", noun: "one-off task", restore: "restore",
	destroys: "the task, its form fields and every value captured in them",
	find: func(ctx context.Context, c *tallyfy.Client, id string) (any, string, tallyfy.Entity, error) {
		t, err := c.FindTask(ctx, id)
		if err != nil {
			return nil, "", tallyfy.Entity{}, err
		}
		v := taskView(t)
		return schemas.GetTaskResult{Task: v}, taskLine(v), t.Entity(), nil
	},
	list: func(ctx context.Context, c *tallyfy.Client, opts tallyfy.ListOptions) (any, string, error) {
		if strings.TrimSpace(opts.Query) != "" {
			return listTasksByQuery(ctx, c, opts) // Tallyfy's q does not search one-off titles
		}
		p, err := c.ListTasks(ctx, opts)
		if err != nil {
			return nil, "", err
		}
		res := schemas.ListTasksResult{Tasks: make([]schemas.Task, 0, len(p.Items)), Page: pageInfo(p.Pagination)}
		lines := make([]string, 0, len(p.Items))
		for i := range p.Items {
			v := taskView(&p.Items[i])
			res.Tasks = append(res.Tasks, v)
			lines = append(lines, taskLine(v))
		}
		return res, listText("one-off tasks", res.Page, lines, opts), nil
	},
	doArchive: func(ctx context.Context, c *tallyfy.Client, id string) (*tallyfy.Entity, error) {
		return nil, c.ArchiveTask(ctx, id)
	},
	doRestore: func(ctx context.Context, c *tallyfy.Client, id string) (*tallyfy.Entity, error) {
		t, err := c.RestoreTask(ctx, id)
		return entityPtr(t, t != nil), err
	},
	doDelete: func(ctx context.Context, c *tallyfy.Client, id string) error { return c.DeleteTask(ctx, id) },
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
