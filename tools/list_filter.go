package tools

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/mark3labs/mcp-go/mcp"

	"github.com/tallyfy-mcp/tallyfy-mcp/schemas"
	"github.com/tallyfy-mcp/tallyfy-mcp/tallyfy"
)

// Selecting items: what the list tools filter on, and what bulk selection reuses.
//
// query, archived, status and template_id are Tallyfy's own parameters (docs/tallyfy-api.md
// §2.2, §2.4, §2.6). Tallyfy documents no parameter for the last update (not in the docs'
// list pages, the connector swagger or the CLI), so updated_before and updated_after are
// applied here, to each page Tallyfy returns. The page keeps Tallyfy's paging: page, total
// and has_more are Tallyfy's, and page_info.filtered_out says how many of the page's items
// the bounds left out. A page can therefore be short or empty while has_more is true; the
// list text says to go on paging. (list_tasks with a query pages its own merged matches,
// task_search.go: there the bounds apply before paging and total counts matches only.)

// listFilter is one selection of items of a kind.
type listFilter struct {
	Query      string
	Archived   tallyfy.Archived
	Status     string // runs only: Tallyfy's status parameter
	TemplateID string // runs only: sent as checklist_id
	// UpdatedBefore (exclusive) and UpdatedAfter (inclusive) bound last_updated; zero means
	// no bound. An item without a readable last_updated is left out when a bound is set.
	UpdatedBefore, UpdatedAfter time.Time
}

// runStatuses are the values of the runs list's status parameter (docs/tallyfy-api.md §2.4),
// less archived: Tallyfy's own MCP server asks for archived runs with archived=, not
// status=archived.
var runStatuses = []string{"active", "complete", "problem", "issue", "improvement", "delayed", "starred"}

// parseListFilter checks the list arguments; status and templateID are list_runs' own ("" for
// the other kinds). A bad argument gives the result that says which and why.
func parseListFilter(args schemas.ListArgs, status, templateID string) (listFilter, *mcp.CallToolResult) {
	f := listFilter{Query: args.Query, Archived: tallyfy.Archived(args.Archived), Status: status, TemplateID: templateID}
	switch f.Archived {
	case "", tallyfy.ArchivedExclude, tallyfy.ArchivedInclude, tallyfy.ArchivedOnly:
	default:
		return f, invalidArgument("archived", "must be exclude, include or only")
	}
	if status != "" {
		if status == "archived" {
			return f, invalidArgument("status", "archived processes are listed with archived=only (or include), not status=archived")
		}
		if !slices.Contains(runStatuses, status) {
			return f, invalidArgument("status", "must be one of "+strings.Join(runStatuses, ", "))
		}
	}
	if templateID != "" && !tallyfy.ValidID(templateID) {
		return f, invalidArgument("template_id", fmt.Sprintf("must be a Tallyfy ID of 32 lowercase hex characters, got %q. Find the ID with list_templates.", clip(templateID, 80)))
	}
	var bad *mcp.CallToolResult
	if f.UpdatedBefore, bad = parseBound("updated_before", args.UpdatedBefore); bad != nil {
		return f, bad
	}
	if f.UpdatedAfter, bad = parseBound("updated_after", args.UpdatedAfter); bad != nil {
		return f, bad
	}
	if !f.UpdatedBefore.IsZero() && !f.UpdatedAfter.IsZero() && !f.UpdatedAfter.Before(f.UpdatedBefore) {
		return f, invalidArgument("updated_after", fmt.Sprintf("must be earlier than updated_before (%s is not before %s): nothing could match",
			args.UpdatedAfter, args.UpdatedBefore))
	}
	return f, nil
}

// parseBound reads an RFC 3339 time; a bare date (2026-06-01) is taken as midnight UTC.
func parseBound(name, v string) (time.Time, *mcp.CallToolResult) {
	v = strings.TrimSpace(v)
	if v == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse(time.RFC3339, v); err == nil {
		return t, nil
	}
	if t, err := time.Parse(time.DateOnly, v); err == nil {
		return t, nil
	}
	return time.Time{}, invalidArgument(name, fmt.Sprintf("must be an RFC 3339 date-time such as 2026-06-01T00:00:00Z (or a date such as 2026-06-01), got %q", clip(v, 60)))
}

// options are the Tallyfy list parameters of one page under f.
func (f listFilter) options(page, perPage int) tallyfy.ListOptions {
	return tallyfy.ListOptions{Query: f.Query, Archived: f.Archived, Status: f.Status, ChecklistID: f.TemplateID, Page: page, PerPage: perPage}
}

// bounded reports whether f has bounds the server applies itself.
func (f listFilter) bounded() bool { return !f.UpdatedBefore.IsZero() || !f.UpdatedAfter.IsZero() }

// keeps reports whether e passes f's last_updated bounds (Tallyfy applied the rest).
func (f listFilter) keeps(e tallyfy.Entity) bool {
	if !f.bounded() {
		return true
	}
	t, err := parseTallyfyTime(e.LastUpdated)
	if err != nil {
		return false // unknown: it cannot be shown to match
	}
	if !f.UpdatedBefore.IsZero() && !t.Before(f.UpdatedBefore) {
		return false
	}
	return f.UpdatedAfter.IsZero() || !t.Before(f.UpdatedAfter)
}

// parseTallyfyTime reads Tallyfy's timestamps ("2024-06-15T10:30:00.000Z", "2025-01-10T09:00:00Z";
// docs/tallyfy-api.md §0), and the "2006-01-02 15:04:05" form Laravel writes when it forgets
// the zone (taken as UTC).
func parseTallyfyTime(s string) (time.Time, error) {
	s = strings.TrimSpace(s)
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	return time.Parse(time.DateTime, s)
}

// keepUpdated returns the items f keeps and how many it left out.
func keepUpdated(f listFilter, items []tallyfy.Item) (kept []tallyfy.Item, out int) {
	if !f.bounded() {
		return items, 0
	}
	kept = make([]tallyfy.Item, 0, len(items))
	for _, it := range items {
		if f.keeps(it.Entity()) {
			kept = append(kept, it)
		}
	}
	return kept, len(items) - len(kept)
}

// fetch reads one page of k's items under f: Tallyfy's page with f's updated bounds applied,
// or for a kind that searches and a query, a page of the search's matches.
//
// cutShort, when set, says the search behind the page was cut short (task_search.go).
func (k *itemKind) fetch(ctx context.Context, c *tallyfy.Client, f listFilter, page, perPage int) (items []tallyfy.Item, info schemas.PageInfo, cutShort string, err error) {
	if k.searches && strings.TrimSpace(f.Query) != "" {
		return searchTaskPage(ctx, c, f, page, perPage)
	}
	p, err := c.List(ctx, k.Kind, f.options(page, perPage))
	if err != nil {
		return nil, schemas.PageInfo{}, "", err
	}
	items, out := keepUpdated(f, p.Items)
	info = pageInfo(p)
	info.FilteredOut = out
	return items, info, "", nil
}

// filteredNote tells the model about a page the bounds thinned, so an empty page with more
// behind it is not read as "none".
func filteredNote(info schemas.PageInfo) string {
	if info.FilteredOut == 0 {
		return ""
	}
	s := fmt.Sprintf("\n%d item(s) of this page left out by updated_before/updated_after (applied by this server to each Tallyfy page).", info.FilteredOut)
	if info.HasMore {
		s += fmt.Sprintf(" More pages may match: call again with page=%d.", info.Page+1)
	}
	return s
}
