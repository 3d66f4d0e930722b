package tallyfy

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
)

// TaskStatusAll is the status sent on task lists when none is chosen. No source says what
// Tallyfy's task lists hide without a status, but Tallyfy's MCP server passes status="all" by
// default on its task lists (server/tools/task_management.py, values "all", "active",
// "completed"), which a default showing everything would not need: so completed tasks may be
// hidden by default (docs/tallyfy-api.md §2.2). Sending it keeps them in view.
const TaskStatusAll = "all"

// oneOffOnly restricts task lists to one-off tasks (docs list-org-tasks: is_oneoff=true). Every
// item is one-off, whatever its run_id: Tallyfy's MCP server says every standalone task lives
// in a process container of its own.
var oneOffOnly = url.Values{"is_oneoff": {"true"}}

// page reads one page of the kind's list, with status=all where the route asks for it.
func (k kindAPI[T, W, PW]) page(ctx context.Context, c *Client, opts ListOptions) (*Page[T], error) {
	if !k.statusAll || opts.Status != "" {
		return k.query(ctx, c, opts, k.listExtra)
	}
	opts.Status = TaskStatusAll
	p, err := k.query(ctx, c, opts, k.listExtra)
	if rejectsStatusAll(err) {
		// This Tallyfy does not take status=all on /tasks (the docs do not list it there):
		// its default is then all there is.
		opts.Status = ""
		return k.query(ctx, c, opts, k.listExtra)
	}
	return p, err
}

// rejectsStatusAll reports a 422 or 400 that names the status parameter.
func rejectsStatusAll(err error) bool {
	ae, ok := errors.AsType[*APIError](err)
	if !ok || (ae.Status != http.StatusUnprocessableEntity && ae.Status != http.StatusBadRequest) {
		return false
	}
	_, named := ae.Fields["status"]
	return named
}

// query fetches one page of the kind's list with opts and extra into a Page.
func (k kindAPI[T, W, PW]) query(ctx context.Context, c *Client, opts ListOptions, extra url.Values) (*Page[T], error) {
	q := url.Values{}
	maps.Copy(q, extra)
	for key, v := range map[string]string{"q": strings.TrimSpace(opts.Query), "status": opts.Status, "sort": opts.Sort} {
		if v != "" {
			q.Set(key, v)
		}
	}
	if opts.ChecklistID != "" {
		if !ValidID(opts.ChecklistID) {
			return nil, &InvalidIDError{Kind: KindTemplate, ID: opts.ChecklistID}
		}
		q.Set("checklist_id", opts.ChecklistID)
	}
	switch opts.Archived {
	case "", ArchivedExclude:
	case ArchivedInclude:
		q.Set("archived", "true")
	case ArchivedOnly:
		q.Set("archived", "only")
	default:
		return nil, fmt.Errorf("tallyfy: archived must be exclude, include or only, not %q", opts.Archived)
	}
	page := max(opts.Page, 1)
	perPage := min(opts.PerPage, maxPerPage)
	p, err := k.listPage(ctx, c, k.collection, q, page, perPage, opts.Page > 0)
	if err != nil {
		return nil, err
	}
	// What the listing itself says about each item's archived state, where the item does not
	// say it itself: an item's own archived_at (or a run's status) always wins, since a list
	// may ignore its archived parameter (docs/tallyfy-api.md §2.4: the docs document
	// status=archived for runs, Tallyfy's MCP archived=only). Template and task list items may
	// carry no archived_at (§7), so an archived=only listing is the only word on them. An
	// exclude listing holds live items only. An include listing cannot tell: items it returns
	// without archived_at stay unknown, and the lifecycle and delete paths never decide from a
	// listing but from Lookup.
	oneOffListing := q.Get("is_oneoff") == "true"
	for i := range p.Items {
		it := any(&p.Items[i]).(Item)
		if t, ok := it.(*Task); ok && oneOffListing {
			t.listedOneOff = true // Task.OneOff
		}
		if !it.archivedState().known() {
			switch opts.Archived {
			case ArchivedOnly:
				it.setArchived(archivedYes)
			case "", ArchivedExclude:
				it.setArchived(archivedNo)
			}
		}
	}
	reportItems(ctx, c, string(k.kind)+"s[].", p.Items)
	return p, nil
}

