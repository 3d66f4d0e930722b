package sandbox

import (
	"maps"
	"net/http"
	"strings"
)

// ---------------------------------------------------------------------------
// Runs (docs/tallyfy-api.md §1.4–§1.6, §2.3, §2.4).

func (s *Sandbox) listRuns(r *http.Request, _ string) response {
	q := r.URL.Query()
	mode := parseArchivedParam(q.Get("archived"))
	if s.has(VariantRunsIgnoreArchived) {
		mode = archivedExclude
	}
	status := strings.ToLower(strings.TrimSpace(q.Get("status")))
	if status == "archived" { // §2.4: status=archived means archived only.
		mode, status = archivedOnly, ""
	}
	checklist := strings.TrimSpace(q.Get("checklist_id"))
	if checklist == "" {
		checklist = strings.TrimSpace(q.Get("blueprint_id"))
	}
	search := strings.TrimSpace(q.Get("q"))

	s.mu.Lock()
	now := s.now()
	items := listed(s.listState().runs, func(rn *run) bool {
		return keep(mode, rn.archived()) && (status == "" || runMatchesStatus(rn, status, now)) &&
			(checklist == "" || rn.ChecklistID == checklist) && (search == "" || containsFold(rn.Name, search))
	}, newestRunFirst, func(rn *run) runJSON {
		j := rn.json(now)
		j.LateTasks = new(int)
		return j
	})
	s.mu.Unlock()
	return s.listPage(r, kindRun, items)
}

func (s *Sandbox) getRun(_ *http.Request, id string) response {
	rn, ok := s.st.runs[id]
	if !ok || (rn.archived() && s.has(VariantArchivedRunGet404)) {
		return resourceNotFound()
	}
	return itemAnswer(rn.json(s.now()))
}

func (s *Sandbox) archiveRun(_ *http.Request, id string) response {
	rn, ok := s.st.runs[id]
	if !ok || (rn.archived() && !s.has(VariantArchiveArchived200)) {
		return resourceNotFound()
	}
	if !rn.archived() {
		ts := s.changing()
		rn.ArchivedAt, rn.LastUpdated = ts, ts
		for _, t := range s.st.tasks {
			if runArchiveCascadesToTasks && t.RunID == id && !t.archived() {
				t.ArchivedAt, t.LastUpdated, t.archivedWithRun = ts, ts, true
			}
		}
	}
	return itemAnswer(rn.archivedJSON())
}

func (s *Sandbox) activateRun(_ *http.Request, id string) response {
	rn, ok := s.st.runs[id]
	if !ok {
		return resourceNotFound()
	}
	if !rn.archived() {
		if s.has(VariantActivateLiveError) {
			return errorResponse(notArchivedStatus, "The process is not archived.", notArchivedCode)
		}
		return itemAnswer(rn.activatedJSON())
	}
	ts := s.changing()
	rn.ArchivedAt, rn.LastUpdated = "", ts
	for _, t := range s.st.tasks {
		if t.RunID == id && t.archivedWithRun {
			t.ArchivedAt, t.LastUpdated, t.archivedWithRun = "", ts, false
		}
	}
	return itemAnswer(rn.activatedJSON())
}

func (s *Sandbox) deleteRun(_ *http.Request, id string) response {
	if _, refusal := archivedOf(s.st.runs, id, runNotArchivedMessage); refusal != nil {
		return *refusal
	}
	s.changing()
	delete(s.st.runs, id)
	maps.DeleteFunc(s.st.tasks, func(_ string, t *task) bool { return t.RunID == id })
	return emptyResponse(http.StatusOK) // documented: 200 with an empty body (§1.6)
}
