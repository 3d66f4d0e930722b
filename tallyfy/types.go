// Package tallyfy is a small typed client for the parts of the Tallyfy REST API that archive,
// restore and permanently delete one-off tasks, processes (runs) and templates (checklists),
// and look them up. It knows nothing of MCP.
package tallyfy

import (
	"encoding/json"
	"errors"
	"strconv"
)

// Kind names one of the three resource types this client manages.
type Kind string

const (
	KindTask     Kind = "task"
	KindRun      Kind = "run"
	KindTemplate Kind = "template"
)

// Archived selects how list endpoints treat archived items.
type Archived string

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
}

// Owners is a task's assignees.
type Owners struct {
	Users  []int64 `json:"users"`
	Guests []any   `json:"guests"`
	Groups []any   `json:"groups"`
}

// Task is a Tallyfy task (tallyfy-api.md §2.1).
type Task struct {
	ID           string  `json:"id"`
	IncrementID  int64   `json:"increment_id"`
	Title        string  `json:"title"`
	RunID        *string `json:"run_id"`
	ChecklistID  *string `json:"checklist_id"`
	StepID       *string `json:"step_id"`
	IsOneoffTask bool    `json:"is_oneoff_task"`
	Status       string  `json:"status"`
	StatusLabel  string  `json:"status_label"`
	Owners       *Owners `json:"owners,omitempty"`
	Deadline     *string `json:"deadline"`
	CreatedAt    string  `json:"created_at"`
	LastUpdated  string  `json:"last_updated"`
	CompletedAt  *string `json:"completed_at"`
	ArchivedAt   *string `json:"archived_at"`
}

// Run is a Tallyfy process (tallyfy-api.md §2.3).
type Run struct {
	ID             string  `json:"id"`
	IncrementID    int64   `json:"increment_id"`
	ChecklistID    string  `json:"checklist_id"`
	ChecklistTitle string  `json:"checklist_title"`
	Name           string  `json:"name"`
	Status         string  `json:"status"`
	Progress       Number  `json:"progress"`
	OwnerID        Number  `json:"owner_id"`
	CreatedAt      string  `json:"created_at"`
	StartedAt      *string `json:"started_at"`
	LastUpdated    string  `json:"last_updated"`
	CompletedAt    *string `json:"completed_at"`
	ArchivedAt     *string `json:"archived_at"`
}

// Template is a Tallyfy template, called a checklist in the API (tallyfy-api.md §2.5).
type Template struct {
	ID          string  `json:"id"`
	Title       string  `json:"title"`
	Summary     *string `json:"summary"`
	Type        string  `json:"type"`
	Status      string  `json:"status"`
	StepsCount  Number  `json:"steps_count"`
	CreatedAt   string  `json:"created_at"`
	LastUpdated string  `json:"last_updated"`
	ArchivedAt  *string `json:"archived_at"`
}

// Number decodes a JSON number that Tallyfy sometimes sends as a string (or null).
type Number float64

func (n *Number) UnmarshalJSON(b []byte) error {
	s := string(b)
	if s == "null" || s == `""` {
		*n = 0
		return nil
	}
	if len(s) > 1 && s[0] == '"' {
		s = s[1 : len(s)-1]
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		// Not strconv's error: it would quote the whole value, i.e. the response body.
		return errors.New("tallyfy: expected a number or a numeric string")
	}
	*n = Number(f)
	return nil
}

// Pagination is meta.pagination of a list response (tallyfy-api.md §4).
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
}

// HasMore reports whether a later page exists.
func (p *Page[T]) HasMore() bool { return p.Pagination.CurrentPage < p.Pagination.TotalPages }

// TemplateDeletion is the body Tallyfy returns when a template is archived or permanently
// deleted: a message and what was detached, not a data envelope (tallyfy-api.md §1.7, §1.9).
type TemplateDeletion struct {
	Message           string          `json:"message"`
	DeletedReferences json.RawMessage `json:"deleted_references"`
}

// Entity is the kind-independent view of a task, run or template that callers need to
// decide and report on a lifecycle action.
type Entity struct {
	Kind        Kind
	ID          string
	Name        string
	Status      string
	Archived    bool
	ArchivedAt  string
	LastUpdated string
	// OneOff is false for a task that belongs to a process.
	OneOff bool
	// RunID is set for a process task.
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

// Entity returns the kind-independent view of the task.
func (t *Task) Entity() Entity {
	return Entity{Kind: KindTask, ID: t.ID, Name: t.Title, Status: t.Status, Archived: t.ArchivedAt != nil,
		ArchivedAt: deref(t.ArchivedAt), LastUpdated: t.LastUpdated, OneOff: t.RunID == nil || *t.RunID == "", RunID: deref(t.RunID)}
}

// Entity returns the kind-independent view of the run.
func (r *Run) Entity() Entity {
	return Entity{Kind: KindRun, ID: r.ID, Name: r.Name, Status: r.Status, Archived: r.ArchivedAt != nil || r.Status == "archived",
		ArchivedAt: deref(r.ArchivedAt), LastUpdated: r.LastUpdated, OneOff: true}
}

// Entity returns the kind-independent view of the template.
func (t *Template) Entity() Entity {
	return Entity{Kind: KindTemplate, ID: t.ID, Name: t.Title, Status: t.Status, Archived: t.ArchivedAt != nil,
		ArchivedAt: deref(t.ArchivedAt), LastUpdated: t.LastUpdated, OneOff: true}
}
