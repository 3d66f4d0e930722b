package sandbox

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

// ---------------------------------------------------------------------------
// Envelopes (tallyfy-api.md §0 "Response envelopes", §4 "Pagination").

type itemEnvelope struct {
	Data any `json:"data"`
}

type listEnvelope struct {
	Data []any    `json:"data"`
	Meta listMeta `json:"meta"`
}

type listMeta struct {
	Pagination pagination `json:"pagination"`
}

type pagination struct {
	Total       int `json:"total"`
	Count       int `json:"count"`
	PerPage     int `json:"per_page"`
	CurrentPage int `json:"current_page"`
	TotalPages  int `json:"total_pages"`
	// Links is an object with "next"/"previous" when either exists, and an
	// empty array when neither does (both occur in the real API, §4).
	Links any `json:"links"`
}

// messageBody is the template archive / delete body (§1.7, §1.9).
type messageBody struct {
	Message           string         `json:"message"`
	DeletedReferences map[string]any `json:"deleted_references"`
}

type paging struct {
	page, perPage int
	all           bool
}

// parsePaging reads page / per_page / without_pagination. A bad per_page is a
// 422 in the documented validation shape (§4).
func parsePaging(q url.Values) (paging, *response) {
	p := paging{page: 1, perPage: defaultPerPage, all: withoutPaginationTrue(q.Get("without_pagination"))}
	if v := strings.TrimSpace(q.Get("per_page")); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			res := jsonResponse(http.StatusUnprocessableEntity, map[string]any{
				"error":  true,
				"errors": map[string][]string{"per_page": {perPageErrorMessage}},
			})
			return p, &res
		}
		p.perPage = min(n, maxPerPage)
	}
	if v := strings.TrimSpace(q.Get("page")); v != "" {
		n, err := strconv.Atoi(v)
		if err == nil && n >= 1 {
			p.page = n
		} else if !invalidPageIsFirstPage {
			res := jsonResponse(http.StatusUnprocessableEntity, map[string]any{
				"error":  true,
				"errors": map[string][]string{"page": {"The page must be an integer of at least 1."}},
			})
			return p, &res
		}
	}
	return p, nil
}

// pageOf cuts one page out of items and builds the list envelope, with
// absolute next/previous links built from the request.
func pageOf(r *http.Request, p paging, items []any) response {
	total := len(items)
	if p.all {
		pp := max(total, 1)
		return jsonResponse(http.StatusOK, listEnvelope{Data: items, Meta: listMeta{Pagination: pagination{
			Total: total, Count: total, PerPage: pp, CurrentPage: 1, TotalPages: 1, Links: []any{},
		}}})
	}
	totalPages := max((total+p.perPage-1)/p.perPage, minTotalPages)
	start := min((p.page-1)*p.perPage, total)
	end := min(start+p.perPage, total)
	data := items[start:end]
	links := map[string]string{}
	if p.page > 1 {
		links["previous"] = pageURL(r, p.page-1)
	}
	if p.page < totalPages {
		links["next"] = pageURL(r, p.page+1)
	}
	var l any = links
	if len(links) == 0 {
		l = []any{}
	}
	return jsonResponse(http.StatusOK, listEnvelope{Data: append([]any{}, data...), Meta: listMeta{Pagination: pagination{
		Total: total, Count: len(data), PerPage: p.perPage, CurrentPage: p.page, TotalPages: totalPages, Links: l,
	}}})
}

func pageURL(r *http.Request, page int) string {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	q := r.URL.Query()
	q.Set("page", strconv.Itoa(page))
	u := url.URL{Scheme: scheme, Host: r.Host, Path: r.URL.Path, RawPath: r.URL.RawPath, RawQuery: q.Encode()}
	return u.String()
}

func keep(mode archivedMode, archived bool) bool {
	switch mode {
	case archivedOnly:
		return archived
	case archivedInclude:
		return true
	default:
		return !archived
	}
}

// ---------------------------------------------------------------------------
// Tasks (tallyfy-api.md §1.1–§1.3, §2.1, §2.2).