// maxPerPage is the largest page Tallyfy serves (docs/tallyfy-api.md §4), and minSplitPerPage
// the smallest a page over the body cap is split down to before the call fails.
const (
	maxPerPage      = 100
	minSplitPerPage = 25
)

// listPage GETs page `page` of perPage items (0: Tallyfy's default). An answer over the body
// cap (Config.MaxBodyBytes) is asked again as the two pages of half the size that cover the
// same items, down to minSplitPerPage, so that a page of large items does not fail the call;
// the result is still the page asked for.
// page is sent when sendPage or above 1 (an absent page is the first).
func (k kindAPI[T, W, PW]) listPage(ctx context.Context, c *Client, collection string, q url.Values, page, perPage int, sendPage bool) (*Page[T], error) {
	p := c.path(collection, "", "")
	pq := url.Values{}
	maps.Copy(pq, q)
	if sendPage || page > 1 {
		pq.Set("page", strconv.Itoa(page))
	}
	if perPage > 0 {
		pq.Set("per_page", strconv.Itoa(perPage))
	}
	r, memoized, err := c.getListing(ctx, p, pq)
	if re, ok := errors.AsType[*ResponseError](err); ok && re.TooLarge && perPage >= 2*minSplitPerPage && perPage%2 == 0 {
		half := perPage / 2
		first, ferr := k.listPage(ctx, c, collection, q, 2*page-1, half, sendPage)
		if ferr != nil {
			return nil, ferr
		}
		out := &Page[T]{Items: first.Items, Pagination: first.Pagination, PageSize: perPage, Offset: (page - 1) * perPage}
		if first.HasMore() && len(first.Items) == half {
			second, serr := k.listPage(ctx, c, collection, q, 2*page, half, true)
			if serr != nil {
				return nil, serr
			}
			out.Items = append(out.Items, second.Items...)
			out.Pagination.Total = second.Pagination.Total
		}
		out.Pagination.CurrentPage, out.Pagination.PerPage, out.Pagination.Count = page, perPage, len(out.Items)
		return out, nil
	}
	if err != nil {
		return nil, err
	}
	out, err := decodePage[T, W, PW](r, p, page, perPage)
	if err != nil {
		return nil, err
	}
	out.memoized = memoized
	return out, nil
}

// Listing memo. A bulk plan looks up to 100 IDs, and each that Tallyfy's GET does not settle
// (every archived template, and archived tasks) searches the same archived listing: with a
// memo in the context (WithListingMemo) each page of an archived listing is asked once per plan
// and shared by every look-up, concurrent ones included, instead of once per item. Only
// archived=only pages are kept, and only for the context's life: the plan's execution reads
// every item again without it.

type listingMemoKey struct{}

// memoPage is one page of the memo, a sync.Map keyed by path and query: done is closed once r
// or err is set.
type memoPage struct {
	done chan struct{}
	r    *response
	err  error
}

// WithListingMemo returns a context in which archived listing pages are asked of Tallyfy once.
func WithListingMemo(ctx context.Context) context.Context {
	return context.WithValue(ctx, listingMemoKey{}, new(sync.Map))
}

// getListing GETs one list page, through the context's memo for archived=only pages. memoized
// is true when another look-up sent the request.
func (c *Client) getListing(ctx context.Context, p string, q url.Values) (r *response, memoized bool, err error) {
	m, _ := ctx.Value(listingMemoKey{}).(*sync.Map)
	if m == nil || q.Get("archived") != "only" {
		r, err = c.do(ctx, http.MethodGet, p, q, retrySafe)
		return r, false, err
	}
	key := p + "?" + q.Encode()
	v, seen := m.LoadOrStore(key, &memoPage{done: make(chan struct{})})
	e := v.(*memoPage)
	if seen {
		select {
		case <-e.done:
			return e.r, true, e.err
		case <-ctx.Done():
			return nil, false, ctx.Err()
		}
	}
	e.r, e.err = c.do(ctx, http.MethodGet, p, q, retrySafe)
	if e.err != nil { // a failure is not kept: the next look-up asks again
		m.Delete(key)
	}
	close(e.done)
	return e.r, false, e.err
}

