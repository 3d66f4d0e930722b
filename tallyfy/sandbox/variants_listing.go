package sandbox

import (
	"fmt"
	"net/http"
)

// Listing variants (variants.go explains variants): how Tallyfy's lists page, filter archived
// runs and filter task statuses, where its published sources leave more than one answer open.

const (
	// VariantTotalPagesOtherSize computes total_pages with a page size of
	// otherTotalPagesSize whatever per_page asked for (the items still come per_page at a time).
	VariantTotalPagesOtherSize Variant = "total-pages-other-size"
	// VariantRunsIgnoreArchived ignores the archived parameter on GET /runs: the list holds
	// live runs unless status=archived asks for the archived ones.
	VariantRunsIgnoreArchived Variant = "runs-ignore-archived"
	// VariantTasksHideCompleted hides completed tasks from GET /tasks unless a status asks
	// for them (status=all, status=complete).
	VariantTasksHideCompleted Variant = "tasks-hide-completed"
	// VariantTasksFixedPageSize serves GET /tasks fixedTaskPageSize at a time whatever
	// per_page asked for, and says so in meta.pagination.per_page.
	VariantTasksFixedPageSize Variant = "tasks-fixed-page-size"
)

// otherTotalPagesSize is the page size total_pages is computed with under
// VariantTotalPagesOtherSize: Tallyfy's MCP server says the API's own total_pages "uses its
// internal default (often 100), not the per_page=20 we passed" (server/utils/pagination.py).
const otherTotalPagesSize = 100

// fixedTaskPageSize is the page size under VariantTasksFixedPageSize: Tallyfy's MCP server
// names "endpoints like guest tasks that ignore our per_page=20 and use a fixed 10".
const fixedTaskPageSize = 10

var listingVariants = []VariantInfo{
	{VariantTotalPagesOtherSize,
		fmt.Sprintf("meta.pagination.total_pages is computed with a page size of %d whatever per_page asked for; default: with per_page", otherTotalPagesSize),
		"Tallyfy's MCP server server/utils/pagination.py (it recomputes total_pages itself); docs/tallyfy-api.md §4, §7", false},
	{VariantRunsIgnoreArchived,
		"GET /runs ignores archived=only|true (live runs only) and takes status=archived; default: both select archived runs",
		"docs list-processes documents status=archived and no archived parameter; Tallyfy's MCP server says archived=only, NOT status=archived (docs/tallyfy-api.md §2.4)", false},
	{VariantTasksHideCompleted,
		"GET /tasks without a status hides completed tasks (status=all shows them); default: every status",
		"docs list-org-tasks lists status values without a default; Tallyfy's MCP server passes status=\"all\" by default (server/tools/task_management.py; docs/tallyfy-api.md §2.2)", false},
	{VariantTasksFixedPageSize,
		fmt.Sprintf("GET /tasks serves %d items a page whatever per_page asked for (meta.pagination.per_page says %d); default: per_page", fixedTaskPageSize, fixedTaskPageSize),
		"Tallyfy's MCP server server/utils/pagination.py: some lists ignore per_page and use a fixed 10 (docs/tallyfy-api.md §7)", false},
}

// listPage answers one page of a list of kind's items (parsePaging, pageOf), under the listing
// variants in force.
func (s *Sandbox) listPage(r *http.Request, kind string, items []any) response {
	p, bad := parsePaging(r.URL.Query())
	if bad != nil {
		return *bad
	}
	if s.has(VariantTotalPagesOtherSize) {
		p.totalPagesSize = otherTotalPagesSize
	}
	if kind == kindTask && s.has(VariantTasksFixedPageSize) { // GET /tasks, GET /runs/{id}/tasks
		p.perPage = fixedTaskPageSize
	}
	return pageOf(r, p, items)
}

// hidesCompletedTask reports whether a GET /tasks with this status parameter leaves out t
// under VariantTasksHideCompleted.
func (s *Sandbox) hidesCompletedTask(status string, t *task) bool {
	return status == "" && t.Status == taskCompleted && s.has(VariantTasksHideCompleted)
}
