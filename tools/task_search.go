package tools

import (
	"context"
	"fmt"
	"strings"
	"sync"

	"github.com/tallyfy-mcp/tallyfy-mcp/schemas"
	"github.com/tallyfy-mcp/tallyfy-mcp/tallyfy"
)

// Finding one-off tasks by title. Tallyfy's `q` on the task list searches process and step
// names (docs list-org-tasks; docs/tallyfy-api.md §2.2, §7), so a one-off task's title may
// not match it. list_tasks with a query therefore reads the titles of the one-off listing
// itself, up to titleSearchPages pages, and merges what `q` finds. The merged, deduplicated
// matches are then paged with the caller's page and per_page, so paging stays stable while
// the data does not change.

const (
	titleSearchPerPage = 100 // the API's largest page
	titleSearchPages   = 5   // at most 500 titles read per call
	titleSearchWorkers = 4   // pages read at once after the first
)

// taskSearch is every match of one query, before paging.
type taskSearch struct {
	matches []tallyfy.Item
	// incomplete is true when titles past the first titleSearchPages pages, or `q` matches
	// past its first page, were not read. Completed tasks are searched too (a task list sends
	// status=all: tallyfy.TaskStatusAll).
	incomplete bool
	scanned    int // one-off tasks whose titles were read
	listed     int // one-off tasks in the listing, as Tallyfy counts them
	nextPage   int // first unread page of the listing (at titleSearchPerPage), when incomplete
	qMore      bool
}

// searchTasks finds one-off tasks whose title contains query (case-insensitively) and those
// Tallyfy's own search returns, archived ones as opts.Archived says.
func searchTasks(ctx context.Context, c *tallyfy.Client, opts tallyfy.ListOptions) (*taskSearch, error) {
	query := strings.TrimSpace(opts.Query)
	needle := strings.ToLower(query)
	base := tallyfy.ListOptions{Archived: opts.Archived, PerPage: titleSearchPerPage}

	// Tallyfy's search and the first page of titles, at once.
	var qPage *tallyfy.Page[tallyfy.Item]
	var qErr error
	var wg sync.WaitGroup
	wg.Go(func() {
		o := base
		o.Query, o.Page = query, 1
		qPage, qErr = c.List(ctx, tallyfy.KindTask, o)
	})
	first := base
	first.Page = 1
	p1, err := c.List(ctx, tallyfy.KindTask, first)
	wg.Wait()
	if err != nil {
		return nil, err
	}
	if qErr != nil {
		return nil, qErr
	}

	// The pages still to read, at the page size the list really serves (a list may use a fixed
	// page size smaller than per_page), decided from total and the items seen, not total_pages
	// (tallyfy.Page.HasMore says why).
	pages := []*tallyfy.Page[tallyfy.Item]{p1}
	if p1.HasMore() {
		n := max(p1.Pagination.TotalPages-1, 0) // no total: total_pages is all there is
		if left := p1.Pagination.Total - len(p1.Items); p1.Pagination.Total > 0 {
			size := max(p1.PageSize, 1)
			n = (left + size - 1) / size
		}
		rest := make([]*tallyfy.Page[tallyfy.Item], min(n, titleSearchPages-1))
		errs := make([]error, len(rest))
		sem := make(chan struct{}, titleSearchWorkers)
		for i := range rest {
			wg.Go(func() {
				sem <- struct{}{}
				defer func() { <-sem }()
				o := base
				o.Page = i + 2
				rest[i], errs[i] = c.List(ctx, tallyfy.KindTask, o)
			})
		}
		wg.Wait()
		for i := range rest {
			if errs[i] != nil {
				return nil, errs[i]
			}
		}
		pages = append(pages, rest...)
	}

	s := &taskSearch{listed: p1.Pagination.Total}
	seen := map[string]bool{}
	ended := false
	for i, p := range pages {
		s.scanned += len(p.Items)
		for _, it := range p.Items {
			if t := it.(*tallyfy.Task); !seen[t.ID] && strings.Contains(strings.ToLower(t.Title), needle) {
				seen[t.ID] = true
				s.matches = append(s.matches, it)
			}
		}
		if p.Ends(s.scanned) { // an empty page, or every item counted
			ended = true
			break
		}
		s.nextPage = i + 2
	}
	if !ended {
		s.incomplete = true
	} else {
		s.nextPage = 0
	}
	for _, it := range qPage.Items {
		if id := it.(*tallyfy.Task).ID; !seen[id] {
			seen[id] = true
			s.matches = append(s.matches, it)
		}
	}
	if qPage.HasMore() {
		s.incomplete, s.qMore = true, true
	}
	s.listed = max(s.listed, s.scanned)
	return s, nil
}

// searchTaskPage is list_tasks with a query: one page (by page and perPage) of every match
// that f's updated bounds keep, and a note when the search was cut short.
func searchTaskPage(ctx context.Context, c *tallyfy.Client, f listFilter, page, perPage int) ([]tallyfy.Item, schemas.PageInfo, string, error) {
	opts := f.options(page, perPage)
	s, err := searchTasks(ctx, c, opts)
	if err != nil {
		return nil, schemas.PageInfo{}, "", err
	}
	matches, _ := keepUpdated(f, s.matches)
	page = max(page, 1)
	total := len(matches)
	totalPages := max((total+perPage-1)/perPage, 1)
	start := min((page-1)*perPage, total)
	end := min(start+perPage, total)
	info := schemas.PageInfo{Page: page, PerPage: perPage, Total: total, TotalPages: totalPages, HasMore: page < totalPages}
	cut := ""
	if s.incomplete {
		cut = s.cutShort(opts)
	}
	return matches[start:end], info, cut, nil
}

// cutShort tells the model what was not searched and how to go on.
func (s *taskSearch) cutShort(opts tallyfy.ListOptions) string {
	archived := ""
	if opts.Archived != "" && opts.Archived != tallyfy.ArchivedExclude {
		archived = fmt.Sprintf(", archived=%s", opts.Archived)
	}
	var parts []string
	if s.nextPage > 0 {
		parts = append(parts, fmt.Sprintf("titles were searched in the first %d of %d one-off tasks only; to search the rest, call list_tasks without query, per_page=100, page=%d and on%s, and look for the title yourself",
			s.scanned, s.listed, s.nextPage, archived))
	}
	if s.qMore {
		parts = append(parts, fmt.Sprintf("Tallyfy's own search found more than %d tasks; use a more specific query", titleSearchPerPage))
	}
	return "Search cut short (search_incomplete): " + strings.Join(parts, "; ") + "."
}
