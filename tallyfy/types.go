// Package tallyfy is a small typed client for the parts of the Tallyfy REST API that archive,
// restore and permanently delete one-off tasks, processes (runs) and templates (checklists),
// and look them up. It knows nothing of MCP.
package tallyfy

import (
	"bytes"
	"cmp"
	"encoding/json"
	"maps"
	"slices"
	"strconv"
)

// Kind names one of the three resource types this client manages.
type Kind string

// The kinds.
const (
	KindTask     Kind = "task"
	KindRun      Kind = "run"
	KindTemplate Kind = "template"
)

// Archived selects how list endpoints treat archived items.
type Archived string

// The ways to treat archived items: leave them out, list them too, or list only them.
const (
	ArchivedExclude Archived = "exclude"
	ArchivedInclude Archived = "include"
	ArchivedOnly    Archived = "only"
)

// ListOptions are the query parameters shared by the three list endpoints.
type ListOptions struct {
	Query    string
	Archived Archived
	Page     int
	PerPage  int
	// Status and ChecklistID are sent as status and checklist_id when set; the runs list
	// documents both (docs/tallyfy-api.md §2.4). A task list sends status=all when Status is
	// empty (TaskStatusAll).
	Status      string
	ChecklistID string
	// Sort is sent as sort when set (a value the list documents: docs/tallyfy-api.md §2.2, §2.4).
	Sort string
}

// The types below hold only the fields the tools use (docs/tallyfy-api.md §7: decode only what is
// used). Each decodes field by field (decode.go): an unknown or unused field is never read,
// a used field in a shape no source shows becomes unknown and is reported as a ShapeIssue,
// and only missing identity (id, name or title) fails the decode.

// Task is a Tallyfy task (docs/tallyfy-api.md §2.1).
type Task struct {
	ID    string
	Title string
	// RunID is the process the task sits in; nil when Tallyfy sent none (null or absent).
	RunID *string
	// IsOneoffTask is is_oneoff_task; OneoffKnown says whether Tallyfy sent it.
	IsOneoffTask bool
	OneoffKnown  bool
	Status       string
	Deadline     *string
	CreatedAt    string
	LastUpdated  string
	CompletedAt  *string
	ArchivedAt   *string

	itemState
	listedOneOff bool // returned by an is_oneoff=true listing
}

// Run is a Tallyfy process (docs/tallyfy-api.md §2.3).
type Run struct {
	ID             string
	Name           string
	ChecklistID    string
	ChecklistTitle string
	Status         string
	// Progress is the percent of tasks done; nil when unknown (docs/tallyfy-api.md §7: a number, a
	// numeric string or an object {complete, total, percent}; {} says nothing).
	Progress    *float64
	CreatedAt   string
	LastUpdated string
	CompletedAt *string
	ArchivedAt  *string

	itemState
}

// Template is a Tallyfy template, called a checklist in the API (docs/tallyfy-api.md §2.5).
type Template struct {
	ID      string
	Title   string
	Summary *string
	Status  string
	// StepsCount is nil when unknown: template list items carry it, a GET of one does not.
	StepsCount  *float64
	CreatedAt   string
	LastUpdated string
	ArchivedAt  *string

	itemState
}

// archivedState is what the client knows about whether an item is archived: from its own
// archived_at (or a run's status), or from the listing that returned it.
type archivedState uint8

const (
	archivedUnknown archivedState = iota
	archivedNo
	archivedYes
)

func (s archivedState) known() bool { return s != archivedUnknown }

// itemState is what the client knows of an item besides its fields: its archived state, and
// the shape issues its decode found (to report).
type itemState struct {
	archived archivedState
	issues   []ShapeIssue
}

func (s *itemState) shapeIssues() []ShapeIssue    { return s.issues }
func (s *itemState) archivedState() archivedState { return s.archived }
func (s *itemState) setArchived(a archivedState)  { s.archived = a }

