package tallyfy

import (
	"context"
	"net/http"
	"net/url"
)

// One-off tasks: tallyfy-api.md §1.1–1.3, §2.1–2.2.

const tasksPath = "tasks"

// oneOffOnly restricts task lists to one-off tasks (tasks with no process).
var oneOffOnly = url.Values{"is_oneoff": {"true"}}

// GetTask fetches one task (GET /tasks/{id}).
func (c *Client) GetTask(ctx context.Context, id string) (*Task, error) {
	var t Task
	if err := c.get(ctx, KindTask, tasksPath, id, &t); err != nil {
		return nil, err
	}
	return &t, nil
}

// ListTasks lists one-off tasks (GET /tasks?is_oneoff=true).
func (c *Client) ListTasks(ctx context.Context, opts ListOptions) (*Page[Task], error) {
	return list[Task](ctx, c, tasksPath, opts, oneOffOnly)
}

// ArchiveTask archives a one-off task (DELETE /tasks/{id}; 204).
func (c *Client) ArchiveTask(ctx context.Context, id string) error {
	_, _, err := c.mutate(ctx, KindTask, http.MethodDelete, tasksPath, id, "", retrySafe)
	return err
}

// RestoreTask restores an archived one-off task (PUT /tasks/{id}/restore). The task is nil
// when Tallyfy answers without a body.
func (c *Client) RestoreTask(ctx context.Context, id string) (*Task, error) {
	r, p, err := c.mutate(ctx, KindTask, http.MethodPut, tasksPath, id, "restore", retrySafe)
	if err != nil {
		return nil, err
	}
	return optionalData[Task](ctx, c, KindTask, http.MethodPut, p, r)
}

// DeleteTask permanently deletes a one-off task (DELETE /tasks/{id}/delete; 204). It is never
// retried once the request may have reached Tallyfy.
func (c *Client) DeleteTask(ctx context.Context, id string) error {
	_, _, err := c.mutate(ctx, KindTask, http.MethodDelete, tasksPath, id, "delete", retryUnsent)
	return err
}

// FindTask returns the task whether live or archived: a 404 from GET is checked
// against the archived listing before it is reported.
func (c *Client) FindTask(ctx context.Context, id string) (*Task, error) {
	// No is_oneoff filter here: a task of an archived process must be found too, so that the
	// caller can name its process instead of calling it missing.
	return find(ctx, c, c.GetTask, tasksPath, nil, id, func(v *Task) string { return v.ID })
}
