package sandbox

import (
	"strings"
	"time"
)

// Record kinds, as used by Record.Kind, Lookup and Count.
const (
	kindTask     = "task"
	kindRun      = "run"
	kindTemplate = "template"
)

// Task statuses (tallyfy-api.md §2.1).
const (
	taskNotStarted = "not-started"
	taskInProgress = "in-progress"
	taskCompleted  = "completed"
)

// Record is a summary of one stored record, for tests and tools.
type Record struct {
	Kind        string // "task", "run" or "template"
	ID          string
	Name        string // task title / run name / template title
	Status      string // as the API shows it ("archived" for an archived run)
	Archived    bool
	LastUpdated string
}

// owners is the task `owners` object (tallyfy-api.md §2.1).
type owners struct {
	Users  []int    `json:"users"`
	Guests []string `json:"guests"`
	Groups []string `json:"groups"`
}

// task is a stored task. Empty strings stand for JSON null.
type task struct {
	ID          string
	IncrementID int
	Title       string
	Alias       string
	RunID       string
	ChecklistID string
	StepID      string
	OneOff      bool
	Status      string
	Owners      []int
	StarterID   int
	CompleterID int
	Position    int
	StartedAt   string
	Deadline    string
	CreatedAt   string
	LastUpdated string
	CompletedAt string
	ArchivedAt  string
	// archivedWithRun marks a process task soft-deleted by its run's archive,
	// so activation brings back exactly those.
	archivedWithRun bool
}

func (t *task) archived() bool { return t.ArchivedAt != "" }

type taskJSON struct {
	ID                       string  `json:"id"`
	IncrementID              int     `json:"increment_id"`
	Title                    string  `json:"title"`
	Alias                    string  `json:"alias"`
	RunID                    *string `json:"run_id"`
	ChecklistID              *string `json:"checklist_id"`
	StepID                   *string `json:"step_id"`
	IsOneoffTask             bool    `json:"is_oneoff_task"`
	Status                   string  `json:"status"`
	StatusLabel              string  `json:"status_label"`
	TaskType                 string  `json:"task_type"`
	IsCompletable            bool    `json:"is_completable"`
	Owners                   owners  `json:"owners"`
	StarterID                int     `json:"starter_id"`
	CompleterID              *int    `json:"completer_id"`
	Position                 int     `json:"position"`
	EveryoneMustComplete     bool    `json:"everyone_must_complete"`
	CanCompleteOnlyAssignees bool    `json:"can_complete_only_assignees"`
	TopSecret                bool    `json:"top_secret"`
	StartedAt                *string `json:"started_at"`
	Deadline                 *string `json:"deadline"`
	CreatedAt                string  `json:"created_at"`
	LastUpdated              string  `json:"last_updated"`
	CompletedAt              *string `json:"completed_at"`
	ArchivedAt               *string `json:"archived_at"`
}

func statusLabel(s string) string {
	switch s {
	case taskNotStarted:
		return "Not Started"
	case taskInProgress:
		return "In Progress"
	case taskCompleted:
		return "Completed"
	}
	return s
}

func (t *task) json() taskJSON {
	users := append([]int{}, t.Owners...)
	j := taskJSON{
		ID:           t.ID,
		IncrementID:  t.IncrementID,
		Title:        t.Title,
		Alias:        t.Alias,
		RunID:        nullable(t.RunID),
		ChecklistID:  nullable(t.ChecklistID),
		StepID:       nullable(t.StepID),
		IsOneoffTask: t.OneOff,
		Status:       t.Status,
		StatusLabel:  statusLabel(t.Status),
		TaskType:     "task",

		IsCompletable: t.Status != taskCompleted,
		Owners:        owners{Users: users, Guests: []string{}, Groups: []string{}},
		StarterID:     t.StarterID,
		Position:      t.Position,
		StartedAt:     nullable(t.StartedAt),
		Deadline:      nullable(t.Deadline),
		CreatedAt:     t.CreatedAt,
		LastUpdated:   t.LastUpdated,
		CompletedAt:   nullable(t.CompletedAt),
		ArchivedAt:    nullable(t.ArchivedAt),
	}
	if t.CompleterID != 0 {
		c := t.CompleterID
		j.CompleterID = &c
	}
	return j
}

// run is a stored process. Status is the pre-archive status ("active",
// "complete", "problem"); the API shows "archived" while ArchivedAt is set.
type run struct {
	ID             string
	IncrementID    int
	ChecklistID    string
	ChecklistTitle string
	Name           string
	Summary        string
	Status         string
	Progress       int
	WholeProgress  int
	Starred        bool
	Type           string
	IsPublic       bool
	StartedBy      int
	OwnerID        int
	CreatedAt      string
	StartedAt      string
	LastUpdated    string
	ArchivedAt     string
	CompletedAt    string
	DueDate        string
}

