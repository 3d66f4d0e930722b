package tallyfy

import (
	"bytes"
	"cmp"
	"encoding/json"
	"strconv"
	"strings"
)

// Tolerant decoding (docs/tallyfy-api.md §7). Each type reads its used fields as raw JSON and
// takes every shape a published source shows; a used field in another shape becomes unknown
// and is recorded as a ShapeIssue (path and JSON type, never the value), which the client
// logs and reports. Fields the tools do not use (owners, owner_id, started_by, prerun,
// whole_progress, …) are not declared, so encoding/json skips them whatever their shape.

// identityError is a missing or unusable id, name or title: the one thing that fails a decode.
type identityError struct {
	Of    string // whose: "the user", "an organization"; "the item" when empty
	Field string // "id", "name" or "title"
	Found string // JSON type found, "absent" when missing
}

func (e *identityError) Error() string {
	of := cmp.Or(e.Of, "the item")
	if e.Field == "" {
		return "an item is a JSON " + e.Found + ", not an object"
	}
	if e.Found == "absent" {
		return of + " has no " + e.Field
	}
	return of + "'s " + e.Field + " is a JSON " + e.Found + ", not a string"
}

// jsonType names the JSON type of raw ("absent" when raw is empty).
func jsonType(raw json.RawMessage) string {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return "absent"
	}
	switch raw[0] {
	case '{':
		return "object"
	case '[':
		return "array"
	case '"':
		return "string"
	case 't', 'f':
		return "bool"
	case 'n':
		return "null"
	default:
		return "number"
	}
}

// fields reads used fields out of raw JSON and records what it could not use.
type fields struct{ issues []ShapeIssue }

func (f *fields) odd(name string, raw json.RawMessage) {
	f.issues = append(f.issues, ShapeIssue{Path: name, Found: jsonType(raw)})
}

// unquote decodes a JSON string without a second allocation when it has no escapes.
func unquote(raw json.RawMessage) (string, bool) {
	if len(raw) < 2 || raw[0] != '"' {
		return "", false
	}
	if bytes.IndexByte(raw, '\\') < 0 {
		return string(raw[1 : len(raw)-1]), true
	}
	var s string
	if json.Unmarshal(raw, &s) != nil {
		return "", false
	}
	return s, true
}

// identity reads id, name or title, the fields an item cannot be shown without: a string,
// or an error.
func identity(name string, raw json.RawMessage) (string, error) {
	s, ok := unquote(raw)
	if !ok {
		return "", &identityError{Field: name, Found: jsonType(raw)}
	}
	if name == "id" && s == "" {
		return "", &identityError{Field: name, Found: "absent"}
	}
	return s, nil
}

// str reads a string that may be null or absent ("" then).
func (f *fields) str(name string, raw json.RawMessage) string {
	v, _ := f.optStr(name, raw)
	return deref(v)
}

// optStr reads a nullable string, such as a date or a run_id: nil when null, absent or in an
// undocumented shape. present says whether the key was there as a string or null.
func (f *fields) optStr(name string, raw json.RawMessage) (v *string, present bool) {
	switch jsonType(raw) {
	case "absent":
		return nil, false
	case "null":
		return nil, true
	case "string":
		s, _ := unquote(raw)
		return &s, true
	}
	f.odd(name, raw)
	return nil, false
}

// number reads a number or a numeric string; nil when null, absent or anything else.
func (f *fields) number(name string, raw json.RawMessage) *float64 {
	switch jsonType(raw) {
	case "absent", "null":
		return nil
	case "number":
		if v, err := strconv.ParseFloat(string(bytes.TrimSpace(raw)), 64); err == nil {
			return &v
		}
	case "string":
		s, _ := unquote(raw)
		if strings.TrimSpace(s) == "" {
			return nil
		}
		if v, err := strconv.ParseFloat(strings.TrimSpace(s), 64); err == nil {
			return &v
		}
	}
	f.odd(name, raw)
	return nil
}

// progress reads a run's progress: a number or numeric string (docs archive-process), or an
// object {complete, total, percent} (connector swagger Run, docs list-processes): percent,
// else complete/total. {} (docs get-process) and null say nothing and are not reported.
func (f *fields) progress(name string, raw json.RawMessage) *float64 {
	if jsonType(raw) != "object" {
		return f.number(name, raw)
	}
	var o struct {
		Percent  json.RawMessage `json:"percent"`
		Complete json.RawMessage `json:"complete"`
		Total    json.RawMessage `json:"total"`
	}
	if json.Unmarshal(raw, &o) != nil {
		f.odd(name, raw)
		return nil
	}
	if o.Percent == nil && o.Complete == nil && o.Total == nil {
		// {} says nothing; an object with none of the documented keys is odd.
		if keys := map[string]json.RawMessage{}; json.Unmarshal(raw, &keys) != nil || len(keys) > 0 {
			f.odd(name, raw)
		}
		return nil
	}
	if o.Percent != nil {
		return f.number(name+".percent", o.Percent)
	}
	done, total := f.number(name+".complete", o.Complete), f.number(name+".total", o.Total)
	if done == nil || total == nil {
		return nil
	}
	if *total == 0 {
		v := 0.0
		return &v
	}
	v := *done / *total * 100
	return &v
}

// boolean reads true/false; known is false when null, absent or another shape.
func (f *fields) boolean(name string, raw json.RawMessage) (v, known bool) {
	switch s := string(bytes.TrimSpace(raw)); s {
	case "true":
		return true, true
	case "false":
		return false, true
	case "", "null":
		return false, false
	}
	f.odd(name, raw)
	return false, false
}