func (s *Sandbox) listTasks(r *http.Request, _ string) response {
	q := r.URL.Query()
	p, bad := parsePaging(q)
	if bad != nil {
		return *bad
	}
	mode := parseArchivedParam(q.Get("archived"))
	oneoff, filterOneoff := parseIsOneoff(q.Get("is_oneoff"))
	status := strings.TrimSpace(q.Get("status"))
	search := strings.TrimSpace(q.Get("q"))

	s.mu.Lock()
	now := s.now()
	var list []*task
	for _, t := range s.st.tasks {
		if !keep(mode, t.archived()) {
			continue
		}
		if filterOneoff && t.OneOff != oneoff {
			continue
		}
		if status != "" && !taskMatchesStatus(t, status, now) {
			continue
		}
		if search != "" {
			runName := ""
			if rn, ok := s.st.runs[t.RunID]; ok {
				runName = rn.Name
			}
			if !taskMatchesQuery(t, runName, search) {
				continue
			}
		}
		list = append(list, t)
	}
	sortTasks(list)
	items := make([]any, len(list))
	for i, t := range list {
		items[i] = t.json()
	}
	s.mu.Unlock()
	return pageOf(r, p, items)
}

func (s *Sandbox) getTask(_ *http.Request, id string) response {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.st.tasks[id]
	if !ok || (t.archived() && archivedTaskGetNotFound) {
		return resourceNotFound()
	}
	return jsonResponse(http.StatusOK, itemEnvelope{Data: t.json()})
}

func (s *Sandbox) archiveTask(_ *http.Request, id string) response {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.st.tasks[id]
	if !ok || (t.archived() && archiveArchivedTaskNotFound) {
		return resourceNotFound()
	}
	if !t.OneOff {
		return errorResponse(notOneOffStatus, notOneOffArchiveMessage, notOneOffCode)
	}
	if !t.archived() {
		ts := formatTS(s.now())
		t.ArchivedAt, t.LastUpdated = ts, ts
	}
	return emptyResponse(http.StatusNoContent)
}

func (s *Sandbox) restoreTask(_ *http.Request, id string) response {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.st.tasks[id]
	if !ok {
		return resourceNotFound()
	}
	if !t.OneOff {
		return errorResponse(notOneOffStatus, notOneOffRestoreMessage, notOneOffCode)
	}
	if !t.archived() {
		return errorResponse(notArchivedStatus, taskNotArchivedMessage, notArchivedCode)
	}
	t.ArchivedAt = ""
	t.LastUpdated = formatTS(s.now())
	return jsonResponse(http.StatusOK, itemEnvelope{Data: t.json()})
}

func (s *Sandbox) deleteTask(_ *http.Request, id string) response {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.st.tasks[id]
	if !ok {
		return resourceNotFound()
	}
	if !t.OneOff {
		return errorResponse(notOneOffStatus, notOneOffDeleteMessage, notOneOffCode)
	}
	if taskHardDeleteRequiresArchived && !t.archived() {
		return errorResponse(notArchivedStatus, taskHardDeleteNotArchivedMessage, notArchivedCode)
	}
	delete(s.st.tasks, id)
	return emptyResponse(http.StatusNoContent)
}

// ---------------------------------------------------------------------------
// Runs (tallyfy-api.md §1.4–§1.6, §2.3, §2.4).

func (s *Sandbox) listRuns(r *http.Request, _ string) response {
	q := r.URL.Query()
	p, bad := parsePaging(q)
	if bad != nil {
		return *bad
	}
	mode := parseArchivedParam(q.Get("archived"))
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
	var list []*run
	for _, rn := range s.st.runs {
		if !keep(mode, rn.archived()) {
			continue
		}
		if status != "" && !runMatchesStatus(rn, status, now) {
			continue
		}
		if checklist != "" && rn.ChecklistID != checklist {
			continue
		}
		if search != "" && !containsFold(rn.Name, search) {
			continue
		}
		list = append(list, rn)
	}
	sortRuns(list)
	items := make([]any, len(list))
	for i, rn := range list {
		items[i] = rn.json(now)
	}
	s.mu.Unlock()
	return pageOf(r, p, items)
}

func (s *Sandbox) getRun(_ *http.Request, id string) response {
	s.mu.Lock()
	defer s.mu.Unlock()
	rn, ok := s.st.runs[id]
	if !ok || (rn.archived() && !archivedRunGetReturned) {
		return resourceNotFound()
	}
	return jsonResponse(http.StatusOK, itemEnvelope{Data: rn.json(s.now())})
}

func (s *Sandbox) archiveRun(_ *http.Request, id string) response {
	s.mu.Lock()
	defer s.mu.Unlock()
	rn, ok := s.st.runs[id]
	if !ok || (rn.archived() && archiveArchivedRunNotFound) {
		return resourceNotFound()
	}
	now := s.now()
	if !rn.archived() {
		ts := formatTS(now)
		rn.ArchivedAt, rn.LastUpdated = ts, ts
		if runArchiveCascadesToTasks {
			for _, t := range s.st.tasks {
				if t.RunID == id && !t.archived() {
					t.ArchivedAt, t.LastUpdated, t.archivedWithRun = ts, ts, true
				}
			}
		}
	}
	return jsonResponse(http.StatusOK, itemEnvelope{Data: rn.json(now)})
}

