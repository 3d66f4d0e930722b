package tallyfy

import (
	"context"
	"net/http"
)

// The typed per-endpoint calls the tests read fields of. Each is one kind's route (kinds.go),
// reached as the kind-generic operations reach it.

func (c *Client) GetTask(ctx context.Context, id string) (*Task, error) { return tasks.get(ctx, c, id) }
func (c *Client) GetRun(ctx context.Context, id string) (*Run, error)   { return runs.get(ctx, c, id) }
func (c *Client) GetTemplate(ctx context.Context, id string) (*Template, error) {
	return templates.get(ctx, c, id)
}

func (c *Client) ListTasks(ctx context.Context, opts ListOptions) (*Page[Task], error) {
	return tasks.page(ctx, c, opts)
}
func (c *Client) ListRuns(ctx context.Context, opts ListOptions) (*Page[Run], error) {
	return runs.page(ctx, c, opts)
}
func (c *Client) ListTemplates(ctx context.Context, opts ListOptions) (*Page[Template], error) {
	return templates.page(ctx, c, opts)
}

func (c *Client) ArchiveTask(ctx context.Context, id string) error {
	_, err := c.Archive(ctx, KindTask, id)
	return err
}
func (c *Client) ArchiveRun(ctx context.Context, id string) (*Run, error) {
	return runs.change(ctx, c, http.MethodDelete, id, "")
}
func (c *Client) ArchiveTemplate(ctx context.Context, id string) (*TemplateDeletion, error) {
	return templates.deletionOf(ctx, c, id, "", retrySafe)
}

func (c *Client) RestoreTask(ctx context.Context, id string) (*Task, error) {
	return tasks.change(ctx, c, http.MethodPut, id, tasks.restoreSuffix)
}
func (c *Client) ActivateRun(ctx context.Context, id string) (*Run, error) {
	return runs.change(ctx, c, http.MethodPut, id, runs.restoreSuffix)
}
func (c *Client) RestoreTemplate(ctx context.Context, id string) (*Template, error) {
	return templates.change(ctx, c, http.MethodPut, id, templates.restoreSuffix)
}

func (c *Client) DeleteTask(ctx context.Context, id string) error { return c.Delete(ctx, KindTask, id) }
func (c *Client) DeleteRun(ctx context.Context, id string) error  { return c.Delete(ctx, KindRun, id) }
func (c *Client) DeleteTemplate(ctx context.Context, id string) (*TemplateDeletion, error) {
	return templates.deletionOf(ctx, c, id, "delete", retryUnsent)
}