// archivedAt reads archived_at and what it says about the archived state.
func (f *fields) archivedAt(raw json.RawMessage) (*string, archivedState) {
	v, present := f.optStr("archived_at", raw)
	switch {
	case v != nil:
		return v, archivedYes
	case present:
		return nil, archivedNo
	}
	return nil, archivedUnknown
}

// The wire types hold the raw JSON of each used field. A whole answer is decoded into them in
// one encoding/json pass (unknown fields skipped, nothing validated twice), then each field is
// read by the rules above.

// wire is the raw form of T: *W decodes from JSON, then into a T.
type wire[T, W any] interface {
	*W
	decode() (T, error)
}

type taskWire struct {
	ID          json.RawMessage `json:"id"`
	Title       json.RawMessage `json:"title"`
	RunID       json.RawMessage `json:"run_id"`
	IsOneoff    json.RawMessage `json:"is_oneoff_task"`
	Status      json.RawMessage `json:"status"`
	Deadline    json.RawMessage `json:"deadline"`
	CreatedAt   json.RawMessage `json:"created_at"`
	LastUpdated json.RawMessage `json:"last_updated"`
	CompletedAt json.RawMessage `json:"completed_at"`
	ArchivedAt  json.RawMessage `json:"archived_at"`
}

// decode reads the fields of a task the tools use.
func (w *taskWire) decode() (Task, error) {
	var t Task
	var err error
	if t.ID, err = identity("id", w.ID); err != nil {
		return t, err
	}
	if t.Title, err = identity("title", w.Title); err != nil {
		return t, err
	}
	var f fields
	t.RunID, _ = f.optStr("run_id", w.RunID)
	if t.RunID != nil && *t.RunID == "" {
		t.RunID = nil
	}
	t.IsOneoffTask, t.OneoffKnown = f.boolean("is_oneoff_task", w.IsOneoff)
	t.Status = f.str("status", w.Status)
	t.Deadline, _ = f.optStr("deadline", w.Deadline)
	t.CreatedAt = f.str("created_at", w.CreatedAt)
	t.LastUpdated = f.str("last_updated", w.LastUpdated)
	t.CompletedAt, _ = f.optStr("completed_at", w.CompletedAt)
	t.ArchivedAt, t.archived = f.archivedAt(w.ArchivedAt)
	t.issues = f.issues
	return t, nil
}

type runWire struct {
	ID             json.RawMessage `json:"id"`
	Name           json.RawMessage `json:"name"`
	ChecklistID    json.RawMessage `json:"checklist_id"`
	ChecklistTitle json.RawMessage `json:"checklist_title"`
	Status         json.RawMessage `json:"status"`
	Progress       json.RawMessage `json:"progress"`
	CreatedAt      json.RawMessage `json:"created_at"`
	LastUpdated    json.RawMessage `json:"last_updated"`
	CompletedAt    json.RawMessage `json:"completed_at"`
	ArchivedAt     json.RawMessage `json:"archived_at"`
}

// decode reads the fields of a run the tools use.
func (w *runWire) decode() (Run, error) {
	var r Run
	var err error
	if r.ID, err = identity("id", w.ID); err != nil {
		return r, err
	}
	if r.Name, err = identity("name", w.Name); err != nil {
		return r, err
	}
	var f fields
	r.ChecklistID = f.str("checklist_id", w.ChecklistID)
	r.ChecklistTitle = f.str("checklist_title", w.ChecklistTitle)
	r.Status = f.str("status", w.Status)
	r.Progress = f.progress("progress", w.Progress)
	r.CreatedAt = f.str("created_at", w.CreatedAt)
	r.LastUpdated = f.str("last_updated", w.LastUpdated)
	r.CompletedAt, _ = f.optStr("completed_at", w.CompletedAt)
	r.ArchivedAt, r.archived = f.archivedAt(w.ArchivedAt)
	// A run's status says it too: "archived" after an archive (docs archive-process), its
	// pre-archive value (active, complete, problem, …) once activated.
	switch {
	case r.Status == "archived":
		r.archived = archivedYes
	case r.archived == archivedUnknown && r.Status != "":
		r.archived = archivedNo
	}
	r.issues = f.issues
	return r, nil
}

type templateWire struct {
	ID          json.RawMessage `json:"id"`
	Title       json.RawMessage `json:"title"`
	Summary     json.RawMessage `json:"summary"`
	Status      json.RawMessage `json:"status"`
	StepsCount  json.RawMessage `json:"steps_count"`
	CreatedAt   json.RawMessage `json:"created_at"`
	LastUpdated json.RawMessage `json:"last_updated"`
	ArchivedAt  json.RawMessage `json:"archived_at"`
}

// decode reads the fields of a template the tools use.
func (w *templateWire) decode() (Template, error) {
	var t Template
	var err error
	if t.ID, err = identity("id", w.ID); err != nil {
		return t, err
	}
	if t.Title, err = identity("title", w.Title); err != nil {
		return t, err
	}
	var f fields
	t.Summary, _ = f.optStr("summary", w.Summary)
	t.Status = f.str("status", w.Status)
	t.StepsCount = f.number("steps_count", w.StepsCount)
	t.CreatedAt = f.str("created_at", w.CreatedAt)
	t.LastUpdated = f.str("last_updated", w.LastUpdated)
	t.ArchivedAt, t.archived = f.archivedAt(w.ArchivedAt)
	t.issues = f.issues
	return t, nil
}

// Item is a task, run or template as the client decoded it: a *Task, *Run or *Template. Besides
// its Entity, the client needs of it the shape issues to report, and a way to record what the
// request that returned it says about its archived state.
type Item interface {
	Entity() Entity
	shapeIssues() []ShapeIssue
	archivedState() archivedState
	setArchived(archivedState)
}