func (s *Sandbox) activateRun(_ *http.Request, id string) response {
	s.mu.Lock()
	defer s.mu.Unlock()
	rn, ok := s.st.runs[id]
	if !ok {
		return resourceNotFound()
	}
	now := s.now()
	if !rn.archived() {
		if activateLiveRunIsNoop {
			return jsonResponse(http.StatusOK, itemEnvelope{Data: rn.json(now)})
		}
		return errorResponse(notArchivedStatus, "The process is not archived.", notArchivedCode)
	}
	ts := formatTS(now)
	rn.ArchivedAt, rn.LastUpdated = "", ts
	for _, t := range s.st.tasks {
		if t.RunID == id && t.archivedWithRun {
			t.ArchivedAt, t.LastUpdated, t.archivedWithRun = "", ts, false
		}
	}
	return jsonResponse(http.StatusOK, itemEnvelope{Data: rn.json(now)})
}

func (s *Sandbox) deleteRun(_ *http.Request, id string) response {
	s.mu.Lock()
	defer s.mu.Unlock()
	rn, ok := s.st.runs[id]
	if !ok {
		return resourceNotFound()
	}
	if !rn.archived() {
		return errorResponse(notArchivedStatus, runNotArchivedMessage, notArchivedCode)
	}
	delete(s.st.runs, id)
	for tid, t := range s.st.tasks {
		if t.RunID == id {
			delete(s.st.tasks, tid)
		}
	}
	return emptyResponse(http.StatusOK) // documented: 200 with an empty body (§1.6)
}

// ---------------------------------------------------------------------------
// Templates (tallyfy-api.md §1.7–§1.9, §2.5, §2.6).

func (s *Sandbox) listTemplates(r *http.Request, _ string) response {
	q := r.URL.Query()
	p, bad := parsePaging(q)
	if bad != nil {
		return *bad
	}
	mode := parseArchivedParam(q.Get("archived"))
	search := strings.TrimSpace(q.Get("q"))

	s.mu.Lock()
	var list []*template
	for _, t := range s.st.templates {
		if !keep(mode, t.archived()) {
			continue
		}
		if search != "" && !containsFold(t.Title, search) {
			continue
		}
		list = append(list, t)
	}
	sortTemplates(list)
	items := make([]any, len(list))
	for i, t := range list {
		items[i] = t.json()
	}
	s.mu.Unlock()
	return pageOf(r, p, items)
}

func (s *Sandbox) getTemplate(_ *http.Request, id string) response {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.st.templates[id]
	if !ok || t.archived() { // documented: an archived template is 404 (§2.5)
		return resourceNotFound()
	}
	return jsonResponse(http.StatusOK, itemEnvelope{Data: t.json()})
}

func (s *Sandbox) archiveTemplate(_ *http.Request, id string) response {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.st.templates[id]
	if !ok || (t.archived() && archiveArchivedTemplateNotFound) {
		return resourceNotFound()
	}
	if !t.archived() {
		ts := formatTS(s.now())
		t.ArchivedAt, t.LastUpdated = ts, ts
	}
	return jsonResponse(http.StatusOK, messageBody{
		Message:           "The Template was deleted, and references were also deleted from:",
		DeletedReferences: map[string]any{},
	})
}

func (s *Sandbox) restoreTemplate(_ *http.Request, id string) response {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.st.templates[id]
	if !ok {
		return resourceNotFound()
	}
	if !t.archived() {
		return errorResponse(notArchivedStatus, templateNotArchivedRestoreMessage, notArchivedCode)
	}
	t.ArchivedAt = ""
	t.LastUpdated = formatTS(s.now())
	return jsonResponse(http.StatusOK, itemEnvelope{Data: t.json()})
}

func (s *Sandbox) deleteTemplate(_ *http.Request, id string) response {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.st.templates[id]
	if !ok {
		return resourceNotFound()
	}
	if !t.archived() {
		return errorResponse(notArchivedStatus, templateNotArchivedDeleteMessage, notArchivedCode)
	}
	delete(s.st.templates, id)
	return jsonResponse(http.StatusOK, messageBody{
		Message:           "The Template was permanently deleted, and references were also deleted from:",
		DeletedReferences: map[string]any{},
	})
}
