package sandbox

import (
	"cmp"
	"strconv"
	"strings"
	"time"
)

// Record kinds, as used by Record.Kind, Lookup and Count.
const (
	kindTask     = "task"
	kindRun      = "run"
	kindTemplate = "template"
)

// Task statuses (docs/tallyfy-api.md §2.1).
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

// owners is the task `owners` object (docs/tallyfy-api.md §2.1): users as ids on GET, as
// userRef objects on list items.
type owners[U int | userRef] struct {
	Users  []U      `json:"users"`
	Guests []string `json:"guests"`
	Groups []string `json:"groups"`
}

// ownersOf is the owners object of users, with no guests or groups.
func ownersOf[U int | userRef](users []U) owners[U] {
	return owners[U]{Users: users, Guests: []string{}, Groups: []string{}}
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

// taskJSON is a task as GET /tasks/{id} and restore show it (docs get-task: owners.users as
// integers, archived_at present, and fields the client must ignore).
type taskJSON struct {
	ID                       string      `json:"id"`
	IncrementID              int         `json:"increment_id"`
	Title                    string      `json:"title"`
	Alias                    string      `json:"alias"`
	RunID                    *string     `json:"run_id"`
	ChecklistID              *string     `json:"checklist_id"`
	StepID                   *string     `json:"step_id"`
	IsOneoffTask             bool        `json:"is_oneoff_task"`
	Status                   string      `json:"status"`
	StatusLabel              string      `json:"status_label"`
	TaskType                 string      `json:"task_type"`
	IsCompletable            bool        `json:"is_completable"`
	IsApproved               bool        `json:"is_approved"`
	Owners                   owners[int] `json:"owners"`
	StarterID                int         `json:"starter_id"`
	CompleterID              *int        `json:"completer_id"`
	Position                 int         `json:"position"`
	EveryoneMustComplete     bool        `json:"everyone_must_complete"`
	CanCompleteOnlyAssignees bool        `json:"can_complete_only_assignees"`
	MaxAssignable            int         `json:"max_assignable"`
	Webhook                  *string     `json:"webhook"`
	TopSecret                bool        `json:"top_secret"`
	StartedAt                *string     `json:"started_at"`
	Deadline                 *string     `json:"deadline"`
	CreatedAt                string      `json:"created_at"`
	LastUpdated              string      `json:"last_updated"`
	CompletedAt              *string     `json:"completed_at"`
	ArchivedAt               *string     `json:"archived_at"`
}

// userRef is a user as task list items name their owners (docs list-org-tasks).
type userRef struct {
	ID       int    `json:"id"`
	FullName string `json:"full_name"`
}

// taskListJSON is a task as GET /tasks lists it (docs list-org-tasks): owners as user
// objects, and no archived_at, so only the listing's archived= filter tells.
type taskListJSON struct {
	ID                   string          `json:"id"`
	IncrementID          int             `json:"increment_id"`
	Title                string          `json:"title"`
	RunID                *string         `json:"run_id"`
	ChecklistID          *string         `json:"checklist_id"`
	StepID               *string         `json:"step_id"`
	Alias                string          `json:"alias"`
	Status               string          `json:"status"`
	StatusLabel          string          `json:"status_label"`
	TaskType             string          `json:"task_type"`
	Position             int             `json:"position"`
	IsOneoffTask         bool            `json:"is_oneoff_task"`
	Owners               owners[userRef] `json:"owners"`
	Deadline             *string         `json:"deadline"`
	StartedAt            *string         `json:"started_at"`
	CreatedAt            string          `json:"created_at"`
	LastUpdated          string          `json:"last_updated"`
	CompletedAt          *string         `json:"completed_at"`
	IsCompletable        bool            `json:"is_completable"`
	EveryoneMustComplete bool            `json:"everyone_must_complete"`
}

// statusLabels are how task statuses read (a status without a label reads as itself).
var statusLabels = map[string]string{taskNotStarted: "Not Started", taskInProgress: "In Progress", taskCompleted: "Completed"}

func statusLabel(s string) string { return cmp.Or(statusLabels[s], s) }

func (t *task) listJSON() taskListJSON {
	users := make([]userRef, 0, len(t.Owners))
	for _, id := range t.Owners {
		users = append(users, userRef{ID: id, FullName: userNames[id]})
	}
	return taskListJSON{
		ID: t.ID, IncrementID: t.IncrementID, Title: t.Title,
		RunID: nullable(t.RunID), ChecklistID: nullable(t.ChecklistID), StepID: nullable(t.StepID),
		Alias: t.Alias, Status: t.Status, StatusLabel: statusLabel(t.Status), TaskType: "task",
		Position: t.Position, IsOneoffTask: t.OneOff,
		Owners:   ownersOf(users),
		Deadline: nullable(t.Deadline), StartedAt: nullable(t.StartedAt),
		CreatedAt: t.CreatedAt, LastUpdated: t.LastUpdated, CompletedAt: nullable(t.CompletedAt),
		IsCompletable: t.Status != taskCompleted,
	}
}

func (t *task) json() taskJSON {
	users := append([]int{}, t.Owners...)
	return taskJSON{
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

		CompleterID:   nullable(t.CompleterID),
		IsCompletable: t.Status != taskCompleted,
		MaxAssignable: max(len(users), 1),
		Owners:        ownersOf(users),
		StarterID:     t.StarterID,
		Position:      t.Position,
		StartedAt:     nullable(t.StartedAt),
		Deadline:      nullable(t.Deadline),
		CreatedAt:     t.CreatedAt,
		LastUpdated:   t.LastUpdated,
		CompletedAt:   nullable(t.CompletedAt),
		ArchivedAt:    nullable(t.ArchivedAt),
	}
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
	Starred        bool
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

// progressJSON is a run's progress as the connector swagger's Run and docs list-processes
// show it.
type progressJSON struct {
	Complete int `json:"complete"`
	Total    int `json:"total"`
	Percent  int `json:"percent"`
}

// prerunField is one kick-off field value (swagger PrerunData).
type prerunField struct {
	ID         string `json:"id"`
	Alias      string `json:"alias"`
	Label      string `json:"label"`
	FieldType  string `json:"field_type"`
	FieldValue string `json:"field_value"`
	Value      string `json:"value"`
	Position   int    `json:"position"`
	Required   bool   `json:"required"`
	CreatedAt  string `json:"created_at"`
	UpdatedAt  string `json:"updated_at"`
}

type runAlerts struct {
	Issues []any `json:"issues"`
}

// runJSON is a run as GET and the list show it: progress as an object, prerun as a list
// (swagger Run), whole_progress as {} (docs get-process, list-processes), list-item fields
// of docs list-processes.
type runJSON struct {
	ID             string        `json:"id"`
	IncrementID    int           `json:"increment_id"`
	ChecklistID    string        `json:"checklist_id"`
	ChecklistTitle string        `json:"checklist_title"`
	Name           string        `json:"name"`
	Summary        string        `json:"summary"`
	Status         string        `json:"status"`
	Progress       progressJSON  `json:"progress"`
	WholeProgress  struct{}      `json:"whole_progress"`
	Prerun         []prerunField `json:"prerun"`
	PrerunStatus   string        `json:"prerun_status"`
	Alerts         runAlerts     `json:"alerts"`
	Collaborators  []int         `json:"collaborators"`
	Starred        bool          `json:"starred"`
	Type           string        `json:"type"`
	IsPublic       bool          `json:"is_public"`
	StartedBy      int           `json:"started_by"`
	OwnerID        int           `json:"owner_id"`
	CreatedAt      string        `json:"created_at"`
	StartedAt      string        `json:"started_at"`
	LastUpdated    string        `json:"last_updated"`
	ArchivedAt     *string       `json:"archived_at"`
	CompletedAt    *string       `json:"completed_at"`
	DueDate        *string       `json:"due_date"`
	DueDatePassed  bool          `json:"due_date_passed"`
	DueSoon        bool          `json:"due_soon"`
	LateTasks      *int          `json:"late_tasks,omitempty"` // list items only (docs list-processes)
}

// runArchivedJSON is the answer to archiving a run, as docs archive-process shows it:
// progress a bare number, started_by and owner_id strings.
type runArchivedJSON struct {
	ID          string  `json:"id"`
	Name        string  `json:"name"`
	Status      string  `json:"status"`
	ArchivedAt  *string `json:"archived_at"`
	ChecklistID string  `json:"checklist_id"`
	Progress    int     `json:"progress"`
	StartedBy   string  `json:"started_by"`
	OwnerID     string  `json:"owner_id"`
	CreatedAt   string  `json:"created_at"`
	LastUpdated string  `json:"last_updated"`
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
		// The stored percent, spread over runProgressTotal tasks.
		Progress: progressJSON{Complete: r.Progress * runProgressTotal / 100, Total: runProgressTotal, Percent: r.Progress},
		Prerun: []prerunField{{ID: seedID("prerun", r.ID), Alias: "requested_by", Label: "Requested by",
			FieldType: "text", FieldValue: userNames[r.StartedBy], Value: userNames[r.StartedBy], Position: 0, Required: true,
			CreatedAt: r.CreatedAt, UpdatedAt: r.CreatedAt}},
		PrerunStatus:  "complete",
		Alerts:        runAlerts{Issues: []any{}},
		Collaborators: []int{},
		Starred:       r.Starred,
		Type:          "procedure", // every seeded process, as every template
		StartedBy:     r.StartedBy,
		OwnerID:       r.OwnerID,
		CreatedAt:     r.CreatedAt,
		StartedAt:     r.StartedAt,
		LastUpdated:   r.LastUpdated,
		ArchivedAt:    nullable(r.ArchivedAt),
		CompletedAt:   nullable(r.CompletedAt),
		DueDate:       nullable(r.DueDate),
		DueDatePassed: r.dueDatePassed(now),
	}
}

// runActivatedJSON is the answer to activating a run, as docs activate-process shows it.
type runActivatedJSON struct {
	ID          string  `json:"id"`
	ChecklistID string  `json:"checklist_id"`
	Name        string  `json:"name"`
	Status      string  `json:"status"`
	ArchivedAt  *string `json:"archived_at"`
	StartedAt   string  `json:"started_at"`
	LastUpdated string  `json:"last_updated"`
}

func (r *run) activatedJSON() runActivatedJSON {
	return runActivatedJSON{ID: r.ID, ChecklistID: r.ChecklistID, Name: r.Name, Status: r.visibleStatus(),
		ArchivedAt: nullable(r.ArchivedAt), StartedAt: r.StartedAt, LastUpdated: r.LastUpdated}
}

func (r *run) archivedJSON() runArchivedJSON {
	return runArchivedJSON{ID: r.ID, Name: r.Name, Status: r.visibleStatus(), ArchivedAt: nullable(r.ArchivedAt),
		ChecklistID: r.ChecklistID, Progress: r.Progress, StartedBy: strconv.Itoa(r.StartedBy), OwnerID: strconv.Itoa(r.OwnerID),
		CreatedAt: r.CreatedAt, LastUpdated: r.LastUpdated}
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
	CreatedAt   string
	LastUpdated string
	ArchivedAt  string
}

func (t *template) archived() bool { return t.ArchivedAt != "" }

// kickoffField is one kick-off form field of a template (docs get-template `prerun`).
type kickoffField struct {
	ID          string `json:"id"`
	ChecklistID string `json:"checklist_id"`
	Alias       string `json:"alias"`
	Label       string `json:"label"`
	FieldType   string `json:"field_type"`
}

// templateJSON is a template as GET and restore show it (docs get-template): prerun a list,
// no steps_count.
type templateJSON struct {
	ID               string         `json:"id"`
	Title            string         `json:"title"`
	Summary          string         `json:"summary"`
	Starred          bool           `json:"starred"`
	Webhook          *string        `json:"webhook"`
	Guidance         string         `json:"guidance"`
	Alias            string         `json:"alias"`
	FolderID         *string        `json:"folder_id"`
	Prerun           []kickoffField `json:"prerun"`
	CreatedBy        int            `json:"created_by"`
	OwnerID          int            `json:"owner_id"`
	KickoffTitle     *string        `json:"kickoff_title"`
	CreatedAt        string         `json:"created_at"`
	LastUpdated      string         `json:"last_updated"`
	ArchivedAt       *string        `json:"archived_at"`
	IsPublic         bool           `json:"is_public"`
	AutomatedActions []any          `json:"automated_actions"`
	Icon             string         `json:"icon"`
	Type             string         `json:"type"`
	IsPublicKickoff  bool           `json:"is_public_kickoff"`
	Status           string         `json:"status"`
}

// templateListJSON is a template as GET /checklists lists it (docs list-templates): no
// archived_at, owner_id and created_by as strings.
type templateListJSON struct {
	ID          string `json:"id"`
	Title       string `json:"title"`
	Summary     string `json:"summary"`
	Starred     bool   `json:"starred"`
	Type        string `json:"type"`
	Status      string `json:"status"`
	OwnerID     string `json:"owner_id"`
	CreatedBy   string `json:"created_by"`
	StepsCount  int    `json:"steps_count"`
	IsPinned    bool   `json:"is_pinned"`
	CreatedAt   string `json:"created_at"`
	LastUpdated string `json:"last_updated"`
}

func (t *template) json() templateJSON {
	return templateJSON{
		ID: t.ID, Title: t.Title, Summary: t.Summary, Starred: t.Starred, Alias: t.Alias,
		Prerun: []kickoffField{{ID: seedID("kickoff", t.ID), ChecklistID: t.ID, Alias: "requested_by",
			Label: "Requested by", FieldType: "text"}},
		CreatedBy: t.CreatedBy, OwnerID: t.OwnerID,
		CreatedAt: t.CreatedAt, LastUpdated: t.LastUpdated, ArchivedAt: nullable(t.ArchivedAt),
		AutomatedActions: []any{}, Icon: "fa-list", Type: "procedure", Status: templateStatus,
	}
}

func (t *template) listJSON() templateListJSON {
	return templateListJSON{
		ID: t.ID, Title: t.Title, Summary: t.Summary, Starred: t.Starred, Type: "procedure", Status: templateStatus,
		OwnerID: strconv.Itoa(t.OwnerID), CreatedBy: strconv.Itoa(t.CreatedBy), StepsCount: t.StepsCount,
		IsPinned: t.IsPinned, CreatedAt: t.CreatedAt, LastUpdated: t.LastUpdated,
	}
}

// state is everything the sandbox stores; Reset replaces it with a new seed.
type state struct {
	tasks     map[string]*task
	runs      map[string]*run
	templates map[string]*template
	created   int // one-off tasks created through POST /tasks (create_task.go)
}

// nullable is v, or nil (JSON null) for the zero value ("", 0).
func nullable[T comparable](v T) *T {
	if v == *new(T) {
		return nil
	}
	return &v
}

// parseTS reads a stored stamp; ok is false for none ("") or a bad one.
func parseTS(s string) (t time.Time, ok bool) {
	t, err := time.Parse(time.RFC3339Nano, s)
	return t, err == nil
}

func containsFold(s, sub string) bool {
	return strings.Contains(strings.ToLower(s), strings.ToLower(sub))
}