// Pagination is meta.pagination of a list response (docs/tallyfy-api.md §4).
type Pagination struct {
	Total       int `json:"total"`
	Count       int `json:"count"`
	PerPage     int `json:"per_page"`
	CurrentPage int `json:"current_page"`
	TotalPages  int `json:"total_pages"`
}

// Page is one page of a list.
type Page[T any] struct {
	Items      []T
	Pagination Pagination
	// Offset is how many items come before this page, and PageSize the page size it was cut
	// with, as far as the request and the answer tell (decodePage in list.go).
	Offset, PageSize int

	memoized bool // served from a listing memo (WithListingMemo): no request was sent
}

// HasMore reports whether a later page may hold items. It is decided from total and the items
// seen, not from total_pages: Tallyfy's MCP server documents total_pages computed with another
// page size than the one asked for (server/utils/pagination.py; docs/tallyfy-api.md §4, §7). An
// empty page ends a list whatever the counts say; a short one does not (some lists use a fixed
// page size smaller than per_page). Without a total the answer's total_pages is all there is.
func (p *Page[T]) HasMore() bool {
	if len(p.Items) == 0 {
		return false
	}
	if p.Pagination.Total <= 0 {
		return p.Pagination.CurrentPage < p.Pagination.TotalPages
	}
	return p.Offset+len(p.Items) < p.Pagination.Total
}

// Ends reports whether this page ends a paging loop that has now seen `seen` items in all:
// an empty page ends it, else the total does (see HasMore); a short page does not.
func (p *Page[T]) Ends(seen int) bool {
	if len(p.Items) == 0 {
		return true
	}
	if p.Pagination.Total > 0 {
		return seen >= p.Pagination.Total
	}
	return !p.HasMore()
}

// TotalPages is the number of pages of PageSize that Total fills (at least 1), computed here
// rather than taken from total_pages, for the reason HasMore gives.
func (p *Page[T]) TotalPages() int {
	if p.Pagination.Total <= 0 || p.PageSize <= 0 {
		return max(p.Pagination.TotalPages, 1)
	}
	return max((p.Pagination.Total+p.PageSize-1)/p.PageSize, 1)
}

// TemplateDeletion is the body Tallyfy returns when a template is archived or permanently
// deleted: a message and what was detached, not a data envelope (docs/tallyfy-api.md §1.7, §1.9).
type TemplateDeletion struct {
	Message           string          `json:"message"`
	DeletedReferences json.RawMessage `json:"deleted_references"`
}

// Reference is one thing that archiving a template took its embeds or links out of (an entry
// of deleted_references). The sources show the field as {} (docs from their 2026-03-01
// rewrite: "automations or recurring jobs that referenced this template") and as a list of
// {type, title, id} (later docs: the templates, type Blueprint, and steps, type Step, whose
// descriptions embedded it); tallyfy/testdata/contract holds both.
type Reference struct {
	Type  string `json:"type"`
	ID    string `json:"id,omitempty"`
	Title string `json:"title,omitempty"`
}

// References reads deleted_references in any shape the sources show: a list of {type,
// title, id}, or an object whose keys name the type and whose values list the items (or
// count them). Anything it cannot read is one Reference of type "unreadable" carrying the
// raw text (clipped), so nothing Tallyfy said is dropped silently.
func (d *TemplateDeletion) References() []Reference {
	raw := bytes.TrimSpace(d.DeletedReferences)
	if len(raw) == 0 || string(raw) == "null" || string(raw) == "{}" || string(raw) == "[]" {
		return nil
	}
	var list []json.RawMessage
	if json.Unmarshal(raw, &list) == nil {
		out := make([]Reference, 0, len(list))
		for _, it := range list {
			out = append(out, referenceOf("", it))
		}
		return out
	}
	var byType map[string]json.RawMessage
	if json.Unmarshal(raw, &byType) == nil {
		var out []Reference
		for _, k := range slices.Sorted(maps.Keys(byType)) {
			var items []json.RawMessage
			if json.Unmarshal(byType[k], &items) == nil {
				for _, it := range items {
					out = append(out, referenceOf(k, it))
				}
				continue
			}
			out = append(out, Reference{Type: k, Title: Truncate(string(bytes.TrimSpace(byType[k])), 200)})
		}
		return out
	}
	return []Reference{{Type: "unreadable", Title: Truncate(string(raw), 200)}}
}