// defaultPerPage is the page size of Tallyfy's lists when none is asked for (docs/tallyfy-api.md §4).
const defaultPerPage = 10

// decodePage reads a list answer, {"data": [...], "meta": {"pagination": {...}}}, into page
// `page` asked with perPage. An answer without pagination is one page holding all its items.
// Else the page was cut with the size asked for (Tallyfy's default 10 when none was), unless
// the answer says it used a smaller one (some lists use a fixed page size: Tallyfy's MCP
// server, server/utils/pagination.py).
func decodePage[T, W any, PW wire[T, W]](r *response, p string, page, perPage int) (*Page[T], error) {
	var env struct {
		Data *[]W `json:"data"`
		Meta struct {
			Pagination *Pagination `json:"pagination"`
		} `json:"meta"`
	}
	if err := json.Unmarshal(r.Body, &env); err != nil {
		if reason, ok := notAnObject(err); ok {
			return nil, r.unusable(http.MethodGet, p, reason)
		}
		return nil, r.unusable(http.MethodGet, p, describeJSONError(r, err))
	}
	if env.Data == nil {
		// Not a list at all (e.g. {"message": …} or null): never read it as an empty one.
		return nil, r.unusable(http.MethodGet, p, "no data envelope")
	}
	n := len(*env.Data)
	out := &Page[T]{Items: make([]T, n), Pagination: Pagination{Total: n, Count: n, PerPage: n, CurrentPage: 1, TotalPages: 1}}
	for i := range *env.Data {
		v, err := PW(&(*env.Data)[i]).decode()
		if err != nil {
			return nil, r.unusable(http.MethodGet, p, err.Error())
		}
		out.Items[i] = v
	}
	out.PageSize = max(n, 1)
	if said := env.Meta.Pagination; said != nil {
		out.Pagination, out.PageSize = *said, perPage
		if perPage <= 0 {
			out.PageSize = defaultPerPage
		}
		if said.PerPage > 0 && said.PerPage < out.PageSize {
			out.PageSize = said.PerPage
		}
		out.Offset = (max(page, 1) - 1) * out.PageSize
	}
	return out, nil
}

// ProcessTasksPerPage is the one page of a process's tasks ProcessTasks reads: the largest
// Tallyfy serves (docs/tallyfy-api.md §4). What it holds past that is known only by the total.
const ProcessTasksPerPage = maxPerPage

// ProcessTasks reads the first page (up to ProcessTasksPerPage) of the tasks a process holds,
// with Tallyfy's total (GET /runs/{id}/tasks, docs/tallyfy-api.md §2.8). It is one bounded read,
// for showing a person what archive_run or delete_run would act on; it never pages on.
// Completed tasks are asked for too (status=all, as a task list does); allStatuses is false when
// this Tallyfy refused that value and the page was asked again without it, so that its default
// may have left completed tasks out. The items' archived state is not inferred from the listing
// (the endpoint documents no archived parameter): only titles and the count are meant to be used.
func (c *Client) ProcessTasks(ctx context.Context, runID string) (p *Page[Task], allStatuses bool, err error) {
	if !ValidID(runID) {
		return nil, false, &InvalidIDError{Kind: KindRun, ID: runID}
	}
	collection := runs.collection + "/" + runID + "/" + tasks.collection
	allStatuses = true
	p, err = tasks.listPage(ctx, c, collection, url.Values{"status": {TaskStatusAll}}, 1, ProcessTasksPerPage, false)
	if rejectsStatusAll(err) {
		allStatuses = false
		p, err = tasks.listPage(ctx, c, collection, url.Values{}, 1, ProcessTasksPerPage, false)
	}
	if err != nil {
		return nil, false, err
	}
	reportItems(ctx, c, "tasks[].", p.Items)
	return p, allStatuses, nil
}
