package tools

import (
	"context"
	"fmt"
	"strings"

	"github.com/tallyfy-mcp/tallyfy-mcp/schemas"
	"github.com/tallyfy-mcp/tallyfy-mcp/tallyfy"
)

// resource is one kind of Tallyfy item as the verbs see it, without its types (kinds.go
// describes each kind, typed, and adapts it), so one handler serves a verb for every kind.
type resource struct {
	kind     tallyfy.Kind
	idArg    string // argument name: task_id, run_id, template_id
	noun     string // for messages: "one-off task", "process", "template"
	destroys string // what a permanent delete loses
	restore  string // the restore verb's word: restore, activate

	// find returns the item (live or archived) as the get tool's result and a one-line text.
	find func(ctx context.Context, c *tallyfy.Client, id string) (result any, text string, e tallyfy.Entity, err error)
	// list returns one page under f as the list tool's result and its text.
	list func(ctx context.Context, c *tallyfy.Client, f listFilter, page, perPage int) (result any, text string, es []tallyfy.Entity, err error)
	// entities is the same page as entities (list_filter.go: selectPage).
	entities func(ctx context.Context, c *tallyfy.Client, f listFilter, page, perPage int) ([]tallyfy.Entity, schemas.PageInfo, string, error)
	// doArchive, doRestore and doDelete send the request; the first two return what Tallyfy's
	// answer said (lifecycle.go).
	doArchive func(ctx context.Context, c *tallyfy.Client, id string) (answer, error)
	doRestore func(ctx context.Context, c *tallyfy.Client, id string) (answer, error)
	doDelete  func(ctx context.Context, c *tallyfy.Client, id string) error
}

var resources = map[tallyfy.Kind]*resource{
	tallyfy.KindTask:     taskKind.adapt(),
	tallyfy.KindRun:      runKind.adapt(),
	tallyfy.KindTemplate: templateKind.adapt(),
}

// pageInfo is a Tallyfy page's paging as the list tools show it: has_more and total_pages
// decided from total and the items seen (tallyfy.Page.HasMore says why not total_pages).
func pageInfo[T any](p *tallyfy.Page[T]) schemas.PageInfo {
	return schemas.PageInfo{Page: max(p.Pagination.CurrentPage, 1), PerPage: p.PageSize, Total: p.Pagination.Total, TotalPages: p.TotalPages(), HasMore: p.HasMore()}
}

// listText renders a page: a header, one line per item, and how to get more.
func listText(plural string, p schemas.PageInfo, lines []string, opts listFilter) string {
	var b strings.Builder
	if len(lines) == 0 && p.FilteredOut > 0 {
		fmt.Fprintf(&b, "No %s of page %d of %d pass updated_before/updated_after.", plural, p.Page, max(p.TotalPages, 1))
		return b.String()
	}
	if len(lines) == 0 && p.Page > 1 && p.Total > 0 {
		fmt.Fprintf(&b, "Page %d is past the end: there are %d %s on %d page(s) of %d. Call again with a page from 1 to %d.",
			p.Page, p.Total, plural, max(p.TotalPages, 1), p.PerPage, max(p.TotalPages, 1))
		return b.String()
	}
	if len(lines) == 0 {
		fmt.Fprintf(&b, "No %s found", plural)
		if opts.Query != "" {
			fmt.Fprintf(&b, " matching %q", opts.Query)
		}
		if opts.Status != "" || opts.TemplateID != "" || opts.bounded() {
			b.WriteString(" with these filters")
		}
		if opts.Archived == "" || opts.Archived == tallyfy.ArchivedExclude {
			b.WriteString(" (archived ones are hidden: set archived to include)")
		}
		b.WriteString(".")
		return b.String()
	}
	fmt.Fprintf(&b, "%d of %d %s (page %d of %d):", len(lines), p.Total, plural, p.Page, max(p.TotalPages, 1))
	for _, l := range lines {
		b.WriteString("\n- " + l)
	}
	if p.HasMore {
		fmt.Fprintf(&b, "\nMore: call again with page=%d.", p.Page+1)
	}
	return b.String()
}

// archivedView is an item's archived state for a result: null when Tallyfy did not say. Only
// an item of an archived=include listing can be unknown (template and task list items may
// carry no archived_at: docs/tallyfy-api.md §7); the get, lifecycle and delete paths go through
// the client's Find and Lookup, which settle it from the archived listing, so no decision
// to archive, restore or delete ever rests on a listing's unknown.
func archivedView(e tallyfy.Entity) *bool {
	if !e.ArchivedKnown {
		return nil
	}
	v := e.Archived
	return &v
}

// unsettledNote says, under an archived=include page, how many items' archived state neither
// the listing nor a bounded search of the archived listing settled ("" when all are labelled).
func unsettledNote(plural string, n tallyfy.ArchivedNote) string {
	if n.Unknown == 0 {
		return ""
	}
	of := ""
	if n.Total > 0 {
		of = fmt.Sprintf(" of %d", n.Total)
	}
	return fmt.Sprintf("\n%d of these %s did not say whether they are archived and are not among the %s %d %s%s (searched in %d requests): get one to know.",
		n.Unknown, plural, n.Order, n.Searched, n.Scope, of, n.Requests)
}

// archivedWord is archivedView in a line of text.
func archivedWord(archived *bool) string {
	if archived == nil {
		return "archived or live (Tallyfy did not say; get it to know)"
	}
	return stateWord(*archived)
}

func stateWord(archived bool) string {
	if archived {
		return "archived"
	}
	return "live"
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}