// referenceOf reads one entry: an object with type, id and title (or name), or a bare value.
func referenceOf(kind string, raw json.RawMessage) Reference {
	var o struct {
		Type  string          `json:"type"`
		ID    json.RawMessage `json:"id"`
		Title string          `json:"title"`
		Name  string          `json:"name"`
	}
	if json.Unmarshal(raw, &o) == nil {
		r := Reference{Type: cmp.Or(o.Type, kind), Title: cmp.Or(o.Title, o.Name)}
		r.ID, _ = textID(o.ID, "") // "" when it has none
		return r
	}
	var str string
	if json.Unmarshal(raw, &str) == nil {
		return Reference{Type: kind, Title: Truncate(str, 200)}
	}
	return Reference{Type: kind, Title: Truncate(string(bytes.TrimSpace(raw)), 200)}
}

// Entity is the kind-independent view of a task, run or template that callers need to
// decide and report on a lifecycle action.
type Entity struct {
	Kind   Kind
	ID     string
	Name   string
	Status string
	// Archived is meaningful only when ArchivedKnown: an item from an archived=include
	// listing may carry nothing that tells (docs/tallyfy-api.md §7). Find and Lookup
	// always settle it.
	Archived      bool
	ArchivedKnown bool
	ArchivedAt    string
	LastUpdated   string
	// OneOff is false for a task that belongs to a process.
	OneOff bool
	// RunID is the process a task sits in, when Tallyfy named one (a one-off task created
	// once per assignee carries one too).
	RunID string
}

// Fingerprint identifies this version of the entity: if any part changes between a
// confirmation and the delete, the delete must not go ahead.
func (e Entity) Fingerprint() string {
	return string(e.Kind) + "|" + e.ID + "|" + e.Name + "|" + e.Status + "|" + strconv.FormatBool(e.Archived) + "|" + e.ArchivedAt + "|" + e.LastUpdated
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// OneOff decides whether the task is a one-off task: is_oneoff_task when Tallyfy sent it (a
// one-off task created once per assignee, or added to a process, carries a run_id too:
// docs/tallyfy-api.md §7), else the absence of a run_id.
//
// A task that came from an is_oneoff=true listing, and says nothing itself, is one-off
// whatever its run_id: Tallyfy's MCP server says every standalone task lives in a process
// container of its own (server/tools/task_management.py, create_standalone_task).
func (t *Task) OneOff() bool {
	switch {
	case t.OneoffKnown:
		return t.IsOneoffTask
	case t.listedOneOff:
		return true
	}
	return t.RunID == nil || *t.RunID == ""
}

// Entity returns the kind-independent view of the task.
func (t *Task) Entity() Entity {
	return Entity{Kind: KindTask, ID: t.ID, Name: t.Title, Status: t.Status,
		Archived: t.archived == archivedYes, ArchivedKnown: t.archived.known(),
		ArchivedAt: deref(t.ArchivedAt), LastUpdated: t.LastUpdated, OneOff: t.OneOff(), RunID: deref(t.RunID)}
}

// Entity returns the kind-independent view of the run.
func (r *Run) Entity() Entity {
	return Entity{Kind: KindRun, ID: r.ID, Name: r.Name, Status: r.Status,
		Archived: r.archived == archivedYes, ArchivedKnown: r.archived.known(),
		ArchivedAt: deref(r.ArchivedAt), LastUpdated: r.LastUpdated, OneOff: true}
}

// Entity returns the kind-independent view of the template.
func (t *Template) Entity() Entity {
	return Entity{Kind: KindTemplate, ID: t.ID, Name: t.Title, Status: t.Status,
		Archived: t.archived == archivedYes, ArchivedKnown: t.archived.known(),
		ArchivedAt: deref(t.ArchivedAt), LastUpdated: t.LastUpdated, OneOff: true}
}
