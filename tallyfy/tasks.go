package tallyfy

import (
	"context"
	"errors"
	"net/http"
	"net/url"
)

// One-off tasks: docs/tallyfy-api.md §1.1–1.3, §2.1–2.2.

const tasksPath = "tasks"

// TaskStatusAll is the status sent on task lists when none is chosen. No source says what
// Tallyfy's task lists hide without a status, but Tallyfy's MCP server passes status="all" by
// default on its task lists (server/tools/task_management.py, values "all", "active",
// "completed"), which a default showing everything would not need: so completed tasks may be
// hidden by default (docs/tallyfy-api.md §2.2). Sending it keeps them in view.
const TaskStatusAll = "all"

// oneOffOnly restricts task lists to one-off tasks (docs list-org-tasks: is_oneoff=true).
var oneOffOnly = url.Values{"is_oneoff": {"true"}}

// GetTask fetches one task (GET /tasks/{id}).
func (c *Client) GetTask(ctx context.Context, id string) (*Task, error) {
	return getOne[Task, taskWire](ctx, c, KindTask, tasksPath, id)
}

// ListTasks lists one-off tasks (GET /tasks?is_oneoff=true), completed ones too unless
// opts.Status says otherwise (TaskStatusAll). Every item is one-off, whatever its run_id:
// Tallyfy's MCP server says every standalone task lives in a process container of its own.
func (c *Client) ListTasks(ctx context.Context, opts ListOptions) (*Page[Task], error) {
	if opts.Status != "" {
		return list[Task, taskWire](ctx, c, tasksPath, opts, oneOffOnly)
	}
	opts.Status = TaskStatusAll
	p, err := list[Task, taskWire](ctx, c, tasksPath, opts, oneOffOnly)
	if rejectsStatusAll(err) {
		// This Tallyfy does not take status=all on /tasks (the docs do not list it there):
		// its default is then all there is.
		opts.Status = ""
		return list[Task, taskWire](ctx, c, tasksPath, opts, oneOffOnly)
	}
	return p, err
}

// rejectsStatusAll reports a 422 or 400 that names the status parameter.
func rejectsStatusAll(err error) bool {
	var ae *APIError
	if !errors.As(err, &ae) || (ae.Status != http.StatusUnprocessableEntity && ae.Status != http.StatusBadRequest) {
		return false
	}
	_, named := ae.Fields["status"]
	return named
}

// ArchiveTask archives a one-off task (DELETE /tasks/{id}; 204).
func (c *Client) ArchiveTask(ctx context.Context, id string) error {
	_, _, err := c.mutate(ctx, KindTask, http.MethodDelete, tasksPath, id, "", retrySafe)
	return err
}

// RestoreTask restores an archived one-off task (PUT /tasks/{id}/restore). The task is nil
// when Tallyfy answers without a body.
func (c *Client) RestoreTask(ctx context.Context, id string) (*Task, error) {
	return mutateItem[Task, taskWire](ctx, c, KindTask, http.MethodPut, tasksPath, id, "restore")
}

// DeleteTask permanently deletes a one-off task (DELETE /tasks/{id}/delete; 204). It is never
// retried once the request may have reached Tallyfy.
func (c *Client) DeleteTask(ctx context.Context, id string) error {
	_, _, err := c.mutate(ctx, KindTask, http.MethodDelete, tasksPath, id, "delete", retryUnsent)
	return err
}
