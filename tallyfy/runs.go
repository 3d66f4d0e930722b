package tallyfy

import (
	"context"
	"net/http"
	"net/url"
)

// Processes (runs): docs/tallyfy-api.md §1.4–1.6, §2.3–2.4.

const runsPath = "runs"

// GetRun fetches one run (GET /runs/{id}); archived runs are returned with archived_at set.
func (c *Client) GetRun(ctx context.Context, id string) (*Run, error) {
	return getOne[Run, runWire](ctx, c, KindRun, runsPath, id)
}

// ListRuns lists runs (GET /runs).
func (c *Client) ListRuns(ctx context.Context, opts ListOptions) (*Page[Run], error) {
	return list[Run, runWire](ctx, c, runsPath, opts, nil)
}

// ArchiveRun archives a run (DELETE /runs/{id}; 200 {data: run}). The run is nil when
// Tallyfy answers without a body.
func (c *Client) ArchiveRun(ctx context.Context, id string) (*Run, error) {
	return mutateItem[Run, runWire](ctx, c, KindRun, http.MethodDelete, runsPath, id, "")
}

// ActivateRun restores an archived run (PUT /runs/{id}/activate; 200 {data: run}).
func (c *Client) ActivateRun(ctx context.Context, id string) (*Run, error) {
	return mutateItem[Run, runWire](ctx, c, KindRun, http.MethodPut, runsPath, id, "activate")
}

// DeleteRun permanently deletes an archived run (DELETE /runs/{id}/delete; 200, empty body).
// Admin only; 422 while the run is live.
func (c *Client) DeleteRun(ctx context.Context, id string) error {
	_, _, err := c.mutate(ctx, KindRun, http.MethodDelete, runsPath, id, "delete", retryUnsent)
	return err
}

// ProcessTasksPerPage is the one page of a process's tasks ProcessTasks reads: the largest
// Tallyfy serves (docs/tallyfy-api.md §4). What it holds past that is known only by the total.
const ProcessTasksPerPage = maxPerPage

// ProcessTasks reads the first page (up to ProcessTasksPerPage) of the tasks a process holds,
// with Tallyfy's total (GET /runs/{id}/tasks, docs/tallyfy-api.md §2.8). It is one bounded read,
// for showing a person what archive_run or delete_run would act on; it never pages on.
// Completed tasks are asked for too (status=all, as ListTasks does); allStatuses is false when
// this Tallyfy refused that value and the page was asked again without it, so that its default
// may have left completed tasks out. The items' archived state is not inferred from the listing
// (the endpoint documents no archived parameter): only titles and the count are meant to be used.
func (c *Client) ProcessTasks(ctx context.Context, runID string) (p *Page[Task], allStatuses bool, err error) {
	if !ValidID(runID) {
		return nil, false, &InvalidIDError{Kind: KindRun, ID: runID}
	}
	collection := runsPath + "/" + runID + "/" + tasksPath
	allStatuses = true
	p, err = listPage[Task, taskWire](ctx, c, collection, url.Values{"status": {TaskStatusAll}}, 1, ProcessTasksPerPage, false)
	if rejectsStatusAll(err) {
		allStatuses = false
		p, err = listPage[Task, taskWire](ctx, c, collection, url.Values{}, 1, ProcessTasksPerPage, false)
	}
	if err != nil {
		return nil, false, err
	}
	var issues []ShapeIssue
	for i := range p.Items {
		issues = append(issues, p.Items[i].shapeIssues()...)
	}
	c.reportShapes(ctx, prefixed(collectionItem(tasksPath)+"[].", issues))
	return p, allStatuses, nil
}
