package sandbox

import (
	"cmp"
	"net/http"
	"strings"
	"time"
)

// ---------------------------------------------------------------------------
// Tasks (docs/tallyfy-api.md §1.1–§1.3, §2.1, §2.2).

func (s *Sandbox) listTasks(r *http.Request, _ string) response {
	q := r.URL.Query()
	mode := parseArchivedParam(q.Get("archived"))
	oneoff, filterOneoff := parseIsOneoff(q.Get("is_oneoff"))
	status := strings.TrimSpace(q.Get("status"))
	search := strings.TrimSpace(q.Get("q"))

	s.mu.Lock()
	now, st := s.now(), s.listState()
	items := listed(st.tasks, func(t *task) bool {
		return keep(mode, t.archived()) && (!filterOneoff || t.OneOff == oneoff) && s.taskHasStatus(t, status, now) &&
			(search == "" || taskMatchesQuery(t, st.runs[t.RunID], search))
	}, newestTaskFirst, (*task).listJSON)
	s.mu.Unlock()
	return s.listPage(r, kindTask, items)
}

// taskHasStatus applies a task list's status parameter (none: every task, unless
// VariantTasksHideCompleted hides the completed ones).
func (s *Sandbox) taskHasStatus(t *task, status string, now time.Time) bool {
	return (status == "" || taskMatchesStatus(t, status, now)) && !s.hidesCompletedTask(status, t)
}

func (s *Sandbox) getTask(_ *http.Request, id string) response {
	t, ok := s.st.tasks[id]
	if !ok || (t.archived() && !s.has(VariantArchivedTaskGet200)) {
		return resourceNotFound()
	}
	return itemAnswer(t.json())
}

func (s *Sandbox) archiveTask(_ *http.Request, id string) response {
	t, ok := s.st.tasks[id]
	if !ok || (t.archived() && !s.has(VariantArchiveArchived200)) {
		return resourceNotFound()
	}
	if !t.OneOff {
		return errorResponse(notOneOffStatus, notOneOffArchiveMessage, notOneOffCode)
	}
	if !t.archived() {
		ts := s.changing()
		t.ArchivedAt, t.LastUpdated = ts, ts
	}
	return emptyResponse(http.StatusNoContent)
}

func (s *Sandbox) restoreTask(_ *http.Request, id string) response {
	t, refusal := oneOffTask(s.st.tasks, id, notOneOffRestoreMessage)
	if refusal != nil {
		return *refusal
	}
	if !t.archived() {
		if s.has(VariantRestoreLive200) {
			return itemAnswer(t.json())
		}
		return errorResponse(notArchivedStatus, taskNotArchivedMessage, notArchivedCode)
	}
	t.ArchivedAt, t.LastUpdated = "", s.changing()
	return itemAnswer(t.json())
}

func (s *Sandbox) deleteTask(_ *http.Request, id string) response {
	t, refusal := oneOffTask(s.st.tasks, id, notOneOffDeleteMessage)
	if refusal != nil {
		return *refusal
	}
	if taskHardDeleteRequiresArchived && !t.archived() {
		return errorResponse(notArchivedStatus, taskHardDeleteNotArchivedMessage, notArchivedCode)
	}
	if t.archived() && s.has(VariantTaskDeleteArchived404) {
		return resourceNotFound()
	}
	s.changing()
	delete(s.st.tasks, id)
	return emptyResponse(http.StatusNoContent)
}

// oneOffTask finds a one-off task for restore or hard delete: notOneOff (with its status and
// code) for a process task.
func oneOffTask(tasks map[string]*task, id, notOneOff string) (*task, *response) {
	return found(tasks, id, func(t *task) bool { return !t.OneOff }, errorResponse(notOneOffStatus, notOneOff, notOneOffCode))
}

// listRunTasks lists the tasks of one process (GET /runs/{id}/tasks; docs/tallyfy-api.md §2.8),
// in the order of their position, archived ones too (a process's tasks are archived with it).
// The run is found as GET /runs/{id} finds it: 404 otherwise.
func (s *Sandbox) listRunTasks(r *http.Request, id string) response {
	q := r.URL.Query()
	if _, bad := parsePaging(q); bad != nil { // refused before an unknown process: 422 before 404
		return *bad
	}
	status := strings.TrimSpace(q.Get("status"))

	s.mu.Lock()
	now, st := s.now(), s.listState()
	if rn, ok := st.runs[id]; !ok || (rn.archived() && s.has(VariantArchivedRunGet404)) {
		s.mu.Unlock()
		return resourceNotFound()
	}
	items := listed(st.tasks, func(t *task) bool { return t.RunID == id && s.taskHasStatus(t, status, now) },
		func(a, b *task) int { return cmp.Or(cmp.Compare(a.Position, b.Position), strings.Compare(a.ID, b.ID)) },
		(*task).listJSON)
	s.mu.Unlock()
	return s.listPage(r, kindTask, items)
}
