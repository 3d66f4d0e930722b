package sandbox

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
)

// ---------------------------------------------------------------------------
// Create a one-off task: POST /organizations/{org}/tasks (docs cs/tasks/create-task, "Create
// one-off task"; tallyfy/testdata/contract/create-task.docs.json). The body needs `name`
// (the title); the answer is 200 or 201 with the task under `data`, `run_id` and `step_id`
// null. INFERENCE: the sandbox answers 201, and a missing or empty name is a 422 in the
// documented validation shape (docs/tallyfy-api.md §4). `tallyfy-mcp check --live` is what
// calls it: the tools never create anything.

const maxCreateBody = 64 << 10

func (s *Sandbox) createTask(r *http.Request, _ string) response {
	var in struct {
		Name        string `json:"name"`
		Description string `json:"description"`
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxCreateBody+1))
	if err != nil || len(body) > maxCreateBody || json.Unmarshal(body, &in) != nil {
		return validationError("name", "The request body must be a JSON object with a name.")
	}
	name := strings.TrimSpace(in.Name)
	if name == "" || len(name) > 600 {
		return validationError("name", "The name field is required.")
	}
	owner := userFor(r).id
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.changing()
	s.st.created++
	t := &task{
		ID: seedID("task", fmt.Sprintf("created-%d", s.st.created)), IncrementID: 9000 + s.st.created,
		Title: name, Alias: fmt.Sprintf("created-%d", s.st.created), OneOff: true, Status: taskNotStarted,
		Owners: []int{owner}, StarterID: owner, CreatedAt: now, LastUpdated: now,
	}
	s.st.tasks[t.ID] = t
	// The fields of the docs' answer (a full task is read with GET /tasks/{id}).
	return jsonResponse(http.StatusCreated, itemEnvelope{Data: map[string]any{
		"id": t.ID, "increment_id": t.IncrementID, "title": t.Title, "description": strings.TrimSpace(in.Description),
		"run_id": nil, "step_id": nil, "status": t.Status,
		"owners":   map[string]any{"users": []any{map[string]any{"id": owner, "full_name": userNames[owner], "profile_pic": ""}}, "guests": []any{}, "groups": []any{}},
		"deadline": nil, "created_at": now, "last_updated": now,
	}})
}

// Created returns the tasks created through POST /tasks that still exist, archived or not
// (check --live's tests: it must leave none).
func (s *Sandbox) Created() []Record {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Record
	for i := 1; i <= s.st.created; i++ {
		if t, ok := s.st.tasks[seedID("task", fmt.Sprintf("created-%d", i))]; ok {
			out = append(out, Record{Kind: kindTask, ID: t.ID, Name: t.Title, Status: t.Status, Archived: t.archived(), LastUpdated: t.LastUpdated})
		}
	}
	return out
}

// CreatedCount is how many tasks POST /tasks created since the seed.
func (s *Sandbox) CreatedCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.st.created
}