func (r *run) archived() bool { return r.ArchivedAt != "" }

func (r *run) visibleStatus() string {
	if r.archived() {
		return "archived"
	}
	return r.Status
}

func (r *run) dueDatePassed(now time.Time) bool {
	if r.Status == "complete" {
		return false
	}
	d, ok := parseTS(r.DueDate)
	return ok && d.Before(now)
}

type runJSON struct {
	ID             string  `json:"id"`
	IncrementID    int     `json:"increment_id"`
	ChecklistID    string  `json:"checklist_id"`
	ChecklistTitle string  `json:"checklist_title"`
	Name           string  `json:"name"`
	Summary        string  `json:"summary"`
	Status         string  `json:"status"`
	Progress       int     `json:"progress"`
	WholeProgress  int     `json:"whole_progress"`
	Starred        bool    `json:"starred"`
	Type           string  `json:"type"`
	IsPublic       bool    `json:"is_public"`
	StartedBy      int     `json:"started_by"`
	OwnerID        int     `json:"owner_id"`
	CreatedAt      string  `json:"created_at"`
	StartedAt      string  `json:"started_at"`
	LastUpdated    string  `json:"last_updated"`
	ArchivedAt     *string `json:"archived_at"`
	CompletedAt    *string `json:"completed_at"`
	DueDate        *string `json:"due_date"`
	DueDatePassed  bool    `json:"due_date_passed"`
}

func (r *run) json(now time.Time) runJSON {
	return runJSON{
		ID:             r.ID,
		IncrementID:    r.IncrementID,
		ChecklistID:    r.ChecklistID,
		ChecklistTitle: r.ChecklistTitle,
		Name:           r.Name,
		Summary:        r.Summary,
		Status:         r.visibleStatus(),
		Progress:       r.Progress,
		WholeProgress:  r.WholeProgress,
		Starred:        r.Starred,
		Type:           r.Type,
		IsPublic:       r.IsPublic,
		StartedBy:      r.StartedBy,
		OwnerID:        r.OwnerID,
		CreatedAt:      r.CreatedAt,
		StartedAt:      r.StartedAt,
		LastUpdated:    r.LastUpdated,
		ArchivedAt:     nullable(r.ArchivedAt),
		CompletedAt:    nullable(r.CompletedAt),
		DueDate:        nullable(r.DueDate),
		DueDatePassed:  r.dueDatePassed(now),
	}
}

// template is a stored template (checklist).
type template struct {
	ID          string
	Title       string
	Summary     string
	Alias       string
	Starred     bool
	OwnerID     int
	CreatedBy   int
	StepsCount  int
	IsPinned    bool
	FolderID    string
	CreatedAt   string
	LastUpdated string
	ArchivedAt  string
}

func (t *template) archived() bool { return t.ArchivedAt != "" }

type templateJSON struct {
	ID              string  `json:"id"`
	Title           string  `json:"title"`
	Summary         string  `json:"summary"`
	Alias           string  `json:"alias"`
	Type            string  `json:"type"`
	Status          string  `json:"status"`
	Starred         bool    `json:"starred"`
	IsPublic        bool    `json:"is_public"`
	IsPublicKickoff bool    `json:"is_public_kickoff"`
	OwnerID         int     `json:"owner_id"`
	CreatedBy       int     `json:"created_by"`
	StepsCount      int     `json:"steps_count"`
	IsPinned        bool    `json:"is_pinned"`
	FolderID        *string `json:"folder_id"`
	CreatedAt       string  `json:"created_at"`
	LastUpdated     string  `json:"last_updated"`
	ArchivedAt      *string `json:"archived_at"`
}

func (t *template) json() templateJSON {
	return templateJSON{
		ID:          t.ID,
		Title:       t.Title,
		Summary:     t.Summary,
		Alias:       t.Alias,
		Type:        "procedure",
		Status:      templateStatus,
		Starred:     t.Starred,
		OwnerID:     t.OwnerID,
		CreatedBy:   t.CreatedBy,
		StepsCount:  t.StepsCount,
		IsPinned:    t.IsPinned,
		FolderID:    nullable(t.FolderID),
		CreatedAt:   t.CreatedAt,
		LastUpdated: t.LastUpdated,
		ArchivedAt:  nullable(t.ArchivedAt),
	}
}

// state is everything the sandbox stores; Reset replaces it with a new seed.
type state struct {
	tasks     map[string]*task
	runs      map[string]*run
	templates map[string]*template
}

func nullable(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

func parseTS(s string) (time.Time, bool) {
	if s == "" {
		return time.Time{}, false
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, false
	}
	return t, true
}

func formatTS(t time.Time) string { return t.UTC().Format(timestampLayout) }

func containsFold(s, sub string) bool {
	return strings.Contains(strings.ToLower(s), strings.ToLower(sub))
}
